/* The process figures Prometheus client libraries export, read from /proc/self at scrape time:
 *
 *   process_cpu_seconds_total       counter  user and system CPU time
 *   process_resident_memory_bytes   gauge
 *   process_virtual_memory_bytes    gauge
 *   process_open_fds                gauge
 *   process_max_fds                 gauge    the soft RLIMIT_NOFILE
 *   process_threads                 gauge
 *   process_start_time_seconds      gauge    since the epoch
 */
#ifndef CRISP_SERVER_METRICS_PROCESS_H
#define CRISP_SERVER_METRICS_PROCESS_H

#include "common/error.h"
#include "common/metrics.h"

#include <stdint.h>

struct srv_process_stats {
    double cpu_seconds;
    uint64_t resident_bytes, virtual_bytes, threads;
    double start_time_seconds;
};

/* The figures of /proc/self/stat (start time included, which needs the boot time of /proc/stat). */
int srv_process_stats_read(struct srv_process_stats *ret, crisp_error_t **err);

int srv_metrics_process_register(struct metrics_registry *r, crisp_error_t **err);

#endif
