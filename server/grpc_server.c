#define _GNU_SOURCE
#include "server/grpc_server.h"

#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/sanitizer.h"
#include "server/decode.h"
#include "server/dispatch.h"
#include "server/metrics_series.h"
#include "server/status.h"
#include "server/test_hooks.h"

#include <errno.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_MIN_WORKERS 4
#define SRV_MAX_WORKERS 512
#define SRV_IDLE_EXIT_SECONDS 30
/* Requests kept posted to the server at all times: how many calls can be accepted at once. */
#define SRV_POSTED_REQUESTS 8
/* How often the watcher looks for calls whose client left or whose deadline passed. */
#define SRV_WATCH_INTERVAL_MS 200
/* After shutdown_timeout, how long cancelled calls get to unwind (an exec's kill grace fits in it). */
#define SRV_CANCEL_GRACE_MS 3000

struct srv_grpc {
    struct srv_daemon *daemon;
    grpc_server *server;
    grpc_completion_queue *cq;
    /* Guards threads, idle, stopping and shutdown_notified; cond announces their changes. A leaf in
     * the lock order: nothing is locked under it and no call is handled while it is held, so the
     * handlers' locks (runtime/runtime_internal.h) never meet it. A struct srv_call needs no lock:
     * one worker at a time owns it, from the completion queue's tag to call_free. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int threads, idle;
    bool stopping, shutdown_notified;
    char shutdown_tag;
    _Atomic uint64_t next_id;
    /* Guards calls (the calls being handled), hard_stop and watcher_stop. A leaf like lock, and never
     * held with it. The watcher holds it while it looks at each call, so a call that has left the
     * list is its worker's alone again. */
    pthread_mutex_t calls_lock;
    pthread_cond_t calls_cond;
    struct srv_call *calls;
    bool hard_stop, watcher_stop, watcher_started;
    pthread_t watcher;
};

struct srv_call {
    struct srv_grpc *srv;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array metadata;
    grpc_completion_queue *cq; /* bound to this call alone: its batches are plucked synchronously */
    struct arena arena;
    bool initial_metadata_sent;
    bool close_pending;
    atomic_bool closed; /* the close op completed: set by whichever thread plucked it */
    int cancelled;
    char close_tag, batch_tag;
    /* Fired when the client goes away, the deadline passes or shutdown runs out of time. */
    struct crisp_cancel cancel;
    gpr_timespec deadline; /* monotonic */
    struct srv_call *watch_prev, *watch_next;
};

/* Workers are detached and the last one may still be unlocking when stop returns; the pool state
 * therefore lives for the whole process. */
static struct srv_grpc the_server;

static void call_free(struct srv_call *c)
{
    if (!c)
        return;
    if (c->call)
        grpc_call_unref(c->call);
    crisp_cancel_fini(&c->cancel);
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->metadata);
    if (c->cq) {
        grpc_completion_queue_shutdown(c->cq);
        grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        grpc_completion_queue_destroy(c->cq);
    }
    arena_fini(&c->arena);
    free(c);
}

static void post_request(struct srv_grpc *s)
{
    struct srv_call *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = s;
    c->cancel.fd = -1;
    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->metadata);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    c->cq = cq;
    if (!cq) {
        call_free(c);
        return;
    }
    /* c comes back as a tag to whichever worker gRPC wakes; only a refusal leaves it with this thread. */
    crisp_handoff_release(c);
    if (grpc_server_request_call(s->server, &c->call, &c->details, &c->metadata, cq, s->cq, c) !=
        GRPC_CALL_OK)
        call_free(c);
}

