#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_MOUNT "/sys/fs/cgroup"

/* The cgroupfs driver's backend for each layout of the hierarchy. */
static const struct rt_cgroup_ops *const cgroupfs_ops[] = {
    [RT_CGROUP_V1] = &rt_cgroup_v1_ops,
    [RT_CGROUP_V2] = &rt_cgroup_v2_ops,
};

/* On hybrid hosts <mount>/unified is an empty v2 tree with no controllers: it is not looked at. */
int rt_cgroup_root_detect(const char *mount, struct rt_cgroup_root *ret, crisp_error_t **err)
{
    struct stat st;
    mount = mount ? mount : DEFAULT_MOUNT;
    if (stat(mount, &st) < 0)
        return crisp_error_errno(err, "cgroup mount %s", mount);
    if (!S_ISDIR(st.st_mode))
        return crisp_error_make(err, ENOTDIR, "cgroup mount %s is not a directory", mount);
    _cleanup_free_ char *controllers = rt_cgroup_join(mount, "cgroup.controllers");
    char *copy = strdup(mount);
    if (!controllers || !copy) {
        free(copy);
        return crisp_error_oom(err);
    }
    ret->mount = copy;
    ret->mode = access(controllers, F_OK) == 0 ? RT_CGROUP_V2 : RT_CGROUP_V1;
    ret->ops = cgroupfs_ops[ret->mode];
    ret->systemd = NULL;
    return 0;
}

const struct rt_cgroup_ops *rt_cgroup_files_ops(const struct rt_cgroup_root *root)
{
    return cgroupfs_ops[root->mode];
}

void rt_cgroup_root_fini(struct rt_cgroup_root *root)
{
    if (!root)
        return;
    rt_cgroup_systemd_free(root->systemd);
    root->systemd = NULL;
    free(root->mount);
    root->mount = NULL;
    root->ops = NULL;
}

char *rt_cgroup_container_path(const struct rt_cgroup_root *root, const char *pod_path, const char *id)
{
    enum rt_systemd_unit_kind kind = RT_SYSTEMD_NONE;
    _cleanup_free_ char *unit = NULL, *parent = NULL;
    char *path = NULL;
    if (root->systemd && rt_systemd_unit_of(pod_path, &kind, &unit, &parent, NULL) < 0)
        return NULL;
    int r = kind == RT_SYSTEMD_SLICE ? asprintf(&path, "%s/crisp-%s.scope", pod_path, id)
                                     : asprintf(&path, "%s/ctr-%.12s", pod_path, id);
    return r < 0 ? NULL : path;
}

static int check_cpuset(const char *what, const char *list, crisp_error_t **err)
{
    if (list && strspn(list, "0123456789,-") != strlen(list))
        return crisp_error_make(err, EINVAL, "%s \"%s\" is not a list of numbers and ranges", what, list);
    return 0;
}

static int check_numbers(const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (res->cpu_period < 0 || res->cpu_quota < -1 || res->cpu_shares < 0)
        return crisp_error_make(err, EINVAL, "negative cpu period, quota or shares");
    if (res->memory_limit < 0 || res->memory_swap_limit < -1)
        return crisp_error_make(err, EINVAL, "negative memory or swap limit");
    if (res->pids_limit < -1)
        return crisp_error_make(err, EINVAL, "negative pids limit %lld", (long long)res->pids_limit);
    if (res->memory_limit && res->memory_swap_limit > 0 && res->memory_swap_limit < res->memory_limit)
        return crisp_error_make(err, EINVAL, "memory+swap limit %lld is below memory limit %lld",
                                (long long)res->memory_swap_limit, (long long)res->memory_limit);
    return 0;
}

/* "2MB", "1GB", "64KB": the kernel's names for hugepage sizes, which become part of a file name. */
static bool page_size_ok(const char *s)
{
    size_t digits = strspn(s, "0123456789");
    return digits > 0 && digits <= 12 && s[digits] && strchr("KMGT", s[digits]) &&
           strcmp(s + digits + 1, "B") == 0;
}

/* Unified keys are interface file names such as "memory.high": nothing that could leave the cgroup. */
static bool unified_key_ok(const char *key)
{
    return key[0] && key[0] != '.' && strchr(key, '.') && !strchr(key, '/') && strlen(key) < 256;
}

