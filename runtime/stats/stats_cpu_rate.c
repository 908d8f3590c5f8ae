#define _GNU_SOURCE
#include "runtime/stats/stats_cpu_rate.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* CRI ids are 64 hex digits; names as ids stay well below this. */
#define ID_MAX 256

struct rt_stats_cpu_rate_entry {
    char *id;
    int64_t timestamp_ns;
    uint64_t usage_ns;
    bool has_rate;
    uint64_t rate;       /* the last one given, for samples within min_interval_ns */
    uint64_t sampled_at; /* the table's clock */
};

void rt_stats_cpu_rate_init(struct rt_stats_cpu_rate *t, size_t capacity, int64_t min_interval_ns)
{
    *t = (struct rt_stats_cpu_rate){
        .capacity = capacity ? capacity : RT_STATS_CPU_RATE_DEFAULT_CAPACITY,
        .min_interval_ns = min_interval_ns >= 0 ? min_interval_ns : RT_STATS_CPU_RATE_DEFAULT_MIN_INTERVAL_NS,
    };
    pthread_mutex_init(&t->lock, NULL);
}

static void entry_free(struct rt_stats_cpu_rate_entry *e)
{
    if (!e)
        return;
    free(e->id);
    free(e);
}

void rt_stats_cpu_rate_fini(struct rt_stats_cpu_rate *t)
{
    for (size_t i = 0; i < t->n; i++)
        entry_free(t->entries[i]);
    free(t->entries);
    t->entries = NULL;
    t->n = t->alloc = 0;
    pthread_mutex_destroy(&t->lock);
}

/* Index of id, or where it would go; *ret_found says which. */
static size_t find(const struct rt_stats_cpu_rate *t, const char *id, bool *ret_found)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->entries[mid]->id, id);
        if (c == 0) {
            *ret_found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *ret_found = false;
    return lo;
}

static void remove_at(struct rt_stats_cpu_rate *t, size_t i)
{
    entry_free(t->entries[i]);
    memmove(&t->entries[i], &t->entries[i + 1], (t->n - i - 1) * sizeof(t->entries[0]));
    t->n--;
}

/* A full table drops the id sampled longest ago: most likely one whose container is gone without
 * a remove. A linear scan, but only when an id is added to a full table. */
static void evict_oldest(struct rt_stats_cpu_rate *t)
{
    size_t oldest = 0;
    for (size_t i = 1; i < t->n; i++)
        if (t->entries[i]->sampled_at < t->entries[oldest]->sampled_at)
            oldest = i;
    remove_at(t, oldest);
}

static int insert(struct rt_stats_cpu_rate *t, const char *id, int64_t timestamp_ns, uint64_t usage_ns,
                  crisp_error_t **err)
{
    if (t->n >= t->capacity)
        evict_oldest(t);
    if (t->n == t->alloc) {
        size_t alloc = t->alloc ? t->alloc * 2 : 64;
        struct rt_stats_cpu_rate_entry **entries = reallocarray(t->entries, alloc, sizeof(*entries));
        if (!entries)
            return crisp_error_oom(err);
        t->entries = entries;
        t->alloc = alloc;
    }
    _cleanup_free_ struct rt_stats_cpu_rate_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->id = strdup(id)))
        return crisp_error_oom(err);
    e->timestamp_ns = timestamp_ns;
    e->usage_ns = usage_ns;
    e->sampled_at = ++t->clock;
    bool found;
    size_t at = find(t, id, &found);
    memmove(&t->entries[at + 1], &t->entries[at], (t->n - at) * sizeof(t->entries[0]));
    t->entries[at] = TAKE_PTR(e);
    t->n++;
    return 0;
}

static void store(struct rt_stats_cpu_rate_entry *e, int64_t timestamp_ns, uint64_t usage_ns)
{
    e->timestamp_ns = timestamp_ns;
    e->usage_ns = usage_ns;
}

/* The rate for a stored entry; the caller holds the lock. */
static int entry_sample(struct rt_stats_cpu_rate *t, struct rt_stats_cpu_rate_entry *e, int64_t timestamp_ns,
                        uint64_t usage_ns, uint64_t *ret_nano_cores)
{
    e->sampled_at = ++t->clock;
    if (usage_ns < e->usage_ns) {
        /* The counter went back: a new cgroup under the same id. Start over from here. */
        store(e, timestamp_ns, usage_ns);
        e->has_rate = false;
        return 0;
    }
    if (timestamp_ns <= e->timestamp_ns) {
        /* An older sample arriving late (keep the newer one), or the clock stepped back while the
         * usage moved on (follow the clock, or no rate would come until it catches up). */
        if (usage_ns > e->usage_ns)
            store(e, timestamp_ns, usage_ns);
        return 0;
    }
    int64_t dt = timestamp_ns - e->timestamp_ns;
    if (dt < t->min_interval_ns) {
        *ret_nano_cores = e->rate;
        return e->has_rate ? 1 : 0;
    }
    double rate = (double)(usage_ns - e->usage_ns) * 1e9 / (double)dt;
    e->rate = rate >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)rate;
    e->has_rate = true;
    store(e, timestamp_ns, usage_ns);
    *ret_nano_cores = e->rate;
    return 1;
}

int rt_stats_cpu_rate_sample(struct rt_stats_cpu_rate *t, const char *id, int64_t timestamp_ns,
                             uint64_t usage_ns, uint64_t *ret_nano_cores, crisp_error_t **err)
{
    if (!id || !id[0] || strnlen(id, ID_MAX + 1) > ID_MAX)
        return crisp_error_make(err, EINVAL, "invalid id for a CPU usage rate");
    pthread_mutex_lock(&t->lock);
    bool found;
    size_t i = find(t, id, &found);
    int r = found ? entry_sample(t, t->entries[i], timestamp_ns, usage_ns, ret_nano_cores)
                  : insert(t, id, timestamp_ns, usage_ns, err);
    pthread_mutex_unlock(&t->lock);
    return r;
}

void rt_stats_cpu_rate_remove(struct rt_stats_cpu_rate *t, const char *id)
{
    if (!id)
        return;
    pthread_mutex_lock(&t->lock);
    bool found;
    size_t i = find(t, id, &found);
    if (found)
        remove_at(t, i);
    pthread_mutex_unlock(&t->lock);
}

size_t rt_stats_cpu_rate_count(struct rt_stats_cpu_rate *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->n;
    pthread_mutex_unlock(&t->lock);
    return n;
}
