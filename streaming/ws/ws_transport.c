/* A session's streams as channels on one WebSocket: each message starts with its channel number
 * (binary), or with the channel as an ASCII digit followed by base64 (text, the base64.* protocols).
 * v5 adds channel 255, on which the client names a channel it closes. */
#define _GNU_SOURCE
#include "streaming/transport.h"
#include "streaming/ws/ws.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WS_MAX_MESSAGE (256 * 1024)
#define WS_CLOSE_CHANNEL 255

struct ws_state {
    bool base64;
    int version;
    struct srv_buf msg; /* a message being reassembled from fragments */
    bool in_message;
    bool pending; /* msg is complete but its stream had no room */
    bool close_sent;
};

static struct ws_state *state(struct srv_session *s)
{
    return s->tdata;
}

static void send_close(struct srv_session *s, uint16_t code)
{
    if (state(s)->close_sent)
        return;
    uint8_t p[2] = {code >> 8, code & 0xff};
    srv_ws_put_frame(&s->out, SRV_WS_CLOSE, true, p, sizeof(p), NULL);
    state(s)->close_sent = true;
}

/* Hands a complete message to its channel's stream; false when the stream has no room. */
static bool deliver_message(struct srv_session *s, const uint8_t *m, size_t n)
{
    struct ws_state *ws = state(s);
    if (n == 0)
        return true;
    unsigned channel = ws->base64 ? (unsigned)(uint8_t)(m[0] - '0') : m[0];
    const uint8_t *payload = m + 1;
    size_t plen = n - 1;
    _cleanup_free_ uint8_t *decoded = NULL;
    if (ws->base64) {
        decoded = malloc(plen * 3 / 4 + 3);
        ssize_t d = decoded ? srv_base64_decode((const char *)payload, plen, decoded) : -1;
        if (d < 0)
            return true; /* undecodable: dropped, as kubelet's server does */
        payload = decoded;
        plen = (size_t)d;
    }
    if (ws->version >= 5 && channel == WS_CLOSE_CHANNEL) {
        struct srv_stream *closed = plen >= 1 ? srv_session_stream_find(s, payload[0]) : NULL;
        if (closed)
            srv_session_remote_fin(s, closed);
        return true;
    }
    struct srv_stream *st = srv_session_stream_find(s, channel);
    return !st || srv_session_deliver(s, st, payload, plen);
}

/* 1: go on; 0: stalled; -1: the session is over. */
static int on_data_frame(struct srv_session *s, const struct srv_ws_frame *f, crisp_error_t **err)
{
    struct ws_state *ws = state(s);
    if ((f->opcode == SRV_WS_CONT) != ws->in_message)
        return crisp_error_make(err, EPROTO, "WebSocket fragments out of order");
    if (srv_buf_size(&ws->msg) + f->len > WS_MAX_MESSAGE)
        return crisp_error_make(err, EMSGSIZE, "WebSocket message too large");
    if (srv_buf_append(&ws->msg, f->payload, f->len) < 0)
        return crisp_error_oom(err);
    ws->in_message = !f->fin;
    if (!f->fin)
        return 1;
    ws->pending = true;
    return 1;
}

static int on_frame(struct srv_session *s, const struct srv_ws_frame *f, crisp_error_t **err)
{
    switch (f->opcode) {
    case SRV_WS_PING:
        return srv_ws_put_frame(&s->out, SRV_WS_PONG, true, f->payload, f->len, NULL) < 0 ? -1 : 1;
    case SRV_WS_PONG:
        return 1;
    case SRV_WS_CLOSE:
        send_close(s, 1000);
        s->peer_closed = true;
        return 0;
    default:
        return on_data_frame(s, f, err);
    }
}

static bool flush_pending(struct srv_session *s)
{
    struct ws_state *ws = state(s);
    if (!ws->pending)
        return true;
    if (!deliver_message(s, srv_buf_head(&ws->msg), srv_buf_size(&ws->msg)))
        return false;
    ws->pending = false;
    srv_buf_consume(&ws->msg, srv_buf_size(&ws->msg));
    return true;
}

static int ws_feed(struct srv_session *s, crisp_error_t **err)
{
    while (!s->closing && !s->peer_closed) {
        if (!flush_pending(s))
            return 0;
        struct srv_ws_frame f;
        ssize_t n = srv_ws_frame_parse(s->in.data + s->in.off, srv_buf_size(&s->in), WS_MAX_MESSAGE, &f, err);
        if (n < 0) {
            send_close(s, err && *err && (*err)->status == EMSGSIZE ? 1009 : 1002);
            return -1;
        }
        if (n == 0)
            return 0;
        int r = on_frame(s, &f, err);
        srv_buf_consume(&s->in, (size_t)n);
        if (r < 0) {
            send_close(s, 1002);
            return -1;
        }
    }
    return 0;
}

static int ws_send(struct srv_session *s, struct srv_stream *st, const void *data, size_t n, bool fin)
{
    struct ws_state *ws = state(s);
    if (fin && n == 0)
        return 0; /* channels end with the connection; a server announces no close per channel */
    struct srv_buf frame = {0};
    int r;
    if (ws->base64) {
        _cleanup_free_ char *b64 = srv_base64_encode(data, n, false);
        r = b64 ? srv_buf_put_u8(&frame, (uint8_t)('0' + st->id)) : -1;
        if (r == 0)
            r = srv_buf_append(&frame, b64, strlen(b64));
    } else {
        r = srv_buf_put_u8(&frame, (uint8_t)st->id);
        if (r == 0)
            r = srv_buf_append(&frame, data, n);
    }
    if (r == 0)
        r = srv_ws_put_frame(&s->out, ws->base64 ? SRV_WS_TEXT : SRV_WS_BINARY, true, srv_buf_head(&frame),
                             srv_buf_size(&frame), NULL);
    srv_buf_fini(&frame);
    return r;
}

static size_t ws_allowance(struct srv_session *s, struct srv_stream *st)
{
    (void)s;
    (void)st;
    return SIZE_MAX;
}

static void ws_finish(struct srv_session *s)
{
    send_close(s, 1000);
}

static void ws_fini(struct srv_session *s)
{
    srv_buf_fini(&state(s)->msg);
    free(s->tdata);
    s->tdata = NULL;
}

static const struct srv_transport ws_transport = {
    .feed = ws_feed,
    .send = ws_send,
    .allowance = ws_allowance,
    .finish = ws_finish,
    .fini = ws_fini,
};

int srv_ws_transport_attach(struct srv_session *s, bool base64, int version, crisp_error_t **err)
{
    struct ws_state *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return crisp_error_oom(err);
    ws->base64 = base64;
    ws->version = version;
    s->t = &ws_transport;
    s->tdata = ws;
    return 0;
}
