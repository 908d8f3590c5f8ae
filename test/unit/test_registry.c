#define _GNU_SOURCE
#include "common/cleanup.h"
#include "images/registry.h"
#include "images/registry_auth.h"
#include "unit.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

static char dir[] = "/tmp/crisp-unit-registry-XXXXXX";

static int parse(const char *value, struct img_challenge *c)
{
    _cleanup_error_ crisp_error_t *err = NULL;
    int rc = img_challenge_parse(value, c, &err);
    if (rc < 0 && err->status != EINVAL)
        rc = -2;
    return rc;
}

static void test_challenge_bearer(void)
{
    struct img_challenge c;
    CHECK(parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                "scope=\"repository:library/busybox:pull\"",
                &c) == 0);
    CHECK(c.scheme == IMG_CHALLENGE_BEARER);
    CHECK_STR(c.realm, "https://auth.docker.io/token");
    CHECK_STR(c.service, "registry.docker.io");
    CHECK_STR(c.scope, "repository:library/busybox:pull");
    img_challenge_fini(&c);

    /* commas inside quotes, escapes, token values, loose spacing, case-insensitive names */
    CHECK(
        parse(
            "bearer REALM = \"https://a/t?x=1,2\" ,  Service=\"s,\\\"v\\\"\", scope=tok,error=\"insufficient_scope\"",
            &c) == 0);
    CHECK(c.scheme == IMG_CHALLENGE_BEARER);
    CHECK_STR(c.realm, "https://a/t?x=1,2");
    CHECK_STR(c.service, "s,\"v\"");
    CHECK_STR(c.scope, "tok");
    img_challenge_fini(&c);

    CHECK(parse("Bearer realm=\"http://127.0.0.1:1/t\"", &c) == 0);
    CHECK(c.service == NULL && c.scope == NULL);
    img_challenge_fini(&c);
}

static void test_challenge_several(void)
{
    struct img_challenge c;
    CHECK(parse("Basic realm=\"r, one\", Bearer realm=\"https://x/token\",scope=\"a b\"", &c) == 0);
    CHECK(c.scheme == IMG_CHALLENGE_BEARER);
    CHECK_STR(c.realm, "https://x/token");
    CHECK_STR(c.scope, "a b");
    img_challenge_fini(&c);

    CHECK(parse("Basic realm=\"Registry Realm\"", &c) == 0);
    CHECK(c.scheme == IMG_CHALLENGE_BASIC);
    CHECK_STR(c.realm, "Registry Realm");
    img_challenge_fini(&c);

    CHECK(parse("Negotiate abc==, Basic realm=x", &c) == 0);
    CHECK(c.scheme == IMG_CHALLENGE_BASIC);
    CHECK_STR(c.realm, "x");
    img_challenge_fini(&c);

    CHECK(parse("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"",
                &c) == 0);
    CHECK(c.scheme == IMG_CHALLENGE_BASIC);
    CHECK_STR(c.realm, "simple");
    img_challenge_fini(&c);
}

static void test_challenge_bad(void)
{
    struct img_challenge c;
    CHECK(parse("Bearer realm=\"https://x", &c) == -1);
    CHECK(parse("Bearer service=\"x\"", &c) == -1);
    CHECK(parse("Digest realm=\"x\", nonce=\"y\"", &c) == -1);
    CHECK(parse("", &c) == -1);
    CHECK(parse("Bearer realm=\"x\" junk", &c) == -1);
    CHECK(parse("Bearer =x", &c) == -1);
    CHECK(c.realm == NULL);

    _cleanup_free_ char *longv = malloc(IMG_CHALLENGE_MAX + 100);
    strcpy(longv, "Bearer realm=\"");
    memset(longv + strlen(longv), 'a', IMG_CHALLENGE_MAX);
    strcpy(longv + 14 + IMG_CHALLENGE_MAX, "\"");
    CHECK(parse(longv, &c) == -1);

    char many[2048] = "Bearer realm=x";
    for (int i = 0; i < 40; i++)
        sprintf(many + strlen(many), ",p%d=v", i);
    CHECK(parse(many, &c) == -1);
}

