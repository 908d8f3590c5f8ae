/* The CRI stats of containers and pods, built into a call's arena. Cgroup figures are read on each
 * call (a few small files); the CPU rate comes from the previous sample of the same container or
 * pod; a writable layer's usage comes from a cache that a background thread refreshes, never from
 * a walk on the caller's path; a pod's interface counters are read inside its network namespace. */
#ifndef CRISP_SERVER_STATS_H
#define CRISP_SERVER_STATS_H

#include "api.pb-c.h"
#include "common/arena.h"
#include "common/error.h"
#include "runtime/container.h"
#include "runtime/sandbox.h"
#include "runtime/stats_cgroup.h"
#include "runtime/stats_cpu_rate.h"
#include "runtime/stats_fs_usage.h"

struct srv_stats {
    const struct rt_cgroup_root *cgroups;
    const char *layers_mountpoint; /* the filesystem of the writable layers, as ImageFsInfo names it */
    struct rt_stats_cpu_rate rates; /* by container or pod id */
    struct rt_stats_fs_cache layers; /* by container id: its writable layer's usage */
};

int srv_stats_init(struct srv_stats *s, const struct rt_cgroup_root *cgroups, const char *layers_mountpoint,
                   crisp_error_t **err);
void srv_stats_fini(struct srv_stats *s);

/* NULL only when out of memory. Figures that cannot be read (an exited container's cgroup is gone)
 * are left out, as kubelet expects, rather than failing the call. */
Runtime__V1__ContainerStats *srv_stats_container(struct srv_stats *s, struct arena *a,
                                                 const struct rt_container_info *c);
Runtime__V1__PodSandboxStats *srv_stats_pod(struct srv_stats *s, struct arena *a, const struct rt_sandbox_info *p,
                                            Runtime__V1__ContainerStats **containers, size_t n_containers);

/* One cgroup's figures; false when it cannot be read (gone with an exited container). */
bool srv_stats_cgroup_read(struct srv_stats *s, const char *cgroup_path, unsigned want, struct rt_stats_cgroup *ret);

/* The writable layer's cached usage, for ImageFsInfo; false when not measured yet. */
bool srv_stats_layer_usage(struct srv_stats *s, const char *container_id, struct rt_stats_fs_usage *ret);

/* Forgets what is kept for a removed container or pod. */
void srv_stats_forget(struct srv_stats *s, const char *id);
/* ... for a pod and its containers. */
void srv_stats_forget_pod(struct srv_stats *s, struct rt_runtime *rt, const char *pod_id);

#endif
