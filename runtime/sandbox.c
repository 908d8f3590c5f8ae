#define _GNU_SOURCE
#include "runtime/sandbox.h"

#include "common/cleanup.h"
#include "common/strv.h"
#include "common/file.h"
#include "runtime/pod_files.h"
#include "runtime/pod_ns.h"
#include "runtime/runtime_internal.h"
#include "runtime/util.h"
#include "runtime/sandbox_internal.h"
#include "runtime/sysctl.h"
#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POD_SHM_SIZE "size=65536k"
#define CNI_DEL_ATTEMPTS 3
#define STOP_KILL_TIMEOUT_MS 5000

static void sandbox_free(struct rt_sandbox *sb)
{
    if (!sb)
        return;
    rt_sandbox_fields_free(sb);
    pthread_mutex_destroy(&sb->lock);
    free(sb);
}

static void sandbox_unref(struct rt_sandbox *sb)
{
    if (sb && atomic_fetch_sub(&sb->refs, 1) == 1)
        sandbox_free(sb);
}

/* The record lives in the volatile state dir: replaced atomically, so a crash of crispd never leaves a
 * torn record, but not fsynced. A crash of the machine ends every pod it describes (their namespaces
 * and processes go with it, and /run is normally tmpfs), so waiting for the disk would buy nothing and
 * cost most of a host-network RunPodSandbox. */
static int persist(const struct rt_sandbox *sb, crisp_error_t **err)
{
    _cleanup_free_ char *json = rt_sandbox_record_to_json(sb), *path = path_join(sb->info.dir, "pod.json");
    if (!json || !path)
        return crisp_error_oom(err);
    return file_write_replace(path, json, strlen(json), 0600, err);
}

/* ---- index ---- */

static bool same_key(const struct rt_sandbox *sb, const struct rt_sandbox_spec *s)
{
    const struct rt_sandbox_info *i = &sb->info;
    return !sb->removed && i->attempt == s->attempt && strcmp(i->name, s->name) == 0 &&
           strcmp(i->uid, s->uid) == 0 && strcmp(i->namespace_, s->namespace_) == 0;
}

static int index_add(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *spec,
                     crisp_error_t **err)
{
    pthread_rwlock_wrlock(&rt->lock);
    for (size_t i = 0; spec && i < rt->n_pods; i++)
        if (same_key(rt->pods[i], spec)) {
            pthread_rwlock_unlock(&rt->lock);
            return crisp_error_make(err, EEXIST, "pod sandbox %s/%s (uid %s, attempt %u) already exists as %s",
                                    spec->namespace_, spec->name, spec->uid, spec->attempt, rt->pods[i]->info.id);
        }
    struct rt_sandbox **grown = realloc(rt->pods, (rt->n_pods + 1) * sizeof(*grown));
    if (grown) {
        rt->pods = grown;
        grown[rt->n_pods++] = sb;
    }
    pthread_rwlock_unlock(&rt->lock);
    return grown ? 0 : crisp_error_oom(err);
}

/* Drops the index's reference. */
static void index_remove(struct rt_runtime *rt, struct rt_sandbox *sb)
{
    bool found = false;
    pthread_rwlock_wrlock(&rt->lock);
    for (size_t i = 0; i < rt->n_pods && !found; i++)
        if (rt->pods[i] == sb) {
            rt->pods[i] = rt->pods[--rt->n_pods];
            found = true;
        }
    pthread_rwlock_unlock(&rt->lock);
    if (found)
        sandbox_unref(sb);
}

/* Finds a pod by id or unique prefix; called with the index lock held. */
static struct rt_sandbox *index_find(struct rt_runtime *rt, const char *id)
{
    size_t len = strlen(id);
    struct rt_sandbox *found = NULL;
    for (size_t i = 0; len > 0 && i < rt->n_pods; i++) {
        struct rt_sandbox *sb = rt->pods[i];
        if (sb->creating || sb->removed || strncmp(sb->info.id, id, len) != 0)
            continue;
        if (len == RT_ID_LEN)
            return sb;
        if (found)
            return NULL; /* ambiguous prefix */
        found = sb;
    }
    return found;
}

