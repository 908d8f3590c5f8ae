#include "server/stats.h"

#include "common/cleanup.h"
#include "common/clock.h"
#include "runtime/stats/stats_cgroup.h"
#include "runtime/stats/stats_netdev.h"
#include "server/convert/kv.h"
#include "server/pb_values.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* The messages of one response share its arena; a NULL from an allocation sets oom, so that the
 * figures that are merely unavailable (NULL too) can be told from a failure. */
struct build {
    struct arena *a;
    bool oom;
};

/* The response outlives the runtime's info it is built from: strings are copied. */
static char *str_copy(struct build *b, const char *s)
{
    char *c = arena_strdup(b->a, s ? s : "");
    if (!c)
        b->oom = true;
    return c;
}

static void *msg_new(struct build *b, size_t size)
{
    void *m = arena_alloc(b->a, size);
    if (!m)
        b->oom = true;
    return m;
}

static Runtime__V1__UInt64Value *u64(struct build *b, uint64_t v)
{
    Runtime__V1__UInt64Value *m = srv_pb_u64(b->a, v);
    if (!m)
        b->oom = true;
    return m;
}

/* An id's kept cgroup files; id first: struct idvec's contract. */
struct srv_stats_files_entry {
    char *id;
    char *path;
    struct rt_stats_cgroup_files *files;
    unsigned refs;   /* the table's while kept, and each reader's */
    int64_t used_ms; /* monotonic, at the last call that took it */
};

#define FILES_CAPACITY_MAX 4096
/* A full table lets go of a handle no call took for this long (kubelet asks every 10 to 15 s): most
 * likely one whose container went without a forget, as when a call raced its removal. */
#define FILES_IDLE_MS (120 * 1000)

static void files_entry_free(struct srv_stats_files_entry *e)
{
    if (!e)
        return;
    rt_stats_cgroup_files_free(e->files);
    free(e->path);
    free(e->id);
    free(e);
}

/* Handles take at most a quarter of the fd limit, whatever it is: crispd's unit raises it to 2^20,
 * a shell often leaves 1024, and calls must not fail for want of fds. */
static size_t files_capacity(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 4 / RT_STATS_CGROUP_FILES_FDS_MAX >= FILES_CAPACITY_MAX)
        return FILES_CAPACITY_MAX;
    return rl.rlim_cur / 4 / RT_STATS_CGROUP_FILES_FDS_MAX;
}

static void files_init(struct srv_stats_files *t)
{
    *t = (struct srv_stats_files){.capacity = files_capacity()};
    pthread_mutex_init(&t->lock, NULL);
}

static struct srv_stats_files_entry *files_entry_at(const struct srv_stats_files *t, size_t i)
{
    return idvec_at(&t->entries, i);
}

/* No call may be running. */
static void files_fini(struct srv_stats_files *t)
{
    for (size_t i = 0; i < t->entries.n; i++)
        files_entry_free(files_entry_at(t, i));
    idvec_fini(&t->entries);
    pthread_mutex_destroy(&t->lock);
}

int srv_stats_init(struct srv_stats *s, const struct rt_cgroup_root *cgroups, const char *layers_mountpoint,
                   crisp_error_t **err)
{
    s->cgroups = cgroups;
    s->layers_mountpoint = layers_mountpoint;
    rt_stats_cpu_rate_init(&s->rates, 0, -1);
    if (rt_stats_fs_cache_init(&s->layers, 0, err) < 0) {
        rt_stats_cpu_rate_fini(&s->rates);
        return -1;
    }
    files_init(&s->files);
    return 0;
}

void srv_stats_fini(struct srv_stats *s)
{
    files_fini(&s->files);
    rt_stats_fs_cache_fini(&s->layers);
    rt_stats_cpu_rate_fini(&s->rates);
}

/* Takes the entry at i out of the table and drops the table's reference: the entry to free when
 * that was the last one, else NULL. The caller holds the lock, and frees after letting it go. */
static struct srv_stats_files_entry *files_remove_at(struct srv_stats_files *t, size_t i)
{
    struct srv_stats_files_entry *e = idvec_remove(&t->entries, i);
    return --e->refs == 0 ? e : NULL;
}

static void files_release(struct srv_stats_files *t, struct srv_stats_files_entry *e)
{
    pthread_mutex_lock(&t->lock);
    bool last = --e->refs == 0;
    pthread_mutex_unlock(&t->lock);
    if (last)
        files_entry_free(e);
}

