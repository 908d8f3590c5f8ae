/* Small CRI wrapper messages built into a call's arena. */
#ifndef CRISP_SERVER_PB_VALUES_H
#define CRISP_SERVER_PB_VALUES_H

#include "api.pb-c.h"
#include "common/arena.h"

#include <stdint.h>

/* NULL when out of memory. */
Runtime__V1__UInt64Value *srv_pb_u64(struct arena *a, uint64_t v);

#endif
