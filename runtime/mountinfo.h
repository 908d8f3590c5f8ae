/* Reading /proc/self/mountinfo: the one place crisp learns what is mounted where, for propagation
 * checks and for unmounting what a crash or a failed operation left below a directory. */
#ifndef CRISP_RUNTIME_MOUNTINFO_H
#define CRISP_RUNTIME_MOUNTINFO_H

#include "common/error.h"

/* A bound on the file: a host with millions of mounts is refused rather than read whole. */
#define RT_MOUNTINFO_MAX (16 << 20)

/* The whole of /proc/self/mountinfo, NUL-terminated; caller frees. */
int rt_mountinfo_read(char **ret_text, crisp_error_t **err);

/* mountinfo escapes space, tab, newline and backslash as \ooo: undone in place. */
void rt_mountinfo_unescape(char *s);

/* Detaches every mount at or below dir, the deepest first and stacked ones one by one; nothing there
 * is success. Used where a crash or a failed step may have left mounts that no record names. */
int rt_unmount_below(const char *dir, crisp_error_t **err);

#endif
