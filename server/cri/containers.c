/* CreateContainer, StartContainer, StopContainer, RemoveContainer, ContainerStatus, ListContainers,
 * ExecSync, UpdateContainerResources, ReopenContainerLog. */
#define _GNU_SOURCE
#include "server/handlers.h"

#include "api.pb-c.h"
#include "common/cleanup.h"
#include "common/file.h"
#include "images/store.h"
#include "server/convert/container_config.h"
#include "server/convert/kv.h"
#include "server/convert/resources.h"
#include "server/cri/verbose.h"
#include "server/daemon.h"
#include "server/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EXEC_MAX_ARGS 4096

/* An id longer than any crisp makes names nothing: said early, with a bounded echo (a status message
 * travels in gRPC metadata, which clients cap at a few KiB). */
static bool id_unknowable(const char *id)
{
    return strlen(id) > RT_ID_LEN;
}

static int need_id(const char *id, crisp_error_t **err)
{
    if (!id || !*id)
        return crisp_error_make(err, EINVAL, "no container id given");
    if (id_unknowable(id))
        return crisp_error_make(err, ENOENT, "container %.64s... not found", id);
    return 0;
}

int srv_container_create(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err)
{
    const Runtime__V1__CreateContainerRequest *r = (const Runtime__V1__CreateContainerRequest *)req;
    struct rt_container_spec spec;
    struct srv_container_image img = {0};
    char *id = arena_alloc(ctx->arena, RT_ID_LEN + 1);
    Runtime__V1__CreateContainerResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    int rc = id && resp ? 0 : crisp_error_oom(err);
    if (rc == 0)
        rc = srv_container_spec_from(ctx, r, &spec, &img, err);
    const Runtime__V1__ContainerConfig *c = r->config;
    if (rc == 0 && (srv_kv_from(ctx->arena, (void *const *)c->labels, c->n_labels, &spec.labels,
                                &spec.n_labels, err) < 0 ||
                    srv_kv_from(ctx->arena, (void *const *)c->annotations, c->n_annotations,
                                &spec.annotations, &spec.n_annotations, err) < 0))
        rc = -1;
    if (rc == 0)
        rc = rt_container_create(ctx->daemon->runtime, &spec, id, err);
    srv_container_image_fini(&img);
    if (rc < 0)
        return -1;
    runtime__v1__create_container_response__init(resp);
    resp->container_id = id;
    *ret_resp = &resp->base;
    return 0;
}

#define EMPTY_RESPONSE(ctx, type, init, ret_resp, err)                                                       \
    ({                                                                                                       \
        type *_r = arena_alloc((ctx)->arena, sizeof(type));                                                  \
        if (_r) {                                                                                            \
            init(_r);                                                                                        \
            *(ret_resp) = &_r->base;                                                                         \
        }                                                                                                    \
        _r ? 0 : crisp_error_oom(err);                                                                       \
    })

int srv_container_start(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                        crisp_error_t **err)
{
    const Runtime__V1__StartContainerRequest *r = (const Runtime__V1__StartContainerRequest *)req;
    if (need_id(r->container_id, err) < 0 ||
        rt_container_start(ctx->daemon->runtime, r->container_id, err) < 0)
        return -1;
    return EMPTY_RESPONSE(ctx, Runtime__V1__StartContainerResponse,
                          runtime__v1__start_container_response__init, ret_resp, err);
}

int srv_container_stop(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err)
{
    const Runtime__V1__StopContainerRequest *r = (const Runtime__V1__StopContainerRequest *)req;
    if (r->container_id && id_unknowable(r->container_id)) /* stopping what does not exist is no error */
        return EMPTY_RESPONSE(ctx, Runtime__V1__StopContainerResponse,
                              runtime__v1__stop_container_response__init, ret_resp, err);
    if (need_id(r->container_id, err) < 0)
        return -1;
    if (r->timeout < 0 || r->timeout > 24 * 3600)
        return crisp_error_make(err, EINVAL, "stop timeout %lld s is out of range", (long long)r->timeout);
    if (rt_container_stop(ctx->daemon->runtime, r->container_id, r->timeout, err) < 0)
        return -1;
    return EMPTY_RESPONSE(ctx, Runtime__V1__StopContainerResponse, runtime__v1__stop_container_response__init,
                          ret_resp, err);
}

int srv_container_remove(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err)
{
    const Runtime__V1__RemoveContainerRequest *r = (const Runtime__V1__RemoveContainerRequest *)req;
    if (r->container_id && id_unknowable(r->container_id)) /* removing what does not exist is no error */
        return EMPTY_RESPONSE(ctx, Runtime__V1__RemoveContainerResponse,
                              runtime__v1__remove_container_response__init, ret_resp, err);
    if (need_id(r->container_id, err) < 0 ||
        rt_container_remove(ctx->daemon->runtime, r->container_id, err) < 0)
        return -1;
    srv_stats_forget(ctx->daemon->stats, r->container_id);
    return EMPTY_RESPONSE(ctx, Runtime__V1__RemoveContainerResponse,
                          runtime__v1__remove_container_response__init, ret_resp, err);
}

