/* Pod and container cgroups on cgroup v1 (one directory per controller) and v2 (one unified tree).
 * Paths are cgroup-relative ("/kubepods/burstable/pod<uid>"); systemd-driver slice names
 * ("kubepods-burstable-pod<uid>.slice") are mapped to their paths even where systemd doesn't run.
 * crisp only creates, writes and removes directories below the paths it is given. These functions
 * check their arguments and hand the work to the root's backend (struct rt_cgroup_ops in
 * runtime/cgroup/cgroup_internal.h). */
#ifndef CRISP_RUNTIME_CGROUP_H
#define CRISP_RUNTIME_CGROUP_H

#include "common/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum rt_cgroup_mode { RT_CGROUP_V1, RT_CGROUP_V2 };

struct rt_cgroup_ops;
struct rt_cgroup_systemd;

/* Where the hierarchies are mounted and what drives them; tests point this at a fake tree. */
struct rt_cgroup_root {
    char *mount;                       /* "/sys/fs/cgroup" */
    enum rt_cgroup_mode mode;          /* V2 when <mount>/cgroup.controllers exists */
    const struct rt_cgroup_ops *ops;   /* the backend, chosen once by rt_cgroup_root_detect */
    struct rt_cgroup_systemd *systemd; /* the systemd driver's bus connection; NULL for cgroupfs */
};

/* Detects the hierarchy and picks the cgroupfs driver for it. */
int rt_cgroup_root_detect(const char *mount, struct rt_cgroup_root *ret, crisp_error_t **err);
/* Switches a detected root to the systemd driver: pods' slices and containers' scopes become systemd
 * units, made over D-Bus (the system bus, or systemd's private socket), as runc, crun and CRI-O do.
 * helper_dir holds crisp-hold, a scope's first process. Fails with nothing changed when systemd
 * can't be reached. Paths that are not units (no slice at their end) stay plain directories. */
int rt_cgroup_root_use_systemd(struct rt_cgroup_root *root, const char *helper_dir, crisp_error_t **err);
void rt_cgroup_root_fini(struct rt_cgroup_root *root);

/* A container's cgroup below its pod's: the transient scope "crisp-<id>.scope" (CRI-O's
 * "crio-<id>.scope") with the systemd driver below a slice, "ctr-<id12>" otherwise. NULL without
 * memory. */
char *rt_cgroup_container_path(const struct rt_cgroup_root *root, const char *pod_path, const char *id);

/* A cgroup_parent as kubelet sends it, for the given driver ("cgroupfs" | "systemd"), as a clean
 * cgroup-relative path. Systemd: "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; a name with a
 * "/" in it is taken as a path. Rejects "..", empty components, and other bad names (EINVAL). */
int rt_cgroup_parent_path(const char *cgroup_parent, bool systemd, char **ret_path, crisp_error_t **err);

/* The cgroup of a pod that names no parent: "<parent>-pod<id12>.slice" below a default parent that is
 * a slice ("crisp.slice" or "/crisp.slice"), with the systemd driver; "<parent>/pod-<id12>" otherwise. */
int rt_cgroup_pod_default_path(const char *default_parent, const char *id, bool systemd, char **ret_path,
                               crisp_error_t **err);

/* Resources a pod or container cgroup gets (0 or -1 where noted: leave as is). */
struct rt_cgroup_resources {
    int64_t cpu_period;        /* us, 0: unset */
    int64_t cpu_quota;         /* us, 0: unset, -1: unlimited */
    int64_t cpu_shares;        /* 0: unset; mapped to cpu.weight on v2 */
    int64_t memory_limit;      /* bytes, 0: unset */
    int64_t memory_swap_limit; /* bytes incl. memory on v1, 0: unset, -1: unlimited */
    int64_t pids_limit;        /* 0: unset, -1: max */
    const char *cpuset_cpus;   /* NULL or "" : unset */
    const char *cpuset_mems;
    struct {
        const char *page_size;
        uint64_t limit;
    } * hugepages; /* "2MB", "1GB" */
    size_t n_hugepages;
    struct {
        const char *key;
        const char *value;
    } * unified; /* v2 only: file -> value */
    size_t n_unified;
};

