#define _GNU_SOURCE
#include "runtime/exec.h"

#include "common/cleanup.h"
#include "common/strv.h"
#include "helpers/lib/fd_pass.h"
#include "runtime/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Room for helper_args' fixed flags (each with its value, plus "--" and the helper) and for its
 * numbers besides the groups; generous, so a new flag doesn't overflow them. */
#define ARGV_FIXED_MAX 40
#define ARGV_NUMBERS_MAX 10

/* crisp-exec's arguments; numbers are formatted into num. */
struct argv_builder {
    const char **v;
    size_t n;
    char (*num)[24];
    size_t n_num;
    char hex[17];
};

static int strv_check(char *const *v, const char *what, bool need_eq, crisp_error_t **err)
{
    size_t n = strv_length(v);
    if (n > RT_EXEC_MAX_ARGS)
        return crisp_error_make(err, EINVAL, "%zu %s, at most %d are allowed", n, what, RT_EXEC_MAX_ARGS);
    for (size_t i = 0; i < n; i++) {
        if (strnlen(v[i], RT_EXEC_MAX_ARG_LEN + 1) > RT_EXEC_MAX_ARG_LEN)
            return crisp_error_make(err, EINVAL, "%s %zu is longer than %d bytes", what, i,
                                    RT_EXEC_MAX_ARG_LEN);
        if (need_eq && (v[i][0] == '=' || !strchr(v[i], '=')))
            return crisp_error_make(err, EINVAL, "%s %zu is not KEY=VALUE: %.100s", what, i, v[i]);
    }
    return 0;
}

static int request_check(const struct rt_exec_request *req, crisp_error_t **err)
{
    if (!req->argv || !req->argv[0] || !req->argv[0][0])
        return crisp_error_make(err, EINVAL, "no command to run");
    if (req->pid <= 0)
        return crisp_error_make(err, EINVAL, "no container process to run the command in");
    if (strv_check(req->argv, "arguments", false, err) < 0)
        return -1;
    return strv_check(req->env, "environment variables", true, err);
}

static void arg_add(struct argv_builder *b, const char *flag, const char *value)
{
    b->v[b->n++] = flag;
    if (value)
        b->v[b->n++] = value;
}

static void arg_add_num(struct argv_builder *b, const char *flag, unsigned long long value)
{
    snprintf(b->num[b->n_num], sizeof(b->num[0]), "%llu", value);
    arg_add(b, flag, b->num[b->n_num++]);
}

static void arg_add_list(struct argv_builder *b, const char *flag, char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        arg_add(b, flag, list[i]);
}

/* The error pipe is the helper's fd 3 (rt_spawn_run's status pipe). */
static void helper_args(const struct rt_exec_request *req, struct argv_builder *b)
{
    arg_add(b, req->helper, NULL);
    arg_add_num(b, "--pid", (unsigned long long)req->pid);
    if (req->start_time)
        arg_add_num(b, "--start-time", req->start_time);
    arg_add_list(b, "--cgroup-procs", req->cgroup_procs);
    arg_add_num(b, "--uid", req->uid);
    arg_add_num(b, "--gid", req->gid);
    for (size_t i = 0; i < req->n_groups; i++)
        arg_add_num(b, "--group", req->groups[i]);
    if (req->cwd)
        arg_add(b, "--cwd", req->cwd);
    arg_add_list(b, "--env", req->env);
    if (req->no_new_privs)
        arg_add(b, "--no-new-privs", NULL);
    if (req->has_caps)
        arg_add(b, "--caps", req->caps_hex);
    if (req->tty)
        arg_add(b, "--tty", NULL);
    if (req->ambient_caps) {
        snprintf(b->hex, sizeof(b->hex), "%016llx", (unsigned long long)req->ambient_caps);
        arg_add(b, "--ambient-caps", b->hex);
    }
    if (req->seccomp_path) {
        arg_add(b, "--seccomp", req->seccomp_path);
        arg_add_num(b, "--seccomp-flags", req->seccomp_flags);
    }
    arg_add(b, "--error-fd", "3");
    arg_add(b, "--", NULL);
    for (size_t i = 0; req->argv[i]; i++)
        arg_add(b, req->argv[i], NULL);
}

static void argv_builder_fini(struct argv_builder *b)
{
    free(b->v);
    free(b->num);
}

static int helper_argv(const struct rt_exec_request *req, struct argv_builder *b, crisp_error_t **err)
{
    size_t lists = strv_length(req->cgroup_procs) + strv_length(req->env) + req->n_groups;
    *b = (struct argv_builder){
        .v = calloc(ARGV_FIXED_MAX + 2 * lists + strv_length(req->argv), sizeof(char *)),
        .num = calloc(ARGV_NUMBERS_MAX + req->n_groups, sizeof(b->num[0])),
    };
    if (!b->v || !b->num)
        return crisp_error_oom(err);
    helper_args(req, b);
    return 0;
}

/* crisp-exec reports why it could not start the command as "<status> <message>". */
static int helper_failure(const char *line, crisp_error_t **err)
{
    char *end;
    long status = strtol(line, &end, 10);
    const char *msg = line;
    if (end != line && *end == ' ' && status > 0 && status < 4096)
        msg = end + 1;
    else
        status = EIO;
    return crisp_error_make(err, (int)status, "%.*s", (int)strcspn(msg, "\n"), msg);
}

/* crisp-exec passes the command's status on as its own exit status (128+N for signal N), so a
 * signal only ends crisp-exec itself when we sent it on timeout, or when something else killed it. */
