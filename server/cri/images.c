/* ImageService: PullImage, ImageStatus, ListImages, RemoveImage, ImageFsInfo. */
#define _GNU_SOURCE
#include "server/handlers.h"

#include "api.pb-c.h"
#include "common/cleanup.h"
#include "common/clock.h"
#include "images/manifest.h"
#include "runtime/image_volume.h"
#include "server/daemon.h"
#include "server/metrics_series.h"
#include "server/pb_values.h"
#include "server/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int image_name(const Runtime__V1__ImageSpec *spec, const char **ret, crisp_error_t **err)
{
    if (!spec || !spec->image || spec->image[0] == '\0')
        return crisp_error_make(err, EINVAL, "no image given (ImageSpec.image is empty)");
    *ret = spec->image;
    return 0;
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

int srv_image_pull(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                   crisp_error_t **err)
{
    const Runtime__V1__PullImageRequest *r = (const Runtime__V1__PullImageRequest *)req;
    const char *name = NULL;
    if (image_name(r->image, &name, err) < 0)
        return -1;
    struct img_auth auth = {0};
    if (r->auth) {
        auth = (struct img_auth){nonempty(r->auth->username), nonempty(r->auth->password),
                                 nonempty(r->auth->auth), nonempty(r->auth->identity_token),
                                 nonempty(r->auth->registry_token)};
    }
    char id[IMG_DIGEST_MAX];
    uint64_t bytes = 0;
    int64_t started = clock_monotonic_ns();
    int rc = img_pull(ctx->daemon->puller, name, &auth, id, &bytes, err);
    srv_metrics_pull_observe(rc == 0, bytes, clock_monotonic_ns() - started);
    if (rc < 0)
        return crisp_error_wrap(err, "pull %s", name);
    Runtime__V1__PullImageResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__pull_image_response__init(resp);
    resp->image_ref = arena_strdup(ctx->arena, id);
    *ret_resp = &resp->base;
    return resp->image_ref ? 0 : crisp_error_oom(err);
}

static char **arena_strv(struct arena *a, char *const *v, size_t *ret_n)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = arena_alloc(a, (n + 1) * sizeof(char *));
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = arena_strdup(a, v[i])))
            return NULL;
    *ret_n = n;
    return out;
}

/* Image.uid for a numeric user ("1000" or "1000:1000"), else Image.username. */
static int set_user(struct arena *a, Runtime__V1__Image *img, const char *user)
{
    size_t len = strcspn(user, ":");
    if (len == 0)
        return 0;
    if (strspn(user, "0123456789") >= len) {
        Runtime__V1__Int64Value *uid = arena_alloc(a, sizeof(*uid));
        if (!uid)
            return -1;
        runtime__v1__int64_value__init(uid);
        uid->value = strtoll(user, NULL, 10);
        img->uid = uid;
        return 0;
    }
    img->username = arena_strndup(a, user, len);
    return img->username ? 0 : -1;
}

static Runtime__V1__Image *image_message(struct arena *a, const struct img_record *rec)
{
    Runtime__V1__Image *img = arena_alloc(a, sizeof(*img));
    Runtime__V1__ImageSpec *spec = arena_alloc(a, sizeof(*spec));
    if (!img || !spec)
        return NULL;
    runtime__v1__image__init(img);
    runtime__v1__image_spec__init(spec);
    img->id = arena_strdup(a, rec->id);
    img->repo_tags = arena_strv(a, rec->repo_tags, &img->n_repo_tags);
    img->repo_digests = arena_strv(a, rec->repo_digests, &img->n_repo_digests);
    img->size = rec->size;
    img->pinned = rec->pinned;
    spec->image = img->id;
    img->spec = spec;
    if (!img->id || !img->repo_tags || !img->repo_digests || set_user(a, img, rec->user) < 0)
        return NULL;
    return img;
}