/* Runs a batch on the call and waits for it; returns false when the batch did not succeed. */
static bool run_batch(struct srv_call *c, const grpc_op *ops, size_t n)
{
    if (grpc_call_start_batch(c->call, ops, n, &c->batch_tag, NULL) != GRPC_CALL_OK)
        return false;
    grpc_event ev = grpc_completion_queue_pluck(c->cq, &c->batch_tag, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg, crisp_error_t **err)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    if (size > SRV_MAX_MESSAGE_SIZE) {
        crisp_error_make(err, EMSGSIZE, "response of %zu bytes exceeds the %d byte limit", size,
                         SRV_MAX_MESSAGE_SIZE);
        return NULL;
    }
    grpc_slice slice = grpc_slice_malloc(size);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

/* Sends the final status, with the response message when there is one, and waits for the close. */
#define SRV_STATUS_DETAILS_MAX 1024

static void finish_call(struct srv_call *c, grpc_byte_buffer *bb, grpc_status_code code, const char *msg)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!c->initial_metadata_sent)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (bb) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
    }
    /* Messages may echo request strings: a bound keeps them under the client's metadata limit (8 KiB
     * in grpc-go), so the client sees the status rather than a transport error. */
    grpc_slice details = grpc_slice_from_copied_buffer(msg ? msg : "",
                                                       msg ? strnlen(msg, SRV_STATUS_DETAILS_MAX) : 0);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n++].data.send_status_from_server.status_details = &details;
    if (!c->close_pending) {
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    }
    run_batch(c, ops, n);
    if (c->close_pending && !atomic_load(&c->closed))
        grpc_completion_queue_pluck(c->cq, &c->close_tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_slice_unref(details);
}

static int receive_request(struct srv_call *c, const struct srv_method *m, ProtobufCMessage **ret_req,
                           crisp_error_t **err)
{
    grpc_byte_buffer *payload = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &payload;
    if (!run_batch(c, &op, 1))
        return crisp_error_make(err, ECANCELED, "call ended before its request arrived");
    if (!payload)
        return crisp_error_make(err, EINVAL, "no %s request message was sent", m->input->name);
    grpc_byte_buffer_reader reader;
    grpc_slice slice = grpc_empty_slice();
    if (grpc_byte_buffer_reader_init(&reader, payload)) {
        slice = grpc_byte_buffer_reader_readall(&reader);
        grpc_byte_buffer_reader_destroy(&reader);
    }
    grpc_byte_buffer_destroy(payload);
    int r = srv_decode_request(m->input, &c->arena, GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice),
                               ret_req, err);
    grpc_slice_unref(slice);
    return r;
}

static int invoke(struct srv_call *c, struct srv_ctx *ctx, const struct srv_method *m,
                  ProtobufCMessage **ret_resp, crisp_error_t **err)
{
    if (!m)
        return crisp_error_make(err, ENOSYS, "unknown method %s", ctx->method);
    if (!m->unary && !m->stream)
        return crisp_error_make(err, ENOSYS, "%s is not implemented by crisp yet", ctx->method);
    ProtobufCMessage *req = NULL;
    if (receive_request(c, m, &req, err) < 0)
        return -1;
    if (srv_test_hooks_apply && c->srv->daemon->test_hooks)
        srv_test_hooks_apply(ctx);
    if (m->unary) {
        if (m->unary(ctx, req, ret_resp, err) < 0)
            return -1;
        if (!*ret_resp)
            return crisp_error_make(err, EIO, "%s produced no response", ctx->method);
        return 0;
    }
    return m->stream(ctx, req, err);
}

static void log_failure(const struct srv_ctx *ctx, grpc_status_code code, const char *msg)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRIu64, ctx->id);
    const char *kv[] = {"id", id, "method", ctx->method, "code", srv_status_name(code), "error", msg, NULL};
    log_write(LOG_LEVEL_ERROR, "RPC failed", kv);
}

/* Every call watches for its client leaving with a close op started up front. */
static void call_watch_close(struct srv_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (grpc_call_start_batch(c->call, &op, 1, &c->close_tag, NULL) == GRPC_CALL_OK)
        c->close_pending = true;
}

/* Does not wait. While the call is handled the close op completes only when the client cancelled
 * or its deadline passed; the worker and the watcher may both look, whichever sees it notes it. */
