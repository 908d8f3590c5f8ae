#include "helpers/lib/fd_pass.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t fd_pass_send(int sock, const void *data, size_t len, const int *fds, size_t n)
{
    char control[CMSG_SPACE(FD_PASS_MAX * sizeof(int))];
    struct iovec iov = {(void *)data, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    memset(control, 0, sizeof(control));
    if (n > 0 && n <= FD_PASS_MAX) {
        mh.msg_control = control;
        mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_len = CMSG_LEN(n * sizeof(int));
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
    }
    return sendmsg(sock, &mh, MSG_NOSIGNAL);
}

/* Takes the fds of one SCM_RIGHTS message into fds[*n..max), closing any beyond. */
static void fd_pass_take(const struct cmsghdr *cm, int *fds, size_t max, size_t *n)
{
    for (size_t j = 0; j < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); j++) {
        int fd;
        memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(fd));
        if (*n < max)
            fds[(*n)++] = fd;
        else
            close(fd);
    }
}

ssize_t fd_pass_recv(int sock, void *data, size_t len, int *fds, size_t max, size_t *ret_n)
{
    char control[CMSG_SPACE(FD_PASS_MAX * sizeof(int))];
    struct iovec iov = {data, len};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
    ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    size_t n = 0;
    for (struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
            fd_pass_take(cm, fds, max, &n);
    *ret_n = n;
    return r;
}
