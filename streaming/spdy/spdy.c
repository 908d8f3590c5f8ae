#define _GNU_SOURCE
#include "streaming/spdy/spdy.h"

#include "common/cleanup.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

/* The SPDY/3 header dictionary (draft 3, section 2.6.10.1): these words, each preceded by its
 * length as 4 big-endian bytes, then the tail verbatim; 1423 bytes in all. */
static const char *const dict_words[] = {
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
};
static const char dict_tail[] =
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

static uint8_t dict[1423];
static size_t dict_len;
static pthread_once_t dict_once = PTHREAD_ONCE_INIT;

static void dict_build(void)
{
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(dict_words); i++) {
        size_t w = strlen(dict_words[i]);
        uint8_t len[4] = {0, 0, 0, (uint8_t)w};
        memcpy(dict + n, len, 4);
        memcpy(dict + n + 4, dict_words[i], w);
        n += 4 + w;
    }
    memcpy(dict + n, dict_tail, sizeof(dict_tail) - 1);
    dict_len = n + sizeof(dict_tail) - 1;
}

ssize_t srv_spdy_frame_parse(const uint8_t *buf, size_t len, size_t max_payload, struct srv_spdy_frame *ret,
                             crisp_error_t **err)
{
    if (len < 8)
        return 0;
    *ret = (struct srv_spdy_frame){0};
    ret->control = buf[0] & 0x80;
    ret->flags = buf[4];
    ret->len = (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
    if (ret->control) {
        if ((srv_be16(buf) & 0x7fff) != 3)
            return crisp_error_make(err, EPROTO, "SPDY version %u is not 3", srv_be16(buf) & 0x7fff);
        ret->type = srv_be16(buf + 2);
    } else {
        ret->stream_id = srv_be32(buf) & 0x7fffffff;
    }
    if (ret->len > max_payload)
        return crisp_error_make(err, EMSGSIZE, "SPDY frame of %u bytes is too large", ret->len);
    if (len < 8 + (size_t)ret->len)
        return 0;
    ret->payload = buf + 8;
    return 8 + (ssize_t)ret->len;
}

int srv_spdy_zlib_init(struct srv_spdy_zlib *z, crisp_error_t **err)
{
    pthread_once(&dict_once, dict_build);
    *z = (struct srv_spdy_zlib){0};
    if (inflateInit(&z->in) != Z_OK)
        return crisp_error_make(err, ENOMEM, "inflateInit failed");
    z->in_ready = true;
    if (deflateInit(&z->out, Z_DEFAULT_COMPRESSION) != Z_OK ||
        deflateSetDictionary(&z->out, dict, (uInt)dict_len) != Z_OK) {
        srv_spdy_zlib_fini(z);
        return crisp_error_make(err, ENOMEM, "deflateInit failed");
    }
    z->out_ready = true;
    return 0;
}

void srv_spdy_zlib_fini(struct srv_spdy_zlib *z)
{
    if (z->in_ready)
        inflateEnd(&z->in);
    if (z->out_ready)
        deflateEnd(&z->out);
    z->in_ready = z->out_ready = false;
}

/* Inflates all of block into out (of cap bytes); the dictionary is supplied when zlib asks. */
static ssize_t inflate_block(z_stream *zs, const uint8_t *block, size_t n, uint8_t *out, size_t cap,
                             crisp_error_t **err)
{
    zs->next_in = (Bytef *)block;
    zs->avail_in = (uInt)n;
    zs->next_out = out;
    zs->avail_out = (uInt)cap;
    for (;;) {
        int r = inflate(zs, Z_SYNC_FLUSH);
        if (r == Z_NEED_DICT) {
            if (inflateSetDictionary(zs, dict, (uInt)dict_len) != Z_OK)
                return crisp_error_make(err, EPROTO, "SPDY header block uses another dictionary");
            continue;
        }
        if (r != Z_OK && r != Z_BUF_ERROR)
            return crisp_error_make(err, EPROTO, "corrupt SPDY header block");
        if (zs->avail_in == 0 && zs->avail_out > 0)
            return (ssize_t)(cap - zs->avail_out);
        if (zs->avail_out == 0)
            return crisp_error_make(err, EMSGSIZE, "SPDY header block inflates beyond %zu bytes", cap);
        if (r == Z_BUF_ERROR)
            return crisp_error_make(err, EPROTO, "truncated SPDY header block");
    }
}

/* Reads a 4-byte length and that many bytes from p[*off, n). */
static const uint8_t *take_string(const uint8_t *p, size_t n, size_t *off, uint32_t *ret_len)
{
    if (n - *off < 4)
        return NULL;
    uint32_t l = srv_be32(p + *off);
    *off += 4;
    if (n - *off < l)
        return NULL;
    const uint8_t *s = p + *off;
    *off += l;
    *ret_len = l;
    return s;
}

/* Adds name once per NUL-separated value. */
static int add_values(struct srv_headers *h, const uint8_t *name, uint32_t nl, const uint8_t *v, uint32_t vl,
                      crisp_error_t **err)
{
    const uint8_t *end = v + vl;
    for (;;) {
        const uint8_t *nul = memchr(v, '\0', (size_t)(end - v));
        const uint8_t *e = nul ? nul : end;
        if (srv_headers_add(h, (const char *)name, nl, (const char *)v, (size_t)(e - v), err) < 0)
            return -1;
        if (!nul)
            return 0;
        v = nul + 1;
    }
}

int srv_spdy_headers_decode(struct srv_spdy_zlib *z, const uint8_t *block, size_t n, struct srv_headers *ret,
                            crisp_error_t **err)
{
    _cleanup_free_ uint8_t *plain = malloc(SRV_SPDY_HEADER_BLOCK_MAX);
    if (!plain)
        return crisp_error_oom(err);
    ssize_t len = inflate_block(&z->in, block, n, plain, SRV_SPDY_HEADER_BLOCK_MAX, err);
    if (len < 0)
        return -1;
    if (len < 4)
        return crisp_error_make(err, EPROTO, "SPDY header block too short");
    uint32_t count = srv_be32(plain);
    if (count > SRV_HEADERS_MAX)
        return crisp_error_make(err, E2BIG, "SPDY header block of %u pairs", count);
    size_t off = 4;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t nl, vl;
        const uint8_t *name = take_string(plain, (size_t)len, &off, &nl);
        const uint8_t *value = name ? take_string(plain, (size_t)len, &off, &vl) : NULL;
        if (!value || nl == 0)
            return crisp_error_make(err, EPROTO, "malformed SPDY header block");
        if (add_values(ret, name, nl, value, vl, err) < 0)
            return -1;
    }
    return 0;
}