static void call_poll_close(struct srv_call *c)
{
    if (!c->close_pending || atomic_load(&c->closed))
        return;
    grpc_event ev = grpc_completion_queue_pluck(c->cq, &c->close_tag, gpr_inf_past(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE)
        return;
    atomic_store(&c->closed, true);
    crisp_cancel_fire(&c->cancel, ECANCELED);
}

/* Called with calls_lock held. The deadline is checked first, so that it is the reason given. */
static void call_watch_tick(struct srv_grpc *s, struct srv_call *c, gpr_timespec now)
{
    if (gpr_time_cmp(now, c->deadline) >= 0)
        crisp_cancel_fire(&c->cancel, ETIMEDOUT);
    call_poll_close(c);
    if (s->hard_stop)
        crisp_cancel_fire(&c->cancel, CRISP_E_UNAVAILABLE);
}

static void *watcher_main(void *arg)
{
    struct srv_grpc *s = arg;
    pthread_mutex_lock(&s->calls_lock);
    while (!s->watcher_stop) {
        /* A fixed tick, never a signal per call: waking the watcher for every call cost a context
         * switch on each round trip, and only calls that last a tick need it. */
        gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
        for (struct srv_call *c = s->calls; c; c = c->watch_next)
            call_watch_tick(s, c, now);
        struct timespec until = clock_timespec_after_ms(CLOCK_REALTIME, SRV_WATCH_INTERVAL_MS);
        pthread_cond_timedwait(&s->calls_cond, &s->calls_lock, &until);
    }
    pthread_mutex_unlock(&s->calls_lock);
    return NULL;
}

/* Puts the call under the watcher's eye; without an eventfd (fds exhausted) it is still cancelled,
 * only not seen by waits in poll. */
static void call_watch_start(struct srv_call *c)
{
    struct srv_grpc *s = c->srv;
    crisp_cancel_init(&c->cancel, true, NULL);
    c->deadline = gpr_convert_clock_type(c->details.deadline, GPR_CLOCK_MONOTONIC);
    call_watch_close(c);
    pthread_mutex_lock(&s->calls_lock);
    c->watch_prev = NULL;
    c->watch_next = s->calls;
    if (s->calls)
        s->calls->watch_prev = c;
    s->calls = c;
    if (s->hard_stop)
        crisp_cancel_fire(&c->cancel, CRISP_E_UNAVAILABLE);
    pthread_mutex_unlock(&s->calls_lock);
}

/* Afterwards the watcher no longer looks at c: its close op is the worker's alone again. */
static void call_watch_stop(struct srv_call *c)
{
    struct srv_grpc *s = c->srv;
    pthread_mutex_lock(&s->calls_lock);
    if (c->watch_prev)
        c->watch_prev->watch_next = c->watch_next;
    else
        s->calls = c->watch_next;
    if (c->watch_next)
        c->watch_next->watch_prev = c->watch_prev;
    c->watch_prev = c->watch_next = NULL;
    pthread_mutex_unlock(&s->calls_lock);
}

static void handle_call(struct srv_call *c)
{
    const char *path = (const char *)GRPC_SLICE_START_PTR(c->details.method);
    size_t path_len = GRPC_SLICE_LENGTH(c->details.method);
    struct srv_ctx ctx = {
        .daemon = c->srv->daemon,
        .call = c,
        .arena = &c->arena,
        .cancel = &c->cancel,
        .method = arena_strndup(&c->arena, path, path_len),
        .id = atomic_fetch_add(&c->srv->next_id, 1) + 1,
    };
    if (!ctx.method)
        ctx.method = "?";
    const struct srv_method *m = srv_dispatch_find(path, path_len);
    /* The dispatch table's path, not the client's: clients cannot mint label values. */
    const char *metric_path = m ? m->path : NULL;
    bool metric_stream = m && m->stream;
    int64_t started = clock_monotonic_ns();
    srv_metrics_grpc_started(metric_path, metric_stream);
    ProtobufCMessage *resp = NULL;
    grpc_byte_buffer *bb = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    call_watch_start(c);
    crisp_cancel_set_current(&c->cancel);
    int r = invoke(c, &ctx, m, &resp, &err);
    crisp_cancel_set_current(NULL);
    call_watch_stop(c);
    if (r < 0 || (resp && !(bb = pack_message(resp, &err)))) {
        const char *msg = err ? err->msg : "out of memory";
        grpc_status_code code = err ? srv_status_from_errno(err->status) : GRPC_STATUS_RESOURCE_EXHAUSTED;
        log_failure(&ctx, code, msg);
        srv_metrics_grpc_observe(metric_path, metric_stream, code, clock_monotonic_ns() - started);
        finish_call(c, NULL, code, msg);
        return;
    }
    srv_metrics_grpc_observe(metric_path, metric_stream, GRPC_STATUS_OK, clock_monotonic_ns() - started);
    finish_call(c, bb, GRPC_STATUS_OK, NULL);
    if (bb)
        grpc_byte_buffer_destroy(bb);
    if (log_enabled(LOG_LEVEL_DEBUG))
        log_debug("RPC done id=%" PRIu64 " method=%s", ctx.id, ctx.method);
}

const char *srv_call_metadata(struct srv_ctx *ctx, const char *key)
{
    const grpc_metadata_array *md = &ctx->call->metadata;
    size_t key_len = strlen(key);
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == key_len && memcmp(GRPC_SLICE_START_PTR(*k), key, key_len) == 0)
            return arena_strndup(ctx->arena, (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value),
                                 GRPC_SLICE_LENGTH(md->metadata[i].value));
    }
    return NULL;
}

