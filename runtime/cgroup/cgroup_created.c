/* The per-hierarchy record of what rt_cgroup_create made, which rt_cgroup_remove undoes. */
#define _GNU_SOURCE
#include "runtime/cgroup/cgroup.h"

#include <errno.h>
#include <string.h>

/* hierarchy's index in c->levels, or c->n */
static size_t level_index(const struct rt_cgroup_created *c, const char *hierarchy)
{
    size_t i = 0;
    while (i < c->n && strcmp(c->levels[i].name, hierarchy) != 0)
        i++;
    return i;
}

int rt_cgroup_created_depth(const struct rt_cgroup_created *c, const char *hierarchy)
{
    size_t i = level_index(c, hierarchy);
    return i < c->n ? c->levels[i].depth : c->rest;
}

int rt_cgroup_created_max(const struct rt_cgroup_created *c)
{
    int max = c->rest;
    for (size_t i = 0; i < c->n; i++)
        max = c->levels[i].depth > max ? c->levels[i].depth : max;
    return max;
}

int rt_cgroup_created_set(struct rt_cgroup_created *c, const char *hierarchy, int depth, crisp_error_t **err)
{
    size_t len = strlen(hierarchy);
    if (len == 0 || len >= RT_CGROUP_HIERARCHY_NAME_MAX || depth < 0)
        return crisp_error_make(err, EINVAL, "bad created depth %d for cgroup hierarchy \"%.32s\"", depth,
                                hierarchy);
    size_t i = level_index(c, hierarchy);
    if (i == RT_CGROUP_HIERARCHIES_MAX)
        return crisp_error_make(err, ENOSPC, "more than %d cgroup hierarchies", RT_CGROUP_HIERARCHIES_MAX);
    if (i == c->n)
        memcpy(c->levels[c->n++].name, hierarchy, len + 1);
    c->levels[i].depth = depth;
    return 0;
}
