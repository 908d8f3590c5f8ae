/* Runs one of crisp's helper binaries to completion and collects what it printed. crispd is
 * multi-threaded, so the helper is started with posix_spawn and does all namespace and credential
 * work itself; crispd only reads its pipes, enforces the timeout and reaps it. */
#ifndef CRISP_RUNTIME_SPAWN_H
#define CRISP_RUNTIME_SPAWN_H

#include "common/cancel.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* After the helper exits, how long its pipes may stay open: a process it left behind can hold them. */
#define RT_SPAWN_DRAIN_MS 1000

struct rt_spawn_options {
    char *const *argv; /* argv[0] is the helper's path */
    bool status_pipe;  /* give the helper a third pipe as fd 3, read into ret->status_out */
    int timeout_ms;    /* from the spawn; 0: none */
    int term_grace_ms; /* on timeout: SIGTERM, SIGKILL this much later; 0: SIGKILL at once */
    size_t max_output; /* per stream; the rest is read and dropped */
    /* NULL: none. Once fired, the helper is stopped as on a timeout and ret->cancelled set. */
    struct crisp_cancel *cancel;
};

/* What a helper printed on one stream; data is always NUL-terminated. */
struct rt_spawn_output {
    char *data;
    size_t len;
    bool truncated;
};

struct rt_spawn_result {
    int wait_status;
    bool timed_out;
    bool cancelled; /* stopped because o->cancel fired (then not timed_out) */
    struct rt_spawn_output out, err_out, status_out;
};

/* Runs the helper with stdin on /dev/null until it has exited and its pipes are at EOF (or
 * RT_SPAWN_DRAIN_MS after its exit). A timed-out helper is killed and reaped, and ret->timed_out
 * set: that is a result, not an error. On failure nothing is left running and ret holds nothing. */
int rt_spawn_run(const struct rt_spawn_options *o, struct rt_spawn_result *ret, crisp_error_t **err);

/* Starts a helper with fds[0..3] as its fds 0 to 3 (fds[0] < 0: /dev/null; the others < 0: left
 * closed), in a new session if asked, and returns its pid and a non-blocking pidfd; the caller reaps
 * it. On failure nothing is left running. */
int rt_spawn_start(char *const *argv, const int fds[4], bool new_session, pid_t *ret_pid, int *ret_pidfd,
                   crisp_error_t **err);

void rt_spawn_result_fini(struct rt_spawn_result *r);

#endif