/* How many trailing components of a path crisp created, per hierarchy: a v1 controller's directory
 * ("cpu", "devices") or "unified" on v2. Kubelet's cgroupfs driver makes kubepods/<qos>/pod<uid> only
 * in the controllers it manages, so one pod path can be kubelet's in one hierarchy and crisp's in
 * another; removal must tell them apart. A hierarchy not listed counts as rest: 0 for what
 * rt_cgroup_create reports, the one depth records written before per-hierarchy depths held. */
#define RT_CGROUP_HIERARCHIES_MAX 12
#define RT_CGROUP_HIERARCHY_NAME_MAX 16

struct rt_cgroup_created {
    int rest;
    size_t n;
    struct rt_cgroup_level {
        char name[RT_CGROUP_HIERARCHY_NAME_MAX];
        int depth;
    } levels[RT_CGROUP_HIERARCHIES_MAX];
};

/* The same depth in every hierarchy, as for a container's own "ctr-<id>" level. */
#define RT_CGROUP_CREATED_UNIFORM(d) ((const struct rt_cgroup_created){.rest = (d)})

int rt_cgroup_created_depth(const struct rt_cgroup_created *c, const char *hierarchy);
/* The deepest level of any hierarchy: 0 when crisp made nothing anywhere. */
int rt_cgroup_created_max(const struct rt_cgroup_created *c);
/* Sets hierarchy's depth; EINVAL for a name that doesn't fit or a negative depth, ENOSPC when full. */
int rt_cgroup_created_set(struct rt_cgroup_created *c, const char *hierarchy, int depth, crisp_error_t **err);

/* What rt_cgroup_create(path) would make now: per hierarchy, how many trailing components of path
 * are missing (cgroup_plan.c). Recorded before the create, it lets a crash inside the create be undone
 * by rt_cgroup_remove without touching what existed before. */
int rt_cgroup_create_plan(const struct rt_cgroup_root *root, const char *path, struct rt_cgroup_created *ret,
                          crisp_error_t **err);
/* into gets, per hierarchy, the deeper of its own and from's depth. */
int rt_cgroup_created_merge(struct rt_cgroup_created *into, const struct rt_cgroup_created *from,
                            crisp_error_t **err);

/* Creates path (and any missing ancestors) in every hierarchy in use; on v1 the cpuset of each new
 * directory is copied from its parent so tasks can join. *ret_created tells, per hierarchy, how many
 * trailing components were created, so removal takes away only what crisp made. */
int rt_cgroup_create(const struct rt_cgroup_root *root, const char *path,
                     struct rt_cgroup_created *ret_created, crisp_error_t **err);

/* Writes resources (all or nothing: on a failure already written values are restored). */
int rt_cgroup_apply(const struct rt_cgroup_root *root, const char *path,
                    const struct rt_cgroup_resources *res, crisp_error_t **err);

/* For resources an earlier crispd applied to path (found again at start-up): the systemd driver keeps
 * the unified values systemd has no property for and writes them again, as after rt_cgroup_apply
 * (cgroup_systemd_reload.c says why); nothing to do for cgroupfs. */
int rt_cgroup_keep(const struct rt_cgroup_root *root, const char *path, const struct rt_cgroup_resources *res,
                   crisp_error_t **err);

/* Denies every device but the standard ones and extra_rules ("c 10:200 rwm", NULL-terminated):
 * the devices controller on cgroup v1, an eBPF program on v2. */
int rt_cgroup_devices_restrict(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                               crisp_error_t **err);

/* Moves pid into path in every hierarchy. */
int rt_cgroup_enter(const struct rt_cgroup_root *root, const char *path, pid_t pid, crisp_error_t **err);

/* Kills every process in path (and below) with SIGKILL, waits up to timeout_ms for them to go. */
int rt_cgroup_kill_all(const struct rt_cgroup_root *root, const char *path, int timeout_ms,
                       crisp_error_t **err);

/* In each hierarchy where created gives depth d > 0, removes path's directory (children first) and
 * then up to d - 1 of its ancestors when empty; where d is 0 the path is someone else's (kubelet's
 * pod cgroup) and is left alone. A missing directory is success; a busy one is EBUSY. */
int rt_cgroup_remove(const struct rt_cgroup_root *root, const char *path,
                     const struct rt_cgroup_created *created, crisp_error_t **err);

/* Pids in path (this level only); caller frees *ret_pids. */
int rt_cgroup_pids(const struct rt_cgroup_root *root, const char *path, pid_t **ret_pids, size_t *ret_n,
                   crisp_error_t **err);

#endif
