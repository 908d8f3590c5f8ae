#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const wanted[] = {"cpuset", "cpu", "io", "memory", "hugetlb", "pids"};

/* The one hierarchy's name in a struct rt_cgroup_created. */
#define V2_HIERARCHY "unified"

uint64_t rt_cgroup_shares_to_weight(uint64_t shares)
{
    shares = shares < 2 ? 2 : shares > 262144 ? 262144 : shares;
    uint64_t weight = 1 + ((shares - 2) * 9999) / 262142;
    return weight > 10000 ? 10000 : weight;
}

static int read_optional(const char *dir, const char *name, char **ret_text, crisp_error_t **err)
{
    _cleanup_free_ char *path = rt_cgroup_join(dir, name);
    if (!path)
        return crisp_error_oom(err);
    if (access(path, F_OK) < 0 && errno == ENOENT) {
        *ret_text = strdup("");
        return *ret_text ? 0 : crisp_error_oom(err);
    }
    return rt_cgroup_read_file(path, ret_text, err);
}

/* Turns on, for dir's children, those of the wanted controllers dir has and hasn't enabled yet.
 * A missing cgroup.controllers (only fake trees lack it) offers nothing. */
static int enable_controllers(const char *dir, crisp_error_t **err)
{
    _cleanup_free_ char *available = NULL, *enabled = NULL,
                        *path = rt_cgroup_join(dir, "cgroup.subtree_control");
    if (!path)
        return crisp_error_oom(err);
    if (read_optional(dir, "cgroup.controllers", &available, err) < 0 ||
        read_optional(dir, "cgroup.subtree_control", &enabled, err) < 0)
        return -1;
    char change[64] = "";
    for (size_t i = 0; i < ARRAY_SIZE(wanted); i++) {
        if (!rt_cgroup_has_word(available, wanted[i]) || rt_cgroup_has_word(enabled, wanted[i]))
            continue;
        if (change[0])
            strcat(change, " ");
        strcat(strcat(change, "+"), wanted[i]);
    }
    return change[0] ? rt_cgroup_write_file(path, change, err) : 0;
}

/* Each parent down the path offers its children the controllers it has, the root included, as runc's
 * and kubelet's cgroupfs managers do: under systemd the root enables only what its units use (often
 * just memory and pids), and a top-level parent such as /kubepods or /crisp would otherwise get no
 * cpu, cpuset or io at all. A controller a parent doesn't have is simply not used. */
static int enable_step(const char *dir, int depth, bool created, crisp_error_t **err)
{
    (void)created;
    (void)depth;
    _cleanup_free_ char *parent = strndup(dir, strrchr(dir, '/') - dir);
    if (!parent)
        return crisp_error_oom(err);
    return enable_controllers(parent, err);
}

static int v2_create(const struct rt_cgroup_root *root, const char *path,
                     struct rt_cgroup_created *ret_created, crisp_error_t **err)
{
    int depth = 0;
    if (rt_cgroup_mkdir_walk(root->mount, path, enable_step, &depth, err) < 0)
        return -1;
    if (rt_cgroup_created_set(ret_created, V2_HIERARCHY, depth, err) < 0) {
        rt_cgroup_rmdir_up(root->mount, path, depth);
        return -1;
    }
    return 0;
}

struct v2_apply {
    char *dir;
    struct rt_cgroup_undo *undo;
};

static int v2_set(const struct v2_apply *a, const char *file, const char *value, crisp_error_t **err)
{
    _cleanup_free_ char *p = rt_cgroup_join(a->dir, file);
    if (!p)
        return crisp_error_oom(err);
    return rt_cgroup_undo_write(a->undo, p, value, err);
}

/* For files that only exist with kernel support (swap accounting, a hugepage size). */
static int v2_set_optional(const struct v2_apply *a, const char *file, const char *value, crisp_error_t **err)
{
    _cleanup_free_ char *p = rt_cgroup_join(a->dir, file);
    if (!p)
        return crisp_error_oom(err);
    if (access(p, F_OK) < 0 && errno == ENOENT)
        return 0;
    return rt_cgroup_undo_write(a->undo, p, value, err);
}

static void format_limit(char *buf, size_t size, int64_t value)
{
    if (value < 0)
        snprintf(buf, size, "max");
    else
        snprintf(buf, size, "%" PRId64, value);
}

/* cpu.max is "<quota|max> [period]"; as in runc an unset quota with a period set means "max". */
static int v2_apply_cpu(const struct v2_apply *a, const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    char buf[64];
    if (res->cpu_shares) {
        snprintf(buf, sizeof(buf), "%" PRIu64, rt_cgroup_shares_to_weight((uint64_t)res->cpu_shares));
        if (v2_set(a, "cpu.weight", buf, err) < 0)
            return -1;
    }
    if (!res->cpu_quota && !res->cpu_period)
        return 0;
    size_t n = res->cpu_quota > 0 ? (size_t)snprintf(buf, sizeof(buf), "%" PRId64, res->cpu_quota)
                                  : (size_t)snprintf(buf, sizeof(buf), "max");
    if (res->cpu_period)
        snprintf(buf + n, sizeof(buf) - n, " %" PRId64, res->cpu_period);
    return v2_set(a, "cpu.max", buf, err);
}

