/* crispd's process-wide state, shared by every handler. */
#ifndef CRISP_SERVER_DAEMON_H
#define CRISP_SERVER_DAEMON_H

#include "common/config.h"
#include "images/pull.h"
#include "images/registry.h"
#include "images/store.h"
#include "runtime/container.h"
#include "runtime/sandbox.h"
#include "server/events.h"
#include "streaming/streaming.h"

#include <pthread.h>
#include <stdbool.h>

struct srv_stats;

struct srv_daemon {
    const struct crisp_config *cfg; /* immutable after start (SIGHUP only changes the log level) */
    struct srv_event_bus *events;
    bool test_hooks; /* CRISP_TEST_HOOKS=1: honour the test-only metadata (test builds only) */
    struct img_store *images;
    struct img_registry *registry;
    struct img_puller *puller;
    struct rt_runtime *runtime;
    struct srv_streaming *streaming; /* NULL until started */
    struct srv_stats *stats;         /* the stats RPCs' state: CPU samples, writable-layer usage */

    pthread_mutex_t lock; /* guards what follows */
    char *pod_cidr;       /* from UpdateRuntimeConfig, persisted in the state dir */
};

int srv_daemon_init(struct srv_daemon *d, const struct crisp_config *cfg, crisp_error_t **err);
void srv_daemon_fini(struct srv_daemon *d);

/* Sets and persists the pod CIDR. */
int srv_daemon_set_pod_cidr(struct srv_daemon *d, const char *cidr, crisp_error_t **err);
/* A copy of the pod CIDR ("" when unset); the caller frees it. */
char *srv_daemon_pod_cidr(struct srv_daemon *d);

#endif
