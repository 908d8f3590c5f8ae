/* The credential drop crisp-monitor and crisp-exec share (helpers/lib/cred.h), run in a forked child
 * (as root) that reports its /proc/self/status and whether a filtered syscall still works. */
#define _GNU_SOURCE
#include "helpers/lib/cred.h"
#include "helpers/lib/helper_error.h"
#include "helpers/lib/seccomp_load.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CAP(c) (1ULL << (c))

static char dir[] = "/tmp/crisp-test-cred-XXXXXX";
static char bpf_path[64];
static uint64_t host_bounding;

enum phases { ONE_CALL, TWO_PHASES };

/* "Name:\tvalue\n" of a status text, into buf ("" when absent), trailing blanks dropped. */
static const char *status_field(const char *text, const char *name, char *buf, size_t size)
{
    char key[64];
    snprintf(key, sizeof(key), "\n%s:", name);
    const char *p = strstr(text, key);
    buf[0] = '\0';
    if (!p)
        return buf;
    p += strlen(key);
    p += strspn(p, "\t ");
    size_t len = strcspn(p, "\n");
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    snprintf(buf, size, "%.*s", (int)len, p);
    return buf;
}

static uint64_t status_caps(const char *text, const char *name)
{
    char buf[64];
    return strtoull(status_field(text, name, buf, sizeof(buf)), NULL, 16);
}

/* EPERM for getpgid, everything else allowed. */
static int filter_write(void)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpgid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    int fd = open(bpf_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, insns, sizeof(insns));
    close(fd);
    return n == (ssize_t)sizeof(insns) ? 0 : -1;
}

static size_t status_append(char *buf, size_t len, size_t size)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n;
    while (fd >= 0 && len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    if (fd >= 0)
        close(fd);
    buf[len] = '\0';
    return len;
}

/* In the child: fields as in the status, which follows them: rc (and the error), the Seccomp mode
 * between the two phases (mid), getpgid's errno. */
static _Noreturn void child_run(int fd, const struct hl_cred *c, enum phases phases)
{
    char buf[8192], mid[64] = "";
    int r;
    if (phases == TWO_PHASES) {
        r = hl_cred_drop(c);
        status_append(buf, 0, sizeof(buf));
        status_field(buf, "Seccomp", mid, sizeof(mid));
        if (r == 0)
            r = hl_cred_seccomp_last(c);
    } else {
        r = hl_cred_apply(c);
    }
    long pg = syscall(SYS_getpgid, 0);
    int pg_errno = pg < 0 ? errno : 0;
    int n = snprintf(buf, sizeof(buf), "\nrc:\t%d %s\nmid:\t%s\ngetpgid:\t%d\n", r, r < 0 ? hl_error() : "",
                     mid, pg_errno);
    size_t len = status_append(buf, (size_t)n, sizeof(buf));
    ssize_t w = write(fd, buf, len);
    _exit(w == (ssize_t)len ? 0 : 1);
}

