/* Attach: crispd connects to the container's attach socket (SOCK_SEQPACKET) and its first message
 * carries, as SCM_RIGHTS, the pipe ends this client is served through: the read end of its stdin and
 * the write ends of its stdout and stderr (those it asked for, in that order; protocol in
 * runtime/attach.h). Later messages resize the terminal. The client's stdin is relayed into the
 * workload's (the stdin pipe or the pty master) through one small buffer, so a workload that does not
 * read its stdin stalls only the clients' stdin, never its output. Output goes to every client without
 * blocking: a client whose pipe is full loses that chunk rather than stalling the workload and the log.
 * With stdin_once, the workload's stdin is closed when the first client that wrote stdin detaches or
 * closes its stdin. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "helpers/lib/attach_proto.h"
#include "helpers/lib/fd_pass.h"
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

struct client {
    int sock, in_r, out_w, err_w;
};

static struct {
    int listen_fd;
    char *path;   /* a copy: the spec is freed once the workload runs */
    int stdin_fd; /* the workload's stdin: the pipe's write end or the pty master; -1 once closed */
    int tty_fd;   /* the pty master, for resizes; -1 without a tty */
    bool tty, stdin_once;
    struct client clients[RT_ATTACH_MAX_CLIENTS];
    size_t n_clients;
    char pending[4096]; /* stdin read from a client, not yet taken by the workload */
    size_t pending_off, pending_len;
} att = {.listen_fd = -1, .stdin_fd = -1, .tty_fd = -1};