static int check_resources(const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (check_numbers(res, err) < 0 || check_cpuset("cpuset cpus", res->cpuset_cpus, err) < 0 ||
        check_cpuset("cpuset mems", res->cpuset_mems, err) < 0)
        return -1;
    for (size_t i = 0; i < res->n_hugepages; i++)
        if (!res->hugepages[i].page_size || !page_size_ok(res->hugepages[i].page_size))
            return crisp_error_make(err, EINVAL, "bad hugepage size \"%s\"",
                                    res->hugepages[i].page_size ? res->hugepages[i].page_size : "");
    for (size_t i = 0; i < res->n_unified; i++) {
        if (!res->unified[i].key || !unified_key_ok(res->unified[i].key))
            return crisp_error_make(err, EINVAL, "bad unified cgroup key \"%s\"",
                                    res->unified[i].key ? res->unified[i].key : "");
        if (!res->unified[i].value)
            return crisp_error_make(err, EINVAL, "no value for unified cgroup key %s", res->unified[i].key);
    }
    return 0;
}

int rt_cgroup_create(const struct rt_cgroup_root *root, const char *path,
                     struct rt_cgroup_created *ret_created, crisp_error_t **err)
{
    if (rt_cgroup_path_check(path, false, err) < 0)
        return -1;
    struct rt_cgroup_created created = {0};
    if (root->ops->create(root, path, &created, err) < 0)
        return crisp_error_wrap(err, "create cgroup %s", path);
    *ret_created = created;
    return 0;
}

int rt_cgroup_apply(const struct rt_cgroup_root *root, const char *path,
                    const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    _cleanup_(rt_cgroup_undo_fini) struct rt_cgroup_undo undo = {0};
    if (rt_cgroup_path_check(path, false, err) < 0 || check_resources(res, err) < 0)
        return crisp_error_wrap(err, "cgroup %s", path);
    int r = root->ops->apply(root, path, res, &undo, err);
    if (r < 0) {
        rt_cgroup_undo_rollback(&undo);
        return crisp_error_wrap(err, "set resources of cgroup %s", path);
    }
    return 0;
}

int rt_cgroup_keep(const struct rt_cgroup_root *root, const char *path, const struct rt_cgroup_resources *res,
                   crisp_error_t **err)
{
    if (rt_cgroup_path_check(path, false, err) < 0 || check_resources(res, err) < 0)
        return crisp_error_wrap(err, "cgroup %s", path);
    return root->ops->keep ? root->ops->keep(root, path, res, err) : 0;
}

int rt_cgroup_enter(const struct rt_cgroup_root *root, const char *path, pid_t pid, crisp_error_t **err)
{
    if (rt_cgroup_path_check(path, false, err) < 0)
        return -1;
    if (pid <= 0)
        return crisp_error_make(err, EINVAL, "bad pid %d", (int)pid);
    int r = root->ops->enter(root, path, pid, err);
    return r < 0 ? crisp_error_wrap(err, "move %d into cgroup %s", (int)pid, path) : 0;
}

int rt_cgroup_kill_all(const struct rt_cgroup_root *root, const char *path, int timeout_ms,
                       crisp_error_t **err)
{
    if (rt_cgroup_path_check(path, false, err) < 0)
        return -1;
    int r = root->ops->kill_all(root, path, timeout_ms, err);
    return r < 0 ? crisp_error_wrap(err, "kill processes of cgroup %s", path) : 0;
}

int rt_cgroup_remove(const struct rt_cgroup_root *root, const char *path,
                     const struct rt_cgroup_created *created, crisp_error_t **err)
{
    if (rt_cgroup_path_check(path, false, err) < 0)
        return -1;
    int r = root->ops->remove(root, path, created, err);
    return r < 0 ? crisp_error_wrap(err, "remove cgroup %s", path) : 0;
}

int rt_cgroup_pids(const struct rt_cgroup_root *root, const char *path, pid_t **ret_pids, size_t *ret_n,
                   crisp_error_t **err)
{
    if (rt_cgroup_path_check(path, true, err) < 0)
        return -1;
    int r = root->ops->pids(root, path, ret_pids, ret_n, err);
    return r < 0 ? crisp_error_wrap(err, "processes of cgroup %s", path) : 0;
}

int rt_cgroup_devices_restrict(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                               crisp_error_t **err)
{
    if (rt_cgroup_path_check(path, false, err) < 0)
        return -1;
    return root->ops->devices_restrict(root, path, extra_rules, err);
}
