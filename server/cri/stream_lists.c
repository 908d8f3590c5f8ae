/* StreamPodSandboxes, StreamContainers and StreamImages: the List RPCs' answers sent in chunks, so
 * that a node with many objects never meets the message size limit. Each Stream request has the
 * same single filter field as its List twin, and each chunk message a single repeated field. */
#include "server/handlers.h"

#include "api.pb-c.h"

#include <errno.h>

#define LIST_STREAM_CHUNK 256

/* The layout protobuf-c gives every message whose only field is a repeated message: the List
 * responses and the Stream chunks alike. */
struct repeated_msg {
    ProtobufCMessage base;
    size_t n;
    void **items;
};

struct filter_msg {
    ProtobufCMessage base;
    void *filter;
};

static int send_chunks(struct srv_ctx *ctx, const ProtobufCMessageDescriptor *chunk_desc,
                       const struct repeated_msg *list, crisp_error_t **err)
{
    for (size_t i = 0; i < list->n; i += LIST_STREAM_CHUNK) {
        struct repeated_msg chunk;
        protobuf_c_message_init(chunk_desc, &chunk);
        chunk.items = list->items + i;
        chunk.n = list->n - i < LIST_STREAM_CHUNK ? list->n - i : LIST_STREAM_CHUNK;
        if (srv_stream_send(ctx, &chunk.base, err) < 0)
            return -1;
    }
    return 0;
}

/* Runs the List handler with the Stream request's filter and streams its answer. */
static int stream_list(struct srv_ctx *ctx, const ProtobufCMessage *req, srv_unary_fn list,
                       const ProtobufCMessageDescriptor *list_req_desc,
                       const ProtobufCMessageDescriptor *chunk_desc, crisp_error_t **err)
{
    struct filter_msg list_req;
    protobuf_c_message_init(list_req_desc, &list_req);
    list_req.filter = ((const struct filter_msg *)req)->filter;
    ProtobufCMessage *resp = NULL;
    if (list(ctx, &list_req.base, &resp, err) < 0)
        return -1;
    return send_chunks(ctx, chunk_desc, (const struct repeated_msg *)resp, err);
}

int srv_pod_list_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err)
{
    return stream_list(ctx, req, srv_pod_list, &runtime__v1__list_pod_sandbox_request__descriptor,
                       &runtime__v1__stream_pod_sandboxes_response__descriptor, err);
}

int srv_container_list_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err)
{
    return stream_list(ctx, req, srv_container_list, &runtime__v1__list_containers_request__descriptor,
                       &runtime__v1__stream_containers_response__descriptor, err);
}

int srv_image_list_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err)
{
    return stream_list(ctx, req, srv_image_list, &runtime__v1__list_images_request__descriptor,
                       &runtime__v1__stream_images_response__descriptor, err);
}
