/* What runs on a session once it is upgraded: an exec or attach, or port forwarding. */
#ifndef CRISP_SERVER_STREAMING_APPS_H
#define CRISP_SERVER_STREAMING_APPS_H

#include "streaming/session.h"
#include "streaming/streaming.h"

/* version: the remotecommand protocol, 1 to 5 (channel.k8s.io to v5.channel.k8s.io). Over SPDY the
 * client opens the streams; over WebSocket the channels exist from the start. */
int srv_remotecommand_attach(struct srv_session *s, const struct srv_streaming_request *req,
                             const struct srv_streaming_backend *be, int version, bool websocket,
                             crisp_error_t **err);

/* Over SPDY the client opens a data and an error stream per connection it forwards (to one of
 * req's ports when req names any); over WebSocket, ports (from req or the URL) are forwarded once
 * each on channels 2i (data) and 2i+1 (error). */
int srv_portforward_attach(struct srv_session *s, const struct srv_streaming_request *req,
                           const struct srv_streaming_backend *be, const uint16_t *ports, size_t n_ports,
                           bool websocket, crisp_error_t **err);

#endif
