/* The workload's stdio: pipes the monitor reads (or one pty), and stdin from /dev/null or a pipe
 * whose write end the monitor keeps for attach. Every fd here is close-on-exec: the child dup2s its
 * ends onto 0..2 and nothing else reaches the workload. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static int pty_open(struct mon_stdio *io)
{
    char name[64];
    io->out_r = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (io->out_r < 0)
        return mon_fail(errno, "open pty");
    if (grantpt(io->out_r) < 0 || unlockpt(io->out_r) < 0 || ptsname_r(io->out_r, name, sizeof name) != 0)
        return mon_fail(errno, "set up pty");
    io->child_out = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (io->child_out < 0)
        return mon_fail(errno, "open %s", name);
    io->child_in = io->child_out;
    io->child_err = io->child_out;
    return 0;
}

static int pipe_pair(int *ret_read, int *ret_write)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return mon_fail(errno, "pipe");
    *ret_read = p[0];
    *ret_write = p[1];
    return 0;
}

int mon_stdio_create(const struct mon_spec *spec, struct mon_stdio *ret_io)
{
    struct mon_stdio *io = ret_io;
    *io = (struct mon_stdio){.tty = spec->tty, .child_in = -1, .child_out = -1, .child_err = -1,
                             .in_w = -1, .out_r = -1, .err_r = -1};
    if (spec->tty)
        return pty_open(io);
    if (pipe_pair(&io->out_r, &io->child_out) < 0 || pipe_pair(&io->err_r, &io->child_err) < 0)
        return -1;
    if (spec->stdin_open)
        return pipe_pair(&io->child_in, &io->in_w);
    io->child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (io->child_in < 0)
        return mon_fail(errno, "open /dev/null");
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* With a pty, all three child ends are the one slave fd. */
void mon_stdio_close_child_ends(struct mon_stdio *io)
{
    if (io->child_err != io->child_out)
        close_fd(&io->child_err);
    if (io->child_in != io->child_out)
        close_fd(&io->child_in);
    close_fd(&io->child_out);
    io->child_in = io->child_err = -1;
}

void mon_stdio_close(struct mon_stdio *io)
{
    mon_stdio_close_child_ends(io);
    close_fd(&io->in_w);
    close_fd(&io->out_r);
    close_fd(&io->err_r);
}