/* Forgets id's handle, if it is e (or any, for e NULL). */
static void files_drop(struct srv_stats_files *t, const char *id, const struct srv_stats_files_entry *e)
{
    struct srv_stats_files_entry *gone = NULL;
    pthread_mutex_lock(&t->lock);
    bool found;
    size_t i = idvec_find(&t->entries, id, &found);
    if (found && (!e || files_entry_at(t, i) == e))
        gone = files_remove_at(t, i);
    pthread_mutex_unlock(&t->lock);
    files_entry_free(gone);
}

/* Id's kept entry, with a reference for the caller, when it serves path and want. */
static struct srv_stats_files_entry *files_lookup(struct srv_stats_files *t, const char *id, const char *path,
                                                  unsigned want, unsigned *ret_had_want)
{
    struct srv_stats_files_entry *e = NULL;
    *ret_had_want = 0;
    pthread_mutex_lock(&t->lock);
    bool found;
    size_t i = idvec_find(&t->entries, id, &found);
    struct srv_stats_files_entry *kept = found ? files_entry_at(t, i) : NULL;
    if (kept && strcmp(kept->path, path) == 0) {
        unsigned had = rt_stats_cgroup_files_want(kept->files);
        if ((had & want) == want) {
            e = kept;
            e->refs++;
            e->used_ms = clock_monotonic_ms();
        }
        *ret_had_want = had;
    }
    pthread_mutex_unlock(&t->lock);
    return e;
}

/* Makes room in a full table by letting go of its least recently used entry, if it has been idle
 * long enough: the entry to free, else NULL. The caller holds the lock. */
static struct srv_stats_files_entry *files_evict_idle(struct srv_stats_files *t, bool *ret_room)
{
    *ret_room = t->entries.n < t->capacity;
    if (*ret_room || t->entries.n == 0)
        return NULL;
    size_t oldest = 0;
    for (size_t i = 1; i < t->entries.n; i++)
        if (files_entry_at(t, i)->used_ms < files_entry_at(t, oldest)->used_ms)
            oldest = i;
    if (clock_monotonic_ms() - files_entry_at(t, oldest)->used_ms < FILES_IDLE_MS)
        return NULL;
    *ret_room = true;
    return files_remove_at(t, oldest);
}

/* Puts e in the table in place of any entry id has, when there is room. */
static void files_keep(struct srv_stats_files *t, struct srv_stats_files_entry *e)
{
    struct srv_stats_files_entry *gone = NULL;
    pthread_mutex_lock(&t->lock);
    bool found, room = true;
    size_t i = idvec_find(&t->entries, e->id, &found);
    if (found)
        gone = files_remove_at(t, i);
    else
        gone = files_evict_idle(t, &room);
    if (room) {
        /* Found again: an eviction moved the entries after it. Out of memory for the array, e
         * stays the caller's alone, as when the table is full. */
        i = idvec_find(&t->entries, e->id, &found);
        if (idvec_insert(&t->entries, i, e) == 0)
            e->refs++;
    }
    pthread_mutex_unlock(&t->lock);
    files_entry_free(gone);
}

/* Opens path's files for want, in an entry the caller holds a reference to; kept for id (NULL:
 * not kept) when the table has room and the handle is whole. had_want: what id's kept handle
 * had, so that metrics and stats calls end up sharing one that serves both. */
static struct srv_stats_files_entry *files_open(struct srv_stats *s, const char *id, const char *path,
                                                unsigned want, unsigned had_want)
{
    _cleanup_(rt_stats_cgroup_files_freep) struct rt_stats_cgroup_files *files = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    if (rt_stats_cgroup_files_open(s->cgroups, path, want | had_want, &files, &err) < 0) {
        if (id && err->status == ENOENT)
            files_drop(&s->files, id, NULL);
        return NULL;
    }
    struct srv_stats_files_entry *e = calloc(1, sizeof(*e));
    if (!e || !(e->path = strdup(path)) || (id && !(e->id = strdup(id)))) {
        files_entry_free(e);
        return NULL;
    }
    e->files = TAKE_PTR(files);
    e->refs = 1;
    e->used_ms = clock_monotonic_ms();
    if (id && !rt_stats_cgroup_files_partial(e->files))
        files_keep(&s->files, e);
    return e;
}

size_t srv_stats_cgroup_files_count(struct srv_stats *s)
{
    pthread_mutex_lock(&s->files.lock);
    size_t n = s->files.entries.n;
    pthread_mutex_unlock(&s->files.lock);
    return n;
}

