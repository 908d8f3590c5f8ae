/* runtime/cni/ against fake plugins: /bin/sh scripts that record their environment and stdin and
 * print canned results, driven by marker files in the log directory. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/cni/cni.h"
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <yajl/yajl_tree.h>

static char root[] = "/tmp/crisp-unit-cni2-XXXXXX";
static char *conf_dir, *bin1, *bin2, *log_dir;

static char *pathf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *pathf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void put_in(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *path = pathf("%s/%s", dir, name);
    put(path, text, 0644);
}

static char *slurp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *slurp(const char *fmt, ...)
{
    _cleanup_free_ char *path = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&path, fmt, ap) < 0)
        abort();
    va_end(ap);
    char *text = NULL;
    crisp_error_t *err = NULL;
    if (file_read_bounded(path, 1 << 22, &text, NULL, &err) < 0)
        crisp_error_free(err);
    return text;
}

/* One fake plugin: records call N as log/N.env and log/N.stdin and "type COMMAND" in log/calls. */
static void fake_plugin(const char *dir, const char *type)
{
    _cleanup_free_ char *script = pathf(
        "#!/bin/sh\n"
        "T=%s\nL=%s\n"
        "n=$(cat \"$L/seq\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$L/seq\"\n"
        "echo \"$T $CNI_COMMAND\" >> \"$L/calls\"\n"
        "if [ -e \"$L/nostdin-$T\" ]; then echo '{\"cniVersion\": \"1.0.0\"}'; exit 0; fi\n"
        "env > \"$L/$n.env\"\n"
        "cat > \"$L/$n.stdin\"\n"
        "[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
        "if [ -e \"$L/fail-$T\" ]; then cat \"$L/fail-$T\"; exit 1; fi\n"
        "if [ -e \"$L/stderr-$T\" ]; then cat \"$L/stderr-$T\" >&2; exit 2; fi\n"
        "if [ -e \"$L/big-$T\" ]; then head -c 1100000 /dev/zero | tr '\\0' a; exit 0; fi\n"
        "if [ -e \"$L/sleep-$T\" ]; then sleep 30 & echo $! > \"$L/sleep.pid\"; wait; fi\n"
        "if [ -e \"$L/result-$T\" ]; then cat \"$L/result-$T\"; else echo '{\"cniVersion\": \"1.0.0\"}'; fi\n",
        type, log_dir);
    _cleanup_free_ char *path = pathf("%s/%s", dir, type);
    put(path, script, 0755);
}

/* Forgets the recorded calls and the failure markers; canned results stay. */
static void log_reset(void)
{
    _cleanup_free_ char *cmd = pathf(
        "cd %s && rm -f calls seq sleep.pid *.env *.stdin fail-* stderr-* big-* sleep-*", log_dir);
    if (system(cmd) != 0)
        abort();
}

/* "a.b.0.c": object members and array indexes. */
static yajl_val jget(yajl_val v, const char *dotted)
{
    _cleanup_free_ char *copy = strdup(dotted);
    char *save = NULL;
    for (char *part = strtok_r(copy, ".", &save); v && part; part = strtok_r(NULL, ".", &save)) {
        if (YAJL_IS_ARRAY(v)) {
            size_t i = strtoul(part, NULL, 10);
            v = i < v->u.array.len ? v->u.array.values[i] : NULL;
        } else {
            const char *path[] = {part, NULL};
            v = yajl_tree_get(v, path, yajl_t_any);
        }
    }
    return v;
}

static const char *jstr(yajl_val v, const char *dotted)
{
    v = jget(v, dotted);
    return v && YAJL_IS_STRING(v) ? v->u.string : NULL;
}

static const char *jnum(yajl_val v, const char *dotted)
{
    v = jget(v, dotted);
    return v && YAJL_IS_NUMBER(v) ? v->u.number.r : NULL;
}

static yajl_val stdin_of(int call)
{
    _cleanup_free_ char *text = slurp("%s/%d.stdin", log_dir, call);
    return text ? yajl_tree_parse(text, NULL, 0) : NULL;
}