static void nonblock_set(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* The path may be longer than sun_path: bind through the directory's fd instead. */
static int bind_in_dir(int fd, const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash || (size_t)(slash - path) >= sizeof dir)
        return hl_fail(EINVAL, "attach socket path %s", path);
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    int dirfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return hl_fail(errno, "open %s", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/%s", dirfd, slash + 1);
    int rc = n > 0 && (size_t)n < sizeof sa.sun_path ? bind(fd, (struct sockaddr *)&sa, sizeof sa) : -1;
    int saved = n > 0 && (size_t)n < sizeof sa.sun_path ? errno : ENAMETOOLONG;
    close(dirfd);
    return rc < 0 ? hl_fail(saved, "bind attach socket %s", path) : 0;
}

int mon_attach_listen(const char *path, const struct mon_stdio *io, bool stdin_once)
{
    if (!path || !path[0])
        return 0;
    if (!(att.path = strdup(path)))
        return hl_fail(ENOMEM, "attach socket %s", path);
    att.tty = io->tty;
    att.stdin_once = stdin_once;
    att.stdin_fd = io->tty ? io->out_r : io->in_w;
    att.tty_fd = io->tty ? io->out_r : -1;
    unlink(path);
    att.listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (att.listen_fd < 0)
        return hl_fail(errno, "attach socket");
    if (bind_in_dir(att.listen_fd, path) < 0)
        return -1;
    if (listen(att.listen_fd, RT_ATTACH_MAX_CLIENTS) < 0)
        return hl_fail(errno, "listen on %s", path);
    if (att.stdin_fd >= 0)
        nonblock_set(att.stdin_fd);
    return 0;
}

/* With a pipe, closing our write end is the workload's EOF; a pty master must stay (it is also the
 * output), so the terminal gets an end-of-file character instead. */
static void workload_stdin_close(void)
{
    if (att.stdin_fd < 0)
        return;
    if (att.tty) {
        static const char eot = 4;
        if (write(att.stdin_fd, &eot, 1) < 0) {
            /* the terminal is gone: nothing to tell */
        }
        att.stdin_fd = -1;
        return;
    }
    fd_close_reset(&att.stdin_fd);
    att.pending_len = att.pending_off = 0;
}

static void client_stdin_end(struct client *c)
{
    bool had_stdin = c->in_r >= 0;
    fd_close_reset(&c->in_r);
    if (had_stdin && att.stdin_once)
        workload_stdin_close();
}

static void client_drop(size_t i)
{
    struct client *c = &att.clients[i];
    client_stdin_end(c);
    fd_close_reset(&c->sock);
    fd_close_reset(&c->out_w);
    fd_close_reset(&c->err_w);
    att.clients[i] = att.clients[--att.n_clients];
}

/* The hello: which pipes follow; anything malformed drops the client. */
static int client_hello(struct client *c)
{
    struct rt_attach_hello h = {0};
    int fds[3] = {-1, -1, -1};
    size_t got = 0;
    ssize_t n = fd_pass_recv(c->sock, &h, sizeof h, fds, 3, &got);
    size_t want = (size_t)(h.has_stdin + h.has_stdout + h.has_stderr);
    if (n != (ssize_t)sizeof h || memcmp(h.magic, RT_ATTACH_HELLO, 4) != 0 || got != want) {
        for (size_t i = 0; i < got; i++)
            close(fds[i]);
        return -1;
    }
    int k = 0;
    c->in_r = h.has_stdin ? fds[k++] : -1;
    c->out_w = h.has_stdout ? fds[k++] : -1;
    c->err_w = h.has_stderr ? fds[k++] : -1;
    for (size_t i = 0; i < got; i++)
        nonblock_set(fds[i]);
    if (c->in_r >= 0 && att.stdin_fd < 0)
        fd_close_reset(&c->in_r); /* stdin_once already spent: the client's stdin goes nowhere */
    char ok = RT_ATTACH_OK;
    return send(c->sock, &ok, 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static void clients_accept(void)
{
    int fd;
    while ((fd = accept4(att.listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        if (att.n_clients == RT_ATTACH_MAX_CLIENTS) {
            close(fd);
            continue;
        }
        /* The hello is sent right after connect: wait for it briefly rather than track a half state. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        struct client c = {.sock = fd, .in_r = -1, .out_w = -1, .err_w = -1};
        att.clients[att.n_clients++] = c;
        if (poll(&p, 1, 1000) != 1 || client_hello(&att.clients[att.n_clients - 1]) < 0)
            client_drop(att.n_clients - 1);
    }
}

static void client_message(size_t i)
{
    struct rt_attach_resize r;
    ssize_t n = recv(att.clients[i].sock, &r, sizeof r, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        client_drop(i);
        return;
    }
    if (n == (ssize_t)sizeof r && memcmp(r.magic, RT_ATTACH_RESIZE, 4) == 0 && att.tty_fd >= 0) {
        struct winsize ws = {.ws_row = r.height, .ws_col = r.width};
        ioctl(att.tty_fd, TIOCSWINSZ, &ws);
    }
}

static void client_stdin_read(struct client *c)
{
    ssize_t n = read(c->in_r, att.pending, sizeof att.pending);
    if (n > 0) {
        att.pending_off = 0;
        att.pending_len = (size_t)n;
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        client_stdin_end(c);
    }
}

static void pending_flush(void)
{
    ssize_t n = write(att.stdin_fd, att.pending + att.pending_off, att.pending_len - att.pending_off);
    if (n > 0)
        att.pending_off += (size_t)n;
    else if (n < 0 && errno != EAGAIN && errno != EINTR)
        att.pending_off = att.pending_len; /* the workload closed its stdin */
    if (att.pending_off == att.pending_len)
        att.pending_off = att.pending_len = 0;
}

size_t mon_attach_pollfds(struct pollfd *pfds)
{
    size_t n = 0;
    if (att.listen_fd < 0)
        return 0;
    pfds[n++] = (struct pollfd){.fd = att.listen_fd, .events = POLLIN};
    bool can_take_stdin = att.pending_len == 0 && att.stdin_fd >= 0;
    pfds[n++] = (struct pollfd){.fd = att.pending_len ? att.stdin_fd : -1, .events = POLLOUT};
    for (size_t i = 0; i < att.n_clients; i++) {
        pfds[n++] = (struct pollfd){.fd = att.clients[i].sock, .events = POLLIN};
        pfds[n++] = (struct pollfd){.fd = can_take_stdin ? att.clients[i].in_r : -1, .events = POLLIN};
    }
    return n;
}

/* pfds as mon_attach_pollfds filled them, before any client came or went. */
void mon_attach_handle(const struct pollfd *pfds)
{
    if (att.listen_fd < 0)
        return;
    if (pfds[1].revents)
        pending_flush();
    for (size_t i = att.n_clients; i-- > 0;) {
        const struct pollfd *p = &pfds[2 + 2 * i];
        if (p[1].revents && p[1].fd >= 0 && att.pending_len == 0 && att.stdin_fd >= 0)
            client_stdin_read(&att.clients[i]);
        if (p[0].revents)
            client_message(i);
    }
    if (pfds[0].revents)
        clients_accept();
}

/* With a tty the terminal exists only once the workload opened it. */
void mon_attach_terminal(int master)
{
    att.tty_fd = master;
    if (att.listen_fd >= 0 && att.tty) {
        att.stdin_fd = master;
        nonblock_set(master);
    }
}

static void output_send(int *fd, const char *data, size_t len)
{
    if (*fd < 0)
        return;
    ssize_t n = write(*fd, data, len);
    if (n < 0 && errno == EPIPE)
        fd_close_reset(fd);
}

void mon_attach_output(enum mon_stream stream, const char *data, size_t len)
{
    for (size_t i = 0; i < att.n_clients; i++)
        output_send(stream == MON_STDOUT ? &att.clients[i].out_w : &att.clients[i].err_w, data, len);
}

/* The workload is gone: every client sees EOF, and nobody can attach any more. */
void mon_attach_close(void)
{
    while (att.n_clients > 0)
        client_drop(att.n_clients - 1);
    if (att.listen_fd >= 0) {
        close(att.listen_fd);
        att.listen_fd = -1;
        unlink(att.path);
    }
}
