#define _GNU_SOURCE
#include "manifest.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <yajl/yajl_tree.h>

#define JSON_MAX_DEPTH 64
#define MEDIA_TYPE_MAX 255
#define INDEX_MAX_ENTRIES 1024
#define PLATFORMS_LISTED_MAX 16 /* in the "not found" message */
#define ECHO_MAX 128            /* of an untrusted string quoted in a message */

#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

static void json_freep(yajl_val *v)
{
    yajl_tree_free(*v);
}

static void manifest_freep(struct img_manifest **m)
{
    img_manifest_free(*m);
}

static void config_freep(struct img_config **c)
{
    img_config_free(*c);
}

/* yajl frees trees recursively, so a deeply nested document could exhaust the stack; and yajl_tree
 * accepts comments, which could hide brackets from this scan. Returns why s is refused, or NULL. */
static const char *json_scan(const char *s, size_t len)
{
    int depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > JSON_MAX_DEPTH)
                return "nested too deeply";
        } else if (c == ']' || c == '}') {
            depth--;
        } else if (c == '/' || c == '\0') {
            return "not plain JSON";
        }
    }
    return NULL;
}

/* Parses a bounded, NUL-free JSON object; what names the document in messages. */
static int json_parse(const char *what, const char *body, size_t len, size_t max, yajl_val *ret,
                      crisp_error_t **err)
{
    if (len > max)
        return crisp_error_make(err, EINVAL, "%s is larger than %zu bytes", what, max);
    const char *refused = json_scan(body, len);
    if (refused)
        return crisp_error_make(err, EINVAL, "%s: %s", what, refused);
    _cleanup_free_ char *text = strndup(body, len);
    if (!text)
        return crisp_error_oom_in(err, "%s", what);
    char errbuf[256] = "";
    yajl_val root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    if (!root) {
        errbuf[strcspn(errbuf, "\n")] = '\0';
        return crisp_error_make(err, EINVAL, "%s: invalid JSON: %s", what, errbuf);
    }
    if (!YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        return crisp_error_make(err, EINVAL, "%s: expected a JSON object", what);
    }
    *ret = root;
    return 0;
}

/* The last of duplicate keys wins and null counts as absent, as with Go's encoding/json, so crisp reads
 * a document the way registries and the tools that build images do. */
static yajl_val json_member(yajl_val obj, const char *key)
{
    yajl_val found = NULL;
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            found = obj->u.object.values[i];
    return found && !YAJL_IS_NULL(found) ? found : NULL;
}

/* *ret is NULL when key is absent. */
static int json_string(yajl_val obj, const char *key, const char *what, const char **ret, crisp_error_t **err)
{
    yajl_val v = json_member(obj, key);
    *ret = NULL;
    if (!v)
        return 0;
    if (!YAJL_IS_STRING(v))
        return crisp_error_make(err, EINVAL, "%s: \"%s\" must be a string", what, key);
    *ret = v->u.string;
    return 0;
}

static int schema_version_check(yajl_val root, const char *what, crisp_error_t **err)
{
    yajl_val v = json_member(root, "schemaVersion");
    if (!v || !YAJL_IS_INTEGER(v))
        return crisp_error_make(err, EINVAL, "%s: missing or non-integer schemaVersion", what);
    if (YAJL_GET_INTEGER(v) != 2)
        return crisp_error_make(err, EINVAL, "%s: unsupported schemaVersion %lld (expected 2)", what,
                                YAJL_GET_INTEGER(v));
    return 0;
}

