/* The image's USER ("name", "uid", "uid:gid", "name:group") resolved against the image's own
 * /etc/passwd and /etc/group, read from its layers (top-most first). */
#ifndef CRISP_RUNTIME_IMAGE_USER_H
#define CRISP_RUNTIME_IMAGE_USER_H

#include "common/error.h"

#include <sys/types.h>

int rt_image_user_resolve(char *const *lowerdirs, const char *user, uid_t *ret_uid, gid_t *ret_gid,
                          crisp_error_t **err);

#endif
