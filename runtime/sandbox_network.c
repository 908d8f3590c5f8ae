/* The pod's network: the configuration its ADD will use, saved before the ADD runs; CNI ADD when it
 * runs; DEL (retried), with that same configuration, when it stops or goes. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/strv.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <stdlib.h>
#include <string.h>

#define CNI_DEL_ATTEMPTS 3
#define CNI_IFNAME "eth0"

static void cni_request(const struct rt_sandbox *sb, struct rt_cni_port_mapping *maps,
                        struct rt_cni_request *req)
{
    for (size_t p = 0; p < sb->n_ports; p++)
        maps[p] = (struct rt_cni_port_mapping){sb->ports[p].host_port, sb->ports[p].container_port,
                                               sb->ports[p].protocol, sb->ports[p].host_ip};
    *req = (struct rt_cni_request){
        .config = sb->cni_config,
        .container_id = sb->info.id,
        .netns = sb->info.netns_path,
        .ifname = sb->cni_ifname[0] ? sb->cni_ifname : CNI_IFNAME,
        .pod_name = sb->info.name,
        .pod_namespace = sb->info.namespace_,
        .pod_uid = sb->info.uid,
        .port_mappings = maps,
        .n_port_mappings = sb->n_ports,
        .dns_servers = sb->dns_servers,
        .dns_searches = sb->dns_searches,
        .dns_options = sb->dns_options,
        .cgroup_path = sb->info.cgroup_path,
    };
}

/* network_up is set before the ADD and recorded with what it will use: a crash anywhere in the ADD
 * leaves a record whose DEL undoes it. */
int rt_sandbox_network_intent(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                              crisp_error_t **err)
{
    if (sb->info.net_mode == RT_NS_NODE)
        return 0;
    free(sb->cni_config);
    sb->cni_config = NULL;
    if (rt_cni_config_text(rt->cni, &sb->cni_config, err) < 0)
        return -1;
    strcpy(sb->cni_ifname, CNI_IFNAME);
    strv_free(sb->dns_servers);
    strv_free(sb->dns_searches);
    strv_free(sb->dns_options);
    sb->dns_servers = strv_copy(s->dns_servers);
    sb->dns_searches = strv_copy(s->dns_searches);
    sb->dns_options = strv_copy(s->dns_options);
    if (!sb->dns_servers || !sb->dns_searches || !sb->dns_options)
        return crisp_error_oom(err);
    sb->network_up = true;
    return rt_sandbox_persist(sb, err);
}

int rt_sandbox_network_setup(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    if (sb->info.net_mode == RT_NS_NODE)
        return 0;
    struct rt_cni_port_mapping maps[sb->n_ports + 1];
    struct rt_cni_request req;
    cni_request(sb, maps, &req);
    struct rt_cni_result res = {0};
    if (rt_cni_add(rt->cni, &req, &res, err) < 0) {
        sb->network_up = false; /* a failed ADD ran the list's DEL itself */
        return -1;
    }
    strv_free(sb->info.ips);
    free(sb->info.cni_result);
    sb->info.ips = TAKE_PTR(res.ips);
    sb->info.cni_result = TAKE_PTR(res.raw_json);
    rt_cni_result_fini(&res);
    if (!sb->info.ips || !sb->info.cni_result)
        return crisp_error_oom(err);
    return 0;
}

int rt_sandbox_network_teardown(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    if (!sb->network_up)
        return 0;
    struct rt_cni_port_mapping maps[sb->n_ports + 1];
    struct rt_cni_request req;
    cni_request(sb, maps, &req);
    int r = -1;
    /* Only the last attempt's error is reported; the caller may pass no error at all (err NULL). */
    _cleanup_error_ crisp_error_t *last = NULL;
    for (int attempt = 0; attempt < CNI_DEL_ATTEMPTS && r < 0; attempt++) {
        crisp_error_freep(&last);
        r = rt_cni_del(rt->cni, &req, sb->info.cni_result[0] ? sb->info.cni_result : NULL, &last);
    }
    if (r == 0)
        sb->network_up = false;
    else if (err && !*err)
        *err = TAKE_PTR(last);
    return r;
}
