/* Port forwarding on a session: each forwarded connection is a data stream and an error stream;
 * the backend dials the port and the session pumps the socket both ways. */
#define _GNU_SOURCE
#include "streaming/apps.h"

#include "common/cleanup.h"
#include "common/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PF_MAX_PAIRS (SRV_SESSION_MAX_STREAMS / 2)
#define PF_PAIR_WAIT_MS 30000 /* for a pair's second stream, as kubelet waits */

struct pf_pair {
    char request_id[64];
    uint16_t port;
    uint32_t data_id, error_id;
    bool has_data, has_error, dialed;
    int fd;
    int64_t created;
};

struct pf {
    const struct srv_streaming_request *req;
    const struct srv_streaming_backend *be;
    bool websocket;
    struct pf_pair pairs[PF_MAX_PAIRS];
    size_t n_pairs;
};

static bool port_allowed(const struct pf *pf, long port)
{
    if (port < 1 || port > 65535)
        return false;
    for (size_t i = 0; i < pf->req->n_ports; i++)
        if (pf->req->ports[i] == port)
            return true;
    return pf->req->n_ports == 0;
}

static struct pf_pair *pair_get(struct pf *pf, const char *request_id, uint16_t port)
{
    for (size_t i = 0; i < pf->n_pairs; i++)
        if (strcmp(pf->pairs[i].request_id, request_id) == 0)
            return pf->pairs[i].port == port ? &pf->pairs[i] : NULL;
    if (pf->n_pairs >= PF_MAX_PAIRS)
        return NULL;
    struct pf_pair *p = &pf->pairs[pf->n_pairs++];
    *p = (struct pf_pair){.port = port, .fd = -1, .created = clock_monotonic_ms()};
    snprintf(p->request_id, sizeof(p->request_id), "%s", request_id);
    return p;
}

/* Old clients send no requestID: kubelet pairs an error stream N with the data stream N+2. */
static void request_id_of(const struct srv_headers *h, uint32_t id, bool data, char ret[64])
{
    const char *rid = srv_headers_get(h, "requestid");
    if (rid && *rid)
        snprintf(ret, 64, "%s", rid);
    else
        snprintf(ret, 64, "%u", data ? id - 2 : id);
}

static bool pf_opened(struct srv_session *s, struct srv_stream *st, const struct srv_headers *h)
{
    struct pf *pf = s->adata;
    const char *type = srv_headers_get(h, "streamtype"), *port_text = srv_headers_get(h, "port");
    bool data = type && strcmp(type, "data") == 0;
    if (!type || (!data && strcmp(type, "error") != 0) || !port_text)
        return false;
    char *end;
    errno = 0;
    long port = strtol(port_text, &end, 10);
    if (errno || end == port_text || *end || !port_allowed(pf, port))
        return false;
    char rid[64];
    request_id_of(h, st->id, data, rid);
    struct pf_pair *p = pair_get(pf, rid, (uint16_t)port);
    if (!p || (data ? p->has_data : p->has_error))
        return false;
    if (data) {
        p->data_id = st->id;
        p->has_data = true;
    } else {
        p->error_id = st->id;
        p->has_error = true;
        st->discard = true;
    }
    st->role = data ? SRV_ROLE_PF_DATA : SRV_ROLE_PF_ERROR;
    st->port = (uint16_t)port;
    return true;
}

static void pair_fail(struct srv_session *s, struct pf *pf, struct pf_pair *p, const char *why)
{
    struct srv_stream *err = p->has_error ? srv_session_stream_find(s, p->error_id) : NULL;
    if (!err)
        return;
    _cleanup_free_ char *msg = NULL;
    if (asprintf(&msg, "error forwarding port %u to pod %s: %s", p->port, pf->req->id, why) > 0)
        srv_session_send(s, err, msg, strlen(msg), false);
}

static void pair_dial(struct srv_session *s, struct pf *pf, struct pf_pair *p)
{
    crisp_error_t *err = NULL;
    p->dialed = true;
    if (pf->be->dial(pf->be->data, pf->req, p->port, &p->fd, &err) < 0) {
        p->fd = -1;
        pair_fail(s, pf, p, err ? err->msg : "dial failed");
        crisp_error_free(err);
        return;
    }
    struct srv_stream *data = srv_session_stream_find(s, p->data_id);
    if (data)
        data->sink_fd = data->source_fd = p->fd;
}

/* A pair is over when the port's side closed (as kubelet's runtimes end a forward when either
 * copy ends; the client's half-close only shuts the socket's write side), when the client reset
 * the data stream, or when it never got a socket. */