/* ---- run ---- */

static int copy_spec(struct rt_sandbox *sb, const struct rt_sandbox_spec *s, crisp_error_t **err)
{
    struct rt_sandbox_info *i = &sb->info;
    i->name = strdup(s->name);
    i->uid = strdup(s->uid);
    i->namespace_ = strdup(s->namespace_);
    i->attempt = s->attempt;
    i->runtime_handler = strdup(s->runtime_handler ? s->runtime_handler : "");
    i->net_mode = s->net_mode;
    i->pid_mode = s->pid_mode;
    i->ipc_mode = s->ipc_mode;
    i->privileged = s->privileged;
    i->userns = s->userns;
    i->ips = calloc(1, sizeof(char *));
    i->netns_path = strdup("");
    i->cni_result = strdup("");
    sb->ports = calloc(s->n_port_mappings + 1, sizeof(*sb->ports));
    if (!i->name || !i->uid || !i->namespace_ || !i->runtime_handler || !i->ips || !i->netns_path ||
        !i->cni_result || !sb->ports || rt_kv_copy(s->labels, s->n_labels, &i->labels) < 0 ||
        rt_kv_copy(s->annotations, s->n_annotations, &i->annotations) < 0)
        return crisp_error_oom(err);
    i->n_labels = s->n_labels;
    i->n_annotations = s->n_annotations;
    for (size_t p = 0; p < s->n_port_mappings; p++) {
        const struct rt_cni_port_mapping *m = &s->port_mappings[p];
        struct rt_port *port = &sb->ports[sb->n_ports++];
        *port = (struct rt_port){m->host_port, m->container_port, strdup(m->protocol), strdup(m->host_ip)};
        if (!port->protocol || !port->host_ip)
            return crisp_error_oom(err);
    }
    return 0;
}

static int validate_spec(const struct rt_sandbox_spec *s, crisp_error_t **err)
{
    if (!s->name || !*s->name || !s->uid || !*s->uid || !s->namespace_ || !*s->namespace_)
        return crisp_error_make(err, EINVAL, "pod sandbox metadata needs a name, a uid and a namespace");
    if (strlen(s->name) > 253 || strlen(s->uid) > 253 || strlen(s->namespace_) > 253)
        return crisp_error_make(err, EINVAL, "pod sandbox name, uid or namespace longer than 253 bytes");
    if (s->net_mode == RT_NS_TARGET || s->ipc_mode == RT_NS_TARGET || s->pid_mode == RT_NS_TARGET)
        return crisp_error_make(err, EINVAL, "namespace mode TARGET is only valid for containers");
    for (size_t i = 0; i < s->n_sysctls; i++)
        if (rt_sysctl_check(s->sysctls[i].key, s->sysctls[i].value, s->net_mode == RT_NS_NODE,
                            s->ipc_mode == RT_NS_NODE, err) < 0)
            return -1;
    return 0;
}

static int setup_cgroup(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                        crisp_error_t **err)
{
    _cleanup_free_ char *parent = NULL;
    if (s->cgroup_parent && *s->cgroup_parent) {
        if (rt_cgroup_parent_path(s->cgroup_parent, rt->systemd_cgroup, &parent, err) < 0)
            return -1;
    } else if (asprintf(&parent, "%s/pod-%.12s", rt->default_cgroup_parent, sb->info.id) < 0) {
        return crisp_error_oom(err);
    }
    sb->info.cgroup_path = TAKE_PTR(parent);
    if (rt_cgroup_create(&rt->cgroups, sb->info.cgroup_path, &sb->cgroup_depth, err) < 0)
        return -1;
    if (s->resources && rt_cgroup_apply(&rt->cgroups, sb->info.cgroup_path, s->resources, err) < 0)
        return -1;
    return 0;
}

