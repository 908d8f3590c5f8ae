/* The table of CRI methods, built once at start from the generated service descriptors so that every
 * RPC of api.proto is known; each carries its handler, or none (UNIMPLEMENTED). */
#ifndef CRISP_SERVER_DISPATCH_H
#define CRISP_SERVER_DISPATCH_H

#include "common/error.h"
#include "server/call.h"

#include <stddef.h>

#define SRV_METHOD_PATH_MAX 128

struct srv_method {
    char path[SRV_METHOD_PATH_MAX]; /* "/runtime.v1.RuntimeService/Version" */
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
    srv_unary_fn unary;
    srv_stream_fn stream;
};

/* A handler crisp implements, named by its service and method. */
struct srv_handler {
    const char *service; /* "runtime.v1.RuntimeService" */
    const char *method;  /* "Version" */
    srv_unary_fn unary;
    srv_stream_fn stream;
};

int srv_dispatch_init(const struct srv_handler *handlers, size_t n_handlers, crisp_error_t **err);
void srv_dispatch_fini(void);
const struct srv_method *srv_dispatch_find(const char *path, size_t len);
/* Every known method, in path order (for tests and --help). */
const struct srv_method *srv_dispatch_methods(size_t *ret_n);

#endif
