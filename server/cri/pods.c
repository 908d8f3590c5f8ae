/* RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox. */
#define _GNU_SOURCE
#include "server/handlers.h"

#include "api.pb-c.h"
#include "common/cleanup.h"
#include "common/clock.h"
#include "server/convert/kv.h"
#include "server/convert/resources.h"
#include "server/cri/verbose.h"
#include "server/daemon.h"
#include "server/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PORT_MAPPINGS 256

static const char *protocol_name(Runtime__V1__Protocol p)
{
    return p == RUNTIME__V1__PROTOCOL__UDP ? "udp" : p == RUNTIME__V1__PROTOCOL__SCTP ? "sctp" : "tcp";
}

static int ports_from(struct arena *a, const Runtime__V1__PodSandboxConfig *c, struct rt_sandbox_spec *s,
                      crisp_error_t **err)
{
    if (c->n_port_mappings > MAX_PORT_MAPPINGS)
        return crisp_error_make(err, EINVAL, "%zu port mappings: at most %d", c->n_port_mappings,
                                MAX_PORT_MAPPINGS);
    struct rt_cni_port_mapping *m = arena_alloc(a, (c->n_port_mappings + 1) * sizeof(*m));
    if (!m)
        return crisp_error_oom(err);
    for (size_t i = 0; i < c->n_port_mappings; i++) {
        const Runtime__V1__PortMapping *p = c->port_mappings[i];
        if (p->container_port <= 0 || p->container_port > 65535 || p->host_port < 0 || p->host_port > 65535)
            return crisp_error_make(err, EINVAL, "port mapping %d->%d: ports must be 1-65535 (host 0: none)",
                                    p->host_port, p->container_port);
        m[i] = (struct rt_cni_port_mapping){p->host_port, p->container_port, protocol_name(p->protocol),
                                            p->host_ip ? p->host_ip : ""};
    }
    s->port_mappings = m;
    s->n_port_mappings = c->n_port_mappings;
    return 0;
}

static char **strv_from(struct arena *a, char **items, size_t n)
{
    char **v = arena_alloc(a, (n + 1) * sizeof(char *));
    for (size_t i = 0; v && i < n; i++)
        v[i] = items[i];
    return v;
}

/* Pod resources, with the overhead added where the pod has a limit (with none there is nothing to add to). */
static int resources_from(struct arena *a, const Runtime__V1__LinuxContainerResources *r,
                          const Runtime__V1__LinuxContainerResources *overhead,
                          struct rt_cgroup_resources **ret, crisp_error_t **err)
{
    struct rt_cgroup_resources *res = NULL;
    if (srv_resources_from(a, r, &res, err) < 0)
        return -1;
    if (res && overhead) {
        if (res->memory_limit > 0)
            res->memory_limit += overhead->memory_limit_in_bytes;
        if (res->cpu_quota > 0)
            res->cpu_quota += overhead->cpu_quota;
        if (res->cpu_shares > 0)
            res->cpu_shares += overhead->cpu_shares;
    }
    *ret = res;
    return 0;
}

static int mapping_check(const char *what, Runtime__V1__IDMapping *const *m, size_t n, crisp_error_t **err)
{
    if (n != 1)
        return crisp_error_make(err, EINVAL, "user namespace: exactly one %s mapping is supported, got %zu",
                                what, n);
    if (m[0]->container_id != 0)
        return crisp_error_make(err, EINVAL, "user namespace: the %s mapping must start at container id 0",
                                what);
    if (m[0]->length == 0 || (uint64_t)m[0]->host_id + m[0]->length > UINT32_MAX)
        return crisp_error_make(err, EINVAL,
                                "user namespace: %s mapping of length %u at host id %u is out of range", what,
                                m[0]->length, m[0]->host_id);
    if (m[0]->host_id == 0)
        return crisp_error_make(err, EINVAL, "user namespace: the %s mapping may not include the host's root",
                                what);
    return 0;
}

/* NODE: the host's user namespace. POD: one mapping each for uids and gids, from container id 0, and
 * no host namespaces, whose root would not be the pod's. */
