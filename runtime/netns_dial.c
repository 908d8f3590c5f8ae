/* A socket belongs to the network namespace of the thread that created it, whatever thread later
 * uses it. So a short-lived thread enters the pod's namespace and makes the sockets, and dies there:
 * no thread of crispd ever has to find its way back to the host's namespace. */
#define _GNU_SOURCE
#include "runtime/netns_dial.h"

#include "common/cleanup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct maker {
    int nsfd;
    int fd4, fd6; /* out */
    int error;    /* errno of setns, 0 if entered */
};

static void *sockets_make(void *arg)
{
    struct maker *m = arg;
    if (m->nsfd >= 0 && setns(m->nsfd, CLONE_NEWNET) < 0) {
        m->error = errno;
        return NULL;
    }
    m->fd4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    m->fd6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return NULL;
}

static int sockets_in_netns(const char *netns_path, int *ret_fd4, int *ret_fd6, crisp_error_t **err)
{
    _cleanup_close_ int nsfd = netns_path[0] ? open(netns_path, O_RDONLY | O_CLOEXEC) : -1;
    if (netns_path[0] && nsfd < 0)
        return crisp_error_make(err, errno == ENOENT ? ENOENT : EIO,
                                "open the pod's network namespace %s: %s", netns_path, strerror(errno));
    struct maker m = {.nsfd = nsfd, .fd4 = -1, .fd6 = -1};
    pthread_t t;
    int r = pthread_create(&t, NULL, sockets_make, &m);
    if (r != 0) {
        errno = r;
        return crisp_error_errno(err, "start a thread to enter the pod's network namespace");
    }
    pthread_join(t, NULL);
    if (m.error) {
        errno = m.error;
        return crisp_error_errno(err, "enter the pod's network namespace %s", netns_path);
    }
    *ret_fd4 = m.fd4;
    *ret_fd6 = m.fd6;
    return 0;
}

static int connect_loopback(int fd, int family, uint16_t port)
{
    if (fd < 0)
        return -1;
    if (family == AF_INET) {
        struct sockaddr_in sa = {
            .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        return connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    }
    struct sockaddr_in6 sa = {
        .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    return connect(fd, (struct sockaddr *)&sa, sizeof(sa));
}

int rt_netns_dial(const char *netns_path, uint16_t port, int *ret_fd, crisp_error_t **err)
{
    if (port == 0)
        return crisp_error_make(err, EINVAL, "port 0 cannot be forwarded");
    int fd4 = -1, fd6 = -1;
    if (sockets_in_netns(netns_path, &fd4, &fd6, err) < 0)
        return -1;
    _cleanup_close_ int s4 = fd4, s6 = fd6;
    /* Loopback connects finish at once (or are refused at once): no need for a non-blocking connect. */
    if (connect_loopback(s4, AF_INET, port) == 0) {
        *ret_fd = TAKE_FD(s4);
    } else {
        int saved = s4 >= 0 ? errno : EAFNOSUPPORT;
        if (connect_loopback(s6, AF_INET6, port) < 0)
            return crisp_error_make(err, saved, "dial localhost:%u in the pod's network namespace: %s",
                                    (unsigned)port, strerror(saved));
        *ret_fd = TAKE_FD(s6);
    }
    fcntl(*ret_fd, F_SETFL, fcntl(*ret_fd, F_GETFL) | O_NONBLOCK);
    return 0;
}
