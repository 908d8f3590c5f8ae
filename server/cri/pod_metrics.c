/* ListMetricDescriptors, ListPodSandboxMetrics and StreamPodSandboxMetrics: the cAdvisor series that
 * kubelet's /metrics/cadvisor serves when it takes them from the runtime, with the names, help texts
 * and label keys cAdvisor uses (base labels id, name, image, as CRI-O sends them). Values are
 * UInt64, so "_seconds" series are whole seconds, as CRI-O reports them. They are derived from the
 * same figures as the stats RPCs (server/stats.c). */
#include "server/handlers.h"

#include "common/clock.h"
#include "runtime/stats/stats_cgroup.h"
#include "runtime/stats/stats_netdev.h"
#include "server/daemon.h"
#include "server/pb_values.h"
#include "server/stats.h"

#include <errno.h>
#include <string.h>

enum labels { LABELS_BASE, LABELS_CPU, LABELS_INTERFACE, LABELS_FAILURE, LABELS_DEVICE };

struct descriptor {
    const char *name, *help;
    enum labels labels;
    Runtime__V1__MetricType type;
};

static const struct descriptor descriptors[] = {
#define COUNTER RUNTIME__V1__METRIC_TYPE__COUNTER
#define GAUGE RUNTIME__V1__METRIC_TYPE__GAUGE
    {"container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", LABELS_BASE,
     COUNTER},
    {"container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", LABELS_BASE,
     COUNTER},
    {"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", LABELS_CPU, COUNTER},
    {"container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", LABELS_BASE,
     COUNTER},
    {"container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", LABELS_BASE,
     COUNTER},
    {"container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.",
     LABELS_BASE, COUNTER},
    {"container_memory_usage_bytes",
     "Current memory usage in bytes, including all memory regardless of when it was "
     "accessed",
     LABELS_BASE, GAUGE},
    {"container_memory_working_set_bytes", "Current working set in bytes.", LABELS_BASE, GAUGE},
    {"container_memory_rss", "Size of RSS in bytes.", LABELS_BASE, GAUGE},
    {"container_memory_swap", "Container swap usage in bytes.", LABELS_BASE, GAUGE},
    {"container_memory_failures_total", "Cumulative count of memory allocation failures.", LABELS_FAILURE,
     COUNTER},
    {"container_spec_memory_limit_bytes", "Memory limit for the container.", LABELS_BASE, GAUGE},
    {"container_processes", "Number of processes running inside the container.", LABELS_BASE, GAUGE},
    {"container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.",
     LABELS_DEVICE, GAUGE},
    {"container_fs_inodes_used", "Number of inodes used by the container on this filesystem.", LABELS_DEVICE,
     GAUGE},
    {"container_network_receive_bytes_total", "Cumulative count of bytes received", LABELS_INTERFACE,
     COUNTER},
    {"container_network_receive_packets_total", "Cumulative count of packets received", LABELS_INTERFACE,
     COUNTER},
    {"container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving",
     LABELS_INTERFACE, COUNTER},
    {"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving",
     LABELS_INTERFACE, COUNTER},
    {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", LABELS_INTERFACE,
     COUNTER},
    {"container_network_transmit_packets_total", "Cumulative count of packets transmitted", LABELS_INTERFACE,
     COUNTER},
    {"container_network_transmit_packets_dropped_total",
     "Cumulative count of packets dropped while transmitting", LABELS_INTERFACE, COUNTER},
    {"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting",
     LABELS_INTERFACE, COUNTER},
#undef COUNTER
#undef GAUGE
};

static const char *const base_keys[] = {"id", "name", "image"};
static const char *const extra_key[] = {
    [LABELS_CPU] = "cpu", [LABELS_INTERFACE] = "interface", [LABELS_DEVICE] = "device"};

static const struct descriptor *descriptor_named(const char *name)
{
    for (size_t i = 0; i < sizeof(descriptors) / sizeof(descriptors[0]); i++)
        if (strcmp(descriptors[i].name, name) == 0)
            return &descriptors[i];
    return NULL;
}

