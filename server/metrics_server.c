#define _GNU_SOURCE
#include "server/metrics_server.h"

#include "common/cleanup.h"
#include "common/clock.h"
#include "streaming/http.h"
#include "streaming/tcp_server.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A scrape's head is a few hundred bytes; more is not a Prometheus server talking. */
#define HEAD_MAX 4096

struct srv_metrics_server {
    struct metrics_registry *registry;
    int timeout_ms;
    struct srv_tcp_server *tcp;
};

/* One scrape: every wait in it ends at its deadline, or when the server stops. */
struct conn {
    const struct srv_metrics_server *server;
    struct srv_conn c;
    int stop_fd;
    int64_t deadline;
};

/* Unlike srv_conn_write_all, gives up at the connection's deadline or when the server stops: a
 * scraper that stops reading a large page must not hold up srv_metrics_server_stop. */
static int conn_write_all(const struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->c.fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno != EINTR &&
                   (errno != EAGAIN || srv_fd_wait(c->c.fd, POLLOUT, c->stop_fd, c->deadline) <= 0)) {
            return -1;
        }
    }
    return 0;
}

static void respond_metrics(struct conn *c, bool with_body)
{
    _cleanup_free_ char *body = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    size_t len = 0;
    if (metrics_registry_render(c->server->registry, &body, &len, &err) < 0) {
        srv_http_respond(&c->c, 500, "cannot render the metrics\n");
        return;
    }
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     len);
    if (conn_write_all(c, head, (size_t)n) == 0 && with_body)
        conn_write_all(c, body, len);
}

static void conn_route(struct conn *c, const struct srv_http_request *req)
{
    if (strcmp(req->path, "/metrics") != 0) {
        srv_http_respond(&c->c, 404, "404 page not found\n");
        return;
    }
    bool get = strcmp(req->method, "GET") == 0;
    if (!get && strcmp(req->method, "HEAD") != 0) {
        srv_http_respond(&c->c, 405, "method not allowed\n");
        return;
    }
    respond_metrics(c, get);
}

static void conn_handle(struct conn *c)
{
    _cleanup_free_ char *buf = malloc(HEAD_MAX);
    if (!buf)
        return;
    struct srv_http_head h = {.buf = buf, .max = HEAD_MAX};
    int status = srv_http_head_read(&c->c, &h, c->stop_fd, c->deadline);
    if (status > 0)
        srv_http_respond(&c->c, status, status == 408 ? "request timeout\n" : "request head too large\n");
    if (status != 0)
        return;
    struct srv_http_request req = {0};
    _cleanup_error_ crisp_error_t *err = NULL;
    if (srv_http_parse(h.buf, h.head_len, &req, &err) < 0) {
        srv_http_respond(&c->c, 400, "malformed request\n");
        return;
    }
    conn_route(c, &req);
    srv_http_request_fini(&req);
}

static void conn_serve(void *data, int fd, int stop_fd)
{
    const struct srv_metrics_server *s = data;
    struct conn c = {
        .server = s, .c = {.fd = fd}, .stop_fd = stop_fd, .deadline = clock_monotonic_ms() + s->timeout_ms};
    conn_handle(&c);
    shutdown(fd, SHUT_WR);
}

static int server_init(struct srv_metrics_server *s, const struct srv_metrics_server_config *cfg,
                       crisp_error_t **err)
{
    if (!cfg->registry)
        return crisp_error_make(err, EINVAL, "metrics server without a registry");
    s->registry = cfg->registry;
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : SRV_METRICS_SERVER_TIMEOUT_MS;
    const struct srv_tcp_server_config tc = {.what = "metrics",
                                             .address = cfg->address,
                                             .port = cfg->port,
                                             .backlog = 64,
                                             .max_connections = SRV_METRICS_SERVER_MAX_CONNECTIONS,
                                             .serve = conn_serve,
                                             .data = s};
    return srv_tcp_server_start(&tc, &s->tcp, err);
}

int srv_metrics_server_start(const struct srv_metrics_server_config *cfg, struct srv_metrics_server **ret,
                             crisp_error_t **err)
{
    struct srv_metrics_server *s = calloc(1, sizeof(*s));
    if (!s)
        return crisp_error_oom(err);
    if (server_init(s, cfg, err) < 0) {
        srv_metrics_server_stop(s);
        return crisp_error_wrap(err, "metrics server");
    }
    *ret = s;
    return 0;
}

int srv_metrics_server_port(const struct srv_metrics_server *s)
{
    return srv_tcp_server_port(s->tcp);
}

void srv_metrics_server_stop(struct srv_metrics_server *s)
{
    if (!s)
        return;
    srv_tcp_server_stop(s->tcp);
    free(s);
}
