/* Collapses concurrent work on the same key into one run: the first caller does it, the others wait
 * and share its outcome. Used so two pulls of one image, or of images sharing a layer, download once.
 * The run is cancelled only when every caller sharing it is: a caller whose token fires stops waiting
 * at once, and the run goes on for the others. */
#ifndef CRISP_SINGLEFLIGHT_H
#define CRISP_SINGLEFLIGHT_H

#include "common/cancel.h"
#include "common/error.h"

#include <pthread.h>

struct flight;

/* Lock order: a group's lock comes before the locks of the groups whose runs call into it (a layer
 * run is shared by image runs: layers, then images), since asking whether a run is abandoned asks
 * its callers' tokens, which may be runs of the group above. */
struct flight_group {
    pthread_mutex_t lock;
    struct flight *flights;
};

#define FLIGHT_GROUP_INIT                                                                                    \
    {                                                                                                        \
        PTHREAD_MUTEX_INITIALIZER, NULL                                                                      \
    }

/* cancel: the run's token, fired once every caller's has; valid until fn returns. */
typedef int (*flight_fn)(void *arg, struct crisp_cancel *cancel, crisp_error_t **err);

/* Runs fn(arg) unless a run for key is in progress, in which case waits for it. Either way returns
 * that run's result; a failed run's error is copied to every waiter. cancel is the caller's token
 * (NULL: never cancelled): once it fires a waiter returns its error at once (within 100 ms), while the
 * first caller goes on running fn for the others, if any are left. A caller arriving at a run that was
 * abandoned waits for it to end and starts another. */
int flight_do(struct flight_group *g, const char *key, flight_fn fn, void *arg, struct crisp_cancel *cancel,
              crisp_error_t **err);

#endif
