/* A small registry of crispd's own metrics, rendered in the Prometheus text format 0.0.4.
 *
 * Updates are lock-free (C11 atomics) so the per-RPC path can afford them; a lock is taken only when a
 * family meets a label combination for the first time. Each family holds at most max_series
 * combinations: any further one is folded into a single overflow series whose every label value is
 * METRICS_OVERFLOW_VALUE, so totals summed over a family stay right. Label values are cut to
 * METRICS_LABEL_VALUE_MAX - 1 bytes and bytes that are not UTF-8 become '?'.
 *
 * Families are added at start-up; series live until the registry is freed, so a series pointer may be
 * kept and updated from any thread. A NULL family or series makes every update a no-op, which is what
 * "metrics are off" costs. */
#ifndef CRISP_METRICS_H
#define CRISP_METRICS_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_DEFAULT_MAX_SERIES 256
#define METRICS_LABEL_VALUE_MAX 128
#define METRICS_MAX_LABELS 8
#define METRICS_MAX_BUCKETS 32
#define METRICS_OVERFLOW_VALUE "_overflow"

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics_registry;
struct metrics_family;
struct metrics_series;

struct metrics_family_spec {
    const char *name, *help;
    enum metrics_type type;
    const char *const *labels; /* NULL-terminated label names; NULL: a single unlabelled series */
    const double *buckets;     /* histograms: ascending finite upper bounds; +Inf is implied */
    size_t n_buckets;
    size_t max_series; /* 0: METRICS_DEFAULT_MAX_SERIES */
};

/* Computes a callback family's values at scrape time: ret_values[i] belongs to label_values[i] (or
 * ret_values[0] alone when unlabelled). Returns -1 to leave the family out of this scrape. */
typedef int (*metrics_collect_fn)(void *data, double *ret_values, size_t n_values);

struct metrics_callback_spec {
    const char *name, *help;
    enum metrics_type type;          /* METRICS_COUNTER or METRICS_GAUGE */
    const char *label;               /* NULL: one unlabelled sample */
    const char *const *label_values; /* with label: NULL-terminated, fixed for the family's life */
};

int metrics_registry_new(struct metrics_registry **ret, crisp_error_t **err);
void metrics_registry_free(struct metrics_registry *r);

/* Adds a family of counters, gauges or histograms. Names must be valid Prometheus names and unique
 * in the registry. */
int metrics_family_add(struct metrics_registry *r, const struct metrics_family_spec *spec,
                       struct metrics_family **ret, crisp_error_t **err);

/* Adds a family whose values fn computes at each scrape; fn may be NULL until metrics_callback_set. */
int metrics_callback_add(struct metrics_registry *r, const struct metrics_callback_spec *spec,
                         metrics_collect_fn fn, void *data, struct metrics_family **ret, crisp_error_t **err);

/* Replaces a callback family's function. Scrapes call callbacks under the registry's lock, so once this
 * returns the old function is not running and will not run again: its data may be freed. */
void metrics_callback_set(struct metrics_registry *r, struct metrics_family *f, metrics_collect_fn fn,
                          void *data);

/* The series for one label value per label name, created on first use; NULL only when f is NULL or
 * memory ran out. */
struct metrics_series *metrics_series_get(struct metrics_family *f, const char *const *values);

void metrics_counter_add(struct metrics_series *s, uint64_t n);
void metrics_gauge_set(struct metrics_series *s, double v);
void metrics_gauge_add(struct metrics_series *s, double delta);
void metrics_histogram_observe(struct metrics_series *s, double v);

/* How many label combinations f holds, the overflow series included. */
size_t metrics_family_series_count(const struct metrics_family *f);

/* The whole registry in the text exposition format, NUL-terminated; the caller frees *ret_text.
 * Families without any series yet are left out, as Prometheus clients do. */
int metrics_registry_render(struct metrics_registry *r, char **ret_text, size_t *ret_len,
                            crisp_error_t **err);

#endif
