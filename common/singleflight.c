#define _GNU_SOURCE
#include "common/singleflight.h"

#include "common/clock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* How often a waiter looks at its own cancellation. */
#define FLIGHT_POLL_MS 100

/* A caller sharing a run, on its own stack while it is in flight_do. */
struct flight_caller {
    struct flight_caller *next;
    struct crisp_cancel *cancel;
};

struct flight {
    struct flight *next;
    struct flight_group *group;
    char *key;
    pthread_cond_t done_cond;
    bool done;
    int waiters;
    int result;
    int err_status;
    char *err_msg;
    struct flight_caller *callers; /* every caller still interested, the first one included */
    struct crisp_cancel cancel;    /* the run's: fired by flight_abandoned */
};

static struct flight *flight_find(struct flight_group *g, const char *key)
{
    for (struct flight *f = g->flights; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static void flight_unlink(struct flight_group *g, struct flight *f)
{
    for (struct flight **p = &g->flights; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            return;
        }
}

static void caller_remove(struct flight *f, struct flight_caller *c)
{
    for (struct flight_caller **p = &f->callers; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

/* The run's token check: abandoned when no caller is left whose token has not fired. Fires under the
 * lock, so that a caller joining now either counts or sees the run abandoned. */
static bool flight_abandoned(void *arg)
{
    struct flight *f = arg;
    pthread_mutex_lock(&f->group->lock);
    bool abandoned = true;
    for (struct flight_caller *c = f->callers; c && abandoned; c = c->next)
        abandoned = crisp_cancel_fired(c->cancel);
    /* The first caller's reason (its deadline, shutdown) says best why the run stopped. */
    if (abandoned)
        crisp_cancel_fire(&f->cancel, f->callers ? atomic_load(&f->callers->cancel->reason) : ECANCELED);
    pthread_mutex_unlock(&f->group->lock);
    return abandoned;
}

static void flight_free(struct flight *f)
{
    pthread_cond_destroy(&f->done_cond);
    crisp_cancel_fini(&f->cancel);
    free(f->key);
    free(f->err_msg);
    free(f);
}

static int flight_outcome(const struct flight *f, crisp_error_t **err)
{
    if (f->result >= 0)
        return f->result;
    return crisp_error_make(err, f->err_status, "%s", f->err_msg ? f->err_msg : "failed");
}

static void flight_wait(struct flight_group *g, struct flight *f, struct crisp_cancel *cancel)
{
    while (!f->done && !crisp_cancel_fired(cancel)) {
        if (!cancel) {
            pthread_cond_wait(&f->done_cond, &g->lock);
            continue;
        }
        struct timespec until = clock_timespec_after_ms(CLOCK_REALTIME, FLIGHT_POLL_MS);
        pthread_cond_timedwait(&f->done_cond, &g->lock, &until);
    }
}

/* Waits for a run another caller started, then takes its outcome; the last one out frees it. Returns
 * 1 when the run was abandoned by everyone else while this caller still wants it: run it again. */
static int flight_join(struct flight_group *g, struct flight *f, struct crisp_cancel *cancel,
                       crisp_error_t **err)
{
    struct flight_caller me = {.next = f->callers, .cancel = cancel};
    f->callers = &me;
    f->waiters++;
    flight_wait(g, f, cancel);
    caller_remove(f, &me);
    int r;
    if (!f->done || (atomic_load(&f->cancel.reason) && f->result < 0 && crisp_cancel_fired(cancel)))
        r = crisp_cancel_error(cancel, "shared run", err);
    else if (atomic_load(&f->cancel.reason) && f->result < 0)
        r = 1;
    else
        r = flight_outcome(f, err);
    if (--f->waiters == 0 && f->done)
        flight_free(f);
    pthread_mutex_unlock(&g->lock);
    return r;
}

static void flight_finish(struct flight_group *g, struct flight *f, struct flight_caller *me, int r,
                          crisp_error_t *run_err)
{
    pthread_mutex_lock(&g->lock);
    f->result = r;
    if (r < 0) {
        f->err_status = run_err ? run_err->status : EIO;
        f->err_msg = run_err ? strdup(run_err->msg) : NULL;
    }
    f->done = true;
    caller_remove(f, me);
    flight_unlink(g, f);
    pthread_cond_broadcast(&f->done_cond);
    bool free_now = f->waiters == 0;
    pthread_mutex_unlock(&g->lock);
    if (free_now)
        flight_free(f);
}

static struct flight *flight_new(struct flight_group *g, const char *key)
{
    struct flight *f = calloc(1, sizeof(*f));
    if (!f || !(f->key = strdup(key))) {
        free(f);
        return NULL;
    }
    f->group = g;
    crisp_cancel_init(&f->cancel, false, NULL);
    f->cancel.check = flight_abandoned;
    f->cancel.check_arg = f;
    pthread_cond_init(&f->done_cond, NULL);
    return f;
}

static int flight_run(struct flight_group *g, struct flight *f, flight_fn fn, void *arg,
                      struct crisp_cancel *cancel, crisp_error_t **err)
{
    struct flight_caller me = {.cancel = cancel};
    f->callers = &me;
    f->next = g->flights;
    g->flights = f;
    pthread_mutex_unlock(&g->lock);
    crisp_error_t *run_err = NULL;
    int r = fn(arg, &f->cancel, &run_err);
    flight_finish(g, f, &me, r, run_err);
    if (r < 0 && err && !*err)
        *err = run_err;
    else
        crisp_error_free(run_err);
    return r;
}

int flight_do(struct flight_group *g, const char *key, flight_fn fn, void *arg, struct crisp_cancel *cancel,
              crisp_error_t **err)
{
    for (;;) {
        pthread_mutex_lock(&g->lock);
        struct flight *f = flight_find(g, key);
        if (!f)
            break;
        int r = flight_join(g, f, cancel, err);
        if (r != 1)
            return r;
    }
    struct flight *f = flight_new(g, key);
    if (!f) {
        pthread_mutex_unlock(&g->lock);
        return crisp_error_oom(err);
    }
    return flight_run(g, f, fn, arg, cancel, err);
}
