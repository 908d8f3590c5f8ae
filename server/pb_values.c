#include "server/pb_values.h"

Runtime__V1__UInt64Value *srv_pb_u64(struct arena *a, uint64_t v)
{
    Runtime__V1__UInt64Value *m = arena_alloc(a, sizeof(*m));
    if (m) {
        runtime__v1__uint64_value__init(m);
        m->value = v;
    }
    return m;
}
