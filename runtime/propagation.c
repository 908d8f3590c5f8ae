#define _GNU_SOURCE
#include "runtime/propagation.h"

#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

static bool is_under(const char *path, const char *mnt)
{
    size_t n = strlen(mnt);
    if (strcmp(mnt, "/") == 0)
        return true;
    return strncmp(path, mnt, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

struct mount_found {
    char mountpoint[PATH_MAX];
    bool shared, slave;
};

/* Field 5 is the mount point, then options, then optional fields up to " - ". */
static void consider_line(char *line, const char *path, struct mount_found *best)
{
    char *save = NULL, *field = strtok_r(line, " ", &save);
    for (int i = 1; field && i < 5; i++)
        field = strtok_r(NULL, " ", &save);
    if (!field)
        return;
    rt_mountinfo_unescape(field);
    if (!is_under(path, field) || strlen(field) < strlen(best->mountpoint))
        return;
    snprintf(best->mountpoint, sizeof(best->mountpoint), "%s", field);
    best->shared = best->slave = false;
    strtok_r(NULL, " ", &save); /* options */
    for (char *opt = strtok_r(NULL, " ", &save); opt && strcmp(opt, "-") != 0;
         opt = strtok_r(NULL, " ", &save)) {
        best->shared |= strncmp(opt, "shared:", 7) == 0;
        best->slave |= strncmp(opt, "master:", 7) == 0;
    }
}

int rt_propagation_ensure(const char *host_path, bool need_shared, crisp_error_t **err)
{
    _cleanup_free_ char *real = realpath(host_path, NULL), *info = NULL;
    if (!real)
        return crisp_error_errno(err, "resolve %s", host_path);
    if (rt_mountinfo_read(&info, err) < 0)
        return -1;
    struct mount_found best = {"", false, false};
    char *save = NULL;
    for (char *line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        consider_line(line, real, &best);
    if (!best.mountpoint[0])
        return crisp_error_make(err, ENOENT, "no mount holds %s", real);
    if (best.shared || (best.slave && !need_shared))
        return 0;
    if (mount(NULL, best.mountpoint, NULL, MS_SHARED, NULL) < 0)
        return crisp_error_errno(err, "make %s (holding %s) shared", best.mountpoint, real);
    return 0;
}

static bool rro_supported;

/* A size of 0 is EINVAL where the call exists, before any fd is looked at; ENOSYS (or a seccomp
 * filter's EPERM) where it does not. */
static void rro_probe(void)
{
    rro_supported = syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH, NULL, 0) < 0 && errno == EINVAL;
}

bool rt_mount_rro_supported(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, rro_probe);
    return rro_supported;
}

static const char *propagation_cri_name(enum rt_propagation p)
{
    return p == RT_PROPAGATION_BIDIRECTIONAL       ? "PROPAGATION_BIDIRECTIONAL"
           : p == RT_PROPAGATION_HOST_TO_CONTAINER ? "PROPAGATION_HOST_TO_CONTAINER"
                                                   : "PROPAGATION_PRIVATE";
}

int rt_mount_rro_check(const struct rt_mount *m, crisp_error_t **err)
{
    if (!m->recursive_readonly)
        return 0;
    const char *path = m->container_path;
    if (!m->readonly)
        return crisp_error_make(err, EINVAL, "mount %s: recursive_read_only needs readonly", path);
    if (m->propagation != RT_PROPAGATION_PRIVATE)
        return crisp_error_make(err, EINVAL,
                                "mount %s: recursive_read_only needs PROPAGATION_PRIVATE, not %s", path,
                                propagation_cri_name(m->propagation));
    if (!rt_mount_rro_supported())
        return crisp_error_make(err, EINVAL,
                                "mount %s: recursive_read_only needs mount_setattr(2), Linux 5.12", path);
    return 0;
}
