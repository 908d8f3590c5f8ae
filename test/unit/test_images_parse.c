#define _GNU_SOURCE
#include "common/cleanup.h"
#include "images/digest.h"
#include "images/manifest.h"
#include "images/reference.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#define HEX1 "77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2"
#define D1 "sha256:" HEX1 /* sha256("layer1") */
#define D2 "sha256:95cf1a2e1698fe3ca1fcc3f653119146b271d0b62e487ec264441e886a11bd06"
#define D3 "sha256:a0e70458d19e37e14d6388030a017c587283e2fb6ef10c0744cad0294c47e8f8"
#define EMPTY_SHA "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Makes a call that may fail, with _e as its error: the message (owned) and status, NULL on success. */
#define ERR_MSG(call, status_out)                                                                            \
    ({                                                                                                       \
        crisp_error_t *_e = NULL;                                                                            \
        char *_m = NULL;                                                                                     \
        if ((call) < 0) {                                                                                    \
            _m = strdup(_e ? _e->msg : "(no error set)");                                                    \
            status_out = _e ? _e->status : 0;                                                                \
        }                                                                                                    \
        crisp_error_free(_e);                                                                                \
        _m;                                                                                                  \
    })

static void test_digest_valid(void)
{
    CHECK(img_digest_valid(D1));
    CHECK(img_digest_valid(EMPTY_SHA));
    CHECK(!img_digest_valid(NULL));
    CHECK(!img_digest_valid(""));
    CHECK(!img_digest_valid("sha256:"));
    CHECK(!img_digest_valid(HEX1));
    CHECK(!img_digest_valid("sha256:77EA7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2"));
    CHECK(!img_digest_valid(D1 "0"));
    CHECK(!img_digest_valid("sha256:77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a"));
    CHECK(!img_digest_valid("sha512:" HEX1));
    CHECK(!img_digest_valid("SHA256:" HEX1));
    CHECK(!img_digest_valid("sha256:77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106ag"));
}

