/* Running one plugin binary: posix_spawn in its own process group with nothing of crispd's, its stdin
 * fed and its stdout and stderr gathered through non-blocking pipes, all within a deadline. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "runtime/cni/cni_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Output gathered from one of the plugin's pipes, NUL-terminated, at most RT_CNI_OUTPUT_MAX bytes. */
struct obuf {
    char *data;
    size_t len, cap;
};

/* Reads what is there: 1 at EOF, 0 when more may come, -1 with errno (EFBIG past the bound). */
static int obuf_fill(int fd, struct obuf *b)
{
    for (;;) {
        if (b->cap - b->len < 2) {
            size_t cap = b->cap ? b->cap * 2 : 4096;
            if (cap > RT_CNI_OUTPUT_MAX + 2)
                cap = RT_CNI_OUTPUT_MAX + 2;
            char *data = realloc(b->data, cap);
            if (!data)
                return -1;
            b->data = data;
            b->cap = cap;
            b->data[b->len] = '\0';
        }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n > 0) {
            b->len += (size_t)n;
            b->data[b->len] = '\0';
            if (b->len > RT_CNI_OUTPUT_MAX)
                return errno = EFBIG, -1;
        } else if (n == 0) {
            return 1;
        } else if (errno == EAGAIN) {
            return 0;
        } else if (errno != EINTR) {
            return -1;
        }
    }
}

static char *obuf_take(struct obuf *b)
{
    char *s = b->data ? TAKE_PTR(b->data) : strdup("");
    *b = (struct obuf){0};
    return s;
}

/* A running plugin and the parent's ends of its stdin, stdout and stderr (-1 once closed). */
struct child {
    pid_t pid;
    int in, out, err;
    const char *input;
    size_t input_len, input_off;
    struct obuf obuf, ebuf;
    bool epipe;
    int timeout_ms;
};

/* Keeps pipe ends off 0-2, which the dup2s in the child overwrite, in case crispd's are closed. */
static int fd_above_stdio(int *fd)
{
    if (*fd > 2)
        return 0;
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0)
        return -1;
    close(*fd);
    *fd = moved;
    return 0;
}

static int pipes_open(int p[3][2])
{
    for (int i = 0; i < 3; i++)
        if (pipe2(p[i], O_CLOEXEC) < 0 || fd_above_stdio(&p[i][0]) < 0 || fd_above_stdio(&p[i][1]) < 0)
            return errno;
    return 0;
}

/* In its own process group (so a timeout kills what it started too), default signal handling, an
 * empty signal mask, only fds 0-2: nothing of crispd leaks into it. Returns an errno. */
