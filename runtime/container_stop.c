/* StopContainer: the stop signal, then SIGKILL to the whole cgroup once the grace period is over; the
 * exit is what the monitor records. The waits run without c->lock (c->op is RT_OP_STOPPING), so that
 * status, list, exec and attach of the container answer meanwhile; a second stop joins the first. */
#define _GNU_SOURCE
#include "common/clock.h"
#include "common/crash_point.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How long the processes of a killed cgroup, and then the monitor's record, may take. */
#define KILL_WAIT_MS 10000
/* Longer grace periods are not waited for either (kubelet's are far shorter). */
#define GRACE_MAX_S (365LL * 24 * 3600)

/* Without c->lock: the grace period, then the cgroup's SIGKILL; each ends when the monitor exits. */
static void stop_wait(struct rt_runtime *rt, struct rt_container *c, bool signalled)
{
    crisp_crash_point("container.stop.after_signal");
    if (signalled && rt_container_monitor_wait(c, &c->stop_deadline_ms))
        return;
    rt_cgroup_kill_all(&rt->cgroups, c->info.cgroup_path, KILL_WAIT_MS, NULL);
    crisp_crash_point("container.stop.after_kill");
    /* Its own deadline: a joining stop shortens the grace period, not this. */
    _Atomic int64_t deadline = clock_monotonic_ms() + KILL_WAIT_MS;
    rt_container_monitor_wait(c, &deadline);
}

static void stop_run(struct rt_runtime *rt, struct rt_container *c, int64_t deadline_ms, bool graceful)
{
    rt_container_op_begin_locked(c, RT_OP_STOPPING);
    atomic_store(&c->stop_deadline_ms, deadline_ms);
    bool signalled = graceful && rt_container_pid_is_ours(c) && kill(c->info.pid, c->stop_signal) == 0;
    pthread_mutex_unlock(&c->lock);
    stop_wait(rt, c, signalled);
    pthread_mutex_lock(&c->lock);
    /* A status or list may have seen the exit meanwhile, and told kubelet already. */
    if (c->info.state == RT_CONTAINER_RUNNING) {
        if (!rt_container_settle(c)) {
            /* A monitor that outlives its workload's cgroup by that long is stuck. */
            if (c->monitor_pidfd >= 0)
                syscall(SYS_pidfd_send_signal, c->monitor_pidfd, SIGKILL, NULL, 0);
            rt_container_mark_lost(c, "recorded no exit within 10 s of the SIGKILL to the container's "
                                      "cgroup and was killed");
        }
        crisp_crash_point("container.stop.before_record");
        rt_container_persist(c, NULL);
        rt_container_emit(rt, RT_EVENT_CONTAINER_STOPPED, c);
    }
    rt_container_op_end_locked(c);
}

static void deadline_bring_forward(_Atomic int64_t *deadline_ms, int64_t to)
{
    int64_t cur = atomic_load(deadline_ms);
    while (to < cur && !atomic_compare_exchange_weak(deadline_ms, &cur, to))
        ;
}

int rt_container_stop_locked(struct rt_runtime *rt, struct rt_container *c, int64_t timeout_s)
{
    int64_t grace_s = timeout_s < 0 ? 0 : timeout_s > GRACE_MAX_S ? GRACE_MAX_S : timeout_s;
    int64_t deadline = clock_monotonic_ms() + grace_s * 1000;
    for (;;) {
        if (c->removed)
            return 0;
        rt_container_refresh(rt, c);
        if (c->op == RT_OP_NONE)
            break;
        if (c->op == RT_OP_STOPPING)
            deadline_bring_forward(&c->stop_deadline_ms, deadline);
        rt_container_op_wait_locked(c);
    }
    if (c->info.state == RT_CONTAINER_RUNNING)
        stop_run(rt, c, deadline, grace_s > 0);
    return 0;
}

/* Absent (or removed meanwhile): success, as CRI asks of StopContainer. */
int rt_container_stop(struct rt_runtime *rt, const char *id, int64_t timeout_s, crisp_error_t **err)
{
    (void)err;
    struct rt_container *c = rt_container_lock_by_id(rt, id);
    if (!c)
        return 0;
    int r = rt_container_stop_locked(rt, c, timeout_s);
    rt_container_unlock_unref(c);
    return r;
}
