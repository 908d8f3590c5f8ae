/* crisp-bench: CRI Version round-trip latency against any CRI endpoint, first from one client, then
 * from several concurrent clients. It speaks gRPC through the C-core client API so that the figures
 * include no wrapper cost of ours and can be compared across runtimes. */
#define _GNU_SOURCE
#include "api.pb-c.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "server/status.h"

#include <errno.h>
#include <getopt.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#define BENCH_DEFAULT_ENDPOINT "unix:///run/crisp/crisp.sock"
#define BENCH_METHOD "/runtime.v1.RuntimeService/Version"
#define BENCH_CALL_TIMEOUT_S 10
/* Past the call's own deadline gRPC should already have failed it; this only guards against a
 * wedged core, so that the program never waits forever. */
#define BENCH_PLUCK_GRACE_S 5
/* A client stops after this many failures so that a dead endpoint ends the run in seconds. */
#define BENCH_MAX_ERRORS 10
#define BENCH_MAX_REQUESTS 10000000
#define BENCH_MAX_CLIENTS 1024
#define BENCH_MAX_WARMUP 10000000
#define BENCH_TARGET_MAX (sizeof("unix:") + sizeof(((struct sockaddr_un *)0)->sun_path))
#define BENCH_ERRMSG_MAX 512

struct bench_opts {
    const char *endpoint;          /* as given, for the report */
    char target[BENCH_TARGET_MAX]; /* "unix:/path", what gRPC dials */
    size_t requests, clients, warmup;
};

struct bench_conn {
    grpc_channel *channel;
    grpc_completion_queue *cq;
};

/* One call in flight and everything gRPC hands back for it. All-zero is a valid empty state. */
struct bench_rpc {
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
};

/* Holds the clients until every one has connected and warmed up, then lets them go at once. */
struct bench_gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t arrived;
    bool open, abort;
};

struct bench_client {
    const struct bench_opts *opts;
    struct bench_gate *gate;
    grpc_slice request;
    size_t warmup, count;
    uint64_t *lat;                  /* this client's share of the phase's array: count slots */
    size_t done, attempted, errors; /* errors include the warm-up's */
    bool gave_up;
    char first_error[BENCH_ERRMSG_MAX];
    pthread_t thread;
};

struct bench_result {
    uint64_t *lat; /* nanoseconds of the successful calls, ok of them */
    size_t ok, errors, planned, skipped;
    double seconds;
    char first_error[BENCH_ERRMSG_MAX];
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: crisp-bench [--endpoint ADDR] [--requests N] [--clients C] [--warmup W]\n"
            "Measure CRI Version round-trip latency against a CRI endpoint.\n"
            "\n"
            "  --endpoint ADDR  unix:///path, unix:/path or /path (default %s)\n"
            "  --requests N     measured calls per phase (default 20000)\n"
            "  --clients C      concurrent clients in the second phase, each with its own\n"
            "                   channel and connection (default 8)\n"
            "  --warmup W       unmeasured calls before each phase, shared among its clients\n"
            "                   (default 500)\n"
            "  --help           show this help\n",
            BENCH_DEFAULT_ENDPOINT);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static gpr_timespec deadline_in(int seconds)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(seconds, GPR_TIMESPAN));
}

static int parse_count(const char *name, const char *s, size_t min, size_t max, size_t *ret,
                       crisp_error_t **err)
{
    char *end = NULL;
    errno = 0;
    /* strtoull would quietly accept "-1" as a huge value. */
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (!end || *end || errno || v < min || v > max)
        return crisp_error_make(err, EINVAL, "--%s: want a number from %zu to %zu, got '%s'", name, min, max,
                                s);
    *ret = (size_t)v;
    return 0;
}

/* gRPC wants "unix:/path" or "unix:///path"; crictl users also write a bare path. */
static int parse_endpoint(const char *ep, char *ret_target, size_t size, crisp_error_t **err)
{
    const char *path = ep;
    if (strncmp(ep, "unix://", 7) == 0)
        path = ep + 7;
    else if (strncmp(ep, "unix:", 5) == 0)
        path = ep + 5;
    if (path[0] != '/')
        return crisp_error_make(err, EINVAL, "--endpoint: want unix:///path, unix:/path or /path, got '%s'",
                                ep);
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return crisp_error_make(err, ENAMETOOLONG, "--endpoint: socket path too long: %s", path);
    snprintf(ret_target, size, "unix:%s", path);
    return 0;
}

