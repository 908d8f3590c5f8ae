/* The CRI log format kubelet reads: `<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>\n`. A line longer
 * than max_line is cut into P parts of max_line bytes and a final F part; "\r\n" ends a line like
 * "\n". Output that ends without a newline is written as a P part at EOF, as containerd does
 * (pkg/cri/io/logger.go, redirectLogs: "in that case it should be treated as a partial line").
 * Only the unfinished tail of a line is buffered, max_line bytes at most, allocated when first needed. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct pending {
    char *buf;
    size_t len;
};

static struct {
    int fd;
    char path[PATH_MAX];
    size_t max_line;
    struct pending pending[2];
} crilog = {.fd = -1};

static const char *const stream_names[] = {"stdout", "stderr"};

int mon_crilog_open(const char *path, size_t max_line)
{
    crilog.max_line = max_line;
    if (path[0] == '\0')
        return 0;
    if (strlen(path) >= sizeof crilog.path)
        return hl_fail(ENAMETOOLONG, "open log %s", path);
    strcpy(crilog.path, path);
    crilog.fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (crilog.fd < 0)
        return hl_fail(errno, "open log %s", path);
    return 0;
}

/* kubelet renamed the file and wants a new one. Should that fail, the old file keeps the lines. */
void mon_crilog_reopen(void)
{
    if (crilog.fd < 0)
        return;
    int fd = open(crilog.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return;
    close(crilog.fd);
    crilog.fd = fd;
}

static size_t header_format(char *buf, size_t size, enum mon_stream stream, char tag)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, size - n, ".%09ldZ %s %c ", ts.tv_nsec, stream_names[stream], tag);
    return n;
}

/* One line from the pending tail and the new bytes, in one write so lines never interleave.
 * Write errors are dropped: the output must keep draining or the workload blocks. */
static void line_write(enum mon_stream stream, char tag, const char *data, size_t len)
{
    struct pending *p = &crilog.pending[stream];
    char header[80];
    struct iovec iov[4] = {
        {header, header_format(header, sizeof header, stream, tag)},
        {p->buf, p->len},
        {(void *)data, len},
        {"\n", 1},
    };
    ssize_t rc = writev(crilog.fd, iov, 4);
    (void)rc;
    p->len = 0;
}

/* Keeps an unfinished line; with no memory for it, writes what there is as a part instead. */
static void pending_add(enum mon_stream stream, const char *data, size_t len)
{
    struct pending *p = &crilog.pending[stream];
    if (p->buf == NULL)
        p->buf = malloc(crilog.max_line);
    if (p->buf == NULL) {
        line_write(stream, 'P', data, len);
        return;
    }
    memcpy(p->buf + p->len, data, len);
    p->len += len;
}

/* A newline right after max_line bytes still ends a full line, hence the search over room + 1. */
void mon_crilog_write(enum mon_stream stream, const char *data, size_t len)
{
    struct pending *p = &crilog.pending[stream];
    while (crilog.fd >= 0 && len > 0) {
        size_t room = crilog.max_line - p->len;
        const char *nl = memchr(data, '\n', len < room + 1 ? len : room + 1);
        size_t used;
        if (nl != NULL) {
            size_t text = (size_t)(nl - data);
            if (text > 0 && data[text - 1] == '\r')
                text--;
            else if (text == 0 && p->len > 0 && p->buf[p->len - 1] == '\r')
                p->len--;
            line_write(stream, 'F', data, text);
            used = (size_t)(nl - data) + 1;
        } else if (len > room) {
            line_write(stream, 'P', data, room);
            used = room;
        } else {
            pending_add(stream, data, len);
            used = len;
        }
        data += used;
        len -= used;
    }
}

void mon_crilog_eof(enum mon_stream stream)
{
    if (crilog.fd >= 0 && crilog.pending[stream].len > 0)
        line_write(stream, 'P', "", 0);
}
