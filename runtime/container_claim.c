/* How a start ended that crispd did not see end. Start N is recorded (c->starting) before its
 * crisp-monitor is spawned; the monitor claims <dir>/start.N before it does anything, and claims it
 * again with the workload's pid before the workload runs (helpers/monitor/claim.c). A crispd that
 * restarts, or loses the monitor's report, asks that file: a workload that was let run is adopted
 * (or its exit recorded); a monitor that had not let one run is killed; a start no monitor had
 * claimed is cancelled by claiming it first, so that a late monitor exits without running anything.
 * Either way a retried StartContainer can never run a second workload next to the first. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/pod_ns.h"
#include "runtime/runtime_internal.h"
#include "runtime/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CLAIM_MAX 4096
/* A SIGKILLed monitor is gone within milliseconds; only one stuck in the kernel takes longer. */
#define MONITOR_KILL_WAIT_MS 5000
#define CGROUP_KILL_WAIT_MS 10000

char *rt_container_claim_file(const struct rt_container *c)
{
    char *path;
    return asprintf(&path, "%s/start.%u", c->dir, c->start_seq) < 0 ? NULL : path;
}

static void claim_parse(char *text, struct rt_start_claim *cl)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int pid = 0;
        unsigned long long start = 0;
        long long at = 0;
        if (strcmp(line, "cancelled") == 0) {
            cl->cancelled = true;
        } else if (sscanf(line, "monitor %d %llu", &pid, &start) == 2 && pid > 0) {
            cl->monitor = pid;
            cl->monitor_start = start;
        } else if (sscanf(line, "workload %d %llu", &pid, &start) == 2 && pid > 0) {
            cl->pid = pid;
            cl->pid_start = start;
        } else if (sscanf(line, "started_at %lld", &at) == 1 && at > 0) {
            cl->started_at = at;
        }
    }
}

/* Claims path for crispd: link(2) fails with EEXIST when a monitor claimed it first. */
static int claim_cancel(const char *path)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.crispd", path) < 0)
        return -1;
    if (file_write_replace(tmp, "cancelled\n", strlen("cancelled\n"), 0600, NULL) < 0)
        return -1;
    int r = link(tmp, path), saved = errno;
    unlink(tmp);
    errno = saved;
    return r;
}

/* The claim's text; "cancelled" when crispd claimed the start itself, just now or before. */
static int claim_read(const char *path, char **ret)
{
    for (int round = 0; round < 2; round++) {
        _cleanup_error_ crisp_error_t *e = NULL;
        if (file_read_bounded(path, CLAIM_MAX, ret, NULL, &e) == 0)
            return 0;
        if (e->status != ENOENT)
            return -1;
        if (claim_cancel(path) == 0)
            return (*ret = strdup("cancelled\n")) ? 0 : -1;
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}

void rt_container_claim_settle(struct rt_runtime *rt, const struct rt_container *c,
                               struct rt_start_claim *ret)
{
    *ret = (struct rt_start_claim){0};
    _cleanup_free_ char *path = rt_container_claim_file(c), *text = NULL;
    if (path && claim_read(path, &text) == 0)
        claim_parse(text, ret);
    /* No monitor claimed the start: none cloned a workload either (the claim comes first), and the
     * cgroup holds at most the systemd driver's crisp-hold, which keeps the scope for a retry. */
    if (ret->pid > 0 || ret->monitor <= 0)
        return;
    rt_proc_kill_checked(ret->monitor, ret->monitor_start, MONITOR_KILL_WAIT_MS, "crisp-monitor", NULL);
    /* On cgroup v2 the workload is cloned into its cgroup, where it waits to be let go. */
    if (c->info.cgroup_path && *c->info.cgroup_path)
        rt_cgroup_kill_all(&rt->cgroups, c->info.cgroup_path, CGROUP_KILL_WAIT_MS, NULL);
}

void rt_container_claim_apply(struct rt_container *c, const struct rt_start_claim *cl)
{
    c->starting = false;
    c->monitor_pid = cl->monitor;
    c->monitor_start = cl->monitor_start;
    if (cl->pid > 0) {
        c->info.state = RT_CONTAINER_RUNNING;
        c->info.pid = cl->pid;
        c->pid_start = cl->pid_start;
        c->info.started_at = cl->started_at > 0 ? cl->started_at : clock_realtime_ns();
        rt_container_monitor_track(c);
        rt_container_settle(c); /* it may have exited since, or its monitor died */
        return;
    }
    fd_close_reset(&c->monitor_pidfd);
    if (rt_container_read_exit(c)) /* the monitor failed the start, and recorded why */
        return;
    c->info.state = RT_CONTAINER_CREATED;
    c->info.pid = 0;
    c->monitor_pid = 0;
    c->monitor_start = 0;
}
