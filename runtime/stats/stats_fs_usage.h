/* Disk use of containers' writable layers for CRI's WritableLayer: bytes (st_blocks * 512, a hard
 * linked inode counted once) and inodes of a directory tree. A walk costs a getdents and a stat
 * per file, far too much for kubelet's stats calls, so they read a cache that one background
 * thread keeps fresh: it walks, one at a time, the entries whose figure is older than max_age,
 * never walked ones first, and rests after each walk as long as the walk took, so that big layers
 * cost at most half of one thread's time and disk. A failed walk (a removed directory) is retried
 * after max_age, keeping the last figure.
 *
 * A stats call never walks. An entry not walked yet has no figure ("not yet available"), and
 * kubelet leaves the container's rootfs usage unknown until its next poll; adding an entry wakes
 * the refresher, which walks it at once (a new container's upper directory is nearly empty), so the
 * first poll usually finds a figure. A synchronous first walk would instead put every container's
 * walk on kubelet's path after a crispd restart, which re-adds them all at once. */
#ifndef CRISP_RUNTIME_STATS_FS_USAGE_H
#define CRISP_RUNTIME_STATS_FS_USAGE_H

#include "common/error.h"
#include "common/idvec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Directories nested deeper are counted but not entered (and the figure is marked truncated). */
#define RT_STATS_FS_DEPTH_MAX 128
/* containerd's CRI refreshes its snapshot usage every 10 s (stats_collect_period), the period at
 * which kubelet polls: a figure is at most about one poll old. */
#define RT_STATS_FS_DEFAULT_MAX_AGE_MS 10000
#define RT_STATS_FS_CACHE_MAX 65536

struct rt_stats_fs_usage {
    uint64_t used_bytes;
    uint64_t inodes;
    bool truncated;       /* some directory was too deep to enter */
    int64_t timestamp_ns; /* realtime when the walk ended */
};

/* Walks the tree at path without following symlinks or crossing into other mounts. cancel (may
 * be NULL) is checked at every entry: once set, the walk stops with ECANCELED. A file vanishing
 * during the walk is skipped; a missing path is ENOENT. */
int rt_stats_fs_walk(const char *path, const atomic_bool *cancel, struct rt_stats_fs_usage *ret,
                     crisp_error_t **err);

struct rt_stats_fs_entry;

/* The fields are private; the lock guards all but thread and stop. */
struct rt_stats_fs_cache {
    pthread_mutex_t lock;
    pthread_cond_t wake;  /* CLOCK_MONOTONIC: an entry added, or stop */
    struct idvec entries; /* of struct rt_stats_fs_entry, sorted by id */
    int64_t max_age_ms;
    uint64_t serial; /* tells a re-added id from the one being walked */
    uint64_t walks;  /* walks done, for tests */
    atomic_bool stop;
    bool started;
    pthread_t thread;
};

/* Starts the refresher. max_age_ms <= 0: RT_STATS_FS_DEFAULT_MAX_AGE_MS. */
int rt_stats_fs_cache_init(struct rt_stats_fs_cache *c, int64_t max_age_ms, crisp_error_t **err);

/* Stops the refresher (a walk in progress stops at its next file) and joins it, then frees the
 * entries. */
void rt_stats_fs_cache_fini(struct rt_stats_fs_cache *c);

/* Starts keeping id's figure for the tree at path; adding a known id replaces its path and drops
 * its figure. ENOSPC beyond RT_STATS_FS_CACHE_MAX entries. */
int rt_stats_fs_cache_add(struct rt_stats_fs_cache *c, const char *id, const char *path, crisp_error_t **err);

/* Forgets id; an unknown id is fine. */
void rt_stats_fs_cache_remove(struct rt_stats_fs_cache *c, const char *id);

/* id's last figure and its age in ms (on the monotonic clock): 1 when there is one, 0 when id was
 * not walked yet (or its walks failed so far), ENOENT for an unknown id. */
int rt_stats_fs_cache_get(struct rt_stats_fs_cache *c, const char *id, struct rt_stats_fs_usage *ret,
                          int64_t *ret_age_ms, crisp_error_t **err);

/* Walks completed so far, for tests. */
uint64_t rt_stats_fs_cache_walks(struct rt_stats_fs_cache *c);

#endif
