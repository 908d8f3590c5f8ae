#define _GNU_SOURCE
#include "server/metrics_server.h"

#include "common/cleanup.h"
#include "common/clock.h"
#include "streaming/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

/* A scrape's head is a few hundred bytes; more is not a Prometheus server talking. */
#define HEAD_MAX 4096

struct conn_thread {
    struct srv_metrics_server *server;
    pthread_t thread;
    int fd;
    bool done;
    struct conn_thread *next;
};

struct srv_metrics_server {
    struct metrics_registry *registry;
    int listen_fd, stop_fd, port, timeout_ms;
    pthread_t accept_thread;
    bool accepting;
    pthread_mutex_t lock; /* guards conns and n_conns */
    struct conn_thread *conns;
    size_t n_conns;
};

struct head {
    char buf[HEAD_MAX];
    size_t len, head_len;
};

/* Waits for events on fd; false once the deadline passes, the server stops, or poll fails. */
static bool conn_wait(const struct srv_metrics_server *s, int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_monotonic_ms();
        if (left <= 0)
            return false;
        struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = s->stop_fd, .events = POLLIN}};
        int r = poll(p, 2, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || p[1].revents)
            return false;
        if (r > 0)
            return true;
    }
}

/* Reads up to the blank line ending the head: 0, an HTTP status to answer with, or -1 to just close. */
static int head_read(const struct srv_metrics_server *s, struct srv_conn *c, struct head *h, int64_t deadline)
{
    for (;;) {
        ssize_t n = srv_http_head_length(h->buf, h->len, sizeof(h->buf));
        if (n < 0)
            return 431;
        if (n > 0) {
            h->head_len = (size_t)n;
            return 0;
        }
        ssize_t r = srv_conn_read(c, h->buf + h->len, sizeof(h->buf) - h->len);
        if (r > 0) {
            h->len += (size_t)r;
            continue;
        }
        if (r == 0 || errno != EAGAIN)
            return -1;
        if (!conn_wait(s, c->fd, POLLIN, deadline))
            return clock_monotonic_ms() >= deadline ? 408 : -1;
    }
}

/* Unlike srv_conn_write_all, gives up at the connection's deadline or when the server stops: a
 * scraper that stops reading a large page must not hold up srv_metrics_server_stop. */
static int conn_write_all(const struct srv_metrics_server *s, int fd, const char *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno != EINTR && (errno != EAGAIN || !conn_wait(s, fd, POLLOUT, deadline))) {
            return -1;
        }
    }
    return 0;
}

static void respond_metrics(const struct srv_metrics_server *s, struct srv_conn *c, bool with_body, int64_t deadline)
{
    _cleanup_free_ char *body = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    size_t len = 0;
    if (metrics_registry_render(s->registry, &body, &len, &err) < 0) {
        srv_http_respond(c, 500, "cannot render the metrics\n");
        return;
    }
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     len);
    if (conn_write_all(s, c->fd, head, (size_t)n, deadline) == 0 && with_body)
        conn_write_all(s, c->fd, body, len, deadline);
}

static void conn_route(const struct srv_metrics_server *s, struct srv_conn *c, const struct srv_http_request *req,
                       int64_t deadline)
{
    if (strcmp(req->path, "/metrics") != 0) {
        srv_http_respond(c, 404, "404 page not found\n");
        return;
    }
    bool get = strcmp(req->method, "GET") == 0;
    if (!get && strcmp(req->method, "HEAD") != 0) {
        srv_http_respond(c, 405, "method not allowed\n");
        return;
    }
    respond_metrics(s, c, get, deadline);
}

static void conn_serve(const struct srv_metrics_server *s, int fd)
{
    int64_t deadline = clock_monotonic_ms() + s->timeout_ms;
    struct srv_conn c = {.fd = fd};
    _cleanup_free_ struct head *h = calloc(1, sizeof(*h));
    if (!h)
        return;
    int status = head_read(s, &c, h, deadline);
    if (status > 0)
        srv_http_respond(&c, status, status == 408 ? "request timeout\n" : "request head too large\n");
    if (status != 0)
        return;
    struct srv_http_request req = {0};
    _cleanup_error_ crisp_error_t *err = NULL;
    if (srv_http_parse(h->buf, h->head_len, &req, &err) < 0) {
        srv_http_respond(&c, 400, "malformed request\n");
        return;
    }
    conn_route(s, &c, &req, deadline);
    srv_http_request_fini(&req);
}

