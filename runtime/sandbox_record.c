#define _GNU_SOURCE
#include "runtime/sandbox_internal.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/strv.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

void rt_kv_gen(yajl_gen g, const char *k, const struct rt_kv *kv, size_t n)
{
    json_gen_str(g, k);
    yajl_gen_map_open(g);
    for (size_t i = 0; i < n; i++)
        json_gen_kv_str(g, kv[i].key, kv[i].value);
    yajl_gen_map_close(g);
}

static void gen_ports(yajl_gen g, const struct rt_sandbox *sb)
{
    json_gen_str(g, "ports");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < sb->n_ports; i++) {
        yajl_gen_map_open(g);
        json_gen_kv_int(g, "host_port", sb->ports[i].host_port);
        json_gen_kv_int(g, "container_port", sb->ports[i].container_port);
        json_gen_kv_str(g, "protocol", sb->ports[i].protocol);
        json_gen_kv_str(g, "host_ip", sb->ports[i].host_ip);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
}

static void gen_info(yajl_gen g, const struct rt_sandbox_info *i)
{
    json_gen_kv_str(g, "id", i->id);
    json_gen_kv_str(g, "name", i->name);
    json_gen_kv_str(g, "uid", i->uid);
    json_gen_kv_str(g, "namespace", i->namespace_);
    json_gen_kv_int(g, "attempt", i->attempt);
    json_gen_kv_int(g, "state", i->state);
    json_gen_kv_int(g, "created_at", i->created_at);
    rt_kv_gen(g, "labels", i->labels, i->n_labels);
    rt_kv_gen(g, "annotations", i->annotations, i->n_annotations);
    json_gen_kv_str(g, "runtime_handler", i->runtime_handler);
    json_gen_kv_int(g, "net_mode", i->net_mode);
    json_gen_kv_int(g, "pid_mode", i->pid_mode);
    json_gen_kv_int(g, "ipc_mode", i->ipc_mode);
    json_gen_kv_int(g, "privileged", i->privileged);
    json_gen_kv_int(g, "userns_uid", i->userns.enabled ? (long long)i->userns.uid : -1);
    json_gen_kv_int(g, "userns_gid", i->userns.gid);
    json_gen_kv_int(g, "userns_size", i->userns.size);
    json_gen_str(g, "ips");
    yajl_gen_array_open(g);
    for (char **ip = i->ips; ip && *ip; ip++)
        json_gen_str(g, *ip);
    yajl_gen_array_close(g);
    json_gen_kv_int(g, "init_pid", i->init_pid);
    json_gen_kv_str(g, "netns_path", i->netns_path);
    json_gen_kv_str(g, "cgroup_path", i->cgroup_path);
    json_gen_kv_str(g, "cni_result", i->cni_result);
}

/* "cgroup_depth", the deepest level, is what records held before per-hierarchy depths. */
static void gen_cgroup_created(yajl_gen g, const struct rt_cgroup_created *c)
{
    json_gen_kv_int(g, "cgroup_depth", rt_cgroup_created_max(c));
    json_gen_str(g, "cgroup_created");
    yajl_gen_map_open(g);
    for (size_t i = 0; i < c->n; i++)
        json_gen_kv_int(g, c->levels[i].name, c->levels[i].depth);
    yajl_gen_map_close(g);
}

static const char *const phase_names[] = {
    [RT_SANDBOX_PHASE_LIVE] = "",
    [RT_SANDBOX_PHASE_CREATING] = "creating",
    [RT_SANDBOX_PHASE_REMOVING] = "removing",
};

static void gen_cni(yajl_gen g, const struct rt_sandbox *sb)
{
    json_gen_str(g, "cni");
    yajl_gen_map_open(g);
    json_gen_kv_str(g, "config", sb->cni_config);
    json_gen_kv_str(g, "ifname", sb->cni_ifname);
    json_gen_kv_strv(g, "dns_servers", sb->dns_servers);
    json_gen_kv_strv(g, "dns_searches", sb->dns_searches);
    json_gen_kv_strv(g, "dns_options", sb->dns_options);
    yajl_gen_map_close(g);
}

char *rt_sandbox_record_to_json(const struct rt_sandbox *sb)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    yajl_gen_map_open(g);
    gen_info(g, &sb->info);
    json_gen_kv_int(g, "init_start", (long long)sb->init_start);
    gen_cgroup_created(g, &sb->cgroup_created);
    json_gen_str(g, "shm_mounted");
    yajl_gen_bool(g, sb->shm_mounted);
    json_gen_str(g, "network_up");
    yajl_gen_bool(g, sb->network_up);
    gen_ports(g, sb);
    json_gen_kv_str(g, "phase", phase_names[sb->phase]);
    gen_cni(g, sb);
    yajl_gen_map_close(g);
    return json_gen_take(g);
}

