/* Exec and attach on a session: wait for the client's streams, start the backend, pump stdio,
 * and report how it ended on the error stream in the form the protocol version expects. */
#define _GNU_SOURCE
#include "streaming/apps.h"

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/json.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define RC_STREAM_WAIT_MS 30000 /* kubelet's stream creation timeout */
#define RC_DRAIN_IDLE_MS 500    /* after the exit, output that stays silent this long is not waited for */
#define RC_RESIZE_MAX 4096

#define RC_ROLES (SRV_ROLE_RESIZE + 1)

struct rc {
    const struct srv_streaming_request *req;
    const struct srv_streaming_backend *be;
    int version;
    bool tty, want[RC_ROLES];
    struct srv_stream *st[RC_ROLES];
    struct srv_streaming_proc proc;
    bool started, exited, stdin_closed;
    int64_t stream_deadline, exit_seen;
    bool have_size;
    uint16_t width, height;
};

static enum srv_role role_of(const char *type)
{
    static const struct {
        const char *name;
        enum srv_role role;
    } types[] = {{"stdin", SRV_ROLE_STDIN},
                 {"stdout", SRV_ROLE_STDOUT},
                 {"stderr", SRV_ROLE_STDERR},
                 {"error", SRV_ROLE_ERROR},
                 {"resize", SRV_ROLE_RESIZE}};
    for (size_t i = 0; type && i < ARRAY_SIZE(types); i++)
        if (strcmp(type, types[i].name) == 0)
            return types[i].role;
    return SRV_ROLE_NONE;
}

static void rc_bind(struct rc *rc, struct srv_stream *st, enum srv_role role)
{
    st->role = role;
    /* Only stdin and resize carry anything from the client. */
    st->discard = !rc->want[role] || (role != SRV_ROLE_STDIN && role != SRV_ROLE_RESIZE);
    if (rc->want[role])
        rc->st[role] = st;
}

static bool rc_opened(struct srv_session *s, struct srv_stream *st, const struct srv_headers *h)
{
    struct rc *rc = s->adata;
    enum srv_role role = role_of(srv_headers_get(h, "streamtype"));
    if (role != SRV_ROLE_NONE && rc->st[role])
        return false; /* a second stream of one type */
    if (rc->started && role != SRV_ROLE_NONE)
        return false;
    rc_bind(rc, st, role);
    return true;
}

static bool streams_ready(const struct rc *rc)
{
    for (int r = SRV_ROLE_STDIN; r < RC_ROLES; r++)
        if (rc->want[r] && !rc->st[r])
            return false;
    return true;
}

/* metav1.Status as kubelet writes it for v4 and later. */
static char *status_json(const char *message, const char *reason, int exit_code)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    yajl_gen_map_open(g);
    json_gen_str(g, "metadata");
    yajl_gen_map_open(g);
    yajl_gen_map_close(g);
    json_gen_kv_str(g, "status", message ? "Failure" : "Success");
    if (message) {
        json_gen_kv_str(g, "message", message);
        json_gen_kv_str(g, "reason", reason);
        json_gen_str(g, "details");
        yajl_gen_map_open(g);
        json_gen_str(g, "causes");
        yajl_gen_array_open(g);
        yajl_gen_map_open(g);
        if (exit_code >= 0) {
            char code[16];
            snprintf(code, sizeof(code), "%d", exit_code);
            json_gen_kv_str(g, "reason", "ExitCode");
            json_gen_kv_str(g, "message", code);
        } else {
            json_gen_kv_str(g, "message", message);
        }
        yajl_gen_map_close(g);
        yajl_gen_array_close(g);
        yajl_gen_map_close(g);
        if (exit_code < 0)
            json_gen_kv_int(g, "code", 500);
    }
    yajl_gen_map_close(g);
    return json_gen_take(g);
}

static char *argv_text(char **cmd)
{
    size_t len = 3;
    for (char **c = cmd; c && *c; c++)
        len += strlen(*c) + 1;
    char *out = malloc(len);
    if (!out)
        return NULL;
    strcpy(out, "[");
    for (char **c = cmd; c && *c; c++) {
        if (c != cmd)
            strcat(out, " ");
        strcat(out, *c);
    }
    strcat(out, "]");
    return out;
}

/* The failure message for an exit code or a backend error; NULL for success. */
static char *failure_message(const struct rc *rc, int exit_code, const crisp_error_t *err)
{
    char *msg = NULL;
    if (err) {
        if (asprintf(&msg, "Internal error occurred: error executing command in container: %s", err->msg) < 0)
            return NULL;
        return msg;
    }
    if (exit_code == 0)
        return NULL;
    _cleanup_free_ char *argv = rc->req->kind == SRV_STREAMING_EXEC ? argv_text(rc->req->cmd) : NULL;
    if (asprintf(&msg, "command terminated with non-zero exit code: error executing command %s, exit code %d",
                 argv ? argv : "[]", exit_code) < 0)
        return NULL;
    return msg;
}

