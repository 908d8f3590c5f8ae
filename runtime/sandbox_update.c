/* UpdatePodSandboxResources: kubelet resized a pod and tells the runtime the pod's new total. The
 * pod's cgroup gets it, as RunPodSandbox gave it the first one; a stopped pod has nothing to
 * update (kubelet treats the call as best effort). */
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>

int rt_sandbox_update(struct rt_runtime *rt, const char *id, const struct rt_cgroup_resources *res,
                      crisp_error_t **err)
{
    struct rt_sandbox *sb = rt_sandbox_lock_by_id(rt, id);
    if (!sb)
        return crisp_error_make(err, ENOENT, "pod sandbox %.100s not found", id);
    int r = 0;
    if (res && sb->info.state == RT_SANDBOX_READY && sb->info.cgroup_path && sb->info.cgroup_path[0])
        r = rt_cgroup_apply(&rt->cgroups, sb->info.cgroup_path, res, err);
    rt_sandbox_unlock_unref(sb);
    return r;
}
