#define _GNU_SOURCE
#include "digest.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHA256_PREFIX "sha256:"
#define SHA256_PREFIX_LEN 7
#define SHA256_HEX_LEN 64

struct img_hasher {
    EVP_MD_CTX *ctx;
    /* A failed EVP call (only out of memory, in practice) poisons the result rather than returning a
     * plausible digest: img_hasher_final then writes "", which matches nothing. */
    bool failed;
};

bool img_digest_valid(const char *digest)
{
    if (!digest || strncmp(digest, SHA256_PREFIX, SHA256_PREFIX_LEN) != 0)
        return false;
    const char *hex = digest + SHA256_PREFIX_LEN;
    for (size_t i = 0; i < SHA256_HEX_LEN; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return false;
    return hex[SHA256_HEX_LEN] == '\0';
}

static void digest_format(const unsigned char *md, unsigned int md_len, char out[IMG_DIGEST_MAX])
{
    static const char hexdigits[] = "0123456789abcdef";
    if (md_len != SHA256_HEX_LEN / 2) {
        out[0] = '\0';
        return;
    }
    memcpy(out, SHA256_PREFIX, SHA256_PREFIX_LEN);
    char *p = out + SHA256_PREFIX_LEN;
    for (unsigned int i = 0; i < md_len; i++) {
        *p++ = hexdigits[md[i] >> 4];
        *p++ = hexdigits[md[i] & 0xf];
    }
    *p = '\0';
}

struct img_hasher *img_hasher_new(void)
{
    struct img_hasher *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        img_hasher_free(h);
        return NULL;
    }
    return h;
}

void img_hasher_update(struct img_hasher *h, const void *data, size_t len)
{
    if (h->failed || len == 0)
        return;
    if (EVP_DigestUpdate(h->ctx, data, len) != 1)
        h->failed = true;
}

void img_hasher_final(struct img_hasher *h, char out[IMG_DIGEST_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (h->failed || EVP_DigestFinal_ex(h->ctx, md, &md_len) != 1) {
        h->failed = true;
        out[0] = '\0';
        return;
    }
    /* EVP forbids updating a finalised context; make any later use a no-op instead. */
    h->failed = true;
    digest_format(md, md_len, out);
}

void img_hasher_free(struct img_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void img_digest_buffer(const void *data, size_t len, char out[IMG_DIGEST_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1) {
        out[0] = '\0';
        return;
    }
    digest_format(md, md_len, out);
}

void img_chain_id(const char *parent_chain_id, const char *diff_id, char out[IMG_DIGEST_MAX])
{
    if (!parent_chain_id || !*parent_chain_id) {
        snprintf(out, IMG_DIGEST_MAX, "%s", diff_id);
        return;
    }
    /* OCI image spec: ChainID(Ln) = Digest(ChainID(Ln-1) + " " + DiffID(Ln)), prefixes included. */
    char joined[2 * IMG_DIGEST_MAX];
    int n = snprintf(joined, sizeof(joined), "%s %s", parent_chain_id, diff_id);
    if (n < 0 || (size_t)n >= sizeof(joined)) {
        out[0] = '\0';
        return;
    }
    img_digest_buffer(joined, (size_t)n, out);
}