/* Writes how it ended on the error stream: v4+ a JSON status always, before v4 the text of a failure. */
static void write_status(struct srv_session *s, struct rc *rc, int exit_code, const crisp_error_t *err)
{
    struct srv_stream *st = rc->st[SRV_ROLE_ERROR];
    if (!st)
        return;
    _cleanup_free_ char *msg = failure_message(rc, exit_code, err);
    _cleanup_free_ char *text = NULL;
    if (rc->version >= 4)
        text = status_json(msg, err ? "InternalError" : "NonZeroExitCode", err ? -1 : exit_code);
    else if (msg)
        text = strdup(msg);
    if (text)
        srv_session_send(s, st, text, strlen(text), false);
}

static void close_stdin(struct rc *rc)
{
    struct srv_stream *st = rc->st[SRV_ROLE_STDIN];
    if (st)
        st->sink_fd = -1;
    /* A terminal's one fd serves both ways: closing it would end the output too. */
    if (rc->proc.in_fd >= 0 && rc->proc.in_fd != rc->proc.out_fd)
        close(rc->proc.in_fd);
    if (rc->proc.in_fd != rc->proc.out_fd)
        rc->proc.in_fd = -1;
    rc->stdin_closed = true;
}

static void wire_source(struct srv_session *s, struct srv_stream *st, int fd)
{
    if (!st)
        return;
    if (fd >= 0)
        st->source_fd = fd;
    else
        srv_session_send(s, st, NULL, 0, true);
}

static void apply_size(struct rc *rc)
{
    if (!rc->started || !rc->have_size || !rc->tty || !rc->be->resize)
        return;
    crisp_error_t *err = NULL;
    if (rc->be->resize(rc->be->data, &rc->proc, rc->width, rc->height, &err) < 0)
        crisp_error_free(err); /* a lost resize is not worth ending the session for */
    rc->have_size = false;
}

static int rc_start(struct srv_session *s, struct rc *rc)
{
    crisp_error_t *err = NULL;
    rc->proc = (struct srv_streaming_proc){.in_fd = -1, .out_fd = -1, .err_fd = -1, .exit_fd = -1};
    if (rc->be->start(rc->be->data, rc->req, &rc->proc, &err) < 0) {
        write_status(s, rc, -1, err);
        crisp_error_free(err);
        return -1;
    }
    rc->started = true;
    struct srv_stream *in = rc->st[SRV_ROLE_STDIN];
    if (in && rc->proc.in_fd >= 0)
        in->sink_fd = rc->proc.in_fd;
    else if (in)
        in->discard = true;
    if (in && in->sink_done)
        close_stdin(rc);
    wire_source(s, rc->st[SRV_ROLE_STDOUT], rc->proc.out_fd);
    wire_source(s, rc->st[SRV_ROLE_STDERR], rc->proc.err_fd);
    s->extra_fd = rc->proc.exit_fd;
    apply_size(rc);
    return 0;
}

static bool sources_done(const struct rc *rc)
{
    const struct srv_stream *out = rc->st[SRV_ROLE_STDOUT], *err = rc->st[SRV_ROLE_STDERR];
    return (!out || out->source_fd < 0) && (!err || err->source_fd < 0);
}

static bool has_sources(const struct rc *rc)
{
    return rc->proc.out_fd >= 0 || rc->proc.err_fd >= 0;
}

