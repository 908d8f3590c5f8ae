#define _GNU_SOURCE
#include "images/registry.h"

#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/file.h"
#include "images/manifest.h"
#include "images/registry_auth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SMALL_BODY_MAX (64 * 1024) /* token and error bodies */
#define HEADER_LINE_MAX (16 * 1024)
#define HEADERS_MAX (256 * 1024) /* all header lines of one request, redirects included */
#define CONNECT_TIMEOUT_S 30L
#define DEFAULT_STALL_S 60L
#define MAX_REDIRECTS 10L
#define BACKOFF_FIRST_MS 200L
/* Progress is PROGRESS_MIN_BYTES received within image.pull_progress_timeout. A byte now and then is
 * not progress: a peer that keeps a connection alive with a trickle must fail too. 16 KiB is one
 * TLS record or HTTP/2 frame, the least a working connection delivers at once; at the default 60 s
 * it is 273 bytes/s, below which a layer of a few MB takes hours anyway. */
#define PROGRESS_MIN_BYTES (16 * 1024)
/* How often a backoff sleep looks at its cancellation. */
#define CANCEL_POLL_MS 100L
#define RETRY_AFTER_MAX_S 10L
#define BASIC_CACHE_S 600L
#define POOL_MAX 8
#define USER_AGENT "crisp"
#define MANIFEST_ACCEPT                                                                                      \
    "Accept: " IMG_MT_OCI_INDEX ", " IMG_MT_OCI_MANIFEST ", " IMG_MT_DOCKER_LIST ", " IMG_MT_DOCKER_MANIFEST

struct img_registry {
    struct crisp_config *cfg; /* our copy of the registries section */
    char *auth_file;
    long stall_timeout_s;
    uint64_t max_layer_size;
    CURLSH *share; /* DNS and TLS sessions; curl can't share connections across threads */
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock; /* idle easy handles, each keeping its connections for reuse */
    CURL *pool[POOL_MAX];
    size_t n_pool;
    struct img_token_cache *tokens;
};

/* Where a response body goes: a file (hashed as it streams) or a bounded memory buffer. */
struct sink {
    const char *what;    /* "manifest ...", "blob ...": names it in messages */
    int overflow_status; /* a body over limit is EMSGSIZE for documents, EINVAL for a blob */
    int64_t limit;       /* -1: none */
    int64_t size;
    int fd; /* -1: collect in buf */
    struct img_hasher *hasher;
    char *buf;
    size_t cap;
    bool local_failure; /* the disk failed, not the registry: no point trying elsewhere */
};

struct http_req {
    struct crisp_cancel *cancel; /* NULL: none */
    const char *method;
    const char *url;
    const char *accept;        /* a whole "Accept: ..." line, or NULL */
    const char *authorization; /* header value, or NULL */
    const char *form;          /* POST body */
};

struct http_resp {
    struct sink *sink;
    long status; /* of the last response in a redirect chain */
    char status_line[160];
    char *content_type;
    char *www_authenticate;
    long retry_after_s;
    char *error_body;
    size_t error_len;
    bool error_truncated;
    size_t header_bytes;
    crisp_error_t *failure; /* set by a callback that stopped the transfer */
    bool retryable;
    int attempts;
    /* The progress window: when it started, and how much had arrived then. */
    int64_t window_start_ms;
    int64_t window_bytes;
    long stall_timeout_s;
    struct crisp_cancel *cancel;
};

struct fetch {
    struct img_registry *r;
    struct crisp_cancel *cancel;
    const struct img_ref *ref;
    const struct img_auth *auth;
    const char *kind;      /* "manifests" or "blobs" */
    const char *reference; /* tag or digest */
    const char *accept;
    const char *noun; /* "manifest" or "blob" */
    const char *what; /* "manifest docker.io/library/busybox:1.36", "blob sha256:..." */
    const char *expected_digest;
    int64_t expected_size;
    struct sink *sink;
    const char *url; /* of the endpoint being tried */
    int retries;     /* none on a mirror: the next endpoint is the retry */
    struct http_resp resp;
    char digest[IMG_DIGEST_MAX];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void error_move(crisp_error_t **err, crisp_error_t **from)
{
    if (err && !*err)
        *err = TAKE_PTR(*from);
}

static void error_append(crisp_error_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void error_append(crisp_error_t *e, const char *fmt, ...)
{
    _cleanup_free_ char *tail = NULL;
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&tail, fmt, ap);
    va_end(ap);
    if (e && n >= 0 && asprintf(&msg, "%s%s", e->msg, tail) >= 0) {
        free(e->msg);
        e->msg = msg;
    }
}

static void curl_slist_freep(struct curl_slist **l)
{
    curl_slist_free_all(*l);
}

static bool host_is_loopback(const char *hostport)
{
    char host[256];
    size_t n;
    if (hostport[0] == '[') {
        hostport++;
        n = strcspn(hostport, "]");
    } else {
        n = strchr(hostport, ':') == strrchr(hostport, ':') ? strcspn(hostport, ":") : strlen(hostport);
    }
    if (n >= sizeof(host))
        return false;
    memcpy(host, hostport, n);
    host[n] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return strcasecmp(host, "localhost") == 0;
}

/* Plain HTTP for registries configured insecure, and for loopback ones (a local registry rarely has
 * a certificate, and traffic to it never leaves the machine). */
static bool plain_http_allowed(const struct crisp_config *cfg, const char *host)
{
    const struct config_registry *reg = cfg ? config_registry_find(cfg, host) : NULL;
    return (reg && reg->insecure) || host_is_loopback(host);
}

int img_registry_endpoints(const struct crisp_config *cfg, const struct img_ref *ref, char ***ret_bases,
                           crisp_error_t **err)
{
    const struct config_registry *reg = cfg ? config_registry_find(cfg, ref->domain) : NULL;
    size_t n = 0;
    while (reg && reg->mirrors && reg->mirrors[n])
        n++;
    _cleanup_strv_ char **bases = calloc(n + 2, sizeof(char *));
    if (!bases)
        return crisp_error_oom(err);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(reg->mirrors[i]);
        while (len > 0 && reg->mirrors[i][len - 1] == '/')
            len--;
        if (!(bases[i] = strndup(reg->mirrors[i], len)))
            return crisp_error_oom(err);
    }
    const char *scheme = plain_http_allowed(cfg, ref->domain) ? "http" : "https";
    if (asprintf(&bases[n], "%s://%s", scheme, img_ref_api_host(ref)) < 0) {
        bases[n] = NULL;
        return crisp_error_oom(err);
    }
    *ret_bases = TAKE_PTR(bases);
    return 0;
}

