/* Detaching from crispd, so that containers outlive a crispd restart or upgrade: crispd spawns us and
 * waits for that process to exit; the long-lived monitor is a grandchild in a session of its own. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Closes what crispd may have leaked to us; falls back to a loop on kernels without close_range. */
int mon_fds_close_except(int keep_fd)
{
    if (keep_fd > 3 && close_range(3, (unsigned)keep_fd - 1, 0) < 0 && errno != ENOSYS)
        return -1;
    if (close_range((unsigned)keep_fd + 1, ~0U, 0) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
    for (int fd = 3; fd < 65536; fd++)
        if (fd != keep_fd)
            close(fd);
    return 0;
}

static int stdio_to_dev_null(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (dup2(fd, i) < 0)
            return -1;
    if (fd > 2)
        close(fd);
    return 0;
}

/* Returns in the monitor only. The first fork's child is a session leader and exits at once, so the
 * monitor (its child) can never acquire a controlling terminal by opening one. */
int mon_detach(int sync_fd)
{
    pid_t first = fork();
    if (first < 0)
        return hl_fail(errno, "fork");
    if (first > 0) {
        int status;
        while (waitpid(first, &status, 0) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    if (setsid() < 0)
        _exit(1);
    pid_t monitor = fork();
    if (monitor < 0) {
        hl_fail(errno, "fork");
        mon_sync_error(sync_fd, 1, hl_error());
    }
    if (monitor != 0)
        _exit(monitor < 0 ? 1 : 0);
    if (stdio_to_dev_null() < 0 || mon_fds_close_except(sync_fd) < 0)
        return hl_fail(errno, "monitor stdio");
    if (chdir("/") < 0) /* crispd's cwd must not stay busy for the container's lifetime */
        return hl_fail(errno, "chdir /");
    prctl(PR_SET_NAME, "crisp-monitor", 0, 0, 0);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return hl_fail(errno, "prctl(PR_SET_CHILD_SUBREAPER)");
    return 0;
}
