/* Containers of a pod: created as a record, a cgroup, a writable layer and a spec file for
 * crisp-monitor; started by spawning the monitor, which execs the workload and outlives crispd;
 * exits are read from the file the monitor writes, also after a crispd restart. */
#ifndef CRISP_RUNTIME_CONTAINER_H
#define CRISP_RUNTIME_CONTAINER_H

#include "common/error.h"
#include "runtime/attach.h"
#include "runtime/cgroup/cgroup.h"
#include "runtime/exec.h"
#include "runtime/sandbox.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Values match runtime.v1.ContainerState. */
enum rt_container_state {
    RT_CONTAINER_CREATED = 0,
    RT_CONTAINER_RUNNING = 1,
    RT_CONTAINER_EXITED = 2,
    RT_CONTAINER_UNKNOWN = 3
};
/* Values match runtime.v1.MountPropagation. */
enum rt_propagation {
    RT_PROPAGATION_PRIVATE = 0,
    RT_PROPAGATION_HOST_TO_CONTAINER = 1,
    RT_PROPAGATION_BIDIRECTIONAL = 2
};

struct rt_mount {
    char *container_path, *host_path;
    bool readonly, recursive_readonly;
    enum rt_propagation propagation;
    bool noexec, nosuid, nodev; /* CRI Mount.mount_options, the bind mount flags kubelet may ask for */
    /* An image volume (CRI Mount.image; runtime/image_volume.h) when image is set: the image as the
     * request named it, its id (config digest) and the sub path to bind ("" for all of it); host_path
     * is where crispd mounted it ("" until the container is created). NULL for a plain bind mount. */
    char *image, *image_id, *image_sub_path;
    char *const *image_layers; /* at create only, not kept: the image's layers, top-most first */
};

/* A deep copy (image_layers is not kept); false when out of memory, and dst is then for rt_mount_fini
 * all the same. */
bool rt_mount_copy(struct rt_mount *dst, const struct rt_mount *src);
void rt_mount_fini(struct rt_mount *m);

enum rt_seccomp_mode { RT_SECCOMP_UNCONFINED, RT_SECCOMP_RUNTIME_DEFAULT, RT_SECCOMP_LOCALHOST };

struct rt_device {
    char *container_path, *host_path, *permissions;
};

struct rt_container_spec {
    const char *sandbox_id;
    const char *name;
    uint32_t attempt;
    const char *image;      /* as the request named it */
    const char *image_id;   /* config digest */
    char *const *lowerdirs; /* the image's layers, top-most first */
    char *const *argv, *const *env;
    const char *cwd;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t n_groups;
    bool tty, stdin_open, stdin_once;
    const struct rt_mount *mounts;
    size_t n_mounts;
    const struct rt_device *devices;
    size_t n_devices;
    const char *log_path; /* absolute, or "" */
    const struct rt_kv *labels, *annotations;
    size_t n_labels, n_annotations;
    const struct rt_cgroup_resources *resources;
    bool has_oom_score_adj;
    int oom_score_adj;
    int stop_signal;
    uint64_t capabilities;         /* mask of capability numbers (runtime/caps.h) */
    uint64_t ambient_capabilities; /* a subset of capabilities, kept by non-root workloads too */
    bool no_new_privs;
    bool privileged;     /* all devices, /sys and cgroupfs writable; the pod must be privileged too */
    bool has_namespaces; /* the request's namespace options; else the pod's modes apply */
    enum rt_ns_mode net_mode, ipc_mode, pid_mode;
    const char *pid_target_id; /* pid_mode TARGET: a running container of the same pod */
    bool has_userns;           /* the request repeated a user namespace, which must then be the pod's */
    struct rt_userns userns;   /* enabled false: the host's (mode NODE) */
    enum rt_seccomp_mode seccomp_mode;
    const char *seccomp_profile;  /* RT_SECCOMP_LOCALHOST: absolute path of the JSON profile */
    const char *apparmor_profile; /* a profile loaded on the host, or NULL: none */
    const char *selinux_label;    /* "user:role:type:level", or NULL: the default */
    bool readonly_rootfs;
    char *const *masked_paths, *const *readonly_paths; /* NULL-terminated */
};

