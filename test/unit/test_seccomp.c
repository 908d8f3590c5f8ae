#define _GNU_SOURCE
#include "common/cleanup.h"
#include "helpers/lib/seccomp_load.h"
#include "runtime/caps.h"
#include "runtime/seccomp/seccomp.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAPBIT(c) (1ULL << (c))

static char bpf_path[64];

/* The compile error's message (caller frees), or NULL when it compiled. */
static char *json_error(const char *json, int *ret_status)
{
    struct rt_seccomp_filter f;
    crisp_error_t *err = NULL;
    if (rt_seccomp_compile_json(json, strlen(json), 0, &f, &err) == 0) {
        rt_seccomp_filter_fini(&f);
        return NULL;
    }
    char *msg = strdup(err->msg);
    if (ret_status)
        *ret_status = err->status;
    crisp_error_free(err);
    return msg;
}

static void check_error(const char *json, const char *want)
{
    int status = 0;
    _cleanup_free_ char *msg = json_error(json, &status);
    CHECK_CONTAINS(msg, want);
    CHECK(status == EINVAL);
}

static int compile(const char *json, uint64_t caps, struct rt_seccomp_filter *f)
{
    crisp_error_t *err = NULL;
    int r = json ? rt_seccomp_compile_json(json, strlen(json), caps, f, &err)
                 : rt_seccomp_compile_default(caps, f, &err);
    if (r < 0) {
        fprintf(stderr, "compile: %s\n", err->msg);
        crisp_error_free(err);
    }
    return r;
}

/* Runs body in a child under the filter (through the helpers' loader and a file, as crisp-monitor
 * will) and returns its wait status. body returns what the child exits with. */
static int run_filtered(const struct rt_seccomp_filter *f, int (*body)(void))
{
    crisp_error_t *err = NULL;
    if (rt_seccomp_filter_write(f, bpf_path, &err) < 0) {
        fprintf(stderr, "write: %s\n", err->msg);
        crisp_error_free(err);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || hl_seccomp_load_file(bpf_path, f->flags) < 0)
            _exit(200);
        /* Raw exit_group: no exit handlers (a sanitizer's leak check) making syscalls the filter denies. */
        syscall(SYS_exit_group, body());
    }
    int status = -1;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* Compiles and runs; the child's exit code, or -1 when it didn't exit normally. */
static int run_profile(const char *json, uint64_t caps, int (*body)(void))
{
    struct rt_seccomp_filter f;
    if (compile(json, caps, &f) < 0)
        return -1;
    int status = run_filtered(&f, body);
    rt_seccomp_filter_fini(&f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int errno_of(long r)
{
    return r < 0 ? errno : 0;
}

static int do_mkdir(void)
{
    return errno_of(mkdir("/", 0700)); /* EEXIST when allowed: nothing is created */
}

static int do_getpid(void)
{
    return syscall(SYS_getpid) > 0 ? 0 : 1;
}

static int do_getcwd(void)
{
    char buf[256];
    return errno_of(syscall(SYS_getcwd, buf, sizeof(buf)));
}

static int do_unshare_ns(void)
{
    return errno_of(unshare(CLONE_NEWNS));
}

static int do_clone3(void)
{
    return errno_of(syscall(SYS_clone3, NULL, 0));
}

static int do_write(void)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    return fd >= 0 && write(fd, "x", 1) == 1 ? 0 : 1;
}

static int do_vsock(void)
{
    return errno_of(socket(40 /* AF_VSOCK */, SOCK_STREAM, 0));
}

static int do_unix_socket(void)
{
    return errno_of(socket(AF_UNIX, SOCK_STREAM, 0));
}

static int do_personality_query(void)
{
    return errno_of(personality(0xffffffff));
}

static int do_personality_norandom(void)
{
    return errno_of(personality(ADDR_NO_RANDOMIZE));
}

static int do_getppid(void)
{
    syscall(SYS_getppid);
    return 0;
}

static int do_x32_getpid(void)
{
    return errno_of(syscall(0x40000000 | SYS_getpid));
}

static int do_getpgrp(void)
{
    return errno_of(syscall(SYS_getpgrp));
}

static int do_exec_sh(void)
{
    execl("/bin/sh", "sh", "-c", "cat /dev/null && exit 7", (char *)NULL);
    return 100 + errno;
}

static const char deny_mkdir[] =
    "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdirat\",\"mkdir\"],"
    "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38}]}";

static void test_localhost_enforced(void)
{
    CHECK(run_profile(deny_mkdir, 0, do_mkdir) == 38);
    CHECK(run_profile(deny_mkdir, 0, do_getpid) == 0);
    /* Unknown names are skipped; "name" is the older single form. */
    CHECK(
        run_profile(
            "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"no_such_call\",\"mkdir\","
            "\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\"},{\"name\":\"getcwd\",\"action\":\"SCMP_ACT_ERRNO\","
            "\"errnoRet\":5}]}",
            0, do_mkdir) == EPERM);
    CHECK(run_profile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"name\":\"getcwd\","
                      "\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":5}]}",
                      0, do_getcwd) == EIO);
    /* An errno default action: only what is listed works. */
    CHECK(
        run_profile("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":13,\"syscalls\":[{\"names\":["
                    "\"getpid\",\"exit_group\",\"exit\"],\"action\":\"SCMP_ACT_ALLOW\"}]}",
                    0, do_getcwd) == EACCES);
}

