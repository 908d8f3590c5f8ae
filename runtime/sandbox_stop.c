/* StopPodSandbox: releases what a running pod holds (processes, network, namespaces, /dev/shm) and
 * keeps its cgroup, directory and record; idempotent. */
#define _GNU_SOURCE
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>

int rt_sandbox_stop(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    struct rt_sandbox *sb = rt_sandbox_lock_by_id(rt, id);
    if (!sb)
        return crisp_error_make(err, ENOENT, "pod sandbox %.100s not found", id);
    int r = rt_sandbox_teardown_running(rt, sb, "stop", err);
    if (r == 0) {
        pthread_mutex_lock(&sb->info_lock);
        sb->info.state = RT_SANDBOX_NOTREADY;
        pthread_mutex_unlock(&sb->info_lock);
    }
    /* Kept even after a failure: the record says what is still up for the next attempt. */
    int p = rt_sandbox_persist(sb, r == 0 ? err : NULL);
    r = r < 0 ? r : p;
    rt_sandbox_unlock_unref(sb);
    return r < 0 ? crisp_error_wrap(err, "stop pod sandbox %.12s", id) : 0;
}
