/* Host-side mount propagation for volumes whose mount propagates (rslave, rshared): events only reach
 * the container when the host mount holding the source is shared (or, for rslave, a slave). */
#ifndef CRISP_RUNTIME_PROPAGATION_H
#define CRISP_RUNTIME_PROPAGATION_H

#include "common/error.h"

#include <stdbool.h>

/* Makes the mount holding host_path shared unless it already is (or, when !need_shared, is a slave). */
int rt_propagation_ensure(const char *host_path, bool need_shared, crisp_error_t **err);

#endif
