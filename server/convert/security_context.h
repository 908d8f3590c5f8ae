/* The security context of CreateContainer as the runtime's container spec. */
#ifndef CRISP_SERVER_SECURITY_CONTEXT_H
#define CRISP_SERVER_SECURITY_CONTEXT_H

#include "api.pb-c.h"
#include "common/arena.h"
#include "common/error.h"
#include "images/manifest.h"
#include "runtime/container.h"

/* Fills identity, groups, capabilities, privileged, protected paths, namespace modes and the
 * profiles of s (whose lowerdirs must be set: users and groups are looked up in the image). sc may
 * be NULL. Strings and arrays are borrowed from sc or allocated in a. */
int srv_security_context_apply(struct arena *a, const Runtime__V1__LinuxContainerSecurityContext *sc,
                               const struct img_config *img, struct rt_container_spec *s,
                               crisp_error_t **err);

/* security_profiles.c: seccomp, AppArmor and SELinux. */
int srv_security_profiles_apply(struct arena *a, const Runtime__V1__LinuxContainerSecurityContext *sc,
                                struct rt_container_spec *s, crisp_error_t **err);

#endif
