#define _GNU_SOURCE
#include "runtime/spawn.h"

#include "common/cleanup.h"
#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>

/* One of the helper's pipes, read into out up to max bytes. */
struct stream {
    int fd;
    struct rt_spawn_output *out;
    size_t cap;
    size_t max;
};

/* A running helper. Times are CLOCK_MONOTONIC milliseconds, 0 when not pending. */
struct run {
    struct stream s[3];
    size_t n_streams;
    pid_t pid;
    int pidfd;
    bool exited;
    int status;
    bool timed_out, cancelled;
    int cancel_fd;
    int term_grace_ms;
    int64_t deadline, kill_at, drain_end;
};

static int output_init(struct rt_spawn_output *o)
{
    *o = (struct rt_spawn_output){.data = calloc(1, 1)};
    return o->data ? 0 : -1;
}

/* Makes room for one more byte and the NUL, unless the bound is reached. Grows geometrically so a
 * 16 MiB bound costs nothing for the usual few bytes. */
static int stream_grow(struct stream *s)
{
    if (s->out->len >= s->max || s->out->len + 1 < s->cap)
        return 0;
    size_t cap = s->cap < 4096 ? 4096 : s->cap * 2;
    if (cap - 1 > s->max)
        cap = s->max + 1;
    char *p = realloc(s->out->data, cap);
    if (!p)
        return -1;
    s->out->data = p;
    s->cap = cap;
    return 0;
}

/* Reads one chunk; past the bound the rest is read and dropped so the helper never blocks. */
static int stream_read(struct stream *s)
{
    char scratch[16384];
    if (stream_grow(s) < 0)
        return -1;
    struct rt_spawn_output *o = s->out;
    bool room = o->len < s->max;
    char *dst = room ? o->data + o->len : scratch;
    size_t size = room ? s->cap - 1 - o->len : sizeof(scratch);
    ssize_t n = read(s->fd, dst, size);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        close(TAKE_FD(s->fd));
        return 0;
    }
    if (!room) {
        o->truncated = true;
        return 0;
    }
    o->len += (size_t)n;
    o->data[o->len] = '\0';
    return 0;
}

static void run_close(struct run *r)
{
    for (size_t i = 0; i < r->n_streams; i++)
        if (r->s[i].fd >= 0)
            close(TAKE_FD(r->s[i].fd));
    if (r->pidfd >= 0)
        close(TAKE_FD(r->pidfd));
}

/* Our ends are close-on-exec; the helper's ends (ret_wfd) are closed by the caller after the spawn. */
static int streams_open(struct run *r, struct rt_spawn_result *ret, size_t max, int ret_wfd[3],
                        crisp_error_t **err)
{
    struct rt_spawn_output *outs[3] = {&ret->out, &ret->err_out, &ret->status_out};
    for (size_t i = 0; i < r->n_streams; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return crisp_error_errno(err, "pipe");
        r->s[i] = (struct stream){.fd = p[0], .out = outs[i], .cap = 1, .max = max};
        ret_wfd[i] = p[1];
    }
    return 0;
}

/* posix_spawn, not fork: a vfork-style child of a multi-threaded process can safely do no more than
 * exec. Signal dispositions and mask are reset since crispd's (SIGPIPE ignored, say) would carry over.
 * The dup2s run in order and every source is above 2 (crispd's own stdio is open), and only the last
 * one targets 3, so none is clobbered. */
static int helper_spawn(char *const *argv, const int fds[4], bool new_session, pid_t *ret_pid,
                        crisp_error_t **err)
{
    static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&actions);
    if (fds[0] < 0)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    for (int fd = 0; fd <= 3; fd++)
        if (fds[fd] >= 0)
            posix_spawn_file_actions_adddup2(&actions, fds[fd], fd);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        (new_session ? POSIX_SPAWN_SETSID : 0));
    int r = posix_spawn(ret_pid, argv[0], &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (r != 0) {
        errno = r;
        return crisp_error_errno(err, "spawn %s", argv[0]);
    }
    return 0;
}

static void child_kill_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int rt_spawn_start(char *const *argv, const int fds[4], bool new_session, pid_t *ret_pid, int *ret_pidfd,
                   crisp_error_t **err)
{
    pid_t pid;
    if (helper_spawn(argv, fds, new_session, &pid, err) < 0)
        return -1;
    /* Our unreaped child, so its pid cannot be reused: pidfd_open and kill are safe. */
    int pidfd = pidfd_open(pid, PIDFD_NONBLOCK);
    if (pidfd < 0) {
        crisp_error_errno(err, "pidfd_open %s", argv[0]);
        child_kill_reap(pid);
        return -1;
    }
    *ret_pid = pid;
    *ret_pidfd = pidfd;
    return 0;
}

