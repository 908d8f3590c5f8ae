/* Image references, normalised as Docker does: "busybox" is docker.io/library/busybox:latest, and
 * docker.io is served by registry-1.docker.io. */
#ifndef CRISP_IMAGES_REFERENCE_H
#define CRISP_IMAGES_REFERENCE_H

#include "common/error.h"

#include <stdbool.h>

#define IMG_REF_MAX 4096

struct img_ref {
    char *domain; /* "docker.io", "registry.k8s.io", "127.0.0.1:5000" */
    char *path;   /* "library/busybox" */
    char *tag;    /* "latest" when neither tag nor digest was given; NULL when only a digest was */
    char *digest; /* "sha256:..." or NULL */
};

/* Parses and normalises s. Malformed references are EINVAL naming what is wrong. */
int img_ref_parse(const char *s, struct img_ref **ret_ref, crisp_error_t **err);
void img_ref_free(struct img_ref *ref);
void img_ref_freep(struct img_ref **ref);

/* "docker.io/library/busybox" */
char *img_ref_name(const struct img_ref *ref);
/* "docker.io/library/busybox:1.36" (tag form), NULL when the reference has no tag */
char *img_ref_tagged(const struct img_ref *ref);
/* "docker.io/library/busybox@sha256:..." for a given digest */
char *img_ref_digested(const struct img_ref *ref, const char *digest);
/* The host that serves the domain's registry API ("registry-1.docker.io" for "docker.io"). */
const char *img_ref_api_host(const struct img_ref *ref);

#endif
