#define _GNU_SOURCE
#include "reference.h"

#include "common/cleanup.h"
#include "images/digest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define DEFAULT_API_HOST "registry-1.docker.io"
#define OFFICIAL_REPO_PREFIX "library/"
#define DEFAULT_TAG "latest"
#define NAME_MAX_LEN 255 /* distribution/reference NameTotalLengthMax */
#define TAG_MAX_LEN 128

/* EINVAL quoting the whole reference and saying what is wrong with it. */
static int ref_invalid(crisp_error_t **err, const char *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int ref_invalid(crisp_error_t **err, const char *s, const char *fmt, ...)
{
    _cleanup_free_ char *why = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&why, fmt, ap);
    va_end(ap);
    if (n < 0) {
        why = NULL; /* undefined after a failure */
        return crisp_error_oom(err);
    }
    return crisp_error_make(err, EINVAL, "invalid image reference \"%s\": %s", s, why);
}

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
    return is_alnum(c) || c == '_';
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A separator between alphanumeric runs: ".", "_", "__" or one or more "-". */
static bool separator_valid(const char *sep, size_t len)
{
    if (len == 1)
        return true;
    if (len == 2 && sep[0] == '_' && sep[1] == '_')
        return true;
    for (size_t i = 0; i < len; i++)
        if (sep[i] != '-')
            return false;
    return true;
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)* */
static bool path_component_valid(const char *c, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        while (i < len && is_lower_alnum(c[i]))
            i++;
        if (i == run)
            return false;
        if (i == len)
            return true;
        size_t sep = i;
        while (i < len && strchr("._-", c[i]))
            i++;
        if (i == len || !separator_valid(c + sep, i - sep))
            return false;
    }
    return false;
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool domain_component_valid(const char *c, size_t len)
{
    if (len == 0 || !is_alnum(c[0]) || !is_alnum(c[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(c[i]) && c[i] != '-')
            return false;
    return true;
}

static bool port_valid(const char *p)
{
    if (!*p)
        return false;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* host[:port], where host is dotted domain components or a bracketed IPv6 address. */
static bool domain_valid(const char *d)
{
    const char *port = NULL;
    if (d[0] == '[') {
        size_t n = strspn(d + 1, "0123456789abcdefABCDEF:");
        if (n == 0 || d[1 + n] != ']')
            return false;
        port = d + 2 + n;
    } else {
        const char *p = d;
        for (;;) {
            size_t n = strcspn(p, ".:");
            if (!domain_component_valid(p, n))
                return false;
            p += n;
            if (*p != '.')
                break;
            p++;
        }
        port = p;
    }
    if (*port == '\0')
        return true;
    return *port == ':' && port_valid(port + 1);
}

static int path_validate(const char *s, const char *path, crisp_error_t **err)
{
    for (const char *p = path; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            return ref_invalid(err, s, "repository name must be lowercase");
    for (const char *p = path;;) {
        size_t n = strcspn(p, "/");
        if (n == 0)
            return ref_invalid(err, s, "empty path component");
        if (!path_component_valid(p, n))
            return ref_invalid(err, s, "invalid path component \"%.*s\"", (int)n, p);
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}

static int tag_validate(const char *s, const char *tag, crisp_error_t **err)
{
    size_t n = strlen(tag);
    if (n == 0)
        return ref_invalid(err, s, "empty tag after ':'");
    bool ok = n <= TAG_MAX_LEN && is_word(tag[0]);
    for (size_t i = 1; ok && i < n; i++)
        ok = is_word(tag[i]) || tag[i] == '.' || tag[i] == '-';
    if (!ok)
        return ref_invalid(err, s,
                           "invalid tag \"%s\" (up to %d of [A-Za-z0-9_.-], not starting with '.' or '-')",
                           tag, TAG_MAX_LEN);
    return 0;
}

static int digest_validate(const char *s, const char *digest, crisp_error_t **err)
{
    if (img_digest_valid(digest))
        return 0;
    const char *colon = strchr(digest, ':');
    if (colon && colon != digest && strncmp(digest, "sha256:", 7) != 0)
        return ref_invalid(err, s, "unsupported digest algorithm \"%.*s\" (only sha256)",
                           (int)(colon - digest), digest);
    return ref_invalid(err, s, "invalid digest \"%s\" (expected sha256: and 64 lower-case hex digits)",
                       digest);
}

/* Docker refuses a bare 64-hex name: it would be mistaken for an image ID. */
static bool is_image_id(const char *name)
{
    size_t n = strlen(name);
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_hex(name[i]))
            return false;
    return true;
}

/* The first component is a registry only when it looks like a host; otherwise it is docker.io's. */
static bool is_domain_component(const char *first, size_t len)
{
    return memchr(first, '.', len) || memchr(first, ':', len) ||
           (len == strlen("localhost") && strncmp(first, "localhost", len) == 0);
}

static int ref_split_name(const char *s, const char *name, struct img_ref *ref, crisp_error_t **err)
{
    const char *slash = strchr(name, '/');
    const char *remainder = name;
    if (slash && is_domain_component(name, (size_t)(slash - name))) {
        ref->domain = strndup(name, (size_t)(slash - name));
        remainder = slash + 1;
    } else {
        ref->domain = strdup(DEFAULT_DOMAIN);
    }
    if (!ref->domain)
        return crisp_error_oom(err);
    if (!domain_valid(ref->domain))
        return ref_invalid(err, s, "invalid registry host \"%s\"", ref->domain);
    if (strcmp(ref->domain, LEGACY_DEFAULT_DOMAIN) == 0) {
        free(ref->domain);
        if (!(ref->domain = strdup(DEFAULT_DOMAIN)))
            return crisp_error_oom(err);
    }
    bool official = strcmp(ref->domain, DEFAULT_DOMAIN) == 0 && *remainder && !strchr(remainder, '/');
    if (asprintf(&ref->path, "%s%s", official ? OFFICIAL_REPO_PREFIX : "", remainder) < 0) {
        ref->path = NULL;
        return crisp_error_oom(err);
    }
    return path_validate(s, remainder, err);
}

/* Cuts "@digest" and then ":tag" off name (a writable copy of s), keeping them in ref. */
static int ref_split_suffixes(const char *s, char *name, struct img_ref *ref, crisp_error_t **err)
{
    char *at = strchr(name, '@');
    if (at) {
        *at = '\0';
        if (digest_validate(s, at + 1, err) < 0)
            return -1;
        if (!(ref->digest = strdup(at + 1)))
            return crisp_error_oom(err);
    }
    char *colon = strrchr(name, ':');
    char *slash = strrchr(name, '/');
    if (colon && (!slash || colon > slash)) {
        *colon = '\0';
        if (tag_validate(s, colon + 1, err) < 0)
            return -1;
        if (!(ref->tag = strdup(colon + 1)))
            return crisp_error_oom(err);
    }
    return 0;
}

int img_ref_parse(const char *s, struct img_ref **ret_ref, crisp_error_t **err)
{
    if (!s || !*s)
        return crisp_error_make(err, EINVAL, "invalid image reference: empty");
    if (strnlen(s, IMG_REF_MAX + 1) > IMG_REF_MAX)
        return crisp_error_make(err, EINVAL, "invalid image reference: longer than %d bytes", IMG_REF_MAX);
    if (is_image_id(s))
        return ref_invalid(err, s, "a 64-character hex string cannot be a repository name");
    _cleanup_(img_ref_freep) struct img_ref *ref = calloc(1, sizeof(*ref));
    _cleanup_free_ char *name = strdup(s);
    if (!ref || !name)
        return crisp_error_oom(err);
    if (ref_split_suffixes(s, name, ref, err) < 0)
        return -1;
    if (!*name)
        return ref_invalid(err, s, "missing repository name");
    if (ref_split_name(s, name, ref, err) < 0)
        return -1;
    if (strlen(ref->domain) + 1 + strlen(ref->path) > NAME_MAX_LEN)
        return ref_invalid(err, s, "repository name longer than %d characters", NAME_MAX_LEN);
    if (!ref->tag && !ref->digest && !(ref->tag = strdup(DEFAULT_TAG)))
        return crisp_error_oom(err);
    *ret_ref = TAKE_PTR(ref);
    return 0;
}

void img_ref_free(struct img_ref *ref)
{
    if (!ref)
        return;
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    free(ref);
}

void img_ref_freep(struct img_ref **ref)
{
    img_ref_free(*ref);
    *ref = NULL;
}

char *img_ref_name(const struct img_ref *ref)
{
    char *s = NULL;
    return asprintf(&s, "%s/%s", ref->domain, ref->path) < 0 ? NULL : s;
}

char *img_ref_tagged(const struct img_ref *ref)
{
    char *s = NULL;
    if (!ref->tag)
        return NULL;
    return asprintf(&s, "%s/%s:%s", ref->domain, ref->path, ref->tag) < 0 ? NULL : s;
}

char *img_ref_digested(const struct img_ref *ref, const char *digest)
{
    char *s = NULL;
    if (!digest)
        digest = ref->digest;
    if (!digest)
        return NULL;
    return asprintf(&s, "%s/%s@%s", ref->domain, ref->path, digest) < 0 ? NULL : s;
}

const char *img_ref_api_host(const struct img_ref *ref)
{
    return strcmp(ref->domain, DEFAULT_DOMAIN) == 0 ? DEFAULT_API_HOST : ref->domain;
}
