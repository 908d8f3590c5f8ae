/* The container's root: an overlay of the image layers under its writable layer, mounted in the
 * child's own mount namespace (the host never sees it), then made "/" with pivot_root. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* mount(2) copies at most one page of option data. */
#define OVERLAY_DATA_MAX 4096

/* Overlay escapes ',' and ':' with backslashes; paths crispd makes never need that, so refuse them. */
static int path_check(const char *path)
{
    if (strpbrk(path, ",:\\") != NULL)
        return hl_fail(0, "rootfs: path %s contains ',', ':' or '\\'", path);
    return 0;
}

static int paths_check(const struct mon_spec *spec)
{
    if (path_check(spec->upper) < 0 || path_check(spec->work) < 0)
        return -1;
    for (size_t i = 0; i < spec->n_lowers; i++)
        if (path_check(spec->lowers[i]) < 0)
            return -1;
    return 0;
}

/* Layer paths are used from SKIP bytes on: 0 for absolute paths, or past a common parent made cwd. */
static int overlay_data(const struct mon_spec *spec, size_t skip, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "lowerdir=");
    for (size_t i = 0; i < spec->n_lowers && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ":" : "", spec->lowers[i] + skip);
    if (len < size)
        len += (size_t)snprintf(buf + len, size - len, ",upperdir=%s,workdir=%s", spec->upper, spec->work);
    return len < size ? 0 : -1;
}

/* Length of the longest directory that contains every layer ("/a/b" of /a/b/1 and /a/b/2). */
static size_t common_parent_len(const struct mon_spec *spec)
{
    size_t len = strlen(spec->lowers[0]);
    for (size_t i = 1; i < spec->n_lowers; i++) {
        size_t j = 0;
        while (j < len && spec->lowers[i][j] == spec->lowers[0][j])
            j++;
        len = j;
    }
    while (len > 0 && spec->lowers[0][len] != '/')
        len--;
    return len;
}

/* Many layers overflow the page: name them relative to their common parent, made the cwd. */
static int overlay_data_relative(const struct mon_spec *spec, char *buf, size_t size)
{
    char parent[PATH_MAX];
    size_t len = common_parent_len(spec);
    if (len == 0 || len >= sizeof parent)
        return -1;
    memcpy(parent, spec->lowers[0], len);
    parent[len] = '\0';
    if (chdir(parent) < 0)
        return hl_fail(errno, "rootfs: chdir %s", parent);
    return overlay_data(spec, len + 1, buf, size);
}

static int fs_set(int fs, const char *key, const char *value)
{
    if (fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0) < 0)
        return hl_fail(errno, "rootfs: overlay %s %s", key, value);
    return 0;
}

/* Still too long: the mount API takes the layers one by one ("lowerdir+", Linux 6.8), no page limit. */
static int overlay_mount_by_layer(const struct mon_spec *spec)
{
    int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return hl_fail(errno, "rootfs: %zu layers do not fit in one overlay mount", spec->n_lowers);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < spec->n_lowers; i++)
        rc = fs_set(fs, "lowerdir+", spec->lowers[i]);
    if (rc == 0 && (fs_set(fs, "upperdir", spec->upper) < 0 || fs_set(fs, "workdir", spec->work) < 0))
        rc = -1;
    if (rc == 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        rc = hl_fail(errno, "rootfs: create overlay");
    int mnt = rc == 0 ? fsmount(fs, FSMOUNT_CLOEXEC, 0) : -1;
    if (rc == 0 && mnt < 0)
        rc = hl_fail(errno, "rootfs: fsmount overlay");
    if (rc == 0 && move_mount(mnt, "", AT_FDCWD, spec->mountpoint, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        rc = hl_fail(errno, "mount rootfs on %s", spec->mountpoint);
    if (mnt >= 0)
        close(mnt);
    close(fs);
    return rc;
}

/* Each layer idmapped at <container dir>/idmap/<n> (plain directories on the host; the mounts are
 * only in our namespace), for the overlay to stack; the writable layer belongs to the container's
 * root. */
static int layers_idmap(const struct mon_spec *spec, struct mon_spec *ret)
{
    static char paths[512][PATH_MAX];
    static char *lowers[512];
    const char *slash = strrchr(spec->mountpoint, '/');
    if (spec->n_lowers > 512 || !slash)
        return hl_fail(EINVAL, "rootfs: too many layers to idmap");
    int dir_len = (int)(slash - spec->mountpoint);
    char dir[PATH_MAX - 16];
    if (snprintf(dir, sizeof dir, "%.*s/idmap", dir_len, spec->mountpoint) >= (int)sizeof dir)
        return hl_fail(ENAMETOOLONG, "rootfs: %s", spec->mountpoint);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return hl_fail(errno, "rootfs: mkdir %s", dir);
    for (size_t i = 0; i < spec->n_lowers; i++) {
        snprintf(paths[i], PATH_MAX, "%s/%zu", dir, i);
        if (mkdir(paths[i], 0755) < 0 && errno != EEXIST)
            return hl_fail(errno, "rootfs: mkdir %s", paths[i]);
        if (mon_idmap_mount(spec->lowers[i], paths[i], false) < 0)
            return -1;
        lowers[i] = paths[i];
    }
    *ret = *spec;
    ret->lowers = lowers;
    if (chown(spec->upper, spec->userns_uid, spec->userns_gid) < 0)
        return hl_fail(errno, "rootfs: chown %s to the container's root", spec->upper);
    return 0;
}

int mon_rootfs_mount(const struct mon_spec *orig)
{
    char data[OVERLAY_DATA_MAX];
    struct mon_spec idmapped;
    const struct mon_spec *spec = orig;
    if (paths_check(spec) < 0)
        return -1;
    if (mon_userns_active()) {
        if (layers_idmap(orig, &idmapped) < 0)
            return -1;
        spec = &idmapped;
    }
    if (overlay_data(spec, 0, data, sizeof data) < 0 && overlay_data_relative(spec, data, sizeof data) < 0)
        return overlay_mount_by_layer(spec);
    if (mount("overlay", spec->mountpoint, "overlay", 0, data) < 0)
        return hl_fail(errno, "mount rootfs on %s", spec->mountpoint);
    return 0;
}

/* pivot_root(".", ".") stacks the old root on the new one; unmounting "." then drops the old root
 * (pivot_root(2), NOTES), with no directory to create in the image. Our tree is a slave of the
 * host's, so the unmount does not propagate back. */
int mon_rootfs_pivot(const char *mountpoint)
{
    if (chdir(mountpoint) < 0)
        return hl_fail(errno, "chdir %s", mountpoint);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return hl_fail(errno, "pivot_root %s", mountpoint);
    if (umount2(".", MNT_DETACH) < 0)
        return hl_fail(errno, "unmount the old root");
    if (chdir("/") < 0)
        return hl_fail(errno, "chdir /");
    return 0;
}
