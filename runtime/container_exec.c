/* ExecSync and Exec in a running container, through crisp-exec (runtime/exec.c): the container's
 * namespaces, cgroups, user, environment and privileges. */
#define _GNU_SOURCE
#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"
#include "runtime/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXEC_MAX_OUTPUT (16 * 1024 * 1024)

void rt_exec_output_fini(struct rt_exec_output *o)
{
    free(o->out);
    free(o->err_out);
    memset(o, 0, sizeof(*o));
}

/* What every exec in c shares; called with c->lock held. The pointers into c stay valid after it is
 * dropped: they are fixed once c is indexed, and the exec holds a reference. */
static void exec_request_fill(struct rt_runtime *rt, struct rt_container *c, char *const *argv, char **procs,
                              const char *seccomp, struct rt_exec_request *req)
{
    *req = (struct rt_exec_request){
        .helper = rt->exec_helper,
        .pid = c->info.pid,
        .start_time = c->pid_start,
        .cgroup_procs = procs,
        .uid = c->info.uid,
        .gid = c->info.gid,
        .groups = c->info.groups,
        .n_groups = c->info.n_groups,
        .cwd = c->cwd,
        .env = c->env,
        .argv = argv,
        .has_caps = true,
        .no_new_privs = c->no_new_privs,
        .seccomp_path = c->has_seccomp ? seccomp : NULL,
        .seccomp_flags = c->seccomp_flags,
        .ambient_caps = c->ambient_capabilities,
    };
    snprintf(req->caps_hex, sizeof(req->caps_hex), "%016llx", (unsigned long long)c->capabilities);
}

/* What an exec borrows from its container: a reference, not the lock (a long exec must not block
 * status or stop), and the files it joins. */
struct exec_prep {
    struct rt_container *c;
    char **procs;
    char *seccomp;
};

static void exec_prep_fini(struct exec_prep *p)
{
    strv_free(p->procs);
    free(p->seccomp);
    rt_container_unref(p->c);
}

static int exec_prepare(struct rt_runtime *rt, const char *id, char *const *argv, struct exec_prep *p,
                        struct rt_exec_request *req, crisp_error_t **err)
{
    *p = (struct exec_prep){.c = rt_container_lock_by_id(rt, id)};
    if (!p->c)
        return crisp_error_make(err, ENOENT, "container %.100s not found", id);
    rt_container_refresh(rt, p->c);
    bool running = p->c->info.state == RT_CONTAINER_RUNNING;
    p->procs = running ? rt_cgroup_procs_files(&rt->cgroups, p->c->info.cgroup_path) : NULL;
    p->seccomp = rt_container_seccomp_file(p->c);
    exec_request_fill(rt, p->c, argv, p->procs, p->seccomp, req);
    pthread_mutex_unlock(&p->c->lock);
    if (!running)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not running", id);
    return p->procs && p->seccomp ? 0 : crisp_error_oom(err);
}

int rt_container_exec_sync(struct rt_runtime *rt, const char *id, char *const *argv, int64_t timeout_s,
                           struct rt_exec_output *ret, crisp_error_t **err)
{
    _cleanup_(exec_prep_fini) struct exec_prep prep = {0};
    struct rt_exec_request req;
    if (exec_prepare(rt, id, argv, &prep, &req, err) < 0)
        return -1;
    req.timeout_ms = (int)(timeout_s > 0 ? timeout_s * 1000 : 0);
    req.max_output = EXEC_MAX_OUTPUT;
    /* The server's handler does not pass its call's token down; it is this thread's. */
    req.cancel = crisp_cancel_current();
    struct rt_exec_result res = {0};
    int r = rt_exec_sync(&req, &res, err);
    if (r == 0 && res.timed_out)
        r = crisp_error_make(err, ETIMEDOUT, "command timed out after %lld s", (long long)timeout_s);
    if (r == 0)
        *ret = (struct rt_exec_output){res.exit_code, res.out, res.err_out, res.out_len, res.err_len};
    else
        rt_exec_result_fini(&res);
    return r;
}

int rt_container_exec_start(struct rt_runtime *rt, const char *id, char *const *argv, bool tty,
                            const int stdio[3], struct rt_exec_process *ret, crisp_error_t **err)
{
    _cleanup_(exec_prep_fini) struct exec_prep prep = {0};
    struct rt_exec_request req;
    if (exec_prepare(rt, id, argv, &prep, &req, err) < 0)
        return -1;
    req.tty = tty;
    return rt_exec_start(&req, stdio, ret, err);
}
