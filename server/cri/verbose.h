/* The "info" of verbose ContainerStatus and PodSandboxStatus: JSON shaped as containerd's, with the OCI
 * runtime spec under "runtimeSpec", so that `crictl inspect ID | jq .info.runtimeSpec.process.args`
 * works. Generated with yajl: every value (labels, paths, env) is escaped. */
#ifndef CRISP_SERVER_CRI_VERBOSE_H
#define CRISP_SERVER_CRI_VERBOSE_H

#include "common/arena.h"
#include "common/error.h"
#include "runtime/container.h"
#include "runtime/sandbox.h"

/* pod may be NULL (its hostname is then left out). */
char *srv_verbose_container_info(struct arena *a, const struct rt_container_info *i,
                                 const struct rt_sandbox_info *pod, crisp_error_t **err);
char *srv_verbose_pod_info(struct arena *a, const struct rt_sandbox_info *i, crisp_error_t **err);

#endif
