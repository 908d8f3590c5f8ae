/* The container's mounts, in spec order, onto <rootfs>/<destination>. Each target is created and
 * opened inside the rootfs (resolve.c) and mounted through /proc/self/fd/N of that fd, so the path
 * the kernel mounts on is the one we checked. Runs in the child, before pivot_root. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#define ATTR_RDONLY 0x00000001 /* MOUNT_ATTR_RDONLY */

/* struct mount_attr of <linux/mount.h>, which clashes with <sys/mount.h> on older libcs. */
struct mount_attr_v0 {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* What the kernel refuses to drop from a bind of a mount that has them (remount gives EPERM). */
#define ATIME_FLAGS (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)
#define REMOUNT_FLAGS                                                                                        \
    (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME |               \
     MS_STRICTATIME | MS_SYNCHRONOUS | MS_DIRSYNC)

static bool is_bind(const struct mon_mount *m)
{
    return strcmp(m->type, "bind") == 0;
}

static void fd_path(int fd, char buf[32])
{
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

static int target_create(int rootfd, const struct mon_mount *m)
{
    struct stat st;
    if (is_bind(m) && stat(m->source, &st) < 0)
        return hl_fail(errno, "mount %s: source %s", m->destination, m->source);
    int fd = is_bind(m) && !S_ISDIR(st.st_mode) ? mon_root_create_file(rootfd, m->destination)
                                                : mon_root_mkdir_p(rootfd, m->destination, 0755, false, 0, 0);
    if (fd < 0)
        return hl_fail(errno, "mount %s: create the target", m->destination);
    return fd;
}

unsigned long mon_statvfs_to_ms(unsigned long f)
{
    return (f & ST_RDONLY ? MS_RDONLY : 0) | (f & ST_NOSUID ? MS_NOSUID : 0) | (f & ST_NODEV ? MS_NODEV : 0) |
           (f & ST_NOEXEC ? MS_NOEXEC : 0) | (f & ST_NOATIME ? MS_NOATIME : 0) |
           (f & ST_NODIRATIME ? MS_NODIRATIME : 0) | (f & ST_RELATIME ? MS_RELATIME : 0);
}

/* A bind mount takes no flags; they come with a remount, which must keep the source's locked ones. */
static int bind_remount(const struct mon_mount *m, const char *target)
{
    if ((m->flags & REMOUNT_FLAGS) == 0)
        return 0;
    struct statvfs sv;
    if (statvfs(target, &sv) < 0)
        return hl_fail(errno, "mount %s: statvfs", m->destination);
    unsigned long carried = mon_statvfs_to_ms(sv.f_flag);
    if (m->flags & ATIME_FLAGS) /* an atime mode asked for wins over the source's */
        carried &= ~(unsigned long)ATIME_FLAGS;
    if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | m->flags | carried, NULL) < 0)
        return hl_fail(errno, "mount %s: remount", m->destination);
    return 0;
}

static int propagation_set(const struct mon_mount *m, const char *target)
{
    if (m->propagation == NULL)
        return 0;
    unsigned long type = strcmp(m->propagation, "rshared") == 0  ? MS_SHARED
                         : strcmp(m->propagation, "rslave") == 0 ? MS_SLAVE
                                                                 : MS_PRIVATE;
    if (mount(NULL, target, NULL, MS_REC | type, NULL) < 0)
        return hl_fail(errno, "mount %s: make %s", m->destination, m->propagation);
    return 0;
}

/* Read-only all the way down, submounts included. crispd refuses the request on kernels before 5.12;
 * failing here too keeps a submount from staying writable where read-only was promised. */
static int recursive_ro_set(const struct mon_mount *m, int fd)
{
    if (!m->recursive_ro)
        return 0;
    struct mount_attr_v0 attr = {.attr_set = ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) == 0)
        return 0;
    return hl_fail(errno, "mount %s: recursive read-only", m->destination);
}

/* Flags and propagation apply to the new mount, which the fd opened before mounting does not see. */
static int mount_adjust(int rootfd, const struct mon_mount *m)
{
    int fd = mon_root_open(rootfd, m->destination, O_PATH);
    if (fd < 0)
        return hl_fail(errno, "mount %s: reopen", m->destination);
    char target[32];
    fd_path(fd, target);
    int rc = is_bind(m) ? bind_remount(m, target) : 0;
    if (rc == 0)
        rc = propagation_set(m, target);
    if (rc == 0)
        rc = recursive_ro_set(m, fd);
    close(fd);
    return rc;
}

static bool is_bidirectional(const struct mon_mount *m)
{
    return is_bind(m) && m->propagation && strcmp(m->propagation, "rshared") == 0 &&
           !(m->idmap && mon_userns_active());
}

/* Detached clones of the bidirectional volumes by spec index (-1: none), taken while our copies of
 * the host's mounts are still its peers: a clone stays in the peer group, so what the container
 * mounts under it reaches the host, which a bind of our copy, a slave once "/" is, would not. */
static int *held;

static int *held_new(size_t n)
{
    int *fds = malloc(n * sizeof(*fds));
    for (size_t i = 0; fds && i < n; i++)
        fds[i] = -1;
    return fds;
}

int mon_mounts_hold_shared(const struct mon_spec *spec)
{
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct mon_mount *m = &spec->mounts[i];
        if (!is_bidirectional(m))
            continue;
        if (!held && !(held = held_new(spec->n_mounts)))
            return hl_fail(ENOMEM, "mount %s", m->destination);
        held[i] = open_tree(AT_FDCWD, m->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (held[i] < 0)
            return hl_fail(errno, "mount %s: clone %s for bidirectional propagation", m->destination,
                           m->source);
    }
    return 0;
}

static int held_attach(const struct mon_mount *m, int held_fd, int target_fd)
{
    int rc = move_mount(held_fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    int saved = errno;
    close(held_fd);
    close(target_fd);
    return rc < 0 ? hl_fail(saved, "mount %s", m->destination) : 0;
}

static int mount_one(int rootfd, const struct mon_mount *m, int held_fd)
{
    int fd = target_create(rootfd, m);
    if (fd < 0)
        return -1;
    if (held_fd >= 0)
        return held_attach(m, held_fd, fd) < 0 ? -1 : mount_adjust(rootfd, m);
    char target[32];
    fd_path(fd, target);
    if (m->idmap && mon_userns_active()) {
        int rc = mon_idmap_mount(m->source, target, true);
        close(fd);
        return rc < 0 ? -1 : mount_adjust(rootfd, m);
    }
    unsigned long flags = is_bind(m) ? MS_BIND | MS_REC : m->flags;
    const char *data = is_bind(m) || m->data[0] == '\0' ? NULL : m->data;
    int rc = mount(m->source, target, is_bind(m) ? NULL : m->type, flags, data);
    int saved = errno;
    close(fd);
    if (rc < 0)
        return hl_fail(saved, "mount %s", m->destination);
    return mount_adjust(rootfd, m);
}

int mon_mounts_apply(const struct mon_spec *spec, int rootfd)
{
    for (size_t i = 0; i < spec->n_mounts; i++)
        if (mount_one(rootfd, &spec->mounts[i], held ? held[i] : -1) < 0)
            return -1;
    return 0;
}
