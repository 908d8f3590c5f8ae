/* Version, Status, RuntimeConfig and UpdateRuntimeConfig: what kubelet asks of the runtime itself. */
#define _GNU_SOURCE
#include "server/handlers.h"

#include "api.pb-c.h"
#include "common/cleanup.h"
#include "common/netaddr.h"
#include "runtime/cni/cni.h"
#include "runtime/propagation.h"
#include "runtime/sandbox.h"
#include "server/daemon.h"
#include "version.h"

#include <errno.h>
#include <string.h>

/* The CRI's own version string for VersionResponse.version (kubelet's runtime API). */
#define CRI_KUBELET_API_VERSION "0.1.0"

int srv_runtime_version(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                        crisp_error_t **err)
{
    (void)req;
    Runtime__V1__VersionResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__version_response__init(resp);
    resp->version = CRI_KUBELET_API_VERSION;
    resp->runtime_name = "crisp";
    resp->runtime_version = CRISP_VERSION;
    resp->runtime_api_version = "v1";
    *ret_resp = &resp->base;
    return 0;
}

static Runtime__V1__RuntimeCondition *condition_new(struct arena *a, const char *type, bool status,
                                                    const char *reason, const char *message)
{
    Runtime__V1__RuntimeCondition *c = arena_alloc(a, sizeof(*c));
    if (!c)
        return NULL;
    runtime__v1__runtime_condition__init(c);
    c->type = (char *)type;
    c->status = status;
    c->reason = (char *)(reason ? reason : "");
    c->message = message ? arena_strdup(a, message) : "";
    return c;
}

static Runtime__V1__RuntimeCondition *network_condition(struct srv_ctx *ctx)
{
    _cleanup_error_ crisp_error_t *cni_err = NULL;
    if (rt_cni_ready(rt_runtime_cni(ctx->daemon->runtime), &cni_err) == 0)
        return condition_new(ctx->arena, "NetworkReady", true, NULL, NULL);
    return condition_new(ctx->arena, "NetworkReady", false, "NetworkPluginNotReady", cni_err->msg);
}

static int add_info(struct arena *a, Runtime__V1__StatusResponse *resp, const char *key, const char *value)
{
    Runtime__V1__StatusResponse__InfoEntry *e = arena_alloc(a, sizeof(*e));
    if (!e)
        return -1;
    runtime__v1__status_response__info_entry__init(e);
    e->key = (char *)key;
    e->value = (char *)value;
    resp->info[resp->n_info++] = e;
    return 0;
}

/* Verbose info: the effective configuration and what kubelet told us, as JSON strings. */
static int status_verbose_info(struct srv_ctx *ctx, Runtime__V1__StatusResponse *resp)
{
    _cleanup_free_ char *cfg = config_to_json(ctx->daemon->cfg, false);
    _cleanup_free_ char *cidr = srv_daemon_pod_cidr(ctx->daemon);
    resp->info = arena_alloc(ctx->arena, 2 * sizeof(*resp->info));
    if (!cfg || !cidr || !resp->info)
        return -1;
    char *runtime = arena_printf(ctx->arena, "{\"version\":\"%s\",\"podCIDR\":\"%s\"}", CRISP_VERSION, cidr);
    if (!runtime || add_info(ctx->arena, resp, "config", arena_strdup(ctx->arena, cfg)) < 0 ||
        add_info(ctx->arena, resp, "runtime", runtime) < 0)
        return -1;
    return 0;
}

/* crisp has one runtime handler, the default (""); features it does not have yet stay false. */
static Runtime__V1__RuntimeHandler **runtime_handlers(struct arena *a)
{
    Runtime__V1__RuntimeHandler **list = arena_alloc(a, sizeof(*list));
    Runtime__V1__RuntimeHandler *h = arena_alloc(a, sizeof(*h));
    Runtime__V1__RuntimeHandlerFeatures *f = arena_alloc(a, sizeof(*f));
    if (!list || !h || !f)
        return NULL;
    runtime__v1__runtime_handler__init(h);
    runtime__v1__runtime_handler_features__init(f);
    h->name = "";
    f->user_namespaces = true; /* pods with userns_options mode POD, volumes through idmapped mounts */
    f->recursive_read_only_mounts = rt_mount_rro_supported();
    h->features = f;
    list[0] = h;
    return list;
}

