/* A single-threaded helper moving itself into a cgroup, shared by the libc-only helpers (crisp-monitor's
 * workload, crisp-exec, crisp-pinns' pod init). Header only: they link nothing but libc.
 *
 * On cgroup v1, "0" in a hierarchy's tasks file moves just the calling thread, which for a
 * single-threaded process is the whole of it, and does not take the kernel's global threadgroup lock
 * that writing a pid to cgroup.procs takes: that lock's write side waits an RCU grace period (~10 ms)
 * when it has been idle. cgroup v2 has no tasks file: there "0" goes to cgroup.procs. */
#ifndef CRISP_RUNTIME_CGROUP_SELF_H
#define CRISP_RUNTIME_CGROUP_SELF_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline int cgroup_self_write_zero(const char *path)
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

/* procs names the cgroup's cgroup.procs. 0, or -1 with errno. */
static inline int cgroup_self_join(const char *procs)
{
    char tasks[PATH_MAX];
    const char *slash = strrchr(procs, '/');
    int n = slash ? snprintf(tasks, sizeof(tasks), "%.*s/tasks", (int)(slash - procs), procs) : -1;
    if (n > 0 && (size_t)n < sizeof(tasks) && cgroup_self_write_zero(tasks) == 0)
        return 0;
    if (n > 0 && (size_t)n < sizeof(tasks) && errno != ENOENT)
        return -1;
    return cgroup_self_write_zero(procs);
}

#endif
