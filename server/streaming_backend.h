/* The streaming server's backend over crispd's runtime (streaming/streaming.h). */
#ifndef CRISP_SERVER_STREAMING_BACKEND_H
#define CRISP_SERVER_STREAMING_BACKEND_H

#include "streaming/streaming.h"

struct srv_daemon;

void srv_streaming_backend_init(struct srv_streaming_backend *b, struct srv_daemon *d);

#endif
