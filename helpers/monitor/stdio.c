/* The workload's stdio: pipes the monitor reads (or one pty), and stdin from /dev/null or a pipe
 * whose write end the monitor keeps for attach. Every fd here is close-on-exec: the child dup2s its
 * ends onto 0..2 and nothing else reaches the workload. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "helpers/lib/fd_pass.h"
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int tty_socket(struct mon_stdio *io)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        return hl_fail(errno, "socketpair");
    io->tty_sock = sp[0];
    io->child_tty_sock = sp[1];
    return 0;
}

static int pipe_pair(int *ret_read, int *ret_write)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return hl_fail(errno, "pipe");
    *ret_read = p[0];
    *ret_write = p[1];
    return 0;
}

int mon_stdio_create(const struct mon_spec *spec, struct mon_stdio *ret_io)
{
    struct mon_stdio *io = ret_io;
    *io = (struct mon_stdio){.tty = spec->tty,
                             .child_in = -1,
                             .child_out = -1,
                             .child_err = -1,
                             .in_w = -1,
                             .out_r = -1,
                             .err_r = -1,
                             .tty_sock = -1,
                             .child_tty_sock = -1};
    if (spec->tty)
        return tty_socket(io);
    if (pipe_pair(&io->out_r, &io->child_out) < 0 || pipe_pair(&io->err_r, &io->child_err) < 0)
        return -1;
    if (spec->stdin_open)
        return pipe_pair(&io->child_in, &io->in_w);
    io->child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (io->child_in < 0)
        return hl_fail(errno, "open /dev/null");
    return 0;
}

/* With a pty, all three child ends are the one slave fd. */
void mon_stdio_close_child_ends(struct mon_stdio *io)
{
    fd_close_reset(&io->child_tty_sock);
    if (io->child_err != io->child_out)
        fd_close_reset(&io->child_err);
    if (io->child_in != io->child_out)
        fd_close_reset(&io->child_in);
    fd_close_reset(&io->child_out);
    io->child_in = io->child_err = -1;
}

void mon_stdio_close(struct mon_stdio *io)
{
    mon_stdio_close_child_ends(io);
    fd_close_reset(&io->in_w);
    fd_close_reset(&io->out_r);
    fd_close_reset(&io->err_r);
    fd_close_reset(&io->tty_sock);
}

/* The container's /dev/ptmx is its own devpts instance, so the workload's tty has a name there. */
int mon_stdio_terminal_open(struct mon_stdio *io)
{
    if (!io->tty)
        return 0;
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), unlock = 0;
    if (master < 0)
        return hl_fail(errno, "open the container's /dev/ptmx");
    int slave = ioctl(master, TIOCSPTLCK, &unlock) < 0 ? -1 : ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (slave < 0) {
        int saved = errno;
        close(master);
        return hl_fail(saved, "set up a terminal");
    }
    ssize_t n = fd_pass_send(io->child_tty_sock, "t", 1, &master, 1);
    int saved = errno;
    close(master);
    if (n != 1) {
        close(slave);
        return hl_fail(saved, "send the terminal to the monitor");
    }
    fcntl(slave, F_SETFD, FD_CLOEXEC);
    io->child_in = io->child_out = io->child_err = slave;
    return 0;
}

int mon_stdio_terminal_receive(struct mon_stdio *io)
{
    if (!io->tty)
        return 0;
    char byte;
    size_t n = 0;
    struct pollfd p = {.fd = io->tty_sock, .events = POLLIN};
    if (poll(&p, 1, 10000) != 1 || fd_pass_recv(io->tty_sock, &byte, 1, &io->out_r, 1, &n) != 1 || n != 1)
        return hl_fail(EIO, "the container process sent no terminal");
    fd_close_reset(&io->tty_sock);
    mon_attach_terminal(io->out_r);
    return 0;
}
