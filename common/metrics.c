#define _GNU_SOURCE
#include "common/metrics.h"

#include "common/cleanup.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_SLOTS 64
#define MAX_CALLBACK_VALUES 16

struct metrics_series {
    const struct metrics_family *family;
    /* Both are set before the series is published and never change after: readers need no lock. */
    struct metrics_series *hash_next, *all_next;
    uint64_t hash;
    char *values[METRICS_MAX_LABELS];
    _Atomic uint64_t value;    /* counter: the count; gauge: the bits of a double */
    _Atomic uint64_t sum;      /* histogram: the bits of a double */
    _Atomic uint64_t counts[]; /* histogram: per bucket (not cumulative), the last one for +Inf */
};

struct metrics_family {
    char *name, *help;
    enum metrics_type type;
    size_t n_labels;
    char *labels[METRICS_MAX_LABELS];
    size_t n_buckets;
    double buckets[METRICS_MAX_BUCKETS];
    size_t max_series;
    pthread_mutex_t lock; /* serializes the creation of series */
    _Atomic(struct metrics_series *) slots[HASH_SLOTS];
    _Atomic(struct metrics_series *) all;
    _Atomic size_t n_series; /* created below the cap (the overflow series is not one of them) */
    _Atomic(struct metrics_series *) overflow;
    bool is_callback;
    size_t n_collect_values;
    char *collect_values[MAX_CALLBACK_VALUES];
    metrics_collect_fn collect; /* guarded by the registry's lock */
    void *collect_data;
    struct metrics_family *next;
};

struct metrics_registry {
    pthread_mutex_t lock; /* the family list, callbacks, and whole scrapes */
    struct metrics_family *first, *last;
};

/* The length of the valid UTF-8 sequence at p, or 0 when there is none. */
static size_t utf8_seq_len(const unsigned char *p)
{
    size_t n;
    uint32_t cp;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1f;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, cp = p[0] & 0x0f;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        return 0;
    if (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
        return 0;
    return n;
}

/* The form a label value is stored and compared in: bounded, valid UTF-8, cut between characters. */
static void value_normalize(const char *in, char out[METRICS_LABEL_VALUE_MAX])
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t o = 0;
    while (*p) {
        size_t n = utf8_seq_len(p);
        if (o + (n ? n : 1) >= METRICS_LABEL_VALUE_MAX)
            break;
        if (n == 0) {
            out[o++] = '?';
            p++;
            continue;
        }
        memcpy(out + o, p, n);
        o += n;
        p += n;
    }
    out[o] = '\0';
}

/* FNV-1a over the values, each followed by 0xff, a byte UTF-8 never contains. */
static uint64_t values_hash(char (*values)[METRICS_LABEL_VALUE_MAX], size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static bool values_equal(const struct metrics_series *s, char (*values)[METRICS_LABEL_VALUE_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i]) != 0)
            return false;
    return true;
}

static struct metrics_series *series_find(struct metrics_family *f, uint64_t hash,
                                          char (*values)[METRICS_LABEL_VALUE_MAX])
{
    struct metrics_series *s = atomic_load_explicit(&f->slots[hash % HASH_SLOTS], memory_order_acquire);
    for (; s; s = s->hash_next)
        if (s->hash == hash && values_equal(s, values, f->n_labels))
            return s;
    return NULL;
}

static void series_free(struct metrics_series *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s);
}

static struct metrics_series *series_alloc(struct metrics_family *f, uint64_t hash,
                                           char (*values)[METRICS_LABEL_VALUE_MAX])
{
    size_t n_counts = f->type == METRICS_HISTOGRAM ? f->n_buckets + 1 : 0;
    struct metrics_series *s = calloc(1, sizeof(*s) + n_counts * sizeof(s->counts[0]));
    if (!s)
        return NULL;
    s->family = f;
    s->hash = hash;
    for (size_t i = 0; i < f->n_labels; i++)
        if (!(s->values[i] = strdup(values[i]))) {
            series_free(s);
            return NULL;
        }
    return s;
}

