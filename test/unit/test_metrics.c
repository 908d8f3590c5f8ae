/* common/metrics, server/metrics_series, server/metrics_process and server/metrics_server: the
 * registry under concurrent updates, the exact text format, the label cap, crispd's series, and the
 * HTTP endpoint on a kernel-chosen port of 127.0.0.1. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "server/metrics_process.h"
#include "server/metrics_series.h"
#include "server/metrics_server.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char *render(struct metrics_registry *r)
{
    char *text = NULL;
    size_t len = 0;
    crisp_error_t *err = NULL;
    if (metrics_registry_render(r, &text, &len, &err) < 0) {
        fprintf(stderr, "render: %s\n", err->msg);
        crisp_error_free(err);
        return NULL;
    }
    return text;
}

static int collect_items(void *data, double *ret, size_t n)
{
    (void)data;
    if (n != 2)
        return -1;
    ret[0] = 2;
    ret[1] = 0.5;
    return 0;
}

static int collect_fail(void *data, double *ret, size_t n)
{
    (void)data, (void)ret, (void)n;
    return -1;
}

static struct metrics_registry *small_registry(void)
{
    struct metrics_registry *r = NULL;
    struct metrics_family *req = NULL, *temp = NULL, *lat = NULL, *unused = NULL;
    crisp_error_t *err = NULL;
    const struct metrics_family_spec req_spec = {"t_requests_total",
                                                 "Requests.\nSecond \\ line",
                                                 METRICS_COUNTER,
                                                 (const char *const[]){"method", "code", NULL},
                                                 NULL,
                                                 0,
                                                 0};
    const struct metrics_family_spec temp_spec = {"t_temperature", "Temp.", METRICS_GAUGE, NULL, NULL, 0, 0};
    const struct metrics_family_spec lat_spec = {"t_latency_seconds",
                                                 "Latency.",
                                                 METRICS_HISTOGRAM,
                                                 (const char *const[]){"op", NULL},
                                                 (const double[]){0.25, 1},
                                                 2,
                                                 0};
    const struct metrics_family_spec unused_spec = {
        "t_unused_total", "Never used.", METRICS_COUNTER, (const char *const[]){"x", NULL}, NULL, 0, 0};
    const struct metrics_callback_spec items = {"t_items", "Items.", METRICS_GAUGE, "state",
                                                (const char *const[]){"on", "off", NULL}};
    CHECK(metrics_registry_new(&r, &err) == 0);
    CHECK(metrics_family_add(r, &req_spec, &req, &err) == 0);
    CHECK(metrics_family_add(r, &temp_spec, &temp, &err) == 0);
    CHECK(metrics_family_add(r, &lat_spec, &lat, &err) == 0);
    CHECK(metrics_family_add(r, &unused_spec, &unused, &err) == 0);
    CHECK(metrics_callback_add(r, &items, collect_items, NULL, NULL, &err) == 0);
    CHECK(err == NULL);
    metrics_counter_add(metrics_series_get(req, (const char *const[]){"Get", "OK"}), 3);
    metrics_counter_add(metrics_series_get(req, (const char *const[]){"A\"b\\c\nd", "OK"}), 1);
    metrics_gauge_set(metrics_series_get(temp, NULL), 21.5);
    struct metrics_series *x = metrics_series_get(lat, (const char *const[]){"x"});
    const double observations[] = {0.125, 0.25, 0.5, 2};
    for (size_t i = 0; i < ARRAY_SIZE(observations); i++)
        metrics_histogram_observe(x, observations[i]);
    return r;
}

static void test_render(void)
{
    struct metrics_registry *r = small_registry();
    _cleanup_free_ char *text = render(r);
    CHECK_STR(text, "# HELP t_requests_total Requests.\\nSecond \\\\ line\n"
                    "# TYPE t_requests_total counter\n"
                    "t_requests_total{method=\"A\\\"b\\\\c\\nd\",code=\"OK\"} 1\n"
                    "t_requests_total{method=\"Get\",code=\"OK\"} 3\n"
                    "# HELP t_temperature Temp.\n"
                    "# TYPE t_temperature gauge\n"
                    "t_temperature 21.5\n"
                    "# HELP t_latency_seconds Latency.\n"
                    "# TYPE t_latency_seconds histogram\n"
                    "t_latency_seconds_bucket{op=\"x\",le=\"0.25\"} 2\n"
                    "t_latency_seconds_bucket{op=\"x\",le=\"1\"} 3\n"
                    "t_latency_seconds_bucket{op=\"x\",le=\"+Inf\"} 4\n"
                    "t_latency_seconds_sum{op=\"x\"} 2.875\n"
                    "t_latency_seconds_count{op=\"x\"} 4\n"
                    "# HELP t_items Items.\n"
                    "# TYPE t_items gauge\n"
                    "t_items{state=\"on\"} 2\n"
                    "t_items{state=\"off\"} 0.5\n");
    metrics_registry_free(r);
}

static void test_values(void)
{
    struct metrics_registry *r = NULL;
    struct metrics_family *g = NULL, *l = NULL;
    crisp_error_t *err = NULL;
    const struct metrics_family_spec gs = {
        "v_gauge", "", METRICS_GAUGE, (const char *const[]){"k", NULL}, NULL, 0, 0};
    const struct metrics_family_spec ls = {
        "v_label", "", METRICS_COUNTER, (const char *const[]){"k", NULL}, NULL, 0, 0};
    CHECK(metrics_registry_new(&r, &err) == 0 && metrics_family_add(r, &gs, &g, &err) == 0 &&
          metrics_family_add(r, &ls, &l, &err) == 0);
    metrics_gauge_set(metrics_series_get(g, (const char *const[]){"a"}), 0.1);
    metrics_gauge_set(metrics_series_get(g, (const char *const[]){"b"}), 1e21);
    metrics_gauge_set(metrics_series_get(g, (const char *const[]){"c"}), NAN);
    metrics_gauge_set(metrics_series_get(g, (const char *const[]){"d"}), -INFINITY);
    metrics_gauge_set(metrics_series_get(g, (const char *const[]){"e"}), 1.0 / 3);
    metrics_gauge_add(metrics_series_get(g, (const char *const[]){"f"}), -2);
    char longv[400];
    memset(longv, 'x', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    metrics_counter_add(metrics_series_get(l, (const char *const[]){"\xff\xfe"
                                                                    "ok\xc3\xa9"}),
                        1);
    metrics_counter_add(metrics_series_get(l, (const char *const[]){longv}), 1);
    /* Normalized values find the same series again. */
    CHECK(metrics_series_get(l, (const char *const[]){longv}) ==
          metrics_series_get(l, (const char *const[]){longv}));
    _cleanup_free_ char *text = render(r);
    CHECK_CONTAINS(text, "v_gauge{k=\"a\"} 0.1\n");
    CHECK_CONTAINS(text, "v_gauge{k=\"b\"} 1e+21\n");
    CHECK_CONTAINS(text, "v_gauge{k=\"c\"} NaN\n");
    CHECK_CONTAINS(text, "v_gauge{k=\"d\"} -Inf\n");
    CHECK_CONTAINS(text, "v_gauge{k=\"e\"} 0.3333333333333333\n");
    CHECK_CONTAINS(text, "v_gauge{k=\"f\"} -2\n");
    CHECK_CONTAINS(text, "v_label{k=\"??ok\xc3\xa9\"} 1\n");
    char expect[200];
    snprintf(expect, sizeof(expect), "v_label{k=\"%.*s\"} 1\n", METRICS_LABEL_VALUE_MAX - 1, longv);
    CHECK_CONTAINS(text, expect);
    CHECK(metrics_family_series_count(l) == 2);
    metrics_registry_free(r);
}

