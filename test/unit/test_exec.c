#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/exec.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static const char *helper;
/* The stand-in container: unshare (host pid) and its child, the container's PID 1. */
static pid_t standin_unshare, standin;
static char cgroup_dir[256], cgroup_procs[300];

static char *take_error(crisp_error_t *err, int *ret_status)
{
    if (!err)
        return NULL;
    if (ret_status)
        *ret_status = err->status;
    char *msg = strdup(err->msg);
    crisp_error_free(err);
    return msg;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static char *read_small(const char *path)
{
    char *data = NULL;
    size_t len;
    crisp_error_t *err = NULL;
    if (file_read_bounded(path, 65536, &data, &len, &err) < 0)
        crisp_error_free(err);
    return data;
}

static pid_t spawn(char *const argv[])
{
    pid_t pid;
    return posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) == 0 ? pid : -1;
}

/* The request every test starts from: run argv in the stand-in as root. */
static struct rt_exec_request request(char *const *argv)
{
    static char *cgroups[2];
    cgroups[0] = cgroup_procs;
    return (struct rt_exec_request){
        .helper = helper,
        .pid = standin,
        .cgroup_procs = cgroups,
        .argv = argv,
        .max_output = 16 << 20,
    };
}

/* rt_exec_sync that must succeed; the result's strings are never NULL. */
static struct rt_exec_result run(const struct rt_exec_request *req)
{
    struct rt_exec_result res;
    crisp_error_t *err = NULL;
    int r = rt_exec_sync(req, &res, &err);
    CHECK(r == 0);
    if (r < 0) {
        fprintf(stderr, "rt_exec_sync: %s\n", err->msg);
        crisp_error_free(err);
        res = (struct rt_exec_result){.out = strdup(""), .err_out = strdup(""), .exit_code = -2};
    }
    return res;
}

static struct rt_exec_result run_sh(const char *script)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    struct rt_exec_request req = request(argv);
    return run(&req);
}

static char *run_error(const struct rt_exec_request *req, int *ret_status)
{
    struct rt_exec_result res;
    crisp_error_t *err = NULL;
    CHECK(rt_exec_sync(req, &res, &err) < 0);
    CHECK(res.out == NULL && res.err_out == NULL);
    return take_error(err, ret_status);
}

static pid_t standin_child(void)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)standin_unshare, (int)standin_unshare);
    _cleanup_free_ char *children = read_small(path);
    return children ? (pid_t)atoi(children) : 0;
}

/* Waits until unshare has forked and its child has become sleep, in its new namespaces. */
static bool standin_start(void)
{
    char *argv[] = {"unshare", "--fork",       "--pid", "--mount", "--uts",
                    "--ipc",   "--mount-proc", "sleep", "60",      NULL};
    standin_unshare = spawn(argv);
    for (int64_t end = now_ms() + 5000; standin_unshare > 0 && now_ms() < end; sleep_ms(10)) {
        pid_t child = standin_child();
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/comm", (int)child);
        _cleanup_free_ char *comm = child > 0 ? read_small(path) : NULL;
        if (comm && strcmp(comm, "sleep\n") == 0) {
            standin = child;
            return true;
        }
    }
    return false;
}

/* Killing the namespace's PID 1 from outside makes unshare complain, so unshare goes first; its
 * child then comes to us, a subreaper, and is killed and reaped. */
static void standin_stop(void)
{
    if (standin_unshare > 0) {
        kill(standin_unshare, SIGKILL);
        waitpid(standin_unshare, NULL, 0);
    }
    if (standin > 0) {
        kill(standin, SIGKILL);
        waitpid(standin, NULL, 0);
    }
}

static bool cgroup_create(void)
{
    struct stat st;
    const char *root = stat("/sys/fs/cgroup/pids", &st) == 0 ? "/sys/fs/cgroup/pids" : "/sys/fs/cgroup";
    snprintf(cgroup_dir, sizeof(cgroup_dir), "%s/crisp-unit-exec-%d", root, (int)getpid());
    snprintf(cgroup_procs, sizeof(cgroup_procs), "%s/cgroup.procs", cgroup_dir);
    return mkdir(cgroup_dir, 0755) == 0;
}

