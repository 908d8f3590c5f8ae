/* Exec, Attach and PortForward: validate the request, check that its container or pod can serve it,
 * and answer with a single-use URL on the streaming server, where the work itself happens. */
#define _GNU_SOURCE
#include "server/handlers.h"

#include "api.pb-c.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "runtime/container.h"
#include "runtime/sandbox.h"
#include "server/daemon.h"
#include "streaming/streaming.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MAX_ARGS 4096
#define STREAM_MAX_PORTS 128

/* The same checks kubelet's streaming server makes, answered here rather than after the upgrade. */
static int stdio_check(bool tty, bool in, bool out, bool err_stream, crisp_error_t **err)
{
    if (tty && err_stream)
        return crisp_error_make(err, EINVAL, "tty and stderr cannot both be true");
    if (!in && !out && !err_stream)
        return crisp_error_make(err, EINVAL, "one of stdin, stdout, or stderr must be set");
    return 0;
}

static int container_running(struct srv_ctx *ctx, const char *id, crisp_error_t **err)
{
    if (!id || !*id)
        return crisp_error_make(err, EINVAL, "no container id given");
    _cleanup_(rt_container_info_freep) struct rt_container_info *info = NULL;
    if (rt_container_info_get(ctx->daemon->runtime, id, &info, err) < 0)
        return -1;
    if (info->state != RT_CONTAINER_RUNNING)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not running", id);
    return 0;
}

static struct srv_streaming_request *request_new(enum srv_streaming_kind kind, const char *id,
                                                 crisp_error_t **err)
{
    struct srv_streaming_request *sr = calloc(1, sizeof(*sr));
    if (sr && !(sr->id = strdup(id))) {
        free(sr);
        sr = NULL;
    }
    if (!sr)
        crisp_error_oom(err);
    else
        sr->kind = kind;
    return sr;
}

/* Registers the request (which it takes) and returns its URL, copied into the call's arena. */
static char *url_for(struct srv_ctx *ctx, struct srv_streaming_request *sr, crisp_error_t **err)
{
    if (!ctx->daemon->streaming) {
        srv_streaming_request_free(sr);
        crisp_error_make(err, CRISP_E_UNAVAILABLE, "the streaming server is not running");
        return NULL;
    }
    _cleanup_free_ char *url = NULL;
    if (srv_streaming_url(ctx->daemon->streaming, sr, &url, err) < 0)
        return NULL;
    char *copy = arena_strdup(ctx->arena, url);
    if (!copy)
        crisp_error_oom(err);
    return copy;
}

/* protobuf-c's repeated strings are counted, not NULL-terminated. */
static char **cmd_copy(char *const *cmd, size_t n)
{
    char **v = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; v && i < n; i++)
        if (!(v[i] = strdup(cmd[i]))) {
            strv_free(v);
            return NULL;
        }
    return v;
}

int srv_container_exec(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err)
{
    const Runtime__V1__ExecRequest *r = (const Runtime__V1__ExecRequest *)req;
    if (r->n_cmd == 0 || r->n_cmd > STREAM_MAX_ARGS || !r->cmd[0][0])
        return crisp_error_make(err, EINVAL, "Exec needs a command of 1 to %d arguments", STREAM_MAX_ARGS);
    if (stdio_check(r->tty, r->stdin, r->stdout, r->stderr, err) < 0 ||
        container_running(ctx, r->container_id, err) < 0)
        return -1;
    Runtime__V1__ExecResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    struct srv_streaming_request *sr = resp ? request_new(SRV_STREAMING_EXEC, r->container_id, err) : NULL;
    if (!sr)
        return crisp_error_oom(err);
    sr->tty = r->tty;
    sr->in = r->stdin;
    sr->out = r->stdout;
    sr->err = r->stderr;
    if (!(sr->cmd = cmd_copy(r->cmd, r->n_cmd))) {
        srv_streaming_request_free(sr);
        return crisp_error_oom(err);
    }
    runtime__v1__exec_response__init(resp);
    if (!(resp->url = url_for(ctx, sr, err)))
        return -1;
    *ret_resp = &resp->base;
    return 0;
}

int srv_container_attach(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err)
{
    const Runtime__V1__AttachRequest *r = (const Runtime__V1__AttachRequest *)req;
    if (stdio_check(r->tty, r->stdin, r->stdout, r->stderr, err) < 0 ||
        container_running(ctx, r->container_id, err) < 0)
        return -1;
    Runtime__V1__AttachResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    struct srv_streaming_request *sr = resp ? request_new(SRV_STREAMING_ATTACH, r->container_id, err) : NULL;
    if (!sr)
        return crisp_error_oom(err);
    sr->tty = r->tty;
    sr->in = r->stdin;
    sr->out = r->stdout;
    sr->err = r->stderr;
    runtime__v1__attach_response__init(resp);
    if (!(resp->url = url_for(ctx, sr, err)))
        return -1;
    *ret_resp = &resp->base;
    return 0;
}

static int ports_check(const int32_t *ports, size_t n, crisp_error_t **err)
{
    if (n > STREAM_MAX_PORTS)
        return crisp_error_make(err, EINVAL, "%zu ports, at most %d are allowed", n, STREAM_MAX_PORTS);
    for (size_t i = 0; i < n; i++)
        if (ports[i] < 1 || ports[i] > 65535)
            return crisp_error_make(err, EINVAL, "invalid port %d: must be 1 to 65535", (int)ports[i]);
    return 0;
}

static int pod_ready(struct srv_ctx *ctx, const char *id, crisp_error_t **err)
{
    if (!id || !*id)
        return crisp_error_make(err, EINVAL, "no pod sandbox id given");
    _cleanup_(rt_sandbox_info_freep) struct rt_sandbox_info *info = NULL;
    if (rt_sandbox_info_get(ctx->daemon->runtime, id, &info, err) < 0)
        return -1;
    if (info->state != RT_SANDBOX_READY)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "pod sandbox %.12s is not ready", id);
    return 0;
}

int srv_pod_port_forward(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err)
{
    const Runtime__V1__PortForwardRequest *r = (const Runtime__V1__PortForwardRequest *)req;
    if (ports_check(r->port, r->n_port, err) < 0 || pod_ready(ctx, r->pod_sandbox_id, err) < 0)
        return -1;
    Runtime__V1__PortForwardResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    struct srv_streaming_request *sr = resp ? request_new(SRV_STREAMING_PORTFORWARD, r->pod_sandbox_id, err)
                                            : NULL;
    if (!sr)
        return crisp_error_oom(err);
    if (r->n_port > 0 && !(sr->ports = calloc(r->n_port, sizeof(int32_t)))) {
        srv_streaming_request_free(sr);
        return crisp_error_oom(err);
    }
    if (r->n_port > 0)
        memcpy(sr->ports, r->port, r->n_port * sizeof(int32_t));
    sr->n_ports = r->n_port;
    runtime__v1__port_forward_response__init(resp);
    if (!(resp->url = url_for(ctx, sr, err)))
        return -1;
    *ret_resp = &resp->base;
    return 0;
}
