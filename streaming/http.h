/* The HTTP/1.1 the streaming server needs: one bounded request head, and short responses. */
#ifndef CRISP_SERVER_STREAMING_HTTP_H
#define CRISP_SERVER_STREAMING_HTTP_H

#include "streaming/io.h"

#define SRV_HTTP_HEAD_MAX 8192

struct srv_http_request {
    char method[16];
    char *path;  /* the target up to '?' */
    char *query; /* after '?', or "" */
    struct srv_headers headers;
};

/* The length of the head in buf including its blank line; 0 when it is not complete yet; -1 when
 * no head ends within max bytes. */
ssize_t srv_http_head_length(const char *buf, size_t len, size_t max);

/* A request head being read, and whatever the client sent right behind it. */
struct srv_http_head {
    char *buf;       /* max bytes, the caller's */
    size_t max;      /* the largest head accepted */
    size_t len;      /* bytes read into buf */
    size_t head_len; /* the head's length with its blank line, once read */
};

/* Reads from c until the blank line ending the head. 0: read; 408 or 431: the status to answer with
 * (the deadline, on clock_monotonic_ms, passed; no head ends within max bytes); -1: the client went
 * away, or stop_fd became readable: close without a word. */
int srv_http_head_read(struct srv_conn *c, struct srv_http_head *h, int stop_fd, int64_t deadline);

/* Parses a complete head (as measured by srv_http_head_length). EINVAL: malformed; E2BIG: too many
 * headers. */
int srv_http_parse(const char *buf, size_t len, struct srv_http_request *ret, crisp_error_t **err);
void srv_http_request_fini(struct srv_http_request *r);

/* The comma-separated tokens of every occurrence of header name, trimmed, in order; at most max
 * tokens of fewer than 64 bytes (longer ones are skipped). Returns the number found. */
size_t srv_http_header_tokens(const struct srv_headers *h, const char *name, char (*ret)[64], size_t max);
bool srv_http_header_has_token(const struct srv_headers *h, const char *name, const char *token);

/* The values of key=value pairs named key in a query string, URL-decoded, at most max. */
size_t srv_http_query_values(const char *query, const char *key, char (*ret)[64], size_t max);

/* A complete response with a text body, then the connection is done. */
int srv_http_respond(struct srv_conn *c, int code, const char *body);

#endif
