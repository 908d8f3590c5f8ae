/* StopContainer: the stop signal, then SIGKILL to the whole cgroup once the grace period is over; the
 * exit is what the monitor records. */
#define _GNU_SOURCE
#include "common/clock.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"

#include <signal.h>
#include <time.h>

/* Waits for the monitor's exit record up to timeout_ms; true once the container has exited. */
static bool wait_exit(struct rt_container *c, int64_t timeout_ms)
{
    int64_t deadline = clock_realtime_ns() + timeout_ms * 1000000;
    for (;;) {
        if (rt_container_read_exit(c))
            return true;
        if (clock_realtime_ns() >= deadline)
            return false;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Waits with c->lock held, so status, list, exec and attach of c wait too: the known exception to the
 * concurrency contract (runtime/runtime_internal.h). */
int rt_container_stop_locked(struct rt_runtime *rt, struct rt_container *c, int64_t timeout_s)
{
    if (c->info.state != RT_CONTAINER_RUNNING || rt_container_read_exit(c))
        return 0;
    if (timeout_s > 0 && rt_container_pid_is_ours(c)) {
        kill(c->info.pid, c->stop_signal);
        if (wait_exit(c, timeout_s * 1000))
            return 0;
    }
    rt_cgroup_kill_all(&rt->cgroups, c->info.cgroup_path, 10000, NULL);
    if (!wait_exit(c, 10000))
        rt_container_mark_lost(c);
    return 0;
}

/* Absent (or removed meanwhile): success, as CRI asks of StopContainer. */
int rt_container_stop(struct rt_runtime *rt, const char *id, int64_t timeout_s, crisp_error_t **err)
{
    (void)err;
    struct rt_container *c = rt_container_lock_by_id(rt, id);
    if (!c)
        return 0;
    bool was_running = c->info.state == RT_CONTAINER_RUNNING;
    int r = rt_container_stop_locked(rt, c, timeout_s);
    if (was_running && c->info.state == RT_CONTAINER_EXITED) {
        rt_container_persist(c, NULL);
        rt_container_emit(rt, RT_EVENT_CONTAINER_STOPPED, c);
    }
    rt_container_unlock_unref(c);
    return r;
}