static size_t label_keys(enum labels l, const char **ret)
{
    size_t n = 0;
    for (; n < 3; n++)
        ret[n] = base_keys[n];
    if (l == LABELS_FAILURE) {
        ret[n++] = "failure_type";
        ret[n++] = "scope";
    } else if (l != LABELS_BASE) {
        ret[n++] = extra_key[l];
    }
    return n;
}

int srv_metric_descriptors_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                                crisp_error_t **err)
{
    (void)req;
    size_t n = sizeof(descriptors) / sizeof(descriptors[0]);
    Runtime__V1__ListMetricDescriptorsResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    Runtime__V1__MetricDescriptor **list = arena_alloc(ctx->arena, n * sizeof(*list));
    if (!resp || !list)
        return crisp_error_oom(err);
    runtime__v1__list_metric_descriptors_response__init(resp);
    for (size_t i = 0; i < n; i++) {
        Runtime__V1__MetricDescriptor *d = arena_alloc(ctx->arena, sizeof(*d));
        const char **keys = arena_alloc(ctx->arena, 5 * sizeof(*keys));
        if (!d || !keys)
            return crisp_error_oom(err);
        runtime__v1__metric_descriptor__init(d);
        d->name = (char *)descriptors[i].name;
        d->help = (char *)descriptors[i].help;
        d->n_label_keys = label_keys(descriptors[i].labels, keys);
        d->label_keys = (char **)keys;
        list[i] = d;
    }
    resp->descriptors = list;
    resp->n_descriptors = n;
    *ret_resp = &resp->base;
    return 0;
}

/* The metrics of one pod or container, grown in the arena. */
struct metrics {
    struct arena *a;
    int64_t timestamp;
    const char *id, *name, *image;
    Runtime__V1__Metric **items;
    size_t n, alloc;
    bool oom;
};

static bool metrics_grow(struct metrics *m)
{
    if (m->n < m->alloc)
        return true;
    size_t alloc = m->alloc ? m->alloc * 2 : 16;
    Runtime__V1__Metric **items = arena_alloc(m->a, alloc * sizeof(*items));
    if (!items)
        return false;
    if (m->n)
        memcpy(items, m->items, m->n * sizeof(*items));
    m->items = items;
    m->alloc = alloc;
    return true;
}

/* extra: the values of the descriptor's labels beyond the base ones (NULL-terminated). */
static void metric_add(struct metrics *m, const char *name, uint64_t value, const char *const *extra)
{
    const struct descriptor *d = descriptor_named(name);
    Runtime__V1__Metric *x = arena_alloc(m->a, sizeof(*x));
    char **values = arena_alloc(m->a, 5 * sizeof(*values));
    if (!x || !values || !metrics_grow(m)) {
        m->oom = true;
        return;
    }
    runtime__v1__metric__init(x);
    x->name = (char *)d->name;
    x->timestamp = m->timestamp;
    x->metric_type = d->type;
    size_t n = 0;
    values[n++] = (char *)m->id;
    values[n++] = (char *)m->name;
    values[n++] = (char *)m->image;
    for (; extra && *extra && n < 5; extra++)
        values[n++] = (char *)*extra;
    x->label_values = values;
    x->n_label_values = n;
    if (!(x->value = srv_pb_u64(m->a, value)))
        m->oom = true;
    m->items[m->n++] = x;
}

#define NS_PER_S 1000000000ULL

static void cpu_metrics(struct metrics *m, const struct rt_stats_cpu *cpu)
{
    static const char *const total[] = {"total", NULL};
    if (!cpu->available)
        return;
    metric_add(m, "container_cpu_usage_seconds_total", cpu->usage_ns / NS_PER_S, total);
    if (cpu->has_user_system) {
        metric_add(m, "container_cpu_user_seconds_total", cpu->user_ns / NS_PER_S, NULL);
        metric_add(m, "container_cpu_system_seconds_total", cpu->system_ns / NS_PER_S, NULL);
    }
    if (cpu->has_throttling) {
        metric_add(m, "container_cpu_cfs_periods_total", cpu->periods, NULL);
        metric_add(m, "container_cpu_cfs_throttled_periods_total", cpu->throttled_periods, NULL);
        metric_add(m, "container_cpu_cfs_throttled_seconds_total", cpu->throttled_ns / NS_PER_S, NULL);
    }
}