/* v2 limits swap alone where v1 limits memory+swap, so the CRI value is converted as runc's
 * ConvertMemorySwapToCgroupV2Value does: -1 stays unlimited, swap == memory is no swap at all. The
 * caller checked swap >= memory. */
static int v2_swap_value(int64_t mem, int64_t swap, int64_t *ret, crisp_error_t **err)
{
    if (swap < 0) {
        *ret = -1;
        return 0;
    }
    if (!mem)
        return crisp_error_make(err, EINVAL, "a swap limit needs a memory limit on cgroup v2");
    *ret = swap - mem;
    return 0;
}

/* Without swap accounting there is no memory.swap.max: "max" and "0" then hold anyway (there is no
 * swap to limit), as in runc; any other limit can't be kept and is an error. */
static int v2_apply_memory(const struct v2_apply *a, const struct rt_cgroup_resources *res,
                           crisp_error_t **err)
{
    char buf[32];
    int64_t mem = res->memory_limit, swap = 0;
    if (res->memory_swap_limit && v2_swap_value(mem, res->memory_swap_limit, &swap, err) < 0)
        return -1;
    if (mem) {
        format_limit(buf, sizeof(buf), mem);
        if (v2_set(a, "memory.max", buf, err) < 0)
            return -1;
    }
    if (!res->memory_swap_limit)
        return 0;
    format_limit(buf, sizeof(buf), swap);
    return swap <= 0 ? v2_set_optional(a, "memory.swap.max", buf, err)
                     : v2_set(a, "memory.swap.max", buf, err);
}

/* runc writes the .rsvd limit too where the kernel has it (5.7+): without it a mapping could reserve
 * pages the limit would then refuse at fault time. */
static int v2_apply_hugetlb(const struct v2_apply *a, const struct rt_cgroup_resources *res,
                            crisp_error_t **err)
{
    char file[64], value[32];
    for (size_t i = 0; i < res->n_hugepages; i++) {
        snprintf(value, sizeof(value), "%" PRIu64, res->hugepages[i].limit);
        snprintf(file, sizeof(file), "hugetlb.%s.rsvd.max", res->hugepages[i].page_size);
        if (v2_set_optional(a, file, value, err) < 0)
            return -1;
        snprintf(file, sizeof(file), "hugetlb.%s.max", res->hugepages[i].page_size);
        if (v2_set_optional(a, file, value, err) < 0)
            return -1;
    }
    return 0;
}

static uint64_t io_weight_to_bfq(uint64_t weight)
{
    weight = weight < 1 ? 1 : weight > 10000 ? 10000 : weight;
    return 10 + ((weight - 1) * 990) / 9999;
}

static bool file_exists(const char *dir, const char *name)
{
    _cleanup_free_ char *p = rt_cgroup_join(dir, name);
    return p && access(p, F_OK) == 0;
}

/* io.weight exists with the io cost model; with only the BFQ scheduler there is io.bfq.weight, on
 * 1..1000. A plain "default N" or "N" is converted for it (the inverse of runc's blkio -> io.weight
 * mapping); per-device lines have no BFQ equivalent worth guessing at. */
static int v2_set_io_weight(const struct v2_apply *a, const char *line, crisp_error_t **err)
{
    if (file_exists(a->dir, "io.weight") || !file_exists(a->dir, "io.bfq.weight"))
        return v2_set(a, "io.weight", line, err);
    const char *num = strncmp(line, "default ", 8) == 0 ? line + 8 : line;
    char *end;
    errno = 0;
    unsigned long long w = strtoull(num, &end, 10);
    if (errno || end == num || *end || w < 1 || w > 10000)
        return crisp_error_make(err, EINVAL, "io.weight \"%s\" can't be set as io.bfq.weight here", line);
    char value[32];
    snprintf(value, sizeof(value), "%" PRIu64, io_weight_to_bfq(w));
    return v2_set(a, "io.bfq.weight", value, err);
}

/* The controller of a key whose file is missing says why: not enabled for this cgroup (or not built),
 * which the request can't change. */
static int v2_unified_missing(const char *key, crisp_error_t **err)
{
    return crisp_error_make(err, EINVAL,
                            "unified resource %s can't be set: no such file (controller %.*s "
                            "not available for this cgroup?)",
                            key, (int)strcspn(key, "."), key);
}

/* As runc's WriteFileByLine: a value of several lines (io.max, one device per line) is written a line
 * at a time, since the kernel parses one line per write. */
