/* The CRI stats of containers and pods, built into a call's arena. Cgroup figures are read on each
 * call (a few small files, kept open per container and pod); the CPU rate comes from the previous
 * sample of the same container or pod; a writable layer's usage comes from a cache that a
 * background thread refreshes, never from a walk on the caller's path; a pod's interface counters
 * are read inside its network namespace. */
#ifndef CRISP_SERVER_STATS_H
#define CRISP_SERVER_STATS_H

#include "api.pb-c.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/idvec.h"
#include "runtime/container.h"
#include "runtime/sandbox.h"
#include "runtime/stats/stats_cgroup.h"
#include "runtime/stats/stats_cpu_rate.h"
#include "runtime/stats/stats_fs_usage.h"

#include <pthread.h>

struct srv_stats_files_entry;

/* Each container's and pod's cgroup files, opened at its first stats call and kept until it is
 * forgotten, or its cgroup is found removed. */
struct srv_stats_files {
    /* Guards the table and the entries' reference counts, not the reads: a leaf lock, held for
     * lookups only, never over file I/O. */
    pthread_mutex_t lock;
    struct idvec entries; /* of struct srv_stats_files_entry, sorted by id */
    /* At most this many handles (each keeps up to RT_STATS_CGROUP_FILES_FDS_MAX fds); beyond it a
     * call opens and closes its files itself. */
    size_t capacity;
};

struct srv_stats {
    const struct rt_cgroup_root *cgroups;
    const char *layers_mountpoint;   /* the filesystem of the writable layers, as ImageFsInfo names it */
    struct rt_stats_cpu_rate rates;  /* by container or pod id */
    struct rt_stats_fs_cache layers; /* by container id: its writable layer's usage */
    struct srv_stats_files files;    /* by container or pod id */
};

int srv_stats_init(struct srv_stats *s, const struct rt_cgroup_root *cgroups, const char *layers_mountpoint,
                   crisp_error_t **err);
void srv_stats_fini(struct srv_stats *s);

/* NULL only when out of memory. Figures that cannot be read (an exited container's cgroup is gone)
 * are left out, as kubelet expects, rather than failing the call. */
Runtime__V1__ContainerStats *srv_stats_container(struct srv_stats *s, struct arena *a,
                                                 const struct rt_container_info *c);
Runtime__V1__PodSandboxStats *srv_stats_pod(struct srv_stats *s, struct arena *a,
                                            const struct rt_sandbox_info *p,
                                            Runtime__V1__ContainerStats **containers, size_t n_containers);

/* The figures of the cgroup of container or pod id (NULL: keep nothing); false when it cannot be
 * read (gone with an exited container). */
bool srv_stats_cgroup_read(struct srv_stats *s, const char *id, const char *cgroup_path, unsigned want,
                           struct rt_stats_cgroup *ret);

/* How many cgroup handles are kept. */
size_t srv_stats_cgroup_files_count(struct srv_stats *s);

/* The writable layer's cached usage, for ImageFsInfo; false when not measured yet. */
bool srv_stats_layer_usage(struct srv_stats *s, const char *container_id, struct rt_stats_fs_usage *ret);

/* Forgets what is kept for a removed container or pod. */
void srv_stats_forget(struct srv_stats *s, const char *id);
/* ... for a pod and its containers. */
void srv_stats_forget_pod(struct srv_stats *s, struct rt_runtime *rt, const char *pod_id);

#endif
