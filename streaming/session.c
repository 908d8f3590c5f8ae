#define _GNU_SOURCE
#include "streaming/session.h"
#include "common/clock.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SESSION_IN_MAX (256 * 1024 + 64) /* one largest frame and its header */
#define SESSION_LINGER_MS 2000           /* how long a closing session waits for the client's EOF */
/* Replies the client provokes (pongs, window updates) stop the reading of its socket past this, so
 * a client that sends but never reads cannot grow the send queue. */
#define SESSION_OUT_MAX (256 * 1024)

void srv_session_init(struct srv_session *s, struct srv_conn *conn, int stop_fd)
{
    *s = (struct srv_session){.conn = conn, .stop_fd = stop_fd, .extra_fd = -1};
}

struct srv_stream *srv_session_stream_new(struct srv_session *s, uint32_t id)
{
    if (s->n_streams >= SRV_SESSION_MAX_STREAMS || srv_session_stream_find(s, id))
        return NULL;
    struct srv_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->id = id;
    st->sink_fd = st->source_fd = -1;
    s->streams[s->n_streams++] = st;
    return st;
}

struct srv_stream *srv_session_stream_find(struct srv_session *s, uint32_t id)
{
    for (size_t i = 0; i < s->n_streams; i++)
        if (s->streams[i]->id == id)
            return s->streams[i];
    return NULL;
}

void srv_session_stream_remove(struct srv_session *s, struct srv_stream *st)
{
    for (size_t i = 0; i < s->n_streams; i++) {
        if (s->streams[i] == st) {
            s->streams[i] = s->streams[--s->n_streams];
            srv_buf_fini(&st->in);
            free(st);
            return;
        }
    }
}

void srv_session_consume(struct srv_session *s, struct srv_stream *st, size_t n)
{
    srv_buf_consume(&st->in, n);
    if (s->t->consumed)
        s->t->consumed(s, st, n);
}

bool srv_session_deliver(struct srv_session *s, struct srv_stream *st, const void *data, size_t n)
{
    if (n == 0 || st->remote_fin)
        return true;
    if (st->discard) {
        if (s->t->consumed)
            s->t->consumed(s, st, n);
        return true;
    }
    size_t have = srv_buf_size(&st->in);
    if (have > 0 && have + n > SRV_STREAM_BUFFER) {
        s->stalled = true;
        return false;
    }
    if (srv_buf_append(&st->in, data, n) < 0) {
        s->peer_closed = true; /* out of memory: give up on this client */
        return true;
    }
    if (st->sink_fd < 0 && s->app->input)
        s->app->input(s, st);
    return true;
}

void srv_session_remote_fin(struct srv_session *s, struct srv_stream *st)
{
    (void)s;
    st->remote_fin = true;
}

void srv_session_stream_reset(struct srv_session *s, struct srv_stream *st)
{
    srv_buf_consume(&st->in, srv_buf_size(&st->in));
    st->remote_fin = st->local_fin = true;
    st->discard = true;
    if (st->source_fd >= 0)
        st->source_eof = true;
    st->source_fd = -1;
    (void)s;
}

int srv_session_send(struct srv_session *s, struct srv_stream *st, const void *data, size_t n, bool fin)
{
    if (st->local_fin)
        return 0;
    if (fin)
        st->local_fin = true;
    if (s->t->send(s, st, data, n, fin) < 0) {
        s->peer_closed = true;
        return -1;
    }
    return 0;
}

/* Writes what st holds to its sink; a sink that fails (the process closed its stdin) swallows
 * the rest. */
static void pump_sink(struct srv_session *s, struct srv_stream *st)
{
    while (srv_buf_size(&st->in) > 0 && st->sink_fd >= 0) {
        ssize_t w = write(st->sink_fd, srv_buf_head(&st->in), srv_buf_size(&st->in));
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0) {
            st->discard = true;
            srv_session_consume(s, st, srv_buf_size(&st->in));
            break;
        }
        srv_session_consume(s, st, (size_t)w);
    }
    s->stalled = false;
}

static bool source_wanted(struct srv_session *s, struct srv_stream *st)
{
    return st->source_fd >= 0 && !st->local_fin && srv_buf_size(&s->out) < SRV_SESSION_OUT_HIGH &&
           s->t->allowance(s, st) > 0;
}

static void pump_source(struct srv_session *s, struct srv_stream *st)
{
    uint8_t buf[SRV_SESSION_CHUNK];
    size_t want = s->t->allowance(s, st);
    if (want > sizeof(buf))
        want = sizeof(buf);
    if (want == 0)
        return; /* another stream used up the session's window since poll: a 0-byte read is no EOF */
    ssize_t r = read(st->source_fd, buf, want);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r > 0) {
        s->last_output = clock_monotonic_ms();
        srv_session_send(s, st, buf, (size_t)r, false);
        return;
    }
    /* EOF, or EIO from a terminal whose other side is gone: the stream ends here. */
    st->source_fd = -1;
    st->source_eof = true;
    srv_session_send(s, st, NULL, 0, true);
}

/* Tells the app about streams whose client side has ended and whose data is all written. */
static void settle_streams(struct srv_session *s)
{
    for (size_t i = 0; i < s->n_streams; i++) {
        struct srv_stream *st = s->streams[i];
        if (st->remote_fin && !st->sink_done && (srv_buf_size(&st->in) == 0 || st->discard)) {
            st->sink_done = true;
            if (s->app->remote_closed)
                s->app->remote_closed(s, st);
        }
    }
}