/* Makes a fully built series visible to lock-free readers; the caller holds f->lock. */
static void series_publish(struct metrics_family *f, struct metrics_series *s)
{
    _Atomic(struct metrics_series *) *slot = &f->slots[s->hash % HASH_SLOTS];
    s->hash_next = atomic_load_explicit(slot, memory_order_relaxed);
    s->all_next = atomic_load_explicit(&f->all, memory_order_relaxed);
    atomic_store_explicit(slot, s, memory_order_release);
    atomic_store_explicit(&f->all, s, memory_order_release);
}

/* The overflow series is in the hash table too, so a real value equal to the marker finds it rather
 * than making a duplicate; and a real series that got there first becomes the overflow series. The
 * caller holds f->lock. */
static struct metrics_series *overflow_series(struct metrics_family *f)
{
    struct metrics_series *s = atomic_load_explicit(&f->overflow, memory_order_acquire);
    if (s)
        return s;
    char values[METRICS_MAX_LABELS][METRICS_LABEL_VALUE_MAX];
    for (size_t i = 0; i < f->n_labels; i++)
        snprintf(values[i], sizeof(values[i]), "%s", METRICS_OVERFLOW_VALUE);
    uint64_t hash = values_hash(values, f->n_labels);
    s = series_find(f, hash, values);
    if (!s && (s = series_alloc(f, hash, values)))
        series_publish(f, s);
    if (s)
        atomic_store_explicit(&f->overflow, s, memory_order_release);
    return s;
}

static struct metrics_series *series_create(struct metrics_family *f, uint64_t hash,
                                            char (*values)[METRICS_LABEL_VALUE_MAX])
{
    pthread_mutex_lock(&f->lock);
    struct metrics_series *s = series_find(f, hash, values); /* another thread may have been first */
    if (!s && atomic_load(&f->n_series) >= f->max_series) {
        s = overflow_series(f);
    } else if (!s && (s = series_alloc(f, hash, values))) {
        series_publish(f, s);
        atomic_fetch_add(&f->n_series, 1);
    }
    pthread_mutex_unlock(&f->lock);
    return s;
}

struct metrics_series *metrics_series_get(struct metrics_family *f, const char *const *values)
{
    if (!f || f->is_callback)
        return NULL;
    char norm[METRICS_MAX_LABELS][METRICS_LABEL_VALUE_MAX];
    for (size_t i = 0; i < f->n_labels; i++)
        value_normalize(values ? values[i] : NULL, norm[i]);
    uint64_t hash = values_hash(norm, f->n_labels);
    struct metrics_series *s = series_find(f, hash, norm);
    if (s)
        return s;
    /* A full family keeps sending new combinations to the overflow series without the lock. */
    if (atomic_load(&f->n_series) >= f->max_series && (s = atomic_load(&f->overflow)))
        return s;
    return series_create(f, hash, norm);
}

size_t metrics_family_series_count(const struct metrics_family *f)
{
    size_t n = 0;
    for (struct metrics_series *s = f ? atomic_load(&f->all) : NULL; s; s = s->all_next)
        n++;
    return n;
}

