#include "common/crash_point.h"

#include <stddef.h>

/* Set only by the test build's server/test_hooks.c, before any thread starts. */
void (*crisp_crash_point_hook)(const char *name) = NULL;
