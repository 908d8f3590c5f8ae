/* The streaming server's lifecycle: a TCP server (streaming/tcp_server.c) whose connections speak TLS
 * when configured, and the tokens that Exec, Attach and PortForward hand out as URLs. */
#define _GNU_SOURCE
#include "streaming/streaming.h"

#include "common/cleanup.h"
#include "common/clock.h"
#include "streaming/serve.h"
#include "streaming/tcp_server.h"
#include "streaming/tls.h"
#include "streaming/tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_CONNECTIONS 128

struct srv_streaming {
    const struct srv_streaming_backend *backend;
    struct srv_tokens *tokens;
    void *tls;      /* SSL_CTX *, or NULL */
    char *url_base; /* "http://127.0.0.1:PORT" */
    int64_t idle_timeout_ms;
    struct srv_tcp_server *tcp;
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

static void conn_serve(void *data, int fd, int stop_fd)
{
    struct srv_streaming *s = data;
    struct srv_conn c = {.fd = fd};
    if (!s->tls || srv_tls_accept(s->tls, &c, stop_fd) == 0) {
        struct srv_serve_ctx ctx = {.tokens = s->tokens,
                                    .backend = s->backend,
                                    .stop_fd = stop_fd,
                                    .idle_timeout_ms = s->idle_timeout_ms};
        srv_streaming_serve(&ctx, &c);
    }
    srv_tls_conn_free(&c);
}

static int server_init(struct srv_streaming *s, const struct srv_streaming_config *cfg, crisp_error_t **err)
{
    bool tls = cfg->tls_cert && *cfg->tls_cert;
    if (tls && srv_tls_context_new(cfg->tls_cert, cfg->tls_key, &s->tls, err) < 0)
        return -1;
    s->idle_timeout_ms = (int64_t)cfg->idle_timeout_s * 1000;
    if (srv_tokens_new(cfg->token_ttl_s > 0 ? (int64_t)cfg->token_ttl_s * 1000 : SRV_TOKEN_TTL_MS, &s->tokens,
                       err) < 0)
        return -1;
    /* Frames are small and interactive: Nagle's wait for an ACK would add a delayed-ACK 40 ms. Go's
     * clients (kubelet, kubectl, crictl) set TCP_NODELAY on their end too. */
    const struct srv_tcp_server_config tc = {.what = "streaming",
                                             .address = cfg->address,
                                             .port = cfg->port,
                                             .backlog = 128,
                                             .max_connections = MAX_CONNECTIONS,
                                             .nodelay = true,
                                             .serve = conn_serve,
                                             .data = s};
    if (srv_tcp_server_start(&tc, &s->tcp, err) < 0)
        return -1;
    bool v6 = srv_tcp_server_v6(s->tcp);
    if (asprintf(&s->url_base, "%s://%s%s%s:%d", tls ? "https" : "http", v6 ? "[" : "", cfg->address,
                 v6 ? "]" : "", srv_tcp_server_port(s->tcp)) < 0)
        return crisp_error_oom(err);
    return 0;
}

int srv_streaming_start(const struct srv_streaming_config *cfg, const struct srv_streaming_backend *backend,
                        struct srv_streaming **ret, crisp_error_t **err)
{
    struct srv_streaming *s = calloc(1, sizeof(*s));
    if (!s)
        return crisp_error_oom(err);
    s->backend = backend;
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
    srv_tcp_server_stop(s->tcp); /* ends every session first: they use the tokens and the TLS context */
    srv_tokens_free(s->tokens);
    srv_tls_context_free(s->tls);
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
