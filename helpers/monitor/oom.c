/* OOM kills in the container's cgroup: the `oom_kill N` counter of memory.oom_control (v1) or
 * memory.events (v2). A rise between start and exit means the kernel OOM-killed something in it. */
#include "monitor.h"

#include <stdlib.h>
#include <string.h>

static int64_t oom_kill_counter(const char *path)
{
    char text[512];
    if (path[0] == '\0' || mon_read_small(path, text, sizeof text) < 0)
        return 0;
    for (const char *line = text; line != NULL; line = strchr(line, '\n')) {
        line += line[0] == '\n';
        if (strncmp(line, "oom_kill ", 9) == 0)
            return strtoll(line + 9, NULL, 10);
    }
    return 0;
}

int64_t mon_oom_kills(const char *v1_control, const char *v2_events)
{
    return oom_kill_counter(v1_control) + oom_kill_counter(v2_events);
}