static void test_base64(void)
{
    char *out = NULL;
    size_t len = 0;
    crisp_error_t *err = NULL;
    CHECK(img_base64_decode("dXNlcjpwYXNz", &out, &len, &err) == 0);
    CHECK_STR(out, "user:pass");
    CHECK(len == 9);
    free(out);
    CHECK(img_base64_decode("YQ==", &out, &len, &err) == 0 && len == 1 && strcmp(out, "a") == 0);
    free(out);
    CHECK(img_base64_decode("YWI", &out, &len, &err) == 0 && len == 2 && strcmp(out, "ab") == 0);
    free(out);
    CHECK(img_base64_decode("", &out, &len, &err) == 0 && len == 0);
    free(out);
    CHECK(img_base64_decode("YWJj+/==", &out, &len, &err) == 0 && len == 4);
    free(out);
    CHECK(img_base64_decode("a", &out, &len, &err) == -1 && err && err->status == EINVAL);
    crisp_error_freep(&err);
    CHECK(img_base64_decode("YW@j", &out, &len, &err) == -1 && err && err->status == EINVAL);
    crisp_error_freep(&err);
    CHECK(img_base64_decode("YQ===", &out, &len, &err) == -1);
    crisp_error_freep(&err);

    _cleanup_free_ char *e1 = img_base64_encode("user:pass", 9), *e2 = img_base64_encode("a", 1),
                        *e3 = img_base64_encode("ab", 2), *e4 = img_base64_encode("", 0);
    CHECK_STR(e1, "dXNlcjpwYXNz");
    CHECK_STR(e2, "YQ==");
    CHECK_STR(e3, "YWI=");
    CHECK_STR(e4, "");

    _cleanup_free_ char *q = img_url_escape("repository:library/busybox:pull"),
                        *q2 = img_url_escape("a b&c=d~_.-");
    CHECK_STR(q, "repository%3Alibrary%2Fbusybox%3Apull");
    CHECK_STR(q2, "a%20b%26c%3Dd~_.-");
}

static void test_credentials_auth(void)
{
    struct img_credentials c;
    crisp_error_t *err = NULL;
    struct img_auth a = {.username = "alice", .password = "secret"};
    CHECK(img_credentials_from_auth(&a, &c, &err) == 0);
    CHECK_STR(c.username, "alice");
    CHECK_STR(c.password, "secret");
    CHECK(strncmp(c.identity, "sha256:", 7) == 0);
    char first[IMG_DIGEST_MAX];
    strcpy(first, c.identity);
    img_credentials_fini(&c);

    struct img_auth b = {.auth = "YWxpY2U6c2VjcmV0"}; /* alice:secret */
    CHECK(img_credentials_from_auth(&b, &c, &err) == 0);
    CHECK_STR(c.username, "alice");
    CHECK_STR(c.password, "secret");
    CHECK_STR(c.identity, first);
    img_credentials_fini(&c);

    struct img_auth d = {.username = "alice", .password = "other"};
    CHECK(img_credentials_from_auth(&d, &c, &err) == 0);
    CHECK(strcmp(c.identity, first) != 0);
    img_credentials_fini(&c);

    struct img_auth colon = {.auth = "dTpwOnE="}; /* u:p:q: the password keeps its colon */
    CHECK(img_credentials_from_auth(&colon, &c, &err) == 0);
    CHECK_STR(c.username, "u");
    CHECK_STR(c.password, "p:q");
    img_credentials_fini(&c);

    struct img_auth empty = {.username = "", .auth = ""};
    CHECK(img_credentials_from_auth(&empty, &c, &err) == 0 && img_credentials_empty(&c) &&
          c.identity[0] == 0);
    CHECK(img_credentials_from_auth(NULL, &c, &err) == 0 && img_credentials_empty(&c));

    struct img_auth nocolon = {.auth = "c2VjcmV0"}; /* "secret" */
    CHECK(img_credentials_from_auth(&nocolon, &c, &err) == -1 && err->status == EINVAL);
    CHECK(strstr(err->msg, "secret") == NULL && strstr(err->msg, "c2VjcmV0") == NULL);
    crisp_error_freep(&err);

    struct img_auth badtoken = {.registry_token = "abc\r\nX-Evil: 1"};
    CHECK(img_credentials_from_auth(&badtoken, &c, &err) == -1 && err->status == EINVAL);
    crisp_error_freep(&err);

    struct img_auth tokens = {.identity_token = "refresh", .registry_token = "bearer"};
    CHECK(img_credentials_from_auth(&tokens, &c, &err) == 0);
    CHECK_STR(c.identity_token, "refresh");
    CHECK_STR(c.registry_token, "bearer");
    CHECK(c.username == NULL);
    img_credentials_fini(&c);
}

