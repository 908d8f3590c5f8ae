/* What runtime/container*.c share. Locks and their order: runtime/runtime_internal.h. */
#ifndef CRISP_RUNTIME_CONTAINER_INTERNAL_H
#define CRISP_RUNTIME_CONTAINER_INTERNAL_H

#include "runtime/container.h"
#include "runtime/index.h"
#include "runtime/seccomp/seccomp.h"

#include <pthread.h>
#include <stdatomic.h>

struct rt_container {
    struct rt_index_node node; /* in rt->containers by info.id; holds the reference count */
    /* Fixed once the container is indexed, and read without the lock: info.id, info.sandbox_id,
     * info.name, info.attempt, dir, rw_dir, and what exec copies: env, cwd, info.groups. */
    struct rt_container_info info;
    pthread_mutex_t lock; /* guards all that is not fixed; serialises create, start, stop, remove, update
                             and exec bookkeeping of this container */
    bool removed; /* its state is gone and it has left the index: lookups holding a reference treat it as
                     absent */
    char *dir;    /* state dir: spec, record, exit file */
    char *rw_dir; /* root/containers/<id>: upper and work */
    uint64_t pid_start;
    pid_t monitor_pid;
    int stop_signal;
    uint64_t capabilities; /* for ExecSync: the same set as the workload */
    uint64_t ambient_capabilities;
    bool no_new_privs;
    bool has_seccomp; /* <dir>/seccomp.bpf holds the filter, for the workload and every exec */
    unsigned seccomp_flags;
    bool tty;
    char **env; /* for exec: the container's environment */
    char *cwd;
};

/* container.c: the object, its index and its events */
/* A new container with one reference (the caller's) and nothing indexed yet. */
struct rt_container *rt_container_new(void);
void rt_container_unref(struct rt_container *c);
/* Indexes c; EEXIST if its pod already has a container of that name and attempt. */
int rt_container_index_add(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err);
/* The container by id or unique prefix, referenced and with its lock held; NULL if absent or removed.
 * The caller ends with rt_container_unlock_unref. */
struct rt_container *rt_container_lock_by_id(struct rt_runtime *rt, const char *id);
void rt_container_unlock_unref(struct rt_container *c);
/* Tells the event hook; called with c->lock held, so one container's events keep their order. */
void rt_container_emit(struct rt_runtime *rt, enum rt_container_event type, const struct rt_container *c);
/* Writes c's record. */
int rt_container_persist(const struct rt_container *c, crisp_error_t **err);
char *rt_container_exit_file(const struct rt_container *c);
/* The container's compiled seccomp filter. */
char *rt_container_seccomp_file(const struct rt_container *c);
/* Where the container's monitor serves attach. */
char *rt_container_attach_socket(const struct rt_container *c);

/* container_exit.c: exits, as crisp-monitor records them (all with c->lock held) */
/* Reads the exit record if the monitor wrote one; true when the container has exited. */
bool rt_container_read_exit(struct rt_container *c);
/* A running container whose monitor recorded an exit becomes EXITED (and kubelet hears of it). */
void rt_container_refresh(struct rt_runtime *rt, struct rt_container *c);
/* Whether c's workload is still the process it started (and not a reused pid). */
bool rt_container_pid_is_ours(const struct rt_container *c);
/* The monitor died too (or crispd's host rebooted): no record will come, so make one. */
void rt_container_mark_lost(struct rt_container *c);

/* What CreateContainer works out from the request before it makes anything, so that a request it
 * cannot honour leaves nothing behind. */
struct rt_container_inputs {
    struct rt_seccomp_filter filter;
    struct rt_device_node *devices;
    char *pid_ns; /* "new", "host" or a PID namespace file */
};

/* container_layout.c: what create makes on disk and in the cgroups (with c->lock held) */
int rt_container_layout_make(struct rt_runtime *rt, struct rt_container *c, const struct rt_container_spec *s,
                             const struct rt_sandbox_info *pod, const struct rt_container_inputs *in,
                             crisp_error_t **err);
void rt_container_layout_undo(struct rt_runtime *rt, struct rt_container *c);

/* container_stop.c: sends the stop signal, then kills the cgroup after timeout_s; with c->lock held. */
int rt_container_stop_locked(struct rt_runtime *rt, struct rt_container *c, int64_t timeout_s);

/* container_update.c: records what was asked, a merge of what the container had and what res sets. */
int rt_container_resources_record(struct rt_container_resources *cr, const struct rt_cgroup_resources *res,
                                  const int *oom_score_adj);

/* container_info.c */
int rt_container_groups_copy(const gid_t *groups, size_t n, gid_t **ret, size_t *ret_n);

/* container_security.c */
int rt_container_security_check(const struct rt_container_spec *s, const struct rt_sandbox_info *pod,
                                crisp_error_t **err);
/* A requested device as checked at create: what the container gets at container_path. */
struct rt_device_node {
    const char *container_path, *permissions;
    char type; /* 'c' or 'b' */
    unsigned major, minor;
    mode_t mode;
};
/* One per s->devices (the caller frees the array); EINVAL for bad permissions or a path that is no
 * device. */
int rt_container_devices_resolve(const struct rt_container_spec *s, struct rt_device_node **ret,
                                 crisp_error_t **err);
char **rt_container_device_rules(const struct rt_device_node *nodes, size_t n, crisp_error_t **err);

/* container_record.c */
char *rt_container_record_to_json(const struct rt_container *c);
int rt_container_record_from_json(const char *text, struct rt_container *c, crisp_error_t **err);
/* Frees what c holds (not c, its lock or its node). */
void rt_container_fini(struct rt_container *c);

#endif
