/* Pod sandboxes: namespaces pinned by crisp-pinns (no pause image), a pod cgroup, CNI networking, the
 * files every container shares, and a record in the state directory that survives crispd restarts.
 * Run either completes or undoes everything it made; stop and remove are idempotent and serialised
 * per pod by the pod's own lock, while the index lock is held only for lookups. */
#ifndef CRISP_RUNTIME_SANDBOX_H
#define CRISP_RUNTIME_SANDBOX_H

#include "common/error.h"
#include "runtime/cgroup/cgroup.h"
#include "runtime/cni/cni.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RT_ID_LEN 64

enum rt_sandbox_state { RT_SANDBOX_READY = 0, RT_SANDBOX_NOTREADY = 1 };
/* Values match runtime.v1.NamespaceMode. */
enum rt_ns_mode { RT_NS_POD = 0, RT_NS_CONTAINER = 1, RT_NS_NODE = 2, RT_NS_TARGET = 3 };

/* A pod's user namespace: container ids 0..size-1 are host ids uid..uid+size-1 (gid likewise). */
struct rt_userns {
    bool enabled;
    uint32_t uid, gid, size;
};

struct rt_kv {
    char *key, *value;
};

struct rt_sandbox_spec {
    const char *name, *uid, *namespace_;
    uint32_t attempt;
    const char *hostname, *log_directory, *runtime_handler, *cgroup_parent;
    const struct rt_kv *labels, *annotations;
    size_t n_labels, n_annotations;
    enum rt_ns_mode net_mode, pid_mode, ipc_mode;
    bool privileged; /* only a privileged pod may have privileged containers */
    struct rt_userns userns;
    char *const *dns_servers, *const *dns_searches, *const *dns_options; /* NULL-terminated or NULL */
    const struct rt_cni_port_mapping *port_mappings;
    size_t n_port_mappings;
    const struct rt_kv *sysctls;
    size_t n_sysctls;
    const struct rt_cgroup_resources *resources; /* pod resources plus overhead, or NULL */
    const void *config; /* the request's packed PodSandboxConfig, kept for containers */
    size_t config_len;
};

/* A snapshot of a pod for status and list answers. */
struct rt_sandbox_info {
    char id[RT_ID_LEN + 1];
    char *name, *uid, *namespace_;
    uint32_t attempt;
    enum rt_sandbox_state state;
    int64_t created_at;
    struct rt_kv *labels, *annotations;
    size_t n_labels, n_annotations;
    char *runtime_handler;
    enum rt_ns_mode net_mode, pid_mode, ipc_mode;
    bool privileged;
    struct rt_userns userns;
    char **ips; /* NULL-terminated */
    pid_t init_pid;
    char *netns_path; /* "" on the host network */
    char *cgroup_path;
    char *cni_result; /* raw JSON or "" */
    char *dir;        /* the pod's state directory */
};

struct rt_runtime_options {
    const char *state_dir;    /* pods in <state_dir>/pods, containers in <state_dir>/containers */
    const char *root_dir;     /* containers' writable layers in <root_dir>/containers */
    const char *pinns_path;   /* crisp-pinns */
    const char *monitor_path; /* crisp-monitor */
    const char *exec_path;    /* crisp-exec */
    const char *cgroup_mount; /* "/sys/fs/cgroup" */
    const char *default_cgroup_parent;
    bool systemd_cgroup;
    const char *cni_conf_dir;
    char *const *cni_bin_dirs;
    const char *host_resolv_conf;
};

struct rt_runtime;

/* Loads every pod record of the state dir; pods whose namespaces are gone come back NOTREADY, and
 * directories a crash left without a record are cleaned up. */
int rt_runtime_open(const struct rt_runtime_options *o, struct rt_runtime **ret, crisp_error_t **err);
void rt_runtime_free(struct rt_runtime *rt);
struct rt_cni *rt_runtime_cni(struct rt_runtime *rt);
const struct rt_cgroup_root *rt_runtime_cgroups(struct rt_runtime *rt);

int rt_sandbox_run(struct rt_runtime *rt, const struct rt_sandbox_spec *spec, char ret_id[RT_ID_LEN + 1],
                   crisp_error_t **err);
int rt_sandbox_stop(struct rt_runtime *rt, const char *id, crisp_error_t **err);
int rt_sandbox_remove(struct rt_runtime *rt, const char *id, crisp_error_t **err);
/* Writes a ready pod's new total resources to its cgroup. */
int rt_sandbox_update(struct rt_runtime *rt, const char *id, const struct rt_cgroup_resources *res,
                      crisp_error_t **err);

/* By full id or unique prefix. Absent: ENOENT. */
int rt_sandbox_info_get(struct rt_runtime *rt, const char *id, struct rt_sandbox_info **ret,
                        crisp_error_t **err);
/* Every pod (being created ones excluded). */
int rt_sandbox_info_list(struct rt_runtime *rt, struct rt_sandbox_info ***ret, size_t *ret_n,
                         crisp_error_t **err);
void rt_sandbox_info_free(struct rt_sandbox_info *info);
void rt_sandbox_info_freep(struct rt_sandbox_info **info);
void rt_sandbox_info_list_free(struct rt_sandbox_info **list, size_t n);

#endif
