/* The series crispd serves on its metrics endpoint, in one process-wide registry, and the calls that
 * update them. Every update is a no-op until srv_metrics_init, so crispd pays nothing for metrics
 * unless they are turned on.
 *
 *   grpc_server_started_total{grpc_method,grpc_service,grpc_type}             counter
 *   grpc_server_handled_total{grpc_code,grpc_method,grpc_service,grpc_type}   counter
 *   grpc_server_handling_seconds{grpc_method,grpc_service,grpc_type}          histogram
 *   crisp_image_pulls_total{result}                                           counter
 *   crisp_image_pull_bytes_total                                              counter
 *   crisp_image_pull_duration_seconds                                         histogram
 *   crisp_pods{state}, crisp_containers{state}, crisp_monitors_alive          gauges (callbacks)
 *   process_*                                                                 see server/metrics_process.h
 *
 * The gRPC series carry go-grpc-prometheus' names, labels, codes ("OK", "NotFound") and default buckets,
 * so dashboards made for containerd and other Go servers read them unchanged. */
#ifndef CRISP_SERVER_METRICS_SERIES_H
#define CRISP_SERVER_METRICS_SERIES_H

#include "common/error.h"
#include "common/metrics.h"

#include <stdbool.h>
#include <stdint.h>

/* Counts are indexed by CRI's enum values: PodSandboxState (SANDBOX_READY, SANDBOX_NOTREADY) and
 * ContainerState (CONTAINER_CREATED, _RUNNING, _EXITED, _UNKNOWN). */
#define SRV_METRICS_POD_STATES 2
#define SRV_METRICS_CONTAINER_STATES 4

/* Called at scrape time from the metrics server's thread; each returns 0, or -1 to leave its series
 * out of that scrape. Any of them may be NULL. */
struct srv_metrics_state_callbacks {
    int (*pods)(void *data, uint64_t ret_counts[SRV_METRICS_POD_STATES]);
    int (*containers)(void *data, uint64_t ret_counts[SRV_METRICS_CONTAINER_STATES]);
    int (*monitors_alive)(void *data, uint64_t *ret_count);
    void *data;
};

/* Builds the registry and its families; once, before the first update that should count. */
int srv_metrics_init(crisp_error_t **err);

/* Frees the registry: only once no thread updates or serves it any more (after srv_grpc_stop and
 * srv_metrics_server_stop). */
void srv_metrics_fini(void);

/* The registry to serve; NULL before srv_metrics_init. */
struct metrics_registry *srv_metrics_registry(void);

/* Installs (or with NULL removes) the state callbacks. Once it returns, the previous callbacks are not
 * running and will not run again, so their data may be freed. */
void srv_metrics_set_state_callbacks(const struct srv_metrics_state_callbacks *cb);

/* A call arrived. full_method is the gRPC path ("/runtime.v1.RuntimeService/Version"); NULL, for
 * methods crispd does not serve, gives grpc_service and grpc_method "unknown", as go-grpc-prometheus
 * does, so that clients cannot mint label values. */
void srv_metrics_grpc_started(const char *full_method, bool server_stream);

/* A call ended with grpc_code (a grpc_status_code) after duration_ns on the monotonic clock. */
void srv_metrics_grpc_observe(const char *full_method, bool server_stream, int grpc_code,
                              int64_t duration_ns);

/* A PullImage ended: bytes is what this pull fetched from registries (0 when it shared another pull's
 * download or found everything present); the duration is recorded for successful pulls only. */
void srv_metrics_pull_observe(bool ok, uint64_t bytes, int64_t duration_ns);

/* grpc-go's name of a status code ("OK", "Canceled", "NotFound"); "Unknown" for a code outside 0..16. */
const char *srv_metrics_grpc_code_name(int grpc_code);

#endif