static void *conn_main(void *arg)
{
    struct conn_thread *ct = arg;
    struct srv_metrics_server *s = ct->server;
    conn_serve(s, ct->fd);
    shutdown(ct->fd, SHUT_WR);
    close(ct->fd);
    pthread_mutex_lock(&s->lock);
    ct->done = true;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Joins the threads whose connections have ended, or all of them. */
static void conns_reap(struct srv_metrics_server *s, bool all)
{
    pthread_mutex_lock(&s->lock);
    for (struct conn_thread **p = &s->conns; *p;) {
        struct conn_thread *ct = *p;
        if (!all && !ct->done) {
            p = &ct->next;
            continue;
        }
        *p = ct->next;
        s->n_conns--;
        pthread_mutex_unlock(&s->lock);
        pthread_join(ct->thread, NULL);
        free(ct);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
}

/* Over the cap: a best-effort 503 that cannot block the accept loop. */
static void conn_refuse(int fd)
{
    static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 21\r\nConnection: close\r\n\r\n"
                               "too many connections\n";
    if (send(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* nothing more to do for a client we turn away */
    }
    close(fd);
}

static void accept_one(struct srv_metrics_server *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    conns_reap(s, false);
    pthread_mutex_lock(&s->lock);
    struct conn_thread *ct = s->n_conns < SRV_METRICS_SERVER_MAX_CONNECTIONS ? calloc(1, sizeof(*ct)) : NULL;
    if (ct) {
        *ct = (struct conn_thread){.server = s, .fd = fd, .next = s->conns};
        if (pthread_create(&ct->thread, NULL, conn_main, ct) == 0) {
            s->conns = ct;
            s->n_conns++;
        } else {
            free(ct);
            ct = NULL;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!ct)
        conn_refuse(fd);
}

static void *accept_main(void *arg)
{
    struct srv_metrics_server *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->listen_fd, .events = POLLIN}, {.fd = s->stop_fd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        if (p[0].revents & POLLIN)
            accept_one(s);
    }
    return NULL;
}

static int address_parse(const char *address, int port, struct sockaddr_storage *ss, socklen_t *ret_len,
                         crisp_error_t **err)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (port < 0 || port > 65535)
        return crisp_error_make(err, EINVAL, "metrics port %d out of range", port);
    if (address && inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *ret_len = sizeof(*in4);
    } else if (address && inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *ret_len = sizeof(*in6);
    } else {
        return crisp_error_make(err, EINVAL, "metrics address \"%s\" is not an IP address", address ? address : "");
    }
    return 0;
}

static int listen_on(struct srv_metrics_server *s, const char *address, int port, crisp_error_t **err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (address_parse(address, port, &ss, &len, err) < 0)
        return -1;
    _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return crisp_error_errno(err, "metrics socket");
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0)
        return crisp_error_errno(err, "listen on %s port %d", address, port);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return crisp_error_errno(err, "getsockname");
    s->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                            : ((struct sockaddr_in6 *)&ss)->sin6_port);
    s->listen_fd = TAKE_FD(fd);
    return 0;
}

static int server_init(struct srv_metrics_server *s, const struct srv_metrics_server_config *cfg, crisp_error_t **err)
{
    if (!cfg->registry)
        return crisp_error_make(err, EINVAL, "metrics server without a registry");
    s->registry = cfg->registry;
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : SRV_METRICS_SERVER_TIMEOUT_MS;
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->stop_fd < 0)
        return crisp_error_errno(err, "eventfd");
    if (listen_on(s, cfg->address, cfg->port, err) < 0)
        return -1;
    int r = pthread_create(&s->accept_thread, NULL, accept_main, s);
    if (r != 0) {
        errno = r;
        return crisp_error_errno(err, "start the metrics accept thread");
    }
    s->accepting = true;
    return 0;
}

int srv_metrics_server_start(const struct srv_metrics_server_config *cfg, struct srv_metrics_server **ret,
                             crisp_error_t **err)
{
    struct srv_metrics_server *s = calloc(1, sizeof(*s));
    if (!s)
        return crisp_error_oom(err);
    s->listen_fd = s->stop_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    if (server_init(s, cfg, err) < 0) {
        srv_metrics_server_stop(s);
        return crisp_error_wrap(err, "metrics server");
    }
    *ret = s;
    return 0;
}

int srv_metrics_server_port(const struct srv_metrics_server *s)
{
    return s->port;
}

void srv_metrics_server_stop(struct srv_metrics_server *s)
{
    if (!s)
        return;
    if (s->stop_fd >= 0)
        eventfd_write(s->stop_fd, 1); /* stays readable: wakes the accept loop and every connection */
    if (s->accepting)
        pthread_join(s->accept_thread, NULL);
    conns_reap(s, true);
    fd_close_reset(&s->listen_fd);
    fd_close_reset(&s->stop_fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
