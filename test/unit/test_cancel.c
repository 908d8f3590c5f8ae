/* Cancellation tokens and the singleflight's shared runs, which are cancelled only when every caller
 * sharing them is (issue 12 items 5 and 6). */
#define _GNU_SOURCE
#include "common/cancel.h"
#include "common/clock.h"
#include "common/singleflight.h"
#include "test/unit/unit.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

static bool fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void test_token(void)
{
    struct crisp_cancel c;
    CHECK(crisp_cancel_init(&c, true, NULL) == 0 && crisp_cancel_fd(&c) >= 0);
    CHECK(!crisp_cancel_fired(&c) && !fd_readable(crisp_cancel_fd(&c)));
    crisp_cancel_fire(&c, ETIMEDOUT);
    crisp_cancel_fire(&c, CRISP_E_UNAVAILABLE);
    CHECK(crisp_cancel_fired(&c) && fd_readable(crisp_cancel_fd(&c)) && fd_readable(crisp_cancel_fd(&c)));
    _cleanup_error_ crisp_error_t *err = NULL;
    CHECK(crisp_cancel_error(&c, "exec", &err) == -1 && err && err->status == ETIMEDOUT);
    CHECK_CONTAINS(err ? err->msg : NULL, "exec: deadline exceeded");
    crisp_cancel_fini(&c);
    CHECK(!crisp_cancel_fired(NULL) && crisp_cancel_fd(NULL) == -1);
    CHECK(crisp_cancel_current() == NULL);
}

struct shared {
    struct flight_group g;
    atomic_bool started, release, saw_cancel;
};

/* Runs until released or cancelled (at most 10 s). */
static int slow_run(void *arg, struct crisp_cancel *cancel, crisp_error_t **err)
{
    struct shared *s = arg;
    atomic_store(&s->started, true);
    for (int64_t end = clock_monotonic_ms() + 10000; clock_monotonic_ms() < end;) {
        if (crisp_cancel_fired(cancel)) {
            atomic_store(&s->saw_cancel, true);
            return crisp_cancel_error(cancel, "run", err);
        }
        if (atomic_load(&s->release))
            return 0;
        usleep(10000);
    }
    return crisp_error_make(err, EIO, "never released");
}

struct caller {
    struct shared *s;
    struct crisp_cancel cancel;
    int r, status;
    pthread_t t;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    _cleanup_error_ crisp_error_t *err = NULL;
    c->r = flight_do(&c->s->g, "k", slow_run, c->s, &c->cancel, &err);
    c->status = err ? err->status : 0;
    return NULL;
}

static void caller_start(struct caller *c, struct shared *s)
{
    c->s = s;
    crisp_cancel_init(&c->cancel, false, NULL);
    pthread_create(&c->t, NULL, caller_main, c);
}

static void wait_started(struct shared *s)
{
    while (!atomic_load(&s->started))
        usleep(1000);
    usleep(50000); /* lets the second caller join */
}

/* A waiter that leaves does not stop the run; the run stops once its last caller is gone. */
static void test_flight_waiter_leaves(void)
{
    struct shared s = {.g = FLIGHT_GROUP_INIT};
    struct caller first, second;
    caller_start(&first, &s);
    wait_started(&s);
    caller_start(&second, &s);
    usleep(50000);
    crisp_cancel_fire(&second.cancel, ETIMEDOUT);
    pthread_join(second.t, NULL);
    CHECK(second.r == -1 && second.status == ETIMEDOUT);
    usleep(100000);
    CHECK(!atomic_load(&s.saw_cancel));
    crisp_cancel_fire(&first.cancel, CRISP_E_UNAVAILABLE);
    pthread_join(first.t, NULL);
    CHECK(atomic_load(&s.saw_cancel));
    CHECK(first.r == -1 && first.status == CRISP_E_UNAVAILABLE);
}

/* The first caller going away leaves the run to the one still waiting, which gets its result. */
static void test_flight_first_leaves(void)
{
    struct shared s = {.g = FLIGHT_GROUP_INIT};
    struct caller first, second;
    caller_start(&first, &s);
    wait_started(&s);
    caller_start(&second, &s);
    usleep(50000);
    crisp_cancel_fire(&first.cancel, ECANCELED);
    usleep(100000);
    CHECK(!atomic_load(&s.saw_cancel));
    atomic_store(&s.release, true);
    pthread_join(first.t, NULL);
    pthread_join(second.t, NULL);
    CHECK(second.r == 0 && first.r == 0);
}

int main(void)
{
    test_token();
    test_flight_waiter_leaves();
    test_flight_first_leaves();
    return unit_report("test_cancel");
}
