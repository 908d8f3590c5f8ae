/* exec with PATH taken from the container's environment, not ours: execvpe(3) would search the
 * monitor's PATH. Errors follow execvp: EACCES is remembered while later directories are tried. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static const char *env_path(char *const env[])
{
    for (size_t i = 0; env[i] != NULL; i++)
        if (strncmp(env[i], "PATH=", 5) == 0)
            return env[i] + 5;
    return MON_DEFAULT_PATH;
}

/* Whether the search may go on to the next directory after this errno. */
static bool try_next(int err)
{
    return err == ENOENT || err == ENOTDIR || err == EACCES || err == ENODEV || err == ESTALE ||
           err == ETIMEDOUT || err == ENAMETOOLONG;
}

/* An empty PATH element is the current directory, as for execvp. */
static int exec_in(const char *dir, size_t dir_len, const struct mon_spec *spec)
{
    char path[PATH_MAX];
    const char *file = spec->args[0];
    if (dir_len == 0) {
        dir = ".";
        dir_len = 1;
    }
    if (dir_len + 1 + strlen(file) >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, dir_len);
    path[dir_len] = '/';
    strcpy(path + dir_len + 1, file);
    return execve(path, spec->args, spec->env);
}

int mon_exec(const struct mon_spec *spec)
{
    if (strchr(spec->args[0], '/') != NULL)
        return execve(spec->args[0], spec->args, spec->env);
    bool denied = false;
    for (const char *dir = env_path(spec->env); dir != NULL;) {
        const char *colon = strchr(dir, ':');
        exec_in(dir, colon ? (size_t)(colon - dir) : strlen(dir), spec);
        if (!try_next(errno))
            return -1;
        denied |= errno == EACCES;
        dir = colon ? colon + 1 : NULL;
    }
    errno = denied ? EACCES : ENOENT;
    return -1;
}
