/* One error message for the whole process: the monitor is single-threaded and every failure ends
 * the step that had it, so a static buffer is enough and keeps the error path allocation-free. */
#include "monitor.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char error_text[1024];

/* Formats "<what>: <strerror(errnum)>" (no suffix when errnum is 0); returns -1 for `return mon_fail(...)`. */
int mon_fail(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(error_text, sizeof error_text, fmt, ap);
    va_end(ap);
    if (errnum != 0 && n >= 0 && (size_t)n < sizeof error_text)
        snprintf(error_text + n, sizeof error_text - n, ": %s", strerror(errnum));
    return -1;
}

const char *mon_error(void)
{
    return error_text;
}