static void memory_metrics(struct metrics *m, const struct rt_stats_memory *mem)
{
    static const char *const pgfault[] = {"pgfault", "container", NULL};
    static const char *const pgmajfault[] = {"pgmajfault", "container", NULL};
    if (!mem->available)
        return;
    metric_add(m, "container_memory_usage_bytes", mem->usage_bytes, NULL);
    metric_add(m, "container_memory_working_set_bytes", mem->working_set_bytes, NULL);
    metric_add(m, "container_memory_rss", mem->rss_bytes, NULL);
    metric_add(m, "container_memory_failures_total", mem->page_faults, pgfault);
    metric_add(m, "container_memory_failures_total", mem->major_page_faults, pgmajfault);
    if (mem->has_swap)
        metric_add(m, "container_memory_swap", mem->swap_bytes, NULL);
    metric_add(m, "container_spec_memory_limit_bytes", mem->limited ? mem->limit_bytes : 0, NULL);
}

static void cgroup_metrics(struct srv_stats *s, struct metrics *m, const char *cgroup_path)
{
    struct rt_stats_cgroup st;
    if (!srv_stats_cgroup_read(s, m->id, cgroup_path, RT_STATS_ALL, &st))
        return;
    m->timestamp = st.timestamp_ns;
    cpu_metrics(m, &st.cpu);
    memory_metrics(m, &st.memory);
    if (st.pids.available)
        metric_add(m, "container_processes", st.pids.current, NULL);
}

static void layer_metrics(struct srv_stats *s, struct metrics *m, const char *container_id)
{
    struct rt_stats_fs_usage u;
    if (!srv_stats_layer_usage(s, container_id, &u))
        return;
    const char *const device[] = {s->layers_mountpoint, NULL};
    metric_add(m, "container_fs_usage_bytes", u.used_bytes, device);
    metric_add(m, "container_fs_inodes_used", u.inodes, device);
}

static void interface_metrics(struct metrics *m, const struct rt_stats_netdev_iface *i)
{
    const char *const iface[] = {arena_strdup(m->a, i->name), NULL};
    if (!iface[0]) {
        m->oom = true;
        return;
    }
    metric_add(m, "container_network_receive_bytes_total", i->rx_bytes, iface);
    metric_add(m, "container_network_receive_packets_total", i->rx_packets, iface);
    metric_add(m, "container_network_receive_packets_dropped_total", i->rx_drops, iface);
    metric_add(m, "container_network_receive_errors_total", i->rx_errors, iface);
    metric_add(m, "container_network_transmit_bytes_total", i->tx_bytes, iface);
    metric_add(m, "container_network_transmit_packets_total", i->tx_packets, iface);
    metric_add(m, "container_network_transmit_packets_dropped_total", i->tx_drops, iface);
    metric_add(m, "container_network_transmit_errors_total", i->tx_errors, iface);
}

/* The pod's own network namespace only; a pod on the host network has no counters of its own. */
static void network_metrics(struct metrics *m, const struct rt_sandbox_info *p)
{
    struct rt_stats_netdev nd;
    if (p->state != RT_SANDBOX_READY || !p->netns_path || !p->netns_path[0] ||
        rt_stats_netdev_read(p->netns_path, &nd, NULL) < 0)
        return;
    m->timestamp = clock_realtime_ns();
    for (size_t i = 0; i < nd.n; i++)
        interface_metrics(m, &nd.ifaces[i]);
}

static Runtime__V1__ContainerMetrics *container_metrics(struct srv_stats *s, struct arena *a,
                                                        const struct rt_container_info *c)
{
    struct metrics m = {.a = a,
                        .timestamp = clock_realtime_ns(),
                        .id = arena_strdup(a, c->id),
                        .name = arena_strdup(a, c->name),
                        .image = arena_strdup(a, c->image ? c->image : "")};
    Runtime__V1__ContainerMetrics *cm = arena_alloc(a, sizeof(*cm));
    if (!cm || !m.id || !m.name || !m.image)
        return NULL;
    runtime__v1__container_metrics__init(cm);
    cgroup_metrics(s, &m, c->cgroup_path);
    layer_metrics(s, &m, c->id);
    cm->container_id = (char *)m.id;
    cm->metrics = m.items;
    cm->n_metrics = m.n;
    return m.oom ? NULL : cm;
}

