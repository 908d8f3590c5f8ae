#define _GNU_SOURCE
#include "streaming/tcp_server.h"

#include "common/cleanup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn_thread {
    struct srv_tcp_server *server;
    pthread_t thread;
    int fd;
    bool done;
    struct conn_thread *next;
};

struct srv_tcp_server {
    struct srv_tcp_server_config cfg;
    int listen_fd, stop_fd, port;
    bool v6;
    pthread_t accept_thread;
    bool accepting;
    pthread_mutex_t lock; /* guards conns, n_conns and each conn's done */
    struct conn_thread *conns;
    size_t n_conns;
};

static void *conn_main(void *arg)
{
    struct conn_thread *ct = arg;
    struct srv_tcp_server *s = ct->server;
    s->cfg.serve(s->cfg.data, ct->fd, s->stop_fd);
    close(ct->fd);
    pthread_mutex_lock(&s->lock);
    ct->done = true;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Joins the threads whose connections have ended, or all of them. */
static void conns_reap(struct srv_tcp_server *s, bool all)
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
    static const char resp[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 21\r\nConnection: close\r\n\r\n"
        "too many connections\n";
    if (send(fd, resp, sizeof(resp) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        /* nothing more to do for a client we turn away */
    }
    close(fd);
}

static void accept_one(struct srv_tcp_server *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    int one = 1;
    if (s->cfg.nodelay)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conns_reap(s, false);
    pthread_mutex_lock(&s->lock);
    struct conn_thread *ct = s->n_conns < s->cfg.max_connections ? calloc(1, sizeof(*ct)) : NULL;
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
    struct srv_tcp_server *s = arg;
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

static int address_parse(const struct srv_tcp_server_config *cfg, struct sockaddr_storage *ss,
                         socklen_t *ret_len, crisp_error_t **err)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof(*ss));
    if (cfg->port < 0 || cfg->port > 65535)
        return crisp_error_make(err, EINVAL, "%s port %d out of range", cfg->what, cfg->port);
    if (cfg->address && inet_pton(AF_INET, cfg->address, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg->port);
        *ret_len = sizeof(*in4);
    } else if (cfg->address && inet_pton(AF_INET6, cfg->address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg->port);
        *ret_len = sizeof(*in6);
    } else {
        return crisp_error_make(err, EINVAL, "%s address \"%s\" is not an IP address", cfg->what,
                                cfg->address ? cfg->address : "");
    }
    return 0;
}

static int listen_on(struct srv_tcp_server *s, crisp_error_t **err)
{
    const struct srv_tcp_server_config *cfg = &s->cfg;
    struct sockaddr_storage ss;
    socklen_t len;
    if (address_parse(cfg, &ss, &len, err) < 0)
        return -1;
    _cleanup_close_ int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return crisp_error_errno(err, "%s socket", cfg->what);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, cfg->backlog) < 0)
        return crisp_error_errno(err, "listen on %s port %d", cfg->address, cfg->port);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return crisp_error_errno(err, "getsockname");
    s->v6 = ss.ss_family == AF_INET6;
    s->port = ntohs(s->v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    s->listen_fd = TAKE_FD(fd);
    return 0;
}

static int server_init(struct srv_tcp_server *s, crisp_error_t **err)
{
    s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->stop_fd < 0)
        return crisp_error_errno(err, "eventfd");
    if (listen_on(s, err) < 0)
        return -1;
    int r = pthread_create(&s->accept_thread, NULL, accept_main, s);
    if (r != 0) {
        errno = r;
        return crisp_error_errno(err, "start the %s accept thread", s->cfg.what);
    }
    s->accepting = true;
    return 0;
}

int srv_tcp_server_start(const struct srv_tcp_server_config *cfg, struct srv_tcp_server **ret,
                         crisp_error_t **err)
{
    struct srv_tcp_server *s = calloc(1, sizeof(*s));
    if (!s)
        return crisp_error_oom(err);
    s->cfg = *cfg;
    s->listen_fd = s->stop_fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    if (server_init(s, err) < 0) {
        srv_tcp_server_stop(s);
        return -1;
    }
    *ret = s;
    return 0;
}

int srv_tcp_server_port(const struct srv_tcp_server *s)
{
    return s->port;
}

bool srv_tcp_server_v6(const struct srv_tcp_server *s)
{
    return s->v6;
}

void srv_tcp_server_stop(struct srv_tcp_server *s)
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