bool srv_stream_closed(struct srv_ctx *ctx)
{
    struct srv_call *c = ctx->call;
    call_poll_close(c);
    return atomic_load(&c->closed) || crisp_cancel_fired(&c->cancel);
}

int srv_stream_send(struct srv_ctx *ctx, const ProtobufCMessage *msg, crisp_error_t **err)
{
    struct srv_call *c = ctx->call;
    grpc_byte_buffer *bb = pack_message(msg, err);
    if (!bb)
        return -1;
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    if (!c->initial_metadata_sent)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = bb;
    bool ok = run_batch(c, ops, n);
    grpc_byte_buffer_destroy(bb);
    c->initial_metadata_sent = true;
    if (!ok)
        return crisp_error_make(err, ECANCELED, "client went away");
    return 0;
}

static int spawn_worker(struct srv_grpc *s);

/* Marks this worker busy; starts another when none would be left waiting for calls. */
static void worker_take_call(struct srv_grpc *s)
{
    pthread_mutex_lock(&s->lock);
    s->idle--;
    bool stopping = s->stopping;
    bool spawn = s->idle == 0 && s->threads < SRV_MAX_WORKERS && !stopping;
    pthread_mutex_unlock(&s->lock);
    if (!stopping)
        post_request(s);
    if (spawn)
        spawn_worker(s);
}

/* The last worker to retire after a burst gives the allocator's free memory back: glibc keeps what
 * the burst's threads freed in its arenas (one per thread, up to 8 per core), which kept crispd's idle
 * RSS well above its baseline after load although nothing was in use. */
static bool worker_should_exit_idle(struct srv_grpc *s)
{
    pthread_mutex_lock(&s->lock);
    bool exit_now = s->threads > SRV_MIN_WORKERS && s->idle > 1;
    if (exit_now) {
        s->threads--;
        s->idle--;
        pthread_cond_broadcast(&s->cond);
    }
    bool back_to_idle = exit_now && s->threads == SRV_MIN_WORKERS;
    pthread_mutex_unlock(&s->lock);
    if (back_to_idle)
        malloc_trim(0);
    return exit_now;
}

