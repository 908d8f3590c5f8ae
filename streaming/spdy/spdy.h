/* SPDY/3.1 framing as moby/spdystream speaks it (kubectl, crictl and kubelet use it): frame
 * headers, the control frames a server sends, and zlib-compressed header blocks with the SPDY/3
 * dictionary (one inflate and one deflate context per session, as the protocol requires). */
#ifndef CRISP_SERVER_STREAMING_SPDY_H
#define CRISP_SERVER_STREAMING_SPDY_H

#include "streaming/io.h"

#include <zlib.h>

enum {
    SRV_SPDY_SYN_STREAM = 1,
    SRV_SPDY_SYN_REPLY = 2,
    SRV_SPDY_RST_STREAM = 3,
    SRV_SPDY_SETTINGS = 4,
    SRV_SPDY_PING = 6,
    SRV_SPDY_GOAWAY = 7,
    SRV_SPDY_HEADERS = 8,
    SRV_SPDY_WINDOW_UPDATE = 9,
};

#define SRV_SPDY_FLAG_FIN 0x01
#define SRV_SPDY_FLAG_UNIDIRECTIONAL 0x02
#define SRV_SPDY_SETTINGS_INITIAL_WINDOW 7
#define SRV_SPDY_INITIAL_WINDOW 65536

enum {
    SRV_SPDY_RST_PROTOCOL_ERROR = 1,
    SRV_SPDY_RST_INVALID_STREAM = 2,
    SRV_SPDY_RST_REFUSED_STREAM = 3,
    SRV_SPDY_RST_CANCEL = 5,
    SRV_SPDY_RST_FLOW_CONTROL_ERROR = 7,
    SRV_SPDY_RST_STREAM_IN_USE = 8,
    SRV_SPDY_RST_FRAME_TOO_LARGE = 11,
};

struct srv_spdy_frame {
    bool control;
    uint16_t type;      /* control frames */
    uint32_t stream_id; /* data frames */
    uint8_t flags;
    const uint8_t *payload;
    uint32_t len;
};

/* One frame at the start of buf: its total length, 0 when incomplete; -1 (EMSGSIZE over
 * max_payload, EPROTO for a control frame of another version). */
ssize_t srv_spdy_frame_parse(const uint8_t *buf, size_t len, size_t max_payload, struct srv_spdy_frame *ret,
                             crisp_error_t **err);

struct srv_spdy_zlib {
    z_stream in, out;
    bool in_ready, out_ready;
};

int srv_spdy_zlib_init(struct srv_spdy_zlib *z, crisp_error_t **err);
void srv_spdy_zlib_fini(struct srv_spdy_zlib *z);

/* Inflates a header block into ret (values split at NUL into repeated headers); bounded by
 * SRV_SPDY_HEADER_BLOCK_MAX bytes inflated and SRV_HEADERS_MAX pairs. */
#define SRV_SPDY_HEADER_BLOCK_MAX 16384
int srv_spdy_headers_decode(struct srv_spdy_zlib *z, const uint8_t *block, size_t n, struct srv_headers *ret,
                            crisp_error_t **err);
/* Appends the compressed block for h to out. */
int srv_spdy_headers_encode(struct srv_spdy_zlib *z, const struct srv_headers *h, struct srv_buf *out,
                            crisp_error_t **err);

int srv_spdy_put_data(struct srv_buf *b, uint32_t id, uint8_t flags, const void *data, size_t n);
int srv_spdy_put_control(struct srv_buf *b, uint16_t type, uint8_t flags, const void *payload, size_t n);
/* SYN_STREAM (clients, tests) and SYN_REPLY with a header block compressed by z. */
int srv_spdy_put_syn_stream(struct srv_buf *b, struct srv_spdy_zlib *z, uint32_t id, uint8_t flags,
                            const struct srv_headers *h, crisp_error_t **err);
int srv_spdy_put_syn_reply(struct srv_buf *b, struct srv_spdy_zlib *z, uint32_t id, uint8_t flags,
                           const struct srv_headers *h, crisp_error_t **err);
int srv_spdy_put_rst(struct srv_buf *b, uint32_t id, uint32_t status);
int srv_spdy_put_ping(struct srv_buf *b, uint32_t id);
int srv_spdy_put_goaway(struct srv_buf *b, uint32_t last_id, uint32_t status);
int srv_spdy_put_window_update(struct srv_buf *b, uint32_t id, uint32_t delta);

#endif
