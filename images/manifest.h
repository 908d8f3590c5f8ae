/* Registry documents: image manifests (Docker schema 2, OCI), indexes (Docker manifest list, OCI
 * index) with platform choice, and the image config's fields crisp uses. All input is untrusted:
 * sizes, counts and strings are bounded and checked. */
#ifndef CRISP_IMAGES_MANIFEST_H
#define CRISP_IMAGES_MANIFEST_H

#include "common/error.h"
#include "images/digest.h"

#include <stddef.h>
#include <stdint.h>

#define IMG_MANIFEST_MAX_SIZE (4 * 1024 * 1024)
#define IMG_CONFIG_MAX_SIZE (8 * 1024 * 1024)
#define IMG_MAX_LAYERS 256

#define IMG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define IMG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define IMG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define IMG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"

enum img_compression { IMG_COMPRESSION_NONE, IMG_COMPRESSION_GZIP, IMG_COMPRESSION_ZSTD };

struct img_descriptor {
    char *media_type;
    char digest[IMG_DIGEST_MAX];
    int64_t size;
};

struct img_manifest {
    struct img_descriptor config;
    struct img_descriptor *layers;
    size_t n_layers;
};

struct img_platform {
    const char *os;           /* "linux" */
    const char *architecture; /* GOARCH names: "amd64", "arm64", ... */
    const char *variant;      /* "v8", "" when none */
};

enum img_doc_kind { IMG_DOC_MANIFEST, IMG_DOC_INDEX };

/* The host's platform in OCI terms. */
void img_platform_host(struct img_platform *ret);

/* Which kind a fetched document is, from its media type or, failing that, its own mediaType field. */
int img_doc_kind(const char *content_type, const char *body, size_t len, enum img_doc_kind *ret_kind,
                 crisp_error_t **err);

int img_manifest_parse(const char *body, size_t len, struct img_manifest **ret, crisp_error_t **err);
void img_manifest_free(struct img_manifest *m);

/* From an index, the manifest for platform p (the caller frees ret->media_type). None: ENOENT naming
 * the platforms that exist. */
int img_index_select(const char *body, size_t len, const struct img_platform *p, struct img_descriptor *ret,
                     crisp_error_t **err);

/* A layer's compression from its media type (gzip, zstd, plain tar; foreign/non-distributable too). */
int img_layer_compression(const char *media_type, enum img_compression *ret, crisp_error_t **err);

struct img_config {
    char **diff_ids; /* NULL-terminated, rootfs.diff_ids */
    size_t n_diff_ids;
    char *user; /* config.User, "" when unset */
    char *os, *architecture;
    /* What a container of the image runs, merged with the request's command, args and env. */
    char **entrypoint, **cmd, **env; /* NULL-terminated (empty when unset) */
    char *working_dir;               /* "" when unset */
    char *stop_signal;               /* "" when unset, e.g. "SIGQUIT" or "3" */
    int64_t created;                 /* ns since the epoch, 0 when absent */
};

int img_config_parse(const char *body, size_t len, struct img_config **ret, crisp_error_t **err);
void img_config_free(struct img_config *c);

#endif
