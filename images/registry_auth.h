/* The registry client's authentication, kept apart from its HTTP so it can be tested without a
 * network: WWW-Authenticate challenges, credentials from the request or a docker config.json, token
 * responses and the token cache; plus registry.c's pure helpers. Internal to images/registry*.c and
 * their unit test. */
#ifndef CRISP_IMAGES_REGISTRY_AUTH_H
#define CRISP_IMAGES_REGISTRY_AUTH_H

#include "common/error.h"
#include "images/digest.h"
#include "images/registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define IMG_CHALLENGE_MAX 8192      /* longest WWW-Authenticate value we parse */
#define IMG_AUTH_FILE_MAX (1 << 20) /* docker config.json */

enum img_challenge_scheme { IMG_CHALLENGE_NONE, IMG_CHALLENGE_BASIC, IMG_CHALLENGE_BEARER };

struct img_challenge {
    enum img_challenge_scheme scheme;
    char *realm;
    char *service; /* Bearer only; NULL when absent */
    char *scope;
};

/* Parses a WWW-Authenticate value (RFC 7235: several challenges, quoted strings) and keeps the
 * first Bearer challenge, else the first Basic one; other schemes are skipped. EINVAL when the value
 * is malformed or offers neither. */
int img_challenge_parse(const char *value, struct img_challenge *ret, crisp_error_t **err);
void img_challenge_fini(struct img_challenge *c);

/* Standard base64 with optional padding; the result is NUL-terminated. EINVAL on bad input. */
int img_base64_decode(const char *in, char **ret, size_t *ret_len, crisp_error_t **err);
char *img_base64_encode(const void *data, size_t len);

/* RFC 3986 percent-encoding of everything but unreserved characters. */
char *img_url_escape(const char *s);

struct img_credentials {
    char *username;
    char *password;
    char *identity_token;
    char *registry_token;
    char identity[IMG_DIGEST_MAX]; /* hash naming these credentials in the token cache; "" if none */
};

/* Credentials from a request's AuthConfig: username/password, else "auth" decoded, plus the tokens.
 * Tokens with characters that can't go in a header are EINVAL. */
int img_credentials_from_auth(const struct img_auth *auth, struct img_credentials *ret, crisp_error_t **err);

/* Credentials for host from a docker config.json's "auths" (keys may carry a scheme and path; docker.io
 * is also found under its index names). A missing file or entry leaves ret empty. */
int img_credentials_from_file(const char *path, const char *host, struct img_credentials *ret,
                              crisp_error_t **err);

bool img_credentials_empty(const struct img_credentials *c);
void img_credentials_fini(struct img_credentials *c);

/* A token endpoint's JSON answer: "token" or "access_token", and "expires_in" (seconds; 60 when
 * absent or smaller, as the distribution spec says). */
int img_token_response_parse(const char *body, char **ret_token, long *ret_expires_in, crisp_error_t **err);

/* The words of a registry's or token server's JSON error body (errors[].code/message/detail,
 * "details", OAuth "error"/"error_description"), bounded and stripped of control characters; NULL
 * when the body says nothing usable. */
char *img_registry_error_words(const char *body);

/* Authorization header values keyed by (endpoint, scope, credential identity), valid until a
 * monotonic deadline in ms. Thread-safe and bounded. */
struct img_token_cache;

struct img_token_cache *img_token_cache_new(void);
void img_token_cache_free(struct img_token_cache *c);
/* A copy of the cached value, or NULL when absent or expired. */
char *img_token_cache_get(struct img_token_cache *c, const char *key, int64_t now_ms);
/* Stores value for expires_in seconds less a safety margin, so it is not used as it expires. */
int img_token_cache_put(struct img_token_cache *c, const char *key, const char *value, long expires_in,
                        int64_t now_ms, crisp_error_t **err);

/* From registry.c. Base URLs to try for ref, in order: its mirrors, then "https://<api host>", or
 * "http://" when the domain is configured insecure or is a loopback address. NULL-terminated. */
int img_registry_endpoints(const struct crisp_config *cfg, const struct img_ref *ref, char ***ret_bases,
                           crisp_error_t **err);
/* "<base>/v2/<path>/<kind>/<reference>" */
char *img_registry_url(const char *base, const struct img_ref *ref, const char *kind, const char *reference);
/* Seconds a Retry-After value asks for (delta-seconds or an HTTP date), or -1 when unparsable. */
long img_registry_retry_after(const char *value, time_t now);

#endif
