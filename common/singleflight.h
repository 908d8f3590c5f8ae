/* Collapses concurrent work on the same key into one run: the first caller does it, the others wait
 * and share its outcome. Used so two pulls of one image, or of images sharing a layer, download once. */
#ifndef CRISP_SINGLEFLIGHT_H
#define CRISP_SINGLEFLIGHT_H

#include "common/error.h"

#include <pthread.h>

struct flight;

struct flight_group {
    pthread_mutex_t lock;
    struct flight *flights;
};

#define FLIGHT_GROUP_INIT                                                                                    \
    {                                                                                                        \
        PTHREAD_MUTEX_INITIALIZER, NULL                                                                      \
    }

typedef int (*flight_fn)(void *arg, crisp_error_t **err);

/* Runs fn(arg) unless a run for key is in progress, in which case waits for it. Either way returns
 * that run's result; a failed run's error is copied to every waiter. */
int flight_do(struct flight_group *g, const char *key, flight_fn fn, void *arg, crisp_error_t **err);

#endif