static const struct rt_cni_port_mapping ports[] = {{8080, 80, "tcp", ""}, {0, 81, "udp", NULL}};
static char *dns_servers[] = {"1.1.1.1", NULL}, *dns_searches[] = {"svc.local", NULL},
            *dns_options[] = {"ndots:5", NULL};

static struct rt_cni_request request(void)
{
    return (struct rt_cni_request){
        .container_id = "abc123",
        .netns = "/var/run/netns/test",
        .ifname = "eth0",
        .pod_name = "nginx",
        .pod_namespace = "default",
        .pod_uid = "uid-1",
        .port_mappings = ports,
        .n_port_mappings = 2,
        .dns_servers = dns_servers,
        .dns_searches = dns_searches,
        .dns_options = dns_options,
        .cgroup_path = "/kubepods/pod1",
        .ingress_rate = 1000000,
    };
}

static const char *const main_list =
    "{\"cniVersion\": \"1.0.0\", \"name\": \"testnet\", \"plugins\": ["
    " {\"type\": \"alpha\", \"name\": \"ignored\", \"cniVersion\": \"0.1.0\", \"mtu\": 1450, \"ratio\": 1.5e3,"
    "  \"capabilities\": {\"portMappings\": true, \"dns\": false},"
    "  \"ipam\": {\"type\": \"host-local\", \"ranges\": [[{\"subnet\": \"10.1.0.0/16\"}]]}},"
    " {\"type\": \"beta\", \"runtimeConfig\": {\"stale\": 1},"
    "  \"capabilities\": {\"bandwidth\": true, \"dns\": true, \"cgroupPath\": true}}]}";

static const char *const alpha_result =
    "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"br0\"}, {\"name\": \"eth0\", \"sandbox\": \"/x\"}],"
    " \"ips\": [{\"address\": \"fd00::5/64\", \"interface\": 1}, {\"address\": \"10.1.0.5/16\", \"interface\": 1}]}";

static const char *const beta_result =
    "{\"cniVersion\": \"1.0.0\", \"interfaces\": [{\"name\": \"br0\"}, {\"name\": \"eth0\", \"sandbox\": \"/x\"}],"
    " \"ips\": [{\"address\": \"fd00::7/64\", \"interface\": 1}, {\"address\": \"192.168.1.1/24\", \"interface\": 0},"
    " {\"address\": \"10.1.0.7/16\", \"interface\": 1}, {\"address\": \"10.1.0.8/16\"}]}";

static struct rt_cni *cni;

static char *err_msg(crisp_error_t **err)
{
    char *m = *err ? strdup((*err)->msg) : NULL;
    crisp_error_freep(err);
    return m;
}

static void test_not_ready(void)
{
    crisp_error_t *err = NULL;
    CHECK(rt_cni_ready(cni, &err) < 0);
    _cleanup_free_ char *m = err_msg(&err);
    CHECK_CONTAINS(m, "no network config found in");
    struct rt_cni_request q = request();
    struct rt_cni_result res;
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0);
    crisp_error_freep(&err);
}

