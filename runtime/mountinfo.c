#define _GNU_SOURCE
#include "runtime/mountinfo.h"

#include "common/cleanup.h"
#include "common/file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

int rt_mountinfo_read(char **ret_text, crisp_error_t **err)
{
    return file_read_bounded("/proc/self/mountinfo", RT_MOUNTINFO_MAX, ret_text, NULL, err);
}

void rt_mountinfo_unescape(char *s)
{
    char *out = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
            s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* The mount point (field 5) of a mountinfo line if it is dir or below it, else NULL. */
static char *mount_point_below(char *line, const char *dir, size_t dir_len)
{
    char *field = line;
    for (int i = 0; i < 4 && field; i++)
        if ((field = strchr(field, ' ')))
            field++;
    if (!field)
        return NULL;
    field[strcspn(field, " ")] = '\0';
    rt_mountinfo_unescape(field);
    return strncmp(field, dir, dir_len) == 0 && (field[dir_len] == '/' || field[dir_len] == '\0') ? field
                                                                                                  : NULL;
}

static int deeper_first(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

int rt_unmount_below(const char *dir, crisp_error_t **err)
{
    _cleanup_free_ char *text = NULL;
    if (rt_mountinfo_read(&text, err) < 0)
        return -1;
    size_t n = 0, cap = 16, dir_len = strlen(dir);
    _cleanup_free_ char **points = malloc(cap * sizeof(char *));
    if (!points)
        return crisp_error_oom(err);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = mount_point_below(line, dir, dir_len);
        if (!p)
            continue;
        if (n == cap) {
            char **grown = realloc(points, (cap *= 2) * sizeof(char *));
            if (!grown)
                return crisp_error_oom(err);
            points = grown;
        }
        points[n++] = p;
    }
    qsort(points, n, sizeof(char *), deeper_first);
    for (size_t i = 0; i < n; i++) {
        while (umount2(points[i], MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            ;
        if (errno != EINVAL && errno != ENOENT)
            return crisp_error_errno(err, "unmount %s", points[i]);
    }
    return 0;
}
