#define _GNU_SOURCE
#include "streaming/serve.h"

#include "common/cleanup.h"
#include "common/clock.h"
#include "streaming/apps.h"
#include "streaming/http.h"
#include "streaming/transport.h"
#include "streaming/ws/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEAD_TIMEOUT_MS 10000

/* Protocols we speak, in no order: the client's order of preference decides, as in kubelet. */
static const char *const spdy_remotecommand[] = {"v4.channel.k8s.io", "v3.channel.k8s.io",
                                                 "v2.channel.k8s.io", "channel.k8s.io", NULL};
static const char *const spdy_portforward[] = {"portforward.k8s.io", NULL};
static const char *const ws_remotecommand[] = {"v5.channel.k8s.io",        "v4.channel.k8s.io",
                                               "v4.base64.channel.k8s.io", "channel.k8s.io",
                                               "base64.channel.k8s.io",    NULL};
static const char *const ws_portforward[] = {"v4.channel.k8s.io", "v4.base64.channel.k8s.io", NULL};

/* "/exec/TOKEN" and the like: the kind, and the token in ret_token; -1 for any other path. */
static int route(const char *path, enum srv_streaming_kind *ret_kind, const char **ret_token)
{
    static const struct {
        const char *prefix;
        enum srv_streaming_kind kind;
    } routes[] = {{"/exec/", SRV_STREAMING_EXEC},
                  {"/attach/", SRV_STREAMING_ATTACH},
                  {"/portforward/", SRV_STREAMING_PORTFORWARD}};
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        size_t n = strlen(routes[i].prefix);
        if (strncmp(path, routes[i].prefix, n) == 0 && path[n] && !strchr(path + n, '/')) {
            *ret_kind = routes[i].kind;
            *ret_token = path + n;
            return 0;
        }
    }
    return -1;
}

/* The first of the client's protocols (all values of header, comma-separated) that we speak: 1 and
 * ret set; 0 when the client named none; -1 when we speak none of them. */
static int negotiate(const struct srv_headers *h, const char *header, const char *const *ours,
                     const char **ret)
{
    char theirs[16][64];
    size_t n = srv_http_header_tokens(h, header, theirs, 16);
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        for (const char *const *p = ours; *p; p++)
            if (strcmp(theirs[i], *p) == 0) {
                *ret = *p;
                return 1;
            }
    return -1;
}

static int remotecommand_version(const char *protocol)
{
    if (!protocol)
        return 1;
    if (protocol[0] == 'v' && protocol[1] >= '2' && protocol[1] <= '5' && protocol[2] == '.')
        return protocol[1] - '0';
    return 1;
}

/* The ports a WebSocket port-forward serves: the request's, else the URL's ?port=A,B&port=C. */
static size_t ws_ports(const struct srv_streaming_request *req, const char *query, uint16_t *ret, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_ports && n < max; i++)
        if (req->ports[i] > 0 && req->ports[i] <= 65535)
            ret[n++] = (uint16_t)req->ports[i];
    if (req->n_ports > 0)
        return n;
    char values[16][64];
    size_t nv = srv_http_query_values(query, "port", values, 16);
    for (size_t i = 0; i < nv; i++)
        for (char *save = NULL, *tok = strtok_r(values[i], ",", &save); tok && n < max;
             tok = strtok_r(NULL, ",", &save)) {
            char *end;
            long p = strtol(tok, &end, 10);
            if (*end || p < 1 || p > 65535)
                return 0;
            ret[n++] = (uint16_t)p;
        }
    return n;
}

/* Bytes the client sent right behind its request head are the session's first. */
static void run_session(const struct srv_http_head *h, struct srv_session *s)
{
    if (h->len > h->head_len && srv_buf_append(&s->in, h->buf + h->head_len, h->len - h->head_len) < 0) {
        srv_session_fini(s);
        return;
    }
    srv_session_run(s);
}

static int upgrade_spdy(const struct srv_serve_ctx *ctx, struct srv_conn *c, const struct srv_http_head *h,
                        const struct srv_http_request *http, const struct srv_streaming_request *req)
{
    bool pf = req->kind == SRV_STREAMING_PORTFORWARD;
    const char *protocol = NULL;
    if (negotiate(&http->headers, "X-Stream-Protocol-Version", pf ? spdy_portforward : spdy_remotecommand,
                  &protocol) < 0)
        return srv_http_respond(c, 403, "unable to upgrade: no common stream protocol version\n");
    char resp[256];
    int n = snprintf(
        resp, sizeof(resp),
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n%s%s%s\r\n",
        protocol ? "X-Stream-Protocol-Version: " : "", protocol ? protocol : "", protocol ? "\r\n" : "");
    struct srv_session s;
    srv_session_init(&s, c, ctx->stop_fd);
    s.idle_timeout_ms = ctx->idle_timeout_ms;
    crisp_error_t *err = NULL;
    if (srv_spdy_transport_attach(&s, &err) < 0) {
        crisp_error_free(err);
        return srv_http_respond(c, 500, "out of memory\n");
    }
    int r = pf ? srv_portforward_attach(&s, req, ctx->backend, NULL, 0, false, &err)
               : srv_remotecommand_attach(&s, req, ctx->backend, remotecommand_version(protocol), false,
                                          &err);
    if (r == 0 && srv_conn_write_all(c, resp, (size_t)n, 2000) == 0) {
        run_session(h, &s);
    } else {
        srv_session_fini(&s);
        if (r < 0)
            srv_http_respond(c, 500, "unable to start the session\n");
    }
    crisp_error_free(err);
    return 0;
}