/* The exec's processes are reaped by the time rt_exec_sync returns, but the cgroup may take a moment
 * to see them go. */
static void cgroup_remove(void)
{
    for (int i = 0; i < 100 && rmdir(cgroup_dir) < 0 && errno == EBUSY; i++)
        sleep_ms(20);
    struct stat st;
    CHECK(stat(cgroup_dir, &st) < 0 && errno == ENOENT);
}

/* How many processes run `sleep <arg>`. */
static int count_sleeps(const char *arg)
{
    char want[64];
    int want_len = snprintf(want, sizeof(want), "sleep%c%s", '\0', arg) + 1;
    _cleanup_closedir_ DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        char path[300], buf[64];
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        _cleanup_fclose_ FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "re") : NULL;
        size_t len = f ? fread(buf, 1, sizeof(buf), f) : 0;
        if (len == (size_t)want_len && memcmp(buf, want, len) == 0)
            n++;
    }
    return n;
}

static void test_output_and_status(void)
{
    struct rt_exec_result res = run_sh("echo hi; echo oops >&2; exit 7");
    CHECK_STR(res.out, "hi\n");
    CHECK_STR(res.err_out, "oops\n");
    CHECK(res.out_len == 3 && res.err_len == 5);
    CHECK(res.exit_code == 7 && !res.timed_out);
    CHECK(!res.out_truncated && !res.err_truncated);
    rt_exec_result_fini(&res);

    res = run_sh("kill -USR1 $$");
    CHECK(res.exit_code == 128 + SIGUSR1);
    rt_exec_result_fini(&res);

    res = run_sh("true");
    CHECK_STR(res.out, "");
    CHECK(res.exit_code == 0);
    rt_exec_result_fini(&res);
}

/* The command sees the stand-in's namespaces; the network namespace, which the stand-in shares with
 * us, is left as it is. */
static void test_namespaces(void)
{
    static const char *const names[] = {"uts", "ipc", "pid", "mnt", "net"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char script[64], theirs[64] = "", path[64];
        snprintf(script, sizeof(script), "readlink /proc/self/ns/%s", names[i]);
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)standin, names[i]);
        ssize_t n = readlink(path, theirs, sizeof(theirs) - 2);
        CHECK(n > 0);
        strcpy(theirs + (n > 0 ? n : 0), "\n");
        struct rt_exec_result res = run_sh(script);
        CHECK_STR(res.out, theirs);
        rt_exec_result_fini(&res);
    }
    struct rt_exec_result res = run_sh("hostname");
    CHECK_STR(res.out, "crisp-unit-exec\n");
    rt_exec_result_fini(&res);
    res = run_sh("cat /proc/1/comm");
    CHECK_STR(res.out, "sleep\n");
    rt_exec_result_fini(&res);
}

static void test_cgroup(void)
{
    struct rt_exec_result res = run_sh("cat /proc/self/cgroup");
    char want[64];
    snprintf(want, sizeof(want), "/crisp-unit-exec-%d\n", (int)getpid());
    CHECK_CONTAINS(res.out, want);
    rt_exec_result_fini(&res);
}

static void test_user_and_context(void)
{
    static const gid_t groups[] = {5, 6};
    char *argv[] = {"sh", "-c", "id -u; id -g; id -G; pwd; echo $FOO; grep NoNewPrivs /proc/self/status",
                    NULL};
    char *env[] = {"FOO=bar baz", "PATH=/usr/bin:/bin", NULL};
    struct rt_exec_request req = request(argv);
    req.uid = 1000;
    req.gid = 1001;
    req.groups = groups;
    req.n_groups = ARRAY_SIZE(groups);
    req.cwd = "/tmp";
    req.env = env;
    req.no_new_privs = true;
    struct rt_exec_result res = run(&req);
    CHECK_STR(res.out, "1000\n1001\n1001 5 6\n/tmp\nbar baz\nNoNewPrivs:\t1\n");
    rt_exec_result_fini(&res);

    /* Root without groups keeps no supplementary group and no_new_privs is off by default. */
    res = run_sh("id -u; id -G; grep NoNewPrivs /proc/self/status; pwd");
    CHECK_STR(res.out, "0\n0\nNoNewPrivs:\t0\n/\n");
    rt_exec_result_fini(&res);
}