static char *write_file(const char *name, const char *text)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_credentials_file(void)
{
    _cleanup_free_ char *path = write_file(
        "config.json", "{\"auths\": {"
                       "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnBhc3M=\"},"
                       "\"127.0.0.1:5000\": {\"username\": \"a\", \"password\": \"b\"},"
                       "\"http://mirror.local:5001/v2/\": {\"identitytoken\": \"idt\"},"
                       "\"bad.example\": {\"auth\": \"!!!!\"}}}");
    struct img_credentials c;
    crisp_error_t *err = NULL;
    CHECK(img_credentials_from_file(path, "docker.io", &c, &err) == 0);
    CHECK_STR(c.username, "hub");
    CHECK_STR(c.password, "hubpass");
    img_credentials_fini(&c);
    CHECK(img_credentials_from_file(path, "registry-1.docker.io", &c, &err) == 0);
    CHECK_STR(c.username, "hub");
    img_credentials_fini(&c);
    CHECK(img_credentials_from_file(path, "127.0.0.1:5000", &c, &err) == 0);
    CHECK_STR(c.username, "a");
    CHECK_STR(c.password, "b");
    img_credentials_fini(&c);
    CHECK(img_credentials_from_file(path, "mirror.local:5001", &c, &err) == 0);
    CHECK_STR(c.identity_token, "idt");
    img_credentials_fini(&c);
    CHECK(img_credentials_from_file(path, "127.0.0.1:5001", &c, &err) == 0 && img_credentials_empty(&c));
    CHECK(img_credentials_from_file(path, "bad.example", &c, &err) == -1 && err->status == EINVAL);
    CHECK_CONTAINS(err->msg, "bad.example");
    crisp_error_freep(&err);

    CHECK(img_credentials_from_file("/nonexistent/config.json", "docker.io", &c, &err) == 0);
    CHECK(img_credentials_empty(&c));
    CHECK(img_credentials_from_file(NULL, "docker.io", &c, &err) == 0);

    _cleanup_free_ char *broken = write_file("broken.json", "{\"auths\": {\"x\": {\"auth\": \"sekrit\"");
    CHECK(img_credentials_from_file(broken, "x", &c, &err) == -1 && err->status == EINVAL);
    CHECK(err && !strstr(err->msg, "sekrit"));
    crisp_error_freep(&err);
    unlink(path);
    unlink(broken);
}

static void test_token_response(void)
{
    char *token = NULL;
    long expires = 0;
    crisp_error_t *err = NULL;
    CHECK(img_token_response_parse(
              "{\"token\":\"abc\",\"expires_in\":300,\"issued_at\":\"2024-01-01T00:00:00Z\"}", &token,
              &expires, &err) == 0);
    CHECK_STR(token, "abc");
    CHECK(expires == 300);
    free(token);
    CHECK(img_token_response_parse("{\"access_token\":\"xyz\"}", &token, &expires, &err) == 0);
    CHECK_STR(token, "xyz");
    CHECK(expires == 60);
    free(token);
    CHECK(img_token_response_parse("{\"token\":\"\",\"access_token\":\"t2\",\"expires_in\":5}", &token,
                                   &expires, &err) == 0);
    CHECK_STR(token, "t2");
    CHECK(expires == 60);
    free(token);
    CHECK(img_token_response_parse("{\"token\":\"a\\r\\nb\"}", &token, &expires, &err) == -1);
    crisp_error_freep(&err);
    CHECK(img_token_response_parse("{}", &token, &expires, &err) == -1 && err->status == EINVAL);
    crisp_error_freep(&err);
    CHECK(img_token_response_parse("not json", &token, &expires, &err) == -1);
    crisp_error_freep(&err);
}