static int v2_set_unified(const struct v2_apply *a, const char *key, const char *value, crisp_error_t **err)
{
    bool io_weight = strcmp(key, "io.weight") == 0;
    if (!io_weight && !file_exists(a->dir, key))
        return v2_unified_missing(key, err);
    _cleanup_free_ char *copy = strdup(value);
    if (!copy)
        return crisp_error_oom(err);
    char *save = NULL;
    char *line = strtok_r(copy, "\n", &save);
    if (!line)
        return io_weight ? v2_set_io_weight(a, "", err) : v2_set(a, key, "", err);
    for (; line; line = strtok_r(NULL, "\n", &save))
        if ((io_weight ? v2_set_io_weight(a, line, err) : v2_set(a, key, line, err)) < 0)
            return -1;
    return 0;
}

static int v2_apply_rest(const struct v2_apply *a, const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    char value[32];
    if (res->pids_limit) {
        format_limit(value, sizeof(value), res->pids_limit);
        if (v2_set(a, "pids.max", value, err) < 0)
            return -1;
    }
    if (res->cpuset_cpus && res->cpuset_cpus[0] && v2_set(a, "cpuset.cpus", res->cpuset_cpus, err) < 0)
        return -1;
    if (res->cpuset_mems && res->cpuset_mems[0] && v2_set(a, "cpuset.mems", res->cpuset_mems, err) < 0)
        return -1;
    if (v2_apply_hugetlb(a, res, err) < 0)
        return -1;
    /* Last, so that an explicit unified value wins over one derived above. */
    for (size_t i = 0; i < res->n_unified; i++)
        if (v2_set_unified(a, res->unified[i].key, res->unified[i].value, err) < 0)
            return -1;
    return 0;
}

static int v2_apply(const struct rt_cgroup_root *root, const char *path,
                    const struct rt_cgroup_resources *res, struct rt_cgroup_undo *undo, crisp_error_t **err)
{
    struct v2_apply a = {rt_cgroup_dir(root->mount, path), undo};
    if (!a.dir)
        return crisp_error_oom(err);
    int r = v2_apply_cpu(&a, res, err) < 0 || v2_apply_memory(&a, res, err) < 0 ||
            v2_apply_rest(&a, res, err) < 0;
    free(a.dir);
    return r ? -1 : 0;
}

static int v2_enter(const struct rt_cgroup_root *root, const char *path, pid_t pid, crisp_error_t **err)
{
    _cleanup_free_ char *dir = rt_cgroup_dir(root->mount, path);
    _cleanup_free_ char *procs = dir ? rt_cgroup_join(dir, "cgroup.procs") : NULL;
    char value[16];
    if (!procs)
        return crisp_error_oom(err);
    snprintf(value, sizeof(value), "%d", (int)pid);
    return rt_cgroup_write_file(procs, value, err);
}

/* cgroup.kill (Linux 5.14) kills the whole subtree at once, forks included; the signal loop after it
 * waits for the processes to go, and does the killing on older kernels. */
static int v2_kill_all(const struct rt_cgroup_root *root, const char *path, int timeout_ms,
                       crisp_error_t **err)
{
    _cleanup_free_ char *dir = rt_cgroup_dir(root->mount, path);
    _cleanup_free_ char *kill_file = dir ? rt_cgroup_join(dir, "cgroup.kill") : NULL;
    if (!kill_file)
        return crisp_error_oom(err);
    if (access(kill_file, F_OK) == 0 && rt_cgroup_write_file(kill_file, "1", err) < 0)
        return -1;
    return rt_cgroup_kill_tree(dir, timeout_ms, err);
}

static int v2_remove(const struct rt_cgroup_root *root, const char *path,
                     const struct rt_cgroup_created *created, crisp_error_t **err)
{
    int depth = rt_cgroup_created_depth(created, V2_HIERARCHY);
    if (depth <= 0)
        return 0; /* the path is someone else's */
    return rt_cgroup_remove_at(root->mount, path, depth, err);
}

static int v2_pids(const struct rt_cgroup_root *root, const char *path, pid_t **ret_pids, size_t *ret_n,
                   crisp_error_t **err)
{
    _cleanup_free_ char *dir = rt_cgroup_dir(root->mount, path);
    if (!dir)
        return crisp_error_oom(err);
    return rt_cgroup_read_pids(dir, ret_pids, ret_n, err);
}

static int v2_devices_restrict(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                               crisp_error_t **err)
{
    _cleanup_free_ struct rt_device_rule *rules = NULL;
    size_t n = 0;
    _cleanup_free_ char *dir = rt_cgroup_dir(root->mount, path);
    if (!dir)
        return crisp_error_oom(err);
    if (rt_cgroup_devices_rules(extra_rules, &rules, &n, err) < 0)
        return -1;
    if (rt_device_program_attach(dir, rules, n, err) < 0)
        return crisp_error_wrap(err, "device cgroup");
    return 0;
}

const struct rt_cgroup_ops rt_cgroup_v2_ops = {
    .create = v2_create,
    .apply = v2_apply,
    .devices_restrict = v2_devices_restrict,
    .enter = v2_enter,
    .kill_all = v2_kill_all,
    .remove = v2_remove,
    .pids = v2_pids,
};
