/* StartContainer: crisp-monitor is spawned with the spec, detaches (its first process exits at once),
 * and reports on a sync pipe whether the workload runs. The start is recorded before the monitor is
 * spawned, and the monitor claims it (container_claim.c), so that a crash anywhere in between leaves a
 * container that start-up adopts, records as exited, or returns to CREATED with nothing running. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/pod_ns.h"
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define START_TIMEOUT_MS 60000
#define SYNC_LINE_MAX 8192

static int spawn_monitor(struct rt_runtime *rt, const struct rt_container *c, char *claim, int *ret_sync_fd,
                         crisp_error_t **err)
{
    _cleanup_free_ char *spec = path_join(c->dir, "spec");
    int pipefd[2];
    if (!spec)
        return crisp_error_oom(err);
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return crisp_error_errno(err, "pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&fa, 0, 1);
    posix_spawn_file_actions_adddup2(&fa, 0, 2);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 3);
    char *argv[] = {rt->monitor, "--spec", spec, "--sync-fd", "3", "--claim", claim, NULL};
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    pid_t pid;
    int r = posix_spawn(&pid, rt->monitor, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (r != 0) {
        close(pipefd[0]);
        errno = r;
        return crisp_error_errno(err, "spawn %s", rt->monitor);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    *ret_sync_fd = pipefd[0];
    return 0;
}

static int read_sync_line(int fd, char *buf, size_t size, crisp_error_t **err)
{
    size_t len = 0;
    int64_t deadline = clock_realtime_ns() + (int64_t)START_TIMEOUT_MS * 1000000;
    while (len + 1 < size) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)((deadline - clock_realtime_ns()) / 1000000);
        if (left <= 0 || poll(&p, 1, left) == 0)
            return crisp_error_make(err, ETIMEDOUT, "crisp-monitor did not report within %d s",
                                    START_TIMEOUT_MS / 1000);
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return len ? 0 : crisp_error_make(err, EIO, "crisp-monitor exited without reporting");
}

/* With c->lock held again, what the monitor said. */
static int start_record(struct rt_container *c, const char *line, crisp_error_t **err)
{
    int pid = 0, monitor = 0, code = 0, consumed = 0;
    c->starting = false;
    if (sscanf(line, "ok %d %d", &pid, &monitor) == 2 && pid > 0) {
        c->info.pid = pid;
        c->monitor_pid = monitor;
        c->info.started_at = clock_realtime_ns();
        c->info.state = RT_CONTAINER_RUNNING;
        rt_proc_start_time(pid, &c->pid_start, NULL);
        rt_container_monitor_track(c);
        return rt_container_persist(c, err);
    }
    if (sscanf(line, "error %d %n", &code, &consumed) >= 1 && consumed > 0) {
        rt_container_read_exit(c);
        c->info.state = RT_CONTAINER_EXITED;
        c->info.exit_code = code;
        rt_container_persist(c, NULL);
        return crisp_error_make(err, EIO, "%s", line + consumed);
    }
    return crisp_error_make(err, EIO, "crisp-monitor said \"%.200s\"", line);
}

/* The monitor's start runs without c->lock (c->op is RT_OP_STARTING): status and list answer
 * meanwhile, a stop or remove waits for it, and a second start is refused. */
static int start_locked(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    if (c->op != RT_OP_NONE)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is %s", c->info.id,
                                rt_container_op_name(c->op));
    if (c->info.state != RT_CONTAINER_CREATED)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not in state CREATED",
                                c->info.id);
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *claim = NULL;
    char line[SYNC_LINE_MAX];
    c->start_seq++;
    c->starting = true;
    if (!(claim = rt_container_claim_file(c)) || rt_container_persist(c, err) < 0) {
        c->starting = false;
        return claim ? -1 : crisp_error_oom(err);
    }
    crisp_crash_point("container.start.before_spawn");
    rt_container_op_begin_locked(c, RT_OP_STARTING);
    pthread_mutex_unlock(&c->lock);
    int r = spawn_monitor(rt, c, claim, &fd, err);
    if (r == 0) {
        crisp_crash_point("container.start.after_spawn");
        r = read_sync_line(fd, line, sizeof(line), err);
    }
    struct rt_start_claim cl;
    if (r == 0)
        crisp_crash_point("container.start.after_sync");
    else /* no report: the claim says what became of the start, and stops what must not run */
        rt_container_claim_settle(rt, c, &cl);
    pthread_mutex_lock(&c->lock);
    if (r == 0) {
        r = start_record(c, line, err);
    } else {
        rt_container_claim_apply(c, &cl);
        rt_container_persist(c, NULL);
    }
    rt_container_op_end_locked(c);
    return r;
}

int rt_container_start(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    struct rt_container *c = rt_container_lock_by_id(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %.100s not found", id);
    int r = start_locked(rt, c, err);
    if (r == 0)
        rt_container_emit(rt, RT_EVENT_CONTAINER_STARTED, c);
    else if (c->info.state == RT_CONTAINER_EXITED)
        rt_container_emit(rt, RT_EVENT_CONTAINER_STOPPED, c);
    rt_container_unlock_unref(c);
    return r < 0 ? crisp_error_wrap(err, "start container %.12s", id) : 0;
}