void srv_stats_forget(struct srv_stats *s, const char *id)
{
    rt_stats_fs_cache_remove(&s->layers, id);
    rt_stats_cpu_rate_remove(&s->rates, id);
    if (id)
        files_drop(&s->files, id, NULL);
}

void srv_stats_forget_pod(struct srv_stats *s, struct rt_runtime *rt, const char *pod_id)
{
    struct rt_container_info **list = NULL;
    size_t n = 0;
    if (rt_container_info_list(rt, &list, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(list[i]->sandbox_id, pod_id) == 0)
                srv_stats_forget(s, list[i]->id);
        rt_container_info_list_free(list, n);
    }
    srv_stats_forget(s, pod_id);
}

static Runtime__V1__PsiData *psi_line(struct build *b, const struct rt_stats_psi_line *l)
{
    Runtime__V1__PsiData *d = msg_new(b, sizeof(*d));
    if (d) {
        runtime__v1__psi_data__init(d);
        d->total = l->total_us;
        d->avg10 = l->avg10;
        d->avg60 = l->avg60;
        d->avg300 = l->avg300;
    }
    return d;
}

/* v2 only: NULL where the kernel keeps no pressure figures. */
static Runtime__V1__PsiStats *psi_of(struct build *b, const struct rt_stats_psi *p)
{
    if (!p->available)
        return NULL;
    Runtime__V1__PsiStats *m = msg_new(b, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__psi_stats__init(m);
    m->some = psi_line(b, &p->some);
    m->full = p->has_full ? psi_line(b, &p->full) : NULL;
    return m;
}

/* usage_nano_cores only once there is an earlier sample to measure the rate against. */
static Runtime__V1__CpuUsage *cpu_of(struct srv_stats *s, struct build *b, const char *id,
                                     const struct rt_stats_cgroup *st)
{
    if (!st->cpu.available)
        return NULL;
    Runtime__V1__CpuUsage *m = msg_new(b, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__cpu_usage__init(m);
    m->timestamp = st->timestamp_ns;
    m->usage_core_nano_seconds = u64(b, st->cpu.usage_ns);
    uint64_t nano_cores = 0;
    if (rt_stats_cpu_rate_sample(&s->rates, id, st->timestamp_ns, st->cpu.usage_ns, &nano_cores, NULL) == 1)
        m->usage_nano_cores = u64(b, nano_cores);
    m->psi = psi_of(b, &st->cpu_pressure);
    return m;
}

static Runtime__V1__MemoryUsage *memory_of(struct build *b, const struct rt_stats_cgroup *st)
{
    const struct rt_stats_memory *mem = &st->memory;
    if (!mem->available)
        return NULL;
    Runtime__V1__MemoryUsage *m = msg_new(b, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__memory_usage__init(m);
    m->timestamp = st->timestamp_ns;
    m->working_set_bytes = u64(b, mem->working_set_bytes);
    m->available_bytes = mem->limited ? u64(b, mem->available_bytes) : NULL;
    m->usage_bytes = u64(b, mem->usage_bytes);
    m->rss_bytes = u64(b, mem->rss_bytes);
    m->page_faults = u64(b, mem->page_faults);
    m->major_page_faults = u64(b, mem->major_page_faults);
    m->psi = psi_of(b, &st->memory_pressure);
    return m;
}

static Runtime__V1__SwapUsage *swap_of(struct build *b, const struct rt_stats_cgroup *st)
{
    const struct rt_stats_memory *mem = &st->memory;
    if (!mem->available || !mem->has_swap)
        return NULL;
    Runtime__V1__SwapUsage *m = msg_new(b, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__swap_usage__init(m);
    m->timestamp = st->timestamp_ns;
    m->swap_usage_bytes = u64(b, mem->swap_bytes);
    if (mem->swap_limited)
        m->swap_available_bytes = u64(
            b, mem->swap_limit_bytes > mem->swap_bytes ? mem->swap_limit_bytes - mem->swap_bytes : 0);
    return m;
}

static Runtime__V1__IoUsage *io_of(struct build *b, const struct rt_stats_cgroup *st)
{
    if (!st->io_pressure.available)
        return NULL;
    Runtime__V1__IoUsage *m = msg_new(b, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__io_usage__init(m);
    m->timestamp = st->timestamp_ns;
    m->psi = psi_of(b, &st->io_pressure);
    return m;
}

bool srv_stats_layer_usage(struct srv_stats *s, const char *container_id, struct rt_stats_fs_usage *ret)
{
    int64_t age_ms;
    return rt_stats_fs_cache_get(&s->layers, container_id, ret, &age_ms, NULL) == 1;
}

/* The first call for a container registers its layer with the cache, whose thread measures it;
 * until then kubelet sees no writable-layer figure, as it does for a container just created. */
static Runtime__V1__FilesystemUsage *layer_of(struct srv_stats *s, struct build *b,
                                              const struct rt_container_info *c)
{
    struct rt_stats_fs_usage u;
    int64_t age_ms;
    int r = rt_stats_fs_cache_get(&s->layers, c->id, &u, &age_ms, NULL);
    if (r < 0 && c->upper_dir && c->upper_dir[0])
        rt_stats_fs_cache_add(&s->layers, c->id, c->upper_dir, NULL);
    if (r != 1)
        return NULL;
    Runtime__V1__FilesystemUsage *m = msg_new(b, sizeof(*m));
    Runtime__V1__FilesystemIdentifier *id = msg_new(b, sizeof(*id));
    if (!m || !id)
        return NULL;
    runtime__v1__filesystem_usage__init(m);
    runtime__v1__filesystem_identifier__init(id);
    id->mountpoint = (char *)s->layers_mountpoint;
    m->fs_id = id;
    m->timestamp = u.timestamp_ns;
    m->used_bytes = u64(b, u.used_bytes);
    m->inodes_used = u64(b, u.inodes);
    return m;
}

static Runtime__V1__ContainerAttributes *container_attributes(struct build *b,
                                                              const struct rt_container_info *c)
{
    Runtime__V1__ContainerAttributes *m = msg_new(b, sizeof(*m));
    Runtime__V1__ContainerMetadata *md = msg_new(b, sizeof(*md));
    if (!m || !md)
        return NULL;
    runtime__v1__container_attributes__init(m);
    runtime__v1__container_metadata__init(md);
    md->name = str_copy(b, c->name);
    md->attempt = c->attempt;
    m->id = str_copy(b, c->id);
    m->metadata = md;
    m->labels = (void *)srv_entries_of(b->a, &runtime__v1__container_attributes__labels_entry__descriptor,
                                       c->labels, c->n_labels);
    m->annotations = (void *)srv_entries_of(b->a,
                                            &runtime__v1__container_attributes__annotations_entry__descriptor,
                                            c->annotations, c->n_annotations);
    if ((c->n_labels && !m->labels) || (c->n_annotations && !m->annotations))
        b->oom = true;
    m->n_labels = c->n_labels;
    m->n_annotations = c->n_annotations;
    return m;
}

/* A kept handle that reads ENOENT goes; it may also be older than a cgroup made again at the same
 * path, or than a v2 file hidden since, so a new handle has the last word. */
bool srv_stats_cgroup_read(struct srv_stats *s, const char *id, const char *path, unsigned want,
                           struct rt_stats_cgroup *ret)
{
    if (!path || !path[0])
        return false;
    if (id && !id[0])
        id = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        unsigned had_want = 0;
        struct srv_stats_files_entry *e = id ? files_lookup(&s->files, id, path, want, &had_want) : NULL;
        bool fresh = !e;
        if (!e && !(e = files_open(s, id, path, want, had_want)))
            return false;
        _cleanup_error_ crisp_error_t *err = NULL;
        int r = rt_stats_cgroup_files_read(e->files, want, ret, &err);
        bool stale = r < 0 && err->status == ENOENT;
        if (stale && id)
            files_drop(&s->files, id, e);
        files_release(&s->files, e);
        if (!stale || fresh)
            return r == 0;
    }
    return false;
}

Runtime__V1__ContainerStats *srv_stats_container(struct srv_stats *s, struct arena *a,
                                                 const struct rt_container_info *c)
{
    struct build b = {a, false};
    Runtime__V1__ContainerStats *m = msg_new(&b, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__container_stats__init(m);
    m->attributes = container_attributes(&b, c);
    struct rt_stats_cgroup st;
    if (srv_stats_cgroup_read(s, c->id, c->cgroup_path, RT_STATS_CPU | RT_STATS_MEMORY | RT_STATS_PSI, &st)) {
        m->cpu = cpu_of(s, &b, c->id, &st);
        m->memory = memory_of(&b, &st);
        m->swap = swap_of(&b, &st);
        m->io = io_of(&b, &st);
    }
    m->writable_layer = layer_of(s, &b, c);
    return b.oom ? NULL : m;
}

static Runtime__V1__NetworkInterfaceUsage *interface_of(struct build *b,
                                                        const struct rt_stats_netdev_iface *i)
{
    Runtime__V1__NetworkInterfaceUsage *m = msg_new(b, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__network_interface_usage__init(m);
    m->name = str_copy(b, i->name);
    m->rx_bytes = u64(b, i->rx_bytes);
    m->rx_errors = u64(b, i->rx_errors);
    m->tx_bytes = u64(b, i->tx_bytes);
    m->tx_errors = u64(b, i->tx_errors);
    return m;
}

/* The pod's own namespace only: a pod on the host network has no counters of its own. */
static Runtime__V1__NetworkUsage *network_of(struct build *b, const struct rt_sandbox_info *p)
{
    struct rt_stats_netdev nd;
    if (!p->netns_path || !p->netns_path[0] || rt_stats_netdev_read(p->netns_path, &nd, NULL) < 0)
        return NULL;
    Runtime__V1__NetworkUsage *m = msg_new(b, sizeof(*m));
    Runtime__V1__NetworkInterfaceUsage **list = msg_new(b, (nd.n + 1) * sizeof(*list));
    if (!m || !list)
        return NULL;
    runtime__v1__network_usage__init(m);
    m->timestamp = clock_realtime_ns();
    for (size_t i = 0; i < nd.n; i++) {
        Runtime__V1__NetworkInterfaceUsage *u = interface_of(b, &nd.ifaces[i]);
        if (strcmp(nd.ifaces[i].name, nd.default_iface) == 0 && !m->default_interface)
            m->default_interface = u;
        else
            list[m->n_interfaces++] = u;
    }
    m->interfaces = list;
    return m;
}

static Runtime__V1__ProcessUsage *process_of(struct build *b, const struct rt_stats_cgroup *st)
{
    if (!st->pids.available)
        return NULL;
    Runtime__V1__ProcessUsage *m = msg_new(b, sizeof(*m));
    if (!m)
        return NULL;
    runtime__v1__process_usage__init(m);
    m->timestamp = st->timestamp_ns;
    m->process_count = u64(b, st->pids.current);
    return m;
}

static Runtime__V1__PodSandboxAttributes *pod_attributes(struct build *b, const struct rt_sandbox_info *p)
{
    Runtime__V1__PodSandboxAttributes *m = msg_new(b, sizeof(*m));
    Runtime__V1__PodSandboxMetadata *md = msg_new(b, sizeof(*md));
    if (!m || !md)
        return NULL;
    runtime__v1__pod_sandbox_attributes__init(m);
    runtime__v1__pod_sandbox_metadata__init(md);
    md->name = str_copy(b, p->name);
    md->uid = str_copy(b, p->uid);
    md->namespace_ = str_copy(b, p->namespace_);
    md->attempt = p->attempt;
    m->id = str_copy(b, p->id);
    m->metadata = md;
    m->labels = (void *)srv_entries_of(b->a, &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor,
                                       p->labels, p->n_labels);
    m->annotations = (void *)srv_entries_of(
        b->a, &runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor, p->annotations,
        p->n_annotations);
    if ((p->n_labels && !m->labels) || (p->n_annotations && !m->annotations))
        b->oom = true;
    m->n_labels = p->n_labels;
    m->n_annotations = p->n_annotations;
    return m;
}

Runtime__V1__PodSandboxStats *srv_stats_pod(struct srv_stats *s, struct arena *a,
                                            const struct rt_sandbox_info *p,
                                            Runtime__V1__ContainerStats **containers, size_t n_containers)
{
    struct build b = {a, false};
    Runtime__V1__PodSandboxStats *m = msg_new(&b, sizeof(*m));
    Runtime__V1__LinuxPodSandboxStats *l = msg_new(&b, sizeof(*l));
    if (!m || !l)
        return NULL;
    runtime__v1__pod_sandbox_stats__init(m);
    runtime__v1__linux_pod_sandbox_stats__init(l);
    m->attributes = pod_attributes(&b, p);
    m->linux = l;
    struct rt_stats_cgroup st;
    if (srv_stats_cgroup_read(s, p->id, p->cgroup_path,
                              RT_STATS_CPU | RT_STATS_MEMORY | RT_STATS_PIDS | RT_STATS_PSI, &st)) {
        l->cpu = cpu_of(s, &b, p->id, &st);
        l->memory = memory_of(&b, &st);
        l->process = process_of(&b, &st);
        l->io = io_of(&b, &st);
    }
    if (p->state == RT_SANDBOX_READY)
        l->network = network_of(&b, p);
    l->containers = containers;
    l->n_containers = n_containers;
    return b.oom ? NULL : m;
}
