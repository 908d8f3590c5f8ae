#define _GNU_SOURCE
#include "server/metrics_series.h"

#include "common/cleanup.h"
#include "server/metrics_process.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CRI v1 has some 40 methods; the caps leave room for every one with a handful of codes each. */
#define GRPC_MAX_SERIES 128
#define GRPC_HANDLED_MAX_SERIES 512
#define SERVICE_NAME_MAX 128

enum state_kind { STATE_PODS, STATE_CONTAINERS, STATE_MONITORS, STATE_KINDS };

/* What a state family's collect function is given: which of the callbacks is its own. */
struct state_hook {
    const struct srv_metrics *metrics;
    enum state_kind kind;
};

struct srv_metrics {
    struct metrics_registry *registry;
    struct metrics_family *grpc_started, *grpc_handled, *grpc_seconds;
    struct metrics_family *pulls, *pull_bytes, *pull_seconds;
    struct metrics_family *states[STATE_KINDS];
    struct metrics_series *pull_success, *pull_failure, *pull_bytes_total, *pull_seconds_all;
    struct srv_metrics_state_callbacks callbacks;
    struct state_hook hooks[STATE_KINDS];
};

static _Atomic(struct srv_metrics *) the_metrics;

/* prometheus.DefBuckets, which go-grpc-prometheus uses for grpc_server_handling_seconds. */
static const double grpc_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
/* Pulls take from a blink (all layers present) to many minutes (large images on slow links). */
static const double pull_buckets[] = {.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};

/* In name order, the order in which Go's client library prints them. */
static const char *const grpc_labels[] = {"grpc_method", "grpc_service", "grpc_type", NULL};
static const char *const grpc_handled_labels[] = {"grpc_code", "grpc_method", "grpc_service", "grpc_type",
                                                  NULL};
static const char *const result_label[] = {"result", NULL};
static const char *const pod_states[] = {"ready", "notready", NULL};
static const char *const container_states[] = {"created", "running", "exited", "unknown", NULL};

const char *srv_metrics_grpc_code_name(int grpc_code)
{
    static const char *const names[] = {
        "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
        "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
        "DataLoss", "Unauthenticated",
    };
    if (grpc_code >= 0 && (size_t)grpc_code < ARRAY_SIZE(names))
        return names[grpc_code];
    return "Unknown";
}

static int grpc_families_add(struct srv_metrics *m, crisp_error_t **err)
{
    const struct metrics_family_spec started = {"grpc_server_started_total",
                                                "Total number of RPCs started on the server.",
                                                METRICS_COUNTER,
                                                grpc_labels,
                                                NULL,
                                                0,
                                                GRPC_MAX_SERIES};
    const struct metrics_family_spec handled = {
        "grpc_server_handled_total",
        "Total number of RPCs completed on the server, regardless of success or failure.",
        METRICS_COUNTER,
        grpc_handled_labels,
        NULL,
        0,
        GRPC_HANDLED_MAX_SERIES};
    const struct metrics_family_spec seconds = {
        "grpc_server_handling_seconds",
        "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.",
        METRICS_HISTOGRAM,
        grpc_labels,
        grpc_buckets,
        ARRAY_SIZE(grpc_buckets),
        GRPC_MAX_SERIES};
    if (metrics_family_add(m->registry, &started, &m->grpc_started, err) < 0 ||
        metrics_family_add(m->registry, &handled, &m->grpc_handled, err) < 0 ||
        metrics_family_add(m->registry, &seconds, &m->grpc_seconds, err) < 0)
        return -1;
    return 0;
}

