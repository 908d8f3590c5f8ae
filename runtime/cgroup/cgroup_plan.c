/* What rt_cgroup_create is about to make, recorded before it makes it: a crash inside the create
 * then leaves a record that removes exactly the levels crisp was making, never the ones that existed
 * before (kubelet's pod cgroup and its parents). */
#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How many trailing components of base+path do not exist. */
static int missing_depth(const char *base, const char *path, int *ret, crisp_error_t **err)
{
    _cleanup_free_ char *dir = rt_cgroup_dir(base, path);
    if (!dir)
        return crisp_error_oom(err);
    size_t base_len = strlen(base);
    int n = 0;
    while (strlen(dir) > base_len + 1 && access(dir, F_OK) < 0) {
        if (errno != ENOENT)
            return crisp_error_errno(err, "access %s", dir);
        n++;
        *strrchr(dir, '/') = '\0';
    }
    *ret = n;
    return 0;
}

static int plan_at(const char *base, const char *hierarchy, const char *path, struct rt_cgroup_created *ret,
                   crisp_error_t **err)
{
    int depth = 0;
    if (missing_depth(base, path, &depth, err) < 0)
        return -1;
    return rt_cgroup_created_set(ret, hierarchy, depth, err);
}

int rt_cgroup_create_plan(const struct rt_cgroup_root *root, const char *path, struct rt_cgroup_created *ret,
                          crisp_error_t **err)
{
    *ret = (struct rt_cgroup_created){0};
    if (rt_cgroup_path_check(path, false, err) < 0)
        return -1;
    if (root->mode == RT_CGROUP_V2)
        return plan_at(root->mount, "unified", path, ret, err);
    /* Co-mounted controllers share a directory and so get the same depth. */
    for (size_t i = 0; i < RT_CGROUP_V1_CONTROLLERS; i++) {
        const char *name = rt_cgroup_v1_controllers[i];
        _cleanup_free_ char *base = rt_cgroup_join(root->mount, name);
        struct stat st;
        if (!base)
            return crisp_error_oom(err);
        if (stat(base, &st) == 0 && S_ISDIR(st.st_mode) && plan_at(base, name, path, ret, err) < 0)
            return -1;
    }
    return 0;
}

int rt_cgroup_created_merge(struct rt_cgroup_created *into, const struct rt_cgroup_created *from,
                            crisp_error_t **err)
{
    for (size_t i = 0; i < from->n; i++) {
        const struct rt_cgroup_level *l = &from->levels[i];
        int have = rt_cgroup_created_depth(into, l->name);
        if (l->depth > have && rt_cgroup_created_set(into, l->name, l->depth, err) < 0)
            return -1;
    }
    if (from->rest > into->rest)
        into->rest = from->rest;
    return 0;
}
