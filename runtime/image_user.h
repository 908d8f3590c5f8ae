/* The image's USER ("name", "uid", "uid:gid", "name:group") resolved against the image's own
 * /etc/passwd and /etc/group, read from its layers (top-most first). */
#ifndef CRISP_RUNTIME_IMAGE_USER_H
#define CRISP_RUNTIME_IMAGE_USER_H

#include "common/error.h"

#include <stddef.h>
#include <sys/types.h>

int rt_image_user_resolve(char *const *lowerdirs, const char *user, uid_t *ret_uid, gid_t *ret_gid,
                          crisp_error_t **err);

#define RT_IMAGE_USER_MAX_GROUPS 1024

/* The groups the image's /etc/group lists the user with this uid (named in /etc/passwd) as a member
 * of; none when the image has no such user. The caller frees *ret_groups. */
int rt_image_user_groups(char *const *lowerdirs, uid_t uid, gid_t **ret_groups, size_t *ret_n,
                         crisp_error_t **err);

#endif