static int pull_families_add(struct srv_metrics *m, crisp_error_t **err)
{
    const struct metrics_family_spec pulls = {"crisp_image_pulls_total",
                                              "Image pulls by result (success, failure).",
                                              METRICS_COUNTER,
                                              result_label,
                                              NULL,
                                              0,
                                              2};
    const struct metrics_family_spec bytes = {"crisp_image_pull_bytes_total",
                                              "Bytes image pulls fetched from registries.",
                                              METRICS_COUNTER,
                                              NULL,
                                              NULL,
                                              0,
                                              0};
    const struct metrics_family_spec seconds = {"crisp_image_pull_duration_seconds",
                                                "Duration of successful image pulls in seconds.",
                                                METRICS_HISTOGRAM,
                                                NULL,
                                                pull_buckets,
                                                ARRAY_SIZE(pull_buckets),
                                                0};
    if (metrics_family_add(m->registry, &pulls, &m->pulls, err) < 0 ||
        metrics_family_add(m->registry, &bytes, &m->pull_bytes, err) < 0 ||
        metrics_family_add(m->registry, &seconds, &m->pull_seconds, err) < 0)
        return -1;
    /* Both results exist from the start, so rate() over them works before the first failure. */
    m->pull_success = metrics_series_get(m->pulls, (const char *const[]){"success"});
    m->pull_failure = metrics_series_get(m->pulls, (const char *const[]){"failure"});
    m->pull_bytes_total = metrics_series_get(m->pull_bytes, NULL);
    m->pull_seconds_all = metrics_series_get(m->pull_seconds, NULL);
    if (!m->pull_success || !m->pull_failure || !m->pull_bytes_total || !m->pull_seconds_all)
        return crisp_error_oom_in(err, "image pull metrics");
    return 0;
}

/* Installed only while the callback of its kind is set. */
static int collect_state(void *data, double *ret, size_t n)
{
    const struct state_hook *hook = data;
    const struct srv_metrics_state_callbacks *cb = &hook->metrics->callbacks;
    uint64_t counts[SRV_METRICS_CONTAINER_STATES] = {0};
    int r;
    if (hook->kind == STATE_PODS)
        r = cb->pods(cb->data, counts);
    else if (hook->kind == STATE_CONTAINERS)
        r = cb->containers(cb->data, counts);
    else
        r = cb->monitors_alive(cb->data, counts);
    if (r < 0 || n > ARRAY_SIZE(counts))
        return -1;
    for (size_t i = 0; i < n; i++)
        ret[i] = (double)counts[i];
    return 0;
}

static int state_families_add(struct srv_metrics *m, crisp_error_t **err)
{
    const struct metrics_callback_spec pods = {"crisp_pods", "Pod sandboxes by state.", METRICS_GAUGE,
                                               "state", pod_states};
    const struct metrics_callback_spec containers = {"crisp_containers", "Containers by state.",
                                                     METRICS_GAUGE, "state", container_states};
    const struct metrics_callback_spec monitors = {"crisp_monitors_alive",
                                                   "Container monitor processes (crisp-monitor) alive.",
                                                   METRICS_GAUGE, NULL, NULL};
    for (int i = 0; i < STATE_KINDS; i++)
        m->hooks[i] = (struct state_hook){m, (enum state_kind)i};
    if (metrics_callback_add(m->registry, &pods, NULL, NULL, &m->states[STATE_PODS], err) < 0 ||
        metrics_callback_add(m->registry, &containers, NULL, NULL, &m->states[STATE_CONTAINERS], err) < 0 ||
        metrics_callback_add(m->registry, &monitors, NULL, NULL, &m->states[STATE_MONITORS], err) < 0)
        return -1;
    return 0;
}

static void metrics_free(struct srv_metrics *m)
{
    if (!m)
        return;
    metrics_registry_free(m->registry);
    free(m);
}

int srv_metrics_init(crisp_error_t **err)
{
    struct srv_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return crisp_error_oom_in(err, "metrics");
    if (metrics_registry_new(&m->registry, err) < 0 || grpc_families_add(m, err) < 0 ||
        pull_families_add(m, err) < 0 || state_families_add(m, err) < 0 ||
        srv_metrics_process_register(m->registry, err) < 0) {
        metrics_free(m);
        return crisp_error_wrap(err, "metrics");
    }
    struct srv_metrics *expected = NULL;
    if (!atomic_compare_exchange_strong(&the_metrics, &expected, m)) {
        metrics_free(m);
        return crisp_error_make(err, EALREADY, "metrics are already initialized");
    }
    return 0;
}

