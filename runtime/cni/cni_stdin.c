/* A plugin's stdin: its object from the list, with the name, version and prevResult the runtime owns,
 * and runtimeConfig for the capabilities it declares and the request has. */
#define _GNU_SOURCE
#include "runtime/cni/cni_internal.h"

#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

/* containerd's convention: the largest burst the bandwidth plugin takes, so only the rate limits. */
#define BANDWIDTH_BURST 4294967295ull

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* Copies a parsed value; numbers keep their original text. Depth is bounded by parsing. */
static void gen_value(yajl_gen g, yajl_val v)
{
    if (YAJL_IS_STRING(v)) {
        gen_str(g, v->u.string);
    } else if (YAJL_IS_NUMBER(v)) {
        yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    } else if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            gen_str(g, v->u.object.keys[i]);
            gen_value(g, v->u.object.values[i]);
        }
        yajl_gen_map_close(g);
    } else if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < v->u.array.len; i++)
            gen_value(g, v->u.array.values[i]);
        yajl_gen_array_close(g);
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, YAJL_IS_TRUE(v));
    } else {
        yajl_gen_null(g);
    }
}

static void gen_strv(yajl_gen g, char *const *v)
{
    yajl_gen_array_open(g);
    for (; v && *v; v++)
        gen_str(g, *v);
    yajl_gen_array_close(g);
}

enum { CAP_PORTS = 1, CAP_DNS = 2, CAP_BANDWIDTH = 4, CAP_CGROUP = 8 };

static bool cap_declared(const struct rt_cni_plugin *p, const char *name)
{
    const char *path[] = {"capabilities", name, NULL};
    return yajl_tree_get(p->conf, path, yajl_t_true) != NULL;
}

/* Mappings without a host port publish nothing (as containerd filters them). */
static bool has_host_ports(const struct rt_cni_request *q)
{
    for (size_t i = 0; i < q->n_port_mappings; i++)
        if (q->port_mappings[i].host_port > 0)
            return true;
    return false;
}

static bool strv_nonempty(char *const *v)
{
    return v && v[0];
}

/* runtimeConfig carries only what the plugin declares and the request has. */
static unsigned caps_wanted(const struct rt_cni_plugin *p, const struct rt_cni_request *q)
{
    unsigned caps = 0;
    if (has_host_ports(q) && cap_declared(p, "portMappings"))
        caps |= CAP_PORTS;
    if ((strv_nonempty(q->dns_servers) || strv_nonempty(q->dns_searches) || strv_nonempty(q->dns_options)) &&
        cap_declared(p, "dns"))
        caps |= CAP_DNS;
    if ((q->ingress_rate > 0 || q->egress_rate > 0) && cap_declared(p, "bandwidth"))
        caps |= CAP_BANDWIDTH;
    if (q->cgroup_path && *q->cgroup_path && cap_declared(p, "cgroupPath"))
        caps |= CAP_CGROUP;
    return caps;
}

static void gen_port_mappings(yajl_gen g, const struct rt_cni_request *q)
{
    gen_str(g, "portMappings");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < q->n_port_mappings; i++) {
        const struct rt_cni_port_mapping *m = &q->port_mappings[i];
        if (m->host_port <= 0)
            continue;
        yajl_gen_map_open(g);
        gen_str(g, "hostPort");
        yajl_gen_integer(g, m->host_port);
        gen_str(g, "containerPort");
        yajl_gen_integer(g, m->container_port);
        gen_str(g, "protocol");
        gen_str(g, m->protocol && *m->protocol ? m->protocol : "tcp");
        gen_str(g, "hostIP");
        gen_str(g, m->host_ip ? m->host_ip : "");
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
}

static void gen_rate(yajl_gen g, const char *rate_key, const char *burst_key, int64_t rate)
{
    if (rate <= 0)
        return;
    gen_str(g, rate_key);
    yajl_gen_integer(g, rate);
    gen_str(g, burst_key);
    yajl_gen_integer(g, (long long)BANDWIDTH_BURST);
}

static void gen_runtime_config(yajl_gen g, unsigned caps, const struct rt_cni_request *q)
{
    gen_str(g, "runtimeConfig");
    yajl_gen_map_open(g);
    if (caps & CAP_PORTS)
        gen_port_mappings(g, q);
    if (caps & CAP_DNS) {
        gen_str(g, "dns");
        yajl_gen_map_open(g);
        gen_str(g, "servers");
        gen_strv(g, q->dns_servers);
        gen_str(g, "searches");
        gen_strv(g, q->dns_searches);
        gen_str(g, "options");
        gen_strv(g, q->dns_options);
        yajl_gen_map_close(g);
    }
    if (caps & CAP_BANDWIDTH) {
        gen_str(g, "bandwidth");
        yajl_gen_map_open(g);
        gen_rate(g, "ingressRate", "ingressBurst", q->ingress_rate);
        gen_rate(g, "egressRate", "egressBurst", q->egress_rate);
        yajl_gen_map_close(g);
    }
    if (caps & CAP_CGROUP) {
        gen_str(g, "cgroupPath");
        gen_str(g, q->cgroup_path);
    }
    yajl_gen_map_close(g);
}

/* Keys the runtime owns: taken from the list, the previous result, or the request. */
static bool is_injected_key(const char *key, unsigned caps)
{
    return strcmp(key, "name") == 0 || strcmp(key, "cniVersion") == 0 || strcmp(key, "prevResult") == 0 ||
           (caps && strcmp(key, "runtimeConfig") == 0);
}

int rt_cni_stdin_build(const struct rt_cni_op *op, const struct rt_cni_plugin *p, const char *name,
                       yajl_val prev, char **ret, crisp_error_t **err)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return crisp_error_oom(err);
    unsigned caps = caps_wanted(p, op->req);
    yajl_gen_map_open(g);
    for (size_t i = 0; i < p->conf->u.object.len; i++) {
        if (is_injected_key(p->conf->u.object.keys[i], caps))
            continue;
        gen_str(g, p->conf->u.object.keys[i]);
        gen_value(g, p->conf->u.object.values[i]);
    }
    gen_str(g, "name");
    gen_str(g, name);
    gen_str(g, "cniVersion");
    gen_str(g, op->net->version);
    if (prev) {
        gen_str(g, "prevResult");
        gen_value(g, prev);
    }
    if (caps)
        gen_runtime_config(g, caps, op->req);
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    *ret = strndup((const char *)buf, len);
    yajl_gen_free(g);
    return *ret ? 0 : crisp_error_oom(err);
}
