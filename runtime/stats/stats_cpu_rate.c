#define _GNU_SOURCE
#include "runtime/stats/stats_cpu_rate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* CRI ids are 64 hex digits; names as ids stay well below this. */
#define ID_MAX 256

/* id first: struct idvec's contract. */
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

static struct rt_stats_cpu_rate_entry *entry_at(const struct rt_stats_cpu_rate *t, size_t i)
{
    return idvec_at(&t->entries, i);
}

void rt_stats_cpu_rate_fini(struct rt_stats_cpu_rate *t)
{
    for (size_t i = 0; i < t->entries.n; i++)
        entry_free(entry_at(t, i));
    idvec_fini(&t->entries);
    pthread_mutex_destroy(&t->lock);
}

/* A full table drops the id sampled longest ago: most likely one whose container is gone without
 * a remove. A linear scan, but only when an id is added to a full table. */
static void evict_oldest(struct rt_stats_cpu_rate *t)
{
    size_t oldest = 0;
    for (size_t i = 1; i < t->entries.n; i++)
        if (entry_at(t, i)->sampled_at < entry_at(t, oldest)->sampled_at)
            oldest = i;
    entry_free(idvec_remove(&t->entries, oldest));
}

static int insert(struct rt_stats_cpu_rate *t, const char *id, int64_t timestamp_ns, uint64_t usage_ns,
                  crisp_error_t **err)
{
    if (t->entries.n >= t->capacity)
        evict_oldest(t);
    struct rt_stats_cpu_rate_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->id = strdup(id))) {
        entry_free(e);
        return crisp_error_oom(err);
    }
    e->timestamp_ns = timestamp_ns;
    e->usage_ns = usage_ns;
    e->sampled_at = ++t->clock;
    bool found;
    size_t at = idvec_find(&t->entries, id, &found);
    if (idvec_insert(&t->entries, at, e) < 0) {
        entry_free(e);
        return crisp_error_oom(err);
    }
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
    size_t i = idvec_find(&t->entries, id, &found);
    int r = found ? entry_sample(t, entry_at(t, i), timestamp_ns, usage_ns, ret_nano_cores)
                  : insert(t, id, timestamp_ns, usage_ns, err);
    pthread_mutex_unlock(&t->lock);
    return r;
}

void rt_stats_cpu_rate_remove(struct rt_stats_cpu_rate *t, const char *id)
{
    if (!id)
        return;
    pthread_mutex_lock(&t->lock);
    entry_free(idvec_take(&t->entries, id));
    pthread_mutex_unlock(&t->lock);
}

size_t rt_stats_cpu_rate_count(struct rt_stats_cpu_rate *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->entries.n;
    pthread_mutex_unlock(&t->lock);
    return n;
}
