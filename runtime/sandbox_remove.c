/* RemovePodSandbox: the pod's containers first, then everything of the pod; absent is success. A
 * removal cut short (a failure, or a crash) can be run again: every step of it is idempotent. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/crash_point.h"
#include "common/strv.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>

static int remove_containers(struct rt_runtime *rt, const char *pod_id, crisp_error_t **err)
{
    _cleanup_strv_ char **ids = rt_containers_of_pod(rt, pod_id);
    if (!ids)
        return crisp_error_oom(err);
    for (char **id = ids; *id; id++)
        if (rt_container_remove(rt, *id, err) < 0)
            return -1;
    return 0;
}

/* Recorded before the teardown starts: a crash in its middle leaves a pod that start-up removes
 * (kubelet, whose call failed, retries it and finds it gone: success). */
static int mark_removing(struct rt_sandbox *sb, crisp_error_t **err)
{
    if (sb->phase == RT_SANDBOX_PHASE_REMOVING)
        return 0;
    sb->phase = RT_SANDBOX_PHASE_REMOVING;
    if (rt_sandbox_persist(sb, err) < 0) {
        sb->phase = RT_SANDBOX_PHASE_LIVE;
        return -1;
    }
    crisp_crash_point("pod.remove.after_mark");
    return 0;
}

/* Holds no pod lock while it removes the containers: no code holds a pod's and a container's lock. */
int rt_sandbox_remove(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    _cleanup_(rt_sandbox_info_freep) struct rt_sandbox_info *info = NULL;
    _cleanup_error_ crisp_error_t *lookup_err = NULL;
    if (rt_sandbox_info_get(rt, id, &info, &lookup_err) == 0 && remove_containers(rt, info->id, err) < 0)
        return crisp_error_wrap(err, "remove pod sandbox %.12s", id);
    crisp_crash_point("pod.remove.after_containers");
    struct rt_sandbox *sb = rt_sandbox_lock_by_id(rt, id);
    if (!sb)
        return 0; /* absent: already removed */
    int r = mark_removing(sb, err);
    if (r == 0)
        r = rt_sandbox_teardown_all(rt, sb, "remove", err);
    if (r == 0) {
        /* Lookups that took their reference before find sb removed once they hold its lock. */
        sb->removed = true;
        rt_index_remove(&rt->pods, &sb->node);
    } else {
        rt_sandbox_persist(sb, NULL);
    }
    rt_sandbox_unlock_unref(sb);
    return r < 0 ? crisp_error_wrap(err, "remove pod sandbox %.12s", id) : 0;
}
