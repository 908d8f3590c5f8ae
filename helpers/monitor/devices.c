/* Device nodes under the container's /dev (a tmpfs crispd asks for) and the standard /dev symlinks. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *const dev_links[][2] = {
    {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"},         {"core", "/proc/kcore"},
};

/* Devices in subdirectories (/dev/snd/..., /dev/input/...) need their directory. */
static int parent_create(int rootfd, const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path || (size_t)(slash - path) >= sizeof dir)
        return -1;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return mon_root_mkdir_p(rootfd, dir, 0755, false, 0, 0);
}

static int device_create(int rootfd, const struct mon_device *d)
{
    char buf[PATH_MAX];
    const char *name;
    int parent = mon_root_parent_open(rootfd, d->path, buf, &name);
    if (parent < 0 && errno == ENOENT && parent_create(rootfd, d->path) == 0)
        parent = mon_root_parent_open(rootfd, d->path, buf, &name);
    if (parent < 0)
        return hl_fail(errno, "device %s", d->path);
    mode_t type = d->type == 'b' ? S_IFBLK : S_IFCHR;
    int rc = mknodat(parent, name, type | (d->mode & 07777), makedev(d->major, d->minor));
    if (rc < 0 && errno == EEXIST) { /* the first device named at a path wins */
        close(parent);
        return 0;
    }
    if (rc == 0)
        rc = fchownat(parent, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW);
    if (rc == 0) /* mknod's mode went through the umask; setuid bits need an explicit chmod anyway */
        rc = fchmodat(parent, name, d->mode & 07777, 0);
    int saved = errno;
    close(parent);
    return rc < 0 ? hl_fail(saved, "device %s", d->path) : 0;
}

/* Links an image already has are kept. No /dev at all means no links either. */
static int dev_links_create(int rootfd)
{
    int dev = mon_root_open(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
        return errno == ENOENT ? 0 : hl_fail(errno, "open /dev");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof dev_links / sizeof *dev_links; i++)
        if (symlinkat(dev_links[i][1], dev, dev_links[i][0]) < 0 && errno != EEXIST)
            rc = hl_fail(errno, "symlink /dev/%s", dev_links[i][0]);
    close(dev);
    return rc;
}

int mon_devices_create(const struct mon_spec *spec, int rootfd)
{
    for (size_t i = 0; i < spec->n_devices; i++)
        if (device_create(rootfd, &spec->devices[i]) < 0)
            return -1;
    return dev_links_create(rootfd);
}