static int descriptor_parse(yajl_val v, const char *what, struct img_descriptor *ret, crisp_error_t **err)
{
    if (!YAJL_IS_OBJECT(v))
        return crisp_error_make(err, EINVAL, "%s: expected an object", what);
    const char *media_type = NULL, *digest = NULL;
    if (json_string(v, "mediaType", what, &media_type, err) < 0 ||
        json_string(v, "digest", what, &digest, err) < 0)
        return -1;
    if (!media_type || !*media_type)
        return crisp_error_make(err, EINVAL, "%s: missing mediaType", what);
    if (strlen(media_type) > MEDIA_TYPE_MAX)
        return crisp_error_make(err, EINVAL, "%s: mediaType longer than %d bytes", what, MEDIA_TYPE_MAX);
    if (!digest)
        return crisp_error_make(err, EINVAL, "%s: missing digest", what);
    if (!img_digest_valid(digest))
        return crisp_error_make(err, EINVAL, "%s: invalid digest \"%.*s\" (expected sha256:<64 hex>)", what,
                                ECHO_MAX, digest);
    yajl_val size = json_member(v, "size");
    if (!size || !YAJL_IS_INTEGER(size) || YAJL_GET_INTEGER(size) < 0)
        return crisp_error_make(err, EINVAL, "%s: size must be a non-negative integer", what);
    if (!(ret->media_type = strdup(media_type)))
        return crisp_error_oom_in(err, "%s", what);
    memcpy(ret->digest, digest, strlen(digest) + 1);
    ret->size = YAJL_GET_INTEGER(size);
    return 0;
}

static bool is_manifest_type(const char *media_type)
{
    return strcmp(media_type, IMG_MT_DOCKER_MANIFEST) == 0 || strcmp(media_type, IMG_MT_OCI_MANIFEST) == 0;
}

static bool is_index_type(const char *media_type)
{
    return strcmp(media_type, IMG_MT_DOCKER_LIST) == 0 || strcmp(media_type, IMG_MT_OCI_INDEX) == 0;
}

/* The document's own mediaType, when it has one, must agree with what the caller parses it as. */
static int media_type_check(yajl_val root, const char *what, bool (*accepted)(const char *),
                            crisp_error_t **err)
{
    const char *media_type = NULL;
    if (json_string(root, "mediaType", what, &media_type, err) < 0)
        return -1;
    if (media_type && !accepted(media_type))
        return crisp_error_make(err, EINVAL, "%s: unexpected mediaType \"%.*s\"", what, ECHO_MAX, media_type);
    return 0;
}

static int manifest_layers_parse(yajl_val root, struct img_manifest *m, crisp_error_t **err)
{
    yajl_val layers = json_member(root, "layers");
    if (!layers || !YAJL_IS_ARRAY(layers))
        return crisp_error_make(err, EINVAL, "manifest: \"layers\" must be a list");
    size_t n = layers->u.array.len;
    if (n > IMG_MAX_LAYERS)
        return crisp_error_make(err, EINVAL, "manifest: %zu layers, more than the limit of %d", n,
                                IMG_MAX_LAYERS);
    if (!(m->layers = calloc(n ? n : 1, sizeof(*m->layers))))
        return crisp_error_oom_in(err, "manifest");
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof(what), "manifest: layers[%zu]", i);
        if (descriptor_parse(layers->u.array.values[i], what, &m->layers[i], err) < 0)
            return -1;
        m->n_layers = i + 1;
    }
    return 0;
}

int img_manifest_parse(const char *body, size_t len, struct img_manifest **ret, crisp_error_t **err)
{
    _cleanup_(json_freep) yajl_val root = NULL;
    if (json_parse("manifest", body, len, IMG_MANIFEST_MAX_SIZE, &root, err) < 0 ||
        schema_version_check(root, "manifest", err) < 0 ||
        media_type_check(root, "manifest", is_manifest_type, err) < 0)
        return -1;
    _cleanup_(manifest_freep) struct img_manifest *m = calloc(1, sizeof(*m));
    if (!m)
        return crisp_error_oom_in(err, "manifest");
    yajl_val config = json_member(root, "config");
    if (!config)
        return crisp_error_make(err, EINVAL, "manifest: missing config");
    if (descriptor_parse(config, "manifest: config", &m->config, err) < 0 ||
        manifest_layers_parse(root, m, err) < 0)
        return -1;
    *ret = TAKE_PTR(m);
    return 0;
}

void img_manifest_free(struct img_manifest *m)
{
    if (!m)
        return;
    free(m->config.media_type);
    for (size_t i = 0; i < m->n_layers; i++)
        free(m->layers[i].media_type);
    free(m->layers);
    free(m);
}