static void check_env(int call, const char *ifname, const char *command)
{
    _cleanup_free_ char *env = slurp("%s/%d.env", log_dir, call);
    _cleanup_free_ char *want_if = pathf("CNI_IFNAME=%s\n", ifname);
    _cleanup_free_ char *want_cmd = pathf("CNI_COMMAND=%s\n", command);
    _cleanup_free_ char *want_path = pathf("CNI_PATH=%s:%s\n", bin1, bin2);
    CHECK_CONTAINS(env, want_if);
    CHECK_CONTAINS(env, want_cmd);
    CHECK_CONTAINS(env, want_path);
    CHECK_CONTAINS(env, "CNI_CONTAINERID=abc123\n");
    CHECK_CONTAINS(env, "CNI_NETNS=/var/run/netns/test\n");
    CHECK_CONTAINS(env, "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx;"
                        "K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=uid-1\n");
    CHECK_CONTAINS(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n");
    CHECK(env && !strstr(env, "HOME=") && !strstr(env, "UNIT_SECRET="));
}

static void check_first_stdin(void)
{
    yajl_val lo = stdin_of(1), a = stdin_of(2);
    CHECK_STR(jstr(lo, "name"), "cni-loopback");
    CHECK_STR(jstr(lo, "cniVersion"), "1.0.0");
    CHECK_STR(jstr(lo, "type"), "loopback");
    CHECK_STR(jstr(a, "name"), "testnet");
    CHECK_STR(jstr(a, "cniVersion"), "1.0.0");
    CHECK_STR(jnum(a, "mtu"), "1450");
    CHECK_STR(jnum(a, "ratio"), "1.5e3");
    CHECK_STR(jstr(a, "ipam.ranges.0.0.subnet"), "10.1.0.0/16");
    CHECK(a && jget(a, "prevResult") == NULL);
    CHECK_STR(jnum(a, "runtimeConfig.portMappings.0.hostPort"), "8080");
    CHECK_STR(jnum(a, "runtimeConfig.portMappings.0.containerPort"), "80");
    CHECK_STR(jstr(a, "runtimeConfig.portMappings.0.protocol"), "tcp");
    CHECK_STR(jstr(a, "runtimeConfig.portMappings.0.hostIP"), "");
    CHECK(a && jget(a, "runtimeConfig.portMappings.1") == NULL); /* no host port: not published */
    CHECK(a && jget(a, "runtimeConfig.dns") == NULL && jget(a, "runtimeConfig.bandwidth") == NULL);
    yajl_tree_free(lo);
    yajl_tree_free(a);
}

static void check_second_stdin(void)
{
    yajl_val b = stdin_of(3);
    CHECK_STR(jstr(b, "name"), "testnet");
    CHECK_STR(jstr(b, "prevResult.ips.1.address"), "10.1.0.5/16");
    CHECK_STR(jnum(b, "runtimeConfig.bandwidth.ingressRate"), "1000000");
    CHECK_STR(jnum(b, "runtimeConfig.bandwidth.ingressBurst"), "4294967295");
    CHECK(b && jget(b, "runtimeConfig.bandwidth.egressRate") == NULL);
    CHECK_STR(jstr(b, "runtimeConfig.dns.servers.0"), "1.1.1.1");
    CHECK_STR(jstr(b, "runtimeConfig.dns.searches.0"), "svc.local");
    CHECK_STR(jstr(b, "runtimeConfig.dns.options.0"), "ndots:5");
    CHECK_STR(jstr(b, "runtimeConfig.cgroupPath"), "/kubepods/pod1");
    CHECK(b && jget(b, "runtimeConfig.portMappings") == NULL && jget(b, "runtimeConfig.stale") == NULL);
    yajl_tree_free(b);
}

static char *test_add(void)
{
    crisp_error_t *err = NULL;
    CHECK(rt_cni_ready(cni, &err) == 0);
    crisp_error_freep(&err);
    log_reset();
    struct rt_cni_request q = request();
    struct rt_cni_result res = {0};
    CHECK(rt_cni_add(cni, &q, &res, &err) == 0);
    if (err)
        fprintf(stderr, "add: %s\n", err->msg);
    crisp_error_freep(&err);
    _cleanup_free_ char *calls = slurp("%s/calls", log_dir);
    CHECK_STR(calls, "loopback ADD\nalpha ADD\nbeta ADD\n");
    check_env(1, "lo", "ADD");
    check_env(2, "eth0", "ADD");
    check_first_stdin();
    check_second_stdin();
    /* Host-side (interface 0) address dropped, IPv4 first, no interface index: kept. */
    CHECK(res.ips && res.ips[0] && res.ips[1] && res.ips[2] && !res.ips[3]);
    if (res.ips && res.ips[0] && res.ips[1] && res.ips[2]) {
        CHECK_STR(res.ips[0], "10.1.0.7");
        CHECK_STR(res.ips[1], "10.1.0.8");
        CHECK_STR(res.ips[2], "fd00::7");
    }
    CHECK_CONTAINS(res.raw_json, "192.168.1.1/24");
    char *raw = TAKE_PTR(res.raw_json);
    rt_cni_result_fini(&res);
    CHECK(res.ips == NULL);
    return raw;
}

static void test_check_del(const char *raw)
{
    crisp_error_t *err = NULL;
    struct rt_cni_request q = request();
    log_reset();
    CHECK(rt_cni_check(cni, &q, raw, &err) == 0);
    crisp_error_freep(&err);
    _cleanup_free_ char *calls = slurp("%s/calls", log_dir);
    CHECK_STR(calls, "alpha CHECK\nbeta CHECK\n");
    yajl_val c1 = stdin_of(1);
    CHECK_STR(jstr(c1, "prevResult.ips.2.address"), "10.1.0.7/16");
    yajl_tree_free(c1);
    CHECK(rt_cni_check(cni, &q, NULL, &err) < 0 && err && err->status == EINVAL);
    crisp_error_freep(&err);

    log_reset();
    q.netns = "/nonexistent/netns"; /* gone already: DEL still runs and passes it */
    CHECK(rt_cni_del(cni, &q, raw, &err) == 0);
    crisp_error_freep(&err);
    free(calls);
    calls = slurp("%s/calls", log_dir);
    CHECK_STR(calls, "beta DEL\nalpha DEL\nloopback DEL\n");
    yajl_val d1 = stdin_of(1), d3 = stdin_of(3);
    CHECK_STR(jstr(d1, "prevResult.ips.2.address"), "10.1.0.7/16");
    CHECK_STR(jstr(d1, "cniVersion"), "1.0.0");
    CHECK(d3 && jget(d3, "prevResult") == NULL);
    yajl_tree_free(d1);
    yajl_tree_free(d3);
    _cleanup_free_ char *env = slurp("%s/3.env", log_dir);
    CHECK_CONTAINS(env, "CNI_NETNS=/nonexistent/netns\n");
    CHECK_CONTAINS(env, "CNI_IFNAME=lo\n");
}

static void test_add_failure(void)
{
    crisp_error_t *err = NULL;
    struct rt_cni_request q = request();
    struct rt_cni_result res = {0};
    log_reset();
    put_in(log_dir, "fail-beta",
           "{\"cniVersion\": \"1.0.0\", \"code\": 7, \"msg\": \"bad config\", \"details\": \"no bridge\"}");
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0);
    CHECK(err && err->status == EIO);
    _cleanup_free_ char *m = err_msg(&err);
    CHECK_STR(m, "plugin beta failed (ADD): bad config: no bridge");
    CHECK(res.ips == NULL && res.raw_json == NULL);
    _cleanup_free_ char *calls = slurp("%s/calls", log_dir);
    CHECK_STR(calls, "loopback ADD\nalpha ADD\nbeta ADD\nbeta DEL\nalpha DEL\nloopback DEL\n");
    yajl_val d = stdin_of(5);
    CHECK_STR(jstr(d, "prevResult.ips.1.address"), "10.1.0.5/16"); /* alpha's result */
    yajl_tree_free(d);

    log_reset();
    put_in(log_dir, "stderr-alpha", "  something broke\nbadly\n");
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0);
    free(m);
    m = err_msg(&err);
    CHECK_STR(m, "plugin alpha failed (ADD): something broke badly");

    log_reset();
    put_in(log_dir, "big-alpha", "");
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0);
    free(m);
    m = err_msg(&err);
    CHECK_CONTAINS(m, "plugin alpha failed (ADD): output larger than");
    free(calls);
    calls = slurp("%s/calls", log_dir);
    CHECK_STR(calls, "loopback ADD\nalpha ADD\nbeta DEL\nalpha DEL\nloopback DEL\n");
    log_reset();
}

