#define _GNU_SOURCE
#include "common/cancel.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static _Thread_local struct crisp_cancel *current;

int crisp_cancel_init(struct crisp_cancel *c, bool with_fd, crisp_error_t **err)
{
    (void)err;
    *c = (struct crisp_cancel){.fd = -1, .wants_fd = with_fd};
    return 0;
}

void crisp_cancel_fini(struct crisp_cancel *c)
{
    if (!c)
        return;
    int fd = atomic_load(&c->fd);
    if (fd >= 0)
        close(fd);
    *c = (struct crisp_cancel){.fd = -1};
}

void crisp_cancel_fire(struct crisp_cancel *c, int reason)
{
    int none = 0;
    if (!c || !atomic_compare_exchange_strong(&c->reason, &none, reason ? reason : ECANCELED))
        return;
    /* Never read back: the counter stays non-zero, so the fd stays readable for every poller. A fd
     * made concurrently sees the reason itself (crisp_cancel_fd). */
    int fd = atomic_load(&c->fd);
    if (fd >= 0)
        (void)eventfd_write(fd, 1);
}

bool crisp_cancel_fired(struct crisp_cancel *c)
{
    if (!c)
        return false;
    if (atomic_load(&c->reason))
        return true;
    if (c->check && c->check(c->check_arg)) {
        crisp_cancel_fire(c, ECANCELED);
        return true;
    }
    return false;
}

/* Whichever of this and crisp_cancel_fire comes second writes the event: the reason is stored before
 * the fd is read there, the fd before the reason is read here. */
int crisp_cancel_fd(struct crisp_cancel *c)
{
    if (!c || !c->wants_fd)
        return -1;
    int fd = atomic_load(&c->fd);
    if (fd >= 0)
        return fd;
    int made = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (made < 0)
        return -1;
    int none = -1;
    if (!atomic_compare_exchange_strong(&c->fd, &none, made)) {
        close(made);
        return none;
    }
    if (atomic_load(&c->reason))
        (void)eventfd_write(made, 1);
    return made;
}

int crisp_cancel_error(struct crisp_cancel *c, const char *what, crisp_error_t **err)
{
    int reason = c ? atomic_load(&c->reason) : 0;
    switch (reason) {
    case ETIMEDOUT:
        return crisp_error_make(err, ETIMEDOUT, "%s: deadline exceeded", what);
    case CRISP_E_UNAVAILABLE:
        return crisp_error_make(err, CRISP_E_UNAVAILABLE, "%s: crispd is shutting down", what);
    default:
        return crisp_error_make(err, ECANCELED, "%s: cancelled", what);
    }
}

struct crisp_cancel *crisp_cancel_current(void)
{
    return current;
}

void crisp_cancel_set_current(struct crisp_cancel *c)
{
    current = c;
}