static void test_error_words(void)
{
    _cleanup_free_ char *w1 = img_registry_error_words(
        "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{\"Tag\":\"x\"}}]}");
    CHECK_STR(w1, "MANIFEST_UNKNOWN: manifest unknown");
    _cleanup_free_ char *w2 = img_registry_error_words(
        "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"a\"},{\"code\":\"DENIED\",\"message\":\"b\\nc\"}]}");
    CHECK_STR(w2, "UNAUTHORIZED: a; DENIED: b c");
    _cleanup_free_ char *w3 = img_registry_error_words("{\"details\":\"incorrect username or password\"}");
    CHECK_STR(w3, "incorrect username or password");
    _cleanup_free_ char *w4 = img_registry_error_words(
        "{\"error\":\"invalid_grant\",\"error_description\":\"bad\"}");
    CHECK_STR(w4, "invalid_grant: bad");
    _cleanup_free_ char *w5 = img_registry_error_words(
        "{\"errors\":[{\"code\":\"DENIED\",\"detail\":\"nope\"}]}");
    CHECK_STR(w5, "DENIED: nope");
    CHECK(img_registry_error_words("<html>502</html>") == NULL);
    CHECK(img_registry_error_words("{}") == NULL);
    CHECK(img_registry_error_words("") == NULL);
    CHECK(img_registry_error_words(NULL) == NULL);

    char big[8192] = "{\"details\":\"";
    memset(big + strlen(big), 'x', 4000);
    strcat(big, "\"}");
    _cleanup_free_ char *w6 = img_registry_error_words(big);
    CHECK(w6 && strlen(w6) < 600);
}

static void test_token_cache(void)
{
    struct img_token_cache *c = img_token_cache_new();
    crisp_error_t *err = NULL;
    CHECK(img_token_cache_put(c, "k1", "Bearer a", 60, 1000, &err) == 0);
    char *v = img_token_cache_get(c, "k1", 40000);
    CHECK_STR(v, "Bearer a");
    free(v);
    CHECK(img_token_cache_get(c, "k1", 47000) == NULL); /* 60 s less a 15 s margin */
    CHECK(img_token_cache_get(c, "k2", 1000) == NULL);
    CHECK(img_token_cache_put(c, "k1", "Bearer b", 3600, 1000, &err) == 0);
    v = img_token_cache_get(c, "k1", 3000000);
    CHECK_STR(v, "Bearer b");
    free(v);
    CHECK(img_token_cache_get(c, "k1", 1000 + 3570 * 1000) == NULL);
    int put_failures = 0;
    for (int i = 0; i < 300; i++) {
        char key[32];
        snprintf(key, sizeof(key), "key%d", i);
        put_failures += img_token_cache_put(c, key, "Bearer x", 600 + i, 0, &err) < 0;
    }
    CHECK(put_failures == 0);
    v = img_token_cache_get(c, "key299", 1000);
    CHECK_STR(v, "Bearer x");
    free(v);
    img_token_cache_free(c);
}

static char **endpoints(const struct crisp_config *cfg, const char *domain, const char *path)
{
    struct img_ref ref = {.domain = (char *)domain, .path = (char *)path, .tag = "latest"};
    char **bases = NULL;
    crisp_error_t *err = NULL;
    if (img_registry_endpoints(cfg, &ref, &bases, &err) < 0) {
        crisp_error_free(err);
        return NULL;
    }
    return bases;
}

static void check_scheme(const char *domain, const char *want)
{
    _cleanup_strv_ char **b = endpoints(NULL, domain, "repo");
    CHECK(b && b[0] && !b[1]);
    if (b && b[0])
        CHECK_STR(b[0], want);
}

