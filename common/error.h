/* Error objects in the style of crun's libcrun/error.h: a failing function fills *err with an
 * errno-like status and a message and returns a negative value; callers may prefix context while
 * passing the error up; the server maps it once to a gRPC status. */
#ifndef CRISP_ERROR_H
#define CRISP_ERROR_H

#include <stdarg.h>

/* Statuses beyond errno for outcomes that have no errno twin but a distinct gRPC code. */
enum {
    CRISP_E_UNAUTHENTICATED = 10001,
    CRISP_E_FAILED_PRECONDITION,
    CRISP_E_UNAVAILABLE,
};

typedef struct crisp_error_s {
    int status;
    char *msg;
} crisp_error_t;

/* Fills *err (if err is not NULL and *err is still empty) and returns -1. */
int crisp_error_make(crisp_error_t **err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like crisp_error_make with status errno and ": strerror(errno)" appended. */
int crisp_error_errno(crisp_error_t **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ENOMEM "out of memory": the one message for a failed allocation. */
int crisp_error_oom(crisp_error_t **err);

/* ENOMEM "<what>: out of memory", where the allocation's purpose helps the reader. */
int crisp_error_oom_in(crisp_error_t **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes "context: " to an existing error's message and returns -1. */
int crisp_error_wrap(crisp_error_t **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void crisp_error_free(crisp_error_t *err);
void crisp_error_freep(crisp_error_t **err);

#define _cleanup_error_ __attribute__((cleanup(crisp_error_freep)))

#endif
