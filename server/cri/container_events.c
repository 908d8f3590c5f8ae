/* GetContainerEvents: a server stream that lasts until the client leaves or crispd stops. */
#include "server/handlers.h"

#include "api.pb-c.h"
#include "server/daemon.h"

#include <errno.h>

/* How often an idle stream checks whether its client is still there. */
#define EVENTS_POLL_MS 500

static int send_event(struct srv_ctx *ctx, const struct srv_event *ev, crisp_error_t **err)
{
    Runtime__V1__ContainerEventResponse resp = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;
    resp.container_id = (char *)ev->container_id;
    resp.container_event_type = (Runtime__V1__ContainerEventType)ev->type;
    resp.created_at = ev->created_at;
    /* The pod is named by id; kubelet asks for full statuses when it needs them. */
    Runtime__V1__PodSandboxStatus pod = RUNTIME__V1__POD_SANDBOX_STATUS__INIT;
    if (ev->sandbox_id[0]) {
        pod.id = (char *)ev->sandbox_id;
        resp.pod_sandbox_status = &pod;
    }
    return srv_stream_send(ctx, &resp.base, err);
}

static void unsubscribe(struct srv_event_sub **sub)
{
    srv_event_unsubscribe(*sub);
}

int srv_container_events_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err)
{
    (void)req;
    __attribute__((cleanup(unsubscribe))) struct srv_event_sub *sub = srv_event_subscribe(
        ctx->daemon->events);
    if (!sub)
        return crisp_error_oom(err);
    for (;;) {
        struct srv_event ev;
        switch (srv_event_wait(sub, EVENTS_POLL_MS, &ev)) {
        case SRV_EVENT_READY:
            if (send_event(ctx, &ev, err) < 0)
                return -1;
            break;
        case SRV_EVENT_TIMEOUT:
            if (srv_stream_closed(ctx))
                return crisp_error_make(err, ECANCELED, "client closed the event stream");
            break;
        case SRV_EVENT_CLOSED:
            return crisp_error_make(err, CRISP_E_UNAVAILABLE, "crispd is shutting down");
        case SRV_EVENT_OVERFLOW:
            return crisp_error_make(err, ENOSPC, "event stream fell more than %d events behind",
                                    SRV_EVENT_QUEUE_LEN);
        }
    }
}
