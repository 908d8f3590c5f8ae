/* The order is what the kernel requires, and a wrong one either fails or leaves privileges behind:
 * 1. the bounding set is cut first, while we still hold CAP_SETPCAP;
 * 2. without no_new_privs the kernel takes a seccomp filter only from a holder of CAP_SYS_ADMIN, so it
 *    goes in now, before the credentials change (as runc does);
 * 3. keepcaps, so the permitted set survives setuid where ambient capabilities are to be raised;
 * 4. setgroups and setgid while we still hold CAP_SETGID, then setuid;
 * 5. the capabilities the process keeps (after setuid, which would clear what we set before);
 * 6. no_new_privs, and with it the filter last before execve (hl_cred_seccomp_last): every syscall
 *    after loading meets the container's profile, so we make as few as possible. */
#define _GNU_SOURCE
#include "helpers/lib/cred.h"
#include "helpers/lib/caps_apply.h"
#include "helpers/lib/helper_error.h"
#include "helpers/lib/seccomp_load.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

static int cred_seccomp_load(const struct hl_cred *c)
{
    return c->seccomp.len ? hl_seccomp_load(&c->seccomp, c->seccomp_flags) : 0;
}

static int cred_ids_set(const struct hl_cred *c)
{
    if (setgroups(c->n_groups, c->groups) < 0)
        return hl_fail(errno, "setgroups");
    if (setgid(c->gid) < 0)
        return hl_fail(errno, "setgid %u", (unsigned)c->gid);
    if (setuid(c->uid) < 0)
        return hl_fail(errno, "setuid %u", (unsigned)c->uid);
    return 0;
}

int hl_cred_drop(const struct hl_cred *c)
{
    if (c->has_caps && hl_caps_bounding_apply(c->caps) < 0)
        return -1;
    if (!c->no_new_privs && cred_seccomp_load(c) < 0)
        return -1;
    if (hl_caps_keep_across_setuid(c->ambient) < 0)
        return -1;
    if (cred_ids_set(c) < 0)
        return -1;
    if (c->has_caps && hl_caps_process_apply(c->caps, c->uid == 0, c->ambient) < 0)
        return -1;
    if (c->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return hl_fail(errno, "set no_new_privs");
    return 0;
}

int hl_cred_seccomp_last(const struct hl_cred *c)
{
    return c->no_new_privs ? cred_seccomp_load(c) : 0;
}

int hl_cred_apply(const struct hl_cred *c)
{
    if (hl_cred_drop(c) < 0)
        return -1;
    return hl_cred_seccomp_last(c);
}

void hl_cred_fini(struct hl_cred *c)
{
    free(c->seccomp.filter);
    c->seccomp = (struct sock_fprog){0};
}