void srv_metrics_fini(void)
{
    metrics_free(atomic_exchange(&the_metrics, NULL));
}

struct metrics_registry *srv_metrics_registry(void)
{
    struct srv_metrics *m = atomic_load(&the_metrics);
    return m ? m->registry : NULL;
}

void srv_metrics_set_state_callbacks(const struct srv_metrics_state_callbacks *cb)
{
    struct srv_metrics *m = atomic_load(&the_metrics);
    if (!m)
        return;
    /* Unhooked first: once metrics_callback_set returns, no scrape is inside the old callbacks. */
    for (int i = 0; i < STATE_KINDS; i++)
        metrics_callback_set(m->registry, m->states[i], NULL, NULL);
    m->callbacks = cb ? *cb : (struct srv_metrics_state_callbacks){0};
    const bool set[STATE_KINDS] = {m->callbacks.pods, m->callbacks.containers, m->callbacks.monitors_alive};
    for (int i = 0; i < STATE_KINDS; i++)
        if (set[i])
            metrics_callback_set(m->registry, m->states[i], collect_state, &m->hooks[i]);
}

/* "/runtime.v1.RuntimeService/Version" into service and method, as go-grpc-prometheus splits it. */
static void method_split(const char *full_method, char service[SERVICE_NAME_MAX],
                         char method[SERVICE_NAME_MAX])
{
    const char *p = full_method ? full_method + (full_method[0] == '/') : NULL;
    const char *slash = p ? strchr(p, '/') : NULL;
    if (!slash) {
        snprintf(service, SERVICE_NAME_MAX, "unknown");
        snprintf(method, SERVICE_NAME_MAX, "unknown");
        return;
    }
    size_t n = (size_t)(slash - p);
    snprintf(service, SERVICE_NAME_MAX, "%.*s", (int)(n < SERVICE_NAME_MAX ? n : SERVICE_NAME_MAX - 1), p);
    snprintf(method, SERVICE_NAME_MAX, "%s", slash + 1);
}

void srv_metrics_grpc_started(const char *full_method, bool server_stream)
{
    struct srv_metrics *m = atomic_load_explicit(&the_metrics, memory_order_acquire);
    if (!m)
        return;
    char service[SERVICE_NAME_MAX], method[SERVICE_NAME_MAX];
    method_split(full_method, service, method);
    const char *const values[] = {method, service, server_stream ? "server_stream" : "unary"};
    metrics_counter_add(metrics_series_get(m->grpc_started, values), 1);
}

void srv_metrics_grpc_observe(const char *full_method, bool server_stream, int grpc_code, int64_t duration_ns)
{
    struct srv_metrics *m = atomic_load_explicit(&the_metrics, memory_order_acquire);
    if (!m)
        return;
    char service[SERVICE_NAME_MAX], method[SERVICE_NAME_MAX];
    method_split(full_method, service, method);
    const char *type = server_stream ? "server_stream" : "unary";
    const char *const handled[] = {srv_metrics_grpc_code_name(grpc_code), method, service, type};
    metrics_counter_add(metrics_series_get(m->grpc_handled, handled), 1);
    const char *const timed[] = {method, service, type};
    metrics_histogram_observe(metrics_series_get(m->grpc_seconds, timed), (double)duration_ns / 1e9);
}

void srv_metrics_pull_observe(bool ok, uint64_t bytes, int64_t duration_ns)
{
    struct srv_metrics *m = atomic_load_explicit(&the_metrics, memory_order_acquire);
    if (!m)
        return;
    metrics_counter_add(ok ? m->pull_success : m->pull_failure, 1);
    metrics_counter_add(m->pull_bytes_total, bytes);
    if (ok)
        metrics_histogram_observe(m->pull_seconds_all, (double)duration_ns / 1e9);
}
