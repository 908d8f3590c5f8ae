/* images/registry_auth's encoders, now OpenSSL's base64 and libcurl's percent-encoding: RFC 4648's
 * test vectors, every byte value, and the forms the registry code relies on. */
#include "common/cleanup.h"
#include "images/registry_auth.h"
#include "unit.h"

#include <stdlib.h>

static void test_base64_vectors(void)
{
    static const char *const vectors[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        _cleanup_free_ char *e = img_base64_encode(vectors[i][0], strlen(vectors[i][0]));
        CHECK_STR(e, vectors[i][1]);
    }
    /* Binary input, with NULs and the two characters that differ from the URL alphabet. */
    static const unsigned char bin[] = {0x00, 0xfb, 0xff, 0xfe, 0x00, 0x3e, 0x3f};
    _cleanup_free_ char *b = img_base64_encode(bin, sizeof(bin));
    CHECK_STR(b, "APv//gA+Pw==");
}

/* Whatever is encoded decodes back, for every length around a block. */
static void test_base64_round_trip(void)
{
    unsigned char data[256];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= sizeof(data); len++) {
        _cleanup_free_ char *e = img_base64_encode(data, len);
        char *d = NULL;
        size_t n = 0;
        crisp_error_t *err = NULL;
        CHECK(e && strlen(e) == (len + 2) / 3 * 4);
        CHECK(e && img_base64_decode(e, &d, &n, &err) == 0 && n == len && memcmp(d, data, len) == 0);
        free(d);
        crisp_error_free(err);
    }
}

static void test_url_escape(void)
{
    /* Unreserved characters stay; every other byte, high ones too, is %XX in upper case. */
    for (int c = 1; c < 256; c++) {
        char in[2] = {(char)c, 0}, want[4];
        bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                          c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved)
            snprintf(want, sizeof(want), "%c", c);
        else
            snprintf(want, sizeof(want), "%%%02X", c);
        _cleanup_free_ char *e = img_url_escape(in);
        CHECK_STR(e, want);
    }
    _cleanup_free_ char *empty = img_url_escape(""), *scope = img_url_escape("repository:ns/app:pull,push"),
                        *utf8 = img_url_escape("caf\xc3\xa9 +%");
    CHECK_STR(empty, "");
    CHECK_STR(scope, "repository%3Ans%2Fapp%3Apull%2Cpush");
    CHECK_STR(utf8, "caf%C3%A9%20%2B%25");
}

int main(void)
{
    test_base64_vectors();
    test_base64_round_trip();
    test_url_escape();
    return unit_report("test_registry_encoding");
}
