/* The runtime object, shared by runtime/sandbox.c and runtime/container.c. */
#ifndef CRISP_RUNTIME_RUNTIME_INTERNAL_H
#define CRISP_RUNTIME_RUNTIME_INTERNAL_H

#include "runtime/container.h"
#include "runtime/sandbox.h"

#include <pthread.h>

struct rt_container;

struct rt_runtime {
    char *pods_dir, *containers_dir, *layers_dir, *pinns, *monitor, *exec_helper;
    char *default_cgroup_parent, *host_resolv_conf;
    bool systemd_cgroup;
    struct rt_cgroup_root cgroups;
    struct rt_cni *cni;
    pthread_rwlock_t lock; /* guards pods[] and containers[] */
    struct rt_sandbox **pods;
    size_t n_pods;
    struct rt_container **containers;
    size_t n_containers;
    rt_container_event_fn event_fn;
    void *event_data;
};

/* Loads container records (called by rt_runtime_open after the pods). */
int rt_containers_load(struct rt_runtime *rt, crisp_error_t **err);
void rt_containers_free(struct rt_runtime *rt);
/* Ids of the pod's containers (for RemovePodSandbox); caller frees. */
char **rt_containers_of_pod(struct rt_runtime *rt, const char *sandbox_id);

#endif