static int result_take(struct rt_spawn_result *sr, struct rt_exec_result *ret, crisp_error_t **err)
{
    int status = sr->wait_status;
    if (WIFSIGNALED(status) && !sr->timed_out)
        return crisp_error_make(err, EIO, "crisp-exec was killed by signal %d", WTERMSIG(status));
    ret->timed_out = sr->timed_out;
    ret->exit_code = sr->timed_out ? -1 : WEXITSTATUS(status);
    ret->out_len = sr->out.len;
    ret->out = TAKE_PTR(sr->out.data);
    ret->out_truncated = sr->out.truncated;
    ret->err_len = sr->err_out.len;
    ret->err_out = TAKE_PTR(sr->err_out.data);
    ret->err_truncated = sr->err_out.truncated;
    return 0;
}

int rt_exec_sync(const struct rt_exec_request *req, struct rt_exec_result *ret, crisp_error_t **err)
{
    *ret = (struct rt_exec_result){0};
    if (request_check(req, err) < 0)
        return -1;
    _cleanup_(argv_builder_fini) struct argv_builder b = {0};
    if (helper_argv(req, &b, err) < 0)
        return -1;
    const struct rt_spawn_options so = {
        .argv = (char *const *)b.v,
        .status_pipe = true,
        .timeout_ms = req->timeout_ms,
        .term_grace_ms = RT_EXEC_KILL_GRACE_MS,
        .max_output = req->max_output,
        .cancel = req->cancel,
    };
    _cleanup_(rt_spawn_result_fini) struct rt_spawn_result sr = {0};
    if (rt_spawn_run(&so, &sr, err) < 0)
        return crisp_error_wrap(err, "exec in container process %d", (int)req->pid);
    if (sr.status_out.len > 0)
        return helper_failure(sr.status_out.data, err);
    if (sr.cancelled)
        return crisp_cancel_error(req->cancel, "exec", err);
    return result_take(&sr, ret, err);
}

void rt_exec_result_fini(struct rt_exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err_out);
    *r = (struct rt_exec_result){0};
}

int rt_exec_start(const struct rt_exec_request *req, const int stdio[3], struct rt_exec_process *ret,
                  crisp_error_t **err)
{
    *ret = (struct rt_exec_process){.pid = -1, .pidfd = -1, .error_fd = -1};
    if (request_check(req, err) < 0)
        return -1;
    _cleanup_(argv_builder_fini) struct argv_builder b = {0};
    if (helper_argv(req, &b, err) < 0)
        return -1;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
        return crisp_error_errno(err, "pipe");
    _cleanup_close_ int error_fd = pipefd[0], error_w = pipefd[1];
    const int fds[4] = {stdio[0], stdio[1], stdio[2], error_w};
    if (rt_spawn_start((char *const *)b.v, fds, true, &ret->pid, &ret->pidfd, err) < 0)
        return crisp_error_wrap(err, "exec in container process %d", (int)req->pid);
    ret->error_fd = TAKE_FD(error_fd);
    return 0;
}

static void exec_process_close(struct rt_exec_process *p)
{
    if (p->pidfd >= 0)
        close(TAKE_FD(p->pidfd));
    if (p->error_fd >= 0)
        close(TAKE_FD(p->error_fd));
}

int rt_exec_process_wait(struct rt_exec_process *p, int *ret_exit_code, crisp_error_t **err)
{
    int status;
    pid_t r;
    while ((r = waitpid(p->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return crisp_error_errno(err, "wait for crisp-exec %d", (int)p->pid);
    p->pid = -1;
    char line[1024];
    ssize_t n = read(p->error_fd, line, sizeof(line) - 1);
    if (n > 0) {
        line[n] = '\0';
        return helper_failure(line, err);
    }
    if (WIFSIGNALED(status))
        return crisp_error_make(err, EIO, "crisp-exec was killed by signal %d", WTERMSIG(status));
    *ret_exit_code = WEXITSTATUS(status);
    return 0;
}

static bool exec_process_reaped_within(pid_t pid, int pidfd, int ms)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    if (poll(&pfd, 1, ms) <= 0)
        return false;
    return waitpid(pid, NULL, WNOHANG) == pid;
}

void rt_exec_process_fini(struct rt_exec_process *p)
{
    if (!p)
        return;
    if (p->pid > 0 && waitpid(p->pid, NULL, WNOHANG) != p->pid) {
        kill(p->pid, SIGTERM);
        if (!exec_process_reaped_within(p->pid, p->pidfd, RT_EXEC_KILL_GRACE_MS)) {
            kill(p->pid, SIGKILL);
            while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    p->pid = -1;
    exec_process_close(p);
}

int rt_exec_terminal_receive(struct rt_exec_process *p, int sock, int timeout_ms, int *ret_master,
                             crisp_error_t **err)
{
    struct pollfd pfd = {.fd = sock, .events = POLLIN};
    if (poll(&pfd, 1, timeout_ms) != 1)
        return crisp_error_make(err, ETIMEDOUT, "crisp-exec sent no terminal in %d ms", timeout_ms);
    char byte;
    int fd = -1;
    size_t n = 0;
    if (fd_pass_recv(sock, &byte, 1, &fd, 1, &n) == 1 && n == 1) {
        *ret_master = fd;
        return 0;
    }
    /* EOF: crisp-exec ended before it had a terminal; its own report says why. */
    int code;
    if (rt_exec_process_wait(p, &code, err) < 0)
        return -1;
    return crisp_error_make(err, EIO, "crisp-exec exited with %d before it opened a terminal", code);
}