static const struct {
    const char *machine, *architecture, *variant;
} machines[] = {
    {"x86_64", "amd64", ""},
    {"amd64", "amd64", ""},
    {"aarch64", "arm64", "v8"},
    {"arm64", "arm64", "v8"},
    {"armv7l", "arm", "v7"},
    {"armv7", "arm", "v7"},
    /* A 32-bit userland on an ARMv8 CPU: it runs v7 code. */
    {"armv8l", "arm", "v7"},
    {"armv6l", "arm", "v6"},
    {"i686", "386", ""},
    {"i586", "386", ""},
    {"i386", "386", ""},
    {"ppc64le", "ppc64le", ""},
    {"s390x", "s390x", ""},
    {"riscv64", "riscv64", ""},
    {"loongarch64", "loong64", ""},
};

void img_platform_host(struct img_platform *ret)
{
    struct utsname u;
    *ret = (struct img_platform){.os = "linux", .architecture = "unknown", .variant = ""};
    if (uname(&u) < 0)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(machines); i++)
        if (strcmp(u.machine, machines[i].machine) == 0) {
            ret->architecture = machines[i].architecture;
            ret->variant = machines[i].variant;
            return;
        }
}

/* Reads an index entry's platform. *ret_usable is false for entries a pull never picks: nested
 * indexes and other non-manifests, attestations, and entries without a platform. */
static int index_entry_platform(yajl_val entry, size_t i, struct img_platform *ret, bool *ret_usable,
                                crisp_error_t **err)
{
    char what[64];
    snprintf(what, sizeof(what), "index: manifests[%zu]", i);
    *ret_usable = false;
    if (!YAJL_IS_OBJECT(entry))
        return crisp_error_make(err, EINVAL, "%s: expected an object", what);
    const char *media_type = NULL;
    if (json_string(entry, "mediaType", what, &media_type, err) < 0)
        return -1;
    yajl_val platform = json_member(entry, "platform");
    if (!media_type || !is_manifest_type(media_type) || !platform)
        return 0;
    if (!YAJL_IS_OBJECT(platform))
        return crisp_error_make(err, EINVAL, "%s: platform must be an object", what);
    if (json_string(platform, "os", what, &ret->os, err) < 0 ||
        json_string(platform, "architecture", what, &ret->architecture, err) < 0 ||
        json_string(platform, "variant", what, &ret->variant, err) < 0)
        return -1;
    if (!ret->os || !ret->architecture)
        return crisp_error_make(err, EINVAL, "%s: platform needs os and architecture", what);
    if (!ret->variant)
        ret->variant = "";
    /* BuildKit lists attestation manifests with platform unknown/unknown. */
    *ret_usable = strcmp(ret->os, "unknown") != 0;
    return 0;
}

static const char *variant_normalise(const char *architecture, const char *variant)
{
    if (!variant)
        variant = "";
    if (strcmp(architecture, "arm64") == 0 && *variant == '\0')
        return "v8";
    return variant;
}

static bool platform_matches(const struct img_platform *want, const struct img_platform *have)
{
    if (strcmp(want->os, have->os) != 0 || strcmp(want->architecture, have->architecture) != 0)
        return false;
    /* amd64 variants are microarchitecture levels the host does not report; any amd64 image runs. */
    if (strcmp(want->architecture, "amd64") == 0)
        return true;
    return strcmp(variant_normalise(want->architecture, want->variant),
                  variant_normalise(have->architecture, have->variant)) == 0;
}

static void platform_print(FILE *f, const struct img_platform *p)
{
    fprintf(f, "%.*s/%.*s%s%.*s", ECHO_MAX, p->os, ECHO_MAX, p->architecture,
            p->variant && *p->variant ? "/" : "", ECHO_MAX, p->variant ? p->variant : "");
}

