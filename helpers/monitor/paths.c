/* Masked paths (hidden under an empty read-only tmpfs, or /dev/null for files), read-only paths, and a
 * read-only root: the last mounts made before pivot_root, so nothing mounted earlier can undo them. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define HIDE_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* The path inside the rootfs (symlinks resolved within it), or -1 with errno ENOENT when absent. */
static int open_inside(int rootfd, const char *path, char target[32])
{
    int fd = mon_root_open(rootfd, path, O_PATH);
    if (fd >= 0)
        snprintf(target, 32, "/proc/self/fd/%d", fd);
    return fd;
}

static int remount_ro(const char *target, const char *what)
{
    struct statvfs sv;
    if (statvfs(target, &sv) < 0)
        return hl_fail(errno, "%s: statvfs", what);
    if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | mon_statvfs_to_ms(sv.f_flag), NULL) < 0)
        return hl_fail(errno, "%s: remount read-only", what);
    return 0;
}

static int mask_one(int rootfd, const char *path)
{
    char target[32];
    int fd = open_inside(rootfd, path, target);
    if (fd < 0)
        return errno == ENOENT ? 0 : hl_fail(errno, "mask %s", path);
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc == 0 && S_ISDIR(st.st_mode))
        rc = mount("tmpfs", target, "tmpfs", HIDE_FLAGS, "size=0k,mode=755");
    else if (rc == 0)
        rc = mount("/dev/null", target, NULL, MS_BIND, NULL);
    int saved = errno;
    close(fd);
    return rc < 0 ? hl_fail(saved, "mask %s", path) : 0;
}

static int readonly_one(int rootfd, const char *path)
{
    char target[32];
    int fd = open_inside(rootfd, path, target);
    if (fd < 0)
        return errno == ENOENT ? 0 : hl_fail(errno, "make %s read-only", path);
    int rc = mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0
                 ? hl_fail(errno, "make %s read-only", path)
                 : 0;
    close(fd);
    /* The new bind is on top now: reopen to reach it rather than what it covers. */
    fd = rc == 0 ? open_inside(rootfd, path, target) : -1;
    if (rc == 0 && fd < 0)
        rc = hl_fail(errno, "make %s read-only", path);
    if (rc == 0)
        rc = remount_ro(target, path);
    if (fd >= 0)
        close(fd);
    return rc;
}

int mon_paths_protect(const struct mon_spec *spec, int rootfd)
{
    for (size_t i = 0; i < spec->n_masked; i++)
        if (mask_one(rootfd, spec->masked[i]) < 0)
            return -1;
    for (size_t i = 0; i < spec->n_readonly; i++)
        if (readonly_one(rootfd, spec->readonly[i]) < 0)
            return -1;
    /* Per-mount flags of the overlay itself: the mounts on top of it stay as they are. */
    return spec->readonly_rootfs ? remount_ro(spec->mountpoint, "root filesystem") : 0;
}