static void read_socket(struct srv_session *s)
{
    uint8_t buf[16384];
    for (int i = 0; i < 4 && srv_buf_size(&s->in) < SESSION_IN_MAX; i++) {
        ssize_t r = srv_conn_read(s->conn, buf, sizeof(buf));
        if (r < 0 && errno == EAGAIN)
            return;
        if (r <= 0) {
            s->peer_closed = true;
            return;
        }
        if (!s->closing && srv_buf_append(&s->in, buf, (size_t)r) < 0) {
            s->peer_closed = true;
            return;
        }
    }
}

static void write_socket(struct srv_session *s)
{
    while (srv_buf_size(&s->out) > 0) {
        ssize_t w = srv_conn_write(s->conn, srv_buf_head(&s->out), srv_buf_size(&s->out));
        if (w < 0 && errno == EAGAIN)
            return;
        if (w <= 0) {
            s->peer_closed = true;
            return;
        }
        srv_buf_consume(&s->out, (size_t)w);
    }
}

struct poll_set {
    struct pollfd fds[3 + 2 * SRV_SESSION_MAX_STREAMS];
    struct srv_stream *stream[3 + 2 * SRV_SESSION_MAX_STREAMS];
    bool is_sink[3 + 2 * SRV_SESSION_MAX_STREAMS];
    nfds_t n;
};

static void poll_add(struct poll_set *p, int fd, short events, struct srv_stream *st, bool is_sink)
{
    p->fds[p->n] = (struct pollfd){.fd = fd, .events = events};
    p->stream[p->n] = st;
    p->is_sink[p->n++] = is_sink;
}

static void build_poll_set(struct srv_session *s, struct poll_set *p)
{
    p->n = 0;
    short sock = srv_buf_size(&s->out) > 0 ? POLLOUT : 0;
    if (!s->stalled && srv_buf_size(&s->in) < SESSION_IN_MAX && srv_buf_size(&s->out) < SESSION_OUT_MAX &&
        !s->peer_closed)
        sock |= POLLIN;
    poll_add(p, s->conn->fd, sock, NULL, false);
    poll_add(p, s->stop_fd, POLLIN, NULL, false);
    poll_add(p, s->closing ? -1 : s->extra_fd, POLLIN, NULL, false);
    if (s->closing)
        return;
    for (size_t i = 0; i < s->n_streams; i++) {
        struct srv_stream *st = s->streams[i];
        if (st->sink_fd >= 0 && srv_buf_size(&st->in) > 0)
            poll_add(p, st->sink_fd, POLLOUT, st, true);
        if (source_wanted(s, st))
            poll_add(p, st->source_fd, POLLIN, st, false);
    }
}

/* Like kubelet's stream idle timeout: a session where nothing moved for that long is ended (an
 * exec with it). */
static int64_t idle_deadline(const struct srv_session *s)
{
    return s->idle_timeout_ms > 0 ? s->last_activity + s->idle_timeout_ms : 0;
}

static int poll_timeout(struct srv_session *s, int64_t now, int64_t linger_until)
{
    int64_t until = s->closing ? linger_until : s->deadline;
    int64_t idle = idle_deadline(s);
    if (idle > 0 && (until <= 0 || idle < until))
        until = idle;
    if (srv_conn_pending(s->conn))
        return 0;
    if (until <= 0)
        return -1;
    return until <= now ? 0 : (int)(until - now);
}

/* Moves the bytes poll found ready. */
static void do_io(struct srv_session *s, struct poll_set *p)
{
    if (p->fds[0].revents & (POLLIN | POLLHUP | POLLERR) || srv_conn_pending(s->conn))
        read_socket(s);
    if (p->fds[0].revents & POLLOUT)
        write_socket(s);
    for (nfds_t i = 3; i < p->n; i++) {
        if (!p->fds[i].revents)
            continue;
        if (p->is_sink[i])
            pump_sink(s, p->stream[i]);
        else if (p->stream[i]->source_fd >= 0)
            pump_source(s, p->stream[i]);
    }
}

/* The app's turn: frames in, progress, flow out. False once the loop must end at once. */
static bool advance(struct srv_session *s, int64_t *linger_until)
{
    crisp_error_t *err = NULL;
    if (!s->closing && s->t->feed(s, &err) < 0) {
        crisp_error_free(err);
        return false;
    }
    settle_streams(s);
    if (!s->closing && s->app->step(s)) {
        s->closing = true;
        s->t->finish(s);
        *linger_until = clock_monotonic_ms() + SESSION_LINGER_MS;
    }
    write_socket(s);
    return true;
}

void srv_session_run(struct srv_session *s)
{
    int64_t linger_until = 0;
    bool shut = false;
    s->last_output = s->last_activity = clock_monotonic_ms();
    for (;;) {
        if (!advance(s, &linger_until))
            break;
        if (s->closing && srv_buf_size(&s->out) == 0 && !shut) {
            srv_conn_shutdown_write(
                s->conn); /* then wait for the client's EOF, so nothing unread resets it */
            shut = true;
        }
        if (s->peer_closed || (s->closing && clock_monotonic_ms() >= linger_until))
            break;
        struct poll_set p;
        build_poll_set(s, &p);
        int r = poll(p.fds, p.n, poll_timeout(s, clock_monotonic_ms(), linger_until));
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && (p.fds[1].revents & POLLIN))
            break;
        if (r > 0 || srv_conn_pending(s->conn)) {
            s->last_activity = clock_monotonic_ms();
            do_io(s, &p);
        } else if (idle_deadline(s) > 0 && clock_monotonic_ms() >= idle_deadline(s)) {
            break;
        }
    }
    srv_session_fini(s);
}

void srv_session_fini(struct srv_session *s)
{
    if (s->app && s->app->fini)
        s->app->fini(s);
    if (s->t && s->t->fini)
        s->t->fini(s);
    while (s->n_streams > 0)
        srv_session_stream_remove(s, s->streams[0]);
    srv_buf_fini(&s->in);
    srv_buf_fini(&s->out);
}