static bool pair_over(struct srv_session *s, struct pf_pair *p)
{
    struct srv_stream *data = srv_session_stream_find(s, p->data_id);
    if (!p->dialed)
        return false;
    if (!data || p->fd < 0)
        return true;
    return data->source_eof || (data->discard && data->remote_fin && data->local_fin);
}

static void pair_remove(struct srv_session *s, struct pf *pf, size_t i)
{
    struct pf_pair *p = &pf->pairs[i];
    if (p->fd >= 0)
        close(p->fd);
    uint32_t ids[2] = {p->data_id, p->error_id};
    bool has[2] = {p->has_data, p->has_error};
    for (int k = 0; k < 2; k++) {
        struct srv_stream *st = has[k] ? srv_session_stream_find(s, ids[k]) : NULL;
        if (st) {
            srv_session_send(s, st, NULL, 0, true);
            srv_session_stream_remove(s, st);
        }
    }
    pf->pairs[i] = pf->pairs[--pf->n_pairs];
}

static bool pf_step(struct srv_session *s)
{
    struct pf *pf = s->adata;
    int64_t now = clock_monotonic_ms();
    s->deadline = 0;
    for (size_t i = 0; i < pf->n_pairs;) {
        struct pf_pair *p = &pf->pairs[i];
        if (!p->dialed && p->has_data && p->has_error)
            pair_dial(s, pf, p);
        if (!p->dialed && now >= p->created + PF_PAIR_WAIT_MS) {
            pair_fail(s, pf, p, "timed out waiting for streams");
            p->dialed = true;
        }
        if (pair_over(s, p)) {
            pair_remove(s, pf, i);
            continue;
        }
        if (!p->dialed && (s->deadline == 0 || p->created + PF_PAIR_WAIT_MS < s->deadline))
            s->deadline = p->created + PF_PAIR_WAIT_MS;
        i++;
    }
    /* Over WebSocket the ports are fixed at the start: when all are done, so is the session. */
    return pf->websocket && pf->n_pairs == 0;
}

static void pf_remote_closed(struct srv_session *s, struct srv_stream *st)
{
    if (st->role == SRV_ROLE_PF_DATA && st->sink_fd >= 0) {
        shutdown(st->sink_fd, SHUT_WR);
        st->sink_fd = -1;
    }
    (void)s;
}

static void pf_fini(struct srv_session *s)
{
    struct pf *pf = s->adata;
    for (size_t i = 0; i < pf->n_pairs; i++)
        if (pf->pairs[i].fd >= 0)
            close(pf->pairs[i].fd);
    free(pf);
    s->adata = NULL;
}

static const struct srv_app pf_app = {
    .opened = pf_opened,
    .remote_closed = pf_remote_closed,
    .step = pf_step,
    .fini = pf_fini,
};

/* WebSocket: a data and an error channel per port, each announced by the port, little-endian. */
static int ws_pairs(struct srv_session *s, struct pf *pf, const uint16_t *ports, size_t n,
                    crisp_error_t **err)
{
    if (n == 0 || n > PF_MAX_PAIRS)
        return crisp_error_make(err, EINVAL, "port-forward over WebSocket needs 1 to %d ports", PF_MAX_PAIRS);
    for (size_t i = 0; i < n; i++) {
        struct pf_pair *p = &pf->pairs[pf->n_pairs++];
        *p = (struct pf_pair){.port = ports[i],
                              .fd = -1,
                              .created = clock_monotonic_ms(),
                              .has_data = true,
                              .has_error = true,
                              .data_id = (uint32_t)(2 * i),
                              .error_id = (uint32_t)(2 * i + 1)};
        snprintf(p->request_id, sizeof(p->request_id), "%zu", i);
        struct srv_stream *data = srv_session_stream_new(s, p->data_id);
        struct srv_stream *error = srv_session_stream_new(s, p->error_id);
        if (!data || !error)
            return crisp_error_oom(err);
        data->role = SRV_ROLE_PF_DATA;
        error->role = SRV_ROLE_PF_ERROR;
        error->discard = true;
        uint8_t le[2] = {ports[i] & 0xff, ports[i] >> 8};
        if (srv_session_send(s, data, le, 2, false) < 0 || srv_session_send(s, error, le, 2, false) < 0)
            return crisp_error_oom(err);
    }
    return 0;
}

int srv_portforward_attach(struct srv_session *s, const struct srv_streaming_request *req,
                           const struct srv_streaming_backend *be, const uint16_t *ports, size_t n_ports,
                           bool websocket, crisp_error_t **err)
{
    struct pf *pf = calloc(1, sizeof(*pf));
    if (!pf)
        return crisp_error_oom(err);
    pf->req = req;
    pf->be = be;
    pf->websocket = websocket;
    s->app = &pf_app;
    s->adata = pf;
    return websocket ? ws_pairs(s, pf, ports, n_ports, err) : 0;
}
