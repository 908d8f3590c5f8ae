/* Passing file descriptors over a unix socket (SCM_RIGHTS) with a small message, as crispd, the
 * attach socket's monitor and crisp-exec's terminal hand-over need it. Header only: the libc-only
 * helpers include it too. */
#ifndef CRISP_RUNTIME_FD_PASS_H
#define CRISP_RUNTIME_FD_PASS_H

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FD_PASS_MAX 4

/* Sends len bytes of data with n fds (n <= FD_PASS_MAX; 0: none); sendmsg's result. */
static inline ssize_t fd_pass_send(int sock, const void *data, size_t len, const int *fds, size_t n)
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

/* Receives up to len bytes and up to max fds (close-on-exec; any beyond max are closed) into fds,
 * their number in *ret_n; recvmsg's result. */
static inline ssize_t fd_pass_recv(int sock, void *data, size_t len, int *fds, size_t max, size_t *ret_n)
{
    char control[CMSG_SPACE(FD_PASS_MAX * sizeof(int))];
    struct iovec iov = {data, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                        .msg_controllen = sizeof(control)};
    ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    size_t n = 0;
    for (struct cmsghdr *cm = r >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t j = 0; j < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); j++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(fd));
            if (n < max)
                fds[n++] = fd;
            else
                close(fd);
        }
    }
    *ret_n = n;
    return r;
}

#endif