static void test_exec_failures(void)
{
    char *missing[] = {"crisp-no-such-binary", NULL};
    struct rt_exec_request req = request(missing);
    struct rt_exec_result res = run(&req);
    CHECK(res.exit_code == 127);
    CHECK_STR(res.err_out, "exec crisp-no-such-binary: No such file or directory\n");
    rt_exec_result_fini(&res);

    /* PATH comes from the request's environment. */
    char *env[] = {"PATH=/nonexistent", NULL};
    char *sh[] = {"sh", "-c", "true", NULL};
    req = request(sh);
    req.env = env;
    res = run(&req);
    CHECK(res.exit_code == 127);
    rt_exec_result_fini(&res);

    char path[64];
    snprintf(path, sizeof(path), "/tmp/crisp-unit-exec-%d", (int)getpid());
    CHECK(file_write_replace(path, "x\n", 2, 0644, NULL) == 0);
    char *not_executable[] = {path, NULL};
    req = request(not_executable);
    res = run(&req);
    CHECK(res.exit_code == 126);
    char want[128];
    snprintf(want, sizeof(want), "exec %s: Permission denied\n", path);
    CHECK_STR(res.err_out, want);
    rt_exec_result_fini(&res);
    unlink(path);
}

static void test_setup_errors(void)
{
    char *argv[] = {"true", NULL};
    struct rt_exec_request req = request(argv);
    int status = 0;
    req.cwd = "/crisp-no-such-dir";
    _cleanup_free_ char *msg = run_error(&req, &status);
    CHECK_CONTAINS(msg, "chdir /crisp-no-such-dir: No such file or directory");
    CHECK(status == EIO);

    req = request(argv);
    req.start_time = 1;
    _cleanup_free_ char *gone = run_error(&req, &status);
    CHECK_CONTAINS(gone, "is gone");
    CHECK(status == ENOENT);

    req = request(argv);
    uint64_t start = 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)standin);
    _cleanup_free_ char *stat = read_small(path);
    CHECK(stat && sscanf(strrchr(stat, ')') + 2,
                         "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                         "%*s %*s %*s %" SCNu64,
                         &start) == 1);
    req.start_time = start;
    struct rt_exec_result res = run(&req);
    CHECK(res.exit_code == 0);
    rt_exec_result_fini(&res);

    req = request(argv);
    req.cgroup_procs = (char *[]){"/sys/fs/cgroup/crisp-no-such-cgroup/cgroup.procs", NULL};
    _cleanup_free_ char *cg = run_error(&req, &status);
    CHECK_CONTAINS(cg, "crisp-no-such-cgroup/cgroup.procs: No such file or directory");

    /* A reaped child's pid names no process. */
    pid_t dead = spawn((char *[]){"true", NULL});
    waitpid(dead, NULL, 0);
    req = request(argv);
    req.pid = dead;
    _cleanup_free_ char *nopid = run_error(&req, &status);
    CHECK_CONTAINS(nopid, "is gone");
    CHECK(status == ENOENT);

    req = request(argv);
    req.helper = "/crisp-no-such-helper";
    _cleanup_free_ char *nohelper = run_error(&req, &status);
    CHECK_CONTAINS(nohelper, "spawn /crisp-no-such-helper: No such file or directory");
}