/* ENOENT naming the wanted platform and those the index offers. */
static int index_not_found(yajl_val manifests, const struct img_platform *want, crisp_error_t **err)
{
    _cleanup_free_ char *msg = NULL;
    size_t size = 0, listed = 0;
    FILE *f = open_memstream(&msg, &size);
    if (!f)
        return crisp_error_oom_in(err, "index");
    fputs("no image for ", f);
    platform_print(f, want);
    fputs(" in the index; it has:", f);
    for (size_t i = 0; i < manifests->u.array.len && listed <= PLATFORMS_LISTED_MAX; i++) {
        struct img_platform have;
        bool usable = false;
        if (index_entry_platform(manifests->u.array.values[i], i, &have, &usable, NULL) < 0 || !usable)
            continue;
        fputs(listed ? ", " : " ", f);
        if (listed++ == PLATFORMS_LISTED_MAX)
            fputs("...", f);
        else
            platform_print(f, &have);
    }
    if (!listed)
        fputs(" no platform-specific manifests", f);
    if (fclose(f) != 0 || !msg)
        return crisp_error_oom_in(err, "index");
    return crisp_error_make(err, ENOENT, "%s", msg);
}

static int index_manifests(yajl_val root, yajl_val *ret, crisp_error_t **err)
{
    yajl_val manifests = json_member(root, "manifests");
    if (!manifests || !YAJL_IS_ARRAY(manifests))
        return crisp_error_make(err, EINVAL, "index: \"manifests\" must be a list");
    if (manifests->u.array.len > INDEX_MAX_ENTRIES)
        return crisp_error_make(err, EINVAL, "index: %zu manifests, more than the limit of %d",
                                manifests->u.array.len, INDEX_MAX_ENTRIES);
    *ret = manifests;
    return 0;
}

int img_index_select(const char *body, size_t len, const struct img_platform *p, struct img_descriptor *ret,
                     crisp_error_t **err)
{
    _cleanup_(json_freep) yajl_val root = NULL;
    yajl_val manifests = NULL;
    if (json_parse("index", body, len, IMG_MANIFEST_MAX_SIZE, &root, err) < 0 ||
        schema_version_check(root, "index", err) < 0 ||
        media_type_check(root, "index", is_index_type, err) < 0 || index_manifests(root, &manifests, err) < 0)
        return -1;
    /* The first match wins, as with Docker and containerd. */
    for (size_t i = 0; i < manifests->u.array.len; i++) {
        yajl_val entry = manifests->u.array.values[i];
        struct img_platform have;
        bool usable = false;
        if (index_entry_platform(entry, i, &have, &usable, err) < 0)
            return -1;
        if (!usable || !platform_matches(p, &have))
            continue;
        char what[64];
        snprintf(what, sizeof(what), "index: manifests[%zu]", i);
        return descriptor_parse(entry, what, ret, err);
    }
    return index_not_found(manifests, p, err);
}

static const struct {
    const char *media_type;
    enum img_doc_kind kind;
} doc_types[] = {
    {IMG_MT_DOCKER_MANIFEST, IMG_DOC_MANIFEST},
    {IMG_MT_OCI_MANIFEST, IMG_DOC_MANIFEST},
    {IMG_MT_DOCKER_LIST, IMG_DOC_INDEX},
    {IMG_MT_OCI_INDEX, IMG_DOC_INDEX},
};

/* Media types are case-insensitive (RFC 6838); type is not NUL-terminated. */
static bool media_type_is(const char *type, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(type, name, n) == 0;
}

static int doc_kind_from_type(const char *type, size_t n, enum img_doc_kind *ret_kind, crisp_error_t **err)
{
    for (size_t i = 0; i < ARRAY_SIZE(doc_types); i++)
        if (media_type_is(type, n, doc_types[i].media_type)) {
            *ret_kind = doc_types[i].kind;
            return 0;
        }
    bool schema1 = media_type_is(type, n, MT_DOCKER_SCHEMA1) ||
                   media_type_is(type, n, MT_DOCKER_SCHEMA1_SIGNED);
    return crisp_error_make(
        err, EINVAL, "unsupported manifest media type \"%.*s\"%s", (int)(n < ECHO_MAX ? n : ECHO_MAX), type,
        schema1 ? " (Docker schema 1 images are not supported; push it again as schema 2)" : "");
}

