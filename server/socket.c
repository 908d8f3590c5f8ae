#define _GNU_SOURCE
#include "server/socket.h"

#include "common/cleanup.h"
#include "common/file.h"

#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static int resolve_group(const char *name, gid_t *ret_gid, crisp_error_t **err)
{
    *ret_gid = (gid_t)-1;
    if (name[0] == '\0')
        return 0;
    struct group grp, *found = NULL;
    char buf[4096];
    int r = getgrnam_r(name, &grp, buf, sizeof(buf), &found);
    if (r != 0 || !found)
        return crisp_error_make(err, EINVAL, "config: key \"listen_group\": no such group \"%s\"", name);
    *ret_gid = found->gr_gid;
    return 0;
}

/* The socket's directory is private (0700), or traversable by the socket's group (0710). Only a
 * directory crisp made or owns (the state dir) is changed; a shared one such as /tmp is left alone. */
static int prepare_dir(const struct crisp_config *cfg, gid_t gid, crisp_error_t **err)
{
    _cleanup_free_ char *copy = strdup(cfg->listen);
    if (!copy)
        return crisp_error_oom(err);
    const char *dir = dirname(copy);
    struct stat st;
    bool existed = stat(dir, &st) == 0;
    if (dir_create_all(dir, 0700, err) < 0)
        return crisp_error_wrap(err, "socket directory");
    if (existed && strcmp(dir, cfg->state) != 0)
        return 0;
    if (chmod(dir, gid == (gid_t)-1 ? 0700 : 0710) < 0)
        return crisp_error_errno(err, "chmod %s", dir);
    if (gid != (gid_t)-1 && chown(dir, (uid_t)-1, gid) < 0)
        return crisp_error_errno(err, "chown %s", dir);
    return 0;
}

static bool socket_answers(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
}

static int remove_stale(const char *path, crisp_error_t **err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : crisp_error_errno(err, "stat %s", path);
    if (!S_ISSOCK(st.st_mode))
        return crisp_error_make(err, EEXIST, "%s exists and is not a socket", path);
    if (socket_answers(path))
        return crisp_error_make(err, EADDRINUSE, "another process is already serving on %s", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return crisp_error_errno(err, "remove stale socket %s", path);
    return 0;
}

int srv_socket_prepare(const struct crisp_config *cfg, gid_t *ret_gid, crisp_error_t **err)
{
    if (resolve_group(cfg->listen_group, ret_gid, err) < 0 || prepare_dir(cfg, *ret_gid, err) < 0)
        return -1;
    return remove_stale(cfg->listen, err);
}

int srv_socket_finish(const char *path, gid_t gid, crisp_error_t **err)
{
    if (chmod(path, 0660) < 0)
        return crisp_error_errno(err, "chmod %s", path);
    if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0)
        return crisp_error_errno(err, "chown %s", path);
    return 0;
}
