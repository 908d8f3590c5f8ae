/* libFuzzer target for the request decode path: the first byte picks a CRI method, the rest is that
 * method's request bytes. A decoded message must pack again to its computed size. (It need not decode
 * again: protobuf-c keeps an unknown field numbered 0, written in a padded varint, that it then refuses
 * in its one-byte form. Unknown fields are ignored by every handler, so that is harmless.) */
#include "server/decode.h"
#include "server/dispatch.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        crisp_error_t *err = NULL;
        if (srv_dispatch_init(NULL, 0, &err) < 0)
            abort();
        ready = 1;
    }
    if (size < 1)
        return 0;
    size_t n_methods;
    const struct srv_method *methods = srv_dispatch_methods(&n_methods);
    const struct srv_method *m = &methods[data[0] % n_methods];
    struct arena arena = {0};
    crisp_error_t *err = NULL;
    ProtobufCMessage *msg = NULL;
    if (srv_decode_request(m->input, &arena, data + 1, size - 1, &msg, &err) == 0) {
        size_t packed_size = protobuf_c_message_get_packed_size(msg);
        uint8_t *packed = arena_alloc(&arena, packed_size + 1);
        if (!packed || protobuf_c_message_pack(msg, packed) != packed_size)
            abort();
    }
    crisp_error_free(err);
    arena_fini(&arena);
    return 0;
}
