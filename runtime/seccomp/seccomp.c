#define _GNU_SOURCE
#include "runtime/seccomp/seccomp_internal.h"

#include "common/cleanup.h"
#include "common/file.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* Docker names architectures as Go does; libseccomp knows neither "amd64" nor "arm64". */
static const struct {
    const char *go_name;
    uint32_t token;
} go_arches[] = {
    {"amd64", SCMP_ARCH_X86_64},      {"386", SCMP_ARCH_X86},         {"arm64", SCMP_ARCH_AARCH64},
    {"arm", SCMP_ARCH_ARM},           {"ppc64le", SCMP_ARCH_PPC64LE}, {"ppc64", SCMP_ARCH_PPC64},
    {"s390x", SCMP_ARCH_S390X},       {"s390", SCMP_ARCH_S390},       {"riscv64", SCMP_ARCH_RISCV64},
    {"mips64le", SCMP_ARCH_MIPSEL64}, {"mips64", SCMP_ARCH_MIPS64},   {"mipsle", SCMP_ARCH_MIPSEL},
    {"mips", SCMP_ARCH_MIPS},
};

static uint32_t arch_token(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(go_arches); i++)
        if (strcmp(name, go_arches[i].go_name) == 0)
            return go_arches[i].token;
    return seccomp_arch_resolve_name(name);
}

bool rt_seccomp_arch_native_in(const char *const *names)
{
    uint32_t native = seccomp_arch_native();
    for (; names && *names; names++)
        if (arch_token(*names) == native)
            return true;
    return false;
}

static bool rule_applies(const struct rt_seccomp_rule *r, uint64_t caps)
{
    if ((caps & r->caps_all) != r->caps_all || (caps & r->caps_none))
        return false;
    if (r->arches && !rt_seccomp_arch_native_in(r->arches))
        return false;
    return !(r->not_arches && rt_seccomp_arch_native_in(r->not_arches));
}

static bool arg_index_repeats(const struct rt_seccomp_rule *r)
{
    unsigned int seen = 0;
    for (unsigned int i = 0; i < r->n_args; i++) {
        if (seen & (1u << r->args[i].arg))
            return true;
        seen |= 1u << r->args[i].arg;
    }
    return false;
}

/* libseccomp refuses two comparisons of one argument in a rule; Docker's profiles meant those as
 * alternatives (several values of personality's argument), so, as runc does, each condition then
 * becomes a rule of its own. */
static int add_syscall(scmp_filter_ctx ctx, const struct rt_seccomp_rule *r, int nr)
{
    if (!arg_index_repeats(r))
        return seccomp_rule_add_array(ctx, r->action, nr, r->n_args, r->n_args ? r->args : NULL);
    for (unsigned int i = 0; i < r->n_args; i++) {
        int rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &r->args[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int add_rule(scmp_filter_ctx ctx, const struct rt_seccomp_rule *r, size_t i, crisp_error_t **err)
{
    for (const char *const *name = r->names; name && *name; name++) {
        /* Profiles name syscalls of every architecture and kernel; one unknown here is no error. */
        int nr = seccomp_syscall_resolve_name(*name);
        if (nr == __NR_SCMP_ERROR)
            continue;
        int rc = add_syscall(ctx, r, nr);
        if (rc < 0)
            return crisp_error_make(err, EINVAL, "syscalls[%zu]: cannot add a rule for \"%s\": %s", i, *name,
                                    strerror(-rc));
    }
    return 0;
}

static int add_arches(scmp_filter_ctx ctx, const struct rt_seccomp_profile *p, crisp_error_t **err)
{
    for (size_t i = 0; i < p->n_arches; i++) {
        int rc = seccomp_arch_add(ctx, p->arches[i]);
        if (rc < 0 && rc != -EEXIST)
            return crisp_error_make(err, EINVAL, "seccomp: cannot add architecture %#x: %s", p->arches[i],
                                    strerror(-rc));
    }
    return 0;
}

/* libseccomp 2.5 exports only to a file descriptor: a memfd keeps the bytes off any disk. */
static int export_bpf(scmp_filter_ctx ctx, struct rt_seccomp_filter *ret, crisp_error_t **err)
{
    _cleanup_close_ int fd = memfd_create("crisp-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return crisp_error_errno(err, "seccomp: memfd_create");
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0)
        return crisp_error_make(err, -rc, "seccomp: export BPF: %s", strerror(-rc));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return crisp_error_errno(err, "seccomp: stat exported BPF");
    size_t len = (size_t)st.st_size;
    if (len == 0 || len % sizeof(struct sock_filter) || len > BPF_MAXINSNS * sizeof(struct sock_filter))
        return crisp_error_make(err, E2BIG,
                                "seccomp: the compiled filter is %zu instructions, the kernel takes "
                                "at most %d",
                                len / sizeof(struct sock_filter), BPF_MAXINSNS);
    _cleanup_free_ void *bpf = malloc(len);
    if (!bpf)
        return crisp_error_oom_in(err, "seccomp");
    if (pread(fd, bpf, len, 0) != (ssize_t)len)
        return crisp_error_errno(err, "seccomp: read exported BPF");
    ret->bpf = TAKE_PTR(bpf);
    ret->len = len;
    return 0;
}

static void filter_ctx_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

int rt_seccomp_profile_compile(const struct rt_seccomp_profile *p, uint64_t caps,
                               struct rt_seccomp_filter *ret, crisp_error_t **err)
{
    _cleanup_(filter_ctx_releasep) scmp_filter_ctx ctx = seccomp_init(p->default_action);
    if (!ctx)
        return crisp_error_make(err, EINVAL, "seccomp: cannot create a filter with default action %#x",
                                p->default_action);
    /* A binary tree over the syscall numbers: the big allow-lists cost O(log n) per syscall, not O(n). */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (add_arches(ctx, p, err) < 0)
        return -1;
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct rt_seccomp_rule *r = &p->rules[i];
        /* libseccomp refuses rules that repeat the default action; they change nothing anyway. */
        if (r->action == p->default_action || !rule_applies(r, caps))
            continue;
        if (add_rule(ctx, r, i, err) < 0)
            return -1;
    }
    *ret = (struct rt_seccomp_filter){0};
    if (export_bpf(ctx, ret, err) < 0)
        return -1;
    ret->flags = p->flags;
    return 0;
}

int rt_seccomp_filter_write(const struct rt_seccomp_filter *f, const char *path, crisp_error_t **err)
{
    return file_write_replace(path, f->bpf, f->len, 0600, err);
}

void rt_seccomp_filter_fini(struct rt_seccomp_filter *f)
{
    if (!f)
        return;
    free(f->bpf);
    *f = (struct rt_seccomp_filter){0};
}
