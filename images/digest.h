/* Content digests ("sha256:<64 hex>"), computed while data streams. */
#ifndef CRISP_IMAGES_DIGEST_H
#define CRISP_IMAGES_DIGEST_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>

#define IMG_DIGEST_MAX 72 /* "sha256:" + 64 hex + NUL, rounded */

struct img_hasher;

/* True for a well-formed "sha256:<64 lower-case hex>" (the only algorithm crisp accepts). */
bool img_digest_valid(const char *digest);

struct img_hasher *img_hasher_new(void);
void img_hasher_update(struct img_hasher *h, const void *data, size_t len);
/* Writes "sha256:<hex>" into out (IMG_DIGEST_MAX bytes); the hasher can't be updated afterwards. */
void img_hasher_final(struct img_hasher *h, char out[IMG_DIGEST_MAX]);
void img_hasher_free(struct img_hasher *h);

/* Digest of a buffer. */
void img_digest_buffer(const void *data, size_t len, char out[IMG_DIGEST_MAX]);

/* Chain ID of a layer: its diff ID for the first layer, else sha256 of "<parent chain> <diff id>". */
void img_chain_id(const char *parent_chain_id, const char *diff_id, char out[IMG_DIGEST_MAX]);

#endif
