/* Which sysctls a pod may set: only those the kernel keeps per namespace, in a namespace of the pod's
 * own, as Kubernetes' kubelet/sysctl/namespace.go decides. */
#ifndef CRISP_RUNTIME_SYSCTL_H
#define CRISP_RUNTIME_SYSCTL_H

#include "common/error.h"

#include <stdbool.h>

#define RT_SYSCTL_KEY_MAX 256
#define RT_SYSCTL_VALUE_MAX 4096

/* Whether key (dotted, or kubelet's '/'-separated form) may be set to value in a pod; net.* needs the
 * pod's own network namespace, the IPC sysctls its own IPC namespace. Fails with EINVAL. */
int rt_sysctl_check(const char *key, const char *value, bool host_network, bool host_ipc,
                    crisp_error_t **err);

#endif
