#include "helpers/lib/proc_stat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The command name in field 2 may hold spaces and ')', so fields are counted from its last ')'. */
int hl_proc_stat_parse(const char *line, struct hl_proc_stat *ret)
{
    const char *p = strrchr(line, ')');
    if (!p)
        return -EINVAL;
    p++;
    for (int field = 3; field < 22; field++) {
        p += strspn(p, " ");
        if (*p == '\0' || *p == '\n')
            return -EINVAL;
        if (field == 3)
            ret->state = *p;
        p += strcspn(p, " \n");
    }
    p += strspn(p, " ");
    if (*p < '0' || *p > '9')
        return -EINVAL;
    char *end;
    int saved = errno;
    errno = 0;
    unsigned long long start = strtoull(p, &end, 10);
    int bad = errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0');
    errno = saved;
    if (bad)
        return -EINVAL;
    ret->start_time = start;
    return 0;
}

/* Fields 1 to 22 fit well within the buffer: the command name is at most 64 bytes. */
int hl_proc_stat_read(int dirfd, const char *path, struct hl_proc_stat *ret)
{
    char buf[2048];
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int saved = errno;
    close(fd);
    if (n < 0)
        return saved == ESRCH ? -ENOENT : -saved;
    buf[n] = '\0';
    return hl_proc_stat_parse(buf, ret);
}