/* The child's report in out (NUL-terminated); -1 when it did not exit 0. */
static int cred_run(const struct hl_cred *c, enum phases phases, char *out, size_t size)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        child_run(p[1], c, phases);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(p[0], out + len, size - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(p[0]);
    int status = -1;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The status as the child reported it, or NULL (counted as a failure) when it could not. */
static const char *run(const struct hl_cred *c, enum phases phases)
{
    static char out[16384];
    if (cred_run(c, phases, out, sizeof(out)) < 0) {
        CHECK(!"the child reported");
        return NULL;
    }
    return out;
}

static int report_int(const char *out, const char *name)
{
    char buf[128];
    return *status_field(out, name, buf, sizeof(buf)) ? atoi(buf) : -1000;
}

static void test_nonroot_with_ambient(void)
{
    const gid_t groups[] = {10, 20};
    uint64_t mask = (CAP(CAP_CHOWN) | CAP(CAP_KILL) | CAP(CAP_NET_BIND_SERVICE) | CAP(CAP_SETPCAP)) &
                    host_bounding;
    uint64_t ambient = CAP(CAP_NET_BIND_SERVICE);
    struct hl_cred c = {.uid = 1000,
                        .gid = 1001,
                        .groups = groups,
                        .n_groups = 2,
                        .has_caps = true,
                        .caps = mask,
                        .ambient = ambient};
    const char *out = run(&c, ONE_CALL);
    char buf[128];
    if (!out)
        return;
    CHECK(report_int(out, "rc") == 0);
    CHECK_STR(status_field(out, "Uid", buf, sizeof(buf)), "1000\t1000\t1000\t1000");
    CHECK_STR(status_field(out, "Gid", buf, sizeof(buf)), "1001\t1001\t1001\t1001");
    CHECK_STR(status_field(out, "Groups", buf, sizeof(buf)), "10 20");
    CHECK(status_caps(out, "CapBnd") == mask);
    CHECK(status_caps(out, "CapPrm") == ambient);
    CHECK(status_caps(out, "CapEff") == ambient);
    CHECK(status_caps(out, "CapInh") == ambient);
    CHECK(status_caps(out, "CapAmb") == ambient);
    CHECK_STR(status_field(out, "NoNewPrivs", buf, sizeof(buf)), "0");
    CHECK_STR(status_field(out, "Seccomp", buf, sizeof(buf)), "0");
    CHECK(report_int(out, "getpgid") == 0);
}

static void test_root_caps_no_new_privs(void)
{
    uint64_t mask = (CAP(CAP_CHOWN) | CAP(CAP_DAC_OVERRIDE) | CAP(CAP_SYS_ADMIN)) & host_bounding;
    struct hl_cred c = {.has_caps = true, .caps = mask, .no_new_privs = true};
    const char *out = run(&c, ONE_CALL);
    char buf[128];
    if (!out)
        return;
    CHECK(report_int(out, "rc") == 0);
    CHECK_STR(status_field(out, "Uid", buf, sizeof(buf)), "0\t0\t0\t0");
    CHECK_STR(status_field(out, "Groups", buf, sizeof(buf)), "");
    CHECK(status_caps(out, "CapBnd") == mask);
    CHECK(status_caps(out, "CapPrm") == mask);
    CHECK(status_caps(out, "CapEff") == mask);
    CHECK(status_caps(out, "CapAmb") == 0);
    CHECK_STR(status_field(out, "NoNewPrivs", buf, sizeof(buf)), "1");
}

/* Without a capability set the kernel's uid change alone decides: a non-root uid keeps nothing. */
static void test_nonroot_caps_inherited(void)
{
    struct hl_cred c = {.uid = 65534, .gid = 65534, .no_new_privs = true};
    const char *out = run(&c, ONE_CALL);
    char buf[128];
    if (!out)
        return;
    CHECK(report_int(out, "rc") == 0);
    CHECK_STR(status_field(out, "Uid", buf, sizeof(buf)), "65534\t65534\t65534\t65534");
    CHECK(status_caps(out, "CapBnd") == host_bounding);
    CHECK(status_caps(out, "CapPrm") == 0 && status_caps(out, "CapEff") == 0);
    CHECK_STR(status_field(out, "NoNewPrivs", buf, sizeof(buf)), "1");
}

/* Without no_new_privs the filter must go in before setuid gives up CAP_SYS_ADMIN (EACCES after);
 * with it, after everything else: between the two phases there is none yet. */
static void test_seccomp(bool no_new_privs, enum phases phases)
{
    struct hl_cred c = {.uid = 1000,
                        .gid = 1000,
                        .has_caps = true,
                        .caps = CAP(CAP_KILL) & host_bounding,
                        .no_new_privs = no_new_privs};
    if (hl_seccomp_read(bpf_path, &c.seccomp) < 0) {
        fprintf(stderr, "%s\n", hl_error());
        CHECK(!"read the filter");
        return;
    }
    CHECK(c.seccomp.len == 4);
    const char *out = run(&c, phases);
    hl_cred_fini(&c);
    CHECK(c.seccomp.len == 0 && c.seccomp.filter == NULL);
    char buf[128];
    if (!out)
        return;
    CHECK(report_int(out, "rc") == 0);
    CHECK_STR(status_field(out, "Seccomp", buf, sizeof(buf)), "2");
    CHECK_STR(status_field(out, "NoNewPrivs", buf, sizeof(buf)), no_new_privs ? "1" : "0");
    CHECK_STR(status_field(out, "Uid", buf, sizeof(buf)), "1000\t1000\t1000\t1000");
    CHECK(report_int(out, "getpgid") == EPERM);
    if (phases == TWO_PHASES)
        CHECK_STR(status_field(out, "mid", buf, sizeof(buf)), no_new_privs ? "0" : "2");
}

/* A failing step reports through hl_error, and the sequence stops there. */
static void test_failures(void)
{
    struct hl_cred c = {.uid = 1000, .gid = 1000, .no_new_privs = true, .seccomp_flags = 0x80};
    hl_seccomp_read(bpf_path, &c.seccomp);
    const char *out = run(&c, ONE_CALL);
    hl_cred_fini(&c);
    char buf[128];
    CHECK_STR(out ? status_field(out, "rc", buf, sizeof(buf)) : NULL,
              "-1 load the seccomp filter: Invalid argument");
    CHECK(out && report_int(out, "getpgid") == 0);

    struct sock_fprog prog;
    CHECK(hl_seccomp_read("/nonexistent/seccomp.bpf", &prog) < 0 && errno == ENOENT);
    CHECK_STR(hl_error(), "read seccomp filter /nonexistent/seccomp.bpf: No such file or directory");
    char odd[80];
    snprintf(odd, sizeof(odd), "%s/odd", dir);
    int fd = open(odd, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && write(fd, "12345", 5) == 5);
    close(fd);
    CHECK(hl_seccomp_read(odd, &prog) < 0 && errno == EINVAL);
    CHECK_CONTAINS(hl_error(), "/odd: Invalid argument");
    unlink(odd);
}

static uint64_t bounding_read(void)
{
    char buf[8192];
    status_append(buf, 0, sizeof(buf));
    return status_caps(buf, "CapBnd");
}

int main(void)
{
    if (geteuid() != 0) {
        printf("test_helper_cred: skipped (needs root)\n");
        return unit_report("test_helper_cred");
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(bpf_path, sizeof(bpf_path), "%s/filter.bpf", dir);
    host_bounding = bounding_read();
    CHECK(filter_write() == 0);
    test_nonroot_with_ambient();
    test_root_caps_no_new_privs();
    test_nonroot_caps_inherited();
    test_seccomp(true, ONE_CALL);
    test_seccomp(false, ONE_CALL);
    test_seccomp(true, TWO_PHASES);
    test_seccomp(false, TWO_PHASES);
    test_failures();
    unlink(bpf_path);
    rmdir(dir);
    return unit_report("test_helper_cred");
}
