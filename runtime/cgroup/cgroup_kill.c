#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"
#include "common/clock.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define KILL_POLL_NS 5000000L

/* Our own pid is counted but never signalled: a caller that joined the cgroup by mistake gets a
 * timeout rather than its own death. */
static int signal_pids(const char *dir, size_t *found, crisp_error_t **err)
{
    _cleanup_free_ char *procs = rt_cgroup_join(dir, "cgroup.procs");
    if (!procs)
        return crisp_error_oom(err);
    /* The cgroup may be gone already, or go while we look: nothing left to kill there. */
    if (access(procs, F_OK) < 0 && errno == ENOENT)
        return 0;
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    if (rt_cgroup_read_pids(dir, &pids, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        (*found)++;
        if (pids[i] != getpid() && kill(pids[i], SIGKILL) < 0 && errno != ESRCH)
            return crisp_error_errno(err, "kill %d in %s", (int)pids[i], dir);
    }
    return 0;
}

int rt_cgroup_signal_tree(const char *dir, size_t *ret_found, crisp_error_t **err)
{
    if (signal_pids(dir, ret_found, err) < 0)
        return -1;
    _cleanup_strv_ char **subdirs = NULL;
    if (rt_cgroup_list_subdirs(dir, &subdirs, err) < 0)
        return -1;
    for (char **s = subdirs; *s; s++) {
        _cleanup_free_ char *sub = rt_cgroup_join(dir, *s);
        if (!sub)
            return crisp_error_oom(err);
        if (rt_cgroup_signal_tree(sub, ret_found, err) < 0)
            return -1;
    }
    return 0;
}

/* Signals again on every round: a process may have forked between reading cgroup.procs and kill(). */
int rt_cgroup_kill_tree(const char *dir, int timeout_ms, crisp_error_t **err)
{
    int64_t deadline = clock_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        size_t found = 0;
        if (rt_cgroup_signal_tree(dir, &found, err) < 0)
            return -1;
        if (found == 0)
            return 0;
        if (clock_monotonic_ms() >= deadline)
            return crisp_error_make(err, EBUSY, "%zu processes still in %s after %d ms", found, dir,
                                    timeout_ms);
        nanosleep(&(struct timespec){.tv_nsec = KILL_POLL_NS}, NULL);
    }
}
