/* Single-use tokens that name a pending Exec, Attach or PortForward request in its URL. */
#ifndef CRISP_SERVER_STREAMING_TOKENS_H
#define CRISP_SERVER_STREAMING_TOKENS_H

#include "streaming/streaming.h"

/* How long a URL stays valid unless the configuration says otherwise. */
#define SRV_TOKEN_TTL_MS 60000
#define SRV_TOKENS_MAX 4096

struct srv_tokens;

/* ttl_ms: how long a token stays valid. */
int srv_tokens_new(int64_t ttl_ms, struct srv_tokens **ret, crisp_error_t **err);
void srv_tokens_free(struct srv_tokens *t);

/* Files req (owned from now on, even on error) under a fresh random URL-safe token (caller frees). */
int srv_tokens_add(struct srv_tokens *t, struct srv_streaming_request *req, int64_t now_ms, char **ret_token,
                   crisp_error_t **err);
/* Removes and returns the request of a live token; NULL when unknown or expired. */
struct srv_streaming_request *srv_tokens_take(struct srv_tokens *t, const char *token, int64_t now_ms);

#endif
