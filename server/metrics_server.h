/* crispd's Prometheus endpoint: plain HTTP/1.1 on a TCP address, GET /metrics and nothing else. One
 * accept thread and a thread per connection up to a cap; every connection has one deadline for its
 * whole exchange, so a client that sends nothing holds only its own thread, and only until then. */
#ifndef CRISP_SERVER_METRICS_SERVER_H
#define CRISP_SERVER_METRICS_SERVER_H

#include "common/error.h"
#include "common/metrics.h"

#define SRV_METRICS_SERVER_MAX_CONNECTIONS 16
#define SRV_METRICS_SERVER_TIMEOUT_MS 10000

struct srv_metrics_server_config {
    const char *address; /* an IPv4 or IPv6 literal */
    int port;            /* 0: a free port the kernel picks (see srv_metrics_server_port) */
    struct metrics_registry *registry;
    int timeout_ms; /* per connection, from accept to the last byte written; 0: the default */
};

struct srv_metrics_server;

int srv_metrics_server_start(const struct srv_metrics_server_config *cfg, struct srv_metrics_server **ret,
                             crisp_error_t **err);

/* The port the server is bound to. */
int srv_metrics_server_port(const struct srv_metrics_server *s);

/* Closes the listener, ends every connection at once and joins the threads; accepts NULL. */
void srv_metrics_server_stop(struct srv_metrics_server *s);

#endif
