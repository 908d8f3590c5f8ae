#include "server/stats.h"

#include "common/clock.h"
#include "server/convert/kv.h"
#include "server/pb_values.h"
#include "runtime/stats_cgroup.h"
#include "runtime/stats_netdev.h"

#include <errno.h>
#include <string.h>

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
    return 0;
}

void srv_stats_fini(struct srv_stats *s)
{
    rt_stats_fs_cache_fini(&s->layers);
    rt_stats_cpu_rate_fini(&s->rates);
}

void srv_stats_forget(struct srv_stats *s, const char *id)
{
    rt_stats_fs_cache_remove(&s->layers, id);
    rt_stats_cpu_rate_remove(&s->rates, id);
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
        m->swap_available_bytes =
            u64(b, mem->swap_limit_bytes > mem->swap_bytes ? mem->swap_limit_bytes - mem->swap_bytes : 0);
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
static Runtime__V1__FilesystemUsage *layer_of(struct srv_stats *s, struct build *b, const struct rt_container_info *c)
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

static Runtime__V1__ContainerAttributes *container_attributes(struct build *b, const struct rt_container_info *c)
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
    m->annotations = (void *)srv_entries_of(b->a, &runtime__v1__container_attributes__annotations_entry__descriptor,
                                            c->annotations, c->n_annotations);
    if ((c->n_labels && !m->labels) || (c->n_annotations && !m->annotations))
        b->oom = true;
    m->n_labels = c->n_labels;
    m->n_annotations = c->n_annotations;
    return m;
}

bool srv_stats_cgroup_read(struct srv_stats *s, const char *path, unsigned want, struct rt_stats_cgroup *ret)
{
    return path && path[0] && rt_stats_cgroup_read_root(s->cgroups, path, want, ret, NULL) == 0;
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
    if (srv_stats_cgroup_read(s, c->cgroup_path, RT_STATS_CPU | RT_STATS_MEMORY | RT_STATS_PSI, &st)) {
        m->cpu = cpu_of(s, &b, c->id, &st);
        m->memory = memory_of(&b, &st);
        m->swap = swap_of(&b, &st);
        m->io = io_of(&b, &st);
    }
    m->writable_layer = layer_of(s, &b, c);
    return b.oom ? NULL : m;
}

static Runtime__V1__NetworkInterfaceUsage *interface_of(struct build *b, const struct rt_stats_netdev_iface *i)
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
    m->annotations = (void *)srv_entries_of(b->a, &runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor,
                                            p->annotations, p->n_annotations);
    if ((p->n_labels && !m->labels) || (p->n_annotations && !m->annotations))
        b->oom = true;
    m->n_labels = p->n_labels;
    m->n_annotations = p->n_annotations;
    return m;
}

Runtime__V1__PodSandboxStats *srv_stats_pod(struct srv_stats *s, struct arena *a, const struct rt_sandbox_info *p,
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
    if (srv_stats_cgroup_read(s, p->cgroup_path, RT_STATS_CPU | RT_STATS_MEMORY | RT_STATS_PIDS | RT_STATS_PSI, &st)) {
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
