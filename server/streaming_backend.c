/* What the streaming server runs: an exec through crisp-exec (pipes, or a terminal crispd opens),
 * an attachment to the container's monitor, and port-forward connections dialled in the pod's
 * network namespace. */
#define _GNU_SOURCE
#include "server/streaming_backend.h"

#include "common/cleanup.h"
#include "runtime/attach.h"
#include "runtime/container.h"
#include "runtime/exec.h"
#include "runtime/netns_dial.h"
#include "runtime/sandbox.h"
#include "server/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

/* How long crisp-exec may take to join the container and open its terminal. */
#define TTY_RECEIVE_MS 10000

struct backend_proc {
    enum srv_streaming_kind kind;
    struct rt_exec_process exec;
    struct rt_attachment attach;
    int tty_master; /* exec with a tty: the terminal, for resizes; -1 otherwise */
    int tty_sock;   /* exec with a tty: where crisp-exec sends the terminal */
};

static int nonblock(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* One pipe: ours is the end the server uses, theirs goes to the command. */
static int pipe_for(bool command_reads, int *ret_ours, int *ret_theirs, crisp_error_t **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return crisp_error_errno(err, "pipe");
    *ret_ours = command_reads ? p[1] : p[0];
    *ret_theirs = command_reads ? p[0] : p[1];
    nonblock(*ret_ours);
    return 0;
}

/* Streams not asked for go to /dev/null: a command writing to a closed fd would fail. */
static int stdio_pipes(const struct srv_streaming_request *req, struct srv_streaming_proc *p, int theirs[3],
                       crisp_error_t **err)
{
    if (req->in && pipe_for(true, &p->in_fd, &theirs[0], err) < 0)
        return -1;
    if (req->out && pipe_for(false, &p->out_fd, &theirs[1], err) < 0)
        return -1;
    if (req->err && pipe_for(false, &p->err_fd, &theirs[2], err) < 0)
        return -1;
    for (int i = 1; i < 3; i++)
        if (theirs[i] < 0 && (theirs[i] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
            return crisp_error_errno(err, "open /dev/null");
    return 0;
}

/* crisp-exec opens the terminal inside the container and sends its master over this socket; its
 * stdout and stderr are the terminal too, so they start on /dev/null. */
static int stdio_tty(struct backend_proc *bp, int theirs[3], crisp_error_t **err)
{
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        return crisp_error_errno(err, "socketpair");
    bp->tty_sock = sp[0];
    theirs[0] = sp[1];
    for (int i = 1; i < 3; i++)
        if ((theirs[i] = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
            return crisp_error_errno(err, "open /dev/null");
    return 0;
}

/* The server closes in_fd on the client's end of stdin; the master must stay for the output. */
static int tty_fds(const struct srv_streaming_request *req, struct srv_streaming_proc *p,
                   struct backend_proc *bp, crisp_error_t **err)
{
    if (rt_exec_terminal_receive(&bp->exec, bp->tty_sock, TTY_RECEIVE_MS, &bp->tty_master, err) < 0)
        return -1;
    nonblock(bp->tty_master);
    if (req->in && (p->in_fd = fcntl(bp->tty_master, F_DUPFD_CLOEXEC, 3)) < 0)
        return crisp_error_errno(err, "dup");
    if (req->out && (p->out_fd = fcntl(bp->tty_master, F_DUPFD_CLOEXEC, 3)) < 0)
        return crisp_error_errno(err, "dup");
    return 0;
}

static void theirs_close(int theirs[3])
{
    for (int i = 0; i < 3; i++) {
        if (theirs[i] < 0)
            continue;
        for (int j = i + 1; j < 3; j++)
            if (theirs[j] == theirs[i])
                theirs[j] = -1;
        fd_close_reset(&theirs[i]);
    }
}

static void proc_fds_close(struct srv_streaming_proc *p)
{
    fd_close_reset(&p->in_fd);
    fd_close_reset(&p->out_fd);
    fd_close_reset(&p->err_fd);
}

static int exec_start(struct srv_daemon *d, const struct srv_streaming_request *req,
                      struct srv_streaming_proc *p, struct backend_proc *bp, crisp_error_t **err)
{
    int theirs[3] = {-1, -1, -1};
    int r = req->tty ? stdio_tty(bp, theirs, err) : stdio_pipes(req, p, theirs, err);
    if (r == 0)
        r = rt_container_exec_start(d->runtime, req->id, req->cmd, req->tty, theirs, &bp->exec, err);
    theirs_close(theirs);
    if (r == 0 && req->tty)
        r = tty_fds(req, p, bp, err);
    if (r < 0)
        return -1;
    p->exit_fd = bp->exec.pidfd;
    return 0;
}

static int attach_start(struct srv_daemon *d, const struct srv_streaming_request *req,
                        struct srv_streaming_proc *p, struct backend_proc *bp, crisp_error_t **err)
{
    bool tty;
    if (rt_container_attach(d->runtime, req->id, req->in, req->out, req->err, &bp->attach, &tty, err) < 0)
        return -1;
    p->in_fd = TAKE_FD(bp->attach.in_fd);
    p->out_fd = TAKE_FD(bp->attach.out_fd);
    p->err_fd = TAKE_FD(bp->attach.err_fd);
    p->exit_fd = bp->attach.sock;
    return 0;
}

static int backend_start(void *data, const struct srv_streaming_request *req, struct srv_streaming_proc *ret,
                         crisp_error_t **err)
{
    struct backend_proc *bp = calloc(1, sizeof(*bp));
    if (!bp)
        return crisp_error_oom(err);
    *bp = (struct backend_proc){.kind = req->kind,
                                .exec = {.pid = -1, .pidfd = -1, .error_fd = -1},
                                .attach = {.sock = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1},
                                .tty_master = -1,
                                .tty_sock = -1};
    *ret = (struct srv_streaming_proc){.in_fd = -1, .out_fd = -1, .err_fd = -1, .exit_fd = -1, .priv = bp};
    int r = req->kind == SRV_STREAMING_EXEC ? exec_start(data, req, ret, bp, err)
            : req->kind == SRV_STREAMING_ATTACH
                ? attach_start(data, req, ret, bp, err)
                : crisp_error_make(err, EINVAL, "not an exec or attach request");
    if (r < 0) {
        proc_fds_close(ret);
        rt_exec_process_fini(&bp->exec);
        fd_close_reset(&bp->tty_master);
        fd_close_reset(&bp->tty_sock);
        rt_attach_close(&bp->attach);
        free(bp);
        ret->priv = NULL;
    }
    return r;
}

static int backend_resize(void *data, struct srv_streaming_proc *p, uint16_t width, uint16_t height,
                          crisp_error_t **err)
{
    (void)data;
    struct backend_proc *bp = p->priv;
    if (bp->kind == SRV_STREAMING_ATTACH)
        return rt_attach_resize(&bp->attach, width, height, err);
    struct winsize ws = {.ws_row = height, .ws_col = width};
    if (bp->tty_master >= 0 && ioctl(bp->tty_master, TIOCSWINSZ, &ws) < 0)
        return crisp_error_errno(err, "resize the terminal");
    return 0;
}

static int backend_wait(void *data, struct srv_streaming_proc *p, int *ret_exit_code, crisp_error_t **err)
{
    (void)data;
    struct backend_proc *bp = p->priv;
    if (bp->kind == SRV_STREAMING_ATTACH) {
        *ret_exit_code = 0;
        return 0;
    }
    return rt_exec_process_wait(&bp->exec, ret_exit_code, err);
}

static void backend_fini(void *data, struct srv_streaming_proc *p)
{
    (void)data;
    struct backend_proc *bp = p->priv;
    proc_fds_close(p);
    if (bp) {
        rt_exec_process_fini(&bp->exec);
        rt_attach_close(&bp->attach);
        fd_close_reset(&bp->tty_master);
        fd_close_reset(&bp->tty_sock);
        free(bp);
    }
    p->priv = NULL;
    p->exit_fd = -1;
}

static int backend_dial(void *data, const struct srv_streaming_request *req, uint16_t port, int *ret_fd,
                        crisp_error_t **err)
{
    struct srv_daemon *d = data;
    _cleanup_(rt_sandbox_info_freep) struct rt_sandbox_info *pod = NULL;
    if (rt_sandbox_info_get(d->runtime, req->id, &pod, err) < 0)
        return -1;
    if (pod->state != RT_SANDBOX_READY)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "pod sandbox %.12s is not ready", req->id);
    return rt_netns_dial(pod->netns_path, port, ret_fd, err);
}

void srv_streaming_backend_init(struct srv_streaming_backend *b, struct srv_daemon *d)
{
    *b = (struct srv_streaming_backend){
        .data = d,
        .start = backend_start,
        .resize = backend_resize,
        .wait = backend_wait,
        .fini = backend_fini,
        .dial = backend_dial,
    };
}
