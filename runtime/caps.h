/* A container's capabilities: the usual default set for non-privileged containers, with the
 * request's additions and drops by name ("NET_ADMIN" or "CAP_NET_ADMIN", "ALL" in either list), always
 * within the host's own bounding set (a capability the host lacks, such as CAP_SYS_RESOURCE on some
 * machines, is left out rather than failing the container). Names and the kernel's capabilities come
 * from libcap. */
#ifndef CRISP_RUNTIME_CAPS_H
#define CRISP_RUNTIME_CAPS_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int rt_caps_mask(char *const *add, size_t n_add, char *const *drop, size_t n_drop, bool privileged,
                 uint64_t *ret_mask, crisp_error_t **err);

/* The capabilities named for the ambient set (within the host's bounding set). The container's set
 * must include them too: the caller adds them. */
int rt_caps_ambient_mask(char *const *names, size_t n, uint64_t *ret_mask, crisp_error_t **err);

/* The number of a capability named as above ("SYS_ADMIN" or "CAP_SYS_ADMIN", any case); -1 if unknown
 * (libcap knows no such name). */
int rt_caps_number(const char *name);

#endif