/* Registries that don't know the type answer with a generic one: then the body decides. */
static bool is_generic_type(const char *type, size_t n)
{
    return n == 0 || media_type_is(type, n, "application/json") ||
           media_type_is(type, n, "application/octet-stream") || media_type_is(type, n, "text/plain");
}

static int doc_kind_from_body(const char *body, size_t len, enum img_doc_kind *ret_kind, crisp_error_t **err)
{
    _cleanup_(json_freep) yajl_val root = NULL;
    const char *media_type = NULL;
    if (json_parse("manifest", body, len, IMG_MANIFEST_MAX_SIZE, &root, err) < 0 ||
        json_string(root, "mediaType", "manifest", &media_type, err) < 0)
        return -1;
    if (media_type)
        return doc_kind_from_type(media_type, strlen(media_type), ret_kind, err);
    yajl_val version = json_member(root, "schemaVersion");
    if (version && YAJL_IS_INTEGER(version) && YAJL_GET_INTEGER(version) == 1)
        return doc_kind_from_type(MT_DOCKER_SCHEMA1, strlen(MT_DOCKER_SCHEMA1), ret_kind, err);
    if (json_member(root, "manifests")) {
        *ret_kind = IMG_DOC_INDEX;
        return 0;
    }
    if (json_member(root, "layers")) {
        *ret_kind = IMG_DOC_MANIFEST;
        return 0;
    }
    return crisp_error_make(err, EINVAL, "manifest: no mediaType, and neither \"manifests\" nor \"layers\"");
}

int img_doc_kind(const char *content_type, const char *body, size_t len, enum img_doc_kind *ret_kind,
                 crisp_error_t **err)
{
    if (content_type) {
        const char *type = content_type + strspn(content_type, " \t");
        size_t n = strcspn(type, ";");
        while (n > 0 && (type[n - 1] == ' ' || type[n - 1] == '\t'))
            n--;
        if (!is_generic_type(type, n))
            return doc_kind_from_type(type, n, ret_kind, err);
    }
    return doc_kind_from_body(body, len, ret_kind, err);
}

static const struct {
    const char *media_type;
    enum img_compression compression;
} layer_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", IMG_COMPRESSION_NONE},
    {"application/vnd.oci.image.layer.v1.tar+gzip", IMG_COMPRESSION_GZIP},
    {"application/vnd.oci.image.layer.v1.tar+zstd", IMG_COMPRESSION_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_COMPRESSION_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", IMG_COMPRESSION_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", IMG_COMPRESSION_ZSTD},
    {"application/vnd.docker.image.rootfs.diff.tar", IMG_COMPRESSION_NONE},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", IMG_COMPRESSION_GZIP},
    {"application/vnd.docker.image.rootfs.diff.tar.zstd", IMG_COMPRESSION_ZSTD},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar", IMG_COMPRESSION_NONE},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_COMPRESSION_GZIP},
};

int img_layer_compression(const char *media_type, enum img_compression *ret, crisp_error_t **err)
{
    for (size_t i = 0; media_type && i < ARRAY_SIZE(layer_types); i++)
        if (strcmp(media_type, layer_types[i].media_type) == 0) {
            *ret = layer_types[i].compression;
            return 0;
        }
    return crisp_error_make(err, EINVAL, "unsupported layer media type \"%.*s\"", ECHO_MAX,
                            media_type ? media_type : "");
}