static bool check_exited(struct srv_session *s, struct rc *rc)
{
    if (rc->proc.exit_fd >= 0) {
        struct pollfd p = {.fd = rc->proc.exit_fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return false;
    } else if (has_sources(rc) ? !sources_done(rc) : !rc->stdin_closed && rc->st[SRV_ROLE_STDIN]) {
        return false;
    }
    rc->exited = true;
    rc->exit_seen = clock_monotonic_ms();
    s->extra_fd = -1;
    return true;
}

/* After the exit, output is read until its fds close or fall silent (a child that outlived the
 * process may hold them open). */
static bool drained(struct srv_session *s, struct rc *rc)
{
    if (sources_done(rc))
        return true;
    int64_t last = s->last_output > rc->exit_seen ? s->last_output : rc->exit_seen;
    if (clock_monotonic_ms() >= last + RC_DRAIN_IDLE_MS)
        return true;
    s->deadline = last + RC_DRAIN_IDLE_MS;
    return false;
}

static void rc_finish(struct srv_session *s, struct rc *rc)
{
    int code = 0;
    crisp_error_t *err = NULL;
    if (rc->be->wait(rc->be->data, &rc->proc, &code, &err) < 0)
        write_status(s, rc, -1, err);
    else
        write_status(s, rc, code, NULL);
    crisp_error_free(err);
    for (size_t i = 0; i < s->n_streams; i++)
        srv_session_send(s, s->streams[i], NULL, 0, true);
}

static bool rc_step(struct srv_session *s)
{
    struct rc *rc = s->adata;
    if (!rc->started) {
        if (!streams_ready(rc)) {
            if (clock_monotonic_ms() >= rc->stream_deadline)
                return true; /* as kubelet: the client never opened its streams */
            s->deadline = rc->stream_deadline;
            return false;
        }
        if (rc_start(s, rc) < 0) {
            for (size_t i = 0; i < s->n_streams; i++)
                srv_session_send(s, s->streams[i], NULL, 0, true);
            return true;
        }
    }
    if (!rc->exited && !check_exited(s, rc)) {
        s->deadline = 0;
        return false;
    }
    if (!drained(s, rc))
        return false;
    rc_finish(s, rc);
    return true;
}

static void rc_remote_closed(struct srv_session *s, struct srv_stream *st)
{
    struct rc *rc = s->adata;
    if (st == rc->st[SRV_ROLE_STDIN] && rc->started && !rc->stdin_closed)
        close_stdin(rc);
}

/* Reads "Width" and "Height" (any case, as Go's decoder does) from one JSON object. */
static void parse_size(struct rc *rc, const char *json)
{
    yajl_val v = yajl_tree_parse(json, NULL, 0);
    if (!v || !YAJL_IS_OBJECT(v)) {
        yajl_tree_free(v);
        return;
    }
    long long w = -1, h = -1;
    for (size_t i = 0; i < v->u.object.len; i++) {
        yajl_val x = v->u.object.values[i];
        if (!YAJL_IS_INTEGER(x))
            continue;
        if (strcasecmp(v->u.object.keys[i], "width") == 0)
            w = YAJL_GET_INTEGER(x);
        else if (strcasecmp(v->u.object.keys[i], "height") == 0)
            h = YAJL_GET_INTEGER(x);
    }
    yajl_tree_free(v);
    if (w >= 0 && w <= UINT16_MAX && h >= 0 && h <= UINT16_MAX) {
        rc->width = (uint16_t)w;
        rc->height = (uint16_t)h;
        rc->have_size = true;
    }
}

/* The resize stream is a sequence of JSON objects {"Width":W,"Height":H}. */
static void rc_input(struct srv_session *s, struct srv_stream *st)
{
    struct rc *rc = s->adata;
    if (st->role != SRV_ROLE_RESIZE) /* stdin before the process runs: kept until then */
        return;
    for (;;) {
        const char *p = (const char *)srv_buf_head(&st->in);
        size_t n = srv_buf_size(&st->in);
        const char *open = memchr(p, '{', n);
        const char *close = open ? memchr(open, '}', n - (size_t)(open - p)) : NULL;
        if (!close) {
            if (!open || n > RC_RESIZE_MAX)
                srv_session_consume(s, st, n);
            break;
        }
        _cleanup_free_ char *obj = strndup(open, (size_t)(close - open + 1));
        if (obj)
            parse_size(rc, obj);
        srv_session_consume(s, st, (size_t)(close - p + 1));
    }
    apply_size(rc);
}

static void rc_fini(struct srv_session *s)
{
    struct rc *rc = s->adata;
    if (rc->started)
        rc->be->fini(rc->be->data, &rc->proc);
    free(rc);
    s->adata = NULL;
}

static const struct srv_app rc_app = {
    .opened = rc_opened,
    .input = rc_input,
    .remote_closed = rc_remote_closed,
    .step = rc_step,
    .fini = rc_fini,
};

/* WebSocket: channels 0-4 exist at once; the client learns the session is up from an empty
 * message on the first channel it reads. */
static int ws_channels(struct srv_session *s, struct rc *rc, crisp_error_t **err)
{
    for (int ch = 0; ch <= 4; ch++) {
        struct srv_stream *st = srv_session_stream_new(s, (uint32_t)ch);
        if (!st)
            return crisp_error_oom(err);
        rc_bind(rc, st, (enum srv_role)(SRV_ROLE_STDIN + ch));
    }
    enum srv_role first = rc->want[SRV_ROLE_STDOUT]   ? SRV_ROLE_STDOUT
                          : rc->want[SRV_ROLE_STDERR] ? SRV_ROLE_STDERR
                                                      : SRV_ROLE_ERROR;
    return srv_session_send(s, rc->st[first], "", 0, false);
}

int srv_remotecommand_attach(struct srv_session *s, const struct srv_streaming_request *req,
                             const struct srv_streaming_backend *be, int version, bool websocket,
                             crisp_error_t **err)
{
    struct rc *rc = calloc(1, sizeof(*rc));
    if (!rc)
        return crisp_error_oom(err);
    rc->req = req;
    rc->be = be;
    rc->version = version;
    rc->tty = req->tty;
    rc->want[SRV_ROLE_ERROR] = true;
    rc->want[SRV_ROLE_STDIN] = req->in;
    rc->want[SRV_ROLE_STDOUT] = req->out;
    rc->want[SRV_ROLE_STDERR] = req->err && !req->tty; /* a terminal merges stderr into stdout */
    rc->want[SRV_ROLE_RESIZE] = req->tty && (version >= 3 || websocket);
    rc->stream_deadline = clock_monotonic_ms() + RC_STREAM_WAIT_MS;
    s->app = &rc_app;
    s->adata = rc;
    if (websocket)
        return ws_channels(s, rc, err);
    return 0;
}
