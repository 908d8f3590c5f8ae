/* Undoing a pod, step by step and idempotently, so a failed stop or remove can be retried: its
 * processes, network, namespaces and /dev/shm, then its cgroup and directory. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/pod_ns.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <sys/mount.h>

#define STOP_KILL_TIMEOUT_MS 5000

static void teardown_processes(struct rt_runtime *rt, struct rt_sandbox *sb)
{
    if (sb->info.cgroup_path)
        rt_cgroup_kill_all(&rt->cgroups, sb->info.cgroup_path, STOP_KILL_TIMEOUT_MS, NULL);
}

static int teardown_namespaces(struct rt_sandbox *sb, crisp_error_t **err)
{
    _cleanup_free_ char *dir = path_join(sb->info.dir, "ns");
    if (!dir)
        return crisp_error_oom(err);
    if (rt_pod_ns_destroy(dir, sb->info.init_pid, sb->init_start, err) < 0)
        return -1;
    pthread_mutex_lock(&sb->info_lock);
    sb->info.init_pid = 0;
    pthread_mutex_unlock(&sb->info_lock);
    return 0;
}

static int teardown_shm(struct rt_sandbox *sb, crisp_error_t **err)
{
    if (!sb->shm_mounted)
        return 0;
    _cleanup_free_ char *shm = path_join(sb->info.dir, "shm");
    if (!shm)
        return crisp_error_oom(err);
    if (umount2(shm, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return crisp_error_errno(err, "unmount %s", shm);
    sb->shm_mounted = false;
    return 0;
}

int rt_sandbox_teardown_running(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    teardown_processes(rt, sb);
    int r = rt_sandbox_network_teardown(rt, sb, err);
    if (r == 0)
        r = teardown_namespaces(sb, err);
    if (r == 0)
        r = teardown_shm(sb, err);
    return r;
}

int rt_sandbox_teardown_all(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    if (rt_sandbox_teardown_running(rt, sb, err) < 0)
        return -1;
    if (sb->info.cgroup_path && rt_cgroup_created_max(&sb->cgroup_created) > 0 &&
        rt_cgroup_remove(&rt->cgroups, sb->info.cgroup_path, &sb->cgroup_created, err) < 0)
        return -1;
    sb->cgroup_created = (struct rt_cgroup_created){0};
    return dir_remove_all(sb->info.dir, err);
}
