#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

const char *const rt_cgroup_v1_controllers[RT_CGROUP_V1_CONTROLLERS] = {
    "cpu", "cpuacct", "cpuset", "memory", "pids", "hugetlb", "blkio", "devices", "freezer"};

/* The controllers mounted under mount; co-mounted ones ("cpu" and "cpuacct" as links to
 * "cpu,cpuacct") share a directory and are listed once. */
struct v1_set {
    const char *names[RT_CGROUP_V1_CONTROLLERS];
    size_t n;
};

static int v1_mounted(const char *mount, struct v1_set *ret, crisp_error_t **err)
{
    struct stat seen[RT_CGROUP_V1_CONTROLLERS];
    ret->n = 0;
    for (size_t i = 0; i < RT_CGROUP_V1_CONTROLLERS; i++) {
        _cleanup_free_ char *dir = rt_cgroup_join(mount, rt_cgroup_v1_controllers[i]);
        struct stat st;
        if (!dir)
            return crisp_error_oom(err);
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        bool dup = false;
        for (size_t j = 0; j < ret->n; j++)
            dup |= seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino;
        if (!dup) {
            seen[ret->n] = st;
            ret->names[ret->n++] = rt_cgroup_v1_controllers[i];
        }
    }
    return ret->n ? 0 : crisp_error_make(err, ENOENT, "no cgroup v1 controllers under %s", mount);
}

static bool v1_has(const struct v1_set *set, const char *name)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->names[i], name) == 0)
            return true;
    return false;
}

/* "<mount>/<controller><path>[/<file>]" */
static char *v1_path(const char *mount, const char *ctrl, const char *path, const char *file)
{
    char *s = NULL;
    int r = file ? asprintf(&s, "%s/%s%s/%s", mount, ctrl, path, file)
                 : asprintf(&s, "%s/%s%s", mount, ctrl, path);
    return r < 0 ? NULL : s;
}

static bool blank(const char *s)
{
    return s[strspn(s, " \t\n")] == '\0';
}

/* A new cpuset starts with no cpus and no memory nodes, and no task can join it until it has some. So
 * does one another request (kubelet, or a concurrent RunPodSandbox) made a moment ago and has not
 * filled yet: copying its emptiness left a pod that no container could join. The walk goes top down, so
 * the parent has been seen to already and is filled. A level that has values is never touched; one that
 * is empty is filled even when another made it: empty, it is unusable to anyone, and its maker would
 * write the same values, its parent's. */
static int cpuset_fill_step(const char *dir, int depth, bool created, crisp_error_t **err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    (void)depth;
    (void)created;
    _cleanup_free_ char *parent = strndup(dir, strrchr(dir, '/') - dir);
    if (!parent)
        return crisp_error_oom(err);
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *from = rt_cgroup_join(parent, files[i]), *to = rt_cgroup_join(dir, files[i]);
        _cleanup_free_ char *own = NULL, *value = NULL;
        if (!from || !to)
            return crisp_error_oom(err);
        if (rt_cgroup_read_file(to, &own, err) < 0)
            return -1;
        if (!blank(own))
            continue;
        if (rt_cgroup_read_file(from, &value, err) < 0)
            return -1;
        if (blank(value))
            return crisp_error_make(err, EIO, "%s is empty: no cpuset to give %s", from, dir);
        if (rt_cgroup_write_file(to, value, err) < 0)
            return -1;
    }
    return 0;
}

/* Each hierarchy keeps its own depth: kubelet makes its pod cgroup only in the controllers it
 * manages (not devices, freezer, blkio), and the levels it made must outlive crisp's pod. */