/* A plugin that exits without reading a large stdin: EPIPE for us, and no SIGPIPE kills the caller. */
static void test_unread_stdin(void)
{
    _cleanup_free_ char *pad = malloc(300001);
    memset(pad, 'x', 300000);
    pad[300000] = '\0';
    _cleanup_free_ char *list = pathf("{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": "
                                      "[{\"type\": \"alpha\", \"pad\": \"%s\"}]}",
                                      pad);
    put_in(conf_dir, "10-net.conflist", list);
    log_reset();
    put_in(log_dir, "nostdin-alpha", "");
    crisp_error_t *err = NULL;
    struct rt_cni_request q = request();
    struct rt_cni_result res = {0};
    CHECK(rt_cni_add(cni, &q, &res, &err) == 0);
    crisp_error_freep(&err);
    rt_cni_result_fini(&res);
    _cleanup_free_ char *path = pathf("%s/nostdin-alpha", log_dir);
    unlink(path);
    put_in(conf_dir, "10-net.conflist", main_list);
}

static bool process_gone(pid_t pid)
{
    _cleanup_free_ char *stat = slurp("/proc/%d/stat", (int)pid);
    const char *state = stat ? strrchr(stat, ')') : NULL;
    return !state || state[2] == 'Z'; /* a zombie waits for pid 1, not for us */
}