static Runtime__V1__PodSandboxMetrics *pod_metrics(struct srv_stats *s, struct arena *a,
                                                   const struct rt_sandbox_info *p,
                                                   struct rt_container_info **ctrs, size_t n_ctrs)
{
    struct metrics m = {.a = a,
                        .timestamp = clock_realtime_ns(),
                        .id = arena_strdup(a, p->id),
                        .name = arena_strdup(a, p->name),
                        .image = ""};
    Runtime__V1__PodSandboxMetrics *pm = arena_alloc(a, sizeof(*pm));
    Runtime__V1__ContainerMetrics **cms = arena_alloc(a, (n_ctrs + 1) * sizeof(*cms));
    if (!pm || !cms || !m.id || !m.name)
        return NULL;
    runtime__v1__pod_sandbox_metrics__init(pm);
    network_metrics(&m, p);
    for (size_t i = 0; i < n_ctrs; i++)
        if (strcmp(ctrs[i]->sandbox_id, p->id) == 0 &&
            !(cms[pm->n_container_metrics++] = container_metrics(s, a, ctrs[i])))
            return NULL;
    pm->pod_sandbox_id = (char *)m.id;
    pm->metrics = m.items;
    pm->n_metrics = m.n;
    pm->container_metrics = cms;
    return m.oom ? NULL : pm;
}

/* Every pod's metrics, containers listed once for all pods. */
static int pods_metrics(struct srv_ctx *ctx, Runtime__V1__PodSandboxMetrics ***ret, size_t *ret_n,
                        crisp_error_t **err)
{
    struct rt_sandbox_info **pods = NULL;
    struct rt_container_info **ctrs = NULL;
    size_t n_pods = 0, n_ctrs = 0;
    if (rt_sandbox_info_list(ctx->daemon->runtime, &pods, &n_pods, err) < 0)
        return -1;
    int r = rt_container_info_list(ctx->daemon->runtime, &ctrs, &n_ctrs, err);
    Runtime__V1__PodSandboxMetrics **out = r < 0 ? NULL
                                                 : arena_alloc(ctx->arena, (n_pods + 1) * sizeof(*out));
    if (r == 0 && !out)
        r = crisp_error_oom(err);
    for (size_t i = 0; r == 0 && i < n_pods; i++)
        if (!(out[i] = pod_metrics(ctx->daemon->stats, ctx->arena, pods[i], ctrs, n_ctrs)))
            r = crisp_error_oom(err);
    if (r == 0) {
        *ret = out;
        *ret_n = n_pods;
    }
    if (ctrs)
        rt_container_info_list_free(ctrs, n_ctrs);
    rt_sandbox_info_list_free(pods, n_pods);
    return r;
}

int srv_pod_metrics_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err)
{
    (void)req;
    Runtime__V1__ListPodSandboxMetricsResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__list_pod_sandbox_metrics_response__init(resp);
    if (pods_metrics(ctx, &resp->pod_metrics, &resp->n_pod_metrics, err) < 0)
        return -1;
    *ret_resp = &resp->base;
    return 0;
}

int srv_pod_metrics_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err)
{
    (void)req;
    Runtime__V1__PodSandboxMetrics **all = NULL;
    size_t n = 0;
    if (pods_metrics(ctx, &all, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        Runtime__V1__StreamPodSandboxMetricsResponse resp =
            RUNTIME__V1__STREAM_POD_SANDBOX_METRICS_RESPONSE__INIT;
        resp.pod_sandbox_metrics = all + i;
        resp.n_pod_sandbox_metrics = 1;
        if (srv_stream_send(ctx, &resp.base, err) < 0)
            return -1;
    }
    return 0;
}