static void test_arg_conditions(void)
{
    static const char json[] =
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"personality\"],\"action\":"
        "\"SCMP_ACT_ERRNO\",\"errnoRet\":13,\"args\":[{\"index\":0,\"value\":262144,\"op\":\"SCMP_CMP_EQ\"}]}]}";
    CHECK(run_profile(json, 0, do_personality_norandom) == EACCES);
    CHECK(run_profile(json, 0, do_personality_query) == 0);
    /* Two conditions on one argument are alternatives (runc's reading): either value is denied. */
    static const char two[] =
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"personality\"],\"action\":"
        "\"SCMP_ACT_ERRNO\",\"errnoRet\":13,\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_EQ\"},"
        "{\"index\":0,\"value\":262144,\"op\":\"SCMP_CMP_EQ\"}]}]}";
    CHECK(run_profile(two, 0, do_personality_norandom) == EACCES);
    CHECK(run_profile(two, 0, do_personality_query) == 0);
    /* MASKED_EQ: value is the mask, valueTwo what the masked argument must equal. */
    static const char masked[] =
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"unshare\"],\"action\":"
        "\"SCMP_ACT_ERRNO\",\"errnoRet\":13,\"args\":[{\"index\":0,\"value\":131072,\"valueTwo\":131072,"
        "\"op\":\"SCMP_CMP_MASKED_EQ\"}]}]}";
    CHECK(run_profile(masked, 0, do_unshare_ns) == EACCES);
}

static void test_caps_conditions(void)
{
    static const char json[] =
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
        "{\"names\":[\"mkdir\",\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\",\"excludes\":{\"caps\":[\"CAP_SYS_ADMIN\"]}},"
        "{\"names\":[\"getcwd\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":5,"
        "\"includes\":{\"caps\":[\"CAP_NET_ADMIN\",\"NET_RAW\"]}},"
        "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_KILL\",\"includes\":{\"arches\":[\"s390x\"]}},"
        "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"includes\":{\"minKernel\":\"99.0\"}},"
        "{\"names\":[\"getpgrp\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":5,\"includes\":{\"minKernel\":\"4.8.1\"}}]}";
    CHECK(run_profile(json, 0, do_mkdir) == EPERM);
    CHECK(run_profile(json, CAPBIT(CAP_SYS_ADMIN), do_mkdir) == EEXIST);
    CHECK(run_profile(json, CAPBIT(CAP_NET_ADMIN), do_getcwd) == 0);
    CHECK(run_profile(json, CAPBIT(CAP_NET_ADMIN) | CAPBIT(CAP_NET_RAW), do_getcwd) == EIO);
    CHECK(run_profile(json, 0, do_getpid) == 0);    /* the rule is for s390x only */
    CHECK(run_profile(json, 0, do_getppid) == 0);   /* and that one for kernels we don't run */
    CHECK(run_profile(json, 0, do_getpgrp) == EIO); /* while this one's kernels include ours */
}

