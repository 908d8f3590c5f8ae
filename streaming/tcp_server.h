/* The skeleton crispd's TCP servers share (the streaming server, the metrics endpoint): a listener on
 * an IP literal, one accept thread, a thread per connection up to a cap with a best-effort 503 past
 * it, and a stop that ends and joins them all. What a connection carries is the caller's. */
#ifndef CRISP_STREAMING_TCP_SERVER_H
#define CRISP_STREAMING_TCP_SERVER_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

struct srv_tcp_server_config {
    const char *what;       /* "streaming", "metrics": names the server in error messages */
    const char *address;    /* an IPv4 or IPv6 literal */
    int port;               /* 0: a free port the kernel picks (see srv_tcp_server_port) */
    int backlog;            /* listen(2)'s */
    size_t max_connections; /* served at once; one more is answered 503 and closed */
    bool nodelay;           /* TCP_NODELAY on every accepted connection */
    /* Serves one accepted connection (non-blocking, close-on-exec) on a thread of its own and returns
     * when it is done; the server closes fd afterwards. stop_fd becomes readable, and stays so, once
     * the server stops: a serve that waits must wait on it too. */
    void (*serve)(void *data, int fd, int stop_fd);
    void *data; /* must outlive the server */
};

struct srv_tcp_server;

/* Listens and starts accepting. EINVAL: the port is out of range or the address not an IP literal. */
int srv_tcp_server_start(const struct srv_tcp_server_config *cfg, struct srv_tcp_server **ret,
                         crisp_error_t **err);

/* The port the server is bound to. */
int srv_tcp_server_port(const struct srv_tcp_server *s);

/* Whether it listens on IPv6 (URLs put the address in brackets then). */
bool srv_tcp_server_v6(const struct srv_tcp_server *s);

/* Signals stop_fd, joins the accept thread and every connection's, closes the listener, frees.
 * Returns once every serve has returned. NULL: no-op. */
void srv_tcp_server_stop(struct srv_tcp_server *s);

#endif
