/* Creating the workload: clone into new mount (and maybe PID) namespaces, hold the child on a pipe
 * until it has its oom_score_adj (it joins its cgroups itself, first thing), then learn from a
 * close-on-exec pipe whether its exec succeeded. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Affects only the processes created afterwards, which is exactly the workload. */
static int pid_ns_join(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hl_fail(errno, "open pid namespace %s", path);
    int rc = setns(fd, CLONE_NEWPID);
    int saved = errno;
    close(fd);
    return rc < 0 ? hl_fail(saved, "join pid namespace %s", path) : 0;
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* struct clone_args of <linux/sched.h>, up to the cgroup field (version 2). */
struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
        cgroup;
};

/* Fork-like clone (no new stack): the child continues here with a copy of our memory. With a cgroup v2
 * directory it is born there (clone3, Linux 5.7), which spares the migration a write to cgroup.procs
 * costs. Returns the pid, and in *ret_born_in whether that worked. */
static pid_t clone_fork(unsigned long flags, int cgroup_fd, bool *ret_born_in)
{
    *ret_born_in = false;
    if (cgroup_fd >= 0) {
        struct clone_args_v2 args = {
            .flags = flags | CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroup_fd};
        pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
        if (pid >= 0) {
            *ret_born_in = true; /* in the child too: it must not join that one again */
            return pid;
        }
    }
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0UL);
}

/* The workload joins its cgroups itself, first thing once released (mon_cgroup_join_self). The claim
 * names it before it runs, for a crispd that restarts before it reads our report. */
static int workload_place(const struct mon_spec *spec, pid_t pid)
{
    return mon_oom_score_adj_set(spec, pid) < 0 ? -1 : mon_claim_commit(pid);
}

static int wait_child(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
        ;
    return status;
}

static int spawn_failed(struct mon_exit *ex, int exit_code, const char *message)
{
    ex->exit_code = exit_code;
    ex->signal = 0;
    ex->started_at = 0;
    ex->finished_at = mon_now_ns();
    ex->reason = "Error";
    if (message != ex->message)
        snprintf(ex->message, sizeof ex->message, "%s", message);
    return -1;
}

/* The child writes `int32 exit code` + text once, before it dies; EOF alone means exec succeeded. */
static int exec_result_read(int fd, struct mon_exit *ex)
{
    char buf[sizeof(int32_t) + sizeof ex->message];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
    }
    if (len == 0)
        return 0;
    if (len < sizeof(int32_t))
        return spawn_failed(ex, 1, "short error report from the container process");
    int32_t code;
    memcpy(&code, buf, sizeof code);
    buf[len] = '\0';
    return spawn_failed(ex, code, buf + sizeof code);
}

static int release_and_await(const struct mon_spec *spec, pid_t pid, int release_w, int error_r,
                             struct mon_exit *ex)
{
    int placed = workload_place(spec, pid);
    if (placed == 0 && write(release_w, "g", 1) != 1)
        placed = hl_fail(errno, "release the container process");
    close(release_w); /* without the byte, the child reads EOF and exits silently */
    if (placed < 0)
        kill(pid, SIGKILL);
    int rc = exec_result_read(error_r, ex);
    close(error_r);
    if (placed == 0 && rc == 0) {
        ex->started_at = mon_now_ns();
        return 0;
    }
    wait_child(pid);
    return placed < 0 ? spawn_failed(ex, 1, hl_error()) : -1;
}

/* RELEASE lets the child go on once placed; ERROR carries its failure, or closes on exec. */
static int pipes_open(int release[2], int error[2])
{
    if (pipe2(release, O_CLOEXEC) < 0)
        return hl_fail(errno, "pipe");
    if (pipe2(error, O_CLOEXEC) < 0) {
        int saved = errno;
        close(release[0]);
        close(release[1]);
        return hl_fail(saved, "pipe");
    }
    return 0;
}

int mon_workload_spawn(const struct mon_spec *spec, struct mon_stdio *io, pid_t *ret_pid,
                       struct mon_exit *ret_exit)
{
    int release[2], error[2];
    if (pipes_open(release, error) < 0)
        return spawn_failed(ret_exit, 1, hl_error());
    bool new_pid_ns = strcmp(spec->ns_pid, "new") == 0, born = false;
    size_t cgroup2_index = 0;
    int cgroup_fd = mon_cgroup2_dir_open(spec, &cgroup2_index);
    pid_t pid = -1;
    if (spec->ns_pid[0] != '/' || pid_ns_join(spec->ns_pid) == 0) {
        pid = clone_fork(CLONE_NEWNS | (new_pid_ns ? CLONE_NEWPID : 0), cgroup_fd, &born);
        if (pid < 0)
            hl_fail(errno, "clone");
    }
    if (cgroup_fd >= 0 && pid != 0)
        close(cgroup_fd);
    if (pid == 0) {
        close(release[1]);
        close(error[0]);
        mon_child_run(spec, io, born ? (ssize_t)cgroup2_index : -1, release[0], error[1]);
    }
    close(release[0]);
    close(error[1]);
    mon_stdio_close_child_ends(io);
    if (pid < 0) {
        close(release[1]);
        close(error[0]);
        return spawn_failed(ret_exit, 1, hl_error());
    }
    *ret_pid = pid;
    if (release_and_await(spec, pid, release[1], error[0], ret_exit) < 0)
        return -1;
    if (mon_stdio_terminal_receive(io) < 0) {
        kill(pid, SIGKILL);
        wait_child(pid);
        return spawn_failed(ret_exit, 1, hl_error());
    }
    return 0;
}