static void test_kill_process(void)
{
    struct rt_seccomp_filter f;
    CHECK(compile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getppid\"],"
                  "\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}",
                  0, &f) == 0);
    int status = run_filtered(&f, do_getppid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
    rt_seccomp_filter_fini(&f);
}

static void test_flags(void)
{
    struct rt_seccomp_filter f;
    CHECK(compile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_LOG\","
                  "\"SECCOMP_FILTER_FLAG_TSYNC\",\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"],\"syscalls\":[]}",
                  0, &f) == 0);
    CHECK(f.flags == (SECCOMP_FILTER_FLAG_LOG | SECCOMP_FILTER_FLAG_SPEC_ALLOW));
    int status = run_filtered(&f, do_getpid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    rt_seccomp_filter_fini(&f);
}

static void test_arches(void)
{
    struct rt_seccomp_filter native, mapped, listed;
    CHECK(compile(deny_mkdir, 0, &native) == 0);
    CHECK(
        compile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"archMap\":[{\"architecture\":\"SCMP_ARCH_AARCH64\","
                "\"subArchitectures\":[\"SCMP_ARCH_ARM\"]},{\"architecture\":\"SCMP_ARCH_X86_64\","
                "\"subArchitectures\":[\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\"]},{\"architecture\":"
                "\"SCMP_ARCH_RISCV64\",\"subArchitectures\":null}],\"syscalls\":[{\"names\":[\"mkdirat\","
                "\"mkdir\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":38}]}",
                0, &mapped) == 0);
    /* An architecture libseccomp doesn't know is left out, like an unknown syscall. */
    CHECK(compile("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\","
                  "\"SCMP_ARCH_X86\",\"SCMP_ARCH_NOSUCH\"],\"syscalls\":[]}",
                  0, &listed) == 0);
#ifdef __x86_64__
    CHECK(mapped.len > native.len); /* x86 and x32 checks added */
#endif
    int status = run_filtered(&mapped, do_mkdir);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 38);
    rt_seccomp_filter_fini(&native);
    rt_seccomp_filter_fini(&mapped);
    rt_seccomp_filter_fini(&listed);
}

