/* Pulling an image: resolve the reference, choose the platform, fetch the config and the layers it
 * lacks (concurrently, bounded), unpack each layer once per chain ID, then record the image. Two pulls
 * of one reference share one run; pulls of images sharing a layer share its download. */
#ifndef CRISP_IMAGES_PULL_H
#define CRISP_IMAGES_PULL_H

#include "common/error.h"
#include "images/digest.h"
#include "images/registry.h"
#include "images/store.h"

struct img_puller;

int img_puller_new(struct img_store *store, struct img_registry *registry, int max_downloads,
                   struct img_puller **ret, crisp_error_t **err);
void img_puller_free(struct img_puller *p);

/* Pulls image (any reference form) and returns its id (the config digest). */
int img_pull(struct img_puller *p, const char *image, const struct img_auth *auth,
             char ret_id[IMG_DIGEST_MAX], uint64_t *ret_bytes, crisp_error_t **err);

#endif