char *img_registry_url(const char *base, const struct img_ref *ref, const char *kind, const char *reference)
{
    char *url = NULL;
    if (asprintf(&url, "%s/v2/%s/%s/%s", base, ref->path, kind, reference) < 0)
        return NULL;
    return url;
}

long img_registry_retry_after(const char *value, time_t now)
{
    while (isspace((unsigned char)*value))
        value++;
    if (isdigit((unsigned char)*value)) {
        char *end = NULL;
        errno = 0;
        long s = strtol(value, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (*end)
            return -1;
        return errno == ERANGE ? LONG_MAX : s;
    }
    time_t t = curl_getdate(value, NULL);
    if (t < 0)
        return -1;
    return t > now ? (long)(t - now) : 0;
}

static void sink_fini(struct sink *s)
{
    img_hasher_free(s->hasher);
    s->hasher = NULL;
    free(s->buf);
    s->buf = NULL;
}

/* Every attempt starts from an empty sink: a retry rewrites the file from its start. */
static int sink_reset(struct sink *s, crisp_error_t **err)
{
    if (s->fd >= 0) {
        if (s->size > 0 && (ftruncate(s->fd, 0) < 0 || lseek(s->fd, 0, SEEK_SET) < 0)) {
            s->local_failure = true;
            return crisp_error_errno(err, "truncate %s for another attempt", s->what);
        }
        img_hasher_free(s->hasher);
        if (!(s->hasher = img_hasher_new()))
            return crisp_error_oom(err);
    }
    s->size = 0;
    return 0;
}

static int buf_append(char **buf, size_t *cap, size_t used, const char *data, size_t len)
{
    if (used + len + 1 > *cap) {
        size_t want = *cap ? *cap : 4096;
        while (want < used + len + 1)
            want *= 2;
        char *grown = realloc(*buf, want);
        if (!grown)
            return -1;
        *buf = grown;
        *cap = want;
    }
    memcpy(*buf + used, data, len);
    (*buf)[used + len] = '\0';
    return 0;
}

static int sink_write(struct sink *s, const char *data, size_t len, crisp_error_t **err)
{
    if (s->limit >= 0 && (int64_t)len > s->limit - s->size)
        return crisp_error_make(err, s->overflow_status, "%s is larger than %lld bytes", s->what,
                                (long long)s->limit);
    if (s->fd >= 0) {
        if (file_write_all(s->fd, data, len) < 0) {
            s->local_failure = true;
            return crisp_error_errno(err, "write %s", s->what);
        }
        img_hasher_update(s->hasher, data, len);
    } else if (buf_append(&s->buf, &s->cap, (size_t)s->size, data, len) < 0) {
        return crisp_error_oom_in(err, "%s", s->what);
    }
    s->size += (int64_t)len;
    return 0;
}

static void sink_digest(struct sink *s, char out[IMG_DIGEST_MAX])
{
    if (s->fd < 0) {
        img_digest_buffer(s->buf ? s->buf : "", (size_t)s->size, out);
        return;
    }
    img_hasher_final(s->hasher, out);
    img_hasher_free(s->hasher);
    s->hasher = NULL;
}

/* Forgets what an earlier response in a redirect chain (or an earlier attempt) said. */
static void resp_forget(struct http_resp *resp)
{
    free(resp->content_type);
    free(resp->www_authenticate);
    free(resp->error_body);
    resp->content_type = resp->www_authenticate = resp->error_body = NULL;
    resp->error_len = 0;
    resp->error_truncated = false;
    resp->retry_after_s = -1;
}

static void resp_fini(struct http_resp *resp)
{
    resp_forget(resp);
    crisp_error_freep(&resp->failure);
    resp->status = 0;
    resp->status_line[0] = '\0';
    resp->header_bytes = 0;
    resp->retryable = false;
}

static void resp_status_line(struct http_resp *resp, const char *data, size_t len)
{
    while (len > 0 && isspace((unsigned char)data[len - 1]))
        len--;
    snprintf(resp->status_line, sizeof(resp->status_line), "%.*s", (int)len, data);
    const char *p = resp->status_line + strcspn(resp->status_line, " ");
    resp->status = strtol(p, NULL, 10);
    resp_forget(resp);
}

static void header_append(char **slot, const char *value)
{
    char *joined = NULL;
    if (!*slot) {
        *slot = strdup(value);
    } else if (asprintf(&joined, "%s, %s", *slot, value) >= 0) {
        free(*slot);
        *slot = joined;
    }
}

static void header_store(struct http_resp *resp, const char *data, size_t len)
{
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return;
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1, *end = data + len;
    while (v < end && isspace((unsigned char)*v))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    _cleanup_free_ char *value = strndup(v, (size_t)(end - v));
    if (!value)
        return;
    if (name_len == 12 && strncasecmp(data, "content-type", 12) == 0) {
        free(resp->content_type);
        resp->content_type = TAKE_PTR(value);
    } else if (name_len == 16 && strncasecmp(data, "www-authenticate", 16) == 0) {
        header_append(&resp->www_authenticate, value);
    } else if (name_len == 11 && strncasecmp(data, "retry-after", 11) == 0) {
        resp->retry_after_s = img_registry_retry_after(value, time(NULL));
    }
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    struct http_resp *resp = userp;
    size_t len = size * n;
    resp->header_bytes += len;
    if (len > HEADER_LINE_MAX || resp->header_bytes > HEADERS_MAX) {
        crisp_error_make(&resp->failure, EPROTO, "response headers are too large");
        return 0;
    }
    if (len > 5 && strncmp(data, "HTTP/", 5) == 0)
        resp_status_line(resp, data, len);
    else
        header_store(resp, data, len);
    return len;
}

/* A success body goes to the sink; any other is kept (bounded) for the registry's words. */
static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct http_resp *resp = userp;
    size_t len = size * n;
    if (resp->status >= 200 && resp->status < 300)
        return sink_write(resp->sink, data, len, &resp->failure) < 0 ? 0 : len;
    if (!resp->error_body && !(resp->error_body = malloc(SMALL_BODY_MAX + 1)))
        return 0;
    size_t room = SMALL_BODY_MAX - resp->error_len, keep = len < room ? len : room;
    memcpy(resp->error_body + resp->error_len, data, keep);
    resp->error_len += keep;
    resp->error_body[resp->error_len] = '\0';
    if (keep < len) {
        resp->error_truncated = true;
        return 0;
    }
    return len;
}

