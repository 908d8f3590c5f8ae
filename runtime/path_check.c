#include "runtime/path_check.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* Echo at most this much of a request's path: error messages travel in gRPC metadata. */
#define ECHO_MAX 100

static bool has_component(const char *path, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = path; *p;) {
        p += strspn(p, "/");
        size_t len = strcspn(p, "/");
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* Whether some component is neither empty nor ".". */
static bool names_something(const char *path)
{
    for (const char *p = path; *p;) {
        p += strspn(p, "/");
        size_t len = strcspn(p, "/");
        if (len && !(len == 1 && *p == '.'))
            return true;
        p += len;
    }
    return false;
}

int rt_path_check(const char *what, const char *path, unsigned flags, crisp_error_t **err)
{
    const char *more = strlen(path) > ECHO_MAX ? "..." : "";
    if ((flags & RT_PATH_ABSOLUTE) && path[0] != '/')
        return crisp_error_make(err, EINVAL, "%s \"%.*s%s\" is not an absolute path", what, ECHO_MAX, path,
                                more);
    if ((flags & RT_PATH_RELATIVE) && path[0] == '/')
        return crisp_error_make(err, EINVAL, "%s \"%.*s%s\" must be a relative path", what, ECHO_MAX, path,
                                more);
    if (has_component(path, ".."))
        return crisp_error_make(err, EINVAL, "%s \"%.*s%s\" has a \"..\" component", what, ECHO_MAX, path,
                                more);
    if ((flags & RT_PATH_NO_DOT) && has_component(path, "."))
        return crisp_error_make(err, EINVAL, "%s \"%.*s%s\" has a \".\" component", what, ECHO_MAX, path,
                                more);
    if ((flags & RT_PATH_NOT_ROOT) && !names_something(path))
        return crisp_error_make(err, EINVAL, "%s \"%.*s%s\" names no file or directory", what, ECHO_MAX, path,
                                more);
    return 0;
}

bool rt_path_is_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || (n == 1 && dir[0] == '/'));
}