static void test_timeout(void)
{
    crisp_error_t *err = NULL;
    struct rt_cni_request q = request();
    struct rt_cni_result res = {0};
    log_reset();
    put_in(log_dir, "sleep-alpha", "");
    rt_cni_set_timeout(cni, 300);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(err && err->status == ETIMEDOUT);
    _cleanup_free_ char *m = err_msg(&err);
    CHECK_STR(m, "plugin alpha failed (ADD): timed out after 300 ms");
    CHECK(t1.tv_sec - t0.tv_sec < 10);
    errno = 0;
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD); /* everything reaped */
    _cleanup_free_ char *pid = slurp("%s/sleep.pid", log_dir);
    CHECK(pid && process_gone(atoi(pid))); /* the plugin's own child went with its group */
    _cleanup_free_ char *calls = slurp("%s/calls", log_dir);
    CHECK_STR(calls, "loopback ADD\nalpha ADD\nbeta DEL\nalpha DEL\nloopback DEL\n");
    rt_cni_set_timeout(cni, 0);
    log_reset();
}

static void expect_not_ready(const char *conflist, const char *want)
{
    put_in(conf_dir, "10-net.conflist", conflist);
    crisp_error_t *err = NULL;
    CHECK(rt_cni_ready(cni, &err) < 0);
    _cleanup_free_ char *m = err_msg(&err);
    CHECK_CONTAINS(m, want);
}

