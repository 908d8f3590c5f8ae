#define _GNU_SOURCE
#include "images/store.h"

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "common/strv.h"
#include "images/reference.h"
#include "images/store_record.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define RECORD_MAX_SIZE (1024 * 1024)

struct store_layer {
    struct img_layer_info info;
    int holds;
    bool present;
};

struct img_store {
    char *root, *blobs, *layers, *images, *tmp;
    char *mountpoint;
    pthread_rwlock_t lock; /* guards images and layers */
    struct img_record **images_list;
    size_t n_images;
    struct store_layer *layer_list;
    size_t n_layers;
};

static const char *hex_of(const char *digest)
{
    const char *colon = strchr(digest, ':');
    return colon ? colon + 1 : digest;
}

static char *blob_path(const struct img_store *s, const char *digest)
{
    char *p = NULL;
    return asprintf(&p, "%s/sha256/%s", s->blobs, hex_of(digest)) < 0 ? NULL : p;
}

static char *layer_dir(const struct img_store *s, const char *chain_id)
{
    return path_join(s->layers, hex_of(chain_id));
}

static char *image_path(const struct img_store *s, const char *id)
{
    char *p = NULL;
    return asprintf(&p, "%s/%s.json", s->images, hex_of(id)) < 0 ? NULL : p;
}

/* The mount point holding dir: the last ancestor on the same device. */
static char *find_mountpoint(const char *dir)
{
    struct stat st, parent_st;
    char *cur = realpath(dir, NULL);
    if (!cur || stat(cur, &st) < 0)
        return cur;
    while (strcmp(cur, "/") != 0) {
        _cleanup_free_ char *copy = strdup(cur);
        char *parent = copy ? dirname(copy) : NULL;
        if (!parent || stat(parent, &parent_st) < 0 || parent_st.st_dev != st.st_dev)
            break;
        char *next = strdup(parent);
        if (!next)
            break;
        free(cur);
        cur = next;
    }
    return cur;
}

static struct store_layer *layer_find(struct img_store *s, const char *chain_id)
{
    for (size_t i = 0; i < s->n_layers; i++)
        if (strcmp(s->layer_list[i].info.chain_id, chain_id) == 0)
            return &s->layer_list[i];
    return NULL;
}