static yajl_val get(yajl_val root, const char *key, yajl_type t)
{
    const char *path[] = {key, NULL};
    return yajl_tree_get(root, path, t);
}

static char *get_str(yajl_val root, const char *key)
{
    const char *v = json_get_str(root, key);
    return strdup(v ? v : "");
}

static int get_map(yajl_val root, const char *key, struct rt_kv **ret, size_t *ret_n)
{
    yajl_val v = get(root, key, yajl_t_object);
    size_t n = v ? v->u.object.len : 0;
    struct rt_kv *kv = calloc(n + 1, sizeof(*kv));
    if (!kv)
        return -1;
    for (size_t i = 0; i < n; i++) {
        yajl_val val = v->u.object.values[i];
        kv[i].key = strdup(v->u.object.keys[i]);
        kv[i].value = strdup(YAJL_IS_STRING(val) ? val->u.string : "");
        if (!kv[i].key || !kv[i].value) {
            rt_kv_free(kv, i + 1);
            return -1;
        }
    }
    *ret = kv;
    *ret_n = n;
    return 0;
}

static int get_ports(yajl_val root, struct rt_sandbox *sb)
{
    yajl_val v = get(root, "ports", yajl_t_array);
    size_t n = v ? v->u.array.len : 0;
    sb->ports = calloc(n + 1, sizeof(*sb->ports));
    if (!sb->ports)
        return -1;
    for (size_t i = 0; i < n; i++) {
        yajl_val p = v->u.array.values[i];
        struct rt_port *port = &sb->ports[sb->n_ports++];
        port->host_port = (int)json_get_int(p, "host_port");
        port->container_port = (int)json_get_int(p, "container_port");
        port->protocol = get_str(p, "protocol");
        port->host_ip = get_str(p, "host_ip");
        if (!port->protocol || !port->host_ip)
            return -1;
    }
    return 0;
}

/* A record without "cgroup_created" is from before per-hierarchy depths: its one depth holds for
 * every hierarchy, as it did when it was written. */
static int get_cgroup_created(yajl_val root, struct rt_cgroup_created *c)
{
    yajl_val v = get(root, "cgroup_created", yajl_t_object);
    *c = (struct rt_cgroup_created){0};
    if (!v) {
        c->rest = (int)json_get_int(root, "cgroup_depth");
        return 0;
    }
    for (size_t i = 0; i < v->u.object.len; i++) {
        yajl_val depth = v->u.object.values[i];
        if (!YAJL_IS_INTEGER(depth) || YAJL_GET_INTEGER(depth) > INT_MAX ||
            rt_cgroup_created_set(c, v->u.object.keys[i], (int)YAJL_GET_INTEGER(depth), NULL) < 0)
            return -1;
    }
    return 0;
}

/* A record without "phase" is a live pod's: records held no phase before there were others. */
static int get_phase(yajl_val root, enum rt_sandbox_phase *ret)
{
    const char *name = json_get_str(root, "phase");
    for (size_t p = 0; p < sizeof(phase_names) / sizeof(phase_names[0]); p++)
        if (strcmp(name ? name : "", phase_names[p]) == 0) {
            *ret = (enum rt_sandbox_phase)p;
            return 0;
        }
    return -1;
}

/* A record without "cni" is from before the configuration was saved: DEL then uses the current one. */
static int get_cni(yajl_val root, struct rt_sandbox *sb)
{
    yajl_val cni = get(root, "cni", yajl_t_object);
    const char *ifname = cni ? json_get_str(cni, "ifname") : NULL;
    if (ifname && strlen(ifname) >= sizeof(sb->cni_ifname))
        return -1;
    strcpy(sb->cni_ifname, ifname ? ifname : "");
    sb->cni_config = cni ? get_str(cni, "config") : strdup("");
    sb->dns_servers = cni ? json_get_strv(cni, "dns_servers") : strv_copy(NULL);
    sb->dns_searches = cni ? json_get_strv(cni, "dns_searches") : strv_copy(NULL);
    sb->dns_options = cni ? json_get_strv(cni, "dns_options") : strv_copy(NULL);
    return sb->cni_config && sb->dns_servers && sb->dns_searches && sb->dns_options ? 0 : -1;
}