static void test_bad_configs(void)
{
    expect_not_ready("{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": [{\"type\": \"nosuch\"}]}",
                     "CNI plugin \"nosuch\" not found in ");
    log_reset();
    crisp_error_t *err = NULL;
    struct rt_cni_request q = request();
    struct rt_cni_result res = {0};
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0);
    _cleanup_free_ char *m = err_msg(&err);
    CHECK_CONTAINS(m, "CNI plugin \"nosuch\" not found in ");
    _cleanup_free_ char *calls = slurp("%s/calls", log_dir);
    CHECK(calls == NULL); /* nothing ran, not even loopback */
    expect_not_ready("{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": [{\"type\": \"junk\"}]}",
                     "CNI plugin \"junk\" not found"); /* not executable */
    _cleanup_free_ char *junk = pathf("%s/junk", bin2);
    chmod(junk, 0755);
    CHECK(rt_cni_ready(cni, &err) == 0);
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0);
    free(m);
    m = err_msg(&err);
    CHECK_CONTAINS(m, "plugin junk failed (ADD): spawn ");
    CHECK_CONTAINS(m, "/bin2/junk: Exec format error");
    errno = 0;
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
    expect_not_ready("{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": [{\"type\": \"../bin/sh\"}]}",
                     "invalid plugin type \"../bin/sh\"");
    expect_not_ready("{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": [{\"type\": \"a/b\"}]}",
                     "invalid plugin type");
    expect_not_ready("{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": [{\"type\": \"..\"}]}",
                     "invalid plugin type");
    expect_not_ready("{\"cniVersion\": \"0.2.0\", \"name\": \"n\", \"plugins\": [{\"type\": \"alpha\"}]}",
                     "cniVersion 0.2.0 is not supported");
    expect_not_ready("{\"cniVersion\": \"1.0.0\", \"name\": \"../n\", \"plugins\": [{\"type\": \"alpha\"}]}",
                     "invalid network name");
    _cleanup_free_ char *many = strdup(
        "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": [{\"type\": \"alpha\"}");
    for (int i = 0; i < 32; i++) {
        char *more = pathf("%s, {\"type\": \"alpha\"}", many);
        free(many);
        many = more;
    }
    char *closed = pathf("%s]}", many);
    expect_not_ready(closed, "33 plugins, at most 32 allowed");
    free(closed);
    _cleanup_free_ char *deep = calloc(1, 300);
    strcpy(deep, "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"type\": \"alpha\", \"x\": ");
    memset(deep + strlen(deep), '[', 100);
    expect_not_ready(deep, "nested too deeply");
}

static void test_missing_loopback(void)
{
    put_in(conf_dir, "10-net.conflist", main_list);
    _cleanup_free_ char *lo = pathf("%s/loopback", bin2), *moved = pathf("%s/loopback.off", bin2);
    CHECK(rename(lo, moved) == 0);
    crisp_error_t *err = NULL;
    struct rt_cni_request q = request();
    struct rt_cni_result res = {0};
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0);
    _cleanup_free_ char *m = err_msg(&err);
    CHECK_CONTAINS(m, "CNI plugin \"loopback\" not found in ");
    CHECK(rename(moved, lo) == 0);
}

/* A new file sorting first replaces the list; an edit in place is seen too. */
static void test_reload(void)
{
    put_in(conf_dir, "05-new.conf", "{\"cniVersion\": \"0.3.1\", \"name\": \"newnet\", \"type\": \"gamma\"}");
    crisp_error_t *err = NULL;
    struct rt_cni_request q = request();
    struct rt_cni_result res = {0};
    log_reset();
    CHECK(rt_cni_add(cni, &q, &res, &err) == 0);
    crisp_error_freep(&err);
    _cleanup_free_ char *calls = slurp("%s/calls", log_dir);
    CHECK_STR(calls, "loopback ADD\ngamma ADD\n");
    yajl_val lo = stdin_of(1), g = stdin_of(2);
    CHECK_STR(jstr(lo, "cniVersion"), "0.3.1");
    CHECK_STR(jstr(g, "name"), "newnet");
    CHECK_STR(jstr(g, "cniVersion"), "0.3.1");
    CHECK(g && jget(g, "runtimeConfig") == NULL);
    yajl_tree_free(lo);
    yajl_tree_free(g);
    rt_cni_result_fini(&res);
    CHECK(res.ips == NULL);
    /* 0.3.1 knows no CHECK and no prevResult on DEL. */
    log_reset();
    CHECK(rt_cni_check(cni, &q, "{}", &err) == 0);
    free(calls);
    calls = slurp("%s/calls", log_dir);
    CHECK(calls == NULL);
    CHECK(rt_cni_del(cni, &q, "{\"ips\": []}", &err) == 0);
    g = stdin_of(1);
    CHECK(g && jget(g, "prevResult") == NULL);
    yajl_tree_free(g);

    put_in(conf_dir, "05-new.conf",
           "{\"cniVersion\": \"0.4.0\", \"name\": \"newnet2\", \"type\": \"gamma\"}");
    log_reset();
    CHECK(rt_cni_add(cni, &q, &res, &err) == 0);
    g = stdin_of(2);
    CHECK_STR(jstr(g, "name"), "newnet2");
    yajl_tree_free(g);
    rt_cni_result_fini(&res);

    put_in(conf_dir, "05-new.conf",
           "{\"cniVersion\": \"0.4.0\", \"cniVersions\": [\"0.4.0\", \"1.0.0\", \"9.9.9\"],"
           " \"name\": \"newnet2\", \"type\": \"gamma\", \"disableCheck\": \"true\"}");
    log_reset();
    CHECK(rt_cni_check(cni, &q, "{}", &err) == 0);
    CHECK(rt_cni_add(cni, &q, &res, &err) == 0);
    g = stdin_of(2);
    CHECK_STR(jstr(g, "cniVersion"), "1.0.0");
    yajl_tree_free(g);
    free(calls);
    calls = slurp("%s/calls", log_dir);
    CHECK_STR(calls, "loopback ADD\ngamma ADD\n"); /* disableCheck: no CHECK ran */
    rt_cni_result_fini(&res);
    crisp_error_freep(&err);
    _cleanup_free_ char *path = pathf("%s/05-new.conf", conf_dir);
    unlink(path);
}

static void test_bad_requests(void)
{
    crisp_error_t *err = NULL;
    struct rt_cni_request q = request();
    struct rt_cni_result res = {0};
    q.container_id = "../x";
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0 && err && err->status == EINVAL);
    crisp_error_freep(&err);
    q = request();
    q.pod_name = "a;K8S_POD_NAMESPACE=evil";
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0 && err && err->status == EINVAL);
    crisp_error_freep(&err);
    q = request();
    q.ifname = "eth0/../x";
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0 && err && err->status == EINVAL);
    crisp_error_freep(&err);
    q = request();
    q.netns = NULL;
    CHECK(rt_cni_add(cni, &q, &res, &err) < 0 && err && err->status == EINVAL);
    crisp_error_freep(&err);
}

static void setup(void)
{
    if (!mkdtemp(root))
        abort();
    conf_dir = pathf("%s/conf", root);
    bin1 = pathf("%s/bin1", root);
    bin2 = pathf("%s/bin2", root);
    log_dir = pathf("%s/log", root);
    if (mkdir(conf_dir, 0755) || mkdir(bin1, 0755) || mkdir(bin2, 0755) || mkdir(log_dir, 0755))
        abort();
    const char *types[] = {"loopback", "alpha", "beta", "gamma"};
    for (size_t i = 0; i < ARRAY_SIZE(types); i++)
        fake_plugin(bin2, types[i]);
    /* bin1 comes first, but its alpha is not executable and its beta is a directory: skipped. */
    put_in(bin1, "alpha", "#!/bin/sh\nexit 3\n");
    put_in(bin2, "junk",
           "\x7f"
           "ELF not really");
    _cleanup_free_ char *dir = pathf("%s/beta", bin1);
    mkdir(dir, 0755);
    put_in(log_dir, "result-alpha", alpha_result);
    setenv("UNIT_SECRET", "leak", 1);
}

int main(void)
{
    setup();
    char *bins[] = {bin1, bin2, NULL};
    crisp_error_t *err = NULL;
    CHECK(rt_cni_new(conf_dir, bins, &cni, &err) == 0);
    test_not_ready();
    put_in(conf_dir, "10-net.conflist", main_list);
    put_in(log_dir, "result-beta", beta_result);
    _cleanup_free_ char *raw = test_add();
    test_check_del(raw);
    test_add_failure();
    test_timeout();
    test_unread_stdin();
    test_bad_requests();
    test_reload();
    test_missing_loopback();
    test_bad_configs();
    rt_cni_free(cni);
    _cleanup_free_ char *cmd = pathf("rm -rf %s", root);
    CHECK(system(cmd) == 0);
    free(conf_dir);
    free(bin1);
    free(bin2);
    free(log_dir);
    return unit_report("test_cni");
}