static void *worker_main(void *arg)
{
    struct srv_grpc *s = arg;
    for (;;) {
        gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                             gpr_time_from_seconds(SRV_IDLE_EXIT_SECONDS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(s->cq, deadline, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            if (worker_should_exit_idle(s))
                return NULL;
            continue;
        }
        if (ev.tag == &s->shutdown_tag) {
            pthread_mutex_lock(&s->lock);
            s->shutdown_notified = true;
            pthread_cond_broadcast(&s->cond);
            pthread_mutex_unlock(&s->lock);
            continue;
        }
        struct srv_call *c = ev.tag;
        crisp_handoff_acquire(c);
        if (!ev.success) { /* the server is shutting down: this posted request will never be a call */
            call_free(c);
            continue;
        }
        worker_take_call(s);
        handle_call(c);
        call_free(c);
        pthread_mutex_lock(&s->lock);
        s->idle++;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_lock(&s->lock);
    s->threads--;
    s->idle--;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static int spawn_worker(struct srv_grpc *s)
{
    pthread_mutex_lock(&s->lock);
    s->threads++;
    s->idle++;
    pthread_mutex_unlock(&s->lock);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int r = pthread_create(&t, &attr, worker_main, s);
    pthread_attr_destroy(&attr);
    if (r == 0)
        return 0;
    pthread_mutex_lock(&s->lock);
    s->threads--;
    s->idle--;
    pthread_mutex_unlock(&s->lock);
    errno = r;
    return -1;
}

static grpc_server *server_create(void)
{
    grpc_arg args[2];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = SRV_MAX_MESSAGE_SIZE;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = SRV_MAX_MESSAGE_SIZE;
    grpc_channel_args channel_args = {.num_args = 2, .args = args};
    return grpc_server_create(&channel_args, NULL);
}

static int server_bind(grpc_server *server, const char *path, crisp_error_t **err)
{
    _cleanup_free_ char *addr = NULL;
    if (asprintf(&addr, "unix:%s", path) < 0)
        return crisp_error_oom(err);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port == 0)
        return crisp_error_make(err, EADDRINUSE, "cannot listen on %s", path);
    return 0;
}

int srv_grpc_start(struct srv_daemon *d, const char *path, struct srv_grpc **ret, crisp_error_t **err)
{
    struct srv_grpc *s = &the_server;
    memset(s, 0, sizeof(*s));
    s->daemon = d;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    pthread_mutex_init(&s->calls_lock, NULL);
    pthread_cond_init(&s->calls_cond, NULL);
    s->server = server_create();
    s->cq = grpc_completion_queue_create_for_next(NULL);
    if (!s->server || !s->cq)
        return crisp_error_make(err, ENOMEM, "cannot create the gRPC server");
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
    if (server_bind(s->server, path, err) < 0) {
        grpc_server_destroy(s->server);
        grpc_completion_queue_shutdown(s->cq);
        grpc_completion_queue_destroy(s->cq);
        return -1;
    }
    int r = pthread_create(&s->watcher, NULL, watcher_main, s);
    if (r != 0) {
        errno = r;
        return crisp_error_errno(err, "start the call watcher thread");
    }
    s->watcher_started = true;
    grpc_server_start(s->server);
    for (int i = 0; i < SRV_POSTED_REQUESTS; i++)
        post_request(s);
    for (int i = 0; i < SRV_MIN_WORKERS; i++)
        if (spawn_worker(s) < 0)
            return crisp_error_errno(err, "start worker thread");
    *ret = s;
    return 0;
}

static bool wait_shutdown_notified(struct srv_grpc *s, int64_t timeout_ms)
{
    struct timespec deadline = clock_timespec_after_ms(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&s->lock);
    while (!s->shutdown_notified)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) != 0)
            break;
    bool done = s->shutdown_notified;
    pthread_mutex_unlock(&s->lock);
    return done;
}

static bool wait_workers_gone(struct srv_grpc *s, int64_t timeout_ms)
{
    struct timespec deadline = clock_timespec_after_ms(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&s->lock);
    while (s->threads > 0)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) != 0)
            break;
    bool done = s->threads == 0;
    pthread_mutex_unlock(&s->lock);
    return done;
}

/* Fires every running call's cancellation, and that of any call still starting. */
static void calls_cancel_all(struct srv_grpc *s)
{
    pthread_mutex_lock(&s->calls_lock);
    s->hard_stop = true;
    for (struct srv_call *c = s->calls; c; c = c->watch_next)
        crisp_cancel_fire(&c->cancel, CRISP_E_UNAVAILABLE);
    pthread_mutex_unlock(&s->calls_lock);
}

static void watcher_stop(struct srv_grpc *s)
{
    if (!s->watcher_started)
        return;
    pthread_mutex_lock(&s->calls_lock);
    s->watcher_stop = true;
    pthread_cond_signal(&s->calls_cond);
    pthread_mutex_unlock(&s->calls_lock);
    pthread_join(s->watcher, NULL);
    s->watcher_started = false;
}

bool srv_grpc_stop(struct srv_grpc *s, int timeout_s)
{
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_mutex_unlock(&s->lock);
    grpc_server_shutdown_and_notify(s->server, s->cq, &s->shutdown_tag);
    int64_t grace_end = clock_monotonic_ms() + (int64_t)timeout_s * 1000 + SRV_CANCEL_GRACE_MS;
    if (!wait_shutdown_notified(s, (int64_t)timeout_s * 1000)) {
        log_warn("in-flight calls did not finish within %d s; cancelling them", timeout_s);
        calls_cancel_all(s);
        grpc_server_cancel_all_calls(s->server);
    }
    /* Past the grace, the threads still in calls are left to the process's exit: waiting for work that
     * ignores its cancellation would make shutdown_timeout meaningless. */
    if (!wait_shutdown_notified(s, grace_end - clock_monotonic_ms()))
        return false;
    grpc_server_destroy(s->server);
    grpc_completion_queue_shutdown(s->cq);
    if (!wait_workers_gone(s, grace_end - clock_monotonic_ms()))
        return false;
    watcher_stop(s);
    grpc_completion_queue_destroy(s->cq);
    return true;
}
