#define _GNU_SOURCE
#include "runtime/util.h"

#include "common/cleanup.h"
#include "helpers/lib/proc_stat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/pidfd.h>
#include <time.h>
#include <unistd.h>

int rt_random_id(char out[RT_ID_LEN + 1], crisp_error_t **err)
{
    unsigned char raw[RT_ID_LEN / 2];
    _cleanup_close_ int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw))
        return crisp_error_errno(err, "read /dev/urandom");
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return 0;
}

char **rt_cgroup_procs_files(const struct rt_cgroup_root *root, const char *path)
{
    /* "systemd" is the name=systemd hierarchy, where systemd tracks a scope's processes on v1: its
     * directory exists only where the systemd driver made the path. */
    static const char *const v1[] = {"cpu",   "cpuacct", "cpuset",  "memory",  "pids", "hugetlb",
                                     "blkio", "devices", "freezer", "systemd", NULL};
    char **files = calloc(ARRAY_SIZE(v1) + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; files && (root->mode == RT_CGROUP_V2 ? i < 1 : v1[i] != NULL); i++) {
        char *f = NULL;
        int r = root->mode == RT_CGROUP_V2 ? asprintf(&f, "%s%s/cgroup.procs", root->mount, path)
                                           : asprintf(&f, "%s/%s%s/cgroup.procs", root->mount, v1[i], path);
        if (r < 0) {
            strv_free(files);
            return NULL;
        }
        if (access(f, W_OK) == 0)
            files[n++] = f;
        else
            free(f);
    }
    return files;
}

int rt_proc_kill_checked(pid_t pid, uint64_t start_time, int timeout_ms, const char *what,
                         crisp_error_t **err)
{
    _cleanup_close_ int pidfd = pidfd_open(pid, 0);
    if (pidfd < 0 && errno == ESRCH)
        return 0;
    if (pidfd < 0)
        return crisp_error_errno(err, "pidfd_open %d", (int)pid);
    struct hl_proc_stat st;
    char stat_path[32];
    snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", (int)pid);
    if (hl_proc_stat_read(AT_FDCWD, stat_path, &st) < 0 || st.start_time != start_time || st.state == 'Z' ||
        st.state == 'X')
        return 0;
    if (pidfd_send_signal(pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
        return crisp_error_errno(err, "kill %s %d", what, (int)pid);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r;
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return crisp_error_errno(err, "wait for %s %d", what, (int)pid);
    if (r == 0)
        return crisp_error_make(err, ETIMEDOUT, "%s %d did not exit within %d ms of SIGKILL", what, (int)pid,
                                timeout_ms);
    return 0;
}
