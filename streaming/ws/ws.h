/* RFC 6455 WebSocket for the streaming server: the handshake's accept key and frame codec. */
#ifndef CRISP_SERVER_STREAMING_WS_H
#define CRISP_SERVER_STREAMING_WS_H

#include "streaming/io.h"

enum {
    SRV_WS_CONT = 0x0,
    SRV_WS_TEXT = 0x1,
    SRV_WS_BINARY = 0x2,
    SRV_WS_CLOSE = 0x8,
    SRV_WS_PING = 0x9,
    SRV_WS_PONG = 0xa,
};

/* base64(SHA-1(key + the RFC's GUID)); ret holds 29 bytes. -1 when key is not a 16-byte nonce. */
int srv_ws_accept_key(const char *key, char ret[29]);

struct srv_ws_frame {
    bool fin;
    uint8_t opcode;
    uint8_t *payload; /* unmasked in place */
    size_t len;
};

/* One client frame at the start of buf: its total length, 0 when incomplete, -1 with EPROTO
 * (unmasked, reserved bits, bad control frame) or EMSGSIZE (payload over max). */
ssize_t srv_ws_frame_parse(uint8_t *buf, size_t len, size_t max, struct srv_ws_frame *ret,
                           crisp_error_t **err);

/* Appends an unmasked (server) frame; mask_key non-NULL masks it as a client must (tests). */
int srv_ws_put_frame(struct srv_buf *b, uint8_t opcode, bool fin, const void *data, size_t n,
                     const uint8_t *mask_key);

#endif
