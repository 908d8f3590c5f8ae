#include "server/convert/resources.h"

#include <errno.h>

#define MAX_RESOURCE_ENTRIES 64

static int hugepages_from(struct arena *a, const Runtime__V1__LinuxContainerResources *r,
                          struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (r->n_hugepage_limits > MAX_RESOURCE_ENTRIES || r->n_unified > MAX_RESOURCE_ENTRIES)
        return crisp_error_make(err, EINVAL, "at most %d hugepage limits and unified entries",
                                MAX_RESOURCE_ENTRIES);
    res->hugepages = arena_alloc(a, (r->n_hugepage_limits + 1) * sizeof(*res->hugepages));
    res->unified = arena_alloc(a, (r->n_unified + 1) * sizeof(*res->unified));
    if (!res->hugepages || !res->unified)
        return crisp_error_oom(err);
    for (size_t i = 0; i < r->n_hugepage_limits; i++) {
        res->hugepages[i].page_size = r->hugepage_limits[i]->page_size;
        res->hugepages[i].limit = r->hugepage_limits[i]->limit;
    }
    res->n_hugepages = r->n_hugepage_limits;
    for (size_t i = 0; i < r->n_unified; i++) {
        res->unified[i].key = r->unified[i]->key;
        res->unified[i].value = r->unified[i]->value;
    }
    res->n_unified = r->n_unified;
    return 0;
}

int srv_resources_from(struct arena *a, const Runtime__V1__LinuxContainerResources *r,
                       struct rt_cgroup_resources **ret, crisp_error_t **err)
{
    *ret = NULL;
    if (!r)
        return 0;
    struct rt_cgroup_resources *res = arena_alloc(a, sizeof(*res));
    if (!res)
        return crisp_error_oom(err);
    res->cpu_period = r->cpu_period;
    res->cpu_quota = r->cpu_quota;
    res->cpu_shares = r->cpu_shares;
    res->memory_limit = r->memory_limit_in_bytes;
    res->memory_swap_limit = r->memory_swap_limit_in_bytes;
    res->cpuset_cpus = r->cpuset_cpus;
    res->cpuset_mems = r->cpuset_mems;
    if (hugepages_from(a, r, res, err) < 0)
        return -1;
    *ret = res;
    return 0;
}
