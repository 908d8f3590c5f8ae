/* Private to runtime/cgroup/cgroup_systemd*.c: the systemd driver's connection and what it keeps. */
#ifndef CRISP_RUNTIME_CGROUP_SYSTEMD_INTERNAL_H
#define CRISP_RUNTIME_CGROUP_SYSTEMD_INTERNAL_H

#include "runtime/cgroup/cgroup.h"

#include <pthread.h>
#include <stdbool.h>
#include <systemd/sd-bus.h>

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"

/* A unified value systemd has no unit property for (memory.oom.group on systemd 252). systemd writes
 * its own default to such a file whenever it applies the unit's properties: SetUnitProperties and
 * every daemon-reload. crisp keeps them here and writes them again after both. */
struct rt_sd_kept {
    char *path; /* the cgroup path, "/kubepods.slice/.../crisp-<id>.scope" */
    char *file; /* the interface file, below the mount */
    char *value;
};

struct rt_cgroup_systemd {
    /* Guards everything below: sd-bus objects are not thread-safe, and a job's end is a signal read
     * on the same connection. A leaf lock: taken under a pod's or container's lock for one exchange
     * with systemd (at most JOB_TIMEOUT_MS), and nothing is taken while it is held. */
    pthread_mutex_t lock;
    sd_bus *bus;
    char *hold;              /* crisp-hold's path */
    const char *awaited_job; /* the job whose JobRemoved ends job_wait */
    char job_result[32];     /* its result: "done", "failed", "canceled", ... */
    struct rt_sd_kept *kept;
    size_t n_kept;
    /* The watcher thread reads signals between calls (Reloading, and the ones nobody waits for). */
    pthread_t watcher;
    bool watching, stop_watching;
    int watcher_wake; /* an eventfd; -1 */
};

/* cgroup_systemd.c: connects (or reconnects) and subscribes; success when connected already. */
int rt_sd_bus_connect_locked(struct rt_cgroup_systemd *s, crisp_error_t **err);

/* cgroup_systemd_reload.c. The values of res->unified that no property carries, as path's now
 * (all or nothing). */
int rt_sd_kept_set_locked(struct rt_cgroup_systemd *s, const struct rt_cgroup_root *root, const char *path,
                          const struct rt_cgroup_resources *res, crisp_error_t **err);
/* Writes path's kept values again, or everyone's; best effort (a cgroup may be going away). */
void rt_sd_kept_write_locked(struct rt_cgroup_systemd *s, const char *path);
void rt_sd_kept_write_all_locked(struct rt_cgroup_systemd *s);
/* Forgets path's values and those of the cgroups below it. */
void rt_sd_kept_drop_locked(struct rt_cgroup_systemd *s, const char *path);
void rt_sd_kept_fini(struct rt_cgroup_systemd *s);
/* The Reloading(b) signal's handler: at the end of a reload the kept values are written again. */
int rt_sd_on_reloading(sd_bus_message *m, void *userdata, sd_bus_error *ret_error);
int rt_sd_watcher_start(struct rt_cgroup_systemd *s, crisp_error_t **err);
void rt_sd_watcher_stop(struct rt_cgroup_systemd *s);

#endif
