#define _GNU_SOURCE
#include "server/test_hooks.h"

#include "common/clock.h"
#include "server/daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void srv_test_hooks_apply(struct srv_ctx *ctx)
{
    const char *sleep_ms = srv_call_metadata(ctx, "crisp-test-sleep-ms");
    if (sleep_ms) {
        long ms = strtol(sleep_ms, NULL, 10);
        if (ms > 0 && ms <= 60000) {
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) < 0)
                ;
        }
    }
    const char *event_id = srv_call_metadata(ctx, "crisp-test-event");
    if (event_id) {
        struct srv_event ev = {.type = SRV_EVENT_CONTAINER_CREATED, .created_at = clock_realtime_ns()};
        snprintf(ev.container_id, sizeof(ev.container_id), "%s", event_id);
        srv_event_publish(ctx->daemon->events, &ev);
    }
}
