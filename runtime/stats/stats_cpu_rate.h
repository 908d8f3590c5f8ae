/* CRI's usage_nano_cores: CPU use as a rate, from the cumulative usage of two successive stats
 * calls. The table keeps each container's or pod's previous (timestamp, usage) sample.
 *
 * As containerd's CRI does (internal/cri/server/container_stats_list.go, getUsageNanoCores; CRI-O's
 * stats server likewise sets the field only when it holds an older sample), the first sample of an
 * id gives no rate: the field is left unset, as cAdvisor's CpuInst is, and kubelet treats it as
 * unknown. Nor does a sample no newer than the stored one, nor a usage below the stored one.
 * Unlike containerd:
 *  - a usage that went down (a recreated cgroup) replaces the stored sample, so the rate comes back
 *    at the next call instead of staying unset until the counter passes its old value;
 *  - a sample with an older timestamp but a higher usage (the clock stepped back) replaces it too;
 *  - a sample taken within min_interval_ns of the stored one gets the last rate again and leaves
 *    the sample alone, so two callers polling back to back (summary and metrics) do not see the
 *    noise of a rate over a few microseconds. */
#ifndef CRISP_RUNTIME_STATS_CPU_RATE_H
#define CRISP_RUNTIME_STATS_CPU_RATE_H

#include "common/error.h"
#include "common/idvec.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_STATS_CPU_RATE_DEFAULT_CAPACITY 16384
#define RT_STATS_CPU_RATE_DEFAULT_MIN_INTERVAL_NS 1000000000LL

struct rt_stats_cpu_rate_entry;

/* Thread-safe; the fields are private. */
struct rt_stats_cpu_rate {
    pthread_mutex_t lock;
    struct idvec entries; /* of struct rt_stats_cpu_rate_entry, sorted by id */
    size_t capacity;      /* at most this many ids; the least recently sampled one makes room */
    int64_t min_interval_ns;
    uint64_t clock; /* counts samples, to find the least recently sampled id */
};

/* capacity 0: RT_STATS_CPU_RATE_DEFAULT_CAPACITY; min_interval_ns < 0: the default (1 s). */
void rt_stats_cpu_rate_init(struct rt_stats_cpu_rate *t, size_t capacity, int64_t min_interval_ns);
void rt_stats_cpu_rate_fini(struct rt_stats_cpu_rate *t);

/* Records id's sample (timestamp_ns: when usage_ns was read, on one clock for all calls) and
 * returns 1 with *ret_nano_cores set when a rate can be given, 0 when not (see above), -1 on error
 * (EINVAL for an empty or overlong id, ENOMEM). */
int rt_stats_cpu_rate_sample(struct rt_stats_cpu_rate *t, const char *id, int64_t timestamp_ns,
                             uint64_t usage_ns, uint64_t *ret_nano_cores, crisp_error_t **err);

/* Forgets id (its container or pod was removed); an unknown id is fine. */
void rt_stats_cpu_rate_remove(struct rt_stats_cpu_rate *t, const char *id);

/* How many ids the table holds. */
size_t rt_stats_cpu_rate_count(struct rt_stats_cpu_rate *t);

#endif
