/* crispd's own Prometheus endpoint (metrics.address, metrics.port), wired to the daemon's state. */
#ifndef CRISP_SERVER_METRICS_DAEMON_H
#define CRISP_SERVER_METRICS_DAEMON_H

#include "common/error.h"
#include "server/daemon.h"

struct srv_metrics_server;

/* Starts the endpoint when metrics.port is set; *ret stays NULL when it is not. */
int srv_metrics_daemon_start(struct srv_daemon *d, struct srv_metrics_server **ret, crisp_error_t **err);

/* Stops the endpoint (NULL: nothing to stop) and frees the registry: only after the gRPC server
 * has stopped, so that no call updates a series any more. */
void srv_metrics_daemon_stop(struct srv_metrics_server *s);

#endif
