/* The runtime object, shared by runtime/sandbox*.c and runtime/container*.c, and the runtime's
 * concurrency contract.
 *
 * Locks, and what each guards:
 *   rt->pods.lock, rt->containers.lock (rwlocks, runtime/index.h): the index's membership and each
 *     node's hidden flag. Held only to find, list, add or remove; never across slow work.
 *   sb->lock (struct rt_sandbox): everything of the pod, and serialises its run, stop and remove.
 *   sb->info_lock: sb->info for snapshots (status, list), so they need not wait for a slow stop;
 *     whoever changes sb->info after the pod is visible holds sb->lock too.
 *   c->lock (struct rt_container): everything of the container, and serialises its create, update and
 *     the bookkeeping of start, stop, remove, exec and attach. Start, stop and remove mark c->op under
 *     it, drop it for their waits (the monitor's start, the grace period, the cgroup's kill, the
 *     removal of the layer) and take it again to record the result; others wait on c->op_done, which
 *     releases the lock, or join (a stop joins a stop).
 *   cni->lock (runtime/cni): the loaded network list and its reference count.
 *   Reference counts are atomics and need no lock. What never changes after an object is added to its
 *   index (its id, name, attempt, pod id, directories) is read without a lock by holders of a reference.
 *
 * Lock order:
 *   1. An object lock may be held while an index lock is taken (to add, show or remove the object);
 *      an index lock is never held while an object lock is taken: lookups take a reference under the
 *      index lock, drop it, and only then lock the object (rt_*_lock_by_id).
 *   2. At most one object lock at a time: no code holds two containers', two pods', or a pod's and a
 *      container's lock together (a container's create resolves its PID-namespace target before it
 *      locks itself).
 *   3. sb->info_lock, cni->lock, rt->image_uses.lock, the two index locks and the locks of the modules used
 * under object locks (the seccomp cache) are leaves: nothing is locked under them, and the two index locks
 * are never held together.
 *   4. The container event hook runs with that container's lock held (so its events keep their order):
 *      it may take only leaf locks of its own and must not call into the runtime.
 * A removed object leaves its index under its own lock and marks itself removed there: a lookup that
 * took its reference before then finds it removed once it holds the lock, and treats it as absent.
 *
 * No lock is held across a wait on a process, the network or the disk, except:
 *   - CreateContainer holds the new container's lock while it makes the cgroup and files, so a list
 *     meeting it waits for it to be whole (runtime/container_create.c);
 *   - sb->lock is held across CNI ADD and DEL, but pod snapshots (status, list) only take
 *     sb->info_lock, which is never held across a wait. */
#ifndef CRISP_RUNTIME_RUNTIME_INTERNAL_H
#define CRISP_RUNTIME_RUNTIME_INTERNAL_H

#include "runtime/container.h"
#include "runtime/image_volume.h"
#include "runtime/index.h"
#include "runtime/sandbox.h"

struct rt_runtime {
    char *pods_dir, *containers_dir, *layers_dir, *pinns, *monitor, *exec_helper;
    char *default_cgroup_parent, *host_resolv_conf;
    bool systemd_cgroup;
    struct rt_cgroup_root cgroups;
    struct rt_cni *cni;
    struct rt_index pods;            /* struct rt_sandbox; being-run pods are hidden */
    struct rt_index containers;      /* struct rt_container */
    struct rt_image_uses image_uses; /* images that image volumes use (runtime/image_volume.h) */
    /* Set once before the runtime is shared (rt_runtime_set_event_hook), read without a lock. */
    rt_container_event_fn event_fn;
    void *event_data;
};

/* Loads container records (called by rt_runtime_open after the pods). */
int rt_containers_load(struct rt_runtime *rt, crisp_error_t **err);
/* Ids of the pod's containers (for RemovePodSandbox); caller frees. */
char **rt_containers_of_pod(struct rt_runtime *rt, const char *sandbox_id);

#endif
