/* What an RPC handler sees of its call: the daemon, an arena for the response, request metadata,
 * and for server-streaming calls a way to send messages and notice the client leaving. */
#ifndef CRISP_SERVER_CALL_H
#define CRISP_SERVER_CALL_H

#include "common/arena.h"
#include "common/cancel.h"
#include "common/error.h"

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdint.h>

struct srv_daemon;
struct srv_call;

struct srv_ctx {
    struct srv_daemon *daemon;
    struct srv_call *call;
    struct arena *arena;
    /* Fired when the client goes away, the call's deadline passes or shutdown runs out of time;
     * blocking work watches it (also reachable as crisp_cancel_current() on the call's thread). */
    struct crisp_cancel *cancel;
    const char *method;
    uint64_t id;
};

/* Value of request metadata key (lower case), or NULL; copied into the call's arena. */
const char *srv_call_metadata(struct srv_ctx *ctx, const char *key);

/* Server-streaming: sends one message; fails with ECANCELED once the client is gone. */
int srv_stream_send(struct srv_ctx *ctx, const ProtobufCMessage *msg, crisp_error_t **err);

/* Server-streaming: true once the client has cancelled or closed the call. */
bool srv_stream_closed(struct srv_ctx *ctx);

typedef int (*srv_unary_fn)(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                            crisp_error_t **err);
typedef int (*srv_stream_fn)(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err);

#endif
