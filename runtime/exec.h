/* ExecSync: runs a command in a running container through the crisp-exec helper, which joins the
 * container's namespaces and cgroups and takes its user; crispd only spawns it and collects its
 * output, since it is multi-threaded and must not do that work in a forked child of itself. */
#ifndef CRISP_RUNTIME_EXEC_H
#define CRISP_RUNTIME_EXEC_H

#include "common/cancel.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RT_EXEC_MAX_ARGS 4096
/* The kernel's MAX_ARG_STRLEN, which counts the terminating NUL. */
#define RT_EXEC_MAX_ARG_LEN (128 * 1024 - 1)
/* After a timeout, how long crisp-exec has to kill the command's tree before it is SIGKILLed. */
#define RT_EXEC_KILL_GRACE_MS 2000

struct rt_exec_request {
    const char *helper;        /* path of crisp-exec */
    pid_t pid;                 /* a process of the container, whose namespaces are joined */
    uint64_t start_time;       /* of pid (rt_proc_start_time), so a reused pid is refused; 0: unchecked */
    char *const *cgroup_procs; /* cgroup.procs files to join, NULL-terminated or NULL */
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplementary groups; none when n_groups is 0 */
    size_t n_groups;
    const char *cwd;   /* in the container; NULL: "/" */
    char *const *env;  /* "KEY=VALUE", NULL-terminated or NULL; its PATH finds argv[0] */
    char *const *argv; /* NULL-terminated, at least one */
    bool no_new_privs;
    const char *seccomp_path; /* the container's compiled filter, or NULL */
    unsigned seccomp_flags;
    bool tty; /* rt_exec_start: give the command a terminal of the container's devpts */
    bool has_caps;
    char caps_hex[17];     /* the container's capability mask (runtime/caps.h) */
    uint64_t ambient_caps; /* raised for the command, also when it is not root */
    int timeout_ms;        /* from the start; 0: none */
    size_t max_output;     /* per stream; the rest is dropped */
    /* rt_exec_sync: once fired, the command's tree is killed as on a timeout and the call fails with
     * the token's reason (crisp_cancel_error). NULL: none. */
    struct crisp_cancel *cancel;
};

struct rt_exec_result {
    int exit_code;  /* 128+N for signal N; -1 when timed out */
    bool timed_out; /* the command's whole tree was killed */
    char *out;      /* NUL-terminated */
    size_t out_len;
    char *err_out; /* NUL-terminated */
    size_t err_len;
    bool out_truncated, err_truncated;
};

/* Runs the command to completion. A command that fails, cannot be found (exit 127) or times out is a
 * result; an error is a request that is invalid (EINVAL), a container process that is gone (ENOENT)
 * or a failure to get the command started (EIO and others). */
int rt_exec_sync(const struct rt_exec_request *req, struct rt_exec_result *ret, crisp_error_t **err);

void rt_exec_result_fini(struct rt_exec_result *r);

/* An exec started with rt_exec_start: crisp-exec's pid, a pidfd readable once it exits, and the read
 * end of the pipe it reports setup failures on. */
struct rt_exec_process {
    pid_t pid;
    int pidfd;
    int error_fd;
};

/* Starts the command with stdio[0..2] as its stdin, stdout and stderr (-1: /dev/null for stdin,
 * closed for the others). With req->tty, stdio[0] must be a unix socket instead: crisp-exec opens a
 * terminal in the container, sends its master over the socket (SCM_RIGHTS, with one byte) and gives
 * the command its slave (rt_exec_terminal_receive). Does not wait; req->timeout_ms and max_output
 * do not apply. */
int rt_exec_start(const struct rt_exec_request *req, const int stdio[3], struct rt_exec_process *ret,
                  crisp_error_t **err);

/* With req->tty: the terminal's master from the socket whose other end was stdio[0], within
 * timeout_ms. If crisp-exec fails first, that failure is the error. */
int rt_exec_terminal_receive(struct rt_exec_process *p, int sock, int timeout_ms, int *ret_master,
                             crisp_error_t **err);

/* Once the pidfd is readable: reaps crisp-exec and returns the command's exit code, or the error that
 * kept it from starting. */
int rt_exec_process_wait(struct rt_exec_process *p, int *ret_exit_code, crisp_error_t **err);

/* Kills the command's tree if it still runs (SIGTERM to crisp-exec, which kills it, then SIGKILL after
 * RT_EXEC_KILL_GRACE_MS), reaps crisp-exec and closes the fds. NULL or already reaped: closes only. */
void rt_exec_process_fini(struct rt_exec_process *p);

#endif