/* Verbose status: the image's config as stored, with its id and top chain ID. */
static int status_info(struct srv_ctx *ctx, const struct img_record *rec,
                       Runtime__V1__ImageStatusResponse *resp, crisp_error_t **err)
{
    _cleanup_free_ char *config = NULL;
    if (img_store_blob_read(ctx->daemon->images, rec->id, IMG_CONFIG_MAX_SIZE, &config, NULL, err) < 0)
        return crisp_error_wrap(err, "read config of %s", rec->id);
    size_t n = 0;
    while (rec->chain_ids[n])
        n++;
    Runtime__V1__ImageStatusResponse__InfoEntry *e = arena_alloc(ctx->arena, sizeof(*e));
    resp->info = arena_alloc(ctx->arena, sizeof(*resp->info));
    if (!e || !resp->info)
        return crisp_error_oom(err);
    runtime__v1__image_status_response__info_entry__init(e);
    e->key = "info";
    e->value = arena_printf(ctx->arena, "{\"id\":\"%s\",\"chainID\":\"%s\",\"imageSpec\":%s}", rec->id,
                            n ? rec->chain_ids[n - 1] : "", config);
    if (!e->value)
        return crisp_error_oom(err);
    resp->info[0] = e;
    resp->n_info = 1;
    return 0;
}

int srv_image_status(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                     crisp_error_t **err)
{
    const Runtime__V1__ImageStatusRequest *r = (const Runtime__V1__ImageStatusRequest *)req;
    const char *name = NULL;
    if (image_name(r->image, &name, err) < 0)
        return -1;
    Runtime__V1__ImageStatusResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__image_status_response__init(resp);
    *ret_resp = &resp->base;
    _cleanup_(img_record_freep) struct img_record *rec = NULL;
    _cleanup_error_ crisp_error_t *lookup_err = NULL;
    if (img_store_lookup(ctx->daemon->images, name, &rec, &lookup_err) < 0) {
        if (lookup_err->status == ENOENT)
            return 0; /* absent is an empty answer, not an error */
        *err = TAKE_PTR(lookup_err);
        return -1;
    }
    if (!(resp->image = image_message(ctx->arena, rec)))
        return crisp_error_oom(err);
    return r->verbose ? status_info(ctx, rec, resp, err) : 0;
}

static int list_one(struct srv_ctx *ctx, const char *name, Runtime__V1__ListImagesResponse *resp,
                    crisp_error_t **err)
{
    _cleanup_(img_record_freep) struct img_record *rec = NULL;
    _cleanup_error_ crisp_error_t *lookup_err = NULL;
    if (img_store_lookup(ctx->daemon->images, name, &rec, &lookup_err) < 0) {
        if (lookup_err->status == ENOENT)
            return 0;
        *err = TAKE_PTR(lookup_err);
        return -1;
    }
    resp->images = arena_alloc(ctx->arena, sizeof(*resp->images));
    if (!resp->images || !(resp->images[0] = image_message(ctx->arena, rec)))
        return crisp_error_oom(err);
    resp->n_images = 1;
    return 0;
}

static int list_all(struct srv_ctx *ctx, Runtime__V1__ListImagesResponse *resp, crisp_error_t **err)
{
    struct img_record **list = NULL;
    size_t n = 0;
    if (img_store_list(ctx->daemon->images, &list, &n, err) < 0)
        return -1;
    resp->images = arena_alloc(ctx->arena, (n + 1) * sizeof(*resp->images));
    int r = resp->images ? 0 : crisp_error_oom(err);
    for (size_t i = 0; r == 0 && i < n; i++)
        if (!(resp->images[i] = image_message(ctx->arena, list[i])))
            r = crisp_error_oom(err);
    resp->n_images = r == 0 ? n : 0;
    img_record_list_free(list, n);
    return r;
}

int srv_image_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                   crisp_error_t **err)
{
    const Runtime__V1__ListImagesRequest *r = (const Runtime__V1__ListImagesRequest *)req;
    Runtime__V1__ListImagesResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__list_images_response__init(resp);
    *ret_resp = &resp->base;
    const char *filter = r->filter && r->filter->image ? nonempty(r->filter->image->image) : NULL;
    return filter ? list_one(ctx, filter, resp, err) : list_all(ctx, resp, err);
}

/* An image an image volume uses stays (FAILED_PRECONDITION): its layers are mounted. The image is
 * removed by id, so a tag that moves meanwhile can't make this remove another image than the one
 * checked. */