static int deflate_block(z_stream *zs, const uint8_t *plain, size_t n, struct srv_buf *out,
                         crisp_error_t **err)
{
    zs->next_in = (Bytef *)plain;
    zs->avail_in = (uInt)n;
    do {
        uint8_t chunk[1024];
        zs->next_out = chunk;
        zs->avail_out = sizeof(chunk);
        int r = deflate(zs, Z_SYNC_FLUSH);
        if (r != Z_OK && r != Z_BUF_ERROR)
            return crisp_error_make(err, EIO, "deflate failed");
        if (srv_buf_append(out, chunk, sizeof(chunk) - zs->avail_out) < 0)
            return crisp_error_oom(err);
    } while (zs->avail_out == 0 || zs->avail_in > 0);
    return 0;
}

int srv_spdy_headers_encode(struct srv_spdy_zlib *z, const struct srv_headers *h, struct srv_buf *out,
                            crisp_error_t **err)
{
    struct srv_buf plain = {0};
    int r = srv_buf_put_be32(&plain, (uint32_t)h->n);
    for (size_t i = 0; i < h->n && r == 0; i++) {
        size_t nl = strlen(h->name[i]), vl = strlen(h->value[i]);
        r = srv_buf_put_be32(&plain, (uint32_t)nl);
        for (size_t k = 0; k < nl && r == 0; k++) /* SPDY/3 header names are lower case */
            r = srv_buf_put_u8(
                &plain,
                (uint8_t)(h->name[i][k] >= 'A' && h->name[i][k] <= 'Z' ? h->name[i][k] + 32 : h->name[i][k]));
        if (r == 0)
            r = srv_buf_put_be32(&plain, (uint32_t)vl);
        if (r == 0)
            r = srv_buf_append(&plain, h->value[i], vl);
    }
    if (r == 0)
        r = deflate_block(&z->out, srv_buf_head(&plain), srv_buf_size(&plain), out, err);
    else
        crisp_error_oom(err);
    srv_buf_fini(&plain);
    return r;
}

