#define _GNU_SOURCE
#include "images/registry_auth.h"

#include "common/cleanup.h"
#include "common/file.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_tree.h>

#define CHALLENGE_MAX_PARAMS 32
#define TOKEN_MAX (16 * 1024)
#define TOKEN_MIN_EXPIRES_S 60
#define TOKEN_CACHE_MAX 128
#define WORDS_MAX 512
#define WORDS_MAX_ERRORS 4

static void yajl_tree_freep(yajl_val *v)
{
    yajl_tree_free(*v);
}

static void error_move(crisp_error_t **err, crisp_error_t **from)
{
    if (err && !*err)
        *err = TAKE_PTR(*from);
}

static bool nonempty(const char *s)
{
    return s && *s;
}

/* A value that goes into an HTTP header must not be able to end it or start another. */
static bool header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || *s == 0x7f)
            return false;
    return true;
}

static bool is_tchar(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static size_t token_len(const char *p)
{
    size_t n = 0;
    while (is_tchar(p[n]))
        n++;
    return n;
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static const char *skip_separators(const char *p)
{
    for (p = skip_ows(p); *p == ','; p = skip_ows(p + 1))
        ;
    return p;
}

/* A token68 credential ("Negotiate abc==") is not an auth-param; skip it whole. */
static const char *skip_token68(const char *p)
{
    const char *q = p;
    while (isalnum((unsigned char)*q) || (*q && strchr("-._~+/", *q)))
        q++;
    if (q == p)
        return p;
    while (*q == '=')
        q++;
    const char *end = skip_ows(q);
    return (*end == ',' || *end == '\0') && (q > p && q[-1] == '=') ? end : p;
}

static int challenge_malformed(crisp_error_t **err, const char *why)
{
    return crisp_error_make(err, EINVAL, "malformed WWW-Authenticate challenge: %s", why);
}

/* *pp is at the opening quote; leaves it after the closing one. */
static int read_quoted(const char **pp, char **ret, crisp_error_t **err)
{
    const char *p = *pp + 1;
    _cleanup_free_ char *out = malloc(strlen(p) + 1);
    if (!out)
        return crisp_error_oom(err);
    size_t n = 0;
    for (; *p != '"'; p++) {
        if (*p == '\\' && p[1])
            p++;
        if (*p == '\0')
            return challenge_malformed(err, "unterminated quoted string");
        out[n++] = *p;
    }
    out[n] = '\0';
    *pp = p + 1;
    *ret = TAKE_PTR(out);
    return 0;
}

/* Reads "name=value" (token or quoted-string value). Returns 1, consuming nothing, when *pp starts
 * the next challenge instead. */
static int read_param(const char **pp, char **ret_name, char **ret_value, crisp_error_t **err)
{
    const char *p = *pp;
    size_t n = token_len(p);
    if (n == 0)
        return challenge_malformed(err, "expected a parameter name");
    const char *q = skip_ows(p + n);
    if (*q != '=')
        return 1;
    q = skip_ows(q + 1);
    _cleanup_free_ char *name = strndup(p, n);
    _cleanup_free_ char *value = NULL;
    if (*q == '"') {
        if (read_quoted(&q, &value, err) < 0)
            return -1;
    } else {
        size_t m = token_len(q);
        value = strndup(q, m);
        q += m;
    }
    if (!name || !value)
        return crisp_error_oom(err);
    q = skip_ows(q);
    if (*q != ',' && *q != '\0')
        return challenge_malformed(err, "expected a comma after a parameter");
    *pp = q;
    *ret_name = TAKE_PTR(name);
    *ret_value = TAKE_PTR(value);
    return 0;
}

static void challenge_set(struct img_challenge *c, const char *name, char **value)
{
    char **slot = strcasecmp(name, "realm") == 0     ? &c->realm
                  : strcasecmp(name, "service") == 0 ? &c->service
                  : strcasecmp(name, "scope") == 0   ? &c->scope
                                                     : NULL;
    if (slot && !*slot)
        *slot = TAKE_PTR(*value);
}

static int challenge_read_params(const char **pp, struct img_challenge *c, int *n_params, crisp_error_t **err)
{
    const char *p = skip_token68(skip_ows(*pp));
    for (;;) {
        p = skip_separators(p);
        if (*p == '\0')
            break;
        _cleanup_free_ char *name = NULL, *value = NULL;
        int r = read_param(&p, &name, &value, err);
        if (r < 0)
            return -1;
        if (r > 0)
            break;
        if (++*n_params > CHALLENGE_MAX_PARAMS)
            return challenge_malformed(err, "too many parameters");
        challenge_set(c, name, &value);
    }
    *pp = p;
    return 0;
}

static enum img_challenge_scheme scheme_of(const char *p, size_t n)
{
    if (n == 6 && strncasecmp(p, "Bearer", n) == 0)
        return IMG_CHALLENGE_BEARER;
    if (n == 5 && strncasecmp(p, "Basic", n) == 0)
        return IMG_CHALLENGE_BASIC;
    return IMG_CHALLENGE_NONE;
}

static void challenge_keep_better(struct img_challenge *best, struct img_challenge *cur)
{
    if (cur->scheme > best->scheme) {
        img_challenge_fini(best);
        *best = *cur;
        *cur = (struct img_challenge){0};
    }
}

int img_challenge_parse(const char *value, struct img_challenge *ret, crisp_error_t **err)
{
    *ret = (struct img_challenge){0};
    if (strlen(value) > IMG_CHALLENGE_MAX)
        return challenge_malformed(err, "too long");
    _cleanup_(img_challenge_fini) struct img_challenge best = {0};
    int n_params = 0;
    for (const char *p = skip_separators(value); *p; p = skip_separators(p)) {
        size_t n = token_len(p);
        if (n == 0)
            return challenge_malformed(err, "expected an authentication scheme");
        _cleanup_(img_challenge_fini) struct img_challenge cur = {.scheme = scheme_of(p, n)};
        p += n;
        if (challenge_read_params(&p, &cur, &n_params, err) < 0)
            return -1;
        challenge_keep_better(&best, &cur);
    }
    if (best.scheme == IMG_CHALLENGE_NONE)
        return crisp_error_make(err, EINVAL,
                                "WWW-Authenticate offers neither Bearer nor Basic authentication");
    if (best.scheme == IMG_CHALLENGE_BEARER && !nonempty(best.realm))
        return challenge_malformed(err, "Bearer challenge without a realm");
    *ret = best;
    best = (struct img_challenge){0};
    return 0;
}

void img_challenge_fini(struct img_challenge *c)
{
    free(c->realm);
    free(c->service);
    free(c->scope);
    *c = (struct img_challenge){0};
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int img_base64_decode(const char *in, char **ret, size_t *ret_len, crisp_error_t **err)
{
    size_t total = strlen(in), n = total;
    while (n > 0 && in[n - 1] == '=')
        n--;
    if (total - n > 2 || n % 4 == 1 || (total != n && total % 4 != 0))
        return crisp_error_make(err, EINVAL, "invalid base64 length");
    _cleanup_free_ char *out = malloc(n / 4 * 3 + 3);
    if (!out)
        return crisp_error_oom(err);
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(in[i]);
        if (v < 0)
            return crisp_error_make(err, EINVAL, "invalid base64 character");
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[len] = '\0';
    *ret = TAKE_PTR(out);
    if (ret_len)
        *ret_len = len;
    return 0;
}

char *img_base64_encode(const void *data, size_t len)
{
    if (len > (size_t)INT_MAX / 4 * 3) /* EVP_EncodeBlock counts in int */
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, data, (int)len); /* padded, NUL-terminated */
    return out;
}

/* libcurl leaves RFC 3986's unreserved characters alone and writes %XX for every other byte; the copy
 * is released with free() like every other string here. */
char *img_url_escape(const char *s)
{
    char *escaped = curl_easy_escape(NULL, s, 0);
    char *out = escaped ? strdup(escaped) : NULL;
    curl_free(escaped);
    return out;
}

/* Names the credentials without keeping them in the key: a hash over all their fields. */
static void credentials_identify(struct img_credentials *c)
{
    if (img_credentials_empty(c)) {
        c->identity[0] = '\0';
        return;
    }
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    const char *fields[] = {c->username, c->password, c->identity_token, c->registry_token};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        fprintf(f, "%s%c", fields[i] ? fields[i] : "", '\0');
    fclose(f);
    img_digest_buffer(buf, len, c->identity);
}

static int set_copy(char **slot, const char *value, crisp_error_t **err)
{
    if (!nonempty(value))
        return 0;
    free(*slot);
    if (!(*slot = strdup(value)))
        return crisp_error_oom(err);
    return 0;
}

/* "auth" is base64 of "user:password"; neither half goes into a message. */
static int credentials_set_auth(struct img_credentials *c, const char *auth, crisp_error_t **err)
{
    _cleanup_free_ char *plain = NULL;
    if (img_base64_decode(auth, &plain, NULL, err) < 0)
        return crisp_error_wrap(err, "auth");
    char *colon = strchr(plain, ':');
    if (!colon)
        return crisp_error_make(err, EINVAL, "auth does not hold \"user:password\"");
    *colon = '\0';
    if (set_copy(&c->username, plain, err) < 0 || set_copy(&c->password, colon + 1, err) < 0)
        return -1;
    if (!c->password && !(c->password = strdup("")))
        return crisp_error_oom(err);
    return 0;
}

static int credentials_check(struct img_credentials *c, crisp_error_t **err)
{
    if ((c->identity_token && !header_safe(c->identity_token)) ||
        (c->registry_token && !header_safe(c->registry_token)))
        return crisp_error_make(err, EINVAL, "token contains characters not allowed in an HTTP header");
    credentials_identify(c);
    return 0;
}

int img_credentials_from_auth(const struct img_auth *auth, struct img_credentials *ret, crisp_error_t **err)
{
    _cleanup_(img_credentials_fini) struct img_credentials c = {0};
    *ret = (struct img_credentials){0};
    if (!auth)
        return 0;
    if (nonempty(auth->username)) {
        if (set_copy(&c.username, auth->username, err) < 0 ||
            !(c.password = strdup(auth->password ? auth->password : "")))
            return crisp_error_oom(err);
    } else if (nonempty(auth->auth) && credentials_set_auth(&c, auth->auth, err) < 0) {
        return -1;
    }
    if (set_copy(&c.identity_token, auth->identity_token, err) < 0 ||
        set_copy(&c.registry_token, auth->registry_token, err) < 0 || credentials_check(&c, err) < 0)
        return -1;
    *ret = c;
    c = (struct img_credentials){0};
    return 0;
}

/* "https://index.docker.io/v1/" -> "index.docker.io": docker writes keys in several shapes. */
static bool auth_key_matches(const char *key, const char *host)
{
    if (strncmp(key, "https://", 8) == 0)
        key += 8;
    else if (strncmp(key, "http://", 7) == 0)
        key += 7;
    size_t n = strcspn(key, "/");
    return strlen(host) == n && strncasecmp(key, host, n) == 0;
}

static yajl_val auths_find(yajl_val auths, const char *host)
{
    static const char *const docker_names[] = {"docker.io", "index.docker.io", "registry-1.docker.io", NULL};
    const char *const self[] = {host, NULL};
    const char *const *names = self;
    for (size_t i = 0; docker_names[i]; i++)
        if (strcasecmp(host, docker_names[i]) == 0)
            names = docker_names;
    for (size_t n = 0; names[n]; n++)
        for (size_t i = 0; i < auths->u.object.len; i++)
            if (auth_key_matches(auths->u.object.keys[i], names[n]) &&
                YAJL_IS_OBJECT(auths->u.object.values[i]))
                return auths->u.object.values[i];
    return NULL;
}

static const char *entry_string(yajl_val entry, const char *name)
{
    const char *path[] = {name, NULL};
    yajl_val v = yajl_tree_get(entry, path, yajl_t_string);
    return v ? YAJL_GET_STRING(v) : NULL;
}

static int credentials_from_entry(yajl_val entry, struct img_credentials *ret, crisp_error_t **err)
{
    _cleanup_(img_credentials_fini) struct img_credentials c = {0};
    const char *auth = entry_string(entry, "auth");
    if (nonempty(auth)) {
        if (credentials_set_auth(&c, auth, err) < 0)
            return -1;
    } else if (set_copy(&c.username, entry_string(entry, "username"), err) < 0 ||
               set_copy(&c.password, entry_string(entry, "password"), err) < 0) {
        return -1;
    }
    if (set_copy(&c.identity_token, entry_string(entry, "identitytoken"), err) < 0 ||
        set_copy(&c.registry_token, entry_string(entry, "registrytoken"), err) < 0 ||
        credentials_check(&c, err) < 0)
        return -1;
    *ret = c;
    c = (struct img_credentials){0};
    return 0;
}

int img_credentials_from_file(const char *path, const char *host, struct img_credentials *ret,
                              crisp_error_t **err)
{
    *ret = (struct img_credentials){0};
    if (!nonempty(path))
        return 0;
    _cleanup_free_ char *data = NULL;
    _cleanup_error_ crisp_error_t *read_err = NULL;
    if (file_read_bounded(path, IMG_AUTH_FILE_MAX, &data, NULL, &read_err) < 0) {
        if (read_err->status == ENOENT)
            return 0;
        error_move(err, &read_err);
        return -1;
    }
    /* yajl's messages quote the text around an error, which may be a secret: say only where. */
    _cleanup_(yajl_tree_freep) yajl_val root = yajl_tree_parse(data, NULL, 0);
    if (!root)
        return crisp_error_make(err, EINVAL, "auth file %s is not valid JSON", path);
    const char *auths_path[] = {"auths", NULL};
    yajl_val auths = yajl_tree_get(root, auths_path, yajl_t_object);
    yajl_val entry = auths ? auths_find(auths, host) : NULL;
    if (entry && credentials_from_entry(entry, ret, err) < 0)
        return crisp_error_wrap(err, "auth file %s, entry for %s", path, host);
    return 0;
}

bool img_credentials_empty(const struct img_credentials *c)
{
    return !c->username && !c->password && !c->identity_token && !c->registry_token;
}

void img_credentials_fini(struct img_credentials *c)
{
    char **fields[] = {&c->username, &c->password, &c->identity_token, &c->registry_token};
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
        if (*fields[i]) {
            explicit_bzero(*fields[i], strlen(*fields[i]));
            free(*fields[i]);
        }
    *c = (struct img_credentials){0};
}

int img_token_response_parse(const char *body, char **ret_token, long *ret_expires_in, crisp_error_t **err)
{
    _cleanup_(yajl_tree_freep) yajl_val root = yajl_tree_parse(body, NULL, 0);
    if (!root || !YAJL_IS_OBJECT(root))
        return crisp_error_make(err, EINVAL, "token response is not a JSON object");
    const char *token = entry_string(root, "token");
    if (!nonempty(token))
        token = entry_string(root, "access_token");
    if (!nonempty(token))
        return crisp_error_make(err, EINVAL, "token response has no token");
    if (strlen(token) > TOKEN_MAX || !header_safe(token))
        return crisp_error_make(err, EINVAL, "token response holds an unusable token");
    const char *expires_path[] = {"expires_in", NULL};
    yajl_val expires = yajl_tree_get(root, expires_path, yajl_t_number);
    long long expires_in = expires && YAJL_IS_INTEGER(expires) ? YAJL_GET_INTEGER(expires) : 0;
    if (!(*ret_token = strdup(token)))
        return crisp_error_oom(err);
    *ret_expires_in = expires_in < TOKEN_MIN_EXPIRES_S ? TOKEN_MIN_EXPIRES_S
                      : expires_in > 86400             ? 86400
                                                       : (long)expires_in;
    return 0;
}

static void words_add(char *buf, const char *sep, const char *a, const char *b)
{
    size_t n = strlen(buf);
    if (!nonempty(a) && !nonempty(b))
        return;
    snprintf(buf + n, WORDS_MAX - n, "%s%s%s%s", n ? sep : "", a ? a : "",
             nonempty(a) && nonempty(b) ? ": " : "", b ? b : "");
}

static void words_from_errors(yajl_val errors, char *buf)
{
    for (size_t i = 0; i < errors->u.array.len && i < WORDS_MAX_ERRORS; i++) {
        yajl_val e = errors->u.array.values[i];
        if (!YAJL_IS_OBJECT(e))
            continue;
        const char *message = entry_string(e, "message");
        if (!nonempty(message))
            message = entry_string(e, "detail");
        words_add(buf, "; ", entry_string(e, "code"), message);
    }
}

char *img_registry_error_words(const char *body)
{
    if (!nonempty(body))
        return NULL;
    _cleanup_(yajl_tree_freep) yajl_val root = yajl_tree_parse(body, NULL, 0);
    if (!root || !YAJL_IS_OBJECT(root))
        return NULL;
    char buf[WORDS_MAX] = "";
    const char *errors_path[] = {"errors", NULL};
    yajl_val errors = yajl_tree_get(root, errors_path, yajl_t_array);
    if (errors)
        words_from_errors(errors, buf);
    if (!buf[0])
        words_add(buf, "", entry_string(root, "error"), entry_string(root, "error_description"));
    if (!buf[0])
        words_add(buf, "", NULL, entry_string(root, "details"));
    if (!buf[0])
        words_add(buf, "", NULL, entry_string(root, "message"));
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return buf[0] ? strdup(buf) : NULL;
}

struct token_entry {
    char *key;
    char *value;
    int64_t deadline_ms;
};

struct img_token_cache {
    pthread_mutex_t lock;
    struct token_entry entries[TOKEN_CACHE_MAX];
    size_t n;
};

struct img_token_cache *img_token_cache_new(void)
{
    struct img_token_cache *c = calloc(1, sizeof(*c));
    if (c)
        pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void token_entry_fini(struct token_entry *e)
{
    free(e->key);
    if (e->value) {
        explicit_bzero(e->value, strlen(e->value));
        free(e->value);
    }
    *e = (struct token_entry){0};
}

void img_token_cache_free(struct img_token_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        token_entry_fini(&c->entries[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static struct token_entry *token_cache_find(struct img_token_cache *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->entries[i].key, key) == 0)
            return &c->entries[i];
    return NULL;
}

char *img_token_cache_get(struct img_token_cache *c, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&c->lock);
    struct token_entry *e = token_cache_find(c, key);
    char *value = e && e->deadline_ms > now_ms ? strdup(e->value) : NULL;
    pthread_mutex_unlock(&c->lock);
    return value;
}

/* The entry to overwrite: the same key, a free slot, or the one expiring first. */
static struct token_entry *token_cache_slot(struct img_token_cache *c, const char *key)
{
    struct token_entry *e = token_cache_find(c, key);
    if (e)
        return e;
    if (c->n < TOKEN_CACHE_MAX)
        return &c->entries[c->n++];
    e = &c->entries[0];
    for (size_t i = 1; i < c->n; i++)
        if (c->entries[i].deadline_ms < e->deadline_ms)
            e = &c->entries[i];
    return e;
}

int img_token_cache_put(struct img_token_cache *c, const char *key, const char *value, long expires_in,
                        int64_t now_ms, crisp_error_t **err)
{
    long margin = expires_in >= 120 ? 30 : expires_in / 4;
    struct token_entry fresh = {.key = strdup(key),
                                .value = strdup(value),
                                .deadline_ms = now_ms + (int64_t)(expires_in - margin) * 1000};
    if (!fresh.key || !fresh.value) {
        token_entry_fini(&fresh);
        return crisp_error_oom(err);
    }
    pthread_mutex_lock(&c->lock);
    struct token_entry *e = token_cache_slot(c, key);
    token_entry_fini(e);
    *e = fresh;
    pthread_mutex_unlock(&c->lock);
    return 0;
}
