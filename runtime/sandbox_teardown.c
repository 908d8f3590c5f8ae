/* Undoing a pod, step by step and idempotently, so a failed or crashed stop, remove or run can be
 * taken up again: its processes, network, namespaces and /dev/shm, then its cgroup and directory. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "runtime/mountinfo.h"
#include "runtime/pod_ns.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#define STOP_KILL_TIMEOUT_MS 5000

void rt_sandbox_crash_point(const char *op, const char *step)
{
    if (__builtin_expect(crisp_crash_point_hook == NULL, 1))
        return;
    char name[96];
    snprintf(name, sizeof(name), "pod.%s.after_%s", op, step);
    crisp_crash_point(name);
}

static void teardown_processes(struct rt_runtime *rt, struct rt_sandbox *sb)
{
    if (sb->info.cgroup_path && sb->info.cgroup_path[0])
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

/* Tried even when the record doesn't say it is mounted: a crash may have come between the mount and
 * the next record. */
static int teardown_shm(struct rt_sandbox *sb, crisp_error_t **err)
{
    _cleanup_free_ char *shm = path_join(sb->info.dir, "shm");
    if (!shm)
        return crisp_error_oom(err);
    while (umount2(shm, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        ;
    if (errno != EINVAL && errno != ENOENT)
        return crisp_error_errno(err, "unmount %s", shm);
    sb->shm_mounted = false;
    return 0;
}

int rt_sandbox_teardown_running(struct rt_runtime *rt, struct rt_sandbox *sb, const char *op,
                                crisp_error_t **err)
{
    teardown_processes(rt, sb);
    rt_sandbox_crash_point(op, "processes");
    if (rt_sandbox_network_teardown(rt, sb, err) < 0)
        return -1;
    rt_sandbox_crash_point(op, "network");
    if (teardown_namespaces(sb, err) < 0)
        return -1;
    rt_sandbox_crash_point(op, "namespaces");
    if (teardown_shm(sb, err) < 0)
        return -1;
    rt_sandbox_crash_point(op, "shm");
    return 0;
}

char *rt_sandbox_init_cgroup(const struct rt_runtime *rt, const struct rt_sandbox_info *i)
{
    return rt_cgroup_container_path(&rt->cgroups, i->cgroup_path, i->id);
}

/* Found by its name, not by a record: a crash right after it was made still has it removed. Below a
 * pod cgroup that is kubelet's, it is the one level crisp made there. */
static int teardown_init_cgroup(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    if (sb->info.pid_mode != RT_NS_POD || !sb->info.cgroup_path || !sb->info.cgroup_path[0])
        return 0;
    _cleanup_free_ char *path = rt_sandbox_init_cgroup(rt, &sb->info);
    if (!path)
        return crisp_error_oom(err);
    return rt_cgroup_remove(&rt->cgroups, path, &RT_CGROUP_CREATED_UNIFORM(1), err);
}

static int teardown_cgroup(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    if (teardown_init_cgroup(rt, sb, err) < 0)
        return -1;
    if (sb->info.cgroup_path && sb->info.cgroup_path[0] && rt_cgroup_created_max(&sb->cgroup_created) > 0 &&
        rt_cgroup_remove(&rt->cgroups, sb->info.cgroup_path, &sb->cgroup_created, err) < 0)
        return -1;
    sb->cgroup_created = (struct rt_cgroup_created){0};
    return 0;
}

int rt_sandbox_teardown_all(struct rt_runtime *rt, struct rt_sandbox *sb, const char *op, crisp_error_t **err)
{
    if (rt_sandbox_teardown_running(rt, sb, op, err) < 0 || teardown_cgroup(rt, sb, err) < 0)
        return -1;
    rt_sandbox_crash_point(op, "cgroup");
    return dir_remove_all(sb->info.dir, err);
}

/* Keeps the first failure in err; r is the step's result. */
static int keep(int r, int *ret)
{
    if (r < 0)
        *ret = -1;
    return r;
}

int rt_sandbox_rollback(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    int r = 0;
    teardown_processes(rt, sb);
    rt_sandbox_network_teardown(rt, sb, NULL);
    sb->network_up = false;
    rt_sandbox_crash_point("rollback", "network");
    keep(teardown_namespaces(sb, r < 0 ? NULL : err), &r);
    keep(teardown_shm(sb, r < 0 ? NULL : err), &r);
    keep(rt_unmount_below(sb->info.dir, r < 0 ? NULL : err), &r);
    keep(teardown_cgroup(rt, sb, r < 0 ? NULL : err), &r);
    rt_sandbox_crash_point("rollback", "cgroup");
    if (r == 0)
        return dir_remove_all(sb->info.dir, err);
    sb->phase = RT_SANDBOX_PHASE_CREATING;
    rt_sandbox_persist(sb, NULL);
    return -1;
}