static int load_info(yajl_val root, struct rt_sandbox_info *i)
{
    yajl_val id = get(root, "id", yajl_t_string);
    if (!id || strlen(id->u.string) != RT_ID_LEN)
        return -1;
    memcpy(i->id, id->u.string, RT_ID_LEN + 1);
    i->name = get_str(root, "name");
    i->uid = get_str(root, "uid");
    i->namespace_ = get_str(root, "namespace");
    i->attempt = (uint32_t)json_get_int(root, "attempt");
    i->state = json_get_int(root, "state") == RT_SANDBOX_READY ? RT_SANDBOX_READY : RT_SANDBOX_NOTREADY;
    i->created_at = json_get_int(root, "created_at");
    i->runtime_handler = get_str(root, "runtime_handler");
    i->net_mode = (enum rt_ns_mode)json_get_int(root, "net_mode");
    i->pid_mode = (enum rt_ns_mode)json_get_int(root, "pid_mode");
    i->ipc_mode = (enum rt_ns_mode)json_get_int(root, "ipc_mode");
    i->privileged = json_get_int(root, "privileged") != 0;
    long long uid = json_get_int(root, "userns_uid");
    i->userns = (struct rt_userns){uid >= 0 && json_get_int(root, "userns_size") > 0,
                                   uid >= 0 ? (uint32_t)uid : 0, (uint32_t)json_get_int(root, "userns_gid"),
                                   (uint32_t)json_get_int(root, "userns_size")};
    i->ips = json_get_strv(root, "ips");
    i->init_pid = (pid_t)json_get_int(root, "init_pid");
    i->netns_path = get_str(root, "netns_path");
    i->cgroup_path = get_str(root, "cgroup_path");
    i->cni_result = get_str(root, "cni_result");
    if (!i->name || !i->uid || !i->namespace_ || !i->runtime_handler || !i->ips || !i->netns_path ||
        !i->cgroup_path || !i->cni_result)
        return -1;
    return get_map(root, "labels", &i->labels, &i->n_labels) < 0 ||
                   get_map(root, "annotations", &i->annotations, &i->n_annotations) < 0
               ? -1
               : 0;
}

int rt_sandbox_record_from_json(const char *text, struct rt_sandbox *sb, crisp_error_t **err)
{
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    int r = root && YAJL_IS_OBJECT(root) ? load_info(root, &sb->info) : -1;
    if (r == 0) {
        sb->init_start = (uint64_t)json_get_int(root, "init_start");
        sb->shm_mounted = YAJL_IS_TRUE(get(root, "shm_mounted", yajl_t_any));
        sb->network_up = YAJL_IS_TRUE(get(root, "network_up", yajl_t_any));
        r = get_cgroup_created(root, &sb->cgroup_created) < 0 || get_phase(root, &sb->phase) < 0 ||
                    get_cni(root, sb) < 0
                ? -1
                : get_ports(root, sb);
    }
    yajl_tree_free(root);
    return r < 0 ? crisp_error_make(err, EINVAL, "pod record is damaged") : 0;
}

void rt_kv_free(struct rt_kv *kv, size_t n)
{
    for (size_t i = 0; kv && i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

int rt_kv_copy(const struct rt_kv *src, size_t n, struct rt_kv **ret)
{
    struct rt_kv *kv = calloc(n + 1, sizeof(*kv));
    if (!kv)
        return -1;
    for (size_t i = 0; i < n; i++) {
        kv[i].key = strdup(src[i].key);
        kv[i].value = strdup(src[i].value);
        if (!kv[i].key || !kv[i].value) {
            rt_kv_free(kv, n);
            return -1;
        }
    }
    *ret = kv;
    return 0;
}

void rt_sandbox_fini(struct rt_sandbox *sb)
{
    struct rt_sandbox_info *i = &sb->info;
    free(i->name);
    free(i->uid);
    free(i->namespace_);
    free(i->runtime_handler);
    rt_kv_free(i->labels, i->n_labels);
    rt_kv_free(i->annotations, i->n_annotations);
    strv_free(i->ips);
    free(i->netns_path);
    free(i->cgroup_path);
    free(i->cni_result);
    free(i->dir);
    free(sb->cni_config);
    strv_free(sb->dns_servers);
    strv_free(sb->dns_searches);
    strv_free(sb->dns_options);
    for (size_t p = 0; p < sb->n_ports; p++) {
        free(sb->ports[p].protocol);
        free(sb->ports[p].host_ip);
    }
    free(sb->ports);
}
