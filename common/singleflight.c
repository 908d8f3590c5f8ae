#define _GNU_SOURCE
#include "common/singleflight.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct flight {
    struct flight *next;
    char *key;
    pthread_cond_t done_cond;
    bool done;
    int waiters;
    int result;
    int err_status;
    char *err_msg;
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

static void flight_free(struct flight *f)
{
    pthread_cond_destroy(&f->done_cond);
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

/* Waits for a run another caller started, then takes its outcome; the last one out frees it. */
static int flight_join(struct flight_group *g, struct flight *f, crisp_error_t **err)
{
    f->waiters++;
    while (!f->done)
        pthread_cond_wait(&f->done_cond, &g->lock);
    int r = flight_outcome(f, err);
    if (--f->waiters == 0)
        flight_free(f);
    pthread_mutex_unlock(&g->lock);
    return r;
}

static void flight_finish(struct flight_group *g, struct flight *f, int r, crisp_error_t *run_err)
{
    pthread_mutex_lock(&g->lock);
    f->result = r;
    if (r < 0) {
        f->err_status = run_err ? run_err->status : EIO;
        f->err_msg = run_err ? strdup(run_err->msg) : NULL;
    }
    f->done = true;
    flight_unlink(g, f);
    pthread_cond_broadcast(&f->done_cond);
    bool free_now = f->waiters == 0;
    pthread_mutex_unlock(&g->lock);
    if (free_now)
        flight_free(f);
}

int flight_do(struct flight_group *g, const char *key, flight_fn fn, void *arg, crisp_error_t **err)
{
    pthread_mutex_lock(&g->lock);
    struct flight *f = flight_find(g, key);
    if (f)
        return flight_join(g, f, err);
    f = calloc(1, sizeof(*f));
    if (!f || !(f->key = strdup(key))) {
        pthread_mutex_unlock(&g->lock);
        free(f);
        return crisp_error_oom(err);
    }
    pthread_cond_init(&f->done_cond, NULL);
    f->next = g->flights;
    g->flights = f;
    pthread_mutex_unlock(&g->lock);
    crisp_error_t *run_err = NULL;
    int r = fn(arg, &run_err);
    flight_finish(g, f, r, run_err);
    if (r < 0 && err && !*err)
        *err = run_err;
    else
        crisp_error_free(run_err);
    return r;
}