/* Ends the transfer when it is cancelled, or when fewer than PROGRESS_MIN_BYTES arrived in the last
 * stall_timeout_s (curl calls this about once a second even while nothing arrives). */
static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct http_resp *resp = userp;
    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    int64_t now = clock_monotonic_ms();
    if (crisp_cancel_fired(resp->cancel)) {
        crisp_cancel_error(resp->cancel, "transfer", &resp->failure);
        return 1;
    }
    if (resp->window_start_ms == 0 || (int64_t)dlnow - resp->window_bytes >= PROGRESS_MIN_BYTES) {
        resp->window_start_ms = now;
        resp->window_bytes = (int64_t)dlnow;
        return 0;
    }
    if (now - resp->window_start_ms < resp->stall_timeout_s * 1000)
        return 0;
    crisp_error_make(&resp->failure, ETIMEDOUT, "no progress for %ld s: %lld bytes arrived, less than %d",
                     resp->stall_timeout_s, (long long)((int64_t)dlnow - resp->window_bytes),
                     PROGRESS_MIN_BYTES);
    return 1;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
    (void)h;
    (void)access;
    struct img_registry *r = userp;
    pthread_mutex_lock(&r->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
    (void)h;
    struct img_registry *r = userp;
    pthread_mutex_unlock(&r->share_locks[data]);
}

static CURL *easy_take(struct img_registry *r)
{
    CURL *h = NULL;
    pthread_mutex_lock(&r->pool_lock);
    if (r->n_pool > 0)
        h = r->pool[--r->n_pool];
    pthread_mutex_unlock(&r->pool_lock);
    return h ? h : curl_easy_init();
}

