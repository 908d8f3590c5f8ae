/* Paths inside the container's root filesystem, resolved by the kernel as if ROOTFD were "/"
 * (openat2 RESOLVE_IN_ROOT): a symlink in the image can never send a mount or a device node onto the
 * host. Callers then act on the returned O_PATH fd, through /proc/self/fd/N where a path is needed. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int mon_root_open(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* Splits "/a/b//" into "/a" and "b", both pointing into BUF (or a constant "/"). */
static int path_split(const char *path, char buf[PATH_MAX], const char **ret_parent, const char **ret_name)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    if (len >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len);
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash == NULL || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0) {
        errno = EINVAL;
        return -1;
    }
    *slash = '\0';
    *ret_name = slash + 1;
    *ret_parent = slash == buf ? "/" : buf;
    return 0;
}

#define SYMLINK_DEPTH_MAX 40 /* as the kernel's own limit on nested symlinks */

struct mkdir_how {
    mode_t mode;
    bool chown_new;
    uid_t uid;
    gid_t gid;
};

static int mkdir_p(int rootfd, const char *path, const struct mkdir_how *how, int depth);

/* Opens the parent directory of PATH (created as needed), for the *at() call that makes its last part. */
static int parent_open(int rootfd, const char *path, const struct mkdir_how *how, int depth,
                       char buf[PATH_MAX], const char **ret_parent, const char **ret_name)
{
    if (path_split(path, buf, ret_parent, ret_name) < 0)
        return -1;
    return mkdir_p(rootfd, *ret_parent, how, depth);
}

/* NAME in PARENT exists but does not resolve: a dangling symlink. Like mkdir -p, create its target,
 * which RESOLVE_IN_ROOT keeps inside the root. */
static int symlink_target_mkdir(int rootfd, int parent_fd, const char *parent, const char *name,
                                const struct mkdir_how *how, int depth)
{
    char target[PATH_MAX], joined[PATH_MAX];
    ssize_t n = readlinkat(parent_fd, name, target, sizeof target - 1);
    if (n < 0 || depth >= SYMLINK_DEPTH_MAX) {
        errno = n < 0 ? ENOENT : ELOOP;
        return -1;
    }
    target[n] = '\0';
    if (target[0] != '/' && snprintf(joined, sizeof joined, "%s/%s", parent, target) >= (int)sizeof joined) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkdir_p(rootfd, target[0] == '/' ? target : joined, how, depth + 1);
}

static int mkdir_p(int rootfd, const char *path, const struct mkdir_how *how, int depth)
{
    int fd = mon_root_open(rootfd, path, O_PATH | O_DIRECTORY);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    char buf[PATH_MAX];
    const char *parent, *name;
    int parent_fd = parent_open(rootfd, path, how, depth, buf, &parent, &name);
    if (parent_fd < 0)
        return -1;
    int rc = mkdirat(parent_fd, name, how->mode);
    bool existed = rc < 0 && errno == EEXIST;
    if (rc == 0 && how->chown_new)
        rc = fchownat(parent_fd, name, how->uid, how->gid, AT_SYMLINK_NOFOLLOW);
    fd = rc == 0 || existed ? mon_root_open(rootfd, path, O_PATH | O_DIRECTORY) : -1;
    if (fd < 0 && existed && errno == ENOENT)
        fd = symlink_target_mkdir(rootfd, parent_fd, parent, name, how, depth);
    int saved = errno;
    close(parent_fd);
    errno = saved;
    return fd;
}

int mon_root_mkdir_p(int rootfd, const char *path, mode_t mode, bool chown_new, uid_t uid, gid_t gid)
{
    struct mkdir_how how = {.mode = mode, .chown_new = chown_new, .uid = uid, .gid = gid};
    return mkdir_p(rootfd, path, &how, 0);
}

static const struct mkdir_how parent_how = {.mode = 0755};

/* For bind mounts of files: the target must be a file too. mknodat never follows a symlink. */
int mon_root_create_file(int rootfd, const char *path)
{
    int fd = mon_root_open(rootfd, path, O_PATH);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    char buf[PATH_MAX];
    const char *parent_path, *name;
    int parent = parent_open(rootfd, path, &parent_how, 0, buf, &parent_path, &name);
    if (parent < 0)
        return -1;
    int rc = mknodat(parent, name, S_IFREG | 0644, 0);
    int saved = errno;
    close(parent);
    if (rc < 0 && saved != EEXIST) {
        errno = saved;
        return -1;
    }
    return mon_root_open(rootfd, path, O_PATH);
}

/* Like the above for a device node: the caller's mknodat needs the parent and the name. */
int mon_root_parent_open(int rootfd, const char *path, char buf[PATH_MAX], const char **ret_name)
{
    const char *parent_path;
    return parent_open(rootfd, path, &parent_how, 0, buf, &parent_path, ret_name);
}
