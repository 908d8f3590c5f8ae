/* The helpers' one error idiom. A step that fails records what failed (and, for crisp-exec's error fd,
 * an errno-like status telling crispd what kind of failure it was) and returns -1; whoever ends the
 * process reports hl_error(). The helpers are single-threaded and a failure ends the step that had
 * it, so one static buffer is enough and keeps the error path allocation-free. crispd links this
 * library for fd_pass.h and proc_stat.h only, which keep no error state. */
#ifndef CRISP_HELPERS_HELPER_ERROR_H
#define CRISP_HELPERS_HELPER_ERROR_H

/* "<what>: <strerror(errnum)>", or just "<what>" when errnum is 0; status EIO. Returns -1 for
 * `return hl_fail(...)` and leaves errno as it was. */
int hl_fail(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "<what>" with the given status (crisp-exec: ENOENT when the container's process is gone, EINVAL for
 * bad arguments). Returns -1 and leaves errno as it was. */
int hl_fail_status(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last failure's message ("" before any) and status (0 before any). */
const char *hl_error(void);
int hl_error_status(void);

#endif
