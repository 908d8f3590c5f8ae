#define _GNU_SOURCE
#include "streaming/io.h"

#include "common/clock.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

int srv_buf_append(struct srv_buf *b, const void *data, size_t n)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + n > b->cap) {
        /* Reclaim the consumed front before growing. */
        if (b->off > 0) {
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        if (b->len + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->len + n)
                cap *= 2;
            uint8_t *p = realloc(b->data, cap);
            if (!p) {
                errno = ENOMEM;
                return -1;
            }
            b->data = p;
            b->cap = cap;
        }
    }
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

int srv_buf_put_u8(struct srv_buf *b, uint8_t v)
{
    return srv_buf_append(b, &v, 1);
}

int srv_buf_put_be16(struct srv_buf *b, uint16_t v)
{
    uint8_t p[2] = {v >> 8, v & 0xff};
    return srv_buf_append(b, p, 2);
}

int srv_buf_put_be32(struct srv_buf *b, uint32_t v)
{
    uint8_t p[4] = {v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff};
    return srv_buf_append(b, p, 4);
}

void srv_buf_consume(struct srv_buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void srv_buf_fini(struct srv_buf *b)
{
    free(b->data);
    *b = (struct srv_buf){0};
}

int srv_headers_add(struct srv_headers *h, const char *name, size_t name_len, const char *value,
                    size_t value_len, crisp_error_t **err)
{
    if (h->n >= SRV_HEADERS_MAX)
        return crisp_error_make(err, E2BIG, "more than %d headers", SRV_HEADERS_MAX);
    char *n = strndup(name, name_len), *v = strndup(value, value_len);
    if (!n || !v) {
        free(n);
        free(v);
        return crisp_error_oom(err);
    }
    h->name[h->n] = n;
    h->value[h->n++] = v;
    return 0;
}

const char *srv_headers_get(const struct srv_headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0)
            return h->value[i];
    return NULL;
}

void srv_headers_fini(struct srv_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->name[i]);
        free(h->value[i]);
    }
    h->n = 0;
}

/* Maps an SSL_read/SSL_write result to the read(2)/write(2) convention. */
static ssize_t tls_result(SSL *ssl, int r)
{
    if (r > 0)
        return r;
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        ERR_clear_error();
        errno = ECONNRESET;
        return -1;
    }
}

ssize_t srv_conn_read(struct srv_conn *c, void *buf, size_t n)
{
    if (c->tls)
        return tls_result(c->tls, SSL_read(c->tls, buf, (int)(n > INT32_MAX ? INT32_MAX : n)));
    ssize_t r;
    do
        r = recv(c->fd, buf, n, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return r;
}

ssize_t srv_conn_write(struct srv_conn *c, const void *buf, size_t n)
{
    if (c->tls)
        return tls_result(c->tls, SSL_write(c->tls, buf, (int)(n > INT32_MAX ? INT32_MAX : n)));
    ssize_t r;
    do
        r = send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    return r;
}

bool srv_conn_pending(struct srv_conn *c)
{
    return c->tls && SSL_pending(c->tls) > 0;
}

void srv_conn_shutdown_write(struct srv_conn *c)
{
    if (c->tls)
        SSL_shutdown(c->tls);
    shutdown(c->fd, SHUT_WR);
}

int srv_fd_wait(int fd, short events, int stop_fd, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_monotonic_ms();
        if (left <= 0)
            return 0;
        struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = stop_fd, .events = POLLIN}};
        int r = poll(p, 2, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || p[1].revents)
            return -1;
        if (r > 0)
            return 1;
    }
}

int srv_conn_write_all(struct srv_conn *c, const void *data, size_t n, int timeout_ms)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = srv_conn_write(c, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (errno != EAGAIN)
            return -1;
        struct pollfd pfd = {.fd = c->fd, .events = POLLOUT | POLLIN};
        if (poll(&pfd, 1, timeout_ms) <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *srv_base64_encode(const void *data, size_t n, bool url)
{
    const uint8_t *in = data;
    const char *alpha = url ? b64_url : b64_std;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        *o++ = alpha[v >> 18];
        *o++ = alpha[(v >> 12) & 63];
        if (i + 1 < n)
            *o++ = alpha[(v >> 6) & 63];
        else if (!url)
            *o++ = '=';
        if (i + 2 < n)
            *o++ = alpha[v & 63];
        else if (!url)
            *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_std, c) : NULL;
    return p ? (int)(p - b64_std) : -1;
}

ssize_t srv_base64_decode(const char *in, size_t n, uint8_t *ret)
{
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            ret[o++] = acc >> 16;
            ret[o++] = (acc >> 8) & 0xff;
            ret[o++] = acc & 0xff;
        }
    }
    if (n % 4 == 2)
        ret[o++] = (acc >> 4) & 0xff;
    else if (n % 4 == 3) {
        ret[o++] = (acc >> 10) & 0xff;
        ret[o++] = (acc >> 2) & 0xff;
    }
    return (ssize_t)o;
}
