#define _GNU_SOURCE
#include "streaming/tokens.h"

#include "streaming/io.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define TOKEN_BYTES 24 /* 192 bits; 32 characters of URL-safe base64 */

struct token {
    char *token;
    struct srv_streaming_request *req;
    int64_t expires;
};

struct srv_tokens {
    pthread_mutex_t lock;
    struct token *v;
    size_t n;
    int64_t ttl_ms;
};

int srv_tokens_new(int64_t ttl_ms, struct srv_tokens **ret, crisp_error_t **err)
{
    struct srv_tokens *t = calloc(1, sizeof(*t));
    if (!t || !(t->v = calloc(SRV_TOKENS_MAX, sizeof(*t->v)))) {
        free(t);
        return crisp_error_oom(err);
    }
    pthread_mutex_init(&t->lock, NULL);
    t->ttl_ms = ttl_ms;
    *ret = t;
    return 0;
}

static void drop(struct srv_tokens *t, size_t i)
{
    free(t->v[i].token);
    srv_streaming_request_free(t->v[i].req);
    t->v[i] = t->v[--t->n];
}

void srv_tokens_free(struct srv_tokens *t)
{
    if (!t)
        return;
    while (t->n > 0)
        drop(t, 0);
    pthread_mutex_destroy(&t->lock);
    free(t->v);
    free(t);
}

static void prune(struct srv_tokens *t, int64_t now)
{
    for (size_t i = 0; i < t->n;) {
        if (t->v[i].expires <= now)
            drop(t, i);
        else
            i++;
    }
}

static char *token_make(crisp_error_t **err)
{
    uint8_t raw[TOKEN_BYTES];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t r = getrandom(raw + got, sizeof(raw) - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            crisp_error_errno(err, "getrandom");
            return NULL;
        }
        got += (size_t)r;
    }
    char *token = srv_base64_encode(raw, sizeof(raw), true);
    if (!token)
        crisp_error_oom(err);
    return token;
}

int srv_tokens_add(struct srv_tokens *t, struct srv_streaming_request *req, int64_t now_ms, char **ret_token,
                   crisp_error_t **err)
{
    char *token = token_make(err), *copy = token ? strdup(token) : NULL;
    if (!copy) {
        free(token);
        srv_streaming_request_free(req);
        return crisp_error_oom(err);
    }
    pthread_mutex_lock(&t->lock);
    prune(t, now_ms);
    bool full = t->n >= SRV_TOKENS_MAX;
    if (!full)
        t->v[t->n++] = (struct token){.token = token, .req = req, .expires = now_ms + t->ttl_ms};
    pthread_mutex_unlock(&t->lock);
    if (full) {
        free(token);
        free(copy);
        srv_streaming_request_free(req);
        return crisp_error_make(err, CRISP_E_UNAVAILABLE, "too many pending streaming requests");
    }
    *ret_token = copy;
    return 0;
}

struct srv_streaming_request *srv_tokens_take(struct srv_tokens *t, const char *token, int64_t now_ms)
{
    struct srv_streaming_request *req = NULL;
    pthread_mutex_lock(&t->lock);
    prune(t, now_ms);
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].token, token) == 0) {
            req = t->v[i].req;
            t->v[i].req = NULL;
            drop(t, i);
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return req;
}