static int setup_shm(struct rt_sandbox *sb, crisp_error_t **err)
{
    if (sb->info.ipc_mode == RT_NS_NODE)
        return 0;
    _cleanup_free_ char *shm = path_join(sb->info.dir, "shm");
    if (!shm)
        return crisp_error_oom(err);
    if (mkdir(shm, 0755) < 0 && errno != EEXIST)
        return crisp_error_errno(err, "mkdir %s", shm);
    /* With a user namespace, the containers' root owns it. */
    char opts[96];
    snprintf(opts, sizeof(opts), "mode=1777,%s,uid=%u,gid=%u", POD_SHM_SIZE, sb->info.userns.uid, sb->info.userns.gid);
    if (mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
        return crisp_error_errno(err, "mount pod /dev/shm at %s", shm);
    sb->shm_mounted = true;
    return 0;
}

static char **sysctl_strv(const struct rt_sandbox_spec *s)
{
    char **v = calloc(s->n_sysctls + 1, sizeof(char *));
    for (size_t i = 0; v && i < s->n_sysctls; i++)
        if (asprintf(&v[i], "%s=%s", s->sysctls[i].key, s->sysctls[i].value) < 0) {
            v[i] = NULL;
            strv_free(v);
            return NULL;
        }
    return v;
}

static int setup_namespaces(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                            crisp_error_t **err)
{
    const struct rt_sandbox_info *i = &sb->info;
    bool net = i->net_mode != RT_NS_NODE, ipc = i->ipc_mode != RT_NS_NODE, pid = i->pid_mode == RT_NS_POD;
    _cleanup_free_ char *dir = path_join(i->dir, "ns");
    _cleanup_strv_ char **sysctls = sysctl_strv(s);
    _cleanup_strv_ char **procs = rt_cgroup_procs_files(&rt->cgroups, i->cgroup_path);
    if (!dir || !sysctls || !procs)
        return crisp_error_oom(err);
    char uid_map[48], gid_map[48];
    snprintf(uid_map, sizeof(uid_map), "0 %u %u", i->userns.uid, i->userns.size);
    snprintf(gid_map, sizeof(gid_map), "0 %u %u", i->userns.gid, i->userns.size);
    struct rt_pod_ns_options o = {
        .helper = rt->pinns, .dir = dir, .net = net, .ipc = ipc, .uts = net, .pid = pid,
        .userns = i->userns.enabled, .uid_map = uid_map, .gid_map = gid_map,
        .hostname = net && s->hostname && *s->hostname ? s->hostname : NULL,
        .sysctls = sysctls, .cgroup_procs = procs,
    };
    pid_t init = 0;
    if (rt_pod_ns_create(&o, &init, err) < 0)
        return -1;
    sb->info.init_pid = init;
    if (init > 0 && rt_proc_start_time(init, &sb->init_start, err) < 0)
        return -1;
    if (net) {
        free(sb->info.netns_path);
        if (!(sb->info.netns_path = path_join(dir, "net")))
            return crisp_error_oom(err);
    }
    return 0;
}

static void cni_request(const struct rt_sandbox *sb, struct rt_cni_port_mapping *maps, struct rt_cni_request *req)
{
    for (size_t p = 0; p < sb->n_ports; p++)
        maps[p] = (struct rt_cni_port_mapping){sb->ports[p].host_port, sb->ports[p].container_port,
                                               sb->ports[p].protocol, sb->ports[p].host_ip};
    *req = (struct rt_cni_request){
        .container_id = sb->info.id, .netns = sb->info.netns_path, .ifname = "eth0",
        .pod_name = sb->info.name, .pod_namespace = sb->info.namespace_, .pod_uid = sb->info.uid,
        .port_mappings = maps, .n_port_mappings = sb->n_ports, .cgroup_path = sb->info.cgroup_path,
    };
}

static int setup_network(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                         crisp_error_t **err)
{
    if (sb->info.net_mode == RT_NS_NODE)
        return 0;
    struct rt_cni_port_mapping maps[sb->n_ports + 1];
    struct rt_cni_request req;
    cni_request(sb, maps, &req);
    req.dns_servers = s->dns_servers;
    req.dns_searches = s->dns_searches;
    req.dns_options = s->dns_options;
    struct rt_cni_result res = {0};
    if (rt_cni_add(rt->cni, &req, &res, err) < 0)
        return -1;
    sb->network_up = true;
    strv_free(sb->info.ips);
    free(sb->info.cni_result);
    sb->info.ips = TAKE_PTR(res.ips);
    sb->info.cni_result = TAKE_PTR(res.raw_json);
    rt_cni_result_fini(&res);
    if (!sb->info.ips || !sb->info.cni_result)
        return crisp_error_oom(err);
    return 0;
}

static int write_files(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                       crisp_error_t **err)
{
    char host[256] = "";
    const char *hostname = s->hostname && *s->hostname ? s->hostname : host;
    if (hostname == host && gethostname(host, sizeof(host) - 1) < 0)
        return crisp_error_errno(err, "gethostname");
    struct rt_pod_dns dns = {s->dns_servers, s->dns_searches, s->dns_options};
    if (rt_pod_files_write(sb->info.dir, hostname, &dns, rt->host_resolv_conf, sb->info.ips, err) < 0)
        return -1;
    if (s->config && s->config_len) {
        _cleanup_free_ char *path = path_join(sb->info.dir, "config.pb");
        /* Made before the durable pod record, which is what makes the pod exist. */
        if (!path || file_write_replace(path, s->config, s->config_len, 0600, err) < 0)
            return err && *err ? -1 : crisp_error_oom(err);
    }
    return 0;
}

/* ---- teardown, shared by a failed run, stop and remove ---- */

static int teardown_network(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    if (!sb->network_up)
        return 0;
    struct rt_cni_port_mapping maps[sb->n_ports + 1];
    struct rt_cni_request req;
    cni_request(sb, maps, &req);
    int r = -1;
    for (int attempt = 0; attempt < CNI_DEL_ATTEMPTS && r < 0; attempt++) {
        crisp_error_freep(err);
        r = rt_cni_del(rt->cni, &req, sb->info.cni_result[0] ? sb->info.cni_result : NULL, err);
    }
    if (r == 0)
        sb->network_up = false;
    return r;
}

static void teardown_processes(struct rt_runtime *rt, struct rt_sandbox *sb)
{
    if (sb->info.cgroup_path)
        rt_cgroup_kill_all(&rt->cgroups, sb->info.cgroup_path, STOP_KILL_TIMEOUT_MS, NULL);
}

static int teardown_namespaces(struct rt_sandbox *sb, crisp_error_t **err)
{
    _cleanup_free_ char *dir = path_join(sb->info.dir, "ns");
    if (!dir)
        return crisp_error_oom(err);
    if (rt_pod_ns_destroy(dir, sb->info.init_pid, sb->init_start, err) < 0)
        return -1;
    sb->info.init_pid = 0;
    return 0;
}

static int teardown_shm(struct rt_sandbox *sb, crisp_error_t **err)
{
    if (!sb->shm_mounted)
        return 0;
    _cleanup_free_ char *shm = path_join(sb->info.dir, "shm");
    if (!shm)
        return crisp_error_oom(err);
    if (umount2(shm, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return crisp_error_errno(err, "unmount %s", shm);
    sb->shm_mounted = false;
    return 0;
}

/* Everything but the cgroup and the directory: what stopping a pod releases. */
static int teardown_running(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    teardown_processes(rt, sb);
    int r = teardown_network(rt, sb, err);
    if (r == 0)
        r = teardown_namespaces(sb, err);
    if (r == 0)
        r = teardown_shm(sb, err);
    return r;
}

static int teardown_all(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    if (teardown_running(rt, sb, err) < 0)
        return -1;
    if (sb->info.cgroup_path && sb->cgroup_depth > 0 &&
        rt_cgroup_remove(&rt->cgroups, sb->info.cgroup_path, sb->cgroup_depth, err) < 0)
        return -1;
    sb->cgroup_depth = 0;
    return dir_remove_all(sb->info.dir, err);
}

static int run_steps(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                     crisp_error_t **err)
{
    if (mkdir(sb->info.dir, 0700) < 0)
        return crisp_error_errno(err, "mkdir %s", sb->info.dir);
    if (setup_cgroup(rt, sb, s, err) < 0 || setup_shm(sb, err) < 0 || setup_namespaces(rt, sb, s, err) < 0 ||
        setup_network(rt, sb, s, err) < 0 || write_files(rt, sb, s, err) < 0)
        return -1;
    sb->info.state = RT_SANDBOX_READY;
    sb->info.created_at = clock_realtime_ns();
    return persist(sb, err);
}

int rt_sandbox_run(struct rt_runtime *rt, const struct rt_sandbox_spec *spec, char ret_id[RT_ID_LEN + 1],
                   crisp_error_t **err)
{
    if (validate_spec(spec, err) < 0)
        return -1;
    struct rt_sandbox *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return crisp_error_oom(err);
    pthread_mutex_init(&sb->lock, NULL);
    sb->refs = 2; /* the index's and this run's */
    sb->creating = true;
    sb->info.state = RT_SANDBOX_NOTREADY;
    if (rt_random_id(sb->info.id, err) < 0 || copy_spec(sb, spec, err) < 0 ||
        !(sb->info.dir = path_join(rt->pods_dir, sb->info.id))) {
        sandbox_free(sb);
        return err && *err ? -1 : crisp_error_oom(err);
    }
    if (index_add(rt, sb, spec, err) < 0) {
        sandbox_free(sb);
        return -1;
    }
    memcpy(ret_id, sb->info.id, RT_ID_LEN + 1);
    pthread_mutex_lock(&sb->lock);
    int r = run_steps(rt, sb, spec, err);
    if (r < 0)
        teardown_all(rt, sb, NULL); /* undo whatever was made; the run's own error is what counts */
    sb->creating = r < 0;
    pthread_mutex_unlock(&sb->lock);
    if (r < 0)
        index_remove(rt, sb);
    sandbox_unref(sb);
    return r;
}

/* ---- stop, remove ---- */

/* The pod by id, referenced and locked; the caller ends with unlock_unref. */
static struct rt_sandbox *lookup_locked(struct rt_runtime *rt, const char *id)
{
    pthread_rwlock_rdlock(&rt->lock);
    struct rt_sandbox *sb = index_find(rt, id);
    if (sb)
        atomic_fetch_add(&sb->refs, 1);
    pthread_rwlock_unlock(&rt->lock);
    if (sb)
        pthread_mutex_lock(&sb->lock);
    return sb;
}

static void unlock_unref(struct rt_sandbox *sb)
{
    pthread_mutex_unlock(&sb->lock);
    sandbox_unref(sb);
}

int rt_sandbox_stop(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    struct rt_sandbox *sb = lookup_locked(rt, id);
    if (!sb)
        return crisp_error_make(err, ENOENT, "pod sandbox %s not found", id);
    int r = 0;
    if (!sb->removed) {
        r = teardown_running(rt, sb, err);
        if (r == 0)
            sb->info.state = RT_SANDBOX_NOTREADY;
        /* Kept even after a failure: the record says what is still up for the next attempt. */
        int p = persist(sb, r == 0 ? err : NULL);
        r = r < 0 ? r : p;
    }
    unlock_unref(sb);
    return r < 0 ? crisp_error_wrap(err, "stop pod sandbox %.12s", id) : 0;
}

static int remove_containers(struct rt_runtime *rt, const char *pod_id, crisp_error_t **err)
{
    _cleanup_strv_ char **ids = rt_containers_of_pod(rt, pod_id);
    if (!ids)
        return crisp_error_oom(err);
    for (char **id = ids; *id; id++)
        if (rt_container_remove(rt, *id, err) < 0)
            return -1;
    return 0;
}

int rt_sandbox_remove(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    _cleanup_(rt_sandbox_info_freep) struct rt_sandbox_info *info = NULL;
    _cleanup_error_ crisp_error_t *lookup_err = NULL;
    if (rt_sandbox_info_get(rt, id, &info, &lookup_err) == 0 && remove_containers(rt, info->id, err) < 0)
        return crisp_error_wrap(err, "remove pod sandbox %.12s", id);
    struct rt_sandbox *sb = lookup_locked(rt, id);
    if (!sb)
        return 0; /* absent: already removed */
    int r = sb->removed ? 0 : teardown_all(rt, sb, err);
    bool first = !sb->removed && r == 0;
    if (first)
        sb->removed = true;
    if (r < 0)
        persist(sb, NULL);
    pthread_mutex_unlock(&sb->lock);
    if (first)
        index_remove(rt, sb);
    sandbox_unref(sb);
    return r < 0 ? crisp_error_wrap(err, "remove pod sandbox %.12s", id) : 0;
}

/* ---- snapshots ---- */

static struct rt_sandbox_info *info_copy(const struct rt_sandbox_info *i)
{
    struct rt_sandbox_info *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = *i;
    c->name = strdup(i->name);
    c->uid = strdup(i->uid);
    c->namespace_ = strdup(i->namespace_);
    c->runtime_handler = strdup(i->runtime_handler);
    c->ips = strv_copy(i->ips);
    c->netns_path = strdup(i->netns_path);
    c->cgroup_path = strdup(i->cgroup_path ? i->cgroup_path : "");
    c->cni_result = strdup(i->cni_result);
    c->dir = strdup(i->dir);
    c->labels = c->annotations = NULL;
    if (rt_kv_copy(i->labels, i->n_labels, &c->labels) < 0 ||
        rt_kv_copy(i->annotations, i->n_annotations, &c->annotations) < 0 || !c->name || !c->uid ||
        !c->namespace_ || !c->runtime_handler || !c->ips || !c->netns_path || !c->cgroup_path || !c->cni_result ||
        !c->dir) {
        rt_sandbox_info_free(c);
        return NULL;
    }
    return c;
}

int rt_sandbox_info_get(struct rt_runtime *rt, const char *id, struct rt_sandbox_info **ret, crisp_error_t **err)
{
    pthread_rwlock_rdlock(&rt->lock);
    struct rt_sandbox *sb = index_find(rt, id);
    struct rt_sandbox_info *c = sb ? info_copy(&sb->info) : NULL;
    pthread_rwlock_unlock(&rt->lock);
    if (!sb)
        return crisp_error_make(err, ENOENT, "pod sandbox %s not found", id);
    if (!c)
        return crisp_error_oom(err);
    *ret = c;
    return 0;
}

int rt_sandbox_info_list(struct rt_runtime *rt, struct rt_sandbox_info ***ret, size_t *ret_n, crisp_error_t **err)
{
    pthread_rwlock_rdlock(&rt->lock);
    struct rt_sandbox_info **list = calloc(rt->n_pods + 1, sizeof(*list));
    size_t n = 0;
    bool ok = list != NULL;
    for (size_t i = 0; ok && i < rt->n_pods; i++) {
        if (rt->pods[i]->creating || rt->pods[i]->removed)
            continue;
        ok = (list[n++] = info_copy(&rt->pods[i]->info)) != NULL;
    }
    pthread_rwlock_unlock(&rt->lock);
    if (!ok) {
        rt_sandbox_info_list_free(list, n);
        return crisp_error_oom(err);
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

void rt_sandbox_info_free(struct rt_sandbox_info *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->uid);
    free(c->namespace_);
    free(c->runtime_handler);
    strv_free(c->ips);
    free(c->netns_path);
    free(c->cgroup_path);
    free(c->cni_result);
    free(c->dir);
    rt_kv_free(c->labels, c->n_labels);
    rt_kv_free(c->annotations, c->n_annotations);
    free(c);
}

void rt_sandbox_info_freep(struct rt_sandbox_info **info)
{
    rt_sandbox_info_free(*info);
}

void rt_sandbox_info_list_free(struct rt_sandbox_info **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        rt_sandbox_info_free(list[i]);
    free(list);
}

/* ---- open ---- */

static int is_pod_dir(const struct dirent *d)
{
    return strlen(d->d_name) == RT_ID_LEN && strspn(d->d_name, "0123456789abcdef") == RT_ID_LEN;
}

/* A pod whose namespaces were lost (a reboot of /run, or an init that died) can't be READY. */
static void recover_state(struct rt_sandbox *sb)
{
    struct stat st;
    bool lost = sb->info.netns_path[0] && stat(sb->info.netns_path, &st) < 0;
    if (sb->info.init_pid > 0 && kill(sb->info.init_pid, 0) < 0)
        lost = true;
    if (lost)
        sb->info.state = RT_SANDBOX_NOTREADY;
}

static int load_pod(struct rt_runtime *rt, const char *name)
{
    _cleanup_free_ char *dir = path_join(rt->pods_dir, name), *rec = dir ? path_join(dir, "pod.json") : NULL;
    _cleanup_free_ char *text = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    if (!rec)
        return -1;
    struct rt_sandbox *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return -1;
    pthread_mutex_init(&sb->lock, NULL);
    sb->refs = 1;
    if (file_read_bounded(rec, 1 << 20, &text, NULL, &err) < 0 || rt_sandbox_record_from_json(text, sb, &err) < 0 ||
        strcmp(sb->info.id, name) != 0) {
        /* A directory without a usable record is a run that crashed midway: nothing knows it. */
        sandbox_free(sb);
        umount2(dir, MNT_DETACH);
        return 0;
    }
    sb->info.dir = TAKE_PTR(dir);
    recover_state(sb);
    return index_add(rt, sb, NULL, &err) < 0 ? (sandbox_free(sb), -1) : 0;
}

static int load_pods(struct rt_runtime *rt, crisp_error_t **err)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_list_sorted(rt->pods_dir, is_pod_dir, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++)
        if (load_pod(rt, *n) < 0)
            return crisp_error_oom_in(err, "loading pod %s", *n);
    return 0;
}

int rt_runtime_open(const struct rt_runtime_options *o, struct rt_runtime **ret, crisp_error_t **err)
{
    struct rt_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return crisp_error_oom(err);
    pthread_rwlock_init(&rt->lock, NULL);
    rt->pods_dir = path_join(o->state_dir, "pods");
    rt->containers_dir = path_join(o->state_dir, "containers");
    rt->layers_dir = path_join(o->root_dir, "containers");
    rt->pinns = strdup(o->pinns_path);
    rt->monitor = strdup(o->monitor_path);
    rt->exec_helper = strdup(o->exec_path);
    rt->default_cgroup_parent = strdup(o->default_cgroup_parent);
    rt->host_resolv_conf = strdup(o->host_resolv_conf);
    rt->systemd_cgroup = o->systemd_cgroup;
    int r = rt->pods_dir && rt->containers_dir && rt->layers_dir && rt->pinns && rt->monitor && rt->exec_helper &&
                    rt->default_cgroup_parent && rt->host_resolv_conf
                ? 0
                : crisp_error_oom(err);
    if (r == 0)
        r = dir_create_all(rt->pods_dir, 0700, err);
    if (r == 0)
        r = rt_cgroup_root_detect(o->cgroup_mount, &rt->cgroups, err);
    if (r == 0)
        r = rt_cni_new(o->cni_conf_dir, o->cni_bin_dirs, &rt->cni, err);
    if (r == 0)
        r = load_pods(rt, err);
    if (r == 0)
        r = rt_containers_load(rt, err);
    if (r < 0) {
        rt_runtime_free(rt);
        return crisp_error_wrap(err, "runtime state");
    }
    *ret = rt;
    return 0;
}

void rt_runtime_free(struct rt_runtime *rt)
{
    if (!rt)
        return;
    rt_containers_free(rt);
    for (size_t i = 0; i < rt->n_pods; i++)
        sandbox_unref(rt->pods[i]);
    free(rt->pods);
    rt_cni_free(rt->cni);
    rt_cgroup_root_fini(&rt->cgroups);
    free(rt->pods_dir);
    free(rt->containers_dir);
    free(rt->layers_dir);
    free(rt->pinns);
    free(rt->monitor);
    free(rt->exec_helper);
    free(rt->default_cgroup_parent);
    free(rt->host_resolv_conf);
    pthread_rwlock_destroy(&rt->lock);
    free(rt);
}

struct rt_cni *rt_runtime_cni(struct rt_runtime *rt)
{
    return rt->cni;
}
