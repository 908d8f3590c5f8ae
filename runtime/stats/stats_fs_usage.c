#define _GNU_SOURCE
#include "runtime/stats/stats_fs_usage.h"

#include "common/cleanup.h"
#include "common/clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_MAX 256

/* Inode numbers of multiply linked files already counted: open addressing, 0 marks a free slot
 * (inode 0 is kept apart). */
struct inode_set {
    uint64_t *slots;
    size_t n, cap;
    bool has_zero;
};

static void inode_set_fini(struct inode_set *s)
{
    free(s->slots);
    s->slots = NULL;
}

static size_t slot_of(uint64_t ino, size_t cap)
{
    return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 7) & (cap - 1);
}

static bool inode_set_put(uint64_t *slots, size_t cap, uint64_t ino)
{
    size_t i = slot_of(ino, cap);
    while (slots[i] && slots[i] != ino)
        i = (i + 1) & (cap - 1);
    if (slots[i] == ino)
        return false;
    slots[i] = ino;
    return true;
}

static int inode_set_grow(struct inode_set *s)
{
    size_t cap = s->cap ? s->cap * 2 : 256;
    uint64_t *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i])
            inode_set_put(slots, cap, s->slots[i]);
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

/* 1: ino is new, 0: seen before, -1: out of memory. */
static int inode_set_add(struct inode_set *s, uint64_t ino)
{
    if (ino == 0) {
        bool had = s->has_zero;
        s->has_zero = true;
        return had ? 0 : 1;
    }
    if ((s->n + 1) * 2 > s->cap && inode_set_grow(s) < 0)
        return -1;
    if (!inode_set_put(s->slots, s->cap, ino))
        return 0;
    s->n++;
    return 1;
}

struct walk {
    dev_t dev;
    const atomic_bool *cancel;
    struct inode_set links;
    struct rt_stats_fs_usage *usage;
    crisp_error_t **err;
};

static int count(struct walk *w, const struct stat *st)
{
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1) {
        int r = inode_set_add(&w->links, st->st_ino);
        if (r < 0)
            return crisp_error_oom(w->err);
        if (r == 0)
            return 0;
    }
    w->usage->used_bytes += (uint64_t)st->st_blocks * 512;
    w->usage->inodes++;
    return 0;
}

static int walk_dir(struct walk *w, int fd, int depth);

