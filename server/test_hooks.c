#define _GNU_SOURCE
#include "server/test_hooks.h"

#include "common/clock.h"
#include "common/crash_point.h"
#include "server/daemon.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static char crash_name[128];
static atomic_long crash_left;

static void crash_point_hit(const char *name)
{
    if (strcmp(name, crash_name) != 0 || atomic_fetch_sub(&crash_left, 1) != 1)
        return;
    char line[192];
    int n = snprintf(line, sizeof(line), "crisp-test: crash point %s\n", name);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* dying anyway */
    }
    raise(SIGKILL);
}

/* Before main: the hook is set once, before any thread can pass a crash point. */
__attribute__((constructor)) static void crash_point_install(void)
{
    const char *enabled = getenv("CRISP_TEST_HOOKS"), *at = getenv("CRISP_CRASH_AT");
    if (!enabled || strcmp(enabled, "1") != 0 || !at || !*at)
        return;
    snprintf(crash_name, sizeof(crash_name), "%s", at);
    char *count = strchr(crash_name, '@');
    long n = 1;
    if (count) {
        *count = '\0';
        n = strtol(count + 1, NULL, 10);
    }
    atomic_store(&crash_left, n > 0 ? n : 1);
    crisp_crash_point_hook = crash_point_hit;
}
