#define _GNU_SOURCE
#include "streaming/http.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

ssize_t srv_http_head_length(const char *buf, size_t len, size_t max)
{
    const char *end = memmem(buf, len < max ? len : max, "\r\n\r\n", 4);
    if (end)
        return end - buf + 4;
    return len >= max ? -1 : 0;
}

int srv_http_head_read(struct srv_conn *c, struct srv_http_head *h, int stop_fd, int64_t deadline)
{
    for (;;) {
        ssize_t n = srv_http_head_length(h->buf, h->len, h->max);
        if (n < 0)
            return 431;
        if (n > 0) {
            h->head_len = (size_t)n;
            return 0;
        }
        ssize_t r = srv_conn_read(c, h->buf + h->len, h->max - h->len);
        if (r > 0) {
            h->len += (size_t)r;
            continue;
        }
        if (r == 0 || errno != EAGAIN)
            return -1;
        int w = srv_fd_wait(c->fd, POLLIN, stop_fd, deadline);
        if (w <= 0)
            return w == 0 ? 408 : -1;
    }
}

static bool is_tchar(char c)
{
    return isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~", c);
}

static int parse_request_line(const char *line, size_t len, struct srv_http_request *r, crisp_error_t **err)
{
    const char *sp1 = memchr(line, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line + len - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == line || (size_t)(sp1 - line) >= sizeof(r->method) || sp2 == sp1 + 1)
        return crisp_error_make(err, EINVAL, "malformed request line");
    const char *version = sp2 + 1;
    size_t vlen = (size_t)(line + len - version);
    if (vlen != 8 || (memcmp(version, "HTTP/1.1", 8) != 0 && memcmp(version, "HTTP/1.0", 8) != 0))
        return crisp_error_make(err, EINVAL, "unsupported HTTP version");
    for (const char *p = line; p < sp1; p++)
        if (!is_tchar(*p))
            return crisp_error_make(err, EINVAL, "malformed method");
    memcpy(r->method, line, (size_t)(sp1 - line));
    r->method[sp1 - line] = '\0';
    const char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)target[i] <= ' ' || target[i] == 0x7f)
            return crisp_error_make(err, EINVAL, "malformed request target");
    if (target[0] != '/')
        return crisp_error_make(err, EINVAL, "request target is not a path");
    const char *q = memchr(target, '?', tlen);
    r->path = strndup(target, q ? (size_t)(q - target) : tlen);
    r->query = q ? strndup(q + 1, (size_t)(target + tlen - q - 1)) : strdup("");
    if (!r->path || !r->query)
        return crisp_error_oom(err);
    return 0;
}

static int parse_header_line(const char *line, size_t len, struct srv_http_request *r, crisp_error_t **err)
{
    const char *colon = memchr(line, ':', len);
    if (!colon || colon == line)
        return crisp_error_make(err, EINVAL, "malformed header line");
    for (const char *p = line; p < colon; p++)
        if (!is_tchar(*p))
            return crisp_error_make(err, EINVAL, "malformed header name");
    const char *v = colon + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *p = v; p < end; p++)
        if ((unsigned char)*p < ' ' && *p != '\t')
            return crisp_error_make(err, EINVAL, "control character in header value");
    return srv_headers_add(&r->headers, line, (size_t)(colon - line), v, (size_t)(end - v), err);
}

static int parse_lines(const char *buf, size_t len, struct srv_http_request *ret, crisp_error_t **err)
{
    const char *p = buf, *end = buf + len;
    bool first = true;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            return crisp_error_make(err, EINVAL, "unterminated line");
        size_t n = (size_t)(eol - p);
        if (n == 0)
            return first ? crisp_error_make(err, EINVAL, "empty request line") : 0;
        if (memchr(p, '\0', n) || memchr(p, '\n', n))
            return crisp_error_make(err, EINVAL, "stray control character");
        int r;
        if (first)
            r = parse_request_line(p, n, ret, err);
        else if (*p == ' ' || *p == '\t')
            r = crisp_error_make(err, EINVAL, "folded header line");
        else
            r = parse_header_line(p, n, ret, err);
        if (r < 0)
            return r;
        first = false;
        p = eol + 2;
    }
    return crisp_error_make(err, EINVAL, "request head does not end with a blank line");
}

/* A request that fails to parse keeps nothing. */
int srv_http_parse(const char *buf, size_t len, struct srv_http_request *ret, crisp_error_t **err)
{
    if (parse_lines(buf, len, ret, err) == 0)
        return 0;
    srv_http_request_fini(ret);
    return -1;
}

void srv_http_request_fini(struct srv_http_request *r)
{
    free(r->path);
    free(r->query);
    srv_headers_fini(&r->headers);
    *r = (struct srv_http_request){0};
}

/* Splits s at commas into trimmed tokens appended to ret. */
static size_t split_tokens(const char *s, char (*ret)[64], size_t n, size_t max)
{
    while (*s && n < max) {
        const char *comma = strchr(s, ',');
        const char *e = comma ? comma : s + strlen(s);
        while (s < e && (*s == ' ' || *s == '\t'))
            s++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > s && (size_t)(t - s) < 64) {
            memcpy(ret[n], s, (size_t)(t - s));
            ret[n++][t - s] = '\0';
        }
        s = comma ? comma + 1 : e;
    }
    return n;
}

size_t srv_http_header_tokens(const struct srv_headers *h, const char *name, char (*ret)[64], size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->name[i], name) == 0)
            n = split_tokens(h->value[i], ret, n, max);
    return n;
}

bool srv_http_header_has_token(const struct srv_headers *h, const char *name, const char *token)
{
    char tokens[16][64];
    size_t n = srv_http_header_tokens(h, name, tokens, 16);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(tokens[i], token) == 0)
            return true;
    return false;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* URL-decodes s[0, n) into out (of 64 bytes); false when it does not fit or is malformed. */
static bool url_decode(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            if (i + 2 >= n)
                return false;
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (o + 1 >= 64 || c == '\0')
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

size_t srv_http_query_values(const char *query, const char *key, char (*ret)[64], size_t max)
{
    size_t n = 0, klen = strlen(key);
    for (const char *p = query; *p && n < max;) {
        const char *amp = strchr(p, '&');
        const char *e = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq && (size_t)(eq - p) == klen && memcmp(p, key, klen) == 0 &&
            url_decode(eq + 1, (size_t)(e - eq - 1), ret[n]))
            n++;
        p = amp ? amp + 1 : e;
    }
    return n;
}

static const char *reason_phrase(int code)
{
    switch (code) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

int srv_http_respond(struct srv_conn *c, int code, const char *body)
{
    char head[512];
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     code, reason_phrase(code), blen);
    if (srv_conn_write_all(c, head, (size_t)n, 2000) < 0)
        return -1;
    return srv_conn_write_all(c, body, blen, 2000);
}
