/* RunPodSandbox: the pod's directory and record, cgroup, /dev/shm, namespaces (by crisp-pinns),
 * network and files, the record updated before each step. The pod is indexed (its name taken) but
 * hidden from lookups until all of it is made; a run that fails undoes what it made and leaves the
 * index. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "common/strv.h"
#include "runtime/path_check.h"
#include "runtime/pod_files.h"
#include "runtime/pod_ns.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"
#include "runtime/sysctl.h"
#include "runtime/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define POD_SHM_SIZE "size=65536k"

static int copy_ports(struct rt_sandbox *sb, const struct rt_sandbox_spec *s, crisp_error_t **err)
{
    sb->ports = calloc(s->n_port_mappings + 1, sizeof(*sb->ports));
    if (!sb->ports)
        return crisp_error_oom(err);
    for (size_t p = 0; p < s->n_port_mappings; p++) {
        const struct rt_cni_port_mapping *m = &s->port_mappings[p];
        struct rt_port *port = &sb->ports[sb->n_ports++];
        *port = (struct rt_port){m->host_port, m->container_port, strdup(m->protocol), strdup(m->host_ip)};
        if (!port->protocol || !port->host_ip)
            return crisp_error_oom(err);
    }
    return 0;
}

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
    if (!i->name || !i->uid || !i->namespace_ || !i->runtime_handler || !i->ips || !i->netns_path ||
        !i->cni_result || rt_kv_copy(s->labels, s->n_labels, &i->labels) < 0 ||
        rt_kv_copy(s->annotations, s->n_annotations, &i->annotations) < 0)
        return crisp_error_oom(err);
    i->n_labels = s->n_labels;
    i->n_annotations = s->n_annotations;
    return copy_ports(sb, s, err);
}

static int validate_spec(const struct rt_sandbox_spec *s, crisp_error_t **err)
{
    if (!s->name || !*s->name || !s->uid || !*s->uid || !s->namespace_ || !*s->namespace_)
        return crisp_error_make(err, EINVAL, "pod sandbox metadata needs a name, a uid and a namespace");
    if (strlen(s->name) > 253 || strlen(s->uid) > 253 || strlen(s->namespace_) > 253)
        return crisp_error_make(err, EINVAL, "pod sandbox name, uid or namespace longer than 253 bytes");
    /* Containers' logs go below it: followed "..", or relative to crispd's working directory, they land
     * anywhere. */
    if (s->log_directory && *s->log_directory &&
        rt_path_check("log_directory", s->log_directory, RT_PATH_ABSOLUTE, err) < 0)
        return -1;
    if (s->net_mode == RT_NS_TARGET || s->ipc_mode == RT_NS_TARGET || s->pid_mode == RT_NS_TARGET)
        return crisp_error_make(err, EINVAL, "namespace mode TARGET is only valid for containers");
    for (size_t i = 0; i < s->n_sysctls; i++)
        if (rt_sysctl_check(s->sysctls[i].key, s->sysctls[i].value, s->net_mode == RT_NS_NODE,
                            s->ipc_mode == RT_NS_NODE, err) < 0)
            return -1;
    /* Before the CNI ADD: a bad hostname or DNS setting found after it left the pod half-made. */
    struct rt_pod_dns dns = {s->dns_servers, s->dns_searches, s->dns_options};
    return rt_pod_files_check(s->hostname, &dns, err);
}

/* The path and, before anything is made, what creating it will make: recorded first, so a crash in
 * the middle of the create removes that and nothing that existed before (kubelet's levels). */
static int plan_cgroup(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                       crisp_error_t **err)
{
    _cleanup_free_ char *parent = NULL;
    if (s->cgroup_parent && *s->cgroup_parent) {
        if (rt_cgroup_parent_path(s->cgroup_parent, rt->systemd_cgroup, &parent, err) < 0)
            return -1;
    } else if (rt_cgroup_pod_default_path(rt->default_cgroup_parent, sb->info.id, rt->systemd_cgroup, &parent,
                                          err) < 0) {
        return -1;
    }
    sb->info.cgroup_path = TAKE_PTR(parent);
    return rt_cgroup_create_plan(&rt->cgroups, sb->info.cgroup_path, &sb->cgroup_created, err);
}

/* A level another request made or removed meanwhile makes what was created differ from the plan: the
 * record then gets the deeper of the two, as removal only takes a parent level that is empty. */
