#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* systemd's limit on unit names (UNIT_NAME_MAX - 1). */
#define SLICE_NAME_MAX 255
#define SLICE_SUFFIX ".slice"

/* Control characters would end up in file names that tools print line by line. */
static bool component_ok(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

int rt_cgroup_path_check(const char *path, bool allow_root, crisp_error_t **err)
{
    if (!path || path[0] != '/')
        return crisp_error_make(err, EINVAL, "cgroup path \"%s\" is not absolute", path ? path : "");
    if (strlen(path) > RT_CGROUP_PATH_MAX)
        return crisp_error_make(err, EINVAL, "cgroup path is longer than %d bytes", RT_CGROUP_PATH_MAX);
    if (strcmp(path, "/") == 0)
        return allow_root ? 0 : crisp_error_make(err, EINVAL, "cgroup path may not be the root");
    for (const char *p = path + 1;;) {
        size_t n = strcspn(p, "/");
        if (!component_ok(p, n))
            return crisp_error_make(err, EINVAL,
                                    "cgroup path \"%s\" has an empty, \".\", \"..\" or "
                                    "unprintable component",
                                    path);
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

static int cgroupfs_path(const char *parent, char **ret_path, crisp_error_t **err)
{
    _cleanup_free_ char *path = strdup(parent);
    if (!path)
        return crisp_error_oom(err);
    size_t n = strlen(path);
    /* One trailing slash is a common spelling; "//" stays and is refused as an empty component. */
    if (n > 1 && path[n - 1] == '/' && path[n - 2] != '/')
        path[n - 1] = '\0';
    if (rt_cgroup_path_check(path, true, err) < 0)
        return -1;
    *ret_path = TAKE_PTR(path);
    return 0;
}

/* systemd's slice_name_is_valid, without the backslash escapes kubelet never produces. */
bool rt_cgroup_slice_name_ok(const char *name)
{
    size_t n = strlen(name), suffix = strlen(SLICE_SUFFIX);
    if (n <= suffix || n > SLICE_NAME_MAX || strcmp(name + n - suffix, SLICE_SUFFIX) != 0)
        return false;
    if (strcmp(name, "-" SLICE_SUFFIX) == 0)
        return true;
    size_t prefix = n - suffix;
    if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") != n)
        return false;
    if (name[0] == '-' || name[prefix - 1] == '-')
        return false;
    return !memmem(name, prefix, "--", 2);
}

/* Length of expand_slice's result: one "/<prefix up to a dash>.slice" per dash, then "/<name>". */
static size_t expanded_length(const char *name, size_t prefix)
{
    size_t len = 1 + strlen(name);
    for (size_t i = 0; i < prefix; i++)
        if (name[i] == '-')
            len += 1 + i + strlen(SLICE_SUFFIX);
    return len;
}

/* "a-b-c.slice" lives in "/a.slice/a-b.slice/a-b-c.slice": each dash opens a parent slice. */
int rt_cgroup_slice_path(const char *name, char **ret_path, crisp_error_t **err)
{
    if (!rt_cgroup_slice_name_ok(name))
        return crisp_error_make(err, EINVAL, "invalid systemd slice name \"%s\"", name);
    if (strcmp(name, "-" SLICE_SUFFIX) == 0) {
        *ret_path = strdup("/");
        return *ret_path ? 0 : crisp_error_oom(err);
    }
    size_t prefix = strlen(name) - strlen(SLICE_SUFFIX), len = expanded_length(name, prefix);
    if (len > RT_CGROUP_PATH_MAX)
        return crisp_error_make(err, EINVAL, "slice \"%s\" expands to more than %d bytes", name,
                                RT_CGROUP_PATH_MAX);
    char *path = malloc(len + 1), *end = path;
    if (!path)
        return crisp_error_oom(err);
    for (size_t i = 0; i < prefix; i++)
        if (name[i] == '-')
            end += sprintf(end, "/%.*s" SLICE_SUFFIX, (int)i, name);
    sprintf(end, "/%s", name);
    *ret_path = path;
    return 0;
}

int rt_cgroup_parent_path(const char *cgroup_parent, bool systemd, char **ret_path, crisp_error_t **err)
{
    if (!cgroup_parent || !cgroup_parent[0])
        return crisp_error_make(err, EINVAL, "empty cgroup parent");
    if (strlen(cgroup_parent) > RT_CGROUP_PATH_MAX)
        return crisp_error_make(err, EINVAL, "cgroup parent is longer than %d bytes", RT_CGROUP_PATH_MAX);
    if (systemd && !strchr(cgroup_parent, '/'))
        return rt_cgroup_slice_path(cgroup_parent, ret_path, err);
    return cgroupfs_path(cgroup_parent, ret_path, err);
}

int rt_cgroup_pod_default_path(const char *default_parent, const char *id, bool systemd, char **ret_path,
                               crisp_error_t **err)
{
    const char *slice = default_parent + (default_parent[0] == '/'); /* "/crisp.slice" is "crisp.slice" */
    size_t n = strlen(slice), suffix = strlen(SLICE_SUFFIX);
    char *path = NULL;
    if (systemd && !strchr(slice, '/') && n > suffix && strcmp(slice + n - suffix, SLICE_SUFFIX) == 0 &&
        strcmp(slice, "-" SLICE_SUFFIX) != 0) {
        _cleanup_free_ char *name = NULL;
        if (asprintf(&name, "%.*s-pod%.12s" SLICE_SUFFIX, (int)(n - suffix), slice, id) < 0)
            return crisp_error_oom(err);
        return rt_cgroup_slice_path(name, ret_path, err);
    }
    if (asprintf(&path, "%s/pod-%.12s", default_parent, id) < 0)
        return crisp_error_oom(err);
    *ret_path = path;
    return 0;
}
