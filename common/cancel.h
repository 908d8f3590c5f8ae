/* Cancellation of blocking work. A token fires once, for good, with a reason: its caller went away
 * (ECANCELED), its deadline passed (ETIMEDOUT) or crispd is shutting down (CRISP_E_UNAVAILABLE).
 * Work that waits on fds polls crisp_cancel_fd() beside them; work that loops (transfers, unpacking)
 * asks crisp_cancel_fired() now and then. A token may be derived: it also counts as fired once its
 * check function says so (a shared pull, cancelled when every caller sharing it is). */
#ifndef CRISP_COMMON_CANCEL_H
#define CRISP_COMMON_CANCEL_H

#include "common/error.h"

#include <stdatomic.h>
#include <stdbool.h>

struct crisp_cancel {
    _Atomic int reason; /* 0 until fired */
    _Atomic int fd;     /* eventfd readable once fired; -1 until a wait first asks for it */
    bool wants_fd;
    bool (*check)(void *arg);
    void *check_arg;
};

/* with_fd: crisp_cancel_fd gives an eventfd (for waits in poll), made when first asked for: most
 * calls never wait, and two syscalls per call showed in the Version round trip. */
int crisp_cancel_init(struct crisp_cancel *c, bool with_fd, crisp_error_t **err);
void crisp_cancel_fini(struct crisp_cancel *c);

/* The first reason wins; later fires do nothing. NULL: nothing. */
void crisp_cancel_fire(struct crisp_cancel *c, int reason);

/* NULL is never cancelled. Runs a derived token's check, and fires it when the check says so. */
bool crisp_cancel_fired(struct crisp_cancel *c);

/* The fd to poll for POLLIN, or -1 (NULL, made without one, or out of fds). */
int crisp_cancel_fd(struct crisp_cancel *c);

/* Fills err for a fired token: "<what>: cancelled|deadline exceeded|crispd is shutting down". */
int crisp_cancel_error(struct crisp_cancel *c, const char *what, crisp_error_t **err);

/* The token of the call this thread is serving, set by the gRPC server around each handler; NULL
 * elsewhere. It lets a handler's callees reach it without every signature in between carrying it. */
struct crisp_cancel *crisp_cancel_current(void);
void crisp_cancel_set_current(struct crisp_cancel *c);

#endif