static Runtime__V1__ContainerMetadata *metadata_of(struct arena *a, const struct rt_container_info *i)
{
    Runtime__V1__ContainerMetadata *m = arena_alloc(a, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__container_metadata__init(m);
    m->name = arena_strdup(a, i->name);
    m->attempt = i->attempt;
    return m->name ? m : NULL;
}

static Runtime__V1__ImageSpec *image_of(struct arena *a, const struct rt_container_info *i)
{
    Runtime__V1__ImageSpec *s = arena_alloc(a, sizeof(*s));
    if (!s)
        return NULL;
    runtime__v1__image_spec__init(s);
    s->image = arena_strdup(a, i->image);
    return s->image ? s : NULL;
}

/* As containerd reports one: the image as the request named it, the sub path, and (host_path) where
 * crispd mounted it. */
static bool image_volume_of(struct arena *a, const struct rt_mount *m, Runtime__V1__Mount *pm)
{
    Runtime__V1__ImageSpec *s = arena_alloc(a, sizeof(*s));
    if (!s)
        return false;
    runtime__v1__image_spec__init(s);
    s->image = arena_strdup(a, m->image);
    pm->image = s;
    pm->image_sub_path = arena_strdup(a, m->image_sub_path ? m->image_sub_path : "");
    return s->image && pm->image_sub_path;
}

static Runtime__V1__Mount **mounts_of(struct arena *a, const struct rt_container_info *i)
{
    Runtime__V1__Mount **list = arena_alloc(a, (i->n_mounts + 1) * sizeof(*list));
    for (size_t m = 0; list && m < i->n_mounts; m++) {
        Runtime__V1__Mount *pm = arena_alloc(a, sizeof(*pm));
        if (!pm)
            return NULL;
        runtime__v1__mount__init(pm);
        pm->container_path = arena_strdup(a, i->mounts[m].container_path);
        pm->host_path = arena_strdup(a, i->mounts[m].host_path);
        pm->readonly = i->mounts[m].readonly;
        pm->propagation = (Runtime__V1__MountPropagation)i->mounts[m].propagation;
        if (i->mounts[m].image && !image_volume_of(a, &i->mounts[m], pm))
            return NULL;
        list[m] = pm;
    }
    return list;
}

static Runtime__V1__ContainerUser *user_of(struct arena *a, const struct rt_container_info *i)
{
    Runtime__V1__ContainerUser *u = arena_alloc(a, sizeof(*u));
    Runtime__V1__LinuxContainerUser *l = arena_alloc(a, sizeof(*l));
    if (!u || !l)
        return NULL;
    runtime__v1__container_user__init(u);
    runtime__v1__linux_container_user__init(l);
    l->uid = i->uid;
    l->gid = i->gid;
    l->supplemental_groups = arena_alloc(a, (i->n_groups + 1) * sizeof(int64_t));
    if (!l->supplemental_groups)
        return NULL;
    for (size_t k = 0; k < i->n_groups; k++)
        l->supplemental_groups[k] = i->groups[k];
    l->n_supplemental_groups = i->n_groups;
    u->linux = l;
    return u;
}

static Runtime__V1__ContainerResources *resources_of(struct arena *a, const struct rt_container_info *i)
{
    Runtime__V1__ContainerResources *r = arena_alloc(a, sizeof(*r));
    Runtime__V1__LinuxContainerResources *l = arena_alloc(a, sizeof(*l));
    if (!r || !l)
        return NULL;
    runtime__v1__container_resources__init(r);
    runtime__v1__linux_container_resources__init(l);
    const struct rt_container_resources *cr = &i->resources;
    l->cpu_period = cr->cpu_period;
    l->cpu_quota = cr->cpu_quota;
    l->cpu_shares = cr->cpu_shares;
    l->memory_limit_in_bytes = cr->memory_limit;
    l->memory_swap_limit_in_bytes = cr->memory_swap_limit;
    l->oom_score_adj = cr->oom_score_adj;
    l->cpuset_cpus = arena_strdup(a, cr->cpuset_cpus);
    l->cpuset_mems = arena_strdup(a, cr->cpuset_mems);
    r->linux = l;
    return l->cpuset_cpus && l->cpuset_mems ? r : NULL;
}

/* The repo digest the container's image was pulled by, as containerd and CRI-O report it (kubectl's
 * imageID); the config id when the image has none or is gone. */
static char *image_ref_of(struct srv_ctx *ctx, const struct rt_container_info *i)
{
    _cleanup_free_ char *digest = img_store_repo_digest(ctx->daemon->images, i->image_id, i->image);
    return arena_strdup(ctx->arena, digest ? digest : i->image_id);
}

static Runtime__V1__ContainerStatus *status_of(struct arena *a, const struct rt_container_info *i,
                                               char *image_ref)
{
    Runtime__V1__ContainerStatus *s = arena_alloc(a, sizeof(*s));
    if (!s)
        return NULL;
    runtime__v1__container_status__init(s);
    s->id = arena_strdup(a, i->id);
    s->metadata = metadata_of(a, i);
    s->state = (Runtime__V1__ContainerState)i->state;
    s->created_at = i->created_at;
    s->started_at = i->started_at;
    s->finished_at = i->finished_at;
    s->exit_code = i->exit_code;
    s->image = image_of(a, i);
    s->image_ref = image_ref;
    s->image_id = arena_strdup(a, i->image_id);
    s->reason = arena_strdup(a, i->reason);
    s->message = arena_strdup(a, i->message);
    s->labels = (Runtime__V1__ContainerStatus__LabelsEntry **)srv_entries_of(
        a, &runtime__v1__container_status__labels_entry__descriptor, i->labels, i->n_labels);
    s->n_labels = i->n_labels;
    s->annotations = (Runtime__V1__ContainerStatus__AnnotationsEntry **)srv_entries_of(
        a, &runtime__v1__container_status__annotations_entry__descriptor, i->annotations, i->n_annotations);
    s->n_annotations = i->n_annotations;
    s->mounts = mounts_of(a, i);
    s->n_mounts = i->n_mounts;
    s->log_path = arena_strdup(a, i->log_path);
    s->user = user_of(a, i);
    s->resources = resources_of(a, i);
    if (!s->resources || !s->id || !s->metadata || !s->image || !s->image_ref || !s->image_id || !s->reason ||
        !s->message || !s->labels || !s->annotations || !s->mounts || !s->log_path || !s->user)
        return NULL;
    return s;
}

int srv_container_status(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err)
{
    const Runtime__V1__ContainerStatusRequest *r = (const Runtime__V1__ContainerStatusRequest *)req;
    _cleanup_(rt_container_info_freep) struct rt_container_info *info = NULL;
    if (need_id(r->container_id, err) < 0 ||
        rt_container_info_get(ctx->daemon->runtime, r->container_id, &info, err) < 0)
        return -1;
    Runtime__V1__ContainerStatusResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__container_status_response__init(resp);
    if (!(resp->status = status_of(ctx->arena, info, image_ref_of(ctx, info))))
        return crisp_error_oom(err);
    if (r->verbose) {
        Runtime__V1__ContainerStatusResponse__InfoEntry *e = arena_alloc(ctx->arena, sizeof(*e));
        resp->info = arena_alloc(ctx->arena, sizeof(*resp->info));
        if (!e || !resp->info)
            return crisp_error_oom(err);
        runtime__v1__container_status_response__info_entry__init(e);
        e->key = "info";
        _cleanup_(rt_sandbox_info_freep) struct rt_sandbox_info *pod = NULL;
        /* A pod removed meanwhile only leaves the hostname out. */
        (void)rt_sandbox_info_get(ctx->daemon->runtime, info->sandbox_id, &pod, NULL);
        if (!(e->value = srv_verbose_container_info(ctx->arena, info, pod, err)))
            return -1;
        resp->info[0] = e;
        resp->n_info = 1;
    }
    *ret_resp = &resp->base;
    return 0;
}

static bool matches(const struct rt_container_info *i, const Runtime__V1__ContainerFilter *f)
{
    if (!f)
        return true;
    if (f->id && *f->id && strncmp(i->id, f->id, strlen(f->id)) != 0)
        return false;
    if (f->pod_sandbox_id && *f->pod_sandbox_id &&
        strncmp(i->sandbox_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
        return false;
    if (f->state && (int)f->state->state != (int)i->state)
        return false;
    return srv_labels_match(i->labels, i->n_labels, (void *const *)f->label_selector, f->n_label_selector);
}

static Runtime__V1__Container *summary_of(struct arena *a, const struct rt_container_info *i, char *image_ref)
{
    Runtime__V1__Container *c = arena_alloc(a, sizeof(*c));
    if (!c)
        return NULL;
    runtime__v1__container__init(c);
    c->id = arena_strdup(a, i->id);
    c->pod_sandbox_id = arena_strdup(a, i->sandbox_id);
    c->metadata = metadata_of(a, i);
    c->image = image_of(a, i);
    c->image_ref = image_ref;
    c->image_id = arena_strdup(a, i->image_id);
    c->state = (Runtime__V1__ContainerState)i->state;
    c->created_at = i->created_at;
    c->labels = (Runtime__V1__Container__LabelsEntry **)srv_entries_of(
        a, &runtime__v1__container__labels_entry__descriptor, i->labels, i->n_labels);
    c->n_labels = i->n_labels;
    c->annotations = (Runtime__V1__Container__AnnotationsEntry **)srv_entries_of(
        a, &runtime__v1__container__annotations_entry__descriptor, i->annotations, i->n_annotations);
    c->n_annotations = i->n_annotations;
    bool ok = c->id && c->pod_sandbox_id && c->metadata && c->image && c->image_ref && c->image_id &&
              c->labels && c->annotations;
    return ok ? c : NULL;
}

int srv_container_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err)
{
    const Runtime__V1__ListContainersRequest *r = (const Runtime__V1__ListContainersRequest *)req;
    struct rt_container_info **list = NULL;
    size_t n = 0;
    if (rt_container_info_list(ctx->daemon->runtime, &list, &n, err) < 0)
        return -1;
    Runtime__V1__ListContainersResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    Runtime__V1__Container **items = arena_alloc(ctx->arena, (n + 1) * sizeof(*items));
    int rc = resp && items ? 0 : crisp_error_oom(err);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (matches(list[i], r->filter) &&
            !(items[k++] = summary_of(ctx->arena, list[i], image_ref_of(ctx, list[i]))))
            rc = crisp_error_oom(err);
    rt_container_info_list_free(list, n);
    if (rc < 0)
        return -1;
    runtime__v1__list_containers_response__init(resp);
    resp->containers = items;
    resp->n_containers = k;
    *ret_resp = &resp->base;
    return 0;
}

int srv_container_exec_sync(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                            crisp_error_t **err)
{
    const Runtime__V1__ExecSyncRequest *r = (const Runtime__V1__ExecSyncRequest *)req;
    if (need_id(r->container_id, err) < 0)
        return -1;
    if (r->n_cmd == 0 || r->n_cmd > EXEC_MAX_ARGS)
        return crisp_error_make(err, EINVAL, "ExecSync needs a command of 1 to %d arguments", EXEC_MAX_ARGS);
    if (r->timeout < 0)
        return crisp_error_make(err, EINVAL, "negative timeout");
    char **argv = arena_alloc(ctx->arena, (r->n_cmd + 1) * sizeof(char *));
    Runtime__V1__ExecSyncResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!argv || !resp)
        return crisp_error_oom(err);
    memcpy(argv, r->cmd, r->n_cmd * sizeof(char *));
    struct rt_exec_output out = {0};
    if (rt_container_exec_sync(ctx->daemon->runtime, r->container_id, argv, r->timeout, &out, err) < 0)
        return -1;
    runtime__v1__exec_sync_response__init(resp);
    resp->exit_code = out.exit_code;
    /* The output moves into the arena so it lives as long as the response. */
    resp->stdout.data = arena_alloc(ctx->arena, out.out_len + 1);
    resp->stderr.data = arena_alloc(ctx->arena, out.err_len + 1);
    if (resp->stdout.data && out.out_len)
        memcpy(resp->stdout.data, out.out, out.out_len);
    if (resp->stderr.data && out.err_len)
        memcpy(resp->stderr.data, out.err_out, out.err_len);
    resp->stdout.len = out.out_len;
    resp->stderr.len = out.err_len;
    rt_exec_output_fini(&out);
    if (!resp->stdout.data || !resp->stderr.data)
        return crisp_error_oom(err);
    *ret_resp = &resp->base;
    return 0;
}

int srv_container_update(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err)
{
    const Runtime__V1__UpdateContainerResourcesRequest *r =
        (const Runtime__V1__UpdateContainerResourcesRequest *)req;
    struct rt_cgroup_resources *res = NULL;
    if (need_id(r->container_id, err) < 0 || srv_resources_from(ctx->arena, r->linux, &res, err) < 0)
        return -1;
    if (res && rt_container_update(ctx->daemon->runtime, r->container_id, res, err) < 0)
        return -1;
    return EMPTY_RESPONSE(ctx, Runtime__V1__UpdateContainerResourcesResponse,
                          runtime__v1__update_container_resources_response__init, ret_resp, err);
}

int srv_container_reopen_log(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                             crisp_error_t **err)
{
    const Runtime__V1__ReopenContainerLogRequest *r = (const Runtime__V1__ReopenContainerLogRequest *)req;
    if (need_id(r->container_id, err) < 0 ||
        rt_container_reopen_log(ctx->daemon->runtime, r->container_id, err) < 0)
        return -1;
    return EMPTY_RESPONSE(ctx, Runtime__V1__ReopenContainerLogResponse,
                          runtime__v1__reopen_container_log_response__init, ret_resp, err);
}