static int setup_cgroup(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                        crisp_error_t **err)
{
    struct rt_cgroup_created made = {0}, planned = sb->cgroup_created;
    if (rt_cgroup_create(&rt->cgroups, sb->info.cgroup_path, &made, err) < 0 ||
        rt_cgroup_created_merge(&sb->cgroup_created, &made, err) < 0)
        return -1;
    if (memcmp(&planned, &sb->cgroup_created, sizeof(planned)) != 0 && rt_sandbox_persist(sb, err) < 0)
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
    snprintf(opts, sizeof(opts), "mode=1777,%s,uid=%u,gid=%u", POD_SHM_SIZE, sb->info.userns.uid,
             sb->info.userns.gid);
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
    _cleanup_free_ char *init_cgroup = pid ? rt_sandbox_init_cgroup(rt, i) : NULL;
    if (!dir || !sysctls || (pid && !init_cgroup))
        return crisp_error_oom(err);
    struct rt_cgroup_created init_created;
    if (pid && rt_cgroup_create(&rt->cgroups, init_cgroup, &init_created, err) < 0)
        return -1;
    _cleanup_strv_ char **procs = rt_cgroup_procs_files(&rt->cgroups, pid ? init_cgroup : i->cgroup_path);
    if (!procs)
        return crisp_error_oom(err);
    char uid_map[48], gid_map[48];
    snprintf(uid_map, sizeof(uid_map), "0 %u %u", i->userns.uid, i->userns.size);
    snprintf(gid_map, sizeof(gid_map), "0 %u %u", i->userns.gid, i->userns.size);
    struct rt_pod_ns_options o = {
        .helper = rt->pinns,
        .dir = dir,
        .net = net,
        .ipc = ipc,
        .uts = net,
        .pid = pid,
        .userns = i->userns.enabled,
        .uid_map = uid_map,
        .gid_map = gid_map,
        .hostname = net && s->hostname && *s->hostname ? s->hostname : NULL,
        .sysctls = sysctls,
        .cgroup_procs = procs,
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

/* The namespaces' pins are found by name and the init in the pod's cgroup, so a crash before this
 * record still undoes them; the record adds the init's pid and start time and, before the ADD, what
 * the ADD will use. */
static int setup_network(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                         crisp_error_t **err)
{
    if (rt_sandbox_network_intent(rt, sb, s, err) < 0)
        return -1;
    bool net = sb->info.net_mode != RT_NS_NODE;
    if ((net || sb->info.init_pid > 0) && rt_sandbox_persist(sb, err) < 0)
        return -1;
    crisp_crash_point("pod.before_cni_add");
    if (!net)
        return 0;
    if (rt_sandbox_network_setup(rt, sb, err) < 0 || rt_sandbox_persist(sb, err) < 0)
        return -1;
    crisp_crash_point("pod.after_cni_add");
    return 0;
}

/* Each step is recorded before it is taken (the record says "creating" until the last write), so
 * start-up can roll back whatever a crash left. While the pod is hidden, nothing else reads it:
 * info_lock is not needed yet. */
static int run_steps(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                     bool *ret_dir_made, crisp_error_t **err)
{
    if (plan_cgroup(rt, sb, s, err) < 0)
        return -1;
    if (mkdir(sb->info.dir, 0700) < 0)
        return crisp_error_errno(err, "mkdir %s", sb->info.dir);
    *ret_dir_made = true;
    crisp_crash_point("pod.after_mkdir");
    if (rt_sandbox_persist(sb, err) < 0)
        return -1;
    crisp_crash_point("pod.after_intent");
    if (setup_cgroup(rt, sb, s, err) < 0)
        return -1;
    crisp_crash_point("pod.after_cgroup");
    if (setup_shm(sb, err) < 0)
        return -1;
    crisp_crash_point("pod.after_shm");
    if (setup_namespaces(rt, sb, s, err) < 0)
        return -1;
    crisp_crash_point("pod.after_namespaces");
    if (setup_network(rt, sb, s, err) < 0 || write_files(rt, sb, s, err) < 0)
        return -1;
    crisp_crash_point("pod.after_files");
    sb->info.state = RT_SANDBOX_READY;
    sb->info.created_at = clock_realtime_ns();
    sb->phase = RT_SANDBOX_PHASE_LIVE;
    if (rt_sandbox_persist(sb, err) < 0)
        return -1;
    crisp_crash_point("pod.after_record");
    return 0;
}

/* The new pod, indexed (hidden) and locked (the caller unlocks it); NULL if its name is taken. */
static struct rt_sandbox *sandbox_add(struct rt_runtime *rt, const struct rt_sandbox_spec *spec,
                                      crisp_error_t **err)
{
    struct rt_sandbox *sb = rt_sandbox_new();
    if (!sb) {
        crisp_error_oom(err);
        return NULL;
    }
    pthread_mutex_lock(&sb->lock);
    sb->info.state = RT_SANDBOX_NOTREADY;
    sb->phase = RT_SANDBOX_PHASE_CREATING;
    if (rt_random_id(sb->info.id, err) < 0 || copy_spec(sb, spec, err) < 0 ||
        !(sb->info.dir = path_join(rt->pods_dir, sb->info.id)) || rt_sandbox_index_add(rt, sb, err) < 0) {
        if (!err || !*err)
            crisp_error_oom(err);
        rt_sandbox_unlock_unref(sb);
        return NULL;
    }
    return sb;
}

int rt_sandbox_run(struct rt_runtime *rt, const struct rt_sandbox_spec *spec, char ret_id[RT_ID_LEN + 1],
                   crisp_error_t **err)
{
    if (validate_spec(spec, err) < 0)
        return -1;
    struct rt_sandbox *sb = sandbox_add(rt, spec, err);
    if (!sb)
        return -1;
    memcpy(ret_id, sb->info.id, RT_ID_LEN + 1);
    bool dir_made = false;
    int r = run_steps(rt, sb, spec, &dir_made, err);
    if (r == 0) {
        rt_index_show(&rt->pods, &sb->node);
    } else {
        /* The run's own error is what counts; what can't be undone now stays recorded as "creating",
         * for start-up to finish. */
        if (dir_made)
            rt_sandbox_rollback(rt, sb, NULL);
        sb->removed = true;
        rt_index_remove(&rt->pods, &sb->node);
    }
    rt_sandbox_unlock_unref(sb);
    return r;
}
