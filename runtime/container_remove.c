/* RemoveContainer: stops what still runs, then removes the cgroup, the writable layer, the image
 * volumes' mounts and the state directory (whose images may then be removed); the container leaves the index
 * only when all of that is gone, so a failed remove can be retried. The removal runs without c->lock (c->op
 * is RT_OP_REMOVING): status and list answer meanwhile. The record says "removing" before the first
 * step, so that start-up finishes a remove a crash cut short; every step is a success when what it
 * removes is gone already, so a second remove finishes one too. */
#define _GNU_SOURCE
#include "common/crash_point.h"
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/image_volume.h"
#include "runtime/runtime_internal.h"

/* How long what is left in the cgroup (a workload that outlived its monitor) may take to go. */
#define KILL_WAIT_MS 10000

int rt_container_discard(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    /* A record written before its cgroup was named has none. */
    bool cgroup = c->info.cgroup_path && *c->info.cgroup_path;
    if (cgroup)
        rt_cgroup_kill_all(&rt->cgroups, c->info.cgroup_path, KILL_WAIT_MS, NULL);
    if (cgroup && rt_cgroup_remove(&rt->cgroups, c->info.cgroup_path, &RT_CGROUP_CREATED_UNIFORM(1), err) < 0)
        return -1;
    crisp_crash_point("container.remove.after_cgroup");
    if (dir_remove_all(c->rw_dir, err) < 0)
        return -1;
    crisp_crash_point("container.remove.after_layer");
    if (rt_image_volumes_unmount(c->dir, err) < 0 || dir_remove_all(c->dir, err) < 0)
        return -1;
    return 0;
}

static int remove_locked(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    /* Joins a stop under way (ending its grace period), or waits for a start or remove to end. */
    rt_container_stop_locked(rt, c, 0);
    if (c->removed)
        return 0;
    c->removing = true;
    rt_container_persist(c, NULL); /* without it, a crash leaves the removal to a second remove */
    crisp_crash_point("container.remove.after_intent");
    rt_container_op_begin_locked(c, RT_OP_REMOVING);
    pthread_mutex_unlock(&c->lock);
    int r = rt_container_discard(rt, c, err);
    pthread_mutex_lock(&c->lock);
    rt_container_op_end_locked(c);
    if (r < 0)
        return -1;
    /* Lookups that took their reference before find c removed once they hold its lock; later ones miss it. */
    c->removed = true;
    rt_index_remove(&rt->containers, &c->node);
    rt_container_images_release(rt, c->info.image_id, c->info.mounts, c->info.n_mounts);
    rt_container_emit(rt, RT_EVENT_CONTAINER_DELETED, c);
    return 0;
}

/* Absent (or removed meanwhile): success. */
int rt_container_remove(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    struct rt_container *c = rt_container_lock_by_id(rt, id);
    if (!c)
        return 0;
    int r = remove_locked(rt, c, err);
    rt_container_unlock_unref(c);
    return r < 0 ? crisp_error_wrap(err, "remove container %.12s", id) : 0;
}
