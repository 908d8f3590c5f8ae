#include "server/decode.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* CRI messages nest a handful of levels; the walk below refuses more rather than recurse without end. */
#define MAX_DEPTH 32

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

static bool varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *ret)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64 && *pos < len; shift += 7) {
        uint8_t b = data[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return true;
        }
    }
    return false;
}

/* protobuf-c hands string fields out NUL-terminated, so "a\0b" would reach crisp as "a" without a word.
 * Its unpacked message keeps no lengths, so the wire is walked again with the descriptor: every string
 * field, at any depth (maps are messages too), is looked at as sent. */
static int strings_check(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, int depth,
                         crisp_error_t **err)
{
    if (depth > MAX_DEPTH)
        return crisp_error_make(err, EINVAL, "%s is nested more than %d levels deep", desc->name, MAX_DEPTH);
    for (size_t pos = 0; pos < len;) {
        uint64_t key, n = 0;
        bool ok = varint(data, len, &pos, &key);
        switch (ok ? key & 7 : 7) {
        case 0:
            ok = varint(data, len, &pos, &n);
            n = 0;
            break;
        case 1:
            n = 8;
            break;
        case 5:
            n = 4;
            break;
        case 2: {
            ok = varint(data, len, &pos, &n) && n <= len - pos;
            const ProtobufCFieldDescriptor *f = ok && key >> 3 <= UINT32_MAX
                                                    ? protobuf_c_message_descriptor_get_field(desc, key >> 3)
                                                    : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(data + pos, '\0', n))
                return crisp_error_make(err, EINVAL, "%s.%s has a NUL byte, which would cut it short",
                                        desc->name, f->name);
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                strings_check(f->descriptor, data + pos, n, depth + 1, err) < 0)
                return -1;
            break;
        }
        default:
            ok = false;
        }
        if (!ok || n > len - pos)
            return crisp_error_make(err, EINVAL, "malformed %s message", desc->name);
        pos += n;
    }
    return 0;
}

int srv_decode_request(const ProtobufCMessageDescriptor *desc, struct arena *arena, const uint8_t *data,
                       size_t len, ProtobufCMessage **ret_msg, crisp_error_t **err)
{
    ProtobufCAllocator allocator = {arena_pb_alloc, arena_pb_free, arena};
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &allocator, len, data);
    if (!msg)
        return crisp_error_make(err, EINVAL, "malformed %s message", desc->name);
    if (strings_check(desc, data, len, 0, err) < 0)
        return -1;
    *ret_msg = msg;
    return 0;
}