static int ws_respond(struct srv_conn *c, const char *accept, const char *protocol)
{
    char resp[256];
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                     accept, protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
                     protocol ? "\r\n" : "");
    return srv_conn_write_all(c, resp, (size_t)n, 2000);
}

static int upgrade_ws(const struct srv_serve_ctx *ctx, struct srv_conn *c, const struct srv_http_head *h,
                      const struct srv_http_request *http, const struct srv_streaming_request *req)
{
    bool pf = req->kind == SRV_STREAMING_PORTFORWARD;
    const char *version = srv_headers_get(&http->headers, "Sec-WebSocket-Version");
    const char *key = srv_headers_get(&http->headers, "Sec-WebSocket-Key");
    char accept[29];
    if (!version || strcmp(version, "13") != 0 || !key || srv_ws_accept_key(key, accept) < 0)
        return srv_http_respond(c, 400, "bad WebSocket handshake\n");
    const char *protocol = NULL;
    if (negotiate(&http->headers, "Sec-WebSocket-Protocol", pf ? ws_portforward : ws_remotecommand,
                  &protocol) < 0)
        return srv_http_respond(c, 403, "unable to upgrade: no common WebSocket protocol\n");
    bool base64 = protocol && strstr(protocol, "base64.") != NULL;
    uint16_t ports[64];
    size_t n_ports = pf ? ws_ports(req, http->query, ports, 64) : 0;
    if (pf && n_ports == 0)
        return srv_http_respond(c, 400, "query parameter \"port\" is required\n");
    struct srv_session s;
    srv_session_init(&s, c, ctx->stop_fd);
    s.idle_timeout_ms = ctx->idle_timeout_ms;
    crisp_error_t *err = NULL;
    int r = srv_ws_transport_attach(&s, base64, pf ? 4 : remotecommand_version(protocol), &err);
    if (r == 0)
        r = pf ? srv_portforward_attach(&s, req, ctx->backend, ports, n_ports, true, &err)
               : srv_remotecommand_attach(&s, req, ctx->backend, remotecommand_version(protocol), true, &err);
    if (r == 0 && ws_respond(c, accept, protocol) == 0) {
        run_session(h, &s);
    } else {
        srv_session_fini(&s);
        if (r < 0)
            srv_http_respond(c, 500, "unable to start the session\n");
    }
    crisp_error_free(err);
    return 0;
}

static void request_freep(struct srv_streaming_request **r)
{
    srv_streaming_request_free(*r);
}

static int serve_request(const struct srv_serve_ctx *ctx, struct srv_conn *c, const struct srv_http_head *h,
                         const struct srv_http_request *http)
{
    enum srv_streaming_kind kind;
    const char *token;
    if (route(http->path, &kind, &token) < 0)
        return srv_http_respond(c, 404, "404 page not found\n");
    if (strcmp(http->method, "GET") != 0 && strcmp(http->method, "POST") != 0)
        return srv_http_respond(c, 405, "method not allowed\n");
    _cleanup_(request_freep) struct srv_streaming_request *req = srv_tokens_take(ctx->tokens, token,
                                                                                 clock_monotonic_ms());
    if (!req || req->kind != kind)
        return srv_http_respond(c, 404, "404 page not found\n");
    if (!srv_http_header_has_token(&http->headers, "Connection", "upgrade"))
        return srv_http_respond(c, 400, "unable to upgrade: missing upgrade headers in request\n");
    if (srv_http_header_has_token(&http->headers, "Upgrade", "websocket"))
        return upgrade_ws(ctx, c, h, http, req);
    if (srv_http_header_has_token(&http->headers, "Upgrade", "SPDY/3.1"))
        return upgrade_spdy(ctx, c, h, http, req);
    return srv_http_respond(c, 400, "unable to upgrade: unsupported protocol\n");
}

void srv_streaming_serve(const struct srv_serve_ctx *ctx, struct srv_conn *c)
{
    _cleanup_free_ char *buf = malloc(SRV_HTTP_HEAD_MAX);
    if (!buf)
        return;
    struct srv_http_head h = {.buf = buf, .max = SRV_HTTP_HEAD_MAX};
    int status = srv_http_head_read(c, &h, ctx->stop_fd, clock_monotonic_ms() + HEAD_TIMEOUT_MS);
    if (status != 0) {
        if (status > 0)
            srv_http_respond(c, status, status == 408 ? "request timeout\n" : "request head too large\n");
        return;
    }
    struct srv_http_request http = {0};
    crisp_error_t *err = NULL;
    if (srv_http_parse(h.buf, h.head_len, &http, &err) < 0)
        srv_http_respond(c, 400, "malformed request\n");
    else
        serve_request(ctx, c, &h, &http);
    crisp_error_free(err);
    srv_http_request_fini(&http);
}