static void test_endpoints(void)
{
    check_scheme("docker.io", "https://registry-1.docker.io");
    check_scheme("registry.k8s.io", "https://registry.k8s.io");
    check_scheme("127.0.0.1:5000", "http://127.0.0.1:5000");
    check_scheme("127.1.2.3", "http://127.1.2.3");
    check_scheme("localhost", "http://localhost");
    check_scheme("localhost:5000", "http://localhost:5000");
    check_scheme("[::1]:5000", "http://[::1]:5000");
    check_scheme("[::1]", "http://[::1]");
    check_scheme("128.0.0.1:5000", "https://128.0.0.1:5000");
    check_scheme("localhost.example.com", "https://localhost.example.com");
    check_scheme("10.0.0.1:5000", "https://10.0.0.1:5000");

    char *hub_mirrors[] = {"http://127.0.0.1:5001/", "https://mirror.example/prefix", NULL};
    char *no_mirrors[] = {NULL};
    struct config_registry regs[] = {
        {.host = "docker.io", .mirrors = hub_mirrors, .insecure = false},
        {.host = "myreg:5000", .mirrors = no_mirrors, .insecure = true},
    };
    struct crisp_config cfg = {.registries = regs, .n_registries = 2};
    _cleanup_strv_ char **hub = endpoints(&cfg, "docker.io", "library/busybox");
    CHECK(hub && hub[0] && hub[1] && hub[2] && !hub[3]);
    if (hub && hub[0] && hub[1] && hub[2]) {
        CHECK_STR(hub[0], "http://127.0.0.1:5001");
        CHECK_STR(hub[1], "https://mirror.example/prefix");
        CHECK_STR(hub[2], "https://registry-1.docker.io");
        struct img_ref ref = {.domain = "docker.io", .path = "library/busybox", .tag = "1.36"};
        _cleanup_free_ char *u0 = img_registry_url(hub[0], &ref, "manifests", "1.36");
        _cleanup_free_ char *u1 = img_registry_url(hub[1], &ref, "blobs", "sha256:abc");
        _cleanup_free_ char *u2 = img_registry_url(hub[2], &ref, "manifests", "1.36");
        CHECK_STR(u0, "http://127.0.0.1:5001/v2/library/busybox/manifests/1.36");
        CHECK_STR(u1, "https://mirror.example/prefix/v2/library/busybox/blobs/sha256:abc");
        CHECK_STR(u2, "https://registry-1.docker.io/v2/library/busybox/manifests/1.36");
    }
    _cleanup_strv_ char **mine = endpoints(&cfg, "myreg:5000", "team/app");
    CHECK(mine && mine[0] && !mine[1]);
    if (mine && mine[0])
        CHECK_STR(mine[0], "http://myreg:5000");
    _cleanup_strv_ char **other = endpoints(&cfg, "quay.io", "x/y");
    if (other && other[0])
        CHECK_STR(other[0], "https://quay.io");
}

static void test_retry_after(void)
{
    CHECK(img_registry_retry_after("5", 0) == 5);
    CHECK(img_registry_retry_after(" 12 ", 0) == 12);
    CHECK(img_registry_retry_after("0", 0) == 0);
    CHECK(img_registry_retry_after("5x", 0) == -1);
    CHECK(img_registry_retry_after("soon", 0) == -1);
    CHECK(img_registry_retry_after("", 0) == -1);
    time_t t = curl_getdate("Wed, 21 Oct 2015 07:28:00 GMT", NULL);
    CHECK(t > 0);
    CHECK(img_registry_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", t - 7) == 7);
    CHECK(img_registry_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", t + 100) == 0);
    CHECK(img_registry_retry_after("99999999999999999999999", 0) > 10);
}

/* Checks that need no network: a client is made and freed, and bad digests are refused up front. */
static void test_client_offline(void)
{
    struct img_registry_options opts = {.cfg = NULL, .auth_file = NULL, .stall_timeout_s = 5};
    struct img_registry *r = NULL;
    crisp_error_t *err = NULL;
    CHECK(img_registry_new(&opts, &r, &err) == 0 && r);
    struct img_ref ref = {.domain = "127.0.0.1:1", .path = "x", .tag = "latest"};
    CHECK(img_registry_get_blob(r, NULL, &ref, "sha256:../../etc", -1, NULL, -1, &err) == -1);
    CHECK(err && err->status == EINVAL);
    crisp_error_freep(&err);
    char *body = NULL, *ct = NULL;
    size_t len = 0;
    CHECK(img_registry_get_manifest_digest(r, NULL, &ref, "md5:abc", NULL, &body, &len, &ct, &err) == -1);
    CHECK(err && err->status == EINVAL);
    crisp_error_freep(&err);
    img_registry_free(r);
    img_registry_free(NULL);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    test_challenge_bearer();
    test_challenge_several();
    test_challenge_bad();
    test_base64();
    test_credentials_auth();
    test_credentials_file();
    test_token_response();
    test_error_words();
    test_token_cache();
    test_endpoints();
    test_retry_after();
    test_client_offline();
    rmdir(dir);
    return unit_report("test_registry");
}