static int v1_create(const struct rt_cgroup_root *root, const char *path,
                     struct rt_cgroup_created *ret_created, crisp_error_t **err)
{
    struct v1_set set;
    if (v1_mounted(root->mount, &set, err) < 0)
        return -1;
    int created[RT_CGROUP_V1_CONTROLLERS] = {0};
    for (size_t i = 0; i < set.n; i++) {
        _cleanup_free_ char *base = rt_cgroup_join(root->mount, set.names[i]);
        rt_cgroup_step_fn step = strcmp(set.names[i], "cpuset") == 0 ? cpuset_fill_step : NULL;
        int r = base ? rt_cgroup_mkdir_walk(base, path, step, &created[i], err) : crisp_error_oom(err);
        if (r == 0)
            r = rt_cgroup_created_set(ret_created, set.names[i], created[i], err);
        if (r < 0) {
            for (size_t j = 0; j <= i; j++) {
                _cleanup_free_ char *made = rt_cgroup_join(root->mount, set.names[j]);
                if (made)
                    rt_cgroup_rmdir_up(made, path, created[j]);
            }
            return -1;
        }
    }
    return 0;
}

struct v1_apply {
    const char *mount;
    const char *path;
    struct rt_cgroup_undo *undo;
};

static int v1_set(const struct v1_apply *a, const char *ctrl, const char *file, const char *value,
                  crisp_error_t **err)
{
    _cleanup_free_ char *p = v1_path(a->mount, ctrl, a->path, file);
    if (!p)
        return crisp_error_oom(err);
    return rt_cgroup_undo_write(a->undo, p, value, err);
}

static int v1_set_int(const struct v1_apply *a, const char *ctrl, const char *file, int64_t value,
                      crisp_error_t **err)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, value);
    return v1_set(a, ctrl, file, buf, err);
}

static bool v1_exists(const struct v1_apply *a, const char *ctrl, const char *file)
{
    _cleanup_free_ char *p = v1_path(a->mount, ctrl, a->path, file);
    return p && access(p, F_OK) == 0;
}

/* The kernel refuses a shorter period while old_quota/new_period would exceed the parent's quota;
 * as runc does, set the quota first and the period again when that happens. */
static int v1_apply_cpu(const struct v1_apply *a, const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (res->cpu_shares && v1_set_int(a, "cpu", "cpu.shares", res->cpu_shares, err) < 0)
        return -1;
    bool retry_period = false;
    if (res->cpu_period) {
        if (res->cpu_quota)
            retry_period = v1_set_int(a, "cpu", "cpu.cfs_period_us", res->cpu_period, NULL) < 0;
        else if (v1_set_int(a, "cpu", "cpu.cfs_period_us", res->cpu_period, err) < 0)
            return -1;
    }
    if (res->cpu_quota && v1_set_int(a, "cpu", "cpu.cfs_quota_us", res->cpu_quota, err) < 0)
        return -1;
    if (retry_period && v1_set_int(a, "cpu", "cpu.cfs_period_us", res->cpu_period, err) < 0)
        return -1;
    return 0;
}

/* memory <= memory+swap holds at every step: raise memsw before memory, lower it after (runc's rule). */
static int v1_swap_first(const struct v1_apply *a, int64_t swap, bool *ret, crisp_error_t **err)
{
    _cleanup_free_ char *p = v1_path(a->mount, "memory", a->path, "memory.limit_in_bytes");
    _cleanup_free_ char *text = NULL;
    if (!p)
        return crisp_error_oom(err);
    if (rt_cgroup_read_file(p, &text, err) < 0)
        return -1;
    *ret = swap == -1 || strtoll(text, NULL, 10) < swap;
    return 0;
}

/* memsw only exists with swap accounting on; without it there is no swap limit to set. */
static int v1_apply_memory(const struct v1_apply *a, const struct rt_cgroup_resources *res,
                           crisp_error_t **err)
{
    int64_t mem = res->memory_limit, swap = res->memory_swap_limit;
    bool has_swap = swap && v1_exists(a, "memory", "memory.memsw.limit_in_bytes"), swap_first = false;
    if (mem && has_swap && v1_swap_first(a, swap, &swap_first, err) < 0)
        return -1;
    if (swap_first && v1_set_int(a, "memory", "memory.memsw.limit_in_bytes", swap, err) < 0)
        return -1;
    if (mem && v1_set_int(a, "memory", "memory.limit_in_bytes", mem, err) < 0)
        return -1;
    if (has_swap && !swap_first && v1_set_int(a, "memory", "memory.memsw.limit_in_bytes", swap, err) < 0)
        return -1;
    return 0;
}

