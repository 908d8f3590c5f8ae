/* server/decode: requests unpacked into the call's arena, with string fields that protobuf-c would cut
 * at a NUL byte refused whatever their depth. */
#include "api.pb-c.h"
#include "server/decode.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int decode(const ProtobufCMessage *msg, const ProtobufCMessageDescriptor *desc, crisp_error_t **err)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len + 1);
    if (!buf)
        abort();
    protobuf_c_message_pack(msg, buf);
    struct arena a = {0};
    ProtobufCMessage *out = NULL;
    int r = srv_decode_request(desc, &a, buf, len, &out, err);
    arena_fini(&a);
    free(buf);
    return r;
}

/* protobuf-c packs a char * by strlen: the NUL is put into the wire afterwards, at a known offset. */
static void test_nul_in_strings(void)
{
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__PodSandboxConfig cfg = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    md.name = "aXb", md.uid = "u", md.namespace_ = "n";
    cfg.metadata = &md;
    req.config = &cfg;
    crisp_error_t *err = NULL;
    CHECK(decode(&req.base, &runtime__v1__run_pod_sandbox_request__descriptor, &err) == 0);
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *buf = malloc(len);
    if (!buf)
        abort();
    protobuf_c_message_pack(&req.base, buf);
    uint8_t *x = memchr(buf, 'X', len);
    CHECK(x != NULL);
    if (x)
        *x = '\0';
    struct arena a = {0};
    ProtobufCMessage *out = NULL;
    CHECK(srv_decode_request(&runtime__v1__run_pod_sandbox_request__descriptor, &a, buf, len, &out, &err) <
          0);
    CHECK(err && err->status == EINVAL);
    CHECK_STR(err ? err->msg : NULL,
              "runtime.v1.PodSandboxMetadata.name has a NUL byte, which would cut it short");
    crisp_error_free(err);
    err = NULL;
    /* Bytes fields may hold NUL bytes: CRI's env values are bytes. */
    Runtime__V1__KeyValue kv = RUNTIME__V1__KEY_VALUE__INIT;
    kv.key = "K";
    kv.value.data = (uint8_t *)"a\0b";
    kv.value.len = 3;
    CHECK(decode(&kv.base, &runtime__v1__key_value__descriptor, &err) == 0);
    /* Truncated input is still malformed, as protobuf-c says. */
    CHECK(srv_decode_request(&runtime__v1__run_pod_sandbox_request__descriptor, &a, buf, len - 1, &out,
                             &err) < 0);
    CHECK_CONTAINS(err ? err->msg : NULL, "malformed");
    crisp_error_free(err);
    arena_fini(&a);
    free(buf);
}

int main(void)
{
    test_nul_in_strings();
    return unit_report("test_decode");
}
