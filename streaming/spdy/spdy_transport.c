/* A session's streams as SPDY/3.1 streams. Flow control: we credit every byte we consume with
 * WINDOW_UPDATEs, and hold to the client's windows once it shows it keeps them (a WINDOW_UPDATE or
 * an initial-window SETTING). moby/spdystream, which kubectl, crictl and kubelet use, sends neither
 * and relies on TCP alone; honouring a window it never reopens would hang every output past 64 KiB. */
#define _GNU_SOURCE
#include "streaming/spdy/spdy.h"
#include "streaming/transport.h"

#include <errno.h>
#include <stdlib.h>

#define SPDY_MAX_PAYLOAD (256 * 1024)

struct spdy_state {
    struct srv_spdy_zlib z;
    uint32_t last_client_id;
    int64_t session_window; /* what we may still send on the whole session */
    int64_t initial_window;
    bool flow_control; /* the client keeps windows */
};

static struct spdy_state *state(struct srv_session *s)
{
    return s->tdata;
}

static int on_syn_stream(struct srv_session *s, const struct srv_spdy_frame *f, crisp_error_t **err)
{
    struct spdy_state *sp = state(s);
    if (f->len < 10)
        return crisp_error_make(err, EPROTO, "short SYN_STREAM");
    uint32_t id = srv_be32(f->payload) & 0x7fffffff;
    struct srv_headers h = {0};
    int r = srv_spdy_headers_decode(&sp->z, f->payload + 10, f->len - 10, &h, err);
    if (r < 0) {
        srv_headers_fini(&h);
        return -1;
    }
    if (id % 2 == 0 || id <= sp->last_client_id) {
        srv_headers_fini(&h);
        return crisp_error_make(err, EPROTO, "SYN_STREAM with stream id %u out of order", id);
    }
    sp->last_client_id = id;
    struct srv_stream *st = srv_session_stream_new(s, id);
    if (st) {
        st->send_window = sp->initial_window;
        if (f->flags & SRV_SPDY_FLAG_UNIDIRECTIONAL)
            st->local_fin = true;
    }
    if (!st || !s->app->opened(s, st, &h)) {
        srv_headers_fini(&h);
        if (st)
            srv_session_stream_remove(s, st);
        return srv_spdy_put_rst(&s->out, id, SRV_SPDY_RST_REFUSED_STREAM) < 0 ? -1 : 0;
    }
    srv_headers_fini(&h);
    if (f->flags & SRV_SPDY_FLAG_FIN)
        srv_session_remote_fin(s, st);
    struct srv_headers none = {0};
    return srv_spdy_put_syn_reply(&s->out, &sp->z, id, 0, &none, err);
}

/* Other header-carrying frames are ignored, but their blocks must still pass through the shared
 * inflate context. */
static int skip_headers(struct srv_session *s, const struct srv_spdy_frame *f, crisp_error_t **err)
{
    if (f->len < 4)
        return crisp_error_make(err, EPROTO, "short header frame");
    struct srv_headers h = {0};
    int r = srv_spdy_headers_decode(&state(s)->z, f->payload + 4, f->len - 4, &h, err);
    srv_headers_fini(&h);
    return r;
}

static void on_settings(struct srv_session *s, const struct srv_spdy_frame *f)
{
    struct spdy_state *sp = state(s);
    if (f->len < 4)
        return;
    uint32_t n = srv_be32(f->payload);
    for (uint32_t i = 0; i < n && 4 + 8 * (size_t)(i + 1) <= f->len; i++) {
        const uint8_t *e = f->payload + 4 + 8 * i;
        if ((srv_be32(e) & 0xffffff) != SRV_SPDY_SETTINGS_INITIAL_WINDOW)
            continue;
        int64_t value = srv_be32(e + 4) & 0x7fffffff, delta = value - sp->initial_window;
        sp->initial_window = value;
        sp->flow_control = true;
        for (size_t k = 0; k < s->n_streams; k++)
            s->streams[k]->send_window += delta;
    }
}

static void on_window_update(struct srv_session *s, const struct srv_spdy_frame *f)
{
    if (f->len < 8)
        return;
    uint32_t id = srv_be32(f->payload) & 0x7fffffff, delta = srv_be32(f->payload + 4) & 0x7fffffff;
    state(s)->flow_control = true;
    if (id == 0) {
        state(s)->session_window += delta;
        return;
    }
    struct srv_stream *st = srv_session_stream_find(s, id);
    if (st)
        st->send_window += delta;
}

static void on_rst(struct srv_session *s, const struct srv_spdy_frame *f)
{
    struct srv_stream *st = f->len >= 8 ? srv_session_stream_find(s, srv_be32(f->payload) & 0x7fffffff)
                                        : NULL;
    if (st)
        srv_session_stream_reset(s, st);
}

