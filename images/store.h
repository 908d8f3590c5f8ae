/* The image store under crisp's root: blobs by digest, layers unpacked once per chain ID (each an
 * overlayfs lower dir), and image records. Records are written atomically and indexed in memory
 * under a read-write lock; a half-done pull leaves only files in tmp/, which opening the store
 * removes. */
#ifndef CRISP_IMAGES_STORE_H
#define CRISP_IMAGES_STORE_H

#include "common/error.h"
#include "images/digest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct img_record {
    char id[IMG_DIGEST_MAX]; /* config digest */
    char **repo_tags;        /* NULL-terminated */
    char **repo_digests;     /* NULL-terminated */
    char **chain_ids;        /* NULL-terminated, bottom layer first */
    char manifest_digest[IMG_DIGEST_MAX];
    char *user; /* the config's User */
    uint64_t size;
    int64_t created_at; /* ns: when this store first got the image */
    bool pinned;
};

struct img_layer_info {
    char chain_id[IMG_DIGEST_MAX];
    char diff_id[IMG_DIGEST_MAX];
    uint64_t size;
    uint64_t inodes;
};

struct img_store;

int img_store_open(const char *root, struct img_store **ret, crisp_error_t **err);
void img_store_free(struct img_store *s);

void img_record_free(struct img_record *r);
void img_record_freep(struct img_record **r);
void img_record_list_free(struct img_record **list, size_t n);

/* By id ("sha256:<hex>", "<hex>" or a unique prefix of at least 6 hex), repo tag or repo digest; a
 * copy. Absent: ENOENT. */
int img_store_lookup(struct img_store *s, const char *name, struct img_record **ret, crisp_error_t **err);
/* The repo digest ("<repository>@sha256:...") the image with this id was pulled by: the one of the
 * repository name names (a container's image as its request named it; may be NULL), else the first.
 * NULL when the image is gone or has no repo digest (it came another way), or out of memory. The
 * caller frees. */
char *img_store_repo_digest(struct img_store *s, const char *id, const char *name);
/* Copies of every record. */
int img_store_list(struct img_store *s, struct img_record ***ret_list, size_t *ret_n, crisp_error_t **err);

/* A private file or directory under the store's tmp/ for a download or an unpack in progress. */
int img_store_tmp_file(struct img_store *s, char **ret_path, int *ret_fd, crisp_error_t **err);
int img_store_tmp_dir(struct img_store *s, char **ret_path, crisp_error_t **err);

/* Layers. A held layer is never collected: a pull holds each of its layers until it commits. */
bool img_store_layer_hold(struct img_store *s, const char *chain_id); /* true when the layer exists */
void img_store_layer_release(struct img_store *s, const char *chain_id);
/* Moves an unpacked tmp dir into place as the layer's diff/ (a concurrent twin wins; tmp is removed). */
int img_store_layer_commit(struct img_store *s, const char *tmp_dir, const struct img_layer_info *info,
                           crisp_error_t **err);
/* The layer's overlayfs lower dir (caller frees). */
char *img_store_layer_path(struct img_store *s, const char *chain_id);

int img_store_blob_put(struct img_store *s, const char *digest, const void *data, size_t len,
                       crisp_error_t **err);
/* A stored blob (configs, manifests) of at most max bytes, NUL-terminated. */
int img_store_blob_read(struct img_store *s, const char *digest, size_t max, char **ret_data, size_t *ret_len,
                        crisp_error_t **err);

/* Adds or replaces the record for rec->id, merging tags and digests; a tag moves from whatever image
 * had it before. */
int img_store_image_commit(struct img_store *s, const struct img_record *rec, crisp_error_t **err);
/* Removes the image name resolves to, with all its names, then collects unreferenced layers and
 * blobs. Absent: success. */
int img_store_image_remove(struct img_store *s, const char *name, crisp_error_t **err);

struct img_store_usage {
    uint64_t bytes, inodes;
    const char *mountpoint;
};
void img_store_usage(struct img_store *s, struct img_store_usage *ret);

#endif