static void test_digest_vectors(void)
{
    char out[IMG_DIGEST_MAX];
    img_digest_buffer("", 0, out);
    CHECK_STR(out, EMPTY_SHA);
    img_digest_buffer("abc", 3, out);
    CHECK_STR(out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    img_digest_buffer("layer1", 6, out);
    CHECK_STR(out, D1);

    struct img_hasher *h = img_hasher_new();
    CHECK(h != NULL);
    img_hasher_final(h, out);
    CHECK_STR(out, EMPTY_SHA);
    img_hasher_free(h);

    /* A million 'a's, fed in uneven pieces (FIPS 180-2 test vector). */
    _cleanup_free_ char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    h = img_hasher_new();
    for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 65521 + 1)
        img_hasher_update(h, a + off, off + step > 1000000 ? 1000000 - off : step);
    img_hasher_final(h, out);
    CHECK_STR(out, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    img_hasher_update(h, "x", 1); /* ignored after final */
    img_hasher_free(h);
    img_hasher_free(NULL);
    img_digest_buffer(a, 1000000, out);
    CHECK_STR(out, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_chain_id(void)
{
    char c1[IMG_DIGEST_MAX], c2[IMG_DIGEST_MAX], c3[IMG_DIGEST_MAX];
    img_chain_id(NULL, D1, c1);
    CHECK_STR(c1, D1);
    img_chain_id("", D1, c1);
    CHECK_STR(c1, D1);
    img_chain_id(c1, D2, c2);
    CHECK_STR(c2, "sha256:9c7a0b8937394482a0afcc4bef0ca0aba0d74084bd9f60198ec7fac434e5436d");
    img_chain_id(c2, D3, c3);
    CHECK_STR(c3, "sha256:1512378f2edc09c9e21c7511cc1aaf7c6d42d3b6ff301027b8527b8b23c3ce70");
    /* Order matters. */
    img_chain_id(D2, D1, c3);
    CHECK(strcmp(c3, c2) != 0);
}

static const struct {
    const char *in, *domain, *path, *tag, *digest;
} good_refs[] = {
    {"busybox", "docker.io", "library/busybox", "latest", NULL},
    {"library/busybox", "docker.io", "library/busybox", "latest", NULL},
    {"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL},
    {"docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL},
    {"index.docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", NULL},
    {"index.docker.io/busybox", "docker.io", "library/busybox", "latest", NULL},
    {"busybox:1.36.1-musl", "docker.io", "library/busybox", "1.36.1-musl", NULL},
    {"user/repo", "docker.io", "user/repo", "latest", NULL},
    {"user/repo/deep:v1", "docker.io", "user/repo/deep", "v1", NULL},
    {"localhost/foo", "localhost", "foo", "latest", NULL},
    {"localhost:5000/a/b:t", "localhost:5000", "a/b", "t", NULL},
    {"localhost:5000", "docker.io", "library/localhost", "5000", NULL},
    {"127.0.0.1:5000/x@" D1, "127.0.0.1:5000", "x", NULL, D1},
    {"registry.k8s.io/pause:3.10", "registry.k8s.io", "pause", "3.10", NULL},
    {"quay.io/coreos/etcd:v3.5.0", "quay.io", "coreos/etcd", "v3.5.0", NULL},
    {"busybox@" D1, "docker.io", "library/busybox", NULL, D1},
    {"name:tag@" D1, "docker.io", "library/name", "tag", D1},
    {"ghcr.io/o/r:tag@" D2, "ghcr.io", "o/r", "tag", D2},
    {"[::1]:5000/foo", "[::1]:5000", "foo", "latest", NULL},
    {"My-Registry.example.com/foo", "My-Registry.example.com", "foo", "latest", NULL},
    {"u/a.b_c__d-e---f", "docker.io", "u/a.b_c__d-e---f", "latest", NULL},
    {"foo:_Tag.1-x", "docker.io", "library/foo", "_Tag.1-x", NULL},
    {"example.com:443/a", "example.com:443", "a", "latest", NULL},
    /* Only a bare 64-hex string looks like an image ID; with a tag it is a name. */
    {HEX1 ":v1", "docker.io", "library/" HEX1, "v1", NULL},
};

static void test_ref_normalise(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(good_refs); i++) {
        struct img_ref *ref = NULL;
        crisp_error_t *err = NULL;
        int r = img_ref_parse(good_refs[i].in, &ref, &err);
        CHECK(r == 0);
        if (r < 0) {
            fprintf(stderr, "  %s: %s\n", good_refs[i].in, err->msg);
            crisp_error_free(err);
            continue;
        }
        CHECK_STR(ref->domain, good_refs[i].domain);
        CHECK_STR(ref->path, good_refs[i].path);
        if (good_refs[i].tag)
            CHECK_STR(ref->tag, good_refs[i].tag);
        else
            CHECK(ref->tag == NULL);
        if (good_refs[i].digest)
            CHECK_STR(ref->digest, good_refs[i].digest);
        else
            CHECK(ref->digest == NULL);
        img_ref_free(ref);
    }
}

static void test_ref_strings(void)
{
    _cleanup_(img_ref_freep) struct img_ref *ref = NULL;
    CHECK(img_ref_parse("busybox:1.36@" D1, &ref, NULL) == 0);
    _cleanup_free_ char *name = img_ref_name(ref);
    _cleanup_free_ char *tagged = img_ref_tagged(ref);
    _cleanup_free_ char *digested = img_ref_digested(ref, D2);
    _cleanup_free_ char *own = img_ref_digested(ref, NULL);
    CHECK_STR(name, "docker.io/library/busybox");
    CHECK_STR(tagged, "docker.io/library/busybox:1.36");
    CHECK_STR(digested, "docker.io/library/busybox@" D2);
    CHECK_STR(own, "docker.io/library/busybox@" D1);
    CHECK_STR(img_ref_api_host(ref), "registry-1.docker.io");

    _cleanup_(img_ref_freep) struct img_ref *local = NULL;
    CHECK(img_ref_parse("localhost:5000/x@" D1, &local, NULL) == 0);
    CHECK(img_ref_tagged(local) == NULL);
    CHECK_STR(img_ref_api_host(local), "localhost:5000");

    _cleanup_(img_ref_freep) struct img_ref *k8s = NULL;
    CHECK(img_ref_parse("registry.k8s.io/pause:3.10", &k8s, NULL) == 0);
    CHECK_STR(img_ref_api_host(k8s), "registry.k8s.io");
    CHECK(img_ref_digested(k8s, NULL) == NULL);
    img_ref_free(NULL);
}

static const struct {
    const char *in, *message;
} bad_refs[] = {
    {"", "empty"},
    {"Busybox", "repository name must be lowercase"},
    {"docker.io/Library/busybox", "repository name must be lowercase"},
    {"localhost:5000/Foo", "repository name must be lowercase"},
    {"foo:", "empty tag"},
    {":tag", "missing repository name"},
    {"@" D1, "missing repository name"},
    {"a//b", "empty path component"},
    {"foo/", "empty path component"},
    {"/foo", "empty path component"},
    {"busybox@sha256:abc", "invalid digest \"sha256:abc\""},
    {"busybox@" D1 "0", "invalid digest"},
    {"busybox@sha256:77EA7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2", "invalid digest"},
    {"busybox@sha512:" HEX1 HEX1, "unsupported digest algorithm \"sha512\""},
    {"busybox@", "invalid digest \"\""},
    {"busybox@" HEX1, "invalid digest"},
    {"foo:bad/tag", "invalid registry host \"foo:bad\""},
    {"foo:t@g", "invalid digest"},
    {"foo:-tag", "invalid tag \"-tag\""},
    {"foo:t!g", "invalid tag \"t!g\""},
    {"-foo", "invalid path component \"-foo\""},
    {"foo-", "invalid path component \"foo-\""},
    {"foo..bar", "invalid path component \"foo..bar\""},
    {"foo___bar", "invalid path component \"foo___bar\""},
    {"foo._bar", "invalid path component \"foo._bar\""},
    {"a/b c", "invalid path component \"b c\""},
    {"-bad.example.com/foo", "invalid registry host \"-bad.example.com\""},
    {"bad..example.com/foo", "invalid registry host"},
    {"a_b.c/foo", "invalid registry host \"a_b.c\""},
    {"localhost:abc/foo", "invalid registry host \"localhost:abc\""},
    {"localhost:/foo", "invalid registry host"},
    {"[zz]:5000/foo", "invalid registry host"},
    {HEX1, "64-character hex string"},
    {"77EA7EEE3D80B1A38F83906DD3048E2689457EB90E18A7D12F839C5AE37106A2", "must be lowercase"},
};

static void test_ref_errors(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_refs); i++) {
        struct img_ref *ref = NULL;
        int status = 0;
        _cleanup_free_ char *msg = ERR_MSG(img_ref_parse(bad_refs[i].in, &ref, &_e), status);
        CHECK(msg != NULL && ref == NULL && status == EINVAL);
        CHECK_CONTAINS(msg, bad_refs[i].message);
        img_ref_free(ref);
    }
    int status = 0;
    _cleanup_free_ char *null_msg = ERR_MSG(img_ref_parse(NULL, &(struct img_ref *){NULL}, &_e), status);
    CHECK_CONTAINS(null_msg, "empty");
    CHECK(status == EINVAL);
}

static void test_ref_lengths(void)
{
    /* A tag of 128 characters is the most allowed. */
    char tag_ok[4 + 128 + 1] = "foo:", tag_long[4 + 129 + 1] = "foo:";
    memset(tag_ok + 4, 't', 128);
    memset(tag_long + 4, 't', 129);
    _cleanup_(img_ref_freep) struct img_ref *ref = NULL;
    CHECK(img_ref_parse(tag_ok, &ref, NULL) == 0);
    int status = 0;
    _cleanup_free_ char *msg = ERR_MSG(img_ref_parse(tag_long, &(struct img_ref *){NULL}, &_e), status);
    CHECK_CONTAINS(msg, "invalid tag");

    /* docker.io/library/ + n: the name limit of 255 counts the normalised name. */
    char name[256];
    memset(name, 'a', sizeof(name));
    name[255 - strlen("docker.io/library/")] = '\0';
    _cleanup_(img_ref_freep) struct img_ref *max_name = NULL;
    CHECK(img_ref_parse(name, &max_name, NULL) == 0);
    name[255 - strlen("docker.io/library/")] = 'a';
    name[256 - strlen("docker.io/library/")] = '\0';
    _cleanup_free_ char *long_name = ERR_MSG(img_ref_parse(name, &(struct img_ref *){NULL}, &_e), status);
    CHECK_CONTAINS(long_name, "longer than 255");

    _cleanup_free_ char *huge = malloc(IMG_REF_MAX + 2);
    memset(huge, 'a', IMG_REF_MAX + 1);
    huge[IMG_REF_MAX + 1] = '\0';
    _cleanup_free_ char *huge_msg = ERR_MSG(img_ref_parse(huge, &(struct img_ref *){NULL}, &_e), status);
    CHECK_CONTAINS(huge_msg, "longer than 4096 bytes");
    CHECK(status == EINVAL);
}

#define DESC(mt, d, size) "{\"mediaType\":\"" mt "\",\"digest\":\"" d "\",\"size\":" #size "}"
#define LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_CONFIG "application/vnd.oci.image.config.v1+json"

static const char manifest_oci[] = "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\","
                                   "\"config\":" DESC(OCI_CONFIG, D1,
                                                      1469) ","
                                                            "\"layers\":[" DESC(LAYER_GZ, D2, 2000) "," DESC(
                                                                "application/vnd.oci.image.layer.v1.tar+zstd",
                                                                D3, 0) "]}";

static void test_manifest_parse(void)
{
    struct img_manifest *m = NULL;
    CHECK(img_manifest_parse(manifest_oci, strlen(manifest_oci), &m, NULL) == 0);
    if (m) {
        CHECK_STR(m->config.media_type, OCI_CONFIG);
        CHECK_STR(m->config.digest, D1);
        CHECK(m->config.size == 1469);
        CHECK(m->n_layers == 2);
        CHECK_STR(m->layers[0].media_type, LAYER_GZ);
        CHECK_STR(m->layers[0].digest, D2);
        CHECK(m->layers[0].size == 2000);
        CHECK_STR(m->layers[1].digest, D3);
        CHECK(m->layers[1].size == 0);
    }
    img_manifest_free(m);
    img_manifest_free(NULL);

    /* Docker schema 2, no top-level mediaType, no layers, duplicate key: the last wins. */
    const char *docker = "{\"schemaVersion\":2,"
                         "\"config\":" DESC("application/vnd.docker.container.image.v1+json", D1,
                                            7) ","
                                               "\"layers\":[],"
                                               "\"config\":" DESC(OCI_CONFIG, D3, 9) "}";
    m = NULL;
    CHECK(img_manifest_parse(docker, strlen(docker), &m, NULL) == 0);
    if (m) {
        CHECK(m->n_layers == 0);
        CHECK_STR(m->config.digest, D3);
    }
    img_manifest_free(m);
}

static const struct {
    const char *doc, *message;
} bad_manifests[] = {
    {"", "invalid JSON"},
    {"[]", "expected a JSON object"},
    {"{\"schemaVersion\":2,", "invalid JSON"},
    {"{}", "missing or non-integer schemaVersion"},
    {"{\"schemaVersion\":\"2\"}", "missing or non-integer schemaVersion"},
    {"{\"schemaVersion\":1,\"fsLayers\":[]}", "unsupported schemaVersion 1"},
    {"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":[]}", "unexpected mediaType"},
    {"{\"schemaVersion\":2,\"layers\":[]}", "missing config"},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, D1, 1) "}", "\"layers\" must be a list"},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, D1, 1) ",\"layers\":{}}",
     "\"layers\" must be a list"},
    {"{\"schemaVersion\":2,\"config\":[],\"layers\":[]}", "manifest: config: expected an object"},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, "sha256:abc", 1) ",\"layers\":[]}",
     "manifest: config: invalid digest \"sha256:abc\""},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, "sha512:" HEX1, 1) ",\"layers\":[]}",
     "invalid digest"},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, D1, -1) ",\"layers\":[]}",
     "size must be a non-negative integer"},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, D1, 1.5) ",\"layers\":[]}",
     "size must be a non-negative integer"},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, D1, "1") ",\"layers\":[]}",
     "size must be a non-negative integer"},
    {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\"},\"layers\":[]}",
     "size must be a non-negative integer"},
    {"{\"schemaVersion\":2,\"config\":{\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
     "missing mediaType"},
    {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
     "missing mediaType"},
    {"{\"schemaVersion\":2,\"config\":{\"mediaType\":7,\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
     "\"mediaType\" must be a string"},
    {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"size\":1},\"layers\":[]}", "missing digest"},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, D1, 1) ",\"layers\":[" DESC(LAYER_GZ, D2, 1) ",{}]}",
     "manifest: layers[1]: missing mediaType"},
    {"{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, D1, 1) ",\"layers\":[" DESC(LAYER_GZ, D2, 1) "]} x",
     "invalid JSON"},
    {"{\"schemaVersion\":2 /* c */}", "not plain JSON"},
};

