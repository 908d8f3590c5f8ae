/* TLS for the streaming server (OpenSSL), behind struct srv_conn. */
#ifndef CRISP_SERVER_STREAMING_TLS_H
#define CRISP_SERVER_STREAMING_TLS_H

#include "streaming/io.h"

/* A server context from PEM files; *ret is an SSL_CTX *. */
int srv_tls_context_new(const char *cert, const char *key, void **ret, crisp_error_t **err);
void srv_tls_context_free(void *ctx);

/* The server side of the handshake on c->fd (non-blocking), bounded in time; sets c->tls. */
int srv_tls_accept(void *ctx, struct srv_conn *c, int stop_fd);
void srv_tls_conn_free(struct srv_conn *c);

#endif
