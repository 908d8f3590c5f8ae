/* Passing file descriptors over a unix socket (SCM_RIGHTS) with a small message, as crispd, the attach
 * socket's monitor and crisp-exec's terminal hand-over need it. crispd's threads call it too, so it
 * keeps no error state: results and errno are sendmsg's and recvmsg's, and callers say what failed. */
#ifndef CRISP_HELPERS_FD_PASS_H
#define CRISP_HELPERS_FD_PASS_H

#include <stddef.h>
#include <sys/types.h>

#define FD_PASS_MAX 4

/* Sends len bytes of data with n fds (n <= FD_PASS_MAX; 0: none); sendmsg's result. */
ssize_t fd_pass_send(int sock, const void *data, size_t len, const int *fds, size_t n);

/* Receives up to len bytes and up to max fds (close-on-exec; any beyond max are closed) into fds,
 * their number in *ret_n; recvmsg's result. */
ssize_t fd_pass_recv(int sock, void *data, size_t len, int *fds, size_t max, size_t *ret_n);

#endif
