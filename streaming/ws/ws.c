#define _GNU_SOURCE
#include "streaming/ws/ws.h"

#include "common/cleanup.h"

#include <errno.h>
#include <openssl/sha.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

int srv_ws_accept_key(const char *key, char ret[29])
{
    uint8_t nonce[32];
    size_t klen = strlen(key);
    if (klen != 24 || srv_base64_decode(key, klen, nonce) != 16)
        return -1;
    char joined[24 + sizeof(WS_GUID)];
    memcpy(joined, key, 24);
    memcpy(joined + 24, WS_GUID, sizeof(WS_GUID));
    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA1((const uint8_t *)joined, strlen(joined), digest);
    _cleanup_free_ char *b64 = srv_base64_encode(digest, sizeof(digest), false);
    if (!b64)
        return -1;
    memcpy(ret, b64, 29);
    return 0;
}

ssize_t srv_ws_frame_parse(uint8_t *buf, size_t len, size_t max, struct srv_ws_frame *ret,
                           crisp_error_t **err)
{
    if (len < 2)
        return 0;
    *ret = (struct srv_ws_frame){.fin = buf[0] & 0x80, .opcode = buf[0] & 0x0f};
    if (buf[0] & 0x70)
        return crisp_error_make(err, EPROTO, "WebSocket frame with reserved bits set");
    if (!(buf[1] & 0x80))
        return crisp_error_make(err, EPROTO, "unmasked WebSocket frame from a client");
    uint64_t plen = buf[1] & 0x7f;
    size_t hdr = 2;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = srv_be16(buf + 2);
        hdr = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = (uint64_t)srv_be32(buf + 2) << 32 | srv_be32(buf + 6);
        hdr = 10;
    }
    bool control = ret->opcode & 0x8;
    if (control && (!ret->fin || plen > 125))
        return crisp_error_make(err, EPROTO, "fragmented or long WebSocket control frame");
    if (ret->opcode > SRV_WS_BINARY && !control)
        return crisp_error_make(err, EPROTO, "unknown WebSocket opcode %u", ret->opcode);
    if (plen > max)
        return crisp_error_make(err, EMSGSIZE, "WebSocket frame of %llu bytes is too large",
                                (unsigned long long)plen);
    if (len < hdr + 4 + plen)
        return 0;
    const uint8_t *mask = buf + hdr;
    ret->payload = buf + hdr + 4;
    ret->len = (size_t)plen;
    for (size_t i = 0; i < ret->len; i++)
        ret->payload[i] ^= mask[i & 3];
    return (ssize_t)(hdr + 4 + plen);
}

int srv_ws_put_frame(struct srv_buf *b, uint8_t opcode, bool fin, const void *data, size_t n,
                     const uint8_t *mask_key)
{
    uint8_t hdr[14];
    size_t h = 2;
    uint8_t mask_bit = mask_key ? 0x80 : 0;
    hdr[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (n < 126) {
        hdr[1] = mask_bit | (uint8_t)n;
    } else if (n <= 0xffff) {
        hdr[1] = mask_bit | 126;
        hdr[2] = (uint8_t)(n >> 8);
        hdr[3] = (uint8_t)n;
        h = 4;
    } else {
        hdr[1] = mask_bit | 127;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    if (mask_key) {
        memcpy(hdr + h, mask_key, 4);
        h += 4;
    }
    size_t start = b->len;
    if (srv_buf_append(b, hdr, h) < 0 || srv_buf_append(b, data, n) < 0)
        return -1;
    if (mask_key)
        for (size_t i = 0; i < n; i++)
            b->data[start + h + i] ^= mask_key[i & 3];
    return 0;
}