static void test_parse_errors(void)
{
    check_error("{\"defaultAction\":", "invalid JSON");
    check_error("[1]", "expected a JSON object");
    check_error("{\"syscalls\":[]}", "defaultAction: missing");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":["
        "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
        "{\"names\":[\"open\"],\"action\":\"SCMP_ACT_LOG\"},{\"names\":[\"close\"],\"action\":\"SCMP_ACT_FOO\"}]}",
        "syscalls[3].action: unknown action \"SCMP_ACT_FOO\"");
    check_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
                "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_SORTA\"}]}]}",
                "syscalls[0].args[0].op: unknown operator \"SCMP_CMP_SORTA\"");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
        "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"op\":\"SCMP_CMP_EQ\"},{\"index\":1,\"op\":\"SCMP_CMP_EQ\"},"
        "{\"index\":2,\"op\":\"SCMP_CMP_EQ\"},{\"index\":3,\"op\":\"SCMP_CMP_EQ\"},{\"index\":4,\"op\":"
        "\"SCMP_CMP_EQ\"},{\"index\":5,\"op\":\"SCMP_CMP_EQ\"},{\"index\":5,\"op\":\"SCMP_CMP_NE\"}]}]}",
        "syscalls[0].args: 7 conditions, at most 6");
    check_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
                "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":6,\"op\":\"SCMP_CMP_EQ\"}]}]}",
                "syscalls[0].args[0].index: 6 is not an integer in 0..5");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":\"read\",\"action\":\"SCMP_ACT_ERRNO\"}]}",
        "syscalls[0].names: expected an array");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\",7],\"action\":\"SCMP_ACT_ERRNO\"}]}",
        "syscalls[0].names[1]: expected a string");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
        "\"errnoRet\":\"EPERM\"}]}",
        "syscalls[0].errnoRet: expected a number");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
        "\"errnoRet\":-1}]}",
        "syscalls[0].errnoRet: -1 is not an integer in 0..4095");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\","
        "\"errnoRet\":1}]}",
        "syscalls[0].errnoRet: SCMP_ACT_ALLOW takes no errnoRet");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
        "\"includes\":{\"caps\":[\"CAP_SYS_WIZARD\"]}}]}",
        "syscalls[0].includes.caps[0]: unknown capability \"CAP_SYS_WIZARD\"");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
        "syscalls[0].action: SCMP_ACT_NOTIFY is not supported");
    check_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"listenerPath\":\"/run/agent.sock\"}",
                "not supported");
    check_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_NEW_LISTENER\"]}",
                "flags[0]: unsupported flag \"SECCOMP_FILTER_FLAG_NEW_LISTENER\"");
    check_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"x86_64\"]}",
                "architectures[0]: unknown architecture \"x86_64\"");
    check_error(
        "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ERRNO\","
        "\"excludes\":{\"minKernel\":\"four\"}}]}",
        "syscalls[0].excludes.minKernel: \"four\" is not a kernel version");
    check_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"action\":\"SCMP_ACT_ERRNO\"}]}",
                "syscalls[0]: no names");
    check_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":{}}", "syscalls: expected an array");
    check_error("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
                "nested");
    /* A full 64-bit argument value is no error. */
    CHECK(
        json_error(
            "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],\"action\":"
            "\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,\"value\":18446744073709551615,\"op\":\"SCMP_CMP_EQ\"}]}]}",
            NULL) == NULL);
}

static void test_file(void)
{
    char path[] = "/tmp/crisp-seccomp-profile-XXXXXX";
    int fd = mkstemp(path);
    const char bad[] = "{\"defaultAction\":\"SCMP_ACT_DENY\"}";
    CHECK(fd >= 0 && write(fd, bad, sizeof(bad) - 1) == (ssize_t)(sizeof(bad) - 1));
    close(fd);
    struct rt_seccomp_filter f;
    crisp_error_t *err = NULL;
    CHECK(rt_seccomp_compile_file(path, 0, &f, &err) < 0);
    CHECK_CONTAINS(err ? err->msg : NULL, path);
    CHECK_CONTAINS(err ? err->msg : NULL, "defaultAction: unknown action \"SCMP_ACT_DENY\"");
    crisp_error_freep(&err);
    unlink(path);
    CHECK(rt_seccomp_compile_file(path, 0, &f, &err) < 0);
    CHECK(err && err->status == ENOENT);
    CHECK_CONTAINS(err ? err->msg : NULL, path);
    crisp_error_freep(&err);
}

static uint64_t docker_default_caps(void)
{
    uint64_t mask = 0;
    crisp_error_t *err = NULL;
    if (rt_caps_mask(NULL, 0, NULL, 0, false, &mask, &err) < 0)
        crisp_error_free(err);
    return mask;
}

