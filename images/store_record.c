#define _GNU_SOURCE
#include "images/store_record.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void gen_kv(yajl_gen g, const char *k, const char *v)
{
    gen_str(g, k);
    gen_str(g, v ? v : "");
}

static void gen_strv(yajl_gen g, const char *k, char *const *v)
{
    gen_str(g, k);
    yajl_gen_array_open(g);
    for (; v && *v; v++)
        gen_str(g, *v);
    yajl_gen_array_close(g);
}

static char *gen_finish(yajl_gen g)
{
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    char *out = strndup((const char *)buf, len);
    yajl_gen_free(g);
    return out;
}

char *img_record_to_json(const struct img_record *r)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    yajl_gen_map_open(g);
    gen_kv(g, "id", r->id);
    gen_strv(g, "repo_tags", r->repo_tags);
    gen_strv(g, "repo_digests", r->repo_digests);
    gen_strv(g, "layers", r->chain_ids);
    gen_kv(g, "manifest", r->manifest_digest);
    gen_kv(g, "user", r->user);
    gen_str(g, "size");
    yajl_gen_integer(g, (long long)r->size);
    gen_str(g, "created_at");
    yajl_gen_integer(g, r->created_at);
    gen_str(g, "pinned");
    yajl_gen_bool(g, r->pinned);
    yajl_gen_map_close(g);
    return gen_finish(g);
}

static const char *get_string(yajl_val root, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_string);
    return v ? v->u.string : NULL;
}

static long long get_integer(yajl_val root, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_number);
    return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

static char **get_strv(yajl_val root, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_array);
    size_t n = v ? v->u.array.len : 0;
    char **list = calloc(n + 1, sizeof(char *));
    for (size_t i = 0, j = 0; list && i < n; i++) {
        if (!YAJL_IS_STRING(v->u.array.values[i]))
            continue;
        if (!(list[j++] = strdup(v->u.array.values[i]->u.string))) {
            strv_free(list);
            return NULL;
        }
    }
    return list;
}

static bool copy_digest(char dst[IMG_DIGEST_MAX], const char *src)
{
    if (!src || !img_digest_valid(src))
        return false;
    snprintf(dst, IMG_DIGEST_MAX, "%s", src);
    return true;
}

int img_record_from_json(const char *text, struct img_record **ret, crisp_error_t **err)
{
    char errbuf[128] = "";
    yajl_val root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    if (!root)
        return crisp_error_make(err, EINVAL, "invalid image record: %s", errbuf);
    _cleanup_(img_record_freep) struct img_record *r = calloc(1, sizeof(*r));
    int status = 0;
    if (!r)
        status = ENOMEM;
    else if (!copy_digest(r->id, get_string(root, "id")) ||
             !copy_digest(r->manifest_digest, get_string(root, "manifest")))
        status = EINVAL;
    if (status == 0) {
        r->repo_tags = get_strv(root, "repo_tags");
        r->repo_digests = get_strv(root, "repo_digests");
        r->chain_ids = get_strv(root, "layers");
        r->user = strdup(get_string(root, "user") ? get_string(root, "user") : "");
        r->size = (uint64_t)get_integer(root, "size");
        r->created_at = get_integer(root, "created_at");
        const char *pinned[] = {"pinned", NULL};
        r->pinned = YAJL_IS_TRUE(yajl_tree_get(root, pinned, yajl_t_any));
        if (!r->repo_tags || !r->repo_digests || !r->chain_ids || !r->user)
            status = ENOMEM;
    }
    yajl_tree_free(root);
    if (status)
        return crisp_error_make(err, status, "image record is incomplete or damaged");
    *ret = TAKE_PTR(r);
    return 0;
}

static char **strv_dup(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **d = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; d && i < n; i++)
        if (!(d[i] = strdup(v[i]))) {
            strv_free(d);
            return NULL;
        }
    return d;
}

struct img_record *img_record_dup(const struct img_record *r)
{
    struct img_record *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    *d = *r;
    d->repo_tags = strv_dup(r->repo_tags);
    d->repo_digests = strv_dup(r->repo_digests);
    d->chain_ids = strv_dup(r->chain_ids);
    d->user = strdup(r->user ? r->user : "");
    if (!d->repo_tags || !d->repo_digests || !d->chain_ids || !d->user) {
        img_record_free(d);
        return NULL;
    }
    return d;
}

void img_record_free(struct img_record *r)
{
    if (!r)
        return;
    strv_free(r->repo_tags);
    strv_free(r->repo_digests);
    strv_free(r->chain_ids);
    free(r->user);
    free(r);
}

void img_record_freep(struct img_record **r)
{
    img_record_free(*r);
}

void img_record_list_free(struct img_record **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        img_record_free(list[i]);
    free(list);
}

char *img_layer_info_to_json(const struct img_layer_info *l)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    yajl_gen_map_open(g);
    gen_kv(g, "chain_id", l->chain_id);
    gen_kv(g, "diff_id", l->diff_id);
    gen_str(g, "size");
    yajl_gen_integer(g, (long long)l->size);
    gen_str(g, "inodes");
    yajl_gen_integer(g, (long long)l->inodes);
    yajl_gen_map_close(g);
    return gen_finish(g);
}

int img_layer_info_from_json(const char *text, struct img_layer_info *ret, crisp_error_t **err)
{
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    bool ok = root && copy_digest(ret->chain_id, get_string(root, "chain_id")) &&
              copy_digest(ret->diff_id, get_string(root, "diff_id"));
    if (ok) {
        ret->size = (uint64_t)get_integer(root, "size");
        ret->inodes = (uint64_t)get_integer(root, "inodes");
    }
    yajl_tree_free(root);
    return ok ? 0 : crisp_error_make(err, EINVAL, "layer record is incomplete or damaged");
}
