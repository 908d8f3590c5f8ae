#include "helpers/lib/cgroup_self.h"
#include "helpers/lib/helper_error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int cgroup_self_write_zero(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, "0", 1);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == 1 ? 0 : -1;
}

/* The tasks file next to procs where there is one (v1); ENOENT from it means v2. */
int hl_cgroup_self_join(const char *procs)
{
    char tasks[PATH_MAX];
    const char *slash = strrchr(procs, '/');
    int n = slash ? snprintf(tasks, sizeof(tasks), "%.*s/tasks", (int)(slash - procs), procs) : -1;
    if (n > 0 && (size_t)n < sizeof(tasks)) {
        if (cgroup_self_write_zero(tasks) == 0)
            return 0;
        if (errno != ENOENT)
            return hl_fail(errno, "join cgroup %s", procs);
    }
    if (cgroup_self_write_zero(procs) < 0)
        return hl_fail(errno, "join cgroup %s", procs);
    return 0;
}
