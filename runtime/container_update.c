/* UpdateContainerResources and ReopenContainerLog: changes to a container that exists. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REOPEN_POLL_MS 5
#define REOPEN_POLLS 400

/* The unified files of res over those asked for before: one value per file, the latest. */
static int unified_merge(struct rt_container_resources *cr, const struct rt_cgroup_resources *res)
{
    size_t n = cr->n_unified;
    struct rt_kv merged[n + res->n_unified + 1];
    if (n > 0)
        memcpy(merged, cr->unified, n * sizeof(*merged));
    for (size_t i = 0; i < res->n_unified; i++) {
        size_t k = 0;
        while (k < n && strcmp(merged[k].key, res->unified[i].key) != 0)
            k++;
        merged[k] = (struct rt_kv){(char *)res->unified[i].key, (char *)res->unified[i].value};
        n += k == n;
    }
    struct rt_kv *copy = NULL;
    if (rt_kv_copy(merged, n, &copy) < 0)
        return -1;
    rt_kv_free(cr->unified, cr->n_unified);
    cr->unified = copy;
    cr->n_unified = n;
    return 0;
}

int rt_container_resources_record(struct rt_container_resources *cr, const struct rt_cgroup_resources *res,
                                  const int *oom_score_adj)
{
    if (res && res->n_unified && unified_merge(cr, res) < 0)
        return -1;
    if (res) {
        cr->cpu_period = res->cpu_period ? res->cpu_period : cr->cpu_period;
        cr->cpu_quota = res->cpu_quota ? res->cpu_quota : cr->cpu_quota;
        cr->cpu_shares = res->cpu_shares ? res->cpu_shares : cr->cpu_shares;
        cr->memory_limit = res->memory_limit ? res->memory_limit : cr->memory_limit;
        cr->memory_swap_limit = res->memory_swap_limit ? res->memory_swap_limit : cr->memory_swap_limit;
    }
    if (oom_score_adj)
        cr->oom_score_adj = *oom_score_adj;
    const char *cpus = res && res->cpuset_cpus && *res->cpuset_cpus ? res->cpuset_cpus : cr->cpuset_cpus;
    const char *mems = res && res->cpuset_mems && *res->cpuset_mems ? res->cpuset_mems : cr->cpuset_mems;
    char *c = strdup(cpus ? cpus : ""), *m = strdup(mems ? mems : "");
    if (!c || !m) {
        free(c);
        free(m);
        return -1;
    }
    free(cr->cpuset_cpus);
    free(cr->cpuset_mems);
    cr->cpuset_cpus = c;
    cr->cpuset_mems = m;
    return 0;
}

int rt_container_update(struct rt_runtime *rt, const char *id, const struct rt_cgroup_resources *res,
                        crisp_error_t **err)
{
    struct rt_container *c = rt_container_lock_by_id(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %.100s not found", id);
    int r = c->info.state == RT_CONTAINER_EXITED
                ? crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s has exited", id)
                : rt_cgroup_apply(&rt->cgroups, c->info.cgroup_path, res, err);
    if (r == 0 && rt_container_resources_record(&c->info.resources, res, NULL) == 0)
        rt_container_persist(c, NULL);
    rt_container_unlock_unref(c);
    return r;
}

/* kubelet renamed the log; the monitor reopens log_path on SIGUSR1, which creates the new file. The
 * signal is sent under c->lock (the monitor is the container's), the wait for the file is not. */
static int log_reopen_signal_locked(struct rt_container *c, const char *id, char **ret_log,
                                    crisp_error_t **err)
{
    if (c->info.state != RT_CONTAINER_RUNNING)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not running", id);
    if (!c->info.log_path[0])
        return 0;
    if (!(*ret_log = strdup(c->info.log_path)))
        return crisp_error_oom(err);
    if (kill(c->monitor_pid, SIGUSR1) < 0)
        return crisp_error_errno(err, "signal crisp-monitor of %.12s", id);
    return 0;
}

int rt_container_reopen_log(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    struct rt_container *c = rt_container_lock_by_id(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %.100s not found", id);
    rt_container_refresh(rt, c);
    _cleanup_free_ char *log = NULL;
    int r = log_reopen_signal_locked(c, id, &log, err);
    rt_container_unlock_unref(c);
    if (r < 0 || !log)
        return r;
    for (int i = 0; i < REOPEN_POLLS && access(log, F_OK) < 0; i++)
        nanosleep(&(struct timespec){0, REOPEN_POLL_MS * 1000000}, NULL);
    if (access(log, F_OK) < 0)
        return crisp_error_make(err, ETIMEDOUT, "log %s was not reopened", log);
    return 0;
}
