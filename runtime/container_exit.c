/* A container's exit as crisp-monitor records it: "key value" lines in <dir>/exit, also read after a
 * crispd restart; and the record crispd makes itself when the monitor is gone too. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/pod_ns.h"

#include <stdlib.h>
#include <string.h>

#define EXIT_FILE_MAX 65536

static char *unescape_value(const char *v)
{
    char *out = malloc(strlen(v) + 1), *o = out;
    for (const char *p = v; out && *p; p++) {
        if (*p == '\\' && p[1] == 'n') {
            *o++ = '\n';
            p++;
        } else if (*p == '\\' && p[1] == '\\') {
            *o++ = '\\';
            p++;
        } else {
            *o++ = *p;
        }
    }
    if (out)
        *o = '\0';
    return out;
}

static void apply_exit_field(struct rt_container_info *i, const char *key, const char *value)
{
    if (strcmp(key, "exit_code") == 0)
        i->exit_code = atoi(value);
    else if (strcmp(key, "finished_at") == 0)
        i->finished_at = strtoll(value, NULL, 10);
    else if (strcmp(key, "reason") == 0 || strcmp(key, "message") == 0) {
        char *v = unescape_value(value);
        if (!v)
            return;
        char **slot = key[0] == 'r' ? &i->reason : &i->message;
        free(*slot);
        *slot = v;
    }
}

bool rt_container_read_exit(struct rt_container *c)
{
    _cleanup_free_ char *path = rt_container_exit_file(c), *text = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    if (!path || file_read_bounded(path, EXIT_FILE_MAX, &text, NULL, &err) < 0)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        apply_exit_field(&c->info, line, sp + 1);
    }
    c->info.state = RT_CONTAINER_EXITED;
    c->info.pid = 0;
    return true;
}

void rt_container_refresh(struct rt_runtime *rt, struct rt_container *c)
{
    if (c->info.state != RT_CONTAINER_RUNNING || !rt_container_read_exit(c))
        return;
    rt_container_persist(c, NULL);
    rt_container_emit(rt, RT_EVENT_CONTAINER_STOPPED, c);
}

bool rt_container_pid_is_ours(const struct rt_container *c)
{
    uint64_t start = 0;
    return c->info.pid > 0 && rt_proc_start_time(c->info.pid, &start, NULL) == 0 && start == c->pid_start;
}

void rt_container_mark_lost(struct rt_container *c)
{
    c->info.state = RT_CONTAINER_EXITED;
    c->info.finished_at = clock_realtime_ns();
    c->info.exit_code = 137;
    free(c->info.reason);
    c->info.reason = strdup("Error");
    c->info.pid = 0;
}
