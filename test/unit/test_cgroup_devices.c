/* Device rules and the cgroup v2 device filter: parsing, the program's shape, and real enforcement
 * in a cgroup of our own under the v2 hierarchy when the machine has one (hybrid hosts mount it at
 * /sys/fs/cgroup/unified). */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/error.h"
#include "runtime/cgroup/cgroup_devices.h"
#include "test/unit/unit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_parse(void)
{
    struct rt_device_rule r;
    crisp_error_t *err = NULL;
    CHECK(rt_device_rule_parse("c 1:3 rwm", &r, &err) == 0 && r.type == 'c' && r.major == 1 && r.minor == 3 &&
          r.access == (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE));
    CHECK(rt_device_rule_parse("b *:* m", &r, &err) == 0 && r.type == 'b' && r.major == -1 && r.minor == -1 &&
          r.access == BPF_DEVCG_ACC_MKNOD);
    CHECK(rt_device_rule_parse("c 136:* rw", &r, &err) == 0 && r.major == 136 && r.minor == -1);
    CHECK(rt_device_rule_parse("a", &r, &err) == 0 && r.type == 'a' && r.access == 7);
    static const char *const bad[] = {"x 1:3 rwm", "c 1:3 rwx", "c 1 rwm", "", "c a:b rwm"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(rt_device_rule_parse(bad[i], &r, &err) < 0 && err && err->status == EINVAL);
        crisp_error_free(err);
        err = NULL;
    }
}

static void test_program_shape(void)
{
    struct rt_device_rule rules[2];
    crisp_error_t *err = NULL;
    rt_device_rule_parse("c 1:3 rwm", &rules[0], &err);
    rt_device_rule_parse("a", &rules[1], &err);
    void *insns = NULL;
    size_t n = 0;
    CHECK(rt_device_program_build(rules, 2, &insns, &n, &err) == 0);
    /* 6 loads, 7 for the full rule, 4 for "a" (no type, major or minor check), 2 for the default deny. */
    CHECK(n == 6 + 7 + 4 + 2);
    const struct bpf_insn *v = insns;
    CHECK(v[n - 1].code == (BPF_JMP | BPF_EXIT) && v[n - 2].imm == 0);
    free(insns);
}

/* Child: 0 if every expectation held, else the number of the first that did not. */
static int child_probe(const char *cgroup_procs, const char *node)
{
    char pid[16];
    int fd = open(cgroup_procs, O_WRONLY);
    if (fd < 0 || write(fd, pid, (size_t)snprintf(pid, sizeof pid, "%d", getpid())) < 0)
        return 1;
    close(fd);
    if ((fd = open("/dev/null", O_RDONLY)) < 0)
        return 2; /* c 1:3 r allowed */
    close(fd);
    if (open("/dev/null", O_WRONLY) >= 0 || errno != EPERM)
        return 3; /* but not w */
    if (mknod(node, S_IFCHR | 0600, makedev(1, 5)) < 0)
        return 4; /* mknod of any char device allowed */
    if (open(node, O_RDONLY) >= 0 || errno != EPERM)
        return 5; /* opening it is not */
    if (open("/dev/zero", O_RDONLY) >= 0 || errno != EPERM)
        return 6;
    return 0;
}

static void test_enforcement(void)
{
    const char *v2 = "/sys/fs/cgroup/unified";
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        v2 = "/sys/fs/cgroup";
    char dir[128], procs[160], node[64];
    snprintf(dir, sizeof dir, "%s/crisp-unit-devices-%d", v2, getpid());
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    snprintf(node, sizeof node, "/tmp/crisp-unit-devnode-%d", getpid());
    if (access(v2, W_OK) < 0 || mkdir(dir, 0755) < 0) {
        printf("test_cgroup_devices: no writable cgroup v2 hierarchy, enforcement not tested\n");
        return;
    }
    /* As many rules as a container's defaults, so the verifier's trace outgrows any small log. */
    struct rt_device_rule rules[12];
    crisp_error_t *err = NULL;
    rt_device_rule_parse("c 1:3 r", &rules[0], &err);
    rt_device_rule_parse("c *:* m", &rules[1], &err);
    for (int i = 2; i < 12; i++) {
        char rule[32];
        snprintf(rule, sizeof rule, "b 7:%d rw", i);
        rt_device_rule_parse(rule, &rules[i], &err);
    }
    CHECK(rt_device_program_attach(dir, rules, 12, &err) == 0);
    if (err)
        fprintf(stderr, "attach: %s\n", err->msg);
    crisp_error_free(err);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_probe(procs, node));
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "device probe failed at step %d\n", WEXITSTATUS(status));
    unlink(node);
    CHECK(rmdir(dir) == 0);
}

int main(void)
{
    test_parse();
    test_program_shape();
    test_enforcement();
    printf("test_cgroup_devices: %d passed, %d failed\n", unit_passed, unit_failed);
    return unit_failed != 0;
}