static void test_manifest_errors(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_manifests); i++) {
        struct img_manifest *m = NULL;
        int status = 0;
        _cleanup_free_ char *msg = ERR_MSG(
            img_manifest_parse(bad_manifests[i].doc, strlen(bad_manifests[i].doc), &m, &_e), status);
        CHECK(msg != NULL && m == NULL && status == EINVAL);
        CHECK_CONTAINS(msg, bad_manifests[i].message);
        img_manifest_free(m);
    }
}

/* A manifest with n layers, and documents at and past the limits. */
static char *manifest_with_layers(size_t n)
{
    char *doc = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&doc, &size);
    fputs("{\"schemaVersion\":2,\"config\":" DESC(OCI_CONFIG, D1, 1) ",\"layers\":[", f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s" DESC(LAYER_GZ, D2, 1), i ? "," : "");
    fputs("]}", f);
    fclose(f);
    return doc;
}

static void test_manifest_limits(void)
{
    int status = 0;
    _cleanup_free_ char *max = manifest_with_layers(IMG_MAX_LAYERS);
    struct img_manifest *m = NULL;
    CHECK(img_manifest_parse(max, strlen(max), &m, NULL) == 0);
    CHECK(m && m->n_layers == IMG_MAX_LAYERS);
    img_manifest_free(m);

    _cleanup_free_ char *over = manifest_with_layers(IMG_MAX_LAYERS + 1);
    _cleanup_free_ char *over_msg = ERR_MSG(img_manifest_parse(over, strlen(over), &m, &_e), status);
    CHECK_CONTAINS(over_msg, "257 layers, more than the limit of 256");

    /* Size is checked before anything is parsed. */
    size_t big_len = IMG_MANIFEST_MAX_SIZE + 1;
    _cleanup_free_ char *big = malloc(big_len);
    memset(big, ' ', big_len);
    _cleanup_free_ char *big_msg = ERR_MSG(img_manifest_parse(big, big_len, &m, &_e), status);
    CHECK_CONTAINS(big_msg, "manifest is larger than 4194304 bytes");
    CHECK(status == EINVAL);

    /* Deep nesting is refused before yajl sees it (its recursive free could overflow the stack). */
    _cleanup_free_ char *deep = malloc(200001);
    memset(deep, '[', 100000);
    memset(deep + 100000, ']', 100000);
    deep[200000] = '\0';
    _cleanup_free_ char *deep_msg = ERR_MSG(img_manifest_parse(deep, 200000, &m, &_e), status);
    CHECK_CONTAINS(deep_msg, "nested too deeply");

    /* Brackets inside strings don't count; an embedded NUL is refused. */
    const char *strings =
        "{\"schemaVersion\":2,\"x\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "[[[[[[[[[[[[[[[[[[[[\\\"\",\"config\":" DESC(OCI_CONFIG, D1, 1) ",\"layers\":[]}";
    CHECK(img_manifest_parse(strings, strlen(strings), &m, NULL) == 0);
    img_manifest_free(m);
    const char nul[] = "{\"schemaVersion\":2}\0{}";
    _cleanup_free_ char *nul_msg = ERR_MSG(img_manifest_parse(nul, sizeof(nul) - 1, &m, &_e), status);
    CHECK_CONTAINS(nul_msg, "not plain JSON");
}

#define ENTRY(d, os, arch, variant)                                                                          \
    "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" d                                             \
    "\",\"size\":500,\"platform\":{\"os\":\"" os "\",\"architecture\":\"" arch "\"" variant "}}"

static const char index_multi[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"manifests\":["
    /* a nested index and an attestation are never chosen */
    "{\"mediaType\":\"" IMG_MT_OCI_INDEX "\",\"digest\":\"" D3 "\",\"size\":1,"
    "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"" D3 "\",\"size\":1,"
    "\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}}," ENTRY(
        D1, "linux", "amd64",
        ",\"variant\":\"v3\"") "," ENTRY(D2, "linux", "arm64",
                                         "") "," ENTRY(D3, "linux", "arm",
                                                       ",\"variant\":\"v7\"") "," ENTRY(D1, "windows",
                                                                                        "amd64", "") "]}";

static int select_for(const char *doc, const char *os, const char *arch, const char *variant,
                      struct img_descriptor *d, char **ret_msg, int *ret_status)
{
    struct img_platform p = {os, arch, variant};
    crisp_error_t *err = NULL;
    memset(d, 0, sizeof(*d));
    int r = img_index_select(doc, strlen(doc), &p, d, &err);
    *ret_msg = err ? strdup(err->msg) : NULL;
    *ret_status = err ? err->status : 0;
    crisp_error_free(err);
    return r;
}

static void test_index_select(void)
{
    struct img_descriptor d;
    char *msg = NULL;
    int status = 0;
    /* amd64 ignores the variant; arm64 "" matches the host's v8. */
    CHECK(select_for(index_multi, "linux", "amd64", "", &d, &msg, &status) == 0);
    CHECK_STR(d.digest, D1);
    CHECK_STR(d.media_type, IMG_MT_OCI_MANIFEST);
    CHECK(d.size == 500);
    free(d.media_type);
    CHECK(select_for(index_multi, "linux", "arm64", "v8", &d, &msg, &status) == 0);
    CHECK_STR(d.digest, D2);
    free(d.media_type);
    CHECK(select_for(index_multi, "linux", "arm", "v7", &d, &msg, &status) == 0);
    CHECK_STR(d.digest, D3);
    free(d.media_type);

    CHECK(select_for(index_multi, "linux", "arm", "v6", &d, &msg, &status) < 0);
    CHECK(status == ENOENT);
    CHECK_STR(msg,
              "no image for linux/arm/v6 in the index; it has: linux/amd64/v3, linux/arm64, linux/arm/v7, "
              "windows/amd64");
    free(msg);
    CHECK(select_for(index_multi, "linux", "s390x", "", &d, &msg, &status) < 0);
    CHECK_CONTAINS(msg, "no image for linux/s390x in the index");
    free(msg);

    const char *arm_only = "{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_DOCKER_LIST
                           "\",\"manifests\":[" ENTRY(D2, "linux", "arm64", ",\"variant\":\"v8\"") "," ENTRY(
                               D3, "linux", "arm", ",\"variant\":\"v7\"") "]}";
    CHECK(select_for(arm_only, "linux", "amd64", "", &d, &msg, &status) < 0);
    CHECK(status == ENOENT);
    CHECK_STR(msg, "no image for linux/amd64 in the index; it has: linux/arm64/v8, linux/arm/v7");
    free(msg);
    /* An arm64 host whose variant is unset still takes the v8 entry. */
    CHECK(select_for(arm_only, "linux", "arm64", "", &d, &msg, &status) == 0);
    CHECK_STR(d.digest, D2);
    free(d.media_type);

    /* A caller that leaves the variant NULL means "none". */
    CHECK(select_for(arm_only, "linux", "arm64", NULL, &d, &msg, &status) == 0);
    CHECK_STR(d.digest, D2);
    free(d.media_type);
    CHECK(select_for(arm_only, "linux", "riscv64", NULL, &d, &msg, &status) < 0);
    CHECK_CONTAINS(msg, "no image for linux/riscv64 in the index");
    free(msg);

    const char *empty = "{\"schemaVersion\":2,\"manifests\":[]}";
    CHECK(select_for(empty, "linux", "amd64", "", &d, &msg, &status) < 0);
    CHECK_CONTAINS(msg, "it has: no platform-specific manifests");
    free(msg);
}

static const struct {
    const char *doc, *message;
} bad_indexes[] = {
    {"{\"schemaVersion\":2}", "\"manifests\" must be a list"},
    {"{\"schemaVersion\":2,\"manifests\":{}}", "\"manifests\" must be a list"},
    {"{\"manifests\":[]}", "schemaVersion"},
    {"{\"schemaVersion\":2,\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"manifests\":[]}",
     "unexpected mediaType"},
    {"{\"schemaVersion\":2,\"manifests\":[7]}", "index: manifests[0]: expected an object"},
    {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" IMG_MT_OCI_MANIFEST
     "\",\"platform\":\"linux\"}]}",
     "index: manifests[0]: platform must be an object"},
    {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" IMG_MT_OCI_MANIFEST
     "\",\"platform\":{\"os\":\"linux\"}}]}",
     "platform needs os and architecture"},
    {"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" IMG_MT_OCI_MANIFEST "\",\"digest\":\"sha256:1\","
     "\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
     "index: manifests[0]: invalid digest"},
};

static void test_index_errors(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_indexes); i++) {
        struct img_descriptor d;
        char *msg = NULL;
        int status = 0;
        CHECK(select_for(bad_indexes[i].doc, "linux", "amd64", "", &d, &msg, &status) < 0);
        CHECK(status == EINVAL);
        CHECK_CONTAINS(msg, bad_indexes[i].message);
        free(msg);
    }
}

static void test_platform_host(void)
{
    struct img_platform p;
    struct utsname u;
    img_platform_host(&p);
    CHECK_STR(p.os, "linux");
    CHECK(p.architecture && p.variant);
    CHECK(uname(&u) == 0);
    if (strcmp(u.machine, "x86_64") == 0) {
        CHECK_STR(p.architecture, "amd64");
        CHECK_STR(p.variant, "");
    } else if (strcmp(u.machine, "aarch64") == 0) {
        CHECK_STR(p.architecture, "arm64");
        CHECK_STR(p.variant, "v8");
    }
}

static enum img_doc_kind kind_of(const char *content_type, const char *body, int *ret_r, char **ret_msg)
{
    enum img_doc_kind kind = (enum img_doc_kind) - 1;
    crisp_error_t *err = NULL;
    *ret_r = img_doc_kind(content_type, body, strlen(body), &kind, &err);
    *ret_msg = err ? strdup(err->msg) : NULL;
    crisp_error_free(err);
    return kind;
}

static void test_doc_kind(void)
{
    int r;
    char *msg = NULL;
    CHECK(kind_of(IMG_MT_OCI_MANIFEST, "", &r, &msg) == IMG_DOC_MANIFEST && r == 0);
    CHECK(kind_of(IMG_MT_DOCKER_MANIFEST "; charset=utf-8", "", &r, &msg) == IMG_DOC_MANIFEST && r == 0);
    CHECK(kind_of(IMG_MT_OCI_INDEX, "", &r, &msg) == IMG_DOC_INDEX && r == 0);
    CHECK(kind_of(" " IMG_MT_DOCKER_LIST " ;q=1", "", &r, &msg) == IMG_DOC_INDEX && r == 0);
    CHECK(kind_of("Application/VND.OCI.image.index.v1+json", "", &r, &msg) == IMG_DOC_INDEX && r == 0);
    /* Generic or missing types: the body decides. */
    CHECK(kind_of(NULL, manifest_oci, &r, &msg) == IMG_DOC_MANIFEST && r == 0);
    CHECK(kind_of("application/json", index_multi, &r, &msg) == IMG_DOC_INDEX && r == 0);
    CHECK(kind_of("", "{\"schemaVersion\":2,\"manifests\":[]}", &r, &msg) == IMG_DOC_INDEX && r == 0);
    CHECK(kind_of("application/octet-stream", "{\"schemaVersion\":2,\"layers\":[]}", &r, &msg) ==
              IMG_DOC_MANIFEST &&
          r == 0);

    kind_of("application/vnd.docker.distribution.manifest.v1+prettyjws", "{}", &r, &msg);
    CHECK(r < 0);
    CHECK_CONTAINS(
        msg, "unsupported manifest media type \"application/vnd.docker.distribution.manifest.v1+prettyjws\"");
    CHECK_CONTAINS(msg, "schema 1");
    free(msg);
    kind_of("text/html; charset=utf-8", "{}", &r, &msg);
    CHECK(r < 0);
    CHECK_CONTAINS(msg, "\"text/html\"");
    free(msg);
    kind_of(NULL, "{\"schemaVersion\":1,\"fsLayers\":[]}", &r, &msg);
    CHECK(r < 0);
    CHECK_CONTAINS(msg, "schema 1");
    free(msg);
    kind_of(NULL, "{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\"}", &r, &msg);
    CHECK(r < 0);
    CHECK_CONTAINS(msg, "application/vnd.cncf.helm.config.v1+json");
    free(msg);
    kind_of(NULL, "{\"schemaVersion\":2}", &r, &msg);
    CHECK(r < 0);
    CHECK_CONTAINS(msg, "neither");
    free(msg);
    kind_of("application/json", "not json", &r, &msg);
    CHECK(r < 0);
    CHECK_CONTAINS(msg, "invalid JSON");
    free(msg);
}

static void test_layer_compression(void)
{
    static const struct {
        const char *media_type;
        enum img_compression c;
    } types[] = {
        {"application/vnd.oci.image.layer.v1.tar", IMG_COMPRESSION_NONE},
        {"application/vnd.oci.image.layer.v1.tar+gzip", IMG_COMPRESSION_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", IMG_COMPRESSION_ZSTD},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_COMPRESSION_NONE},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_COMPRESSION_GZIP},
        {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_COMPRESSION_ZSTD},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", IMG_COMPRESSION_GZIP},
        {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_COMPRESSION_GZIP},
    };
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        enum img_compression c = (enum img_compression) - 1;
        CHECK(img_layer_compression(types[i].media_type, &c, NULL) == 0);
        CHECK(c == types[i].c);
    }
    enum img_compression c;
    int status = 0;
    _cleanup_free_ char *msg = ERR_MSG(
        img_layer_compression("application/vnd.cncf.helm.chart.content.v1.tar+gzip", &c, &_e), status);
    CHECK(status == EINVAL);
    CHECK_CONTAINS(msg,
                   "unsupported layer media type \"application/vnd.cncf.helm.chart.content.v1.tar+gzip\"");
    _cleanup_free_ char *msg2 = ERR_MSG(
        img_layer_compression("application/vnd.oci.image.layer.v1.tar+bzip2", &c, &_e), status);
    CHECK_CONTAINS(msg2, "tar+bzip2");
}

static struct img_config *config_of(const char *doc, char **ret_msg)
{
    struct img_config *c = NULL;
    crisp_error_t *err = NULL;
    if (img_config_parse(doc, strlen(doc), &c, &err) < 0) {
        *ret_msg = strdup(err->msg);
        CHECK(err->status == EINVAL);
    } else {
        *ret_msg = NULL;
    }
    crisp_error_free(err);
    return c;
}

static int64_t created_of(const char *created)
{
    _cleanup_free_ char *doc = NULL;
    if (asprintf(&doc, "{\"created\":\"%s\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", created) < 0)
        abort();
    char *msg = NULL;
    struct img_config *c = config_of(doc, &msg);
    CHECK(c != NULL);
    int64_t t = c ? c->created : -1;
    img_config_free(c);
    free(msg);
    return t;
}

static void test_config_parse(void)
{
    char *msg = NULL;
    struct img_config *c = config_of(
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-02T03:04:05.123456789Z\","
        "\"config\":{\"User\":\"1000:1000\",\"Env\":[\"PATH=/bin\"]},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},\"history\":[]}",
        &msg);
    CHECK(c != NULL);
    if (c) {
        CHECK(c->n_diff_ids == 2);
        CHECK_STR(c->diff_ids[0], D1);
        CHECK_STR(c->diff_ids[1], D2);
        CHECK(c->diff_ids[2] == NULL);
        CHECK_STR(c->user, "1000:1000");
        CHECK_STR(c->os, "linux");
        CHECK_STR(c->architecture, "amd64");
        CHECK(c->created == 1704164645123456789LL);
    }
    img_config_free(c);
    img_config_free(NULL);

    /* No config, no diff_ids (Docker omits an empty list), no created. */
    c = config_of("{\"rootfs\":{\"type\":\"layers\"},\"config\":null}", &msg);
    CHECK(c != NULL);
    if (c) {
        CHECK(c->n_diff_ids == 0 && c->diff_ids && c->diff_ids[0] == NULL);
        CHECK_STR(c->user, "");
        CHECK_STR(c->os, "");
        CHECK(c->created == 0);
    }
    img_config_free(c);
    c = config_of("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{}}", &msg);
    CHECK(c && strcmp(c->user, "") == 0);
    img_config_free(c);
}

static void test_config_created(void)
{
    CHECK(created_of("2024-01-02T03:04:05Z") == 1704164645000000000LL);
    CHECK(created_of("2024-01-02t03:04:05z") == 1704164645000000000LL);
    CHECK(created_of("2024-01-02T03:04:05.5+02:00") == 1704157445500000000LL);
    CHECK(created_of("2000-02-29T12:00:00-05:30") == 951845400000000000LL);
    CHECK(created_of("1970-01-01T00:00:00Z") == 0);
    CHECK(created_of("1970-01-01T00:00:01.000000001Z") == 1000000001LL);
    CHECK(created_of("1969-12-31T23:59:59Z") == -1000000000LL);
    CHECK(created_of("2024-01-02T03:04:05.1234567891234Z") == 1704164645123456789LL);
    /* Unparsable or out of range: 0. */
    CHECK(created_of("0001-01-01T00:00:00Z") == 0);
    CHECK(created_of("2024-01-02") == 0);
    CHECK(created_of("2024-01-02T03:04:05") == 0);
    CHECK(created_of("2024-01-02T03:04:05.Z") == 0);
    CHECK(created_of("2023-02-29T00:00:00Z") == 0);
    CHECK(created_of("2024-13-01T00:00:00Z") == 0);
    CHECK(created_of("2024-01-01T24:00:00Z") == 0);
    CHECK(created_of("2024-01-01T00:00:00+0200") == 0);
    CHECK(created_of("2024-01-01T00:00:00Zjunk") == 0);
    CHECK(created_of("yesterday") == 0);
    CHECK(created_of("") == 0);
}

static const struct {
    const char *doc, *message;
} bad_configs[] = {
    {"{}", "missing rootfs"},
    {"{\"rootfs\":[]}", "missing rootfs"},
    {"{\"rootfs\":{\"diff_ids\":[]}}", "rootfs.type must be \"layers\", got \"\""},
    {"{\"rootfs\":{\"type\":\"squash\",\"diff_ids\":[]}}", "rootfs.type must be \"layers\", got \"squash\""},
    {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":{}}}", "rootfs.diff_ids must be a list"},
    {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"sha256:x\"]}}",
     "rootfs.diff_ids[1] is not a sha256 digest"},
    {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[5]}}", "rootfs.diff_ids[0] is not a sha256 digest"},
    {"{\"rootfs\":{\"type\":\"layers\"},\"config\":[]}", "\"config\" must be an object"},
    {"{\"rootfs\":{\"type\":\"layers\"},\"config\":{\"User\":0}}", "\"User\" must be a string"},
    {"{\"rootfs\":{\"type\":\"layers\"},\"os\":1}", "\"os\" must be a string"},
    {"[1]", "expected a JSON object"},
    {"{", "invalid JSON"},
};

static void test_config_errors(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(bad_configs); i++) {
        char *msg = NULL;
        struct img_config *c = config_of(bad_configs[i].doc, &msg);
        CHECK(c == NULL);
        CHECK_CONTAINS(msg, bad_configs[i].message);
        img_config_free(c);
        free(msg);
    }

    int status = 0;
    struct img_config *c = NULL;
    size_t big_len = IMG_CONFIG_MAX_SIZE + 1;
    _cleanup_free_ char *big = malloc(big_len);
    memset(big, ' ', big_len);
    _cleanup_free_ char *big_msg = ERR_MSG(img_config_parse(big, big_len, &c, &_e), status);
    CHECK_CONTAINS(big_msg, "image config is larger than 8388608 bytes");
    CHECK(status == EINVAL);

    _cleanup_free_ char *many = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&many, &size);
    fputs("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[", f);
    for (int i = 0; i <= IMG_MAX_LAYERS; i++)
        fprintf(f, "%s\"" D1 "\"", i ? "," : "");
    fputs("]}}", f);
    fclose(f);
    _cleanup_free_ char *many_msg = ERR_MSG(img_config_parse(many, size, &c, &_e), status);
    CHECK_CONTAINS(many_msg, "257 diff_ids, more than the limit of 256");
}

int main(void)
{
    test_digest_valid();
    test_digest_vectors();
    test_chain_id();
    test_ref_normalise();
    test_ref_strings();
    test_ref_errors();
    test_ref_lengths();
    test_manifest_parse();
    test_manifest_errors();
    test_manifest_limits();
    test_index_select();
    test_index_errors();
    test_platform_host();
    test_doc_kind();
    test_layer_compression();
    test_config_parse();
    test_config_created();
    test_config_errors();
    return unit_report("test_images_parse");
}
