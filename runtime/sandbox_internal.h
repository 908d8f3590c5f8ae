/* What runtime/sandbox*.c share: the in-memory pod and its on-disk record. */
#ifndef CRISP_RUNTIME_SANDBOX_INTERNAL_H
#define CRISP_RUNTIME_SANDBOX_INTERNAL_H

#include "runtime/sandbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <yajl/yajl_gen.h>

struct rt_port {
    int host_port, container_port;
    char *protocol, *host_ip;
};

struct rt_sandbox {
    struct rt_sandbox_info info;
    pthread_mutex_t lock; /* serialises run, stop and remove of this pod */
    _Atomic int refs;     /* the index holds one; each operation in progress one more */
    bool creating;        /* hidden from lookups until run completes */
    bool removed;
    uint64_t init_start;
    int cgroup_depth;
    bool shm_mounted;
    bool network_up;
    struct rt_port *ports;
    size_t n_ports;
};

char *rt_sandbox_record_to_json(const struct rt_sandbox *sb);
int rt_sandbox_record_from_json(const char *text, struct rt_sandbox *sb, crisp_error_t **err);
void rt_sandbox_fields_free(struct rt_sandbox *sb);
int rt_kv_copy(const struct rt_kv *src, size_t n, struct rt_kv **ret);
void rt_kv_free(struct rt_kv *kv, size_t n);
/* Writes kv as a JSON object under key k. */
void rt_kv_gen(yajl_gen g, const char *k, const struct rt_kv *kv, size_t n);

#endif
