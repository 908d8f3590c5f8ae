/* ContainerStats, ListContainerStats, PodSandboxStats, ListPodSandboxStats and their streaming forms.
 * The figures come from server/stats.c; this file selects the objects and shapes the responses. */
#include "server/handlers.h"

#include "common/cleanup.h"
#include "server/convert/kv.h"
#include "server/daemon.h"
#include "server/stats.h"

#include <errno.h>
#include <string.h>

/* Streaming responses carry this many objects each: far below the message size limit. */
#define STATS_STREAM_CHUNK 100

static bool id_matches(const char *id, const char *want)
{
    return !want || !*want || strncmp(id, want, strlen(want)) == 0;
}

static bool container_matches(const struct rt_container_info *c, const Runtime__V1__ContainerStatsFilter *f)
{
    return !f ||
           (id_matches(c->id, f->id) && id_matches(c->sandbox_id, f->pod_sandbox_id) &&
            srv_labels_match(c->labels, c->n_labels, (void *const *)f->label_selector, f->n_label_selector));
}

static bool pod_matches(const struct rt_sandbox_info *p, const Runtime__V1__PodSandboxStatsFilter *f)
{
    return !f ||
           (id_matches(p->id, f->id) &&
            srv_labels_match(p->labels, p->n_labels, (void *const *)f->label_selector, f->n_label_selector));
}

/* The listed containers that match f, as stats in the arena; *ret_n of them. */
static int containers_stats(struct srv_ctx *ctx, struct rt_container_info **list, size_t n,
                            const Runtime__V1__ContainerStatsFilter *f, Runtime__V1__ContainerStats ***ret,
                            size_t *ret_n, crisp_error_t **err)
{
    Runtime__V1__ContainerStats **out = arena_alloc(ctx->arena, (n + 1) * sizeof(*out));
    if (!out)
        return crisp_error_oom(err);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!container_matches(list[i], f))
            continue;
        if (!(out[k++] = srv_stats_container(ctx->daemon->stats, ctx->arena, list[i])))
            return crisp_error_oom(err);
    }
    *ret = out;
    *ret_n = k;
    return 0;
}

static int list_container_stats(struct srv_ctx *ctx, const Runtime__V1__ContainerStatsFilter *f,
                                Runtime__V1__ContainerStats ***ret, size_t *ret_n, crisp_error_t **err)
{
    struct rt_container_info **list = NULL;
    size_t n = 0;
    if (rt_container_info_list(ctx->daemon->runtime, &list, &n, err) < 0)
        return -1;
    int r = containers_stats(ctx, list, n, f, ret, ret_n, err);
    rt_container_info_list_free(list, n);
    return r;
}

int srv_container_stats(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                        crisp_error_t **err)
{
    const Runtime__V1__ContainerStatsRequest *r = (const Runtime__V1__ContainerStatsRequest *)req;
    if (!r->container_id || !*r->container_id)
        return crisp_error_make(err, EINVAL, "container_id is required");
    _cleanup_(rt_container_info_freep) struct rt_container_info *c = NULL;
    if (rt_container_info_get(ctx->daemon->runtime, r->container_id, &c, err) < 0)
        return -1;
    Runtime__V1__ContainerStatsResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__container_stats_response__init(resp);
    if (!(resp->stats = srv_stats_container(ctx->daemon->stats, ctx->arena, c)))
        return crisp_error_oom(err);
    *ret_resp = &resp->base;
    return 0;
}

int srv_container_stats_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                             crisp_error_t **err)
{
    const Runtime__V1__ListContainerStatsRequest *r = (const Runtime__V1__ListContainerStatsRequest *)req;
    Runtime__V1__ListContainerStatsResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__list_container_stats_response__init(resp);
    if (list_container_stats(ctx, r->filter, &resp->stats, &resp->n_stats, err) < 0)
        return -1;
    *ret_resp = &resp->base;
    return 0;
}

