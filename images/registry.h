/* OCI Distribution v2 client over libcurl: manifests and blobs, with auth, mirrors, redirects,
 * retries and a stall timeout. Thread-safe: one client serves concurrent pulls. */
#ifndef CRISP_IMAGES_REGISTRY_H
#define CRISP_IMAGES_REGISTRY_H

#include "common/cancel.h"
#include "common/config.h"
#include "common/error.h"
#include "images/digest.h"
#include "images/reference.h"

#include <stddef.h>
#include <stdint.h>

#define IMG_REGISTRY_MAX_RETRIES 4

/* Credentials from the request's AuthConfig (any field may be NULL or ""). */
struct img_auth {
    const char *username;
    const char *password;
    const char *auth;           /* base64 "user:password" */
    const char *identity_token; /* OAuth2 refresh token for the token endpoint */
    const char *registry_token; /* bearer token sent as is */
};

struct img_registry_options {
    const struct crisp_config *cfg; /* registries.<host>.mirrors / insecure */
    const char *auth_file;          /* docker-style config.json with "auths", or NULL */
    /* A transfer receiving less than 16 KiB in this long fails (ETIMEDOUT), and is not retried. */
    int stall_timeout_s;
};

struct img_registry;

int img_registry_new(const struct img_registry_options *opts, struct img_registry **ret, crisp_error_t **err);
void img_registry_free(struct img_registry *r);

/* image.max_layer_size from the options' cfg, in bytes; 0 when none was given. The puller asks the
 * registry, which is handed the whole configuration, so that crispd's setup passes it once. */
uint64_t img_registry_max_layer_size(const struct img_registry *r);

/* Each fetch stops, without a further attempt, once cancel (NULL: none) fires; the error then is the
 * token's (crisp_cancel_error).
 *
 * Fetches the manifest or index for ref (by its digest if it has one, else its tag), accepting the
 * Docker and OCI media types. *ret_body is NUL-terminated; *ret_digest is the document's digest
 * (verified against ref->digest when there is one). */
int img_registry_get_manifest(struct img_registry *r, struct crisp_cancel *cancel, const struct img_ref *ref,
                              const struct img_auth *auth, char **ret_body, size_t *ret_len,
                              char **ret_content_type, char ret_digest[IMG_DIGEST_MAX], crisp_error_t **err);

/* Same, for a manifest named by digest in ref's repository (after choosing from an index). */
int img_registry_get_manifest_digest(struct img_registry *r, struct crisp_cancel *cancel,
                                     const struct img_ref *ref, const char *digest,
                                     const struct img_auth *auth, char **ret_body, size_t *ret_len,
                                     char **ret_content_type, crisp_error_t **err);

/* Streams blob digest of ref's repository to fd (truncated and rewritten on a retry), verifying the
 * digest and, when expected_size >= 0, the size. A mismatch is EINVAL naming both digests. */
int img_registry_get_blob(struct img_registry *r, struct crisp_cancel *cancel, const struct img_ref *ref,
                          const char *digest, int64_t expected_size, const struct img_auth *auth, int fd,
                          crisp_error_t **err);

#endif
