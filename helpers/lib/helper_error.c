#include "helpers/lib/helper_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char error_text[1024];
static int error_status;

static int error_set(int status, int errnum, const char *fmt, va_list ap)
{
    int saved = errno;
    int n = vsnprintf(error_text, sizeof error_text, fmt, ap);
    if (errnum != 0 && n >= 0 && (size_t)n < sizeof error_text)
        snprintf(error_text + n, sizeof error_text - n, ": %s", strerror(errnum));
    error_status = status;
    errno = saved; /* callers may still pass errno on, as pinns' init does */
    return -1;
}

int hl_fail(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_set(EIO, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

int hl_fail_status(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_set(status, 0, fmt, ap);
    va_end(ap);
    return -1;
}

const char *hl_error(void)
{
    return error_text;
}

int hl_error_status(void)
{
    return error_status;
}