int srv_spdy_put_data(struct srv_buf *b, uint32_t id, uint8_t flags, const void *data, size_t n)
{
    if (srv_buf_put_be32(b, id & 0x7fffffff) < 0 || srv_buf_put_u8(b, flags) < 0 ||
        srv_buf_put_u8(b, (uint8_t)(n >> 16)) < 0 || srv_buf_put_be16(b, (uint16_t)n) < 0)
        return -1;
    return srv_buf_append(b, data, n);
}

int srv_spdy_put_control(struct srv_buf *b, uint16_t type, uint8_t flags, const void *payload, size_t n)
{
    if (srv_buf_put_be16(b, 0x8003) < 0 || srv_buf_put_be16(b, type) < 0 || srv_buf_put_u8(b, flags) < 0 ||
        srv_buf_put_u8(b, (uint8_t)(n >> 16)) < 0 || srv_buf_put_be16(b, (uint16_t)n) < 0)
        return -1;
    return srv_buf_append(b, payload, n);
}

/* A control frame whose payload is prefix followed by the compressed block of h. */
static int put_with_headers(struct srv_buf *b, struct srv_spdy_zlib *z, uint16_t type, uint8_t flags,
                            const uint8_t *prefix, size_t prefix_len, const struct srv_headers *h,
                            crisp_error_t **err)
{
    struct srv_buf payload = {0};
    int r = srv_buf_append(&payload, prefix, prefix_len);
    if (r < 0)
        crisp_error_oom(err);
    else
        r = srv_spdy_headers_encode(z, h, &payload, err);
    if (r == 0 && srv_spdy_put_control(b, type, flags, srv_buf_head(&payload), srv_buf_size(&payload)) < 0)
        r = crisp_error_oom(err);
    srv_buf_fini(&payload);
    return r;
}

int srv_spdy_put_syn_stream(struct srv_buf *b, struct srv_spdy_zlib *z, uint32_t id, uint8_t flags,
                            const struct srv_headers *h, crisp_error_t **err)
{
    uint8_t prefix[10] = {id >> 24 & 0x7f, id >> 16 & 0xff, id >> 8 & 0xff, id & 0xff};
    return put_with_headers(b, z, SRV_SPDY_SYN_STREAM, flags, prefix, sizeof(prefix), h, err);
}

int srv_spdy_put_syn_reply(struct srv_buf *b, struct srv_spdy_zlib *z, uint32_t id, uint8_t flags,
                           const struct srv_headers *h, crisp_error_t **err)
{
    uint8_t prefix[4] = {id >> 24 & 0x7f, id >> 16 & 0xff, id >> 8 & 0xff, id & 0xff};
    return put_with_headers(b, z, SRV_SPDY_SYN_REPLY, flags, prefix, sizeof(prefix), h, err);
}

static int put_two_words(struct srv_buf *b, uint16_t type, uint32_t a, uint32_t c)
{
    uint8_t p[8] = {a >> 24, a >> 16 & 0xff, a >> 8 & 0xff, a & 0xff,
                    c >> 24, c >> 16 & 0xff, c >> 8 & 0xff, c & 0xff};
    return srv_spdy_put_control(b, type, 0, p, sizeof(p));
}

int srv_spdy_put_rst(struct srv_buf *b, uint32_t id, uint32_t status)
{
    return put_two_words(b, SRV_SPDY_RST_STREAM, id & 0x7fffffff, status);
}

int srv_spdy_put_ping(struct srv_buf *b, uint32_t id)
{
    uint8_t p[4] = {id >> 24, id >> 16 & 0xff, id >> 8 & 0xff, id & 0xff};
    return srv_spdy_put_control(b, SRV_SPDY_PING, 0, p, sizeof(p));
}

int srv_spdy_put_goaway(struct srv_buf *b, uint32_t last_id, uint32_t status)
{
    return put_two_words(b, SRV_SPDY_GOAWAY, last_id & 0x7fffffff, status);
}

int srv_spdy_put_window_update(struct srv_buf *b, uint32_t id, uint32_t delta)
{
    return put_two_words(b, SRV_SPDY_WINDOW_UPDATE, id & 0x7fffffff, delta & 0x7fffffff);
}
