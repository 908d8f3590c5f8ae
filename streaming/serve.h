/* Serving one accepted connection: its HTTP request, the token it names, the upgrade to SPDY or
 * WebSocket, and the session that follows. */
#ifndef CRISP_SERVER_STREAMING_SERVE_H
#define CRISP_SERVER_STREAMING_SERVE_H

#include "streaming/io.h"
#include "streaming/streaming.h"
#include "streaming/tokens.h"

struct srv_serve_ctx {
    struct srv_tokens *tokens;
    const struct srv_streaming_backend *backend;
    int stop_fd;             /* readable once the server stops */
    int64_t idle_timeout_ms; /* a session with no traffic that long ends; 0: never */
};

/* Runs until the connection is done; the caller closes it. */
void srv_streaming_serve(const struct srv_serve_ctx *ctx, struct srv_conn *c);

#endif
