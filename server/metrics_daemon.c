#include "server/metrics_daemon.h"

#include "server/metrics_series.h"
#include "server/metrics_server.h"

#include <errno.h>

static int pods_by_state(void *data, uint64_t ret_counts[SRV_METRICS_POD_STATES])
{
    struct srv_daemon *d = data;
    struct rt_sandbox_info **list = NULL;
    size_t n = 0;
    if (rt_sandbox_info_list(d->runtime, &list, &n, NULL) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((size_t)list[i]->state < SRV_METRICS_POD_STATES)
            ret_counts[list[i]->state]++;
    rt_sandbox_info_list_free(list, n);
    return 0;
}

static int containers_by_state(void *data, uint64_t ret_counts[SRV_METRICS_CONTAINER_STATES])
{
    struct srv_daemon *d = data;
    struct rt_container_info **list = NULL;
    size_t n = 0;
    if (rt_container_info_list(d->runtime, &list, &n, NULL) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((size_t)list[i]->state < SRV_METRICS_CONTAINER_STATES)
            ret_counts[list[i]->state]++;
    rt_container_info_list_free(list, n);
    return 0;
}

static int monitors_alive(void *data, uint64_t *ret_count)
{
    struct srv_daemon *d = data;
    size_t n = 0;
    if (rt_container_monitors_alive(d->runtime, &n, NULL) < 0)
        return -1;
    *ret_count = n;
    return 0;
}

int srv_metrics_daemon_start(struct srv_daemon *d, struct srv_metrics_server **ret, crisp_error_t **err)
{
    *ret = NULL;
    if (d->cfg->metrics_port == 0)
        return 0;
    if (srv_metrics_init(err) < 0)
        return -1;
    const struct srv_metrics_state_callbacks cb = {pods_by_state, containers_by_state, monitors_alive, d};
    srv_metrics_set_state_callbacks(&cb);
    const struct srv_metrics_server_config sc = {d->cfg->metrics_address, d->cfg->metrics_port,
                                                 srv_metrics_registry(), 0};
    if (srv_metrics_server_start(&sc, ret, err) < 0) {
        srv_metrics_daemon_stop(NULL);
        return crisp_error_wrap(err, "metrics endpoint on %s port %d", d->cfg->metrics_address,
                                d->cfg->metrics_port);
    }
    return 0;
}

void srv_metrics_daemon_stop(struct srv_metrics_server *s)
{
    if (s)
        srv_metrics_server_stop(s);
    srv_metrics_set_state_callbacks(NULL);
    srv_metrics_fini();
}