static void test_validation(void)
{
    struct metrics_registry *r = NULL;
    crisp_error_t *err = NULL;
    CHECK(metrics_registry_new(&r, &err) == 0);
    const struct metrics_family_spec bad[] = {
        {"1abc", "", METRICS_COUNTER, NULL, NULL, 0, 0},
        {"a-b", "", METRICS_COUNTER, NULL, NULL, 0, 0},
        {"ok", "", METRICS_COUNTER, (const char *const[]){"__reserved", NULL}, NULL, 0, 0},
        {"ok", "", METRICS_COUNTER, (const char *const[]){"a:b", NULL}, NULL, 0, 0},
        {"ok", "", METRICS_HISTOGRAM, (const char *const[]){"le", NULL}, (const double[]){1}, 1, 0},
        {"ok", "", METRICS_HISTOGRAM, NULL, (const double[]){1, 1}, 2, 0},
        {"ok", "", METRICS_HISTOGRAM, NULL, (const double[]){1, INFINITY}, 2, 0},
        {"ok", "", METRICS_HISTOGRAM, NULL, NULL, 0, 0},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        CHECK(metrics_family_add(r, &bad[i], NULL, &err) < 0 && err && err->status == EINVAL);
        crisp_error_freep(&err);
    }
    const struct metrics_family_spec good = {"name:sub_total", "", METRICS_COUNTER, NULL, NULL, 0, 0};
    CHECK(metrics_family_add(r, &good, NULL, &err) == 0);
    CHECK(metrics_family_add(r, &good, NULL, &err) < 0 && err && err->status == EEXIST);
    crisp_error_freep(&err);
    const struct metrics_callback_spec cb = {"cb", "", METRICS_HISTOGRAM, NULL, NULL};
    CHECK(metrics_callback_add(r, &cb, collect_items, NULL, NULL, &err) < 0 && err && err->status == EINVAL);
    crisp_error_freep(&err);
    metrics_registry_free(r);
}

