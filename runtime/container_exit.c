/* A container's exit as crisp-monitor records it: "key value" lines in <dir>/exit, also read after a
 * crispd restart; the monitor's death, noticed through a pidfd; and the record crispd makes itself
 * when the monitor died without writing one. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/pod_ns.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FILE_MAX 65536
#define MONITOR_WAIT_ROUND_MS 100
#define MONITOR_POLL_NS 10000000L

static char *unescape_value(const char *v)
{
    char *out = malloc(strlen(v) + 1), *o = out;
    for (const char *p = v; out && *p; p++) {
        if (*p == '\\' && p[1] == 'n') {
            *o++ = '\n';
            p++;
        } else if (*p == '\\' && p[1] == '\\') {
            *o++ = '\\';
            p++;
        } else {
            *o++ = *p;
        }
    }
    if (out)
        *o = '\0';
    return out;
}

static void apply_exit_field(struct rt_container_info *i, const char *key, const char *value)
{
    if (strcmp(key, "exit_code") == 0)
        i->exit_code = atoi(value);
    else if (strcmp(key, "finished_at") == 0)
        i->finished_at = strtoll(value, NULL, 10);
    else if (strcmp(key, "reason") == 0 || strcmp(key, "message") == 0) {
        char *v = unescape_value(value);
        if (!v)
            return;
        char **slot = key[0] == 'r' ? &i->reason : &i->message;
        free(*slot);
        *slot = v;
    }
}

bool rt_container_read_exit(struct rt_container *c)
{
    _cleanup_free_ char *path = rt_container_exit_file(c), *text = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    if (!path || file_read_bounded(path, EXIT_FILE_MAX, &text, NULL, &err) < 0)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        apply_exit_field(&c->info, line, sp + 1);
    }
    c->info.state = RT_CONTAINER_EXITED;
    c->info.pid = 0;
    return true;
}

/* Before crisp recorded the monitor's start time, a record held only its pid: accept that pid only if
 * it still runs crisp-monitor. */
static bool is_monitor_process(pid_t pid)
{
    char path[64];
    _cleanup_free_ char *comm = NULL;
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if (file_read_bounded(path, 64, &comm, NULL, NULL) < 0)
        return false;
    return strncmp(comm, "crisp-monitor", strlen("crisp-monitor")) == 0;
}

void rt_container_monitor_track(struct rt_container *c)
{
    fd_close_reset(&c->monitor_pidfd);
    if (c->monitor_pid <= 0)
        return;
    _cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, c->monitor_pid, 0);
    uint64_t start = 0;
    /* The start time is read after the open, so a match means the pidfd names that process. */
    if (rt_proc_start_time(c->monitor_pid, &start, NULL) < 0)
        return;
    if (c->monitor_start == 0 && is_monitor_process(c->monitor_pid))
        c->monitor_start = start;
    if (fd >= 0 && start == c->monitor_start)
        c->monitor_pidfd = TAKE_FD(fd);
}

bool rt_container_monitor_gone(const struct rt_container *c)
{
    if (c->monitor_pidfd >= 0) {
        struct pollfd p = {c->monitor_pidfd, POLLIN, 0};
        return poll(&p, 1, 0) > 0;
    }
    uint64_t start = 0;
    return c->monitor_pid <= 0 || c->monitor_start == 0 ||
           rt_proc_start_time(c->monitor_pid, &start, NULL) < 0 || start != c->monitor_start;
}

bool rt_container_monitor_wait(const struct rt_container *c, const _Atomic int64_t *deadline_ms)
{
    _cleanup_free_ char *exit_file = rt_container_exit_file(c);
    for (;;) {
        /* The monitor renames its record into place just before it exits. */
        if (rt_container_monitor_gone(c) || (exit_file && access(exit_file, F_OK) == 0))
            return true;
        int64_t left = atomic_load(deadline_ms) - clock_monotonic_ms();
        if (left <= 0)
            return false;
        /* In rounds, so that a deadline brought forward is seen. */
        int round = (int)(left < MONITOR_WAIT_ROUND_MS ? left : MONITOR_WAIT_ROUND_MS);
        struct pollfd p = {c->monitor_pidfd, POLLIN, 0};
        if (c->monitor_pidfd < 0 || poll(&p, 1, round) < 0)
            nanosleep(&(struct timespec){0, MONITOR_POLL_NS}, NULL);
    }
}

/* A workload that outlived its monitor: nothing would reap it, log it or record its exit. Killing its
 * cgroup (and waiting for it) is left to stop and remove: this must not wait. */
static const char *kill_orphan(struct rt_container *c)
{
    if (!rt_container_pid_is_ours(c))
        return "exited without recording the container's exit, and the workload had exited too";
    kill(c->info.pid, SIGKILL);
    return "exited without recording the container's exit; the workload outlived it and was sent SIGKILL";
}

bool rt_container_settle(struct rt_container *c)
{
    if (c->info.state != RT_CONTAINER_RUNNING || rt_container_read_exit(c))
        return c->info.state == RT_CONTAINER_EXITED;
    if (!rt_container_monitor_gone(c))
        return false;
    if (rt_container_read_exit(c)) /* written between the first read and the monitor's exit */
        return true;
    rt_container_mark_lost(c, kill_orphan(c));
    return true;
}

void rt_container_refresh(struct rt_runtime *rt, struct rt_container *c)
{
    if (c->info.state != RT_CONTAINER_RUNNING || !rt_container_settle(c))
        return;
    rt_container_persist(c, NULL);
    rt_container_emit(rt, RT_EVENT_CONTAINER_STOPPED, c);
}

bool rt_container_pid_is_ours(const struct rt_container *c)
{
    uint64_t start = 0;
    return c->info.pid > 0 && rt_proc_start_time(c->info.pid, &start, NULL) == 0 && start == c->pid_start;
}

/* Exit code 255 and no signal, as CRI-O reports a container whose conmon died without an exit file:
 * not 137, which would claim a SIGKILL nobody saw. */
void rt_container_mark_lost(struct rt_container *c, const char *why)
{
    char *message = NULL;
    if (asprintf(&message,
                 "crisp-monitor (pid %d) %s, so the exit code is unknown and the finish time is when crispd "
                 "noticed",
                 (int)c->monitor_pid, why) < 0)
        message = NULL;
    c->info.state = RT_CONTAINER_EXITED;
    c->info.finished_at = clock_realtime_ns();
    c->info.exit_code = RT_CONTAINER_LOST_EXIT_CODE;
    free(c->info.reason);
    c->info.reason = strdup(RT_CONTAINER_LOST_REASON);
    free(c->info.message);
    c->info.message = message ? message : strdup("");
    c->info.pid = 0;
}
