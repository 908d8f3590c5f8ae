#define _GNU_SOURCE
#include "file.h"

#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Reads to EOF whatever st_size says: procfs and cgroupfs files report a size of 0. */
static int read_to_end(int fd, const char *path, size_t max, size_t hint, char **ret_data, size_t *ret_len,
                       crisp_error_t **err)
{
    size_t len = 0, cap = hint < max ? hint + 1 : max + 1;
    _cleanup_free_ char *buf = malloc(cap + 1);
    if (!buf)
        return crisp_error_oom_in(err, "read %s", path);
    for (;;) {
        if (len == cap) {
            if (cap > max)
                return crisp_error_make(err, EFBIG, "%s is larger than %zu bytes", path, max);
            size_t grown_cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *grown = realloc(buf, grown_cap + 1);
            if (!grown)
                return crisp_error_oom_in(err, "read %s", path);
            buf = grown;
            cap = grown_cap;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return crisp_error_errno(err, "read %s", path);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max)
        return crisp_error_make(err, EFBIG, "%s is larger than %zu bytes", path, max);
    buf[len] = '\0';
    *ret_data = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

int file_read_bounded(const char *path, size_t max, char **ret_data, size_t *ret_len, crisp_error_t **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return crisp_error_errno(err, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return crisp_error_errno(err, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return crisp_error_make(err, EINVAL, "%s is not a regular file", path);
    if ((size_t)st.st_size > max)
        return crisp_error_make(err, EFBIG, "%s is larger than %zu bytes", path, max);
    return read_to_end(fd, path, max, st.st_size > 0 ? (size_t)st.st_size : 4096, ret_data, ret_len, err);
}

int file_write_all(int fd, const void *buf, size_t len)
{
    const char *data = buf;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_parent(const char *path)
{
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return -1;
    _cleanup_close_ int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return dfd < 0 ? -1 : fsync(dfd);
}

static int write_replace(const char *path, const void *data, size_t len, mode_t mode, bool durable,
                         crisp_error_t **err)
{
    _cleanup_free_ char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
        return crisp_error_oom_in(err, "write %s", path);
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return crisp_error_errno(err, "create temp file for %s", path);
    if (fchmod(fd, mode) < 0 || file_write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
        crisp_error_errno(err, "write %s", tmp);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        crisp_error_errno(err, "rename %s to %s", tmp, path);
        unlink(tmp);
        return -1;
    }
    if (durable && fsync_parent(path) < 0)
        return crisp_error_errno(err, "fsync directory of %s", path);
    return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, crisp_error_t **err)
{
    return write_replace(path, data, len, mode, true, err);
}

int file_write_replace(const char *path, const void *data, size_t len, mode_t mode, crisp_error_t **err)
{
    return write_replace(path, data, len, mode, false, err);
}

int dir_create_all(const char *path, mode_t mode, crisp_error_t **err)
{
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return crisp_error_oom_in(err, "mkdir %s", path);
    for (char *p = copy + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return crisp_error_errno(err, "mkdir %s", copy);
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return crisp_error_errno(err, "stat %s", path);
    if (!S_ISDIR(st.st_mode))
        return crisp_error_make(err, ENOTDIR, "%s exists and is not a directory", path);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int r = type == FTW_DP ? rmdir(path) : unlink(path);
    return r < 0 && errno != ENOENT ? -1 : 0;
}

int dir_remove_all(const char *path, crisp_error_t **err)
{
    if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return crisp_error_errno(err, "remove %s", path);
    return 0;
}

static int lexical_order(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int dir_list_sorted(const char *dir, int (*filter)(const struct dirent *), char ***ret_names,
                    crisp_error_t **err)
{
    struct dirent **entries = NULL;
    int n = scandir(dir, &entries, filter, lexical_order);
    if (n < 0 && errno != ENOENT && errno != ENOTDIR)
        return crisp_error_errno(err, "read directory %s", dir);
    n = n < 0 ? 0 : n;
    char **names = calloc((size_t)n + 1, sizeof(char *));
    int r = names ? 0 : crisp_error_oom(err);
    for (int i = 0; i < n; i++) {
        if (r == 0 && !(names[i] = strdup(entries[i]->d_name)))
            r = crisp_error_oom(err);
        free(entries[i]);
    }
    free(entries);
    if (r < 0) {
        strv_free(names);
        return r;
    }
    *ret_names = names;
    return 0;
}

char *path_join(const char *a, const char *b)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}