static uint64_t double_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bits_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static void atomic_double_add(_Atomic uint64_t *p, double delta)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, double_bits(bits_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metrics_counter_add(struct metrics_series *s, uint64_t n)
{
    if (s && s->family->type == METRICS_COUNTER)
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void metrics_gauge_set(struct metrics_series *s, double v)
{
    if (s && s->family->type == METRICS_GAUGE)
        atomic_store_explicit(&s->value, double_bits(v), memory_order_relaxed);
}

void metrics_gauge_add(struct metrics_series *s, double delta)
{
    if (s && s->family->type == METRICS_GAUGE)
        atomic_double_add(&s->value, delta);
}

void metrics_histogram_observe(struct metrics_series *s, double v)
{
    if (!s || s->family->type != METRICS_HISTOGRAM)
        return;
    const struct metrics_family *f = s->family;
    size_t i = 0;
    while (i < f->n_buckets && !(v <= f->buckets[i])) /* NaN lands in +Inf */
        i++;
    atomic_fetch_add_explicit(&s->counts[i], 1, memory_order_relaxed);
    atomic_double_add(&s->sum, v);
}

int metrics_registry_new(struct metrics_registry **ret, crisp_error_t **err)
{
    struct metrics_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return crisp_error_oom_in(err, "metrics registry");
    pthread_mutex_init(&r->lock, NULL);
    *ret = r;
    return 0;
}

static void family_free(struct metrics_family *f)
{
    struct metrics_series *s = atomic_load(&f->all);
    while (s) {
        struct metrics_series *next = s->all_next;
        series_free(s);
        s = next;
    }
    for (size_t i = 0; i < METRICS_MAX_LABELS; i++)
        free(f->labels[i]);
    for (size_t i = 0; i < MAX_CALLBACK_VALUES; i++)
        free(f->collect_values[i]);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void metrics_registry_free(struct metrics_registry *r)
{
    if (!r)
        return;
    while (r->first) {
        struct metrics_family *next = r->first->next;
        family_free(r->first);
        r->first = next;
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels have no ':' and may not start with "__". */
static bool name_valid(const char *s, bool metric)
{
    if (!s || !*s || (!metric && strncmp(s, "__", 2) == 0))
        return false;
    for (const char *p = s; *p; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                     (metric && *p == ':');
        if (!alpha && !(p > s && *p >= '0' && *p <= '9'))
            return false;
    }
    return true;
}

static int labels_check(const struct metrics_family_spec *spec, size_t *ret_n, crisp_error_t **err)
{
    size_t n = 0;
    for (; spec->labels && spec->labels[n]; n++) {
        if (n == METRICS_MAX_LABELS)
            return crisp_error_make(err, EINVAL, "metric %s: more than %d labels", spec->name,
                                    METRICS_MAX_LABELS);
        if (!name_valid(spec->labels[n], false) ||
            (spec->type == METRICS_HISTOGRAM && strcmp(spec->labels[n], "le") == 0))
            return crisp_error_make(err, EINVAL, "metric %s: invalid label name \"%s\"", spec->name,
                                    spec->labels[n]);
    }
    *ret_n = n;
    return 0;
}

static int buckets_check(const struct metrics_family_spec *spec, crisp_error_t **err)
{
    if (spec->type != METRICS_HISTOGRAM)
        return 0;
    if (spec->n_buckets == 0 || spec->n_buckets > METRICS_MAX_BUCKETS)
        return crisp_error_make(err, EINVAL, "metric %s: 1 to %d buckets needed", spec->name,
                                METRICS_MAX_BUCKETS);
    for (size_t i = 0; i < spec->n_buckets; i++)
        if (!isfinite(spec->buckets[i]) || (i > 0 && spec->buckets[i] <= spec->buckets[i - 1]))
            return crisp_error_make(err, EINVAL, "metric %s: buckets must be finite and ascending",
                                    spec->name);
    return 0;
}

static struct metrics_family *family_alloc(const char *name, const char *help, enum metrics_type type)
{
    struct metrics_family *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    pthread_mutex_init(&f->lock, NULL);
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
        family_free(f);
        return NULL;
    }
    return f;
}

static int strv_copy_into(char **dst, const char *const *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(dst[i] = strdup(src[i])))
            return -1;
    return 0;
}

/* Appends f to the registry unless the name is taken; takes f either way. */
static int registry_append(struct metrics_registry *r, struct metrics_family *f, crisp_error_t **err)
{
    pthread_mutex_lock(&r->lock);
    for (struct metrics_family *g = r->first; g; g = g->next)
        if (strcmp(g->name, f->name) == 0) {
            pthread_mutex_unlock(&r->lock);
            int rc = crisp_error_make(err, EEXIST, "metric %s is already registered", f->name);
            family_free(f);
            return rc;
        }
    if (r->last)
        r->last->next = f;
    else
        r->first = f;
    r->last = f;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static int family_spec_check(const struct metrics_family_spec *spec, size_t *ret_n_labels,
                             crisp_error_t **err)
{
    if (!name_valid(spec->name, true))
        return crisp_error_make(err, EINVAL, "invalid metric name \"%s\"", spec->name ? spec->name : "");
    if (spec->type != METRICS_COUNTER && spec->type != METRICS_GAUGE && spec->type != METRICS_HISTOGRAM)
        return crisp_error_make(err, EINVAL, "metric %s: unknown type", spec->name);
    if (labels_check(spec, ret_n_labels, err) < 0 || buckets_check(spec, err) < 0)
        return -1;
    return 0;
}

int metrics_family_add(struct metrics_registry *r, const struct metrics_family_spec *spec,
                       struct metrics_family **ret, crisp_error_t **err)
{
    size_t n_labels = 0;
    if (family_spec_check(spec, &n_labels, err) < 0)
        return -1;
    struct metrics_family *f = family_alloc(spec->name, spec->help, spec->type);
    if (!f || strv_copy_into(f->labels, spec->labels, n_labels) < 0) {
        if (f)
            family_free(f);
        return crisp_error_oom_in(err, "metric %s", spec->name);
    }
    f->n_labels = n_labels;
    f->max_series = spec->max_series ? spec->max_series : METRICS_DEFAULT_MAX_SERIES;
    f->n_buckets = spec->type == METRICS_HISTOGRAM ? spec->n_buckets : 0;
    if (f->n_buckets)
        memcpy(f->buckets, spec->buckets, f->n_buckets * sizeof(double));
    /* An unlabelled family has its one series from the start, so it is scraped as 0 before any update. */
    if (n_labels == 0 && !metrics_series_get(f, NULL)) {
        family_free(f);
        return crisp_error_oom_in(err, "metric %s", spec->name);
    }
    if (registry_append(r, f, err) < 0)
        return -1;
    if (ret)
        *ret = f;
    return 0;
}

static int callback_spec_check(const struct metrics_callback_spec *spec, size_t *ret_n, crisp_error_t **err)
{
    if (!name_valid(spec->name, true))
        return crisp_error_make(err, EINVAL, "invalid metric name \"%s\"", spec->name ? spec->name : "");
    if (spec->type != METRICS_COUNTER && spec->type != METRICS_GAUGE)
        return crisp_error_make(err, EINVAL, "metric %s: a callback is a counter or a gauge", spec->name);
    size_t n = 0;
    if (spec->label && (!name_valid(spec->label, false) || !spec->label_values))
        return crisp_error_make(err, EINVAL, "metric %s: invalid label", spec->name);
    while (spec->label && spec->label_values[n])
        n++;
    if ((spec->label && n == 0) || n > MAX_CALLBACK_VALUES)
        return crisp_error_make(err, EINVAL, "metric %s: 1 to %d label values needed", spec->name,
                                MAX_CALLBACK_VALUES);
    *ret_n = n;
    return 0;
}

int metrics_callback_add(struct metrics_registry *r, const struct metrics_callback_spec *spec,
                         metrics_collect_fn fn, void *data, struct metrics_family **ret, crisp_error_t **err)
{
    size_t n = 0;
    if (callback_spec_check(spec, &n, err) < 0)
        return -1;
    struct metrics_family *f = family_alloc(spec->name, spec->help, spec->type);
    if (!f || (spec->label && (!(f->labels[0] = strdup(spec->label)) ||
                               strv_copy_into(f->collect_values, spec->label_values, n) < 0))) {
        if (f)
            family_free(f);
        return crisp_error_oom_in(err, "metric %s", spec->name);
    }
    f->is_callback = true;
    f->n_labels = spec->label ? 1 : 0;
    f->n_collect_values = n;
    f->collect = fn;
    f->collect_data = data;
    if (registry_append(r, f, err) < 0)
        return -1;
    if (ret)
        *ret = f;
    return 0;
}

void metrics_callback_set(struct metrics_registry *r, struct metrics_family *f, metrics_collect_fn fn,
                          void *data)
{
    if (!r || !f || !f->is_callback)
        return;
    pthread_mutex_lock(&r->lock);
    f->collect = fn;
    f->collect_data = data;
    pthread_mutex_unlock(&r->lock);
}

/* A growing text buffer that remembers a failed allocation, so rendering checks once at the end. */
struct text {
    char *data;
    size_t len, cap;
    bool failed;
};

static void text_reserve(struct text *t, size_t n)
{
    if (t->failed || t->len + n + 1 <= t->cap)
        return;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + n + 1)
        cap *= 2;
    char *p = realloc(t->data, cap);
    if (!p) {
        t->failed = true;
        return;
    }
    t->data = p;
    t->cap = cap;
}

static void text_putn(struct text *t, const char *s, size_t n)
{
    text_reserve(t, n);
    if (t->failed)
        return;
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}

static void text_put(struct text *t, const char *s)
{
    text_putn(t, s, strlen(s));
}

/* Copies s with backslash and newline escaped, and the double quote too when quote is set. */
static void text_put_escaped(struct text *t, const char *s, bool quote)
{
    for (const char *p = s; *p; p++) {
        const char *span = p;
        while (*p && *p != '\\' && *p != '\n' && !(quote && *p == '"'))
            p++;
        text_putn(t, span, (size_t)(p - span));
        if (!*p)
            break;
        text_put(t, *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "\\\"");
    }
}

/* The shortest form that reads back as the same double, as Go's strconv 'g' -1 gives it. */
static void format_double(double v, char buf[32])
{
    if (isnan(v)) {
        snprintf(buf, 32, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, 32, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void text_put_double(struct text *t, double v)
{
    char buf[32];
    format_double(v, buf);
    text_put(t, buf);
}

static void text_put_u64(struct text *t, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    text_put(t, buf);
}

static void render_header(struct text *t, const struct metrics_family *f)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    text_put(t, "# HELP ");
    text_put(t, f->name);
    text_put(t, " ");
    text_put_escaped(t, f->help, false);
    text_put(t, "\n# TYPE ");
    text_put(t, f->name);
    text_put(t, " ");
    text_put(t, types[f->type]);
    text_put(t, "\n");
}

static void render_label(struct text *t, const char *name, const char *value)
{
    text_put(t, name);
    text_put(t, "=\"");
    text_put_escaped(t, value, true);
    text_put(t, "\"");
}

/* name{a="x",b="y",extra="v"} followed by a space; the braces only when there is a label. */
static void render_name_labels(struct text *t, const char *name, const char *suffix, char *const *names,
                               char *const *values, size_t n, const char *extra_name, const char *extra_value)
{
    text_put(t, name);
    text_put(t, suffix);
    const char *sep = "{";
    for (size_t i = 0; i < n; i++) {
        text_put(t, sep);
        render_label(t, names[i], values[i]);
        sep = ",";
    }
    if (extra_name) {
        text_put(t, sep);
        render_label(t, extra_name, extra_value);
    }
    text_put(t, n > 0 || extra_name ? "} " : " ");
}

static void render_histogram(struct text *t, const struct metrics_family *f, struct metrics_series *s)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= f->n_buckets; i++) {
        char le[32] = "+Inf";
        if (i < f->n_buckets)
            format_double(f->buckets[i], le);
        cumulative += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        render_name_labels(t, f->name, "_bucket", f->labels, s->values, f->n_labels, "le", le);
        text_put_u64(t, cumulative);
        text_put(t, "\n");
    }
    /* _count is the +Inf bucket, so the two always agree even while observations race the scrape. */
    render_name_labels(t, f->name, "_sum", f->labels, s->values, f->n_labels, NULL, NULL);
    text_put_double(t, bits_double(atomic_load_explicit(&s->sum, memory_order_relaxed)));
    text_put(t, "\n");
    render_name_labels(t, f->name, "_count", f->labels, s->values, f->n_labels, NULL, NULL);
    text_put_u64(t, cumulative);
    text_put(t, "\n");
}

static void render_series(struct text *t, const struct metrics_family *f, struct metrics_series *s)
{
    if (f->type == METRICS_HISTOGRAM) {
        render_histogram(t, f, s);
        return;
    }
    render_name_labels(t, f->name, "", f->labels, s->values, f->n_labels, NULL, NULL);
    uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    if (f->type == METRICS_COUNTER)
        text_put_u64(t, v);
    else
        text_put_double(t, bits_double(v));
    text_put(t, "\n");
}

static int series_compare(const void *a, const void *b)
{
    const struct metrics_series *x = *(struct metrics_series *const *)a,
                                *y = *(struct metrics_series *const *)b;
    for (size_t i = 0; i < x->family->n_labels; i++) {
        int c = strcmp(x->values[i], y->values[i]);
        if (c)
            return c;
    }
    return 0;
}

/* The series published so far, sorted by label values, so that scrapes read stably. -1: no memory. */
static int series_snapshot(struct metrics_family *f, struct metrics_series ***ret, size_t *ret_n)
{
    struct metrics_series *head = atomic_load_explicit(&f->all, memory_order_acquire);
    size_t n = 0;
    for (struct metrics_series *s = head; s; s = s->all_next)
        n++;
    *ret = NULL;
    *ret_n = n;
    if (n == 0)
        return 0;
    struct metrics_series **v = malloc(n * sizeof(*v));
    if (!v)
        return -1;
    n = 0;
    for (struct metrics_series *s = head; s; s = s->all_next)
        v[n++] = s;
    qsort(v, n, sizeof(*v), series_compare);
    *ret = v;
    return 0;
}

static void render_family(struct text *t, struct metrics_family *f)
{
    _cleanup_free_ struct metrics_series **v = NULL;
    size_t n;
    if (series_snapshot(f, &v, &n) < 0) {
        t->failed = true;
        return;
    }
    if (n == 0)
        return;
    render_header(t, f);
    for (size_t i = 0; i < n; i++)
        render_series(t, f, v[i]);
}

static void render_callback(struct text *t, struct metrics_family *f)
{
    double values[MAX_CALLBACK_VALUES] = {0};
    size_t n = f->n_collect_values ? f->n_collect_values : 1;
    if (!f->collect || f->collect(f->collect_data, values, n) < 0)
        return;
    render_header(t, f);
    for (size_t i = 0; i < n; i++) {
        render_name_labels(t, f->name, "", f->labels, f->collect_values + i, f->n_labels, NULL, NULL);
        text_put_double(t, values[i]);
        text_put(t, "\n");
    }
}

int metrics_registry_render(struct metrics_registry *r, char **ret_text, size_t *ret_len, crisp_error_t **err)
{
    struct text t = {0};
    text_putn(&t, "", 0); /* an empty registry renders as an allocated "" */
    pthread_mutex_lock(&r->lock);
    for (struct metrics_family *f = r->first; f && !t.failed; f = f->next) {
        if (f->is_callback)
            render_callback(&t, f);
        else
            render_family(&t, f);
    }
    pthread_mutex_unlock(&r->lock);
    if (t.failed) {
        free(t.data);
        return crisp_error_oom_in(err, "metrics text");
    }
    *ret_text = t.data;
    if (ret_len)
        *ret_len = t.len;
    return 0;
}