static void test_validation(void)
{
    int status = 0;
    char *empty[] = {NULL};
    struct rt_exec_request req = request(empty);
    _cleanup_free_ char *m1 = run_error(&req, &status);
    CHECK_STR(m1, "no command to run");
    CHECK(status == EINVAL);

    _cleanup_free_ char **many = calloc(RT_EXEC_MAX_ARGS + 2, sizeof(char *));
    for (size_t i = 0; i <= RT_EXEC_MAX_ARGS; i++)
        many[i] = "x";
    req = request(many);
    _cleanup_free_ char *m2 = run_error(&req, &status);
    CHECK_CONTAINS(m2, "4097 arguments, at most 4096");
    CHECK(status == EINVAL);

    _cleanup_free_ char *long_arg = malloc(RT_EXEC_MAX_ARG_LEN + 2);
    memset(long_arg, 'a', RT_EXEC_MAX_ARG_LEN + 1);
    long_arg[RT_EXEC_MAX_ARG_LEN + 1] = '\0';
    req = request((char *[]){"echo", long_arg, NULL});
    _cleanup_free_ char *m3 = run_error(&req, &status);
    CHECK_CONTAINS(m3, "arguments 1 is longer than 131071 bytes");

    /* At the bound exactly, it runs. */
    long_arg[RT_EXEC_MAX_ARG_LEN] = '\0';
    struct rt_exec_result res = run(&req);
    CHECK(res.exit_code == 0 && res.out_len == RT_EXEC_MAX_ARG_LEN + 1);
    rt_exec_result_fini(&res);

    req = request((char *[]){"true", NULL});
    req.env = (char *[]){"NOEQUALS", NULL};
    _cleanup_free_ char *m4 = run_error(&req, &status);
    CHECK_CONTAINS(m4, "environment variables 0 is not KEY=VALUE");
}

/* The tree holds an orphan that started its own session, a background job and a foreground one. */
static void test_timeout(void)
{
    char a[32], b[32], c[32], script[256];
    snprintf(a, sizeof(a), "3%d1", (int)getpid());
    snprintf(b, sizeof(b), "3%d2", (int)getpid());
    snprintf(c, sizeof(c), "3%d3", (int)getpid());
    snprintf(script, sizeof(script), "echo started; (setsid sleep %s &); sleep %s & sleep %s; wait", a, b, c);
    char *argv[] = {"sh", "-c", script, NULL};
    struct rt_exec_request req = request(argv);
    req.timeout_ms = 500;
    int64_t start = now_ms();
    struct rt_exec_result res = run(&req);
    int64_t took = now_ms() - start;
    CHECK(res.timed_out && res.exit_code == -1);
    CHECK_STR(res.out, "started\n");
    rt_exec_result_fini(&res);
    CHECK(count_sleeps(a) == 0 && count_sleeps(b) == 0 && count_sleeps(c) == 0);
    CHECK(kill(standin, 0) == 0);
    printf("timeout of 500 ms returned after %lld ms\n", (long long)took);
}

static void test_output_bound(void)
{
    char *argv[] = {"sh", "-c", "head -c 100000 /dev/zero; head -c 5000 /dev/zero >&2; echo done >&2", NULL};
    struct rt_exec_request req = request(argv);
    req.max_output = 1000;
    struct rt_exec_result res = run(&req);
    CHECK(res.exit_code == 0);
    CHECK(res.out_len == 1000 && res.out_truncated && res.out[1000] == '\0');
    CHECK(res.err_len == 1000 && res.err_truncated);
    rt_exec_result_fini(&res);

    /* Past the first buffer sizes, under the bound: every byte, in order. */
    res = run_sh("seq 1 200000");
    CHECK(res.out_len == 1288895 && !res.out_truncated);
    CHECK(res.out_len > 7 && memcmp(res.out + res.out_len - 7, "200000\n", 7) == 0);
    rt_exec_result_fini(&res);
}

/* A process the command leaves behind stays in the container, as after `docker exec`; while it holds
 * the output pipe open, rt_exec_sync waits RT_SPAWN_DRAIN_MS for it, then returns. */
static void test_leftover(void)
{
    char arg[32], script[128];
    snprintf(arg, sizeof(arg), "3%d4", (int)getpid());
    snprintf(script, sizeof(script), "sleep %s & echo done", arg);
    struct rt_exec_result res = run_sh(script);
    CHECK(res.exit_code == 0 && !res.timed_out);
    CHECK_STR(res.out, "done\n");
    rt_exec_result_fini(&res);
    CHECK(count_sleeps(arg) == 1);
}

