#include "server/decode.h"

#include <errno.h>

static void *arena_pb_alloc(void *data, size_t size)
{
    return arena_alloc(data, size);
}

/* Arena memory is released with the call, never piecemeal. */
static void arena_pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

int srv_decode_request(const ProtobufCMessageDescriptor *desc, struct arena *arena, const uint8_t *data,
                       size_t len, ProtobufCMessage **ret_msg, crisp_error_t **err)
{
    ProtobufCAllocator allocator = {arena_pb_alloc, arena_pb_free, arena};
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &allocator, len, data);
    if (!msg)
        return crisp_error_make(err, EINVAL, "malformed %s message", desc->name);
    *ret_msg = msg;
    return 0;
}
