/* Small pieces the streaming server's files share: byte buffers, header lists, the connection's
 * read/write (plain or TLS), base64 and a monotonic clock. Internal to server/streaming*.c. */
#ifndef CRISP_SERVER_STREAMING_IO_H
#define CRISP_SERVER_STREAMING_IO_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A growable byte queue: data[off, len) is pending. */
struct srv_buf {
    uint8_t *data;
    size_t off, len, cap;
};

static inline size_t srv_buf_size(const struct srv_buf *b)
{
    return b->len - b->off;
}

static inline const uint8_t *srv_buf_head(const struct srv_buf *b)
{
    return b->data + b->off;
}

/* -1 (ENOMEM) when the buffer cannot grow. */
int srv_buf_append(struct srv_buf *b, const void *data, size_t n);
int srv_buf_put_u8(struct srv_buf *b, uint8_t v);
int srv_buf_put_be16(struct srv_buf *b, uint16_t v);
int srv_buf_put_be32(struct srv_buf *b, uint32_t v);
void srv_buf_consume(struct srv_buf *b, size_t n);
void srv_buf_fini(struct srv_buf *b);

static inline uint32_t srv_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t srv_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Name/value pairs from an HTTP request or a SPDY header block; names compare case-insensitively. */
#define SRV_HEADERS_MAX 64
struct srv_headers {
    size_t n;
    char *name[SRV_HEADERS_MAX];
    char *value[SRV_HEADERS_MAX];
};

int srv_headers_add(struct srv_headers *h, const char *name, size_t name_len, const char *value,
                    size_t value_len, crisp_error_t **err);
/* The first value of name, or NULL. */
const char *srv_headers_get(const struct srv_headers *h, const char *name);
void srv_headers_fini(struct srv_headers *h);

/* One accepted connection: plain TCP, or TLS over it once tls is set. */
struct srv_conn {
    int fd;
    void *tls; /* SSL *, or NULL */
};

/* Non-blocking: >0 bytes moved, 0 at EOF (read only), -1 with errno (EAGAIN: try after poll). */
ssize_t srv_conn_read(struct srv_conn *c, void *buf, size_t n);
ssize_t srv_conn_write(struct srv_conn *c, const void *buf, size_t n);
/* Whether a read would find data buffered inside TLS even when the socket is not readable. */
bool srv_conn_pending(struct srv_conn *c);
/* TLS close_notify (best effort) and shutdown of the write side. */
void srv_conn_shutdown_write(struct srv_conn *c);

/* Waits for events on fd until deadline (clock_monotonic_ms): 1 when they came; 0 once the deadline
 * has passed; -1 when stop_fd is readable (the server stops) or poll fails. */
int srv_fd_wait(int fd, short events, int stop_fd, int64_t deadline);

/* Writes all of data, polling up to timeout_ms per wait; for the short HTTP responses. */
int srv_conn_write_all(struct srv_conn *c, const void *data, size_t n, int timeout_ms);

/* Base64 (RFC 4648), standard alphabet with padding or URL-safe without. Caller frees. */
char *srv_base64_encode(const void *data, size_t n, bool url);
/* Standard alphabet, padding optional; -1 on bad input. ret must hold n * 3 / 4 + 3 bytes. */
ssize_t srv_base64_decode(const char *in, size_t n, uint8_t *ret);

#endif