static int userns_from(const Runtime__V1__NamespaceOption *ns, struct rt_sandbox_spec *s, crisp_error_t **err)
{
    const Runtime__V1__UserNamespace *u = ns ? ns->userns_options : NULL;
    s->userns = (struct rt_userns){0};
    if (!u || u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE) {
        if (u && (u->n_uids || u->n_gids))
            return crisp_error_make(err, EINVAL, "user namespace mode NODE takes no id mappings");
        return 0;
    }
    if (u->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
        return crisp_error_make(err, EINVAL, "user namespace mode %d is not supported: use POD or NODE",
                                (int)u->mode);
    if (mapping_check("uid", u->uids, u->n_uids, err) < 0 ||
        mapping_check("gid", u->gids, u->n_gids, err) < 0)
        return -1;
    if (u->uids[0]->length != u->gids[0]->length)
        return crisp_error_make(err, EINVAL,
                                "user namespace: uid and gid mappings must have the same length");
    if (s->net_mode == RT_NS_NODE || s->pid_mode == RT_NS_NODE || s->ipc_mode == RT_NS_NODE)
        return crisp_error_make(err, EINVAL,
                                "a pod with its own user namespace cannot use the host's network, "
                                "PID or IPC namespace");
    s->userns = (struct rt_userns){true, u->uids[0]->host_id, u->gids[0]->host_id, u->uids[0]->length};
    return 0;
}

static int namespaces_from(const Runtime__V1__LinuxPodSandboxConfig *l, struct rt_sandbox_spec *s,
                           crisp_error_t **err)
{
    const Runtime__V1__NamespaceOption *ns = l && l->security_context ? l->security_context->namespace_options
                                                                      : NULL;
    s->net_mode = ns ? (enum rt_ns_mode)ns->network : RT_NS_POD;
    s->pid_mode = ns ? (enum rt_ns_mode)ns->pid : RT_NS_POD;
    s->ipc_mode = ns ? (enum rt_ns_mode)ns->ipc : RT_NS_POD;
    s->privileged = l && l->security_context && l->security_context->privileged;
    if (s->privileged && ns && ns->userns_options &&
        ns->userns_options->mode == RUNTIME__V1__NAMESPACE_MODE__POD)
        return crisp_error_make(err, EINVAL, "a privileged pod cannot have its own user namespace");
    return userns_from(ns, s, err);
}

static int spec_from(struct srv_ctx *ctx, const Runtime__V1__RunPodSandboxRequest *r,
                     struct rt_sandbox_spec *s, crisp_error_t **err)
{
    const Runtime__V1__PodSandboxConfig *c = r->config;
    struct arena *a = ctx->arena;
    if (!c || !c->metadata)
        return crisp_error_make(err, EINVAL, "RunPodSandbox needs a config with metadata");
    const Runtime__V1__LinuxPodSandboxConfig *l = c->linux;
    *s = (struct rt_sandbox_spec){
        .name = c->metadata->name,
        .uid = c->metadata->uid,
        .namespace_ = c->metadata->namespace_,
        .attempt = c->metadata->attempt,
        .hostname = c->hostname,
        .log_directory = c->log_directory,
        .runtime_handler = r->runtime_handler,
        .cgroup_parent = l ? l->cgroup_parent : NULL,
    };
    if (c->dns_config) {
        s->dns_servers = strv_from(a, c->dns_config->servers, c->dns_config->n_servers);
        s->dns_searches = strv_from(a, c->dns_config->searches, c->dns_config->n_searches);
        s->dns_options = strv_from(a, c->dns_config->options, c->dns_config->n_options);
    }
    if (namespaces_from(l, s, err) < 0)
        return -1;
    if (ports_from(a, c, s, err) < 0 ||
        srv_kv_from(a, (void *const *)c->labels, c->n_labels, &s->labels, &s->n_labels, err) < 0 ||
        srv_kv_from(a, (void *const *)c->annotations, c->n_annotations, &s->annotations, &s->n_annotations,
                    err) < 0 ||
        (l && srv_kv_from(a, (void *const *)l->sysctls, l->n_sysctls, &s->sysctls, &s->n_sysctls, err) < 0))
        return -1;
    struct rt_cgroup_resources *res = NULL;
    if (resources_from(a, l ? l->resources : NULL, l ? l->overhead : NULL, &res, err) < 0)
        return -1;
    s->resources = res;
    size_t len = protobuf_c_message_get_packed_size(&c->base);
    uint8_t *packed = arena_alloc(a, len + 1);
    if (!packed)
        return crisp_error_oom(err);
    protobuf_c_message_pack(&c->base, packed);
    s->config = packed;
    s->config_len = len;
    return 0;
}

int srv_pod_run(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                crisp_error_t **err)
{
    struct rt_sandbox_spec spec;
    if (spec_from(ctx, (const Runtime__V1__RunPodSandboxRequest *)req, &spec, err) < 0)
        return -1;
    Runtime__V1__RunPodSandboxResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    char *id = arena_alloc(ctx->arena, RT_ID_LEN + 1);
    if (!resp || !id)
        return crisp_error_oom(err);
    if (rt_sandbox_run(ctx->daemon->runtime, &spec, id, err) < 0)
        return crisp_error_wrap(err, "run pod sandbox %s/%s", spec.namespace_, spec.name);
    runtime__v1__run_pod_sandbox_response__init(resp);
    resp->pod_sandbox_id = id;
    *ret_resp = &resp->base;
    return 0;
}

/* An id longer than any crisp makes names nothing: said early, with a bounded echo (a status message
 * travels in gRPC metadata, which clients cap at a few KiB). Stop and Remove of it succeed. */
static int need_id(const char *id, crisp_error_t **err)
{
    if (!id || !*id)
        return crisp_error_make(err, EINVAL, "no pod sandbox id given");
    if (strlen(id) > RT_ID_LEN)
        return crisp_error_make(err, ENOENT, "pod sandbox %.64s... not found", id);
    return 0;
}

int srv_pod_stop(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                 crisp_error_t **err)
{
    const Runtime__V1__StopPodSandboxRequest *r = (const Runtime__V1__StopPodSandboxRequest *)req;
    _cleanup_error_ crisp_error_t *stop_err = NULL;
    if ((need_id(r->pod_sandbox_id, &stop_err) < 0 ||
         rt_sandbox_stop(ctx->daemon->runtime, r->pod_sandbox_id, &stop_err) < 0) &&
        stop_err->status != ENOENT) {
        *err = TAKE_PTR(stop_err);
        return -1;
    }
    Runtime__V1__StopPodSandboxResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__stop_pod_sandbox_response__init(resp);
    *ret_resp = &resp->base;
    return 0;
}

int srv_pod_remove(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                   crisp_error_t **err)
{
    const Runtime__V1__RemovePodSandboxRequest *r = (const Runtime__V1__RemovePodSandboxRequest *)req;
    _cleanup_error_ crisp_error_t *id_err = NULL;
    if (need_id(r->pod_sandbox_id, &id_err) < 0 && id_err->status != ENOENT) {
        *err = TAKE_PTR(id_err);
        return -1;
    }
    /* Before the removal, which takes the pod's containers with it: forgetting more is harmless. Removing
     * what does not exist is no error. */
    if (!id_err) {
        srv_stats_forget_pod(ctx->daemon->stats, ctx->daemon->runtime, r->pod_sandbox_id);
        if (rt_sandbox_remove(ctx->daemon->runtime, r->pod_sandbox_id, err) < 0)
            return -1;
    }
    Runtime__V1__RemovePodSandboxResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__remove_pod_sandbox_response__init(resp);
    *ret_resp = &resp->base;
    return 0;
}

static Runtime__V1__PodSandboxMetadata *metadata_of(struct arena *a, const struct rt_sandbox_info *i)
{
    Runtime__V1__PodSandboxMetadata *m = arena_alloc(a, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__pod_sandbox_metadata__init(m);
    m->name = arena_strdup(a, i->name);
    m->uid = arena_strdup(a, i->uid);
    m->namespace_ = arena_strdup(a, i->namespace_);
    m->attempt = i->attempt;
    return m->name && m->uid && m->namespace_ ? m : NULL;
}

static Runtime__V1__PodSandboxNetworkStatus *network_of(struct arena *a, const struct rt_sandbox_info *i)
{
    Runtime__V1__PodSandboxNetworkStatus *n = arena_alloc(a, sizeof(*n));
    if (!n)
        return NULL;
    runtime__v1__pod_sandbox_network_status__init(n);
    if (!i->ips || !i->ips[0])
        return n;
    n->ip = arena_strdup(a, i->ips[0]);
    size_t extra = 0;
    while (i->ips[1 + extra])
        extra++;
    n->additional_ips = arena_alloc(a, (extra + 1) * sizeof(*n->additional_ips));
    for (size_t k = 0; n->additional_ips && k < extra; k++) {
        Runtime__V1__PodIP *ip = arena_alloc(a, sizeof(*ip));
        if (!ip)
            return NULL;
        runtime__v1__pod_ip__init(ip);
        ip->ip = arena_strdup(a, i->ips[1 + k]);
        n->additional_ips[k] = ip;
    }
    n->n_additional_ips = extra;
    return n->ip && n->additional_ips ? n : NULL;
}

static Runtime__V1__IDMapping **mapping_of(struct arena *a, uint32_t host, uint32_t size)
{
    Runtime__V1__IDMapping **v = arena_alloc(a, sizeof(*v));
    Runtime__V1__IDMapping *m = arena_alloc(a, sizeof(*m));
    if (!v || !m)
        return NULL;
    runtime__v1__idmapping__init(m);
    m->host_id = host;
    m->length = size;
    v[0] = m;
    return v;
}

static Runtime__V1__UserNamespace *userns_of(struct arena *a, const struct rt_userns *u)
{
    Runtime__V1__UserNamespace *un = arena_alloc(a, sizeof(*un));
    if (!un)
        return NULL;
    runtime__v1__user_namespace__init(un);
    un->mode = RUNTIME__V1__NAMESPACE_MODE__POD;
    un->uids = mapping_of(a, u->uid, u->size);
    un->gids = mapping_of(a, u->gid, u->size);
    un->n_uids = un->n_gids = 1;
    return un->uids && un->gids ? un : NULL;
}

static Runtime__V1__LinuxPodSandboxStatus *linux_of(struct arena *a, const struct rt_sandbox_info *i)
{
    Runtime__V1__LinuxPodSandboxStatus *l = arena_alloc(a, sizeof(*l));
    Runtime__V1__Namespace *ns = arena_alloc(a, sizeof(*ns));
    Runtime__V1__NamespaceOption *o = arena_alloc(a, sizeof(*o));
    if (!l || !ns || !o)
        return NULL;
    runtime__v1__linux_pod_sandbox_status__init(l);
    runtime__v1__namespace__init(ns);
    runtime__v1__namespace_option__init(o);
    o->network = (Runtime__V1__NamespaceMode)i->net_mode;
    o->pid = (Runtime__V1__NamespaceMode)i->pid_mode;
    o->ipc = (Runtime__V1__NamespaceMode)i->ipc_mode;
    if (i->userns.enabled && !(o->userns_options = userns_of(a, &i->userns)))
        return NULL;
    ns->options = o;
    l->namespaces = ns;
    return l;
}

static Runtime__V1__PodSandboxStatus *status_of(struct arena *a, const struct rt_sandbox_info *i)
{
    Runtime__V1__PodSandboxStatus *s = arena_alloc(a, sizeof(*s));
    if (!s)
        return NULL;
    runtime__v1__pod_sandbox_status__init(s);
    s->id = arena_strdup(a, i->id);
    s->metadata = metadata_of(a, i);
    s->state = (Runtime__V1__PodSandboxState)i->state;
    s->created_at = i->created_at;
    s->network = network_of(a, i);
    s->linux = linux_of(a, i);
    s->labels = (Runtime__V1__PodSandboxStatus__LabelsEntry **)srv_entries_of(
        a, &runtime__v1__pod_sandbox_status__labels_entry__descriptor, i->labels, i->n_labels);
    s->n_labels = i->n_labels;
    s->annotations = (Runtime__V1__PodSandboxStatus__AnnotationsEntry **)srv_entries_of(
        a, &runtime__v1__pod_sandbox_status__annotations_entry__descriptor, i->annotations, i->n_annotations);
    s->n_annotations = i->n_annotations;
    s->runtime_handler = arena_strdup(a, i->runtime_handler);
    if (!s->id || !s->metadata || !s->network || !s->linux || !s->labels || !s->annotations ||
        !s->runtime_handler)
        return NULL;
    return s;
}

static int status_info(struct arena *a, const struct rt_sandbox_info *i,
                       Runtime__V1__PodSandboxStatusResponse *resp)
{
    Runtime__V1__PodSandboxStatusResponse__InfoEntry *e = arena_alloc(a, sizeof(*e));
    resp->info = arena_alloc(a, sizeof(*resp->info));
    if (!e || !resp->info)
        return -1;
    runtime__v1__pod_sandbox_status_response__info_entry__init(e);
    e->key = "info";
    e->value = srv_verbose_pod_info(a, i, NULL);
    resp->info[0] = e;
    resp->n_info = 1;
    return e->value ? 0 : -1;
}

int srv_pod_status(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                   crisp_error_t **err)
{
    const Runtime__V1__PodSandboxStatusRequest *r = (const Runtime__V1__PodSandboxStatusRequest *)req;
    _cleanup_(rt_sandbox_info_freep) struct rt_sandbox_info *info = NULL;
    if (need_id(r->pod_sandbox_id, err) < 0 ||
        rt_sandbox_info_get(ctx->daemon->runtime, r->pod_sandbox_id, &info, err) < 0)
        return -1;
    Runtime__V1__PodSandboxStatusResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__pod_sandbox_status_response__init(resp);
    resp->timestamp = clock_realtime_ns();
    if (!(resp->status = status_of(ctx->arena, info)) ||
        (r->verbose && status_info(ctx->arena, info, resp) < 0))
        return crisp_error_oom(err);
    *ret_resp = &resp->base;
    return 0;
}

static bool filter_match(const struct rt_sandbox_info *i, const Runtime__V1__PodSandboxFilter *f)
{
    if (!f)
        return true;
    if (f->id && *f->id && strncmp(i->id, f->id, strlen(f->id)) != 0)
        return false;
    if (f->state && (int)f->state->state != (int)i->state)
        return false;
    return srv_labels_match(i->labels, i->n_labels, (void *const *)f->label_selector, f->n_label_selector);
}

static Runtime__V1__PodSandbox *summary_of(struct arena *a, const struct rt_sandbox_info *i)
{
    Runtime__V1__PodSandbox *p = arena_alloc(a, sizeof(*p));
    if (!p)
        return NULL;
    runtime__v1__pod_sandbox__init(p);
    p->id = arena_strdup(a, i->id);
    p->metadata = metadata_of(a, i);
    p->state = (Runtime__V1__PodSandboxState)i->state;
    p->created_at = i->created_at;
    p->labels = (Runtime__V1__PodSandbox__LabelsEntry **)srv_entries_of(
        a, &runtime__v1__pod_sandbox__labels_entry__descriptor, i->labels, i->n_labels);
    p->n_labels = i->n_labels;
    p->annotations = (Runtime__V1__PodSandbox__AnnotationsEntry **)srv_entries_of(
        a, &runtime__v1__pod_sandbox__annotations_entry__descriptor, i->annotations, i->n_annotations);
    p->n_annotations = i->n_annotations;
    p->runtime_handler = arena_strdup(a, i->runtime_handler);
    return p->id && p->metadata && p->labels && p->annotations && p->runtime_handler ? p : NULL;
}

int srv_pod_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                 crisp_error_t **err)
{
    const Runtime__V1__ListPodSandboxRequest *r = (const Runtime__V1__ListPodSandboxRequest *)req;
    struct rt_sandbox_info **list = NULL;
    size_t n = 0;
    if (rt_sandbox_info_list(ctx->daemon->runtime, &list, &n, err) < 0)
        return -1;
    Runtime__V1__ListPodSandboxResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    Runtime__V1__PodSandbox **items = arena_alloc(ctx->arena, (n + 1) * sizeof(*items));
    int rc = resp && items ? 0 : crisp_error_oom(err);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (filter_match(list[i], r->filter) && !(items[k++] = summary_of(ctx->arena, list[i])))
            rc = crisp_error_oom(err);
    rt_sandbox_info_list_free(list, n);
    if (rc < 0)
        return -1;
    runtime__v1__list_pod_sandbox_response__init(resp);
    resp->items = items;
    resp->n_items = k;
    *ret_resp = &resp->base;
    return 0;
}

int srv_pod_update_resources(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                             crisp_error_t **err)
{
    const Runtime__V1__UpdatePodSandboxResourcesRequest *r =
        (const Runtime__V1__UpdatePodSandboxResourcesRequest *)req;
    struct rt_cgroup_resources *res = NULL;
    if (need_id(r->pod_sandbox_id, err) < 0 ||
        resources_from(ctx->arena, r->resources, r->overhead, &res, err) < 0 ||
        rt_sandbox_update(ctx->daemon->runtime, r->pod_sandbox_id, res, err) < 0)
        return -1;
    Runtime__V1__UpdatePodSandboxResourcesResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__update_pod_sandbox_resources_response__init(resp);
    *ret_resp = &resp->base;
    return 0;
}
