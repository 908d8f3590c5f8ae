/* LinuxContainerResources (protobuf) to the runtime's cgroup resources, checked. */
#ifndef CRISP_SERVER_RESOURCES_H
#define CRISP_SERVER_RESOURCES_H

#include "api.pb-c.h"
#include "common/arena.h"
#include "common/error.h"
#include "runtime/cgroup/cgroup.h"

/* 0 if list (a cpuset such as "0-3,6"; NULL or "" for none) is well-formed and, when online is given,
 * names only ids in it; EINVAL otherwise. */
int srv_cpuset_check(const char *what, const char *list, const char *online, crisp_error_t **err);
/* 0 if key is a cgroup v2 interface file a request may set ("memory.high", "io.weight": a known
 * controller's, no path, no "..") and value is bounded text (lines, no other control characters);
 * EINVAL otherwise. */
int srv_unified_check(const char *key, const char *value, crisp_error_t **err);
int srv_resources_from(struct arena *a, const Runtime__V1__LinuxContainerResources *r,
                       struct rt_cgroup_resources **ret, crisp_error_t **err);

#endif