/* Returns 1 when --help was handled, 0 to run, -1 on a bad command line. */
static int bench_opts_parse(int argc, char **argv, struct bench_opts *o, crisp_error_t **err)
{
    static const struct option longopts[] = {
        {"endpoint", required_argument, NULL, 'e'}, {"requests", required_argument, NULL, 'n'},
        {"clients", required_argument, NULL, 'c'},  {"warmup", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    *o = (struct bench_opts){
        .endpoint = BENCH_DEFAULT_ENDPOINT, .requests = 20000, .clients = 8, .warmup = 500};
    int c;
    opterr = 0; /* our own message, in the same form as the others */
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int r = 0;
        switch (c) {
        case 'e':
            o->endpoint = optarg;
            break;
        case 'n':
            r = parse_count("requests", optarg, 1, BENCH_MAX_REQUESTS, &o->requests, err);
            break;
        case 'c':
            r = parse_count("clients", optarg, 1, BENCH_MAX_CLIENTS, &o->clients, err);
            break;
        case 'w':
            r = parse_count("warmup", optarg, 0, BENCH_MAX_WARMUP, &o->warmup, err);
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            return crisp_error_make(err, EINVAL, "unknown option or missing value: %s", argv[optind - 1]);
        }
        if (r < 0)
            return r;
    }
    if (optind < argc)
        return crisp_error_make(err, EINVAL, "unexpected argument '%s'", argv[optind]);
    return parse_endpoint(o->endpoint, o->target, sizeof(o->target), err);
}

static void bench_conn_close(struct bench_conn *conn)
{
    if (conn->channel)
        grpc_channel_destroy(conn->channel);
    conn->channel = NULL;
    if (conn->cq) {
        grpc_completion_queue_shutdown(conn->cq);
        grpc_completion_queue_pluck(conn->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        grpc_completion_queue_destroy(conn->cq);
    }
    conn->cq = NULL;
}

static int bench_conn_open(const char *target, struct bench_conn *ret, crisp_error_t **err)
{
    /* Channels to one target share a connection through gRPC's global subchannel pool; a local
     * pool gives each client its own, as separate kubelet and crictl processes would have. */
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    if (!creds)
        return crisp_error_make(err, ENOMEM, "cannot create channel credentials");
    ret->channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    ret->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (!ret->channel || !ret->cq) {
        bench_conn_close(ret);
        return crisp_error_make(err, ENOMEM, "cannot create a gRPC channel to %s", target);
    }
    return 0;
}

static void bench_rpc_fini(struct bench_rpc *rpc)
{
    if (rpc->call)
        grpc_call_unref(rpc->call);
    if (rpc->send)
        grpc_byte_buffer_destroy(rpc->send);
    if (rpc->recv)
        grpc_byte_buffer_destroy(rpc->recv);
    grpc_metadata_array_destroy(&rpc->initial_md);
    grpc_metadata_array_destroy(&rpc->trailing_md);
    grpc_slice_unref(rpc->details);
}

/* The whole unary call goes out as one batch: everything is known up front. */
static int bench_rpc_start(struct bench_conn *conn, grpc_slice request, struct bench_rpc *rpc,
                           crisp_error_t **err)
{
    rpc->call = grpc_channel_create_call(conn->channel, NULL, GRPC_PROPAGATE_DEFAULTS, conn->cq,
                                         grpc_slice_from_static_string(BENCH_METHOD), NULL,
                                         deadline_in(BENCH_CALL_TIMEOUT_S), NULL);
    rpc->send = grpc_raw_byte_buffer_create(&request, 1);
    if (!rpc->call || !rpc->send)
        return crisp_error_make(err, ENOMEM, "cannot create a call");

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = rpc->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &rpc->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &rpc->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &rpc->trailing_md;
    ops[5].data.recv_status_on_client.status = &rpc->status;
    ops[5].data.recv_status_on_client.status_details = &rpc->details;

    grpc_call_error e = grpc_call_start_batch(rpc->call, ops, ARRAY_SIZE(ops), rpc, NULL);
    if (e != GRPC_CALL_OK)
        return crisp_error_make(err, EIO, "cannot start call: %s", grpc_call_error_to_string(e));
    return 0;
}

static int bench_rpc_wait(struct bench_conn *conn, struct bench_rpc *rpc, crisp_error_t **err)
{
    gpr_timespec limit = deadline_in(BENCH_CALL_TIMEOUT_S + BENCH_PLUCK_GRACE_S);
    grpc_event ev = grpc_completion_queue_pluck(conn->cq, rpc, limit, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        /* The batch still owns our buffers: cancel it and let it finish before they are freed. */
        grpc_call_cancel(rpc->call, NULL);
        grpc_completion_queue_pluck(conn->cq, rpc, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        return crisp_error_make(err, ETIMEDOUT, "no answer within %d s",
                                BENCH_CALL_TIMEOUT_S + BENCH_PLUCK_GRACE_S);
    }
    if (ev.type != GRPC_OP_COMPLETE || !ev.success)
        return crisp_error_make(err, EIO, "call batch failed");
    return 0;
}

static int bench_rpc_check_status(const struct bench_rpc *rpc, crisp_error_t **err)
{
    if (rpc->status == GRPC_STATUS_OK)
        return 0;
    int len = (int)GRPC_SLICE_LENGTH(rpc->details);
    int status = rpc->status == GRPC_STATUS_DEADLINE_EXCEEDED ? ETIMEDOUT : EIO;
    return crisp_error_make(err, status, "%s: %.*s", srv_status_name(rpc->status), len,
                            (const char *)GRPC_SLICE_START_PTR(rpc->details));
}

static void version_response_freep(Runtime__V1__VersionResponse **p)
{
    if (*p)
        runtime__v1__version_response__free_unpacked(*p, NULL);
}

static int bench_version_decode(grpc_byte_buffer *bb, Runtime__V1__VersionResponse **ret_resp,
                                crisp_error_t **err)
{
    grpc_byte_buffer_reader reader;
    if (!bb)
        return crisp_error_make(err, EPROTO, "status OK but no response message");
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return crisp_error_make(err, EPROTO, "cannot read the response message");
    grpc_slice s = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    _cleanup_(version_response_freep)
        Runtime__V1__VersionResponse *resp = runtime__v1__version_response__unpack(NULL, GRPC_SLICE_LENGTH(s),
                                                                                   GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    if (!resp)
        return crisp_error_make(err, EPROTO, "response does not decode as a VersionResponse");
    if (!resp->runtime_name || !resp->runtime_name[0])
        return crisp_error_make(err, EPROTO, "VersionResponse has an empty runtime_name");
    if (ret_resp)
        *ret_resp = TAKE_PTR(resp);
    return 0;
}

/* One Version round trip; when ret_resp is given it receives the decoded response. */
static int bench_version_call(struct bench_conn *conn, grpc_slice request,
                              Runtime__V1__VersionResponse **ret_resp, crisp_error_t **err)
{
    _cleanup_(bench_rpc_fini) struct bench_rpc rpc = {0};
    if (bench_rpc_start(conn, request, &rpc, err) < 0 || bench_rpc_wait(conn, &rpc, err) < 0)
        return -1;
    if (bench_rpc_check_status(&rpc, err) < 0)
        return -1;
    return bench_version_decode(rpc.recv, ret_resp, err);
}

static int bench_request_pack(grpc_slice *ret, crisp_error_t **err)
{
    Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
    req.version = "v1";
    size_t len = runtime__v1__version_request__get_packed_size(&req);
    _cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return crisp_error_oom(err);
    runtime__v1__version_request__pack(&req, buf);
    *ret = grpc_slice_from_copied_buffer((const char *)buf, len);
    return 0;
}

/* Returns false when the phase was called off. */
static bool bench_gate_pass(struct bench_gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->arrived++;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    bool go = !g->abort;
    pthread_mutex_unlock(&g->lock);
    return go;
}

/* Waits for n clients to arrive, then opens; returns the time the clients were let go. */
static uint64_t bench_gate_open(struct bench_gate *g, size_t n, bool abort)
{
    pthread_mutex_lock(&g->lock);
    while (g->arrived < n)
        pthread_cond_wait(&g->cond, &g->lock);
    uint64_t t = now_ns();
    g->open = true;
    g->abort = abort;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    return t;
}

static void bench_client_fail(struct bench_client *c, const crisp_error_t *e)
{
    if (c->errors++ == 0)
        snprintf(c->first_error, sizeof(c->first_error), "%s", e && e->msg ? e->msg : "unknown error");
    /* A missed deadline means the endpoint stopped answering: more tries would each cost the full
     * timeout. */
    if (c->errors >= BENCH_MAX_ERRORS || (e && e->status == ETIMEDOUT))
        c->gave_up = true;
}

static void bench_client_warmup(struct bench_client *c, struct bench_conn *conn)
{
    for (size_t i = 0; i < c->warmup && !c->gave_up; i++) {
        _cleanup_error_ crisp_error_t *e = NULL;
        if (bench_version_call(conn, c->request, NULL, &e) < 0)
            bench_client_fail(c, e);
    }
}

static void bench_client_measure(struct bench_client *c, struct bench_conn *conn)
{
    for (; c->attempted < c->count && !c->gave_up; c->attempted++) {
        _cleanup_error_ crisp_error_t *e = NULL;
        uint64_t t0 = now_ns();
        if (bench_version_call(conn, c->request, NULL, &e) < 0) {
            bench_client_fail(c, e);
            continue;
        }
        c->lat[c->done++] = now_ns() - t0;
    }
}

static void *bench_client_main(void *arg)
{
    struct bench_client *c = arg;
    struct bench_conn conn = {0};
    _cleanup_error_ crisp_error_t *e = NULL;
    /* Connecting and warming up happen before the gate so that they stay out of the figures. */
    if (bench_conn_open(c->opts->target, &conn, &e) < 0) {
        bench_client_fail(c, e);
        c->gave_up = true;
    } else {
        bench_client_warmup(c, &conn);
    }
    if (bench_gate_pass(c->gate))
        bench_client_measure(c, &conn);
    bench_conn_close(&conn);
    return NULL;
}

/* Shares n calls (and the warm-up) out among the clients; the remainder goes to the first ones. */
static void bench_clients_plan(struct bench_client *cl, size_t nclients, const struct bench_opts *o,
                               struct bench_gate *gate, grpc_slice request, uint64_t *lat)
{
    size_t offset = 0;
    for (size_t i = 0; i < nclients; i++) {
        struct bench_client *c = &cl[i];
        c->opts = o;
        c->gate = gate;
        c->request = request;
        c->warmup = (o->warmup + nclients - 1) / nclients;
        c->count = o->requests / nclients + (i < o->requests % nclients);
        c->lat = lat + offset;
        offset += c->count;
    }
}

/* Moves the clients' latencies together and sums their outcome into r. */
static void bench_clients_collect(struct bench_client *cl, size_t nclients, struct bench_result *r)
{
    for (size_t i = 0; i < nclients; i++) {
        struct bench_client *c = &cl[i];
        memmove(r->lat + r->ok, c->lat, c->done * sizeof(*r->lat));
        r->ok += c->done;
        r->errors += c->errors;
        r->skipped += c->count - c->attempted;
        if (c->errors && !r->first_error[0])
            snprintf(r->first_error, sizeof(r->first_error), "%s", c->first_error);
    }
}

static int bench_clients_run(struct bench_client *cl, size_t nclients, struct bench_gate *gate,
                             struct bench_result *r, crisp_error_t **err)
{
    size_t started = 0;
    int ret = 0;
    for (; started < nclients; started++) {
        int e = pthread_create(&cl[started].thread, NULL, bench_client_main, &cl[started]);
        if (e != 0) {
            errno = e;
            ret = crisp_error_errno(err, "cannot start client thread %zu", started + 1);
            break;
        }
    }
    uint64_t t0 = bench_gate_open(gate, started, ret < 0);
    for (size_t i = 0; i < started; i++)
        pthread_join(cl[i].thread, NULL);
    r->seconds = (double)(now_ns() - t0) / 1e9;
    return ret;
}

static int bench_phase_run(const struct bench_opts *o, size_t nclients, grpc_slice request,
                           struct bench_result *r, crisp_error_t **err)
{
    struct bench_gate gate = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    _cleanup_free_ struct bench_client *cl = calloc(nclients, sizeof(*cl));
    r->lat = calloc(o->requests, sizeof(*r->lat));
    if (!cl || !r->lat)
        return crisp_error_make(err, ENOMEM, "out of memory for %zu calls", o->requests);
    r->planned = o->requests;
    bench_clients_plan(cl, nclients, o, &gate, request, r->lat);
    int ret = bench_clients_run(cl, nclients, &gate, r, err);
    bench_clients_collect(cl, nclients, r);
    return ret;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array; n > 0. */
static double percentile_ms(const uint64_t *sorted, size_t n, unsigned p)
{
    size_t rank = (n * p + 99) / 100;
    return (double)sorted[rank ? rank - 1 : 0] / 1e6;
}

static void bench_result_print(const char *label, struct bench_result *r)
{
    if (r->ok == 0) {
        printf("%-18s no successful calls\n", label);
    } else {
        qsort(r->lat, r->ok, sizeof(*r->lat), cmp_u64);
        printf("%-18s %zu calls, p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms, %.0f calls/s\n", label,
               r->ok, percentile_ms(r->lat, r->ok, 50), percentile_ms(r->lat, r->ok, 90),
               percentile_ms(r->lat, r->ok, 99), (double)r->lat[r->ok - 1] / 1e6,
               r->seconds > 0 ? (double)r->ok / r->seconds : 0.0);
    }
    fflush(stdout);
    if (r->errors)
        fprintf(stderr, "crisp-bench: %s %zu failed calls, %zu not made as clients gave up; first: %s\n",
                label, r->errors, r->skipped, r->first_error);
}

/* Runs one phase and prints its line; returns -1 when any call failed. */
static int bench_phase(const struct bench_opts *o, size_t nclients, grpc_slice request, crisp_error_t **err)
{
    char label[64];
    struct bench_result r = {0};
    snprintf(label, sizeof(label), "Version %zu client%s:", nclients, nclients == 1 ? "" : "s");
    int ret = bench_phase_run(o, nclients, request, &r, err);
    if (ret == 0 || r.ok || r.errors)
        bench_result_print(label, &r);
    free(r.lat);
    if (ret == 0 && r.errors)
        ret = crisp_error_make(err, EIO, "%s only %zu of %zu calls succeeded", label, r.ok, r.planned);
    return ret;
}

/* One call up front: it proves the endpoint answers and names the runtime in the report. */
static int bench_identify(const struct bench_opts *o, grpc_slice request, crisp_error_t **err)
{
    struct bench_conn conn = {0};
    _cleanup_(version_response_freep) Runtime__V1__VersionResponse *resp = NULL;
    if (bench_conn_open(o->target, &conn, err) < 0)
        return -1;
    int ret = bench_version_call(&conn, request, &resp, err);
    bench_conn_close(&conn);
    if (ret < 0)
        return crisp_error_wrap(err, "Version on %s", o->endpoint);
    printf("endpoint %s: runtime_name %.64s, runtime_version %.64s\n", o->endpoint, resp->runtime_name,
           resp->runtime_version ? resp->runtime_version : "");
    return 0;
}

static int bench_run(const struct bench_opts *o, crisp_error_t **err)
{
    grpc_slice request;
    if (bench_request_pack(&request, err) < 0)
        return -1;
    int ret = bench_identify(o, request, err);
    if (ret == 0) {
        _cleanup_error_ crisp_error_t *first = NULL;
        /* Both phases run even when the first has failures: the report should be complete. */
        int r1 = bench_phase(o, 1, request, &first);
        ret = bench_phase(o, o->clients, request, err);
        if (r1 < 0) {
            crisp_error_freep(err);
            *err = TAKE_PTR(first);
            ret = -1;
        }
    }
    grpc_slice_unref(request);
    return ret;
}

int main(int argc, char **argv)
{
    _cleanup_error_ crisp_error_t *err = NULL;
    struct bench_opts opts;
    int r = bench_opts_parse(argc, argv, &opts, &err);
    if (r != 0) {
        if (r > 0)
            return 0;
        fprintf(stderr, "crisp-bench: %s\n", err && err->msg ? err->msg : "bad command line");
        usage(stderr);
        return 2;
    }
    grpc_init();
    r = bench_run(&opts, &err);
    grpc_shutdown();
    if (r < 0) {
        fprintf(stderr, "crisp-bench: %s\n", err && err->msg ? err->msg : "failed");
        return 1;
    }
    return 0;
}
