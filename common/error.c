#define _GNU_SOURCE
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        return NULL;
    return s;
}

static int error_set(crisp_error_t **err, int status, char *msg)
{
    if (!err || *err) {
        free(msg);
        return -1;
    }
    crisp_error_t *e = calloc(1, sizeof(*e));
    if (!e) {
        free(msg);
        return -1;
    }
    e->status = status;
    e->msg = msg ? msg : strdup("out of memory");
    *err = e;
    return -1;
}

int crisp_error_make(crisp_error_t **err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    return error_set(err, status, msg);
}

int crisp_error_errno(crisp_error_t **err, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    char *head = vformat(fmt, ap);
    va_end(ap);
    char *msg = NULL;
    if (head && asprintf(&msg, "%s: %s", head, strerror(saved)) < 0)
        msg = NULL;
    free(head);
    errno = saved;
    return error_set(err, saved ? saved : EIO, msg);
}

int crisp_error_oom(crisp_error_t **err)
{
    return crisp_error_make(err, ENOMEM, "out of memory");
}

int crisp_error_oom_in(crisp_error_t **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = vformat(fmt, ap);
    va_end(ap);
    char *msg = NULL;
    if (what && asprintf(&msg, "%s: out of memory", what) < 0)
        msg = NULL;
    free(what);
    return error_set(err, ENOMEM, msg);
}

int crisp_error_wrap(crisp_error_t **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = vformat(fmt, ap);
    va_end(ap);
    char *msg = NULL;
    if (ctx && asprintf(&msg, "%s: %s", ctx, (*err)->msg) >= 0) {
        free((*err)->msg);
        (*err)->msg = msg;
    }
    free(ctx);
    return -1;
}

void crisp_error_free(crisp_error_t *err)
{
    if (!err)
        return;
    free(err->msg);
    free(err);
}

void crisp_error_freep(crisp_error_t **err)
{
    crisp_error_free(*err);
    *err = NULL;
}
