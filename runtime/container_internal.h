/* What runtime/container*.c share. Locks and their order: runtime/runtime_internal.h. */
#ifndef CRISP_RUNTIME_CONTAINER_INTERNAL_H
#define CRISP_RUNTIME_CONTAINER_INTERNAL_H

#include "runtime/container.h"
#include "runtime/index.h"
#include "runtime/seccomp/seccomp.h"

#include <pthread.h>
#include <stdatomic.h>

/* What a container whose monitor died without an exit record reports (container_exit.c says why). */
#define RT_CONTAINER_LOST_EXIT_CODE 255
#define RT_CONTAINER_LOST_REASON "MonitorLost"

enum rt_container_op {
    RT_OP_NONE,
    RT_OP_STARTING,
    RT_OP_STOPPING,
    RT_OP_REMOVING,
};

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
    uint64_t monitor_start; /* the monitor's start time, so a reused pid is not taken for it */
    int monitor_pidfd;      /* -1 when not open; readable once the monitor has exited */
    /* An operation that runs without c->lock (it waits on processes or the disk). Others wait for
     * op_done, or join it: a stop brings the running stop's deadline forward (stop_deadline_ms,
     * monotonic, read by the stopper without the lock). */
    enum rt_container_op op;
    pthread_cond_t op_done; /* broadcast with c->lock held when op returns to RT_OP_NONE */
    _Atomic int64_t stop_deadline_ms;
    int stop_signal;
    uint64_t capabilities; /* for ExecSync: the same set as the workload */
    uint64_t ambient_capabilities;
    bool no_new_privs;
    bool has_seccomp; /* <dir>/seccomp.bpf holds the filter, for the workload and every exec */
    unsigned seccomp_flags;
    bool tty;
    char **env; /* for exec: the container's environment */
    char *cwd;
    /* Intents, recorded before their effects, so that start-up can finish or roll back what a crash
     * cut short (container_load.c): a create is rolled back, a remove finished, and a start resolved
     * by what its monitor claimed (container_claim.c). */
    bool creating;
    char *log_dir_made; /* while creating: the log directory create makes (NULL if it existed) */
    bool removing;
    bool starting;      /* start number start_seq began, and crispd has not recorded how it ended */
    uint32_t start_seq; /* starts begun; the monitor of start N claims <dir>/start.N */
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

/* Operations that run without c->lock (container.c); all called with c->lock held. */
void rt_container_op_begin_locked(struct rt_container *c, enum rt_container_op op);
void rt_container_op_end_locked(struct rt_container *c);
/* Waits until no operation runs on c, dropping c->lock meanwhile: c may be removed when it returns. */
void rt_container_op_wait_locked(struct rt_container *c);
const char *rt_container_op_name(enum rt_container_op op);

/* container_exit.c: exits, as crisp-monitor records them, and monitors that die without a record */
/* Reads the exit record if the monitor wrote one; true when the container has exited. c->lock held. */
bool rt_container_read_exit(struct rt_container *c);
/* A running container that exited, or whose monitor died, becomes EXITED; true if it did. It never
 * waits: a workload that outlived its monitor is sent SIGKILL. c->lock held. */
bool rt_container_settle(struct rt_container *c);
/* rt_container_settle, and a change is persisted and told to kubelet. c->lock held. */
void rt_container_refresh(struct rt_runtime *rt, struct rt_container *c);
/* Whether c's workload is still the process it started (and not a reused pid). */
bool rt_container_pid_is_ours(const struct rt_container *c);
/* Opens c->monitor_pidfd on c->monitor_pid if that is still the monitor (its start time matches
 * c->monitor_start, which is taken now if unknown). c->lock held, or c not yet shared. */
void rt_container_monitor_track(struct rt_container *c);
/* Whether c's monitor has exited (or is not the process it was). Never waits. */
bool rt_container_monitor_gone(const struct rt_container *c);
/* Waits, with no lock held, until c's monitor exits or the monotonic *deadline_ms passes (re-read on
 * each round, so a joining stop may bring it forward); true if it exited. The caller holds a
 * reference and an operation (c->op), so the monitor fields do not change meanwhile. */
bool rt_container_monitor_wait(const struct rt_container *c, const _Atomic int64_t *deadline_ms);
/* No exit record will come: EXITED with an unknown exit code, at the time crispd noticed. why ends
 * "crisp-monitor (pid N) ..." in the message (what the monitor did, and the workload's fate). */
void rt_container_mark_lost(struct rt_container *c, const char *why);

/* container_claim.c: how a start ended that crispd did not see end (it crashed, or lost the monitor's
 * report). What the monitor claimed: its pid, and the workload's once it was about to run. */
struct rt_start_claim {
    bool cancelled; /* no monitor had claimed the start, and now none can */
    pid_t monitor, pid;
    uint64_t monitor_start, pid_start;
    int64_t started_at;
};
char *rt_container_claim_file(const struct rt_container *c);
/* Reads start c->start_seq's claim, or cancels it if there is none yet; a monitor that had not let its
 * workload run is killed, with what is in the cgroup, so nothing of that start can run later. Without
 * c->lock: it waits (bounded) on processes; the caller holds c->op, or c is not shared yet. */
void rt_container_claim_settle(struct rt_runtime *rt, const struct rt_container *c,
                               struct rt_start_claim *ret);
/* With c->lock: RUNNING with the monitor adopted, EXITED as recorded (or lost), or CREATED again.
 * Clears c->starting; the caller persists. */
void rt_container_claim_apply(struct rt_container *c, const struct rt_start_claim *cl);

/* container_remove.c: kills what is left in c's cgroup and removes the cgroup, the writable layer,
 * the image volumes' mounts and the state directory. Idempotent: what is gone already is success. */
int rt_container_discard(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err);

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

/* container_stop.c: sends the stop signal, then kills the cgroup after timeout_s, or joins the stop
 * under way (bringing its deadline forward). Called with c->lock held and returns with it held, but
 * drops it while it waits: c may be removed when it returns. */
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
