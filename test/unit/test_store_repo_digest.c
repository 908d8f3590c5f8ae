/* images/store: the repo digest a container's image was pulled by (ContainerStatus.image_ref), picked
 * by the repository the container named, and none for an image without one or gone. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "images/store.h"
#include "unit.h"

#include <stdlib.h>

static char root[] = "/tmp/crisp-unit-store-digest-XXXXXX";

static void add_image(struct img_store *s, const char *seed, char **digests, char ret_id[IMG_DIGEST_MAX])
{
    char *none[] = {NULL};
    struct img_record rec = {.repo_tags = none, .repo_digests = digests, .chain_ids = none, .user = ""};
    img_digest_buffer(seed, strlen(seed), rec.id);
    img_digest_buffer("manifest", 8, rec.manifest_digest);
    crisp_error_t *err = NULL;
    CHECK(img_store_image_commit(s, &rec, &err) == 0);
    crisp_error_free(err);
    memcpy(ret_id, rec.id, IMG_DIGEST_MAX);
}

static void expect_digest(struct img_store *s, const char *id, const char *name, const char *want)
{
    _cleanup_free_ char *got = img_store_repo_digest(s, id, name);
    if (!want)
        CHECK(got == NULL);
    else
        CHECK_STR(got, want);
}

static void test_repo_digest(struct img_store *s)
{
    char *digests[] = {"127.0.0.1:5000/library/busybox@sha256:aa", "docker.io/library/busybox@sha256:bb",
                       "registry.k8s.io/e2e-test-images/busybox@sha256:cc", NULL};
    char *none[] = {NULL};
    char id[IMG_DIGEST_MAX], bare[IMG_DIGEST_MAX];
    add_image(s, "config-a", digests, id);
    add_image(s, "config-b", none, bare);
    /* The repository the container named, normalised as a reference is. */
    expect_digest(s, id, "busybox", "docker.io/library/busybox@sha256:bb");
    expect_digest(s, id, "docker.io/library/busybox:1.36", "docker.io/library/busybox@sha256:bb");
    expect_digest(s, id, "registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
                  "registry.k8s.io/e2e-test-images/busybox@sha256:cc");
    expect_digest(s, id, "127.0.0.1:5000/library/busybox@sha256:aa",
                  "127.0.0.1:5000/library/busybox@sha256:aa");
    /* Named by id, by another repository or not at all: the first. */
    expect_digest(s, id, id, "127.0.0.1:5000/library/busybox@sha256:aa");
    expect_digest(s, id, "docker.io/library/busybox-extra", "127.0.0.1:5000/library/busybox@sha256:aa");
    expect_digest(s, id, NULL, "127.0.0.1:5000/library/busybox@sha256:aa");
    expect_digest(s, id, "Not A Reference!", "127.0.0.1:5000/library/busybox@sha256:aa");
    /* No repo digest, or the image is gone: none (the caller reports the config id). */
    expect_digest(s, bare, "busybox", NULL);
    char gone[IMG_DIGEST_MAX];
    img_digest_buffer("gone", 4, gone);
    expect_digest(s, gone, "busybox", NULL);
}

int main(void)
{
    if (!mkdtemp(root))
        return 1;
    struct img_store *s = NULL;
    crisp_error_t *err = NULL;
    CHECK(img_store_open(root, &s, &err) == 0);
    if (s)
        test_repo_digest(s);
    img_store_free(s);
    CHECK(dir_remove_all(root, &err) == 0);
    crisp_error_free(err);
    return unit_report("test_store_repo_digest");
}
