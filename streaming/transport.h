/* The two ways a client's streams reach a session: SPDY/3.1 streams, or channels multiplexed on a
 * WebSocket (the k8s channel protocols). */
#ifndef CRISP_SERVER_STREAMING_TRANSPORT_H
#define CRISP_SERVER_STREAMING_TRANSPORT_H

#include "streaming/session.h"

int srv_spdy_transport_attach(struct srv_session *s, crisp_error_t **err);

/* base64: the base64.* subprotocols (text frames, ASCII channel digit). version: 1 for channel.k8s.io
 * and the unversioned forms, 4 or 5 for v4./v5. (v5 lets the client close a channel). */
int srv_ws_transport_attach(struct srv_session *s, bool base64, int version, crisp_error_t **err);

#endif
