/* The streaming server's lifecycle: the listener, one accept thread, a thread per connection up to
 * a cap, and the tokens that Exec, Attach and PortForward hand out as URLs. */
#define _GNU_SOURCE
#include "streaming/streaming.h"

#include "common/cleanup.h"
#include "streaming/http.h"
#include "streaming/serve.h"
#include "streaming/tls.h"
#include "streaming/tokens.h"
#include "common/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNECTIONS 128

struct conn_thread {
    struct srv_streaming *server;
    pthread_t thread;
    struct srv_conn conn;
    bool done;
    struct conn_thread *next;
};

struct srv_streaming {
    const struct srv_streaming_backend *backend;
    struct srv_tokens *tokens;
    void *tls; /* SSL_CTX *, or NULL */
    int listen_fd, stop_fd;
    char *url_base; /* "http://127.0.0.1:PORT" */
    int64_t idle_timeout_ms;
    pthread_t accept_thread;
    bool accepting;
    pthread_mutex_t lock;
    struct conn_thread *conns;
    size_t n_conns;
};

void srv_streaming_request_free(struct srv_streaming_request *r)
{
    if (!r)
        return;
    free(r->id);
    strv_free(r->cmd);
    free(r->ports);
    free(r);
}

static void *conn_main(void *arg)
{
    struct conn_thread *ct = arg;
    struct srv_streaming *s = ct->server;
    if (!s->tls || srv_tls_accept(s->tls, &ct->conn, s->stop_fd) == 0) {
        struct srv_serve_ctx ctx = {.tokens = s->tokens, .backend = s->backend, .stop_fd = s->stop_fd,
                                    .idle_timeout_ms = s->idle_timeout_ms};
        srv_streaming_serve(&ctx, &ct->conn);
    }
    srv_tls_conn_free(&ct->conn);
    close(ct->conn.fd);
    ct->conn.fd = -1;
    pthread_mutex_lock(&s->lock);
    ct->done = true;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Joins the threads whose connections have ended. */
static void reap(struct srv_streaming *s, bool all)
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

/* Over the cap: a best-effort 503 without blocking the accept loop. */
static void refuse(int fd)
{
    static const char resp[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nConnection: close\r\n\r\n"
                               "too many connections";
    if (send(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* nothing more to do for a client we turn away */
    }
    close(fd);
}

static void accept_one(struct srv_streaming *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    /* Frames are small and interactive: Nagle's wait for an ACK would add a delayed-ACK 40 ms. Go's
     * clients (kubelet, kubectl, crictl) set it on their end too. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    reap(s, false);
    pthread_mutex_lock(&s->lock);
    bool full = s->n_conns >= MAX_CONNECTIONS;
    pthread_mutex_unlock(&s->lock);
    struct conn_thread *ct = full ? NULL : calloc(1, sizeof(*ct));
    if (!ct) {
        refuse(fd);
        return;
    }
    *ct = (struct conn_thread){.server = s, .conn = {.fd = fd}};
    pthread_mutex_lock(&s->lock);
    if (pthread_create(&ct->thread, NULL, conn_main, ct) != 0) {
        pthread_mutex_unlock(&s->lock);
        free(ct);
        refuse(fd);
        return;
    }
    ct->next = s->conns;
    s->conns = ct;
    s->n_conns++;
    pthread_mutex_unlock(&s->lock);
}

static void *accept_main(void *arg)
{
    struct srv_streaming *s = arg;
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

static int listen_on(const char *address, int port, int *ret_fd, int *ret_port, bool *ret_v6, crisp_error_t **err)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (port < 0 || port > 65535)
        return crisp_error_make(err, EINVAL, "streaming port %d out of range", port);
    if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof(*in6);
    } else {
        return crisp_error_make(err, EINVAL, "streaming address \"%s\" is not an IP address", address);
    }
    _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return crisp_error_errno(err, "streaming socket");
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0)
        return crisp_error_errno(err, "listen on %s:%d", address, port);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return crisp_error_errno(err, "getsockname");
    *ret_port = ntohs(ss.ss_family == AF_INET ? in4->sin_port : in6->sin6_port);
    *ret_v6 = ss.ss_family == AF_INET6;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int server_init(struct srv_streaming *s, const struct srv_streaming_config *cfg, crisp_error_t **err)
{
    int port = 0;
    bool v6 = false;
    bool tls = cfg->tls_cert && *cfg->tls_cert;
    if (tls && srv_tls_context_new(cfg->tls_cert, cfg->tls_key, &s->tls, err) < 0)
        return -1;
    s->idle_timeout_ms = (int64_t)cfg->idle_timeout_s * 1000;
    if (srv_tokens_new(cfg->token_ttl_s > 0 ? (int64_t)cfg->token_ttl_s * 1000 : SRV_TOKEN_TTL_MS, &s->tokens, err) < 0)
        return -1;
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->stop_fd < 0)
        return crisp_error_errno(err, "eventfd");
    if (listen_on(cfg->address, cfg->port, &s->listen_fd, &port, &v6, err) < 0)
        return -1;
    if (asprintf(&s->url_base, "%s://%s%s%s:%d", tls ? "https" : "http", v6 ? "[" : "", cfg->address, v6 ? "]" : "",
                 port) < 0)
        return crisp_error_oom(err);
    if (pthread_create(&s->accept_thread, NULL, accept_main, s) != 0)
        return crisp_error_make(err, EAGAIN, "cannot start the streaming accept thread");
    s->accepting = true;
    return 0;
}

int srv_streaming_start(const struct srv_streaming_config *cfg, const struct srv_streaming_backend *backend,
                        struct srv_streaming **ret, crisp_error_t **err)
{
    struct srv_streaming *s = calloc(1, sizeof(*s));
    if (!s)
        return crisp_error_oom(err);
    s->backend = backend;
    s->listen_fd = s->stop_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    if (server_init(s, cfg, err) < 0) {
        srv_streaming_stop(s);
        return crisp_error_wrap(err, "streaming server");
    }
    *ret = s;
    return 0;
}

void srv_streaming_stop(struct srv_streaming *s)
{
    if (!s)
        return;
    if (s->stop_fd >= 0)
        eventfd_write(s->stop_fd, 1); /* wakes the accept loop and every session at once */
    if (s->accepting)
        pthread_join(s->accept_thread, NULL);
    reap(s, true);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->stop_fd >= 0)
        close(s->stop_fd);
    srv_tokens_free(s->tokens);
    srv_tls_context_free(s->tls);
    pthread_mutex_destroy(&s->lock);
    free(s->url_base);
    free(s);
}

int srv_streaming_url(struct srv_streaming *s, struct srv_streaming_request *req, char **ret_url,
                      crisp_error_t **err)
{
    static const char *const paths[] = {"exec", "attach", "portforward"};
    if (req->kind > SRV_STREAMING_PORTFORWARD) {
        srv_streaming_request_free(req);
        return crisp_error_make(err, EINVAL, "unknown streaming request kind");
    }
    const char *path = paths[req->kind];
    _cleanup_free_ char *token = NULL;
    if (srv_tokens_add(s->tokens, req, clock_monotonic_ms(), &token, err) < 0)
        return -1;
    if (asprintf(ret_url, "%s/%s/%s", s->url_base, path, token) < 0)
        return crisp_error_oom(err);
    return 0;
}
