/* The monitor's life while the workload runs: one poll over a signalfd and the workload's output.
 * SIGTERM and SIGINT are ignored (crispd signals the workload itself); SIGUSR1 reopens the log;
 * SIGCHLD reaps, the workload and, as we are a subreaper, any orphan of it. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

/* After the workload's exit, a process it left behind may hold its output open: read what is
 * there, boundedly, and stop. */
#define DRAIN_MAX_READS 256

static int signal_fd = -1;
static const int ignored_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE};

int mon_signals_setup(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGUSR1);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return hl_fail(errno, "block signals");
    signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd < 0)
        return hl_fail(errno, "signalfd");
    for (size_t i = 0; i < sizeof ignored_signals / sizeof *ignored_signals; i++)
        signal(ignored_signals[i], SIG_IGN);
    return 0;
}

/* In the child: ignored signals and the blocked mask would survive exec into the workload. */
void mon_signals_reset(void)
{
    sigset_t none;
    for (size_t i = 0; i < sizeof ignored_signals / sizeof *ignored_signals; i++)
        signal(ignored_signals[i], SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Returns true once the workload itself has been reaped. */
static bool signals_handle(pid_t pid, int *ret_status)
{
    struct signalfd_siginfo si;
    bool exited = false;
    while (read(signal_fd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGUSR1)
            mon_crilog_reopen();
    }
    int status;
    pid_t reaped;
    while ((reaped = waitpid(-1, &status, WNOHANG | __WALL)) > 0)
        if (reaped == pid) {
            *ret_status = status;
            exited = true;
        }
    return exited;
}

static char read_buf[16384];

enum read_result { READ_DATA, READ_NONE, READ_EOF };

/* A pty master reports EIO, not EOF, once the last slave fd is closed. */
static enum read_result stream_read(int fd, enum mon_stream stream)
{
    ssize_t n = read(fd, read_buf, sizeof read_buf);
    if (n > 0) {
        mon_crilog_write(stream, read_buf, (size_t)n);
        mon_attach_output(stream, read_buf, (size_t)n);
        return READ_DATA;
    }
    return n < 0 && (errno == EINTR || errno == EAGAIN) ? READ_NONE : READ_EOF;
}

static void stream_close(struct pollfd *pfd, enum mon_stream stream)
{
    mon_crilog_eof(stream);
    close(pfd->fd);
    pfd->fd = -1;
}

static void streams_drain(struct pollfd *pfds)
{
    for (int i = 0; i < 2; i++) {
        if (pfds[i].fd < 0)
            continue;
        fcntl(pfds[i].fd, F_SETFL, fcntl(pfds[i].fd, F_GETFL) | O_NONBLOCK);
        for (int reads = 0; reads < DRAIN_MAX_READS; reads++)
            if (stream_read(pfds[i].fd, (enum mon_stream)i) != READ_DATA)
                break;
        stream_close(&pfds[i], (enum mon_stream)i);
    }
}

void mon_loop_run(struct mon_stdio *io, pid_t pid, int *ret_status)
{
    struct pollfd pfds[3 + MON_ATTACH_MAX_POLLFDS] = {{.fd = io->out_r, .events = POLLIN},
                                                      {.fd = io->err_r, .events = POLLIN},
                                                      {.fd = signal_fd, .events = POLLIN}};
    bool exited = false;
    while (!exited) {
        size_t n = 3 + mon_attach_pollfds(pfds + 3);
        if (poll(pfds, n, -1) < 0)
            continue; /* EINTR: every signal we handle arrives through the signalfd */
        for (int i = 0; i < 2; i++)
            if (pfds[i].fd >= 0 && pfds[i].revents != 0 &&
                stream_read(pfds[i].fd, (enum mon_stream)i) == READ_EOF)
                stream_close(&pfds[i], (enum mon_stream)i);
        mon_attach_handle(pfds + 3);
        if (pfds[2].revents != 0)
            exited = signals_handle(pid, ret_status);
    }
    streams_drain(pfds);
    mon_attach_close();
    io->out_r = io->err_r = -1;
}