static void test_callbacks(void)
{
    struct metrics_registry *r = NULL;
    struct metrics_family *f = NULL;
    crisp_error_t *err = NULL;
    const struct metrics_callback_spec spec = {"c_value", "V.", METRICS_COUNTER, "state",
                                               (const char *const[]){"on", "off", NULL}};
    CHECK(metrics_registry_new(&r, &err) == 0 && metrics_callback_add(r, &spec, NULL, NULL, &f, &err) == 0);
    _cleanup_free_ char *none = render(r);
    CHECK_STR(none, "");
    metrics_callback_set(r, f, collect_fail, NULL);
    _cleanup_free_ char *failed = render(r);
    CHECK_STR(failed, "");
    metrics_callback_set(r, f, collect_items, NULL);
    _cleanup_free_ char *text = render(r);
    CHECK_STR(
        text,
        "# HELP c_value V.\n# TYPE c_value counter\nc_value{state=\"on\"} 2\nc_value{state=\"off\"} 0.5\n");
    metrics_registry_free(r);
}

static void test_cap(void)
{
    struct metrics_registry *r = NULL;
    struct metrics_family *f = NULL;
    crisp_error_t *err = NULL;
    const struct metrics_family_spec spec = {
        "cap_total", "", METRICS_COUNTER, (const char *const[]){"k", NULL}, NULL, 0, 3};
    CHECK(metrics_registry_new(&r, &err) == 0 && metrics_family_add(r, &spec, &f, &err) == 0);
    for (int i = 0; i < 10; i++) {
        char v[16];
        snprintf(v, sizeof(v), "%d", i);
        metrics_counter_add(metrics_series_get(f, (const char *const[]){v}), 1);
    }
    metrics_counter_add(metrics_series_get(f, (const char *const[]){"0"}), 1);
    /* A real value equal to the marker is the overflow series, not a duplicate of it. */
    metrics_counter_add(metrics_series_get(f, (const char *const[]){METRICS_OVERFLOW_VALUE}), 1);
    CHECK(metrics_family_series_count(f) == 4);
    _cleanup_free_ char *text = render(r);
    CHECK_STR(
        text,
        "# HELP cap_total \n# TYPE cap_total counter\n"
        "cap_total{k=\"0\"} 2\ncap_total{k=\"1\"} 1\ncap_total{k=\"2\"} 1\ncap_total{k=\"_overflow\"} 8\n");
    metrics_registry_free(r);
}

