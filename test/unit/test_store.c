/* images/store: records, lookups, tags moving between images, collection of unreferenced layers,
 * and what reopening keeps or throws away. No network: layers are made by hand. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "images/store.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/crisp-unit-store-XXXXXX";

static void digest_of(const char *seed, char out[IMG_DIGEST_MAX])
{
    img_digest_buffer(seed, strlen(seed), out);
}

/* A one-file layer committed under chain ID digest_of(seed). */
static void add_layer(struct img_store *s, const char *seed, char chain[IMG_DIGEST_MAX])
{
    _cleanup_free_ char *dir = NULL, *file = NULL;
    crisp_error_t *err = NULL;
    CHECK(img_store_tmp_dir(s, &dir, &err) == 0);
    CHECK(asprintf(&file, "%s/%s", dir, seed) > 0);
    FILE *f = fopen(file, "w");
    fputs(seed, f);
    fclose(f);
    struct img_layer_info info = {.size = strlen(seed), .inodes = 1};
    digest_of(seed, chain);
    memcpy(info.chain_id, chain, IMG_DIGEST_MAX);
    memcpy(info.diff_id, chain, IMG_DIGEST_MAX);
    CHECK(img_store_layer_hold(s, chain) == false);
    CHECK(img_store_layer_commit(s, dir, &info, &err) == 0);
    img_store_layer_release(s, chain);
    CHECK(access(dir, F_OK) != 0);
}

static void add_image(struct img_store *s, const char *seed, char *tag, char *digest_name, char **chains)
{
    char *tags[] = {tag, NULL}, *digests[] = {digest_name, NULL};
    struct img_record rec = {
        .repo_tags = tags, .repo_digests = digests, .chain_ids = chains, .user = "1000", .size = 42};
    digest_of(seed, rec.id);
    digest_of("manifest", rec.manifest_digest);
    crisp_error_t *err = NULL;
    CHECK(img_store_image_commit(s, &rec, &err) == 0);
    CHECK(img_store_blob_put(s, rec.id, "{}", 2, &err) == 0);
}

static bool has(struct img_store *s, const char *name)
{
    struct img_record *r = NULL;
    crisp_error_t *err = NULL;
    if (img_store_lookup(s, name, &r, &err) < 0) {
        CHECK(err->status == ENOENT);
        crisp_error_free(err);
        return false;
    }
    img_record_free(r);
    return true;
}

static bool layer_on_disk(struct img_store *s, const char *chain, const char *file)
{
    _cleanup_free_ char *dir = img_store_layer_path(s, chain), *path = NULL;
    return dir && asprintf(&path, "%s/%s", dir, file) > 0 && access(path, F_OK) == 0;
}

static void test_lifecycle(void)
{
    struct img_store *s = NULL;
    crisp_error_t *err = NULL;
    CHECK(img_store_open(root, &s, &err) == 0);
    if (!s)
        return;
    char l1[IMG_DIGEST_MAX], l2[IMG_DIGEST_MAX], l3[IMG_DIGEST_MAX], id_a[IMG_DIGEST_MAX],
        id_b[IMG_DIGEST_MAX];
    add_layer(s, "base", l1);
    add_layer(s, "app", l2);
    add_layer(s, "other", l3);
    char *chain_a[] = {l1, l2, NULL}, *chain_b[] = {l1, l3, NULL};
    add_image(s, "image-a", "docker.io/library/busybox:latest", "docker.io/library/busybox@sha256:aaaa",
              chain_a);
    add_image(s, "image-b", "registry.k8s.io/pause:3.10", "registry.k8s.io/pause@sha256:bbbb", chain_b);
    digest_of("image-a", id_a);
    digest_of("image-b", id_b);
    CHECK(has(s, id_a));
    CHECK(has(s, id_a + 7)); /* bare hex */
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "%.12s", id_a + 7);
    CHECK(has(s, prefix));    /* short id */
    CHECK(has(s, "busybox")); /* normalised name */
    CHECK(has(s, "docker.io/library/busybox@sha256:aaaa"));
    CHECK(!has(s, "busybox:1.0"));
    /* The tag moves to a newer image with it. */
    add_image(s, "image-c", "docker.io/library/busybox:latest", "docker.io/library/busybox@sha256:cccc",
              chain_a);
    struct img_record *r = NULL;
    CHECK(img_store_lookup(s, id_a, &r, &err) == 0);
    CHECK(r && r->repo_tags[0] == NULL && r->repo_digests[0] != NULL);
    img_record_free(r);
    /* Removing b frees its own layer, keeps the shared base. */
    CHECK(img_store_image_remove(s, "registry.k8s.io/pause:3.10", &err) == 0);
    CHECK(!has(s, id_b));
    CHECK(!layer_on_disk(s, l3, "other"));
    CHECK(layer_on_disk(s, l1, "base"));
    CHECK(img_store_image_remove(s, "registry.k8s.io/pause:3.10", &err) == 0); /* idempotent */
    /* A held layer survives collection even when nothing references it. */
    char l4[IMG_DIGEST_MAX];
    add_layer(s, "held", l4);
    CHECK(img_store_layer_hold(s, l4) == true);
    CHECK(img_store_image_remove(s, id_a, &err) == 0);
    CHECK(layer_on_disk(s, l4, "held"));
    img_store_layer_release(s, l4);
    struct img_store_usage u;
    img_store_usage(s, &u);
    CHECK(u.bytes > 0 && u.inodes > 0 && u.mountpoint && u.mountpoint[0] == '/');
    img_store_free(s);
}

static void test_reopen(void)
{
    struct img_store *s = NULL;
    crisp_error_t *err = NULL;
    /* Leftovers: a half-made layer (no record) and a temp download. */
    _cleanup_free_ char *half = NULL, *tmpf = NULL;
    CHECK(asprintf(&half, "%s/layers/%064d", root, 7) > 0 && asprintf(&tmpf, "%s/tmp/blob-zzz", root) > 0);
    CHECK(mkdir(half, 0700) == 0);
    FILE *f = fopen(tmpf, "w");
    fclose(f);
    CHECK(img_store_open(root, &s, &err) == 0);
    if (!s)
        return;
    CHECK(access(half, F_OK) != 0);
    CHECK(access(tmpf, F_OK) != 0);
    char id_c[IMG_DIGEST_MAX];
    digest_of("image-c", id_c);
    CHECK(has(s, id_c));
    CHECK(has(s, "busybox:latest"));
    struct img_record *r = NULL;
    CHECK(img_store_lookup(s, "busybox", &r, &err) == 0);
    CHECK(r && r->size == 42 && strcmp(r->user, "1000") == 0 && r->created_at > 0);
    img_record_free(r);
    img_store_free(s);
}

int main(void)
{
    if (!mkdtemp(root))
        return 1;
    test_lifecycle();
    test_reopen();
    crisp_error_t *err = NULL;
    CHECK(dir_remove_all(root, &err) == 0);
    return unit_report("test_store");
}