/* Hugepage limits are skipped where hugetlb isn't a v1 controller (on hybrid hosts it may sit in
 * the unused v2 tree), as a kubelet sends them for every size the node knows. */
static int v1_apply_rest(const struct v1_apply *a, const struct v1_set *set,
                         const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (res->pids_limit == -1 && v1_set(a, "pids", "pids.max", "max", err) < 0)
        return -1;
    if (res->pids_limit > 0 && v1_set_int(a, "pids", "pids.max", res->pids_limit, err) < 0)
        return -1;
    if (res->cpuset_cpus && res->cpuset_cpus[0] &&
        v1_set(a, "cpuset", "cpuset.cpus", res->cpuset_cpus, err) < 0)
        return -1;
    if (res->cpuset_mems && res->cpuset_mems[0] &&
        v1_set(a, "cpuset", "cpuset.mems", res->cpuset_mems, err) < 0)
        return -1;
    for (size_t i = 0; v1_has(set, "hugetlb") && i < res->n_hugepages; i++) {
        char file[64], value[32];
        snprintf(file, sizeof(file), "hugetlb.%s.limit_in_bytes", res->hugepages[i].page_size);
        snprintf(value, sizeof(value), "%" PRIu64, res->hugepages[i].limit);
        if (v1_set(a, "hugetlb", file, value, err) < 0)
            return -1;
    }
    return 0;
}

static int v1_apply(const struct rt_cgroup_root *root, const char *path,
                    const struct rt_cgroup_resources *res, struct rt_cgroup_undo *undo, crisp_error_t **err)
{
    struct v1_set set;
    struct v1_apply a = {root->mount, path, undo};
    if (res->n_unified)
        return crisp_error_make(err, EINVAL, "unified cgroup resources need cgroup v2");
    if (v1_mounted(root->mount, &set, err) < 0)
        return -1;
    if (v1_apply_cpu(&a, res, err) < 0 || v1_apply_memory(&a, res, err) < 0)
        return -1;
    return v1_apply_rest(&a, &set, res, err);
}

static int v1_enter(const struct rt_cgroup_root *root, const char *path, pid_t pid, crisp_error_t **err)
{
    struct v1_set set;
    char value[16];
    if (v1_mounted(root->mount, &set, err) < 0)
        return -1;
    snprintf(value, sizeof(value), "%d", (int)pid);
    for (size_t i = 0; i < set.n; i++) {
        _cleanup_free_ char *procs = v1_path(root->mount, set.names[i], path, "cgroup.procs");
        if (!procs)
            return crisp_error_oom(err);
        if (rt_cgroup_write_file(procs, value, err) < 0)
            return -1;
    }
    return 0;
}

/* The pids controller counts every process; without it any hierarchy will do. */
static const char *v1_primary(const struct v1_set *set)
{
    return v1_has(set, "pids") ? "pids" : set->names[0];
}

static int wait_frozen(const char *state, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited++) {
        _cleanup_free_ char *text = NULL;
        if (rt_cgroup_read_file(state, &text, NULL) < 0)
            return -1;
        if (strncmp(text, "FROZEN", 6) == 0)
            return 0;
        nanosleep(&(struct timespec){.tv_nsec = 1000000L}, NULL);
    }
    return -1;
}

/* Frozen processes can't fork, so one pass over the tree reaches them all; SIGKILL takes effect when
 * they thaw. The tree is thawed whatever happens, or its processes would hang forever. */
