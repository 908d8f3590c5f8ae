/* A pod with its own user namespace: the container's mounts are made by us as the host's root, in a
 * mount namespace the host's user namespace owns; image layers and volumes are idmapped through the
 * pod's user namespace (mount_setattr MOUNT_ATTR_IDMAP), so files keep their owners on disk and the
 * container's root sees the host's root-owned files as its own. Only then does the workload enter the
 * user namespace, where it takes its container ids. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static int userns_fd = -1;

int mon_userns_open(const struct mon_spec *spec)
{
    if (!spec->ns_user[0])
        return 0;
    userns_fd = open(spec->ns_user, O_RDONLY | O_CLOEXEC);
    if (userns_fd < 0)
        return hl_fail(errno, "open user namespace %s", spec->ns_user);
    return 0;
}

bool mon_userns_active(void)
{
    return userns_fd >= 0;
}

/* setns gives every capability in the namespace; our ids, the host's root, are not mapped there
 * until hl_cred_drop sets the container's. */
int mon_userns_enter(void)
{
    if (userns_fd < 0)
        return 0;
    if (setns(userns_fd, CLONE_NEWUSER) < 0)
        return hl_fail(errno, "join the pod's user namespace");
    close(userns_fd);
    userns_fd = -1;
    return 0;
}

int mon_idmap_mount(const char *source, const char *target, bool recursive)
{
    unsigned int rec = recursive ? AT_RECURSIVE : 0;
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
    if (fd < 0)
        return hl_fail(errno, "idmapped mount of %s: open_tree", source);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)userns_fd};
    int rc = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | rec, &attr, sizeof attr);
    if (rc < 0)
        rc = hl_fail(errno, "idmapped mount of %s: the filesystem cannot be idmapped", source);
    if (rc == 0 && move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS) < 0)
        rc = hl_fail(errno, "idmapped mount of %s on %s", source, target);
    close(fd);
    return rc;
}

uid_t mon_host_uid(const struct mon_spec *spec, uid_t uid)
{
    return spec->ns_user[0] ? spec->userns_uid + uid : uid;
}

gid_t mon_host_gid(const struct mon_spec *spec, gid_t gid)
{
    return spec->ns_user[0] ? spec->userns_gid + gid : gid;
}