static struct store_layer *layer_add(struct img_store *s, const char *chain_id)
{
    struct store_layer *l = layer_find(s, chain_id);
    if (l)
        return l;
    struct store_layer *grown = realloc(s->layer_list, (s->n_layers + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    s->layer_list = grown;
    l = &grown[s->n_layers++];
    memset(l, 0, sizeof(*l));
    snprintf(l->info.chain_id, sizeof(l->info.chain_id), "%s", chain_id);
    return l;
}

static int is_entry(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* A layer counts only once its record is in place: the record is written last when it commits. */
static int load_layers(struct img_store *s, crisp_error_t **err)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_list_sorted(s->layers, is_entry, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++) {
        _cleanup_free_ char *dir = path_join(s->layers, *n), *rec = dir ? path_join(dir, "layer.json") : NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_error_ crisp_error_t *rerr = NULL;
        struct img_layer_info info;
        if (!rec)
            return crisp_error_oom(err);
        if (file_read_bounded(rec, RECORD_MAX_SIZE, &text, NULL, &rerr) < 0 ||
            img_layer_info_from_json(text, &info, &rerr) < 0 || strcmp(hex_of(info.chain_id), *n) != 0) {
            dir_remove_all(dir, NULL);
            continue;
        }
        struct store_layer *l = layer_add(s, info.chain_id);
        if (!l)
            return crisp_error_oom(err);
        l->info = info;
        l->present = true;
    }
    return 0;
}

static int is_json(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static int images_append(struct img_store *s, struct img_record *r)
{
    struct img_record **grown = realloc(s->images_list, (s->n_images + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    s->images_list = grown;
    grown[s->n_images++] = r;
    return 0;
}

/* An image whose layers are not all present cannot be used: its record is dropped. */
static bool record_complete(struct img_store *s, const struct img_record *r)
{
    for (char **c = r->chain_ids; *c; c++) {
        struct store_layer *l = layer_find(s, *c);
        if (!l || !l->present)
            return false;
    }
    return true;
}

static int load_images(struct img_store *s, crisp_error_t **err)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_list_sorted(s->images, is_json, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++) {
        _cleanup_free_ char *path = path_join(s->images, *n), *text = NULL;
        _cleanup_error_ crisp_error_t *rerr = NULL;
        struct img_record *r = NULL;
        if (!path)
            return crisp_error_oom(err);
        if (file_read_bounded(path, RECORD_MAX_SIZE, &text, NULL, &rerr) < 0 ||
            img_record_from_json(text, &r, &rerr) < 0 || !record_complete(s, r)) {
            img_record_free(r);
            unlink(path);
            continue;
        }
        if (images_append(s, r) < 0) {
            img_record_free(r);
            return crisp_error_oom(err);
        }
    }
    return 0;
}

static int make_dirs(struct img_store *s, crisp_error_t **err)
{
    _cleanup_free_ char *sha = path_join(s->blobs, "sha256");
    if (!sha)
        return crisp_error_oom(err);
    /* Leftovers of pulls a crash interrupted live only in tmp/. */
    if (dir_remove_all(s->tmp, err) < 0)
        return -1;
    const char *dirs[] = {s->root, s->blobs, sha, s->layers, s->images, s->tmp};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        if (dir_create_all(dirs[i], 0700, err) < 0)
            return -1;
    return 0;
}

static int collect_orphans(struct img_store *s, crisp_error_t **err);

int img_store_open(const char *root, struct img_store **ret, crisp_error_t **err)
{
    struct img_store *s = calloc(1, sizeof(*s));
    if (!s)
        return crisp_error_oom(err);
    pthread_rwlock_init(&s->lock, NULL);
    s->root = strdup(root);
    s->blobs = path_join(root, "blobs");
    s->layers = path_join(root, "layers");
    s->images = path_join(root, "images");
    s->tmp = path_join(root, "tmp");
    if (!s->root || !s->blobs || !s->layers || !s->images || !s->tmp) {
        img_store_free(s);
        return crisp_error_oom(err);
    }
    if (make_dirs(s, err) < 0 || load_layers(s, err) < 0 || load_images(s, err) < 0 ||
        collect_orphans(s, err) < 0) {
        img_store_free(s);
        return crisp_error_wrap(err, "image store %s", root);
    }
    s->mountpoint = find_mountpoint(root);
    *ret = s;
    return 0;
}

void img_store_free(struct img_store *s)
{
    if (!s)
        return;
    img_record_list_free(s->images_list, s->n_images);
    free(s->layer_list);
    free(s->root);
    free(s->blobs);
    free(s->layers);
    free(s->images);
    free(s->tmp);
    free(s->mountpoint);
    pthread_rwlock_destroy(&s->lock);
    free(s);
}

static bool is_hex(const char *s, size_t min)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n >= min && s[n] == '\0';
}

/* Index of the image name refers to, or -1. Called with the lock held. */
static ssize_t find_image(struct img_store *s, const char *name)
{
    const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
    ssize_t by_prefix = -1;
    size_t prefix_hits = 0;
    for (size_t i = 0; i < s->n_images; i++) {
        const struct img_record *r = s->images_list[i];
        if (strcmp(hex_of(r->id), hex) == 0 || strv_contains(r->repo_tags, name) ||
            strv_contains(r->repo_digests, name))
            return (ssize_t)i;
        if (is_hex(hex, 6) && strncmp(hex_of(r->id), hex, strlen(hex)) == 0) {
            by_prefix = (ssize_t)i;
            prefix_hits++;
        }
    }
    return prefix_hits == 1 ? by_prefix : -1;
}

/* Finds by the name as given, else as a normalised reference ("busybox" -> docker.io/...:latest). */
static ssize_t find_image_normalised(struct img_store *s, const char *name)
{
    ssize_t i = find_image(s, name);
    if (i >= 0)
        return i;
    _cleanup_(img_ref_freep) struct img_ref *ref = NULL;
    _cleanup_error_ crisp_error_t *perr = NULL;
    if (img_ref_parse(name, &ref, &perr) < 0)
        return -1;
    _cleanup_free_ char *full = ref->digest ? img_ref_digested(ref, ref->digest) : img_ref_tagged(ref);
    return full ? find_image(s, full) : -1;
}

int img_store_lookup(struct img_store *s, const char *name, struct img_record **ret, crisp_error_t **err)
{
    pthread_rwlock_rdlock(&s->lock);
    ssize_t i = find_image_normalised(s, name);
    struct img_record *copy = i >= 0 ? img_record_dup(s->images_list[i]) : NULL;
    pthread_rwlock_unlock(&s->lock);
    if (i < 0)
        return crisp_error_make(err, ENOENT, "image \"%s\" not found", name);
    if (!copy)
        return crisp_error_oom(err);
    *ret = copy;
    return 0;
}

/* Of digests ("<repository>@sha256:..."), the one of repository, else the first. */
static const char *repo_digest_pick(char *const *digests, const char *repository)
{
    size_t len = repository ? strlen(repository) : 0;
    for (char *const *d = digests; len && *d; d++)
        if (strncmp(*d, repository, len) == 0 && (*d)[len] == '@')
            return *d;
    return digests ? digests[0] : NULL;
}

char *img_store_repo_digest(struct img_store *s, const char *id, const char *name)
{
    _cleanup_(img_ref_freep) struct img_ref *ref = NULL;
    _cleanup_error_ crisp_error_t *perr = NULL;
    _cleanup_free_ char *repository = name && img_ref_parse(name, &ref, &perr) == 0 ? img_ref_name(ref)
                                                                                    : NULL;
    pthread_rwlock_rdlock(&s->lock);
    ssize_t i = find_image(s, id);
    const char *digest = i >= 0 ? repo_digest_pick(s->images_list[i]->repo_digests, repository) : NULL;
    char *copy = digest ? strdup(digest) : NULL;
    pthread_rwlock_unlock(&s->lock);
    return copy;
}

int img_store_list(struct img_store *s, struct img_record ***ret_list, size_t *ret_n, crisp_error_t **err)
{
    pthread_rwlock_rdlock(&s->lock);
    size_t n = s->n_images;
    struct img_record **list = calloc(n + 1, sizeof(*list));
    bool ok = list != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (list[i] = img_record_dup(s->images_list[i])) != NULL;
    pthread_rwlock_unlock(&s->lock);
    if (!ok) {
        img_record_list_free(list, n);
        return crisp_error_oom(err);
    }
    *ret_list = list;
    *ret_n = n;
    return 0;
}

int img_store_tmp_file(struct img_store *s, char **ret_path, int *ret_fd, crisp_error_t **err)
{
    _cleanup_free_ char *path = path_join(s->tmp, "blob-XXXXXX");
    if (!path)
        return crisp_error_oom(err);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return crisp_error_errno(err, "create %s", path);
    *ret_path = TAKE_PTR(path);
    *ret_fd = fd;
    return 0;
}

int img_store_tmp_dir(struct img_store *s, char **ret_path, crisp_error_t **err)
{
    _cleanup_free_ char *path = path_join(s->tmp, "layer-XXXXXX");
    if (!path)
        return crisp_error_oom(err);
    if (!mkdtemp(path))
        return crisp_error_errno(err, "create %s", path);
    *ret_path = TAKE_PTR(path);
    return 0;
}

bool img_store_layer_hold(struct img_store *s, const char *chain_id)
{
    pthread_rwlock_wrlock(&s->lock);
    struct store_layer *l = layer_add(s, chain_id);
    bool present = l && l->present;
    if (l)
        l->holds++;
    pthread_rwlock_unlock(&s->lock);
    return present;
}

void img_store_layer_release(struct img_store *s, const char *chain_id)
{
    pthread_rwlock_wrlock(&s->lock);
    struct store_layer *l = layer_find(s, chain_id);
    if (l && l->holds > 0)
        l->holds--;
    pthread_rwlock_unlock(&s->lock);
}

/* tmp_dir becomes <layer>/diff, and <layer>/layer.json is written last: a layer without its record is
 * incomplete and removed at the next open. */
static int layer_install(struct img_store *s, const char *tmp_dir, const struct img_layer_info *info,
                         crisp_error_t **err)
{
    _cleanup_free_ char *dir = layer_dir(s, info->chain_id);
    _cleanup_free_ char *diff = dir ? path_join(dir, "diff") : NULL,
                        *rec = dir ? path_join(dir, "layer.json") : NULL;
    _cleanup_free_ char *json = img_layer_info_to_json(info);
    if (!diff || !rec || !json)
        return crisp_error_oom(err);
    if (dir_remove_all(dir, err) < 0 || dir_create_all(dir, 0700, err) < 0)
        return -1;
    if (chmod(tmp_dir, 0755) < 0 || rename(tmp_dir, diff) < 0)
        return crisp_error_errno(err, "move layer into %s", diff);
    return file_write_atomic(rec, json, strlen(json), 0600, err);
}

int img_store_layer_commit(struct img_store *s, const char *tmp_dir, const struct img_layer_info *info,
                           crisp_error_t **err)
{
    pthread_rwlock_wrlock(&s->lock);
    struct store_layer *l = layer_add(s, info->chain_id);
    int r = 0;
    if (!l)
        r = crisp_error_oom(err);
    else if (!l->present && (r = layer_install(s, tmp_dir, info, err)) == 0) {
        l->info = *info;
        l->present = true;
    }
    pthread_rwlock_unlock(&s->lock);
    dir_remove_all(tmp_dir, NULL); /* gone already when it was moved into place */
    return r;
}

char *img_store_layer_path(struct img_store *s, const char *chain_id)
{
    _cleanup_free_ char *dir = layer_dir(s, chain_id);
    return dir ? path_join(dir, "diff") : NULL;
}

int img_store_blob_put(struct img_store *s, const char *digest, const void *data, size_t len,
                       crisp_error_t **err)
{
    _cleanup_free_ char *path = blob_path(s, digest);
    if (!path)
        return crisp_error_oom(err);
    return file_write_atomic(path, data, len, 0600, err);
}

int img_store_blob_read(struct img_store *s, const char *digest, size_t max, char **ret_data, size_t *ret_len,
                        crisp_error_t **err)
{
    _cleanup_free_ char *path = blob_path(s, digest);
    if (!path)
        return crisp_error_oom(err);
    return file_read_bounded(path, max, ret_data, ret_len, err);
}

static int persist_image(struct img_store *s, const struct img_record *r, crisp_error_t **err)
{
    _cleanup_free_ char *path = image_path(s, r->id), *json = img_record_to_json(r);
    if (!path || !json)
        return crisp_error_oom(err);
    return file_write_atomic(path, json, strlen(json), 0600, err);
}

/* A tag names one image: taking it for rec means taking it from every other image. */
static int take_tags(struct img_store *s, const struct img_record *rec, crisp_error_t **err)
{
    for (size_t i = 0; i < s->n_images; i++) {
        struct img_record *other = s->images_list[i];
        bool changed = false;
        for (char **t = rec->repo_tags; *t; t++)
            if (strcmp(other->id, rec->id) != 0 && strv_contains(other->repo_tags, *t)) {
                strv_remove(other->repo_tags, *t);
                changed = true;
            }
        if (changed && persist_image(s, other, err) < 0)
            return -1;
    }
    return 0;
}

static int merge_into(struct img_record *dst, const struct img_record *src)
{
    for (char **t = src->repo_tags; *t; t++)
        if (strv_add(&dst->repo_tags, *t) < 0)
            return -1;
    for (char **d = src->repo_digests; *d; d++)
        if (strv_add(&dst->repo_digests, *d) < 0)
            return -1;
    return 0;
}

int img_store_image_commit(struct img_store *s, const struct img_record *rec, crisp_error_t **err)
{
    pthread_rwlock_wrlock(&s->lock);
    int r = take_tags(s, rec, err);
    ssize_t i = find_image(s, rec->id);
    struct img_record *target = i >= 0 ? s->images_list[i] : img_record_dup(rec);
    if (r == 0 && !target)
        r = crisp_error_oom(err);
    if (r == 0 && i >= 0 && merge_into(target, rec) < 0)
        r = crisp_error_oom(err);
    if (r == 0 && i < 0 && !target->created_at)
        target->created_at = clock_realtime_ns();
    if (r == 0)
        r = persist_image(s, target, err);
    if (r == 0 && i < 0 && images_append(s, target) < 0)
        r = crisp_error_oom(err);
    if (r < 0 && i < 0)
        img_record_free(target);
    pthread_rwlock_unlock(&s->lock);
    return r;
}

static bool layer_referenced(struct img_store *s, const char *chain_id)
{
    for (size_t i = 0; i < s->n_images; i++)
        if (strv_contains(s->images_list[i]->chain_ids, chain_id))
            return true;
    return false;
}

/* Moves a layer dir into tmp/ so the slow recursive delete can happen without the lock. */
static char *layer_detach(struct img_store *s, const char *chain_id)
{
    _cleanup_free_ char *dir = layer_dir(s, chain_id), *doomed = path_join(s->tmp, "gc-XXXXXX");
    if (!dir || !doomed || !mkdtemp(doomed))
        return NULL;
    _cleanup_free_ char *dest = path_join(doomed, "layer");
    if (!dest || (rename(dir, dest) < 0 && errno != ENOENT)) {
        rmdir(doomed);
        return NULL;
    }
    return TAKE_PTR(doomed);
}

/* Drops layers no image references and no pull holds; returns the dirs to delete once unlocked.
 * Called with the write lock held. */
static char **collect_layers(struct img_store *s)
{
    char **doomed = calloc(s->n_layers + 1, sizeof(char *));
    size_t j = 0, d = 0;
    for (size_t i = 0; doomed && i < s->n_layers; i++) {
        struct store_layer *l = &s->layer_list[i];
        if (l->holds == 0 && !layer_referenced(s, l->info.chain_id) &&
            (doomed[d] = layer_detach(s, l->info.chain_id))) {
            d++;
            continue;
        }
        s->layer_list[j++] = *l;
    }
    if (doomed)
        s->n_layers = j;
    return doomed;
}

static bool blob_referenced(struct img_store *s, const char *hex)
{
    for (size_t i = 0; i < s->n_images; i++)
        if (strcmp(hex_of(s->images_list[i]->id), hex) == 0 ||
            strcmp(hex_of(s->images_list[i]->manifest_digest), hex) == 0)
            return true;
    return false;
}

static int sweep_blobs(struct img_store *s, crisp_error_t **err)
{
    _cleanup_free_ char *sha = path_join(s->blobs, "sha256");
    _cleanup_strv_ char **names = NULL;
    if (!sha)
        return crisp_error_oom(err);
    if (dir_list_sorted(sha, is_entry, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++) {
        if (blob_referenced(s, *n))
            continue;
        _cleanup_free_ char *path = path_join(sha, *n);
        if (!path)
            return crisp_error_oom(err);
        if (unlink(path) < 0 && errno != ENOENT)
            return crisp_error_errno(err, "remove unreferenced blob %s", path);
    }
    return 0;
}

/* A crash after a pull committed layers but before its image record, or in the middle of a
 * removal, leaves layers and blobs no image refers to. Nothing can reach them any more (kubelet sees
 * images only), so they go when the store opens, before any pull can hold them. */
static int collect_orphans(struct img_store *s, crisp_error_t **err)
{
    _cleanup_strv_ char **doomed = collect_layers(s);
    if (!doomed)
        return crisp_error_oom(err);
    for (char **d = doomed; *d; d++)
        if (dir_remove_all(*d, err) < 0)
            return crisp_error_wrap(err, "remove unreferenced layer");
    return sweep_blobs(s, err);
}

static void remove_image_files(struct img_store *s, const struct img_record *r)
{
    _cleanup_free_ char *path = image_path(s, r->id);
    _cleanup_free_ char *config = blob_path(s, r->id), *manifest = blob_path(s, r->manifest_digest);
    if (path)
        unlink(path);
    if (config)
        unlink(config);
    if (manifest)
        unlink(manifest);
}

int img_store_image_remove(struct img_store *s, const char *name, crisp_error_t **err)
{
    _cleanup_strv_ char **doomed = NULL;
    pthread_rwlock_wrlock(&s->lock);
    ssize_t i = find_image_normalised(s, name);
    if (i >= 0) {
        struct img_record *r = s->images_list[i];
        remove_image_files(s, r);
        crisp_crash_point("image.remove.after_record");
        s->images_list[i] = s->images_list[--s->n_images];
        img_record_free(r);
        doomed = collect_layers(s);
    }
    pthread_rwlock_unlock(&s->lock);
    for (char **d = doomed; d && *d; d++)
        if (dir_remove_all(*d, err) < 0)
            return crisp_error_wrap(err, "remove unreferenced layer");
    return 0;
}

void img_store_usage(struct img_store *s, struct img_store_usage *ret)
{
    memset(ret, 0, sizeof(*ret));
    pthread_rwlock_rdlock(&s->lock);
    for (size_t i = 0; i < s->n_layers; i++)
        if (s->layer_list[i].present) {
            ret->bytes += s->layer_list[i].info.size;
            ret->inodes += s->layer_list[i].info.inodes;
        }
    pthread_rwlock_unlock(&s->lock);
    ret->mountpoint = s->mountpoint ? s->mountpoint : s->root;
}