int srv_container_stats_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err)
{
    const Runtime__V1__StreamContainerStatsRequest *r = (const Runtime__V1__StreamContainerStatsRequest *)req;
    Runtime__V1__ContainerStats **all = NULL;
    size_t n = 0;
    if (list_container_stats(ctx, r->filter, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i += STATS_STREAM_CHUNK) {
        Runtime__V1__StreamContainerStatsResponse resp = RUNTIME__V1__STREAM_CONTAINER_STATS_RESPONSE__INIT;
        resp.container_stats = all + i;
        resp.n_container_stats = n - i < STATS_STREAM_CHUNK ? n - i : STATS_STREAM_CHUNK;
        if (srv_stream_send(ctx, &resp.base, err) < 0)
            return -1;
    }
    return 0;
}

/* Each pod's stats carry its containers': containers are listed once for all pods. */
static Runtime__V1__PodSandboxStats *pod_stats(struct srv_ctx *ctx, const struct rt_sandbox_info *p,
                                               struct rt_container_info **ctrs, size_t n_ctrs,
                                               crisp_error_t **err)
{
    const Runtime__V1__ContainerStatsFilter of_pod = {.pod_sandbox_id = (char *)p->id};
    Runtime__V1__ContainerStats **cs = NULL;
    size_t n = 0;
    if (containers_stats(ctx, ctrs, n_ctrs, &of_pod, &cs, &n, err) < 0)
        return NULL;
    Runtime__V1__PodSandboxStats *s = srv_stats_pod(ctx->daemon->stats, ctx->arena, p, cs, n);
    if (!s)
        crisp_error_oom(err);
    return s;
}

static int pods_stats(struct srv_ctx *ctx, struct rt_sandbox_info **pods, size_t n_pods,
                      const Runtime__V1__PodSandboxStatsFilter *f, Runtime__V1__PodSandboxStats ***ret,
                      size_t *ret_n, crisp_error_t **err)
{
    struct rt_container_info **ctrs = NULL;
    size_t n_ctrs = 0;
    Runtime__V1__PodSandboxStats **out = arena_alloc(ctx->arena, (n_pods + 1) * sizeof(*out));
    if (!out)
        return crisp_error_oom(err);
    if (rt_container_info_list(ctx->daemon->runtime, &ctrs, &n_ctrs, err) < 0)
        return -1;
    size_t k = 0;
    int r = 0;
    for (size_t i = 0; r == 0 && i < n_pods; i++)
        if (pod_matches(pods[i], f) && !(out[k++] = pod_stats(ctx, pods[i], ctrs, n_ctrs, err)))
            r = -1;
    rt_container_info_list_free(ctrs, n_ctrs);
    *ret = out;
    *ret_n = k;
    return r;
}

static int list_pod_stats(struct srv_ctx *ctx, const Runtime__V1__PodSandboxStatsFilter *f,
                          Runtime__V1__PodSandboxStats ***ret, size_t *ret_n, crisp_error_t **err)
{
    struct rt_sandbox_info **pods = NULL;
    size_t n = 0;
    if (rt_sandbox_info_list(ctx->daemon->runtime, &pods, &n, err) < 0)
        return -1;
    int r = pods_stats(ctx, pods, n, f, ret, ret_n, err);
    rt_sandbox_info_list_free(pods, n);
    return r;
}

int srv_pod_stats(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                  crisp_error_t **err)
{
    const Runtime__V1__PodSandboxStatsRequest *r = (const Runtime__V1__PodSandboxStatsRequest *)req;
    if (!r->pod_sandbox_id || !*r->pod_sandbox_id)
        return crisp_error_make(err, EINVAL, "pod_sandbox_id is required");
    _cleanup_(rt_sandbox_info_freep) struct rt_sandbox_info *p = NULL;
    if (rt_sandbox_info_get(ctx->daemon->runtime, r->pod_sandbox_id, &p, err) < 0)
        return -1;
    Runtime__V1__PodSandboxStatsResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__pod_sandbox_stats_response__init(resp);
    Runtime__V1__PodSandboxStats **one = NULL;
    size_t n = 0;
    if (pods_stats(ctx, &p, 1, NULL, &one, &n, err) < 0)
        return -1;
    resp->stats = one[0];
    *ret_resp = &resp->base;
    return 0;
}

int srv_pod_stats_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err)
{
    const Runtime__V1__ListPodSandboxStatsRequest *r = (const Runtime__V1__ListPodSandboxStatsRequest *)req;
    Runtime__V1__ListPodSandboxStatsResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__list_pod_sandbox_stats_response__init(resp);
    if (list_pod_stats(ctx, r->filter, &resp->stats, &resp->n_stats, err) < 0)
        return -1;
    *ret_resp = &resp->base;
    return 0;
}

int srv_pod_stats_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err)
{
    const Runtime__V1__StreamPodSandboxStatsRequest *r = (const Runtime__V1__StreamPodSandboxStatsRequest *)
        req;
    Runtime__V1__PodSandboxStats **all = NULL;
    size_t n = 0;
    if (list_pod_stats(ctx, r->filter, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i += STATS_STREAM_CHUNK) {
        Runtime__V1__StreamPodSandboxStatsResponse resp =
            RUNTIME__V1__STREAM_POD_SANDBOX_STATS_RESPONSE__INIT;
        resp.pod_sandbox_stats = all + i;
        resp.n_pod_sandbox_stats = n - i < STATS_STREAM_CHUNK ? n - i : STATS_STREAM_CHUNK;
        if (srv_stream_send(ctx, &resp.base, err) < 0)
            return -1;
    }
    return 0;
}