/* A target in our own namespaces: nothing to join, the command runs as on the host. */
static void test_host_namespaces(void)
{
    pid_t sleeper = spawn((char *[]){"sleep", "60", NULL});
    char *argv[] = {"sh", "-c", "cat /proc/1/comm; readlink /proc/self/ns/mnt", NULL};
    struct rt_exec_request req = request(argv);
    req.pid = sleeper;
    struct rt_exec_result res = run(&req);
    char want[128] = "", mnt[64] = "";
    _cleanup_free_ char *init = read_small("/proc/1/comm");
    ssize_t n = readlink("/proc/self/ns/mnt", mnt, sizeof(mnt) - 1);
    snprintf(want, sizeof(want), "%s%.*s\n", init ? init : "", (int)(n > 0 ? n : 0), mnt);
    CHECK_STR(res.out, want);
    rt_exec_result_fini(&res);
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
}

/* Stand-ins for crisp-exec that die by a signal, or ignore SIGTERM and must be SIGKILLed. */
static void test_helper_misbehaving(void)
{
    char path[64], *argv[] = {"true", NULL};
    snprintf(path, sizeof(path), "/tmp/crisp-unit-exec-helper-%d", (int)getpid());
    struct rt_exec_request req = request(argv);
    req.helper = path;
    int status = 0;
    CHECK(file_write_replace(path, "#!/bin/sh\nkill -KILL $$\n", 24, 0755, NULL) == 0);
    _cleanup_free_ char *msg = run_error(&req, &status);
    CHECK_STR(msg, "crisp-exec was killed by signal 9");

    static const char stubborn[] = "#!/bin/sh\ntrap '' TERM INT\necho stubborn\nwhile :; do :; done\n";
    CHECK(file_write_replace(path, stubborn, strlen(stubborn), 0755, NULL) == 0);
    req.timeout_ms = 200;
    struct rt_exec_result res = run(&req);
    CHECK(res.timed_out && res.exit_code == -1);
    CHECK_STR(res.out, "stubborn\n");
    rt_exec_result_fini(&res);
    unlink(path);
}

static int cmp_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_latency(void)
{
    enum { N = 50 };
    int64_t us[N];
    char *argv[] = {"true", NULL};
    struct rt_exec_request req = request(argv);
    for (int i = 0; i < N; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        struct rt_exec_result res = run(&req);
        clock_gettime(CLOCK_MONOTONIC, &b);
        CHECK(res.exit_code == 0);
        rt_exec_result_fini(&res);
        us[i] = (b.tv_sec - a.tv_sec) * 1000000 + (b.tv_nsec - a.tv_nsec) / 1000;
    }
    qsort(us, N, sizeof(us[0]), cmp_int64);
    printf("rt_exec_sync of true: median %lld us, min %lld us, max %lld us (%d runs)\n", (long long)us[N / 2],
           (long long)us[0], (long long)us[N - 1], N);
}

int main(void)
{
    helper = getenv("CRISP_EXEC") ? getenv("CRISP_EXEC") : "build/crisp-exec";
    if (geteuid() != 0) {
        printf("test_exec: needs root, skipped\n");
        return unit_report("test_exec");
    }
    /* Whatever the tests leave behind is reparented to us, and found below. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    bool ok = standin_start();
    CHECK(ok);
    CHECK(cgroup_create());
    char hostname_cmd[128];
    snprintf(hostname_cmd, sizeof(hostname_cmd), "nsenter --target %d --uts hostname crisp-unit-exec",
             (int)standin);
    CHECK(ok && system(hostname_cmd) == 0);
    if (ok) {
        test_output_and_status();
        test_namespaces();
        test_cgroup();
        test_user_and_context();
        test_exec_failures();
        test_setup_errors();
        test_validation();
        test_timeout();
        test_output_bound();
        test_leftover();
        test_host_namespaces();
        test_helper_misbehaving();
        bench_latency();
    }
    standin_stop();
    cgroup_remove();
    char arg[32];
    snprintf(arg, sizeof(arg), "3%d4", (int)getpid());
    CHECK(count_sleeps(arg) == 0);
    CHECK(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
    return unit_report("test_exec");
}
