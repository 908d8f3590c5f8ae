/* libFuzzer target for what a streaming client sends before and after the upgrade: the first byte
 * picks the parser (HTTP request head with its headers and query, SPDY frames with their header blocks
 * through one zlib stream, WebSocket frames); the rest is the client's bytes. */
#include "streaming/http.h"
#include "streaming/spdy/spdy.h"
#include "streaming/ws/ws.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void http_one(const char *buf, size_t len)
{
    crisp_error_t *err = NULL;
    ssize_t head = srv_http_head_length(buf, len, SRV_HTTP_HEAD_MAX);
    struct srv_http_request r = {0};
    if (head > 0 && srv_http_parse(buf, (size_t)head, &r, &err) == 0) {
        char tokens[8][64];
        srv_http_header_tokens(&r.headers, "x-stream-protocol-version", tokens, 8);
        srv_http_header_has_token(&r.headers, "connection", "upgrade");
        srv_http_query_values(r.query, "port", tokens, 8);
        srv_http_request_fini(&r);
    }
    crisp_error_free(err);
}

static void spdy_all(const uint8_t *buf, size_t len)
{
    struct srv_spdy_zlib z;
    crisp_error_t *err = NULL;
    if (srv_spdy_zlib_init(&z, &err) < 0)
        abort();
    for (ssize_t n; len > 0 && (n = srv_spdy_frame_parse(buf, len, 256 * 1024, &(struct srv_spdy_frame){0},
                                                         &err)) > 0;) {
        struct srv_spdy_frame f;
        srv_spdy_frame_parse(buf, len, 256 * 1024, &f, &err);
        /* SYN_STREAM's block starts after stream id, associated id and priority (10 bytes). */
        if (f.control && f.type == 1 && f.len >= 10) {
            struct srv_headers h = {0};
            if (srv_spdy_headers_decode(&z, f.payload + 10, f.len - 10, &h, &err) == 0)
                srv_headers_fini(&h);
        }
        buf += n;
        len -= (size_t)n;
    }
    crisp_error_free(err);
    srv_spdy_zlib_fini(&z);
}

static void ws_all(uint8_t *buf, size_t len)
{
    crisp_error_t *err = NULL;
    struct srv_ws_frame f;
    for (ssize_t n; len > 0 && (n = srv_ws_frame_parse(buf, len, 256 * 1024, &f, &err)) > 0;) {
        buf += n;
        len -= (size_t)n;
    }
    crisp_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        http_one((const char *)copy, size - 1);
        break;
    case 1:
        spdy_all(copy, size - 1);
        break;
    default:
        ws_all(copy, size - 1);
    }
    free(copy);
    return 0;
}