/* 1: handled; 0: stalled (the frame stays queued); -1: fatal. */
static int on_data(struct srv_session *s, const struct srv_spdy_frame *f)
{
    struct srv_stream *st = srv_session_stream_find(s, f->stream_id);
    if (!st || st->remote_fin) {
        /* Still counts against the session window the client keeps. */
        if (f->len > 0)
            srv_spdy_put_window_update(&s->out, 0, f->len);
        if (!st && f->stream_id > state(s)->last_client_id)
            return srv_spdy_put_rst(&s->out, f->stream_id, SRV_SPDY_RST_INVALID_STREAM) < 0 ? -1 : 1;
        return 1;
    }
    if (!srv_session_deliver(s, st, f->payload, f->len))
        return 0;
    if (f->flags & SRV_SPDY_FLAG_FIN)
        srv_session_remote_fin(s, st);
    return 1;
}

static int on_control(struct srv_session *s, const struct srv_spdy_frame *f, crisp_error_t **err)
{
    switch (f->type) {
    case SRV_SPDY_SYN_STREAM:
        return on_syn_stream(s, f, err);
    case SRV_SPDY_SYN_REPLY:
    case SRV_SPDY_HEADERS:
        return skip_headers(s, f, err);
    case SRV_SPDY_RST_STREAM:
        on_rst(s, f);
        return 0;
    case SRV_SPDY_SETTINGS:
        on_settings(s, f);
        return 0;
    case SRV_SPDY_PING:
        /* Odd ids are the client's pings; even ones would answer ours, and we send none. */
        if (f->len == 4 && (srv_be32(f->payload) & 1))
            return srv_spdy_put_ping(&s->out, srv_be32(f->payload));
        return 0;
    case SRV_SPDY_WINDOW_UPDATE:
        on_window_update(s, f);
        return 0;
    default: /* GOAWAY: the client opens no more streams; the ones it has go on. Unknown: ignored. */
        return 0;
    }
}

static int spdy_feed(struct srv_session *s, crisp_error_t **err)
{
    while (!s->closing) {
        struct srv_spdy_frame f;
        ssize_t n = srv_spdy_frame_parse(srv_buf_head(&s->in), srv_buf_size(&s->in), SPDY_MAX_PAYLOAD, &f,
                                         err);
        if (n <= 0)
            return (int)n;
        if (f.control) {
            if (on_control(s, &f, err) < 0)
                return crisp_error_make(err, ENOMEM, "SPDY session failed");
        } else {
            int r = on_data(s, &f);
            if (r == 0)
                return 0;
            if (r < 0)
                return crisp_error_oom(err);
        }
        srv_buf_consume(&s->in, (size_t)n);
    }
    return 0;
}

static int spdy_send(struct srv_session *s, struct srv_stream *st, const void *data, size_t n, bool fin)
{
    st->send_window -= (int64_t)n;
    state(s)->session_window -= (int64_t)n;
    return srv_spdy_put_data(&s->out, st->id, fin ? SRV_SPDY_FLAG_FIN : 0, data, n);
}

static void spdy_consumed(struct srv_session *s, struct srv_stream *st, size_t n)
{
    if (n == 0)
        return;
    srv_spdy_put_window_update(&s->out, st->id, (uint32_t)n);
    srv_spdy_put_window_update(&s->out, 0, (uint32_t)n);
}

static size_t spdy_allowance(struct srv_session *s, struct srv_stream *st)
{
    struct spdy_state *sp = state(s);
    if (!sp->flow_control)
        return SIZE_MAX;
    int64_t w = st->send_window < sp->session_window ? st->send_window : sp->session_window;
    return w > 0 ? (size_t)w : 0;
}

static void spdy_reset(struct srv_session *s, struct srv_stream *st)
{
    srv_spdy_put_rst(&s->out, st->id, SRV_SPDY_RST_CANCEL);
    st->local_fin = true;
}

static void spdy_finish(struct srv_session *s)
{
    srv_spdy_put_goaway(&s->out, state(s)->last_client_id, 0);
}

static void spdy_fini(struct srv_session *s)
{
    struct spdy_state *sp = state(s);
    srv_spdy_zlib_fini(&sp->z);
    free(sp);
    s->tdata = NULL;
}

static const struct srv_transport spdy_transport = {
    .feed = spdy_feed,
    .send = spdy_send,
    .consumed = spdy_consumed,
    .allowance = spdy_allowance,
    .reset = spdy_reset,
    .finish = spdy_finish,
    .fini = spdy_fini,
};

int srv_spdy_transport_attach(struct srv_session *s, crisp_error_t **err)
{
    struct spdy_state *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return crisp_error_oom(err);
    if (srv_spdy_zlib_init(&sp->z, err) < 0) {
        free(sp);
        return -1;
    }
    sp->session_window = sp->initial_window = SRV_SPDY_INITIAL_WINDOW;
    s->t = &spdy_transport;
    s->tdata = sp;
    return 0;
}
