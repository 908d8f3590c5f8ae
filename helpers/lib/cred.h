/* Taking a container's credentials: the one sequence crisp-monitor (for the workload) and crisp-exec
 * (for every exec) follow, so both give a container's processes the same identity and privileges.
 * Failures go through hl_fail (helper_error.h). */
#ifndef CRISP_HELPERS_CRED_H
#define CRISP_HELPERS_CRED_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hl_cred {
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplementary groups; n_groups 0: none */
    size_t n_groups;
    bool has_caps;    /* false: capabilities left as the kernel's uid change leaves them */
    uint64_t caps;    /* mask of capability numbers: the bounding set, and for uid 0 the process's */
    uint64_t ambient; /* kept by a non-root uid too; within caps */
    bool no_new_privs;
    struct sock_fprog seccomp; /* len 0: unconfined; filled by hl_seccomp_read (seccomp_load.h) */
    unsigned seccomp_flags;
};

/* Everything up to and including no_new_privs; with no_new_privs the filter waits for
 * hl_cred_seccomp_last, so that a caller can still make the calls the filter might deny. */
int hl_cred_drop(const struct hl_cred *c);

/* With no_new_privs, loads the filter: the last thing before execve. */
int hl_cred_seccomp_last(const struct hl_cred *c);

/* Both, for a caller with nothing to do in between. */
int hl_cred_apply(const struct hl_cred *c);

/* Frees the filter; c->seccomp.len becomes 0. */
void hl_cred_fini(struct hl_cred *c);

#endif