static void test_runtime_default(void)
{
    uint64_t caps = docker_default_caps(), admin = caps | CAPBIT(CAP_SYS_ADMIN);
    CHECK(!(caps & CAPBIT(CAP_SYS_ADMIN)));
    CHECK(run_profile(NULL, caps, do_unshare_ns) == EPERM);
    CHECK(run_profile(NULL, admin, do_unshare_ns) == 0);
    CHECK(run_profile(NULL, caps, do_clone3) == ENOSYS);
    CHECK(run_profile(NULL, admin, do_clone3) != ENOSYS);
    CHECK(run_profile(NULL, caps, do_getpid) == 0);
    CHECK(run_profile(NULL, caps, do_write) == 0);
    CHECK(run_profile(NULL, caps, do_vsock) == EPERM);
    CHECK(run_profile(NULL, caps, do_unix_socket) == 0);
    CHECK(run_profile(NULL, caps, do_personality_query) == 0);
    CHECK(run_profile(NULL, caps, do_personality_norandom) == EPERM);
    CHECK(run_profile(NULL, caps, do_mkdir) == EEXIST);
#ifdef __x86_64__
    /* x32 is left out of the filter: its syscalls kill. */
    struct rt_seccomp_filter f;
    CHECK(compile(NULL, caps, &f) == 0);
    int status = run_filtered(&f, do_x32_getpid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS);
    rt_seccomp_filter_fini(&f);
#endif
    /* A real program, dynamically linked, forking a child of its own. */
    CHECK(run_profile(NULL, caps, do_exec_sh) == 7);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Printed, not asserted: tests never assert timings. Each uncached compile asks for capabilities the
 * profile looks at in a combination not asked for before. */
static void measure_default(void)
{
    static const int extra[] = {CAP_SYS_BOOT, CAP_SYS_MODULE, CAP_SYS_PACCT, CAP_SYS_RAWIO, CAP_SYS_TIME};
    enum { UNCACHED = 20, CACHED = 200 };
    uint64_t caps = docker_default_caps();
    struct rt_seccomp_filter f = {0};
    double t0 = now_ms();
    for (int i = 0; i < UNCACHED; i++) {
        uint64_t mask = caps;
        for (size_t b = 0; b < ARRAY_SIZE(extra); b++)
            mask |= (i + 1) & (1 << b) ? CAPBIT(extra[b]) : 0;
        rt_seccomp_filter_fini(&f);
        if (compile(NULL, mask, &f) < 0)
            return;
    }
    double t1 = now_ms();
    for (int i = 0; i < CACHED; i++) {
        rt_seccomp_filter_fini(&f);
        if (compile(NULL, caps, &f) < 0)
            return;
    }
    printf("RuntimeDefault compile: %.2f ms uncached (mean of %d), %.4f ms cached (mean of %d), %zu BPF "
           "instructions\n",
           (t1 - t0) / UNCACHED, UNCACHED, (now_ms() - t1) / CACHED, CACHED,
           f.len / sizeof(struct sock_filter));
    rt_seccomp_filter_fini(&f);
}

static void test_default_cache(void)
{
    uint64_t caps = docker_default_caps();
    struct rt_seccomp_filter a, b, c, admin;
    CHECK(compile(NULL, caps, &a) == 0);
    CHECK(compile(NULL, caps, &b) == 0);
    /* A capability no rule looks at shares the filter. */
    CHECK(compile(NULL, caps | CAPBIT(CAP_NET_ADMIN), &c) == 0);
    CHECK(compile(NULL, caps | CAPBIT(CAP_SYS_ADMIN), &admin) == 0);
    CHECK(a.bpf != b.bpf && a.len == b.len && memcmp(a.bpf, b.bpf, a.len) == 0);
    CHECK(a.len == c.len && memcmp(a.bpf, c.bpf, a.len) == 0);
    CHECK(a.len != admin.len || memcmp(a.bpf, admin.bpf, a.len) != 0);
    rt_seccomp_filter_fini(&a);
    rt_seccomp_filter_fini(&b);
    rt_seccomp_filter_fini(&c);
    rt_seccomp_filter_fini(&admin);
}

int main(void)
{
    snprintf(bpf_path, sizeof(bpf_path), "/tmp/crisp-seccomp-test-%d.bpf", (int)getpid());
    test_parse_errors();
    test_file();
    test_localhost_enforced();
    test_arg_conditions();
    test_caps_conditions();
    test_kill_process();
    test_flags();
    test_arches();
    measure_default();
    test_runtime_default();
    test_default_cache();
    unlink(bpf_path);
    return unit_report("test_seccomp");
}
