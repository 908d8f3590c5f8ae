/* RemoveContainer: stops what still runs, then removes the cgroup, the writable layer and the state
 * directory; the container leaves the index only when all of that is gone, so a failed remove can be
 * retried. The removal runs without c->lock (c->op is RT_OP_REMOVING): status and list answer
 * meanwhile. */
#define _GNU_SOURCE
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"

/* How long what is left in the cgroup (a workload that outlived its monitor) may take to go. */
#define KILL_WAIT_MS 10000

static int remove_unlocked(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    if (c->info.cgroup_path)
        rt_cgroup_kill_all(&rt->cgroups, c->info.cgroup_path, KILL_WAIT_MS, NULL);
    if (rt_cgroup_remove(&rt->cgroups, c->info.cgroup_path, &RT_CGROUP_CREATED_UNIFORM(1), err) < 0 ||
        dir_remove_all(c->rw_dir, err) < 0 || dir_remove_all(c->dir, err) < 0)
        return -1;
    return 0;
}

static int remove_locked(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    /* Joins a stop under way (ending its grace period), or waits for a start or remove to end. */
    rt_container_stop_locked(rt, c, 0);
    if (c->removed)
        return 0;
    rt_container_op_begin_locked(c, RT_OP_REMOVING);
    pthread_mutex_unlock(&c->lock);
    int r = remove_unlocked(rt, c, err);
    pthread_mutex_lock(&c->lock);
    rt_container_op_end_locked(c);
    if (r < 0)
        return -1;
    /* Lookups that took their reference before find c removed once they hold its lock; later ones miss it. */
    c->removed = true;
    rt_index_remove(&rt->containers, &c->node);
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