/* The resources a container was given (for ContainerStatus), kept as requested. */
struct rt_container_resources {
    int64_t cpu_period, cpu_quota, cpu_shares, memory_limit, memory_swap_limit, oom_score_adj;
    char *cpuset_cpus, *cpuset_mems;
    struct rt_kv *unified; /* cgroup v2 files asked for, the latest value per file */
    size_t n_unified;
};

struct rt_container_info {
    char id[RT_ID_LEN + 1];
    char sandbox_id[RT_ID_LEN + 1];
    char *name;
    uint32_t attempt;
    enum rt_container_state state;
    int64_t created_at, started_at, finished_at;
    int exit_code;
    char *reason, *message;
    char *image, *image_id;
    struct rt_kv *labels, *annotations;
    size_t n_labels, n_annotations;
    char *log_path;
    struct rt_mount *mounts;
    size_t n_mounts;
    pid_t pid;
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary */
    size_t n_groups;
    char *cgroup_path;
    char *upper_dir; /* the writable layer's upper directory (for its disk usage) */
    struct rt_container_resources resources;
    char *spec_path; /* the spec file its monitor was given; set by rt_container_info_get only, else NULL */
};

int rt_container_create(struct rt_runtime *rt, const struct rt_container_spec *spec,
                        char ret_id[RT_ID_LEN + 1], crisp_error_t **err);
int rt_container_start(struct rt_runtime *rt, const char *id, crisp_error_t **err);
/* Sends the stop signal, then SIGKILL to the whole cgroup after timeout_s (0: at once). Idempotent; an
 * unknown id is success. */
int rt_container_stop(struct rt_runtime *rt, const char *id, int64_t timeout_s, crisp_error_t **err);
/* Stops if needed and removes everything; absent: success. */
int rt_container_remove(struct rt_runtime *rt, const char *id, crisp_error_t **err);
int rt_container_update(struct rt_runtime *rt, const char *id, const struct rt_cgroup_resources *res,
                        crisp_error_t **err);
int rt_container_reopen_log(struct rt_runtime *rt, const char *id, crisp_error_t **err);

struct rt_exec_output {
    int exit_code;
    char *out, *err_out;
    size_t out_len, err_len;
};
int rt_container_exec_sync(struct rt_runtime *rt, const char *id, char *const *argv, int64_t timeout_s,
                           struct rt_exec_output *ret, crisp_error_t **err);
void rt_exec_output_fini(struct rt_exec_output *o);

/* Exec for the streaming server: starts argv in the running container with stdio[0..2] (see
 * rt_exec_start) and returns at once. */
int rt_container_exec_start(struct rt_runtime *rt, const char *id, char *const *argv, bool tty,
                            const int stdio[3], struct rt_exec_process *ret, crisp_error_t **err);

/* Attaches to the running container's own stdio; *ret_tty says whether it has a terminal (then its
 * stdout and stderr are one stream and no stderr pipe is made). */
int rt_container_attach(struct rt_runtime *rt, const char *id, bool in, bool out, bool err_stream,
                        struct rt_attachment *ret, bool *ret_tty, crisp_error_t **err);

int rt_container_info_get(struct rt_runtime *rt, const char *id, struct rt_container_info **ret,
                          crisp_error_t **err);
int rt_container_info_list(struct rt_runtime *rt, struct rt_container_info ***ret, size_t *ret_n,
                           crisp_error_t **err);
void rt_container_info_free(struct rt_container_info *c);
void rt_container_info_freep(struct rt_container_info **c);
void rt_container_info_list_free(struct rt_container_info **list, size_t n);

/* How many containers' monitors are running (for crispd's metrics). */
int rt_container_monitors_alive(struct rt_runtime *rt, size_t *ret_n, crisp_error_t **err);

/* Values match runtime.v1.ContainerEventType. */
enum rt_container_event {
    RT_EVENT_CONTAINER_CREATED = 0,
    RT_EVENT_CONTAINER_STARTED = 1,
    RT_EVENT_CONTAINER_STOPPED = 2,
    RT_EVENT_CONTAINER_DELETED = 3,
};

/* Container event hook: called on create, start, exit seen, and remove, with the container's lock held
 * so that one container's events come in order; it must not call into the runtime. Set before the
 * runtime is shared between threads. */
typedef void (*rt_container_event_fn)(void *data, enum rt_container_event type, const char *container_id,
                                      const char *sandbox_id);
void rt_runtime_set_event_hook(struct rt_runtime *rt, rt_container_event_fn fn, void *data);

#endif