int srv_runtime_status(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err)
{
    const Runtime__V1__StatusRequest *r = (const Runtime__V1__StatusRequest *)req;
    struct arena *a = ctx->arena;
    Runtime__V1__StatusResponse *resp = arena_alloc(a, sizeof(*resp));
    Runtime__V1__RuntimeStatus *status = arena_alloc(a, sizeof(*status));
    Runtime__V1__RuntimeCondition **conds = arena_alloc(a, 2 * sizeof(*conds));
    Runtime__V1__RuntimeFeatures *features = arena_alloc(a, sizeof(*features));
    if (!resp || !status || !conds || !features)
        return crisp_error_oom(err);
    runtime__v1__status_response__init(resp);
    runtime__v1__runtime_status__init(status);
    runtime__v1__runtime_features__init(features);
    features->supplemental_groups_policy = true;
    /* Mount.mount_options: noexec, nosuid and nodev, all kubelet sends. Checkpoint/restore (CheckpointPod,
     * RestorePod, CheckpointContainer) answer UNIMPLEMENTED: CRIU as Debian 12 packages it does not run
     * on this kernel, and RuntimeFeatures has no field to say so. */
    features->mount_options = true;
    conds[0] = condition_new(a, "RuntimeReady", true, NULL, NULL);
    conds[1] = network_condition(ctx);
    resp->runtime_handlers = runtime_handlers(a);
    if (!conds[0] || !conds[1] || !resp->runtime_handlers)
        return crisp_error_oom(err);
    resp->n_runtime_handlers = 1;
    status->conditions = conds;
    status->n_conditions = 2;
    resp->status = status;
    resp->features = features;
    if (r->verbose && status_verbose_info(ctx, resp) < 0)
        return crisp_error_oom(err);
    *ret_resp = &resp->base;
    return 0;
}

int srv_runtime_config(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err)
{
    (void)req;
    Runtime__V1__RuntimeConfigResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    Runtime__V1__LinuxRuntimeConfiguration *linux_cfg = arena_alloc(ctx->arena, sizeof(*linux_cfg));
    if (!resp || !linux_cfg)
        return crisp_error_oom(err);
    runtime__v1__runtime_config_response__init(resp);
    runtime__v1__linux_runtime_configuration__init(linux_cfg);
    linux_cfg->cgroup_driver = ctx->daemon->cfg->cgroup_driver == CGROUP_DRIVER_SYSTEMD
                                   ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                   : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
    resp->linux = linux_cfg;
    *ret_resp = &resp->base;
    return 0;
}

int srv_runtime_update_config(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                              crisp_error_t **err)
{
    const Runtime__V1__UpdateRuntimeConfigRequest *r = (const Runtime__V1__UpdateRuntimeConfigRequest *)req;
    const char *cidr = r->runtime_config && r->runtime_config->network_config
                           ? r->runtime_config->network_config->pod_cidr
                           : "";
    /* An empty CIDR changes nothing: kubelet sends one only once the node has been given it. */
    if (cidr[0] != '\0') {
        if (!netaddr_cidr_list_valid(cidr))
            return crisp_error_make(err, EINVAL, "pod_cidr \"%.64s\" is not a comma-separated list of CIDRs",
                                    cidr);
        if (srv_daemon_set_pod_cidr(ctx->daemon, cidr, err) < 0)
            return crisp_error_wrap(err, "store pod CIDR");
    }
    Runtime__V1__UpdateRuntimeConfigResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__update_runtime_config_response__init(resp);
    *ret_resp = &resp->base;
    return 0;
}