static int config_diff_ids_parse(yajl_val rootfs, struct img_config *c, crisp_error_t **err)
{
    yajl_val ids = json_member(rootfs, "diff_ids");
    /* Docker omits an empty diff_ids list (omitempty), as for an image with no layers. */
    size_t n = ids && YAJL_IS_ARRAY(ids) ? ids->u.array.len : 0;
    if (ids && !YAJL_IS_ARRAY(ids))
        return crisp_error_make(err, EINVAL, "image config: rootfs.diff_ids must be a list");
    if (n > IMG_MAX_LAYERS)
        return crisp_error_make(err, EINVAL, "image config: %zu diff_ids, more than the limit of %d", n,
                                IMG_MAX_LAYERS);
    if (!(c->diff_ids = calloc(n + 1, sizeof(char *))))
        return crisp_error_oom_in(err, "image config");
    for (size_t i = 0; i < n; i++) {
        yajl_val id = ids->u.array.values[i];
        if (!YAJL_IS_STRING(id) || !img_digest_valid(id->u.string))
            return crisp_error_make(err, EINVAL, "image config: rootfs.diff_ids[%zu] is not a sha256 digest",
                                    i);
        if (!(c->diff_ids[i] = strdup(id->u.string)))
            return crisp_error_oom_in(err, "image config");
        c->n_diff_ids = i + 1;
    }
    return 0;
}

static int config_rootfs_parse(yajl_val root, struct img_config *c, crisp_error_t **err)
{
    yajl_val rootfs = json_member(root, "rootfs");
    const char *type = NULL;
    if (!rootfs || !YAJL_IS_OBJECT(rootfs))
        return crisp_error_make(err, EINVAL, "image config: missing rootfs");
    if (json_string(rootfs, "type", "image config: rootfs", &type, err) < 0)
        return -1;
    if (!type || strcmp(type, "layers") != 0)
        return crisp_error_make(err, EINVAL, "image config: rootfs.type must be \"layers\", got \"%.*s\"",
                                ECHO_MAX, type ? type : "");
    return config_diff_ids_parse(rootfs, c, err);
}

/* config.<key>: a list of strings, or absent/null (empty list). */
static int config_strv_parse(yajl_val config, const char *key, char ***ret, crisp_error_t **err)
{
    yajl_val v = config ? json_member(config, key) : NULL;
    size_t n = v && YAJL_IS_ARRAY(v) ? v->u.array.len : 0;
    if (v && !YAJL_IS_ARRAY(v))
        return crisp_error_make(err, EINVAL, "image config: config.%s must be a list of strings", key);
    if (n > 4096)
        return crisp_error_make(err, EINVAL, "image config: config.%s has more than 4096 entries", key);
    _cleanup_strv_ char **list = calloc(n + 1, sizeof(char *));
    if (!list)
        return crisp_error_oom_in(err, "image config");
    for (size_t i = 0; i < n; i++) {
        if (!YAJL_IS_STRING(v->u.array.values[i]))
            return crisp_error_make(err, EINVAL, "image config: config.%s must be a list of strings", key);
        if (!(list[i] = strdup(v->u.array.values[i]->u.string)))
            return crisp_error_oom_in(err, "image config");
    }
    *ret = TAKE_PTR(list);
    return 0;
}

static int config_process_parse(yajl_val root, struct img_config *c, crisp_error_t **err)
{
    yajl_val config = json_member(root, "config");
    const char *wd = NULL, *sig = NULL;
    if (config_strv_parse(config, "Entrypoint", &c->entrypoint, err) < 0 ||
        config_strv_parse(config, "Cmd", &c->cmd, err) < 0 ||
        config_strv_parse(config, "Env", &c->env, err) < 0)
        return -1;
    if (config && (json_string(config, "WorkingDir", "image config: config", &wd, err) < 0 ||
                   json_string(config, "StopSignal", "image config: config", &sig, err) < 0))
        return -1;
    c->working_dir = strdup(wd ? wd : "");
    c->stop_signal = strdup(sig ? sig : "");
    return c->working_dir && c->stop_signal ? 0 : crisp_error_oom_in(err, "image config");
}

static int config_strings_parse(yajl_val root, struct img_config *c, crisp_error_t **err)
{
    const char *os = NULL, *architecture = NULL, *user = NULL;
    if (json_string(root, "os", "image config", &os, err) < 0 ||
        json_string(root, "architecture", "image config", &architecture, err) < 0)
        return -1;
    yajl_val config = json_member(root, "config");
    if (config && !YAJL_IS_OBJECT(config))
        return crisp_error_make(err, EINVAL, "image config: \"config\" must be an object");
    if (config && json_string(config, "User", "image config: config", &user, err) < 0)
        return -1;
    c->user = strdup(user ? user : "");
    c->os = strdup(os ? os : "");
    c->architecture = strdup(architecture ? architecture : "");
    if (!c->user || !c->os || !c->architecture)
        return crisp_error_oom_in(err, "image config");
    return 0;
}

