/* Lexical checks on paths that come in requests (log paths, mount and device destinations), made before
 * anything is done with them. ".." is refused in every one: it is how a path climbs out of where it is
 * meant to stay. */
#ifndef CRISP_RUNTIME_PATH_CHECK_H
#define CRISP_RUNTIME_PATH_CHECK_H

#include "common/error.h"

#include <stdbool.h>

enum {
    RT_PATH_ABSOLUTE = 1 << 0, /* starts with '/' */
    RT_PATH_RELATIVE = 1 << 1, /* does not */
    RT_PATH_NOT_ROOT = 1 << 2, /* names something below "/" (or below the base it is relative to) */
    RT_PATH_NO_DOT = 1 << 3,   /* no "." components either */
};

/* 0, or EINVAL with a message that names what the path is for and echoes at most 100 bytes of it. */
int rt_path_check(const char *what, const char *path, unsigned flags, crisp_error_t **err);
/* Whether path names dir itself or something below it, lexically ("/dev" is not below "/de"). */
bool rt_path_is_below(const char *path, const char *dir);

#endif