static int run_start(struct run *r, const struct rt_spawn_options *o, const int wfd[3], crisp_error_t **err)
{
    const int fds[4] = {-1, wfd[0], wfd[1], wfd[2]};
    if (rt_spawn_start(o->argv, fds, false, &r->pid, &r->pidfd, err) < 0)
        return -1;
    if (o->timeout_ms > 0)
        r->deadline = clock_monotonic_ms() + o->timeout_ms;
    return 0;
}

static int run_reap(struct run *r, crisp_error_t **err)
{
    while (waitpid(r->pid, &r->status, 0) < 0)
        if (errno != EINTR)
            return crisp_error_errno(err, "wait for helper %d", (int)r->pid);
    r->exited = true;
    r->drain_end = clock_monotonic_ms() + RT_SPAWN_DRAIN_MS;
    return 0;
}

/* SIGTERM first when the helper has a grace period: it then kills what it started. */
static void run_timers(struct run *r, int64_t now)
{
    if (r->exited)
        return;
    if (r->deadline && now >= r->deadline) {
        r->timed_out = true;
        r->deadline = 0;
        kill(r->pid, r->term_grace_ms > 0 ? SIGTERM : SIGKILL);
        r->kill_at = r->term_grace_ms > 0 ? now + r->term_grace_ms : 0;
    }
    if (r->kill_at && now >= r->kill_at) {
        kill(r->pid, SIGKILL);
        r->kill_at = 0;
    }
}

static bool run_done(const struct run *r, int64_t now)
{
    if (!r->exited)
        return false;
    for (size_t i = 0; i < r->n_streams; i++)
        if (r->s[i].fd >= 0)
            return now >= r->drain_end;
    return true;
}

static int run_poll_timeout(const struct run *r, int64_t now)
{
    int64_t next = r->exited ? r->drain_end : r->deadline;
    if (!r->exited && r->kill_at && (!next || r->kill_at < next))
        next = r->kill_at;
    if (!next)
        return -1;
    return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

static int run_poll(struct run *r, crisp_error_t **err)
{
    struct pollfd fds[5];
    for (size_t i = 0; i < 3; i++)
        fds[i] = (struct pollfd){.fd = i < r->n_streams ? r->s[i].fd : -1, .events = POLLIN};
    fds[3] = (struct pollfd){.fd = r->exited ? -1 : r->pidfd, .events = POLLIN};
    fds[4] = (struct pollfd){.fd = r->exited || r->cancelled ? -1 : r->cancel_fd, .events = POLLIN};
    int n = poll(fds, 5, run_poll_timeout(r, clock_monotonic_ms()));
    if (n < 0 && errno != EINTR)
        return crisp_error_errno(err, "poll helper %d", (int)r->pid);
    for (size_t i = 0; n > 0 && i < r->n_streams; i++)
        if (fds[i].revents && stream_read(&r->s[i]) < 0)
            return crisp_error_oom(err);
    if (n > 0 && fds[4].revents) { /* stopped the way a timeout stops it, at once */
        r->cancelled = true;
        if (!r->timed_out)
            r->deadline = clock_monotonic_ms();
    }
    if (n > 0 && fds[3].revents)
        return run_reap(r, err);
    return 0;
}

static int run_loop(struct run *r, crisp_error_t **err)
{
    for (;;) {
        int64_t now = clock_monotonic_ms();
        run_timers(r, now);
        if (run_done(r, now))
            return 0;
        if (run_poll(r, err) < 0)
            break;
    }
    if (!r->exited) {
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    return -1;
}

int rt_spawn_run(const struct rt_spawn_options *o, struct rt_spawn_result *ret, crisp_error_t **err)
{
    struct run r = {.n_streams = o->status_pipe ? 3 : 2,
                    .pid = -1,
                    .pidfd = -1,
                    .cancel_fd = crisp_cancel_fd(o->cancel),
                    .term_grace_ms = o->term_grace_ms};
    int wfd[3] = {-1, -1, -1};
    *ret = (struct rt_spawn_result){0};
    for (size_t i = 0; i < 3; i++)
        r.s[i].fd = -1;
    if (output_init(&ret->out) < 0 || output_init(&ret->err_out) < 0 || output_init(&ret->status_out) < 0) {
        rt_spawn_result_fini(ret);
        return crisp_error_oom(err);
    }
    int rc = streams_open(&r, ret, o->max_output, wfd, err);
    if (rc == 0)
        rc = run_start(&r, o, wfd, err);
    for (size_t i = 0; i < 3; i++)
        if (wfd[i] >= 0)
            close(wfd[i]);
    if (rc == 0)
        rc = run_loop(&r, err);
    run_close(&r);
    if (rc < 0) {
        rt_spawn_result_fini(ret);
        return -1;
    }
    ret->wait_status = r.status;
    ret->timed_out = r.timed_out && !r.cancelled;
    ret->cancelled = r.cancelled;
    return 0;
}

void rt_spawn_result_fini(struct rt_spawn_result *r)
{
    if (!r)
        return;
    free(r->out.data);
    free(r->err_out.data);
    free(r->status_out.data);
    *r = (struct rt_spawn_result){0};
}