static bool digits(const char **p, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *ret = v;
    return true;
}

static bool literal(const char **p, const char *choices)
{
    if (**p == '\0' || !strchr(choices, **p))
        return false;
    (*p)++;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* "YYYY-MM-DDTHH:MM:SS" into seconds since the epoch. */
static bool rfc3339_seconds(const char **p, int64_t *ret)
{
    int y, mo, d, h, mi, s;
    if (!digits(p, 4, &y) || !literal(p, "-") || !digits(p, 2, &mo) || !literal(p, "-") ||
        !digits(p, 2, &d) || !literal(p, "Tt ") || !digits(p, 2, &h) || !literal(p, ":") ||
        !digits(p, 2, &mi) || !literal(p, ":") || !digits(p, 2, &s))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60)
        return false;
    *ret = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

/* ".123456789" into nanoseconds; digits past the ninth are dropped. */
static bool rfc3339_fraction(const char **p, int64_t *ret)
{
    *ret = 0;
    if (!literal(p, "."))
        return true;
    int n = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++, n++)
        if (n < 9)
            *ret = *ret * 10 + (**p - '0');
    for (int i = n; i < 9; i++)
        *ret *= 10;
    return n > 0;
}

/* "Z" or "+hh:mm"/"-hh:mm" into seconds east of UTC. */
static bool rfc3339_offset(const char **p, int64_t *ret)
{
    *ret = 0;
    if (literal(p, "Zz"))
        return true;
    int sign = **p == '-' ? -1 : 1, h, m;
    if (!literal(p, "+-") || !digits(p, 2, &h) || !literal(p, ":") || !digits(p, 2, &m) || h > 23 || m > 59)
        return false;
    *ret = sign * (h * 3600 + m * 60);
    return true;
}

/* RFC 3339 time to ns since the epoch; 0 when malformed or outside int64 nanoseconds (1678-2262). */
static int64_t rfc3339_parse(const char *s)
{
    int64_t secs, ns, offset;
    if (!rfc3339_seconds(&s, &secs) || !rfc3339_fraction(&s, &ns) || !rfc3339_offset(&s, &offset) || *s)
        return 0;
    secs -= offset;
    if (secs <= INT64_MIN / 1000000000 || secs >= INT64_MAX / 1000000000)
        return 0;
    return secs * 1000000000 + ns;
}

int img_config_parse(const char *body, size_t len, struct img_config **ret, crisp_error_t **err)
{
    _cleanup_(json_freep) yajl_val root = NULL;
    if (json_parse("image config", body, len, IMG_CONFIG_MAX_SIZE, &root, err) < 0)
        return -1;
    _cleanup_(config_freep) struct img_config *c = calloc(1, sizeof(*c));
    if (!c)
        return crisp_error_oom_in(err, "image config");
    if (config_rootfs_parse(root, c, err) < 0 || config_strings_parse(root, c, err) < 0 ||
        config_process_parse(root, c, err) < 0)
        return -1;
    /* A bad timestamp only loses the CreatedAt the CRI reports; it is no reason to refuse the image. */
    yajl_val created = json_member(root, "created");
    c->created = created && YAJL_IS_STRING(created) ? rfc3339_parse(created->u.string) : 0;
    *ret = TAKE_PTR(c);
    return 0;
}

void img_config_free(struct img_config *c)
{
    if (!c)
        return;
    strv_free(c->diff_ids);
    free(c->user);
    free(c->os);
    free(c->architecture);
    strv_free(c->entrypoint);
    strv_free(c->cmd);
    strv_free(c->env);
    free(c->working_dir);
    free(c->stop_signal);
    free(c);
}