static int freeze_and_signal(const char *dir, int timeout_ms, crisp_error_t **err)
{
    _cleanup_free_ char *state = rt_cgroup_join(dir, "freezer.state");
    if (!state)
        return crisp_error_oom(err);
    if (access(dir, F_OK) < 0)
        return 0;
    if (rt_cgroup_write_file(state, "FROZEN", err) < 0)
        return -1;
    /* Tasks stuck in the kernel may keep it FREEZING; kill what can be reached anyway. */
    wait_frozen(state, timeout_ms / 2);
    size_t found = 0;
    int r = rt_cgroup_signal_tree(dir, &found, err);
    if (rt_cgroup_write_file(state, "THAWED", err) < 0)
        return -1;
    return r;
}

static int v1_kill_all(const struct rt_cgroup_root *root, const char *path, int timeout_ms,
                       crisp_error_t **err)
{
    struct v1_set set;
    if (v1_mounted(root->mount, &set, err) < 0)
        return -1;
    if (v1_has(&set, "freezer")) {
        _cleanup_free_ char *dir = v1_path(root->mount, "freezer", path, NULL);
        if (!dir)
            return crisp_error_oom(err);
        if (freeze_and_signal(dir, timeout_ms, err) < 0)
            return -1;
    }
    _cleanup_free_ char *dir = v1_path(root->mount, v1_primary(&set), path, NULL);
    if (!dir)
        return crisp_error_oom(err);
    return rt_cgroup_kill_tree(dir, timeout_ms, err);
}

/* Every controller is tried, so one busy hierarchy doesn't leave the others behind. */
static int v1_remove(const struct rt_cgroup_root *root, const char *path,
                     const struct rt_cgroup_created *created, crisp_error_t **err)
{
    struct v1_set set;
    int ret = 0;
    if (v1_mounted(root->mount, &set, err) < 0)
        return -1;
    for (size_t i = 0; i < set.n; i++) {
        int depth = rt_cgroup_created_depth(created, set.names[i]);
        if (depth <= 0)
            continue;
        _cleanup_free_ char *base = rt_cgroup_join(root->mount, set.names[i]);
        if (!base)
            return crisp_error_oom(err);
        if (rt_cgroup_remove_at(base, path, depth, err) < 0)
            ret = -1;
    }
    return ret;
}

static int v1_pids(const struct rt_cgroup_root *root, const char *path, pid_t **ret_pids, size_t *ret_n,
                   crisp_error_t **err)
{
    struct v1_set set;
    if (v1_mounted(root->mount, &set, err) < 0)
        return -1;
    _cleanup_free_ char *dir = v1_path(root->mount, v1_primary(&set), path, NULL);
    if (!dir)
        return crisp_error_oom(err);
    return rt_cgroup_read_pids(dir, ret_pids, ret_n, err);
}

static int v1_devices_write(const char *dir, const char *file, const char *rule, crisp_error_t **err)
{
    _cleanup_free_ char *p = rt_cgroup_join(dir, file);
    if (!p)
        return crisp_error_oom(err);
    return rt_cgroup_write_file(p, rule, err);
}

static int v1_devices_restrict(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                               crisp_error_t **err)
{
    _cleanup_free_ char *dir = v1_path(root->mount, "devices", path, NULL);
    if (!dir)
        return crisp_error_oom(err);
    if (access(dir, F_OK) < 0)
        return 0; /* no devices controller mounted */
    if (v1_devices_write(dir, "devices.deny", "a", err) < 0)
        return crisp_error_wrap(err, "device cgroup");
    for (const char *const *r = rt_cgroup_devices_default; *r; r++)
        if (v1_devices_write(dir, "devices.allow", *r, err) < 0)
            return crisp_error_wrap(err, "device cgroup");
    for (char *const *r = extra_rules; r && *r; r++)
        if (v1_devices_write(dir, "devices.allow", *r, err) < 0)
            return crisp_error_wrap(err, "device cgroup rule \"%s\"", *r);
    return 0;
}

const struct rt_cgroup_ops rt_cgroup_v1_ops = {
    .create = v1_create,
    .apply = v1_apply,
    .devices_restrict = v1_devices_restrict,
    .enter = v1_enter,
    .kill_all = v1_kill_all,
    .remove = v1_remove,
    .pids = v1_pids,
};
