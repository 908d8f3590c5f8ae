/* The device cgroup on cgroup v2: an eBPF program of type CGROUP_DEVICE attached to the container's
 * cgroup, which the kernel runs on every open and mknod of a device node. The program is an allow
 * list: for each rule, compare the device type, the access asked for, the major and the minor, and
 * allow on a match; deny when no rule matched. */
#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_devices.h"

#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Per rule: 3 instructions of prologue-free checks at most 4 jumps, then allow. */
#define INSNS_PER_RULE 8
#define RULES_MAX 1024

struct prog {
    struct bpf_insn *v;
    size_t n;
};

static void emit(struct prog *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    p->v[p->n++] = (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

/* r2 = device type, r3 = access, r4 = major, r5 = minor, from struct bpf_cgroup_dev_ctx in r1. */
static void emit_load_ctx(struct prog *p)
{
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_2, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, access_type),
         0);
    emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0);
    emit(p, BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff);
    emit(p, BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16);
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_4, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, major), 0);
    emit(p, BPF_LDX | BPF_MEM | BPF_W, BPF_REG_5, BPF_REG_1, offsetof(struct bpf_cgroup_dev_ctx, minor), 0);
}

/* The rule's checks jump to its end (the next rule) on a mismatch; they are counted first so the
 * offsets are known. */
static void emit_rule(struct prog *p, const struct rt_device_rule *r)
{
    int checks = (r->type != 'a') + 2 + (r->major >= 0) + (r->minor >= 0);
    int left = checks + 2; /* instructions after the current one up to the end of the rule */
    if (r->type != 'a')
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, (int16_t)--left,
             r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    /* Allowed only if the access asked for is within the rule's: (access & ~allowed) == 0. */
    emit(p, BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
    --left;
    emit(p, BPF_JMP | BPF_JSET | BPF_K, BPF_REG_1, 0, (int16_t)--left, (int32_t)(~r->access & 7));
    if (r->major >= 0)
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, (int16_t)--left, (int32_t)r->major);
    if (r->minor >= 0)
        emit(p, BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, (int16_t)--left, (int32_t)r->minor);
    emit(p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
    emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

int rt_device_program_build(const struct rt_device_rule *rules, size_t n, void **ret_insns, size_t *ret_count,
                            crisp_error_t **err)
{
    if (n > RULES_MAX)
        return crisp_error_make(err, EINVAL, "%zu device rules, at most %d", n, RULES_MAX);
    struct prog p = {.v = calloc(8 + n * INSNS_PER_RULE, sizeof(struct bpf_insn))};
    if (!p.v)
        return crisp_error_oom(err);
    emit_load_ctx(&p);
    for (size_t i = 0; i < n; i++)
        emit_rule(&p, &rules[i]);
    emit(&p, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
    emit(&p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    *ret_insns = p.v;
    *ret_count = p.n;
    return 0;
}

static int prog_load_logged(const void *insns, size_t count, char *log, size_t log_size)
{
    static const char license[] = "Apache-2.0";
    union bpf_attr attr = {.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE,
                           .insn_cnt = (uint32_t)count,
                           .insns = (uint64_t)(uintptr_t)insns,
                           .license = (uint64_t)(uintptr_t)license,
                           .log_buf = (uint64_t)(uintptr_t)log,
                           .log_size = (uint32_t)log_size,
                           .log_level = log ? 1 : 0};
    return (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

/* Without a log first: the verifier fails a good program with ENOSPC when its trace outgrows the
 * buffer, which a dozen rules do. The log is only asked for to explain a failure. */
static int prog_load(const void *insns, size_t count, crisp_error_t **err)
{
    char log[4096] = "";
    int fd = prog_load_logged(insns, count, NULL, 0);
    if (fd >= 0)
        return fd;
    int saved = errno;
    fd = prog_load_logged(insns, count, log, sizeof(log));
    if (fd >= 0)
        return fd;
    return crisp_error_make(err, saved == EPERM ? EPERM : EIO, "load the device filter: %s%s%.200s",
                            strerror(saved), log[0] ? ": " : "", log);
}

int rt_device_program_attach(const char *cgroup_dir, const struct rt_device_rule *rules, size_t n,
                             crisp_error_t **err)
{
    _cleanup_free_ void *insns = NULL;
    size_t count = 0;
    if (rt_device_program_build(rules, n, &insns, &count, err) < 0)
        return -1;
    _cleanup_close_ int cg = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0)
        return crisp_error_errno(err, "open cgroup %s", cgroup_dir);
    _cleanup_close_ int prog = prog_load(insns, count, err);
    if (prog < 0)
        return -1;
    /* Multi: a parent's program (a kubelet's or the host's) still applies as well. */
    union bpf_attr attr = {.target_fd = (uint32_t)cg,
                           .attach_bpf_fd = (uint32_t)prog,
                           .attach_type = BPF_CGROUP_DEVICE,
                           .attach_flags = BPF_F_ALLOW_MULTI};
    if (syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof(attr)) < 0)
        return crisp_error_errno(err, "attach the device filter to %s", cgroup_dir);
    return 0;
}

/* "c 1:3 rwm", "b *:* m", "a": the devices cgroup v1 syntax. */
int rt_device_rule_parse(const char *text, struct rt_device_rule *ret, crisp_error_t **err)
{
    char type = 0, major[16] = "", minor[16] = "", access[8] = "";
    int n = sscanf(text, "%c %15[0-9*]:%15[0-9*] %7s", &type, major, minor, access);
    if (!((n == 1 && type == 'a') || (n == 4 && (type == 'c' || type == 'b' || type == 'a'))) ||
        strspn(access, "rwm") != strlen(access))
        return crisp_error_make(err, EINVAL, "device rule \"%.64s\" is not \"TYPE MAJOR:MINOR ACCESS\"",
                                text);
    *ret = (struct rt_device_rule){.type = type, .major = -1, .minor = -1, .access = n == 1 ? 7 : 0};
    if (n == 1)
        return 0;
    ret->major = strcmp(major, "*") == 0 ? -1 : strtol(major, NULL, 10);
    ret->minor = strcmp(minor, "*") == 0 ? -1 : strtol(minor, NULL, 10);
    for (const char *a = access; *a; a++)
        ret->access |= *a == 'm' ? BPF_DEVCG_ACC_MKNOD : *a == 'r' ? BPF_DEVCG_ACC_READ : BPF_DEVCG_ACC_WRITE;
    return 0;
}