/* A real series that holds the marker value before the family fills up becomes the overflow series. */
static void test_cap_marker_first(void)
{
    struct metrics_registry *r = NULL;
    struct metrics_family *f = NULL;
    crisp_error_t *err = NULL;
    const struct metrics_family_spec spec = {
        "capm_total", "", METRICS_COUNTER, (const char *const[]){"k", NULL}, NULL, 0, 2};
    CHECK(metrics_registry_new(&r, &err) == 0 && metrics_family_add(r, &spec, &f, &err) == 0);
    const char *const values[] = {METRICS_OVERFLOW_VALUE, "a", "b", "c"};
    for (size_t i = 0; i < ARRAY_SIZE(values); i++)
        metrics_counter_add(metrics_series_get(f, &values[i]), 1);
    CHECK(metrics_family_series_count(f) == 2);
    _cleanup_free_ char *text = render(r);
    CHECK_STR(
        text,
        "# HELP capm_total \n# TYPE capm_total counter\ncapm_total{k=\"_overflow\"} 3\ncapm_total{k=\"a\"} 1\n");
    metrics_registry_free(r);
}

#define THREADS 8
#define ROUNDS 20000

struct worker {
    struct metrics_family *counter, *gauge, *histogram;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    static const char *const keys[] = {"a", "b", "c"};
    for (int i = 0; i < ROUNDS; i++) {
        const char *const v[] = {keys[i % 3]};
        metrics_counter_add(metrics_series_get(w->counter, v), 1);
        metrics_gauge_add(metrics_series_get(w->gauge, NULL), 1);
        metrics_histogram_observe(metrics_series_get(w->histogram, v), i % 2 ? 0.5 : 2);
    }
    return NULL;
}

static void test_threads(void)
{
    struct metrics_registry *r = NULL;
    crisp_error_t *err = NULL;
    struct worker w = {0};
    const char *const *k = (const char *const[]){"k", NULL};
    const struct metrics_family_spec cs = {"th_total", "", METRICS_COUNTER, k, NULL, 0, 0};
    const struct metrics_family_spec gs = {"th_gauge", "", METRICS_GAUGE, NULL, NULL, 0, 0};
    const struct metrics_family_spec hs = {"th_seconds", "", METRICS_HISTOGRAM, k, (const double[]){1}, 1, 0};
    CHECK(metrics_registry_new(&r, &err) == 0 && metrics_family_add(r, &cs, &w.counter, &err) == 0 &&
          metrics_family_add(r, &gs, &w.gauge, &err) == 0 &&
          metrics_family_add(r, &hs, &w.histogram, &err) == 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker_main, &w) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(metrics_family_series_count(w.counter) == 3);
    _cleanup_free_ char *text = render(r);
    /* ROUNDS = 3 * 6666 + 2: "a" and "b" get one more than "c" from each thread. */
    CHECK_CONTAINS(text, "th_total{k=\"a\"} 53336\nth_total{k=\"b\"} 53336\nth_total{k=\"c\"} 53328\n");
    CHECK_CONTAINS(text, "th_gauge 160000\n");
    /* Observations alternate 2, 0.5: per key, half (rounded per parity) fall in le="1". */
    CHECK_CONTAINS(text, "th_seconds_count{k=\"a\"} 53336\n");
    char line[128];
    unsigned long long le1 = 0, all = 0, count = 0;
    double sum = 0;
    for (const char *p = text; (p = strstr(p, "th_seconds_")); p++) {
        if (sscanf(p, "th_seconds_bucket{k=\"%*[abc]\",le=\"1\"} %127s", line) == 1)
            le1 += strtoull(line, NULL, 10);
        else if (sscanf(p, "th_seconds_bucket{k=\"%*[abc]\",le=\"+Inf\"} %127s", line) == 1)
            all += strtoull(line, NULL, 10);
        else if (sscanf(p, "th_seconds_sum{k=\"%*[abc]\"} %127s", line) == 1)
            sum += strtod(line, NULL);
        else if (sscanf(p, "th_seconds_count{k=\"%*[abc]\"} %127s", line) == 1)
            count += strtoull(line, NULL, 10);
    }
    CHECK(le1 == THREADS * ROUNDS / 2);
    CHECK(all == THREADS * ROUNDS && count == THREADS * ROUNDS);
    CHECK(sum == THREADS * (ROUNDS / 2) * 2.5);
    metrics_registry_free(r);
}

static int pods_cb(void *data, uint64_t ret[SRV_METRICS_POD_STATES])
{
    (void)data;
    ret[0] = 3;
    ret[1] = 1;
    return 0;
}

