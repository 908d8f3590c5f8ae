/* LinuxContainerResources (protobuf) to the runtime's cgroup resources, checked. */
#ifndef CRISP_SERVER_RESOURCES_H
#define CRISP_SERVER_RESOURCES_H

#include "api.pb-c.h"
#include "common/arena.h"
#include "common/error.h"
#include "runtime/cgroup/cgroup.h"

int srv_resources_from(struct arena *a, const Runtime__V1__LinuxContainerResources *r,
                       struct rt_cgroup_resources **ret, crisp_error_t **err);

#endif
