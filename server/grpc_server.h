/* The gRPC C-core server: one notification queue served by an elastic pool of worker threads. A
 * worker that takes a call runs it to the end on the call's own completion queue, so a slow call
 * holds one thread; a new thread is started whenever no worker is left waiting, which is how a
 * blocked call never delays another. */
#ifndef CRISP_SERVER_GRPC_SERVER_H
#define CRISP_SERVER_GRPC_SERVER_H

#include "common/error.h"
#include "server/daemon.h"

#include <stdbool.h>

#define SRV_MAX_MESSAGE_SIZE (16 * 1024 * 1024)

struct srv_grpc;

/* Binds the unix socket at path (already prepared) and starts serving. */
int srv_grpc_start(struct srv_daemon *d, const char *path, struct srv_grpc **ret, crisp_error_t **err);

/* Stops accepting calls, gives in-flight calls timeout_s seconds, then cancels the rest (their
 * crisp_cancel fires with CRISP_E_UNAVAILABLE) and gives them 3 s more to unwind.
 * Returns false when some call still runs then: the server is left as it is, for the process to exit
 * without waiting for it. */
bool srv_grpc_stop(struct srv_grpc *s, int timeout_s);

#endif