static int containers_cb(void *data, uint64_t ret[SRV_METRICS_CONTAINER_STATES])
{
    (void)data;
    for (int i = 0; i < SRV_METRICS_CONTAINER_STATES; i++)
        ret[i] = (uint64_t)i * 10;
    return 0;
}

static int monitors_cb(void *data, uint64_t *ret)
{
    *ret = *(uint64_t *)data;
    return 0;
}

/* The value of the first sample line starting with prefix, or NaN. */
static double sample_value(const char *text, const char *prefix)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            return strtod(p + strlen(prefix), NULL);
    return NAN;
}

static void test_process(void)
{
    struct srv_process_stats st;
    crisp_error_t *err = NULL;
    CHECK(srv_process_stats_read(&st, &err) == 0);
    CHECK(st.resident_bytes > 0 && st.virtual_bytes >= st.resident_bytes && st.threads >= 1);
    double now = (double)clock_realtime_ns() / 1e9;
    CHECK(st.start_time_seconds > now - 86400 * 365 && st.start_time_seconds <= now + 1);
    CHECK(st.cpu_seconds >= 0);
}

static void test_series(void)
{
    crisp_error_t *err = NULL;
    srv_metrics_grpc_observe("/runtime.v1.RuntimeService/Version", false, 0, 1000); /* before init: no-op */
    CHECK(srv_metrics_registry() == NULL);
    CHECK(srv_metrics_init(&err) == 0);
    CHECK(srv_metrics_init(&err) < 0);
    crisp_error_freep(&err);
    srv_metrics_grpc_started("/runtime.v1.ImageService/ImageStatus", false);
    srv_metrics_grpc_observe("/runtime.v1.ImageService/ImageStatus", false, 5, 1000000);
    srv_metrics_grpc_observe("/runtime.v1.ImageService/ImageStatus", false, 0, 30000000);
    srv_metrics_grpc_observe("/runtime.v1.RuntimeService/GetContainerEvents", true, 1, 20000000000LL);
    srv_metrics_grpc_observe(NULL, false, 12, 0);
    srv_metrics_pull_observe(true, 1000, 1500000000);
    srv_metrics_pull_observe(false, 24, 10);
    uint64_t monitors = 7;
    const struct srv_metrics_state_callbacks cb = {pods_cb, containers_cb, monitors_cb, &monitors};
    srv_metrics_set_state_callbacks(&cb);
    _cleanup_free_ char *text = render(srv_metrics_registry());
    CHECK_CONTAINS(text, "# TYPE grpc_server_started_total counter\n"
                         "grpc_server_started_total{grpc_method=\"ImageStatus\","
                         "grpc_service=\"runtime.v1.ImageService\",grpc_type=\"unary\"} 1\n");
    CHECK_CONTAINS(text, "grpc_server_handled_total{grpc_code=\"NotFound\",grpc_method=\"ImageStatus\","
                         "grpc_service=\"runtime.v1.ImageService\",grpc_type=\"unary\"} 1\n");
    CHECK_CONTAINS(text, "grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"ImageStatus\"");
    CHECK_CONTAINS(text,
                   "grpc_server_handled_total{grpc_code=\"Canceled\",grpc_method=\"GetContainerEvents\","
                   "grpc_service=\"runtime.v1.RuntimeService\",grpc_type=\"server_stream\"} 1\n");
    CHECK_CONTAINS(text, "grpc_server_handled_total{grpc_code=\"Unimplemented\",grpc_method=\"unknown\","
                         "grpc_service=\"unknown\",grpc_type=\"unary\"} 1\n");
    const char *b =
        "grpc_server_handling_seconds_bucket{grpc_method=\"ImageStatus\",grpc_service=\"runtime.v1."
        "ImageService\",grpc_type=\"unary\",le=";
    char line[256];
    const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                               "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
    for (size_t i = 0; i < ARRAY_SIZE(les); i++) {
        snprintf(line, sizeof(line), "%s\"%s\"} %d\n", b, les[i], i < 3 ? 1 : 2);
        CHECK_CONTAINS(text, line);
    }
    CHECK_CONTAINS(text,
                   "grpc_server_handling_seconds_sum{grpc_method=\"ImageStatus\",grpc_service=\"runtime.v1."
                   "ImageService\",grpc_type=\"unary\"} 0.031\n");
    CHECK_CONTAINS(text, "crisp_image_pulls_total{result=\"failure\"} 1\n"
                         "crisp_image_pulls_total{result=\"success\"} 1\n");
    CHECK_CONTAINS(text, "# TYPE crisp_image_pull_bytes_total counter\ncrisp_image_pull_bytes_total 1024\n");
    CHECK_CONTAINS(text, "crisp_image_pull_duration_seconds_bucket{le=\"1\"} 0\n");
    CHECK_CONTAINS(text, "crisp_image_pull_duration_seconds_bucket{le=\"2.5\"} 1\n");
    CHECK_CONTAINS(text, "crisp_image_pull_duration_seconds_count 1\n");
    CHECK_CONTAINS(text, "crisp_pods{state=\"ready\"} 3\ncrisp_pods{state=\"notready\"} 1\n");
    CHECK_CONTAINS(text, "crisp_containers{state=\"created\"} 0\ncrisp_containers{state=\"running\"} 10\n"
                         "crisp_containers{state=\"exited\"} 20\ncrisp_containers{state=\"unknown\"} 30\n");
    CHECK_CONTAINS(text, "# TYPE crisp_monitors_alive gauge\ncrisp_monitors_alive 7\n");
    CHECK_CONTAINS(text, "# TYPE process_cpu_seconds_total counter\n");
    CHECK(sample_value(text, "process_resident_memory_bytes ") > 0);
    CHECK(sample_value(text, "process_threads ") >= 1);
    CHECK(sample_value(text, "process_open_fds ") >= 3);
    CHECK(sample_value(text, "process_max_fds ") >= sample_value(text, "process_open_fds "));
    CHECK(sample_value(text, "process_start_time_seconds ") > 1e9);
    srv_metrics_set_state_callbacks(NULL);
    _cleanup_free_ char *after = render(srv_metrics_registry());
    CHECK(after && !strstr(after, "crisp_pods") && !strstr(after, "crisp_monitors_alive"));
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Everything the server sends until it closes (or 10 s pass). */
static char *read_all(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

static char *http_exchange(int port, const char *request)
{
    _cleanup_close_ int fd = tcp_connect(port);
    if (fd < 0 || write(fd, request, strlen(request)) != (ssize_t)strlen(request))
        return NULL;
    return read_all(fd);
}

static bool still_open(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

static struct srv_metrics_server *server_start(struct metrics_registry *r, int timeout_ms)
{
    struct srv_metrics_server *s = NULL;
    crisp_error_t *err = NULL;
    const struct srv_metrics_server_config cfg = {"127.0.0.1", 0, r, timeout_ms};
    if (srv_metrics_server_start(&cfg, &s, &err) < 0) {
        fprintf(stderr, "metrics server: %s\n", err->msg);
        crisp_error_free(err);
    }
    return s;
}

static void test_http_routes(int port)
{
    _cleanup_free_ char *ok = http_exchange(
        port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
    CHECK(ok && strncmp(ok, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK_CONTAINS(ok, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
    CHECK_CONTAINS(ok, "\r\nConnection: close\r\n");
    CHECK_CONTAINS(ok, "\r\n\r\n# HELP t_requests_total");
    const char *body = ok ? strstr(ok, "\r\n\r\n") : NULL;
    const char *cl = ok ? strstr(ok, "Content-Length: ") : NULL;
    CHECK(body && cl && strtoul(cl + 16, NULL, 10) == strlen(body + 4));
    _cleanup_free_ char *query = http_exchange(port, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n");
    CHECK(query && strncmp(query, "HTTP/1.1 200 OK\r\n", 17) == 0);
    _cleanup_free_ char *head = http_exchange(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(head && strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0 && !strstr(head, "# HELP"));
    _cleanup_free_ char *other = http_exchange(port, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(other && strncmp(other, "HTTP/1.1 404 ", 13) == 0);
    _cleanup_free_ char *post = http_exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    CHECK(post && strncmp(post, "HTTP/1.1 405 ", 13) == 0);
    _cleanup_free_ char *bad = http_exchange(port, "GARBAGE\r\n\r\n");
    CHECK(bad && strncmp(bad, "HTTP/1.1 400 ", 13) == 0);
    char big[6000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
    _cleanup_free_ char *large = http_exchange(port, big);
    CHECK(large && strncmp(large, "HTTP/1.1 431 ", 13) == 0);
}

/* A client that connects and says nothing holds its own connection only. */
static void test_http_silent(int port)
{
    _cleanup_close_ int silent = tcp_connect(port);
    CHECK(silent >= 0);
    _cleanup_free_ char *ok = http_exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
    CHECK(ok && strncmp(ok, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(still_open(silent));
}

/* Connections over the cap are turned away, not queued behind the silent ones. */
static void test_http_cap(int port)
{
    int fds[SRV_METRICS_SERVER_MAX_CONNECTIONS];
    for (int i = 0; i < SRV_METRICS_SERVER_MAX_CONNECTIONS; i++)
        fds[i] = tcp_connect(port);
    _cleanup_free_ char *refused = http_exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");
    CHECK(refused && strncmp(refused, "HTTP/1.1 503 ", 13) == 0);
    for (int i = 0; i < SRV_METRICS_SERVER_MAX_CONNECTIONS; i++)
        close(fds[i]);
}

static void test_http(void)
{
    struct metrics_registry *r = small_registry();
    struct srv_metrics_server *s = server_start(r, 60000);
    CHECK(s != NULL);
    if (!s) {
        metrics_registry_free(r);
        return;
    }
    int port = srv_metrics_server_port(s);
    CHECK(port > 0);
    test_http_routes(port);
    test_http_silent(port);
    usleep(200 * 1000); /* the threads of the connections above finish and are reaped */
    test_http_cap(port);

    _cleanup_close_ int silent = tcp_connect(port);
    _cleanup_close_ int partial = tcp_connect(port);
    CHECK(write(partial, "GET /met", 8) == 8);
    usleep(100 * 1000); /* let the server take both in */
    int64_t t0 = clock_monotonic_ms();
    srv_metrics_server_stop(s);
    int64_t took = clock_monotonic_ms() - t0;
    CHECK(took < 5000); /* far below the 60 s connection timeout: stop does not wait for clients */
    _cleanup_free_ char *rest = read_all(silent);
    CHECK(rest && rest[0] == '\0'); /* closed without a word */
    CHECK(tcp_connect(port) < 0);
    metrics_registry_free(r);
}

/* The per-connection deadline: a silent client is answered 408 and closed. */
static void test_http_timeout(void)
{
    struct metrics_registry *r = small_registry();
    struct srv_metrics_server *s = server_start(r, 200);
    CHECK(s != NULL);
    if (s) {
        _cleanup_close_ int fd = tcp_connect(srv_metrics_server_port(s));
        _cleanup_free_ char *resp = read_all(fd);
        CHECK(resp && strncmp(resp, "HTTP/1.1 408 ", 13) == 0);
        srv_metrics_server_stop(s);
    }
    crisp_error_t *err = NULL;
    struct srv_metrics_server *bad = NULL;
    const struct srv_metrics_server_config cfg = {"localhost", 0, r, 0};
    CHECK(srv_metrics_server_start(&cfg, &bad, &err) < 0 && err->status == EINVAL);
    crisp_error_freep(&err);
    metrics_registry_free(r);
}

/* The daemon's own registry behind the server, as crispd will run it. */
static void test_http_series(void)
{
    struct srv_metrics_server *s = server_start(srv_metrics_registry(), 0);
    CHECK(s != NULL);
    if (!s)
        return;
    _cleanup_free_ char *ok = http_exchange(srv_metrics_server_port(s), "GET /metrics HTTP/1.1\r\n\r\n");
    CHECK_CONTAINS(ok, "\ngrpc_server_handled_total{grpc_code=\"NotFound\"");
    CHECK_CONTAINS(ok, "\nprocess_resident_memory_bytes ");
    srv_metrics_server_stop(s);
}

int main(void)
{
    test_render();
    test_values();
    test_validation();
    test_callbacks();
    test_cap();
    test_cap_marker_first();
    test_threads();
    test_process();
    test_series();
    test_http();
    test_http_timeout();
    test_http_series();
    srv_metrics_fini();
    return unit_report("test_metrics");
}
