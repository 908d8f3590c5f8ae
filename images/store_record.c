#define _GNU_SOURCE
#include "images/store_record.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/strv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

char *img_record_to_json(const struct img_record *r)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    yajl_gen_map_open(g);
    json_gen_kv_str(g, "id", r->id);
    json_gen_kv_strv(g, "repo_tags", r->repo_tags);
    json_gen_kv_strv(g, "repo_digests", r->repo_digests);
    json_gen_kv_strv(g, "layers", r->chain_ids);
    json_gen_kv_str(g, "manifest", r->manifest_digest);
    json_gen_kv_str(g, "user", r->user);
    json_gen_str(g, "size");
    yajl_gen_integer(g, (long long)r->size);
    json_gen_str(g, "created_at");
    yajl_gen_integer(g, r->created_at);
    json_gen_str(g, "pinned");
    yajl_gen_bool(g, r->pinned);
    yajl_gen_map_close(g);
    return json_gen_take(g);
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
    else if (!copy_digest(r->id, json_get_str(root, "id")) ||
             !copy_digest(r->manifest_digest, json_get_str(root, "manifest")))
        status = EINVAL;
    if (status == 0) {
        r->repo_tags = json_get_strv(root, "repo_tags");
        r->repo_digests = json_get_strv(root, "repo_digests");
        r->chain_ids = json_get_strv(root, "layers");
        r->user = strdup(json_get_str(root, "user") ? json_get_str(root, "user") : "");
        r->size = (uint64_t)json_get_int(root, "size");
        r->created_at = json_get_int(root, "created_at");
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

struct img_record *img_record_dup(const struct img_record *r)
{
    struct img_record *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    *d = *r;
    d->repo_tags = strv_copy(r->repo_tags);
    d->repo_digests = strv_copy(r->repo_digests);
    d->chain_ids = strv_copy(r->chain_ids);
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
    json_gen_kv_str(g, "chain_id", l->chain_id);
    json_gen_kv_str(g, "diff_id", l->diff_id);
    json_gen_str(g, "size");
    yajl_gen_integer(g, (long long)l->size);
    json_gen_str(g, "inodes");
    yajl_gen_integer(g, (long long)l->inodes);
    yajl_gen_map_close(g);
    return json_gen_take(g);
}

int img_layer_info_from_json(const char *text, struct img_layer_info *ret, crisp_error_t **err)
{
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    bool ok = root && copy_digest(ret->chain_id, json_get_str(root, "chain_id")) &&
              copy_digest(ret->diff_id, json_get_str(root, "diff_id"));
    if (ok) {
        ret->size = (uint64_t)json_get_int(root, "size");
        ret->inodes = (uint64_t)json_get_int(root, "inodes");
    }
    yajl_tree_free(root);
    return ok ? 0 : crisp_error_make(err, EINVAL, "layer record is incomplete or damaged");
}
