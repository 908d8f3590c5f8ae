/* What runtime/sandbox*.c share: the in-memory pod and its on-disk record. Locks and their order:
 * runtime/runtime_internal.h. */
#ifndef CRISP_RUNTIME_SANDBOX_INTERNAL_H
#define CRISP_RUNTIME_SANDBOX_INTERNAL_H

#include "runtime/cgroup/cgroup.h"
#include "runtime/index.h"
#include "runtime/sandbox.h"

#include <pthread.h>
#include <yajl/yajl_gen.h>

struct rt_port {
    int host_port, container_port;
    char *protocol, *host_ip;
};

/* Where a pod is in its life, as its record says: a crash leaves a record that tells start-up what to
 * finish. A CREATING pod was never reported to a client (it is hidden in the index) and is rolled back;
 * a REMOVING one was being removed and is removed. */
enum rt_sandbox_phase { RT_SANDBOX_PHASE_LIVE, RT_SANDBOX_PHASE_CREATING, RT_SANDBOX_PHASE_REMOVING };

struct rt_sandbox {
    struct rt_index_node node; /* in rt->pods by info.id, hidden until run completes; the reference count */
    /* Fixed once the pod is visible: all but info.state and info.init_pid, which change only with both
     * lock and info_lock held. Snapshots read info under info_lock alone. */
    struct rt_sandbox_info info;
    pthread_mutex_t info_lock;
    pthread_mutex_t lock; /* guards the rest; serialises run, stop and remove of this pod */
    bool removed;         /* torn down and out of the index: lookups holding a reference treat it as absent */
    uint64_t init_start;
    struct rt_cgroup_created cgroup_created; /* what of info.cgroup_path crisp made, per hierarchy */
    enum rt_sandbox_phase phase;
    bool shm_mounted;
    /* A DEL is owed: set (and recorded) before the ADD runs, cleared when a DEL succeeded or a failed
     * ADD cleaned up after itself. */
    bool network_up;
    /* What the ADD ran with, saved before it ran, so every DEL runs the same: the network list's text
     * ("" until known), the interface and runtimeConfig.dns. */
    char *cni_config;
    char cni_ifname[16];
    char **dns_servers, **dns_searches, **dns_options;
    struct rt_port *ports;
    size_t n_ports;
};

/* sandbox.c: the object and its index */
/* A new pod with one reference (the caller's), not indexed. */
struct rt_sandbox *rt_sandbox_new(void);
void rt_sandbox_unref(struct rt_sandbox *sb);
/* Indexes sb, hidden from lookups until rt_index_show; EEXIST if a pod of the same name, namespace, uid
 * and attempt is indexed, hidden or not. */
int rt_sandbox_index_add(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err);
/* The visible pod by id or unique prefix, referenced and with its lock held; NULL if absent or
 * removed. The caller ends with rt_sandbox_unlock_unref. */
struct rt_sandbox *rt_sandbox_lock_by_id(struct rt_runtime *rt, const char *id);
void rt_sandbox_unlock_unref(struct rt_sandbox *sb);
/* Writes sb's record. */
int rt_sandbox_persist(const struct rt_sandbox *sb, crisp_error_t **err);

/* sandbox_network.c: CNI ADD and DEL for the pod's network namespace */
/* Saves, in sb and its record, the network list and runtimeConfig the ADD is about to use. */
int rt_sandbox_network_intent(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                              crisp_error_t **err);
/* The ADD, with what the intent saved; its result goes into sb->info (the caller records it). */
int rt_sandbox_network_setup(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err);
int rt_sandbox_network_teardown(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err);

/* sandbox_teardown.c, shared by a failed run, stop, remove and start-up (with sb->lock held). Every
 * step is idempotent: a teardown that failed or was cut short by a crash can be run again. op names
 * the operation in crash points ("pod.<op>.after_<step>"). */
/* Everything but the cgroup and the directory: what stopping a pod releases. */
int rt_sandbox_teardown_running(struct rt_runtime *rt, struct rt_sandbox *sb, const char *op,
                                crisp_error_t **err);
int rt_sandbox_teardown_all(struct rt_runtime *rt, struct rt_sandbox *sb, const char *op,
                            crisp_error_t **err);
/* Undoes a run that never completed (failed, or cut short by a crash): every step is tried whatever
 * the others gave, and a CNI DEL that fails does not keep the rest (the plugin may refuse to delete
 * what its ADD never made). On failure the record is kept, still CREATING, for the next start-up. */
int rt_sandbox_rollback(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err);
/* The cgroup of the pod's init (shared PID namespace): a leaf of its own below the pod's cgroup, named
 * as a container's (the init is what the pause container is elsewhere), since cgroup v2 lets no
 * process sit in a cgroup whose controllers its children use. NULL without memory. */
char *rt_sandbox_init_cgroup(const struct rt_runtime *rt, const struct rt_sandbox_info *i);
/* crisp_crash_point("pod.<op>.after_<step>"), composed only in test builds. */
void rt_sandbox_crash_point(const char *op, const char *step);

/* sandbox_recover.c: start-up's part for one pod directory (rt_runtime_open). *ret is the pod to
 * index, or NULL when nothing is left of it (a half-made or half-removed pod, finished now). */
int rt_sandbox_recover(struct rt_runtime *rt, const char *dir, const char *id, struct rt_sandbox **ret,
                       crisp_error_t **err);

/* sandbox_record.c */
char *rt_sandbox_record_to_json(const struct rt_sandbox *sb);
int rt_sandbox_record_from_json(const char *text, struct rt_sandbox *sb, crisp_error_t **err);
/* Frees what sb holds (not sb, its locks or its node). */
void rt_sandbox_fini(struct rt_sandbox *sb);
int rt_kv_copy(const struct rt_kv *src, size_t n, struct rt_kv **ret);
void rt_kv_free(struct rt_kv *kv, size_t n);
/* Writes kv as a JSON object under key k. */
void rt_kv_gen(yajl_gen g, const char *k, const struct rt_kv *kv, size_t n);

#endif
