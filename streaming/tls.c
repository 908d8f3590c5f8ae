#define _GNU_SOURCE
#include "streaming/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>

#define TLS_HANDSHAKE_MS 10000

int srv_tls_context_new(const char *cert, const char *key, void **ret, crisp_error_t **err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return crisp_error_make(err, ENOMEM, "cannot create a TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Our send queue may move between a partial write and its retry. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key && *key ? key : cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        unsigned long e = ERR_get_error();
        char why[256];
        ERR_error_string_n(e, why, sizeof(why));
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return crisp_error_make(err, EINVAL, "TLS certificate %s or key %s: %s", cert, key ? key : "", why);
    }
    *ret = ctx;
    return 0;
}

void srv_tls_context_free(void *ctx)
{
    SSL_CTX_free(ctx);
}

int srv_tls_accept(void *ctx, struct srv_conn *c, int stop_fd)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
        SSL_free(ssl);
        return -1;
    }
    c->tls = ssl;
    int waited = 0;
    for (;;) {
        int r = SSL_accept(ssl);
        if (r == 1)
            return 0;
        int e = SSL_get_error(ssl, r);
        if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || waited >= TLS_HANDSHAKE_MS) {
            ERR_clear_error();
            return -1;
        }
        struct pollfd p[2] = {{.fd = c->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT},
                              {.fd = stop_fd, .events = POLLIN}};
        if (poll(p, 2, 100) < 0 && errno != EINTR)
            return -1;
        if (p[1].revents)
            return -1;
        waited += 100;
    }
}

void srv_tls_conn_free(struct srv_conn *c)
{
    SSL_free(c->tls);
    c->tls = NULL;
}