/* One entry of the directory open at dfd. */
static int walk_entry(struct walk *w, int dfd, const char *name, int depth)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : crisp_error_errno(w->err, "stat %s", name);
    /* Another filesystem mounted here: its usage is not the layer's. */
    if (st.st_dev != w->dev)
        return 0;
    if (count(w, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return 0;
    if (depth + 1 >= RT_STATS_FS_DEPTH_MAX) {
        w->usage->truncated = true;
        return 0;
    }
    int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == ELOOP
                   ? 0
                   : crisp_error_errno(w->err, "open %s", name);
    return walk_dir(w, sub, depth + 1);
}

/* Walks the directory open at fd, which it takes over. */
static int walk_dir(struct walk *w, int fd, int depth)
{
    _cleanup_closedir_ DIR *dir = fdopendir(fd);
    if (!dir) {
        close(fd);
        return crisp_error_errno(w->err, "read directory");
    }
    for (;;) {
        if (w->cancel && atomic_load(w->cancel))
            return crisp_error_make(w->err, ECANCELED, "walk cancelled");
        errno = 0;
        struct dirent *de = readdir(dir);
        if (!de)
            return errno ? crisp_error_errno(w->err, "read directory") : 0;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (walk_entry(w, dirfd(dir), de->d_name, depth) < 0)
            return -1;
    }
}

int rt_stats_fs_walk(const char *path, const atomic_bool *cancel, struct rt_stats_fs_usage *ret,
                     crisp_error_t **err)
{
    *ret = (struct rt_stats_fs_usage){0};
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return crisp_error_errno(err, "walk %s", path);
    struct walk w = {.dev = st.st_dev, .cancel = cancel, .usage = ret, .err = err};
    /* The root counts as du counts it; nothing links to a directory, so count() cannot fail here. */
    count(&w, &st);
    int r = walk_dir(&w, TAKE_FD(fd), 0);
    inode_set_fini(&w.links);
    if (r < 0)
        return crisp_error_wrap(err, "walk %s", path);
    ret->timestamp_ns = clock_realtime_ns();
    return 0;
}

/* id first: struct idvec's contract. */
struct rt_stats_fs_entry {
    char *id, *path;
    uint64_t serial;
    int64_t added_ms;
    int64_t attempt_ms; /* the last walk, done or failed; 0: none yet */
    bool has_figure;
    int64_t figure_ms;
    struct rt_stats_fs_usage usage;
};

static void entry_free(struct rt_stats_fs_entry *e)
{
    if (!e)
        return;
    free(e->id);
    free(e->path);
    free(e);
}

static struct rt_stats_fs_entry *entry_at(const struct rt_stats_fs_cache *c, size_t i)
{
    return idvec_at(&c->entries, i);
}

static struct rt_stats_fs_entry *lookup(const struct rt_stats_fs_cache *c, const char *id)
{
    bool found;
    size_t i = idvec_find(&c->entries, id, &found);
    return found ? entry_at(c, i) : NULL;
}

/* The entry to walk next: never walked ones first, in the order they came, then the stalest figure
 * once older than max_age. NULL with *ret_wait_ms until the next one is due. */
static struct rt_stats_fs_entry *due(const struct rt_stats_fs_cache *c, int64_t now, int64_t *ret_wait_ms)
{
    struct rt_stats_fs_entry *fresh = NULL, *stale = NULL;
    *ret_wait_ms = c->max_age_ms;
    for (size_t i = 0; i < c->entries.n; i++) {
        struct rt_stats_fs_entry *e = entry_at(c, i);
        if (e->attempt_ms == 0) {
            if (!fresh || e->added_ms < fresh->added_ms)
                fresh = e;
            continue;
        }
        int64_t wait = e->attempt_ms + c->max_age_ms - now;
        if (wait <= 0 && (!stale || e->attempt_ms < stale->attempt_ms))
            stale = e;
        else if (wait > 0 && wait < *ret_wait_ms)
            *ret_wait_ms = wait;
    }
    return fresh ? fresh : stale;
}

static void wait_ms(struct rt_stats_fs_cache *c, int64_t ms)
{
    struct timespec until = clock_timespec_after_ms(CLOCK_MONOTONIC, ms);
    pthread_cond_timedwait(&c->wake, &c->lock, &until);
}

/* Records a walk's outcome, unless its entry was removed (or re-added) meanwhile. */
static void walk_done(struct rt_stats_fs_cache *c, const char *id, uint64_t serial, int r,
                      const struct rt_stats_fs_usage *usage)
{
    struct rt_stats_fs_entry *e = lookup(c, id);
    c->walks++;
    if (!e || e->serial != serial)
        return;
    e->attempt_ms = clock_monotonic_ms();
    if (r < 0)
        return;
    e->usage = *usage;
    e->has_figure = true;
    e->figure_ms = e->attempt_ms;
}

/* Walks one entry with the lock released; returns how long the walk took. */
static int64_t walk_one(struct rt_stats_fs_cache *c, struct rt_stats_fs_entry *e)
{
    _cleanup_free_ char *id = strdup(e->id), *path = strdup(e->path);
    uint64_t serial = e->serial;
    if (!id || !path) {
        e->attempt_ms = clock_monotonic_ms(); /* try again after max_age, not in a loop */
        return 0;
    }
    pthread_mutex_unlock(&c->lock);
    int64_t start = clock_monotonic_ms();
    struct rt_stats_fs_usage usage;
    crisp_error_t *err = NULL;
    int r = rt_stats_fs_walk(path, &c->stop, &usage, &err);
    crisp_error_free(err);
    int64_t took = clock_monotonic_ms() - start;
    pthread_mutex_lock(&c->lock);
    walk_done(c, id, serial, r, &usage);
    return took;
}

static void *refresher_run(void *arg)
{
    struct rt_stats_fs_cache *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!atomic_load(&c->stop)) {
        int64_t wait;
        struct rt_stats_fs_entry *e = due(c, clock_monotonic_ms(), &wait);
        if (!e) {
            wait_ms(c, wait);
            continue;
        }
        int64_t took = walk_one(c, e);
        /* Rest as long as the walk took: big layers cost at most half of one thread's time and I/O. */
        if (took > 0 && !atomic_load(&c->stop))
            wait_ms(c, took < c->max_age_ms ? took : c->max_age_ms);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int rt_stats_fs_cache_init(struct rt_stats_fs_cache *c, int64_t max_age_ms, crisp_error_t **err)
{
    *c = (struct rt_stats_fs_cache){.max_age_ms = max_age_ms > 0 ? max_age_ms
                                                                 : RT_STATS_FS_DEFAULT_MAX_AGE_MS};
    atomic_init(&c->stop, false);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&c->lock, NULL);
    int r = pthread_create(&c->thread, NULL, refresher_run, c);
    if (r != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        errno = r;
        return crisp_error_errno(err, "start the writable-layer usage refresher");
    }
    c->started = true;
    return 0;
}

void rt_stats_fs_cache_fini(struct rt_stats_fs_cache *c)
{
    if (!c->started)
        return;
    atomic_store(&c->stop, true);
    pthread_mutex_lock(&c->lock);
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    for (size_t i = 0; i < c->entries.n; i++)
        entry_free(entry_at(c, i));
    idvec_fini(&c->entries);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    c->started = false;
}

static int entry_new(const char *id, const char *path, struct rt_stats_fs_entry **ret, crisp_error_t **err)
{
    struct rt_stats_fs_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return crisp_error_oom(err);
    e->id = strdup(id);
    e->path = strdup(path);
    if (!e->id || !e->path) {
        entry_free(e);
        return crisp_error_oom(err);
    }
    *ret = e;
    return 0;
}

static int insert(struct rt_stats_fs_cache *c, size_t at, struct rt_stats_fs_entry *e, crisp_error_t **err)
{
    if (c->entries.n >= RT_STATS_FS_CACHE_MAX)
        return crisp_error_make(err, ENOSPC, "writable-layer usage cache is full (%d entries)",
                                RT_STATS_FS_CACHE_MAX);
    if (idvec_insert(&c->entries, at, e) < 0)
        return crisp_error_oom(err);
    return 0;
}

static bool id_ok(const char *id)
{
    return id && id[0] && strnlen(id, ID_MAX + 1) <= ID_MAX;
}

int rt_stats_fs_cache_add(struct rt_stats_fs_cache *c, const char *id, const char *path, crisp_error_t **err)
{
    if (!id_ok(id))
        return crisp_error_make(err, EINVAL, "invalid id for writable-layer usage");
    if (!path || path[0] != '/')
        return crisp_error_make(err, EINVAL, "writable layer path \"%s\" is not absolute", path ? path : "");
    struct rt_stats_fs_entry *e = NULL;
    if (entry_new(id, path, &e, err) < 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    e->serial = ++c->serial;
    e->added_ms = clock_monotonic_ms();
    bool found;
    size_t at = idvec_find(&c->entries, id, &found);
    int r = 0;
    if (found) {
        /* Same id, same place in the order. */
        entry_free(entry_at(c, at));
        c->entries.items[at] = e;
    } else if ((r = insert(c, at, e, err)) < 0) {
        entry_free(e);
    }
    if (r == 0)
        pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    return r;
}

void rt_stats_fs_cache_remove(struct rt_stats_fs_cache *c, const char *id)
{
    if (!id)
        return;
    pthread_mutex_lock(&c->lock);
    entry_free(idvec_take(&c->entries, id));
    pthread_mutex_unlock(&c->lock);
}

int rt_stats_fs_cache_get(struct rt_stats_fs_cache *c, const char *id, struct rt_stats_fs_usage *ret,
                          int64_t *ret_age_ms, crisp_error_t **err)
{
    if (!id_ok(id))
        return crisp_error_make(err, EINVAL, "invalid id for writable-layer usage");
    pthread_mutex_lock(&c->lock);
    struct rt_stats_fs_entry *e = lookup(c, id);
    int r = e ? (e->has_figure ? 1 : 0) : -1;
    if (r > 0) {
        *ret = e->usage;
        *ret_age_ms = clock_monotonic_ms() - e->figure_ms;
    }
    pthread_mutex_unlock(&c->lock);
    if (r < 0)
        return crisp_error_make(err, ENOENT, "no writable-layer usage kept for %s", id);
    return r;
}

uint64_t rt_stats_fs_cache_walks(struct rt_stats_fs_cache *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->walks;
    pthread_mutex_unlock(&c->lock);
    return n;
}
