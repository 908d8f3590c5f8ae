#define _GNU_SOURCE
#include "runtime/attach.h"

#include "common/cleanup.h"
#include "helpers/lib/attach_proto.h"
#include "helpers/lib/fd_pass.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* How long the monitor may take to answer the hello: it serves attach from its one poll loop. */
#define ATTACH_ANSWER_MS 5000

/* Connects through the directory's fd: the path may be longer than sun_path. */
static int socket_connect(const char *path, int *ret_fd, crisp_error_t **err)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return crisp_error_make(err, EINVAL, "attach socket %s is not an absolute path", path);
    _cleanup_free_ char *dir = strndup(path, (size_t)(slash - path));
    _cleanup_close_ int dirfd = dir ? open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    if (dirfd < 0)
        return crisp_error_errno(err, "open %s", dir ? dir : path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/%s", dirfd, slash + 1);
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
        return crisp_error_make(err, ENAMETOOLONG, "attach socket name %s is too long", slash + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return crisp_error_errno(err, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return crisp_error_make(err, errno == ECONNREFUSED ? ENOENT : errno, "connect to %s: %s", path,
                                strerror(errno));
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* Our end of each pipe stays here; the monitor's end goes into far[]. */
static int pipes_make(struct rt_attachment *a, bool in, bool out, bool err_stream, int far[3], int *ret_n,
                      crisp_error_t **err)
{
    int p[2], n = 0;
    const bool want[3] = {in, out, err_stream};
    int *ours[3] = {&a->in_fd, &a->out_fd, &a->err_fd};
    for (int i = 0; i < 3; i++) {
        if (!want[i])
            continue;
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
            return crisp_error_errno(err, "pipe");
        *ours[i] = i == 0 ? p[1] : p[0];
        far[n++] = i == 0 ? p[0] : p[1];
    }
    *ret_n = n;
    return 0;
}

static int hello_send(int sock, bool in, bool out, bool err_stream, const int *fds, int n,
                      crisp_error_t **err)
{
    struct rt_attach_hello h = {.has_stdin = in, .has_stdout = out, .has_stderr = err_stream};
    memcpy(h.magic, RT_ATTACH_HELLO, 4);
    if (fd_pass_send(sock, &h, sizeof(h), fds, (size_t)n) != (ssize_t)sizeof(h))
        return crisp_error_errno(err, "send attach request");
    return 0;
}

static int answer_wait(int sock, crisp_error_t **err)
{
    struct pollfd p = {.fd = sock, .events = POLLIN};
    char answer = 0;
    if (poll(&p, 1, ATTACH_ANSWER_MS) != 1)
        return crisp_error_make(err, ETIMEDOUT, "the container's monitor did not answer the attach request");
    if (recv(sock, &answer, 1, 0) != 1 || answer != RT_ATTACH_OK)
        return crisp_error_make(err, ENOENT, "the container's monitor refused the attach request");
    return 0;
}

int rt_attach_open(const char *socket_path, bool in, bool out, bool err_stream, struct rt_attachment *ret,
                   crisp_error_t **err)
{
    struct rt_attachment a = {.sock = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1};
    int far[3] = {-1, -1, -1}, n = 0;
    int r = socket_connect(socket_path, &a.sock, err);
    if (r == 0)
        r = pipes_make(&a, in, out, err_stream, far, &n, err);
    if (r == 0)
        r = hello_send(a.sock, in, out, err_stream, far, n, err);
    for (int i = 0; i < 3; i++)
        if (far[i] >= 0)
            close(far[i]);
    if (r == 0)
        r = answer_wait(a.sock, err);
    if (r < 0) {
        rt_attach_close(&a);
        return -1;
    }
    fcntl(a.sock, F_SETFL, O_NONBLOCK);
    *ret = a;
    return 0;
}

int rt_attach_resize(struct rt_attachment *a, uint16_t width, uint16_t height, crisp_error_t **err)
{
    struct rt_attach_resize m = {.width = width, .height = height};
    memcpy(m.magic, RT_ATTACH_RESIZE, 4);
    if (send(a->sock, &m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(m))
        return crisp_error_errno(err, "send resize to the container's monitor");
    return 0;
}

void rt_attach_close(struct rt_attachment *a)
{
    fd_close_reset(&a->sock);
    fd_close_reset(&a->in_fd);
    fd_close_reset(&a->out_fd);
    fd_close_reset(&a->err_fd);
}
