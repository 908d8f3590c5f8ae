/* Host-side mount propagation for volumes whose mount propagates (rslave, rshared): events only reach
 * the container when the host mount holding the source is shared (or, for rslave, a slave). And
 * recursive read-only volumes, which exclude propagation. */
#ifndef CRISP_RUNTIME_PROPAGATION_H
#define CRISP_RUNTIME_PROPAGATION_H

#include "common/error.h"
#include "runtime/container.h"

#include <stdbool.h>

/* Makes the mount holding host_path shared unless it already is (or, when !need_shared, is a slave). */
int rt_propagation_ensure(const char *host_path, bool need_shared, crisp_error_t **err);

/* Whether this kernel has mount_setattr(2) (Linux 5.12), which recursive read-only mounts need; probed
 * once. */
bool rt_mount_rro_supported(void);

/* A recursive read-only volume must be read-only, private, and on a kernel that can make it so
 * (the rules of CRI's Mount.recursive_read_only); EINVAL otherwise. */
int rt_mount_rro_check(const struct rt_mount *m, crisp_error_t **err);

#endif