static int image_remove(struct srv_ctx *ctx, const char *name, crisp_error_t **err)
{
    _cleanup_(img_record_freep) struct img_record *rec = NULL;
    _cleanup_error_ crisp_error_t *lookup_err = NULL;
    if (img_store_lookup(ctx->daemon->images, name, &rec, &lookup_err) < 0) {
        if (lookup_err->status != ENOENT)
            return crisp_error_make(err, lookup_err->status, "remove image %s: %s", name, lookup_err->msg);
        return 0; /* absent: removed already */
    }
    if (rt_image_remove_begin(ctx->daemon->runtime, rec->id, err) < 0)
        return crisp_error_wrap(err, "remove image %s", name);
    int r = img_store_image_remove(ctx->daemon->images, rec->id, err);
    rt_image_remove_end(ctx->daemon->runtime, rec->id);
    return r < 0 ? crisp_error_wrap(err, "remove image %s", name) : 0;
}

int srv_image_remove(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                     crisp_error_t **err)
{
    const Runtime__V1__RemoveImageRequest *r = (const Runtime__V1__RemoveImageRequest *)req;
    const char *name = NULL;
    if (image_name(r->image, &name, err) < 0 || image_remove(ctx, name, err) < 0)
        return -1;
    Runtime__V1__RemoveImageResponse *resp = arena_alloc(ctx->arena, sizeof(*resp));
    if (!resp)
        return crisp_error_oom(err);
    runtime__v1__remove_image_response__init(resp);
    *ret_resp = &resp->base;
    return 0;
}

/* One filesystem's usage; NULL when out of memory. */
static Runtime__V1__FilesystemUsage *fs_usage(struct arena *a, const char *mountpoint, uint64_t bytes,
                                              uint64_t inodes)
{
    Runtime__V1__FilesystemUsage *fs = arena_alloc(a, sizeof(*fs));
    Runtime__V1__FilesystemIdentifier *id = arena_alloc(a, sizeof(*id));
    if (!fs || !id)
        return NULL;
    runtime__v1__filesystem_usage__init(fs);
    runtime__v1__filesystem_identifier__init(id);
    fs->timestamp = clock_realtime_ns();
    id->mountpoint = arena_strdup(a, mountpoint);
    fs->fs_id = id;
    fs->used_bytes = srv_pb_u64(a, bytes);
    fs->inodes_used = srv_pb_u64(a, inodes);
    return id->mountpoint && fs->used_bytes && fs->inodes_used ? fs : NULL;
}

/* The writable layers, from the stats cache (never walked here): on the image store's filesystem,
 * so kubelet sees one filesystem for images and containers, as it is. */
static int layers_usage(struct srv_ctx *ctx, uint64_t *ret_bytes, uint64_t *ret_inodes, crisp_error_t **err)
{
    struct rt_container_info **list = NULL;
    size_t n = 0;
    if (rt_container_info_list(ctx->daemon->runtime, &list, &n, err) < 0)
        return -1;
    *ret_bytes = *ret_inodes = 0;
    for (size_t i = 0; i < n; i++) {
        struct rt_stats_fs_usage u;
        if (srv_stats_layer_usage(ctx->daemon->stats, list[i]->id, &u)) {
            *ret_bytes += u.used_bytes;
            *ret_inodes += u.inodes;
        }
    }
    rt_container_info_list_free(list, n);
    return 0;
}

int srv_image_fs_info(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                      crisp_error_t **err)
{
    (void)req;
    struct arena *a = ctx->arena;
    struct img_store_usage usage;
    img_store_usage(ctx->daemon->images, &usage);
    uint64_t layer_bytes, layer_inodes;
    if (layers_usage(ctx, &layer_bytes, &layer_inodes, err) < 0)
        return -1;
    Runtime__V1__ImageFsInfoResponse *resp = arena_alloc(a, sizeof(*resp));
    Runtime__V1__FilesystemUsage **images = arena_alloc(a, sizeof(*images));
    Runtime__V1__FilesystemUsage **containers = arena_alloc(a, sizeof(*containers));
    if (!resp || !images || !containers)
        return crisp_error_oom(err);
    runtime__v1__image_fs_info_response__init(resp);
    images[0] = fs_usage(a, usage.mountpoint, usage.bytes, usage.inodes);
    containers[0] = fs_usage(a, usage.mountpoint, layer_bytes, layer_inodes);
    if (!images[0] || !containers[0])
        return crisp_error_oom(err);
    resp->image_filesystems = images;
    resp->n_image_filesystems = 1;
    resp->container_filesystems = containers;
    resp->n_container_filesystems = 1;
    *ret_resp = &resp->base;
    return 0;
}