static int spawn_with(const char *path, char *const *env, int p[3][2], pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    char *argv[] = {(char *)path, NULL};
    int r = posix_spawn_file_actions_init(&fa);
    if (r)
        return r;
    if ((r = posix_spawnattr_init(&at))) {
        posix_spawn_file_actions_destroy(&fa);
        return r;
    }
    r = posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
    r = r ? r : posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
    r = r ? r : posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
    r = r ? r : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    r = r ? r
          : posix_spawnattr_setflags(&at,
                                     POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    r = r ? r : posix_spawnattr_setpgroup(&at, 0);
    r = r ? r : posix_spawnattr_setsigmask(&at, &none);
    r = r ? r : posix_spawnattr_setsigdefault(&at, &all);
    r = r ? r : posix_spawn(ret_pid, path, &fa, &at, argv, env);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

static int child_spawn(struct child *c, const char *path, char *const *env, crisp_error_t **err)
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int r = pipes_open(p);
    if (r == 0)
        r = spawn_with(path, env, p, &c->pid);
    fd_close_reset(&p[0][0]);
    fd_close_reset(&p[1][1]);
    fd_close_reset(&p[2][1]);
    c->in = p[0][1];
    c->out = p[1][0];
    c->err = p[2][0];
    if (r != 0) {
        c->pid = -1;
        errno = r;
        return crisp_error_errno(err, "spawn %s", path);
    }
    int *fds[] = {&c->in, &c->out, &c->err};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (fcntl(*fds[i], F_SETFL, O_NONBLOCK) < 0)
            return crisp_error_errno(err, "fcntl");
    return 0;
}

/* A plugin that closes its stdin early is not an error here: its exit status says why. */
static void child_feed(struct child *c)
{
    while (c->input_off < c->input_len) {
        ssize_t n = write(c->in, c->input + c->input_off, c->input_len - c->input_off);
        if (n > 0) {
            c->input_off += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else if (n == 0 || errno != EINTR) {
            c->epipe = n < 0 && errno == EPIPE;
            break;
        }
    }
    fd_close_reset(&c->in);
}

static int child_drain(int *fd, struct obuf *b, crisp_error_t **err)
{
    int r = obuf_fill(*fd, b);
    if (r < 0 && errno == EFBIG)
        return crisp_error_make(err, EFBIG, "output larger than %d bytes", RT_CNI_OUTPUT_MAX);
    if (r < 0)
        return crisp_error_errno(err, "read plugin output");
    if (r == 1)
        fd_close_reset(fd);
    return 0;
}

static int ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
                   (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
    return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Feeds stdin and collects stdout and stderr until both are closed, or the deadline. */
static int child_pump(struct child *c, const struct timespec *deadline, crisp_error_t **err)
{
    while (c->out >= 0 || c->err >= 0) {
        struct pollfd p[3];
        nfds_t n = 0;
        if (c->in >= 0)
            p[n++] = (struct pollfd){.fd = c->in, .events = POLLOUT};
        if (c->out >= 0)
            p[n++] = (struct pollfd){.fd = c->out, .events = POLLIN};
        if (c->err >= 0)
            p[n++] = (struct pollfd){.fd = c->err, .events = POLLIN};
        int left = ms_left(deadline);
        if (left == 0)
            return crisp_error_make(err, ETIMEDOUT, "timed out after %d ms", c->timeout_ms);
        if (poll(p, n, left) < 0) {
            if (errno == EINTR)
                continue;
            return crisp_error_errno(err, "poll");
        }
        for (nfds_t i = 0; i < n; i++) {
            if (!p[i].revents)
                continue;
            if (p[i].fd == c->in)
                child_feed(c);
            else if (child_drain(p[i].fd == c->out ? &c->out : &c->err,
                                 p[i].fd == c->out ? &c->obuf : &c->ebuf, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* Plugins exit right after closing their output, so a short sleep between polls costs nothing. */
static int child_wait(struct child *c, const struct timespec *deadline, int *ret_status, crisp_error_t **err)
{
    for (;;) {
        int status;
        pid_t w = waitpid(c->pid, &status, WNOHANG);
        if (w == c->pid) {
            c->pid = -1;
            *ret_status = status;
            return 0;
        }
        if (w < 0 && errno != EINTR) {
            c->pid = -1; /* not ours to kill any more */
            return crisp_error_errno(err, "waitpid");
        }
        if (ms_left(deadline) == 0)
            return crisp_error_make(err, ETIMEDOUT, "timed out after %d ms", c->timeout_ms);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* SIGKILL to the plugin's process group, then reap it: no zombie is left whatever failed. */
static void child_kill(struct child *c)
{
    if (c->pid <= 0)
        return;
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    c->pid = -1;
}

void rt_cni_exec_result_fini(struct rt_cni_exec_result *x)
{
    free(x->out);
    free(x->err);
}

static int child_run(struct child *c, const char *path, char *const *env, crisp_error_t **err)
{
    struct timespec deadline = clock_timespec_after_ms(CLOCK_MONOTONIC, c->timeout_ms);
    int status = 0;
    if (child_spawn(c, path, env, err) < 0 || child_pump(c, &deadline, err) < 0 ||
        child_wait(c, &deadline, &status, err) < 0)
        return -1;
    return status;
}

/* SIGPIPE is blocked meanwhile, as a plugin may exit before reading all of its input; a SIGPIPE raised
 * here is consumed so it does not reach crispd. */
int rt_cni_exec(const char *path, char *const *env, const char *input, int timeout_ms,
                struct rt_cni_exec_result *ret, crisp_error_t **err)
{
    struct child c = {.pid = -1,
                      .in = -1,
                      .out = -1,
                      .err = -1,
                      .input = input,
                      .input_len = strlen(input),
                      .timeout_ms = timeout_ms};
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int status = child_run(&c, path, env, err);
    child_kill(&c);
    fd_close_reset(&c.in);
    fd_close_reset(&c.out);
    fd_close_reset(&c.err);
    if (c.epipe && !sigismember(&old, SIGPIPE))
        sigtimedwait(&pipe_set, NULL, &(struct timespec){0, 0});
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ret->out = obuf_take(&c.obuf);
    ret->err = obuf_take(&c.ebuf);
    ret->status = status;
    if (status < 0)
        return -1;
    return ret->out && ret->err ? 0 : crisp_error_oom(err);
}
