#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* cgroup.procs of a busy cgroup is the largest file read: 4M pids at 8 bytes each. */
#define READ_MAX (32u << 20)
/* The kernel frees exiting tasks asynchronously; give a just-emptied cgroup ~100 ms to let go. */
#define RMDIR_TRIES 10
#define RMDIR_WAIT_NS 10000000L

char *rt_cgroup_join(const char *dir, const char *name)
{
    char *s = NULL;
    return asprintf(&s, "%s/%s", dir, name) < 0 ? NULL : s;
}

char *rt_cgroup_dir(const char *base, const char *path)
{
    char *s = NULL;
    return asprintf(&s, "%s%s", base, path) < 0 ? NULL : s;
}

int rt_cgroup_read_file(const char *path, char **ret_text, crisp_error_t **err)
{
    return file_read_bounded(path, READ_MAX, ret_text, NULL, err);
}

/* One write(2) per value: interface files parse each write on its own. No O_CREAT: a missing file
 * means a missing controller, which must not turn into a plain file in cgroupfs. */
int rt_cgroup_write_file(const char *path, const char *value, crisp_error_t **err)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return crisp_error_errno(err, "write \"%s\" to %s", value, path);
    /* An empty write may never reach the kernel's parser; a newline clears a list just the same. */
    const char *data = value[0] ? value : "\n";
    size_t len = strlen(data);
    ssize_t n;
    do
        n = write(fd, data, len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return crisp_error_errno(err, "write \"%s\" to %s", value, path);
    if ((size_t)n != len)
        return crisp_error_make(err, EIO, "write \"%s\" to %s: short write", value, path);
    return 0;
}

static int parse_pids(const char *text, const char *path, pid_t *pids, size_t *ret_n, crisp_error_t **err)
{
    size_t n = 0;
    for (const char *p = text; *p;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v <= 0 || v > INT32_MAX || (*end && *end != '\n'))
            return crisp_error_make(err, EINVAL, "%s: bad pid line \"%.*s\"", path, (int)strcspn(p, "\n"), p);
        pids[n++] = (pid_t)v;
        p = *end ? end + 1 : end;
    }
    *ret_n = n;
    return 0;
}

int rt_cgroup_read_pids(const char *dir, pid_t **ret_pids, size_t *ret_n, crisp_error_t **err)
{
    _cleanup_free_ char *path = rt_cgroup_join(dir, "cgroup.procs");
    _cleanup_free_ char *text = NULL;
    if (!path)
        return crisp_error_oom(err);
    if (rt_cgroup_read_file(path, &text, err) < 0)
        return -1;
    size_t lines = 1;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    _cleanup_free_ pid_t *pids = calloc(lines, sizeof(pid_t));
    if (!pids)
        return crisp_error_oom(err);
    if (parse_pids(text, path, pids, ret_n, err) < 0)
        return -1;
    *ret_pids = TAKE_PTR(pids);
    return 0;
}

bool rt_cgroup_has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t\n");
        size_t len = strcspn(p, " \t\n");
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p += len;
    }
    return false;
}

int rt_cgroup_mkdir_walk(const char *base, const char *path, rt_cgroup_step_fn step, int *ret_created,
                         crisp_error_t **err)
{
    _cleanup_free_ char *dir = rt_cgroup_dir(base, path);
    if (!dir)
        return crisp_error_oom(err);
    size_t base_len = strlen(base);
    int depth = 0, first_created = 0;
    for (char *p = dir + base_len + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        depth++;
        bool created = mkdir(dir, 0755) == 0;
        int r = created || errno == EEXIST ? 0 : crisp_error_errno(err, "mkdir %s", dir);
        if (created && !first_created)
            first_created = depth;
        if (r == 0 && step)
            r = step(dir, depth, created, err);
        if (r < 0) {
            if (first_created)
                rt_cgroup_rmdir_up(base, dir + base_len, depth - first_created + 1);
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    *ret_created = first_created ? depth - first_created + 1 : 0;
    return 0;
}

void rt_cgroup_rmdir_up(const char *base, const char *path, int n)
{
    _cleanup_free_ char *dir = rt_cgroup_dir(base, path);
    if (!dir)
        return;
    size_t base_len = strlen(base);
    for (; n > 0 && strlen(dir) > base_len + 1; n--) {
        /* ENOENT: already gone, its parent may still be ours to remove. */
        if (rmdir(dir) < 0 && errno != ENOENT)
            return;
        *strrchr(dir, '/') = '\0';
    }
}

static int is_subdir(const struct dirent *d)
{
    return d->d_type == DT_DIR && strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

int rt_cgroup_list_subdirs(const char *dir, char ***ret_names, crisp_error_t **err)
{
    return dir_list_sorted(dir, is_subdir, ret_names, err);
}

/* Interface files can't be unlinked; a cgroup goes with one rmdir once its children have gone. */
static int rmdir_tree(const char *dir, crisp_error_t **err)
{
    _cleanup_strv_ char **subdirs = NULL;
    if (rt_cgroup_list_subdirs(dir, &subdirs, err) < 0)
        return -1;
    for (char **s = subdirs; *s; s++) {
        _cleanup_free_ char *sub = rt_cgroup_join(dir, *s);
        if (!sub)
            return crisp_error_oom(err);
        if (rmdir_tree(sub, err) < 0)
            return -1;
    }
    for (int i = 1;; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY || i == RMDIR_TRIES)
            return crisp_error_errno(err, "rmdir %s", dir);
        nanosleep(&(struct timespec){.tv_nsec = RMDIR_WAIT_NS}, NULL);
    }
}

int rt_cgroup_remove_at(const char *base, const char *path, int created_depth, crisp_error_t **err)
{
    _cleanup_free_ char *dir = rt_cgroup_dir(base, path);
    if (!dir)
        return crisp_error_oom(err);
    if (rmdir_tree(dir, err) < 0)
        return -1;
    _cleanup_free_ char *parent = strndup(path, strrchr(path, '/') - path);
    if (!parent)
        return crisp_error_oom(err);
    rt_cgroup_rmdir_up(base, parent, created_depth - 1);
    return 0;
}
