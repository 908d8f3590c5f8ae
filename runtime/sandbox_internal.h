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
    bool shm_mounted;
    bool network_up;
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
int rt_sandbox_network_setup(struct rt_runtime *rt, struct rt_sandbox *sb, const struct rt_sandbox_spec *s,
                             crisp_error_t **err);
int rt_sandbox_network_teardown(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err);

/* sandbox_teardown.c, shared by a failed run, stop and remove (with sb->lock held) */
/* Everything but the cgroup and the directory: what stopping a pod releases. */
int rt_sandbox_teardown_running(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err);
int rt_sandbox_teardown_all(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err);

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
