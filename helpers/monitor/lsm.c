/* AppArmor profile and SELinux label for the workload, set for the coming exec through procfs, as
 * runc does; crispd only asks for them where the host has the module. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int attr_write(const char *const *paths, const char *value, const char *what)
{
    int err = ENOENT;
    for (const char *const *p = paths; *p; p++) {
        int fd = open(*p, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            err = errno;
            continue;
        }
        ssize_t n = write(fd, value, strlen(value));
        err = errno;
        close(fd);
        if (n == (ssize_t)strlen(value))
            return 0;
    }
    return hl_fail(err, "set %s \"%s\"", what, value);
}

int mon_lsm_apply(const struct mon_spec *spec)
{
    if (spec->apparmor_profile[0]) {
        static const char *const aa[] = {"/proc/thread-self/attr/apparmor/exec",
                                         "/proc/thread-self/attr/exec", NULL};
        char cmd[300];
        snprintf(cmd, sizeof cmd, "exec %s", spec->apparmor_profile);
        if (attr_write(aa, cmd, "AppArmor profile") < 0)
            return -1;
    }
    if (spec->selinux_label[0]) {
        static const char *const se[] = {"/proc/thread-self/attr/exec", NULL};
        if (attr_write(se, spec->selinux_label, "SELinux label") < 0)
            return -1;
    }
    return 0;
}
