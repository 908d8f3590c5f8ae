/* Decoding a request's bytes into its message, into the call's arena. Kept apart from the gRPC loop
 * so the fuzzer drives exactly the code the server runs. */
#ifndef CRISP_SERVER_DECODE_H
#define CRISP_SERVER_DECODE_H

#include "common/arena.h"
#include "common/error.h"

#include <protobuf-c/protobuf-c.h>

int srv_decode_request(const ProtobufCMessageDescriptor *desc, struct arena *arena, const uint8_t *data,
                       size_t len, ProtobufCMessage **ret_msg, crisp_error_t **err);

#endif