/* Back to the pool with its options reset (nothing points at our stack) but its connections kept. */
static void easy_give(struct img_registry *r, CURL *h)
{
    curl_easy_reset(h);
    pthread_mutex_lock(&r->pool_lock);
    if (r->n_pool < POOL_MAX) {
        r->pool[r->n_pool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&r->pool_lock);
    if (h)
        curl_easy_cleanup(h);
}

static bool slist_add(struct curl_slist **l, const char *s)
{
    struct curl_slist *n = curl_slist_append(*l, s);
    if (n)
        *l = n;
    return n != NULL;
}

/* Our own Authorization header: curl drops custom ones when a redirect leaves the host. */
static int headers_build(const struct http_req *req, struct curl_slist **ret)
{
    if (req->accept && !slist_add(ret, req->accept))
        return -1;
    if (!req->authorization)
        return 0;
    _cleanup_free_ char *line = NULL;
    if (asprintf(&line, "Authorization: %s", req->authorization) < 0)
        return -1;
    bool ok = slist_add(ret, line);
    explicit_bzero(line, strlen(line));
    return ok ? 0 : -1;
}

#define SETOPT(h, rc, opt, val)                                                                              \
    do {                                                                                                     \
        if ((rc) == CURLE_OK)                                                                                \
            (rc) = curl_easy_setopt((h), (opt), (val));                                                      \
    } while (0)

static CURLcode easy_setup(struct img_registry *r, CURL *h, const struct http_req *req,
                           struct http_resp *resp, struct curl_slist *headers, char *errbuf)
{
    CURLcode rc = CURLE_OK;
    SETOPT(h, rc, CURLOPT_URL, req->url);
    SETOPT(h, rc, CURLOPT_SHARE, r->share);
    SETOPT(h, rc, CURLOPT_NOSIGNAL, 1L);
    SETOPT(h, rc, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(h, rc, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(h, rc, CURLOPT_FOLLOWLOCATION, 1L);
    SETOPT(h, rc, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    SETOPT(h, rc, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    SETOPT(h, rc, CURLOPT_NOPROGRESS, 0L);
    SETOPT(h, rc, CURLOPT_XFERINFOFUNCTION, on_progress);
    SETOPT(h, rc, CURLOPT_XFERINFODATA, resp);
    SETOPT(h, rc, CURLOPT_USERAGENT, USER_AGENT);
    SETOPT(h, rc, CURLOPT_HTTPHEADER, headers);
    SETOPT(h, rc, CURLOPT_ERRORBUFFER, errbuf);
    SETOPT(h, rc, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(h, rc, CURLOPT_HEADERDATA, resp);
    SETOPT(h, rc, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(h, rc, CURLOPT_WRITEDATA, resp);
    if (req->form)
        SETOPT(h, rc, CURLOPT_POSTFIELDS, req->form);
    return rc;
}

static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

static int transport_error(const struct http_req *req, CURLcode rc, const char *errbuf, crisp_error_t **err)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return crisp_error_make(err, ETIMEDOUT, "%s %s: %s", req->method, req->url, why);
    int status = curl_retryable(rc) ? CRISP_E_UNAVAILABLE : EPROTO;
    return crisp_error_make(err, status, "%s %s: %s", req->method, req->url, why);
}

/* One request (redirects followed). 0 when a response arrived, whatever its status. */
static int http_perform(struct img_registry *r, const struct http_req *req, struct http_resp *resp,
                        crisp_error_t **err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    _cleanup_(curl_slist_freep) struct curl_slist *headers = NULL;
    if (headers_build(req, &headers) < 0)
        return crisp_error_oom(err);
    CURL *h = easy_take(r);
    if (!h)
        return crisp_error_make(err, ENOMEM, "curl_easy_init failed");
    resp->window_start_ms = 0;
    resp->window_bytes = 0;
    resp->stall_timeout_s = r->stall_timeout_s;
    resp->cancel = req->cancel;
    CURLcode rc = easy_setup(r, h, req, resp, headers, errbuf);
    if (rc != CURLE_OK) {
        easy_give(r, h);
        return crisp_error_make(err, EIO, "%s %s: %s", req->method, req->url, curl_easy_strerror(rc));
    }
    rc = curl_easy_perform(h);
    easy_give(r, h);
    /* A stall or a cancellation stopped it from on_progress, and neither is tried again: the stall
     * bounds the whole pull's time without progress, not each attempt's. */
    if (resp->failure) {
        error_move(err, &resp->failure);
        return crisp_error_wrap(err, "%s %s", req->method, req->url);
    }
    if (rc == CURLE_WRITE_ERROR && resp->error_truncated)
        return 0;
    if (rc != CURLE_OK) {
        resp->retryable = curl_retryable(rc);
        return transport_error(req, rc, errbuf, err);
    }
    return 0;
}

static bool status_retryable(long status)
{
    return status == 429 || (status >= 500 && status < 600);
}

/* Returns false when cancelled meanwhile: then there is no next attempt. */
static bool backoff_sleep(int attempt, long retry_after_s, struct crisp_cancel *cancel)
{
    long ms = BACKOFF_FIRST_MS << attempt;
    if (retry_after_s >= 0)
        ms = (retry_after_s < RETRY_AFTER_MAX_S ? retry_after_s : RETRY_AFTER_MAX_S) * 1000;
    for (int64_t end = clock_monotonic_ms() + ms; !crisp_cancel_fired(cancel);) {
        int64_t left = end - clock_monotonic_ms();
        if (left <= 0)
            return true;
        long slice = left < CANCEL_POLL_MS ? (long)left : CANCEL_POLL_MS;
        struct timespec ts = {.tv_sec = slice / 1000, .tv_nsec = (slice % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* http_perform with retries of transient failures; 0 with the final response in resp. */
static int http_fetch(struct img_registry *r, const struct http_req *req, int retries, struct sink *sink,
                      struct http_resp *resp, crisp_error_t **err)
{
    for (int attempt = 0;; attempt++) {
        _cleanup_error_ crisp_error_t *e = NULL;
        resp_fini(resp);
        resp->sink = sink;
        resp->attempts = attempt + 1;
        int rc = crisp_cancel_fired(req->cancel) ? crisp_cancel_error(req->cancel, req->url, &e) : 0;
        if (rc == 0)
            rc = sink_reset(sink, &e);
        if (rc == 0)
            rc = http_perform(r, req, resp, &e);
        bool again = rc < 0 ? resp->retryable : status_retryable(resp->status);
        if (!again || attempt >= retries) {
            if (rc < 0 && attempt > 0)
                error_append(e, " (after %d attempts)", attempt + 1);
            if (rc < 0)
                error_move(err, &e);
            return rc;
        }
        if (!backoff_sleep(attempt, resp->retry_after_s, req->cancel))
            return crisp_cancel_error(req->cancel, req->url, err);
    }
}

/* The error for a final response that isn't a success, in the registry's words when it gave some. */
static int status_error(const struct http_req *req, const struct http_resp *resp, const char *what,
                        crisp_error_t **err)
{
    _cleanup_free_ char *words = img_registry_error_words(resp->error_body);
    const char *said = words ? words : resp->status_line;
    switch (resp->status) {
    case 401:
        return crisp_error_make(err, CRISP_E_UNAUTHENTICATED, "%s %s: authentication failed: %s", req->method,
                                req->url, said);
    case 403:
        return crisp_error_make(err, EACCES, "%s %s: access denied: %s", req->method, req->url, said);
    case 404:
        return crisp_error_make(err, ENOENT, "%s not found (%s %s): %s", what, req->method, req->url, said);
    }
    int rc = status_retryable(resp->status)
                 ? crisp_error_make(err, CRISP_E_UNAVAILABLE, "%s %s: %s", req->method, req->url, said)
                 : crisp_error_make(err, EPROTO, "%s %s: unexpected response: %s", req->method, req->url,
                                    said);
    if (err && *err && resp->attempts > 1)
        error_append(*err, " (after %d attempts)", resp->attempts);
    return rc;
}

static char *host_of_url(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    return strndup(p, strcspn(p, "/?#"));
}

/* Credentials go where they were meant for: the request's and the auth file's entry for the domain to
 * the registry itself; a mirror gets only the auth file's entry for the mirror's own host. */
static int endpoint_credentials(struct fetch *f, const char *base, bool mirror, struct img_credentials *ret,
                                crisp_error_t **err)
{
    if (mirror) {
        _cleanup_free_ char *host = host_of_url(base);
        if (!host)
            return crisp_error_oom(err);
        return img_credentials_from_file(f->r->auth_file, host, ret, err);
    }
    if (img_credentials_from_auth(f->auth, ret, err) < 0)
        return crisp_error_wrap(err, "credentials for %s", f->ref->domain);
    if (!img_credentials_empty(ret))
        return 0;
    return img_credentials_from_file(f->r->auth_file, f->ref->domain, ret, err);
}

/* Credentials may cross plain HTTP only where the registry itself is reached that way. */
static int realm_check(struct fetch *f, const char *base, const char *realm, const struct img_credentials *c,
                       crisp_error_t **err)
{
    if (strncmp(realm, "https://", 8) == 0)
        return 0;
    if (strncmp(realm, "http://", 7) != 0)
        return crisp_error_make(err, EPROTO, "GET %s: token realm %s is not an http(s) URL", f->url, realm);
    _cleanup_free_ char *host = host_of_url(realm);
    if (img_credentials_empty(c) || strncmp(base, "http://", 7) == 0 ||
        (host && plain_http_allowed(f->r->cfg, host)))
        return 0;
    return crisp_error_make(err, EACCES, "GET %s: refusing to send credentials to plain-http token realm %s",
                            f->url, realm);
}

static int query_add(FILE *q, const char *name, const char *value)
{
    if (!value)
        return 0;
    _cleanup_free_ char *escaped = img_url_escape(value);
    if (!escaped)
        return -1;
    fprintf(q, "%s%s=%s", ftell(q) > 0 ? "&" : "", name, escaped);
    return 0;
}

/* The token request's query (GET) or form (POST, for an identity token). */
static char *token_params(const struct img_challenge *ch, const char *scope, const struct img_credentials *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *q = open_memstream(&text, &len);
    if (!q)
        return NULL;
    int rc = 0;
    if (c->identity_token)
        rc |= query_add(q, "grant_type", "refresh_token") | query_add(q, "refresh_token", c->identity_token);
    rc |= query_add(q, "service", ch->service) | query_add(q, "scope", scope);
    if (c->identity_token)
        rc |= query_add(q, "client_id", "crisp");
    if (fclose(q) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static char *basic_authorization(const struct img_credentials *c)
{
    _cleanup_free_ char *plain = NULL, *encoded = NULL;
    char *value = NULL;
    if (asprintf(&plain, "%s:%s", c->username, c->password ? c->password : "") < 0)
        return NULL;
    encoded = img_base64_encode(plain, strlen(plain));
    explicit_bzero(plain, strlen(plain));
    if (!encoded || asprintf(&value, "Basic %s", encoded) < 0)
        value = NULL;
    if (encoded)
        explicit_bzero(encoded, strlen(encoded));
    return value;
}

static int token_request(struct fetch *f, const struct img_challenge *ch, const struct img_credentials *c,
                         const char *params, struct sink *sink, struct http_resp *resp, crisp_error_t **err)
{
    _cleanup_free_ char *url = NULL, *authz = NULL;
    bool post = c->identity_token != NULL;
    const char *sep = strchr(ch->realm, '?') ? "&" : "?";
    if (post ? !(url = strdup(ch->realm)) : asprintf(&url, "%s%s%s", ch->realm, sep, params) < 0)
        return crisp_error_oom(err);
    if (!post && c->username && !(authz = basic_authorization(c)))
        return crisp_error_oom(err);
    struct http_req req = {.cancel = f->cancel,
                           .method = post ? "POST" : "GET",
                           .url = url,
                           .authorization = authz,
                           .form = post ? params : NULL};
    int rc = http_fetch(f->r, &req, f->retries, sink, resp, err);
    if (rc == 0 && resp->status == 401) {
        _cleanup_free_ char *words = img_registry_error_words(resp->error_body);
        rc = crisp_error_make(err, CRISP_E_UNAUTHENTICATED, "%s %s: login refused: %s", req.method, ch->realm,
                              words ? words : resp->status_line);
    } else if (rc == 0 && (resp->status < 200 || resp->status >= 300)) {
        rc = status_error(&req, resp, "token endpoint", err);
    }
    if (authz)
        explicit_bzero(authz, strlen(authz));
    return rc;
}

static int token_fetch(struct fetch *f, const char *base, const struct img_challenge *ch,
                       const struct img_credentials *c, char **ret_token, long *ret_expires_in,
                       crisp_error_t **err)
{
    if (realm_check(f, base, ch->realm, c, err) < 0)
        return -1;
    _cleanup_free_ char *scope = NULL, *params = NULL;
    if (asprintf(&scope, "repository:%s:pull", f->ref->path) < 0 || !(params = token_params(ch, scope, c)))
        return crisp_error_oom(err);
    _cleanup_(sink_fini) struct sink sink = {
        .what = "token response", .overflow_status = EMSGSIZE, .limit = SMALL_BODY_MAX, .fd = -1};
    _cleanup_(resp_fini) struct http_resp resp = {0};
    int rc = token_request(f, ch, c, params, &sink, &resp, err);
    explicit_bzero(params, strlen(params));
    if (rc < 0)
        return -1;
    if (img_token_response_parse(sink.buf ? sink.buf : "", ret_token, ret_expires_in, err) < 0)
        return crisp_error_wrap(err, "GET %s", ch->realm);
    return 0;
}

static int authorize_basic(struct fetch *f, const struct img_credentials *c, char **ret_authz, long *ret_ttl,
                           crisp_error_t **err)
{
    if (!c->username) {
        _cleanup_free_ char *words = img_registry_error_words(f->resp.error_body);
        return crisp_error_make(err, CRISP_E_UNAUTHENTICATED, "GET %s: authentication required: %s", f->url,
                                words ? words : f->resp.status_line);
    }
    if (!(*ret_authz = basic_authorization(c)))
        return crisp_error_oom(err);
    *ret_ttl = BASIC_CACHE_S;
    return 0;
}

static int authorize_bearer(struct fetch *f, const char *base, const struct img_challenge *ch,
                            const struct img_credentials *c, char **ret_authz, long *ret_ttl,
                            crisp_error_t **err)
{
    _cleanup_free_ char *token = NULL;
    if (token_fetch(f, base, ch, c, &token, ret_ttl, err) < 0)
        return -1;
    int rc = asprintf(ret_authz, "Bearer %s", token);
    explicit_bzero(token, strlen(token));
    if (rc < 0) {
        *ret_authz = NULL;
        return crisp_error_oom(err);
    }
    return 0;
}

/* Answers the 401 in f->resp: Basic credentials, or a token from the challenge's realm; cached. */
static int authorize(struct fetch *f, const char *base, const struct img_credentials *c, const char *key,
                     char **ret_authz, crisp_error_t **err)
{
    if (!f->resp.www_authenticate)
        return crisp_error_make(err, CRISP_E_UNAUTHENTICATED,
                                "GET %s: %s without an authentication challenge", f->url,
                                f->resp.status_line);
    _cleanup_(img_challenge_fini) struct img_challenge ch = {0};
    if (img_challenge_parse(f->resp.www_authenticate, &ch, err) < 0)
        return crisp_error_wrap(err, "GET %s", f->url);
    long ttl = 0;
    int rc = ch.scheme == IMG_CHALLENGE_BASIC ? authorize_basic(f, c, ret_authz, &ttl, err)
                                              : authorize_bearer(f, base, &ch, c, ret_authz, &ttl, err);
    if (rc < 0)
        return -1;
    return img_token_cache_put(f->r->tokens, key, *ret_authz, ttl, clock_monotonic_ms(), err);
}

static int unauthenticated_error(struct fetch *f, const struct img_credentials *c, crisp_error_t **err)
{
    _cleanup_free_ char *words = img_registry_error_words(f->resp.error_body);
    return crisp_error_make(err, CRISP_E_UNAUTHENTICATED, "GET %s: %s: %s", f->url,
                            img_credentials_empty(c) ? "authentication required" : "credentials refused",
                            words ? words : f->resp.status_line);
}

static int fetch_verify(struct fetch *f, crisp_error_t **err)
{
    struct sink *s = f->sink;
    sink_digest(s, f->digest);
    if (f->expected_size >= 0 && s->size != f->expected_size)
        return crisp_error_make(err, EINVAL, "%s size mismatch: expected %lld bytes, got %lld (from %s)",
                                f->what, (long long)f->expected_size, (long long)s->size, f->url);
    if (f->expected_digest && strcmp(f->digest, f->expected_digest) != 0)
        return crisp_error_make(err, EINVAL, "%s digest mismatch: expected %s, got %s (from %s)", f->noun,
                                f->expected_digest, f->digest, f->url);
    return 0;
}

static char *authorization_initial(struct fetch *f, const struct img_credentials *c, const char *key)
{
    char *value = NULL;
    if (c->registry_token)
        return asprintf(&value, "Bearer %s", c->registry_token) < 0 ? NULL : value;
    return img_token_cache_get(f->r->tokens, key, clock_monotonic_ms());
}

static void secret_freep(char **s)
{
    if (*s)
        explicit_bzero(*s, strlen(*s));
    free(*s);
    *s = NULL;
}

/* Fetches from one endpoint: anonymously or with a cached authorization first, then once more after
 * answering a 401 challenge. */
static int endpoint_fetch(struct fetch *f, const char *base, bool mirror, crisp_error_t **err)
{
    _cleanup_(img_credentials_fini) struct img_credentials creds = {0};
    if (endpoint_credentials(f, base, mirror, &creds, err) < 0)
        return -1;
    _cleanup_free_ char *url = img_registry_url(base, f->ref, f->kind, f->reference), *key = NULL;
    if (!url || asprintf(&key, "%s\n%s\n%s", base, f->ref->path, creds.identity) < 0)
        return crisp_error_oom(err);
    _cleanup_(secret_freep) char *authz = authorization_initial(f, &creds, key);
    bool fresh = creds.registry_token != NULL; /* a 401 to fresh credentials is a refusal */
    f->url = url;
    f->retries = mirror ? 0 : IMG_REGISTRY_MAX_RETRIES;
    struct http_req req = {.cancel = f->cancel, .method = "GET", .url = url, .accept = f->accept};
    for (;;) {
        req.authorization = authz;
        if (http_fetch(f->r, &req, f->retries, f->sink, &f->resp, err) < 0)
            return -1;
        if (f->resp.status != 401 || fresh)
            break;
        secret_freep(&authz);
        if (authorize(f, base, &creds, key, &authz, err) < 0)
            return -1;
        fresh = true;
    }
    if (f->resp.status == 401)
        return unauthenticated_error(f, &creds, err);
    if (f->resp.status < 200 || f->resp.status >= 300)
        return status_error(&req, &f->resp, f->what, err);
    return fetch_verify(f, err);
}

static void tried_append(char **tried, const char *msg)
{
    char *joined = NULL;
    if (asprintf(&joined, "%s%s%s", *tried ? *tried : "", *tried ? "; " : "", msg) < 0)
        return;
    free(*tried);
    *tried = joined;
}

/* Each mirror in order, then the registry itself; any failure but a local one or a cancellation moves
 * on. */
static int registry_fetch(struct fetch *f, crisp_error_t **err)
{
    _cleanup_strv_ char **bases = NULL;
    if (img_registry_endpoints(f->r->cfg, f->ref, &bases, err) < 0)
        return -1;
    _cleanup_free_ char *tried = NULL;
    for (size_t i = 0; bases[i]; i++) {
        _cleanup_error_ crisp_error_t *e = NULL;
        bool last = bases[i + 1] == NULL;
        if (endpoint_fetch(f, bases[i], !last, &e) == 0)
            return 0;
        if (last || !e || f->sink->local_failure || e->status == ENOMEM || crisp_cancel_fired(f->cancel)) {
            if (tried)
                error_append(e, " (mirrors tried first: %s)", tried);
            error_move(err, &e);
            return -1;
        }
        tried_append(&tried, e->msg);
    }
    return crisp_error_make(err, EINVAL, "no endpoint for %s", f->ref->domain);
}

static void fetch_fini(struct fetch *f)
{
    resp_fini(&f->resp);
}

/* "application/vnd.oci.image.manifest.v1+json; charset=utf-8" -> the media type alone */
static char *media_type_of(const char *content_type)
{
    if (!content_type)
        return strdup("");
    size_t n = strcspn(content_type, ";");
    while (n > 0 && isspace((unsigned char)content_type[n - 1]))
        n--;
    return strndup(content_type, n);
}

static int manifest_fetch(struct img_registry *r, struct crisp_cancel *cancel, const struct img_ref *ref,
                          const char *reference, const char *expected_digest, const struct img_auth *auth,
                          char **ret_body, size_t *ret_len, char **ret_content_type,
                          char ret_digest[IMG_DIGEST_MAX], crisp_error_t **err)
{
    _cleanup_free_ char *name = expected_digest ? img_ref_digested(ref, expected_digest)
                                                : img_ref_tagged(ref);
    _cleanup_free_ char *what = NULL;
    if (!name || asprintf(&what, "manifest %s", name) < 0)
        return crisp_error_oom(err);
    _cleanup_(sink_fini) struct sink sink = {
        .what = what, .overflow_status = EMSGSIZE, .limit = IMG_MANIFEST_MAX_SIZE, .fd = -1};
    _cleanup_(fetch_fini) struct fetch f = {.r = r,
                                            .cancel = cancel,
                                            .ref = ref,
                                            .auth = auth,
                                            .kind = "manifests",
                                            .reference = reference,
                                            .accept = MANIFEST_ACCEPT,
                                            .noun = "manifest",
                                            .what = what,
                                            .expected_digest = expected_digest,
                                            .expected_size = -1,
                                            .sink = &sink};
    if (registry_fetch(&f, err) < 0)
        return -1;
    _cleanup_free_ char *media_type = media_type_of(f.resp.content_type);
    if (!media_type || (!sink.buf && !(sink.buf = strdup(""))))
        return crisp_error_oom(err);
    *ret_body = TAKE_PTR(sink.buf);
    *ret_len = (size_t)sink.size;
    *ret_content_type = TAKE_PTR(media_type);
    if (ret_digest)
        memcpy(ret_digest, f.digest, IMG_DIGEST_MAX);
    return 0;
}

static int digest_check(const char *digest, const char *what, crisp_error_t **err)
{
    if (!digest || !img_digest_valid(digest))
        return crisp_error_make(err, EINVAL, "invalid %s digest \"%.80s\"", what, digest ? digest : "");
    return 0;
}

int img_registry_get_manifest(struct img_registry *r, struct crisp_cancel *cancel, const struct img_ref *ref,
                              const struct img_auth *auth, char **ret_body, size_t *ret_len,
                              char **ret_content_type, char ret_digest[IMG_DIGEST_MAX], crisp_error_t **err)
{
    if (ref->digest && digest_check(ref->digest, "manifest", err) < 0)
        return -1;
    const char *reference = ref->digest ? ref->digest : ref->tag;
    if (!reference)
        return crisp_error_make(err, EINVAL, "reference %s has neither tag nor digest", ref->path);
    return manifest_fetch(r, cancel, ref, reference, ref->digest, auth, ret_body, ret_len, ret_content_type,
                          ret_digest, err);
}

int img_registry_get_manifest_digest(struct img_registry *r, struct crisp_cancel *cancel,
                                     const struct img_ref *ref, const char *digest,
                                     const struct img_auth *auth, char **ret_body, size_t *ret_len,
                                     char **ret_content_type, crisp_error_t **err)
{
    if (digest_check(digest, "manifest", err) < 0)
        return -1;
    return manifest_fetch(r, cancel, ref, digest, digest, auth, ret_body, ret_len, ret_content_type, NULL,
                          err);
}

int img_registry_get_blob(struct img_registry *r, struct crisp_cancel *cancel, const struct img_ref *ref,
                          const char *digest, int64_t expected_size, const struct img_auth *auth, int fd,
                          crisp_error_t **err)
{
    if (digest_check(digest, "blob", err) < 0)
        return -1;
    _cleanup_free_ char *what = NULL;
    if (asprintf(&what, "blob %s", digest) < 0)
        return crisp_error_oom(err);
    _cleanup_(sink_fini) struct sink sink = {
        .what = what, .overflow_status = EINVAL, .limit = expected_size >= 0 ? expected_size : -1, .fd = fd};
    _cleanup_(fetch_fini) struct fetch f = {.r = r,
                                            .cancel = cancel,
                                            .ref = ref,
                                            .auth = auth,
                                            .kind = "blobs",
                                            .reference = digest,
                                            .noun = "blob",
                                            .what = what,
                                            .expected_digest = digest,
                                            .expected_size = expected_size,
                                            .sink = &sink};
    return registry_fetch(&f, err);
}

static struct crisp_config *registries_copy(const struct crisp_config *cfg)
{
    struct crisp_config *copy = calloc(1, sizeof(*copy));
    if (!copy || !cfg || cfg->n_registries == 0)
        return copy;
    if (!(copy->registries = calloc(cfg->n_registries, sizeof(*copy->registries))))
        goto fail;
    for (size_t i = 0; i < cfg->n_registries; i++) {
        const struct config_registry *from = &cfg->registries[i];
        struct config_registry *to = &copy->registries[copy->n_registries++];
        size_t n = 0;
        while (from->mirrors && from->mirrors[n])
            n++;
        to->insecure = from->insecure;
        if (!(to->host = strdup(from->host)) || !(to->mirrors = calloc(n + 1, sizeof(char *))))
            goto fail;
        for (size_t m = 0; m < n; m++)
            if (!(to->mirrors[m] = strdup(from->mirrors[m])))
                goto fail;
    }
    return copy;
fail:
    config_free(copy);
    return NULL;
}

static int share_setup(struct img_registry *r, crisp_error_t **err)
{
    if (!(r->share = curl_share_init()))
        return crisp_error_make(err, ENOMEM, "curl_share_init failed");
    CURLSHcode rc = curl_share_setopt(r->share, CURLSHOPT_LOCKFUNC, share_lock);
    if (rc == CURLSHE_OK)
        rc = curl_share_setopt(r->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    if (rc == CURLSHE_OK)
        rc = curl_share_setopt(r->share, CURLSHOPT_USERDATA, r);
    if (rc == CURLSHE_OK)
        rc = curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    if (rc == CURLSHE_OK)
        rc = curl_share_setopt(r->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    if (rc != CURLSHE_OK)
        return crisp_error_make(err, EIO, "curl share setup: %s", curl_share_strerror(rc));
    return 0;
}

static void img_registry_freep(struct img_registry **r)
{
    img_registry_free(*r);
}

int img_registry_new(const struct img_registry_options *opts, struct img_registry **ret, crisp_error_t **err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return crisp_error_make(err, EIO, "curl_global_init: %s", curl_easy_strerror(curl_init_result));
    _cleanup_(img_registry_freep) struct img_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return crisp_error_oom(err);
    for (size_t i = 0; i < ARRAY_SIZE(r->share_locks); i++)
        pthread_mutex_init(&r->share_locks[i], NULL);
    pthread_mutex_init(&r->pool_lock, NULL);
    r->stall_timeout_s = opts->stall_timeout_s > 0 ? opts->stall_timeout_s : DEFAULT_STALL_S;
    r->cfg = registries_copy(opts->cfg);
    if (opts->cfg && opts->cfg->image_max_layer_size > 0)
        r->max_layer_size = (uint64_t)opts->cfg->image_max_layer_size << 20;
    r->tokens = img_token_cache_new();
    if (!r->cfg || !r->tokens || (opts->auth_file && !(r->auth_file = strdup(opts->auth_file))))
        return crisp_error_oom(err);
    if (share_setup(r, err) < 0)
        return -1;
    *ret = TAKE_PTR(r);
    return 0;
}

uint64_t img_registry_max_layer_size(const struct img_registry *r)
{
    return r->max_layer_size;
}

void img_registry_free(struct img_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_pool; i++)
        curl_easy_cleanup(r->pool[i]);
    if (r->share)
        curl_share_cleanup(r->share);
    for (size_t i = 0; i < ARRAY_SIZE(r->share_locks); i++)
        pthread_mutex_destroy(&r->share_locks[i]);
    pthread_mutex_destroy(&r->pool_lock);
    img_token_cache_free(r->tokens);
    config_free(r->cfg);
    free(r->auth_file);
    free(r);
}
