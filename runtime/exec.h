/* ExecSync: runs a command in a running container through the crisp-exec helper, which joins the
 * container's namespaces and cgroups and takes its user; crispd only spawns it and collects its
 * output, since it is multi-threaded and must not do that work in a forked child of itself. */
#ifndef CRISP_RUNTIME_EXEC_H
#define CRISP_RUNTIME_EXEC_H

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
    const char *helper;         /* path of crisp-exec */
    pid_t pid;                  /* a process of the container, whose namespaces are joined */
    uint64_t start_time;        /* of pid (rt_proc_start_time), so a reused pid is refused; 0: unchecked */
    char *const *cgroup_procs;  /* cgroup.procs files to join, NULL-terminated or NULL */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;        /* supplementary groups; none when n_groups is 0 */
    size_t n_groups;
    const char *cwd;            /* in the container; NULL: "/" */
    char *const *env;           /* "KEY=VALUE", NULL-terminated or NULL; its PATH finds argv[0] */
    char *const *argv;          /* NULL-terminated, at least one */
    bool no_new_privs;
    bool has_caps;
    char caps_hex[17];          /* the container's capability mask (runtime/caps.h) */
    int timeout_ms;             /* from the start; 0: none */
    size_t max_output;          /* per stream; the rest is dropped */
};

struct rt_exec_result {
    int exit_code;              /* 128+N for signal N; -1 when timed out */
    bool timed_out;             /* the command's whole tree was killed */
    char *out;                  /* NUL-terminated */
    size_t out_len;
    char *err_out;              /* NUL-terminated */
    size_t err_len;
    bool out_truncated, err_truncated;
};

/* Runs the command to completion. A command that fails, cannot be found (exit 127) or times out is a
 * result; an error is a request that is invalid (EINVAL), a container process that is gone (ENOENT)
 * or a failure to get the command started (EIO and others). */
int rt_exec_sync(const struct rt_exec_request *req, struct rt_exec_result *ret, crisp_error_t **err);

void rt_exec_result_fini(struct rt_exec_result *r);

#endif
