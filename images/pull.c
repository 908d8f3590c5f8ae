#define _GNU_SOURCE
#include "images/pull.h"

#include "common/cancel.h"
#include "common/cleanup.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "common/singleflight.h"
#include "images/manifest.h"
#include "images/reference.h"
#include "images/unpack.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct img_puller {
    struct img_store *store;
    struct img_registry *registry;
    int max_downloads;
    struct flight_group images; /* keyed by reference and credentials */
    struct flight_group layers; /* keyed by chain ID */
};

/* What one pull works on; shared with its layer workers. */
struct pull_job {
    struct img_puller *p;
    struct crisp_cancel *cancel; /* the shared run's: fires once every caller of the pull is gone */
    const struct img_ref *ref;
    const struct img_auth *auth;
    char top_digest[IMG_DIGEST_MAX]; /* of the tag's document: index or manifest */
    char manifest_digest[IMG_DIGEST_MAX];
    char *manifest_body;
    size_t manifest_len;
    struct img_manifest *manifest;
    struct img_config *config;
    char **chain_ids; /* one per layer */
    bool *held;
    char id[IMG_DIGEST_MAX];
    /* layer workers */
    _Atomic size_t next_layer;
    _Atomic uint64_t bytes; /* fetched from registries, for the caller's metrics */
    pthread_mutex_t err_lock;
    crisp_error_t *layer_err;
};

struct layer_task {
    struct pull_job *job;
    size_t index;
};

int img_puller_new(struct img_store *store, struct img_registry *registry, int max_downloads,
                   struct img_puller **ret, crisp_error_t **err)
{
    struct img_puller *p = calloc(1, sizeof(*p));
    if (!p)
        return crisp_error_oom(err);
    p->store = store;
    p->registry = registry;
    p->max_downloads = max_downloads > 0 ? max_downloads : 1;
    pthread_mutex_init(&p->images.lock, NULL);
    pthread_mutex_init(&p->layers.lock, NULL);
    *ret = p;
    return 0;
}

void img_puller_free(struct img_puller *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->images.lock);
    pthread_mutex_destroy(&p->layers.lock);
    free(p);
}

/* The manifest for this host: the tag's document itself, or the entry an index names. */
static int resolve_manifest(struct pull_job *job, crisp_error_t **err)
{
    _cleanup_free_ char *body = NULL, *ctype = NULL;
    size_t len = 0;
    if (img_registry_get_manifest(job->p->registry, job->cancel, job->ref, job->auth, &body, &len, &ctype,
                                  job->top_digest, err) < 0)
        return -1;
    enum img_doc_kind kind;
    if (img_doc_kind(ctype, body, len, &kind, err) < 0)
        return -1;
    if (kind == IMG_DOC_MANIFEST) {
        memcpy(job->manifest_digest, job->top_digest, IMG_DIGEST_MAX);
        job->manifest_body = TAKE_PTR(body);
        job->manifest_len = len;
        return 0;
    }
    struct img_platform platform;
    struct img_descriptor chosen = {0};
    img_platform_host(&platform);
    int r = img_index_select(body, len, &platform, &chosen, err);
    free(chosen.media_type);
    if (r < 0)
        return -1;
    _cleanup_free_ char *inner_type = NULL;
    memcpy(job->manifest_digest, chosen.digest, IMG_DIGEST_MAX);
    if (img_registry_get_manifest_digest(job->p->registry, job->cancel, job->ref, chosen.digest, job->auth,
                                         &job->manifest_body, &job->manifest_len, &inner_type, err) < 0)
        return -1;
    if (img_doc_kind(inner_type, job->manifest_body, job->manifest_len, &kind, err) < 0)
        return -1;
    if (kind != IMG_DOC_MANIFEST)
        return crisp_error_make(err, EINVAL, "index entry %s is not an image manifest", chosen.digest);
    return 0;
}

/* Downloads a blob into a private temp file; returns its fd positioned at the start. */
static int fetch_blob(struct pull_job *job, struct crisp_cancel *cancel, const struct img_descriptor *d,
                      char **ret_path, int *ret_fd, crisp_error_t **err)
{
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    if (img_store_tmp_file(job->p->store, &path, &fd, err) < 0)
        return -1;
    if (img_registry_get_blob(job->p->registry, cancel, job->ref, d->digest, d->size, job->auth, fd, err) <
            0 ||
        lseek(fd, 0, SEEK_SET) < 0) {
        unlink(path);
        return err && *err ? -1 : crisp_error_errno(err, "rewind %s", path);
    }
    job->bytes += (uint64_t)d->size;
    *ret_path = TAKE_PTR(path);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int fetch_config(struct pull_job *job, char **ret_body, size_t *ret_len, crisp_error_t **err)
{
    const struct img_descriptor *d = &job->manifest->config;
    if (d->size > IMG_CONFIG_MAX_SIZE)
        return crisp_error_make(err, EFBIG, "image config of %lld bytes is over the %d byte limit",
                                (long long)d->size, IMG_CONFIG_MAX_SIZE);
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    if (fetch_blob(job, job->cancel, d, &path, &fd, err) < 0)
        return -1;
    int r = file_read_bounded(path, IMG_CONFIG_MAX_SIZE, ret_body, ret_len, err);
    unlink(path);
    if (r < 0)
        return -1;
    return img_config_parse(*ret_body, *ret_len, &job->config, err);
}

static int compute_chain_ids(struct pull_job *job, crisp_error_t **err)
{
    size_t n = job->manifest->n_layers;
    if (job->config->n_diff_ids != n)
        return crisp_error_make(err, EINVAL, "image config lists %zu layers but the manifest has %zu",
                                job->config->n_diff_ids, n);
    job->chain_ids = calloc(n + 1, sizeof(char *));
    job->held = calloc(n + 1, sizeof(bool));
    if (!job->chain_ids || !job->held)
        return crisp_error_oom(err);
    for (size_t i = 0; i < n; i++) {
        if (!(job->chain_ids[i] = malloc(IMG_DIGEST_MAX)))
            return crisp_error_oom(err);
        img_chain_id(i ? job->chain_ids[i - 1] : NULL, job->config->diff_ids[i], job->chain_ids[i]);
    }
    return 0;
}

static int unpack_into_store(struct pull_job *job, struct crisp_cancel *cancel, size_t i, int fd,
                             crisp_error_t **err)
{
    _cleanup_free_ char *dir = NULL;
    if (img_store_tmp_dir(job->p->store, &dir, err) < 0)
        return -1;
    struct img_unpack_result res;
    const struct img_unpack_limits limits = {img_registry_max_layer_size(job->p->registry), cancel};
    if (img_layer_unpack(fd, dir, job->config->diff_ids[i], &limits, &res, err) < 0) {
        dir_remove_all(dir, NULL);
        return crisp_error_wrap(err, "layer %s", job->manifest->layers[i].digest);
    }
    struct img_layer_info info = {.size = res.size, .inodes = res.entries};
    snprintf(info.chain_id, sizeof(info.chain_id), "%s", job->chain_ids[i]);
    snprintf(info.diff_id, sizeof(info.diff_id), "%s", job->config->diff_ids[i]);
    return img_store_layer_commit(job->p->store, dir, &info, err);
}

/* One layer's download and unpack; runs once per chain ID however many pulls want it, and is
 * cancelled when all of them are. */
static int fetch_layer(void *arg, struct crisp_cancel *cancel, crisp_error_t **err)
{
    struct layer_task *t = arg;
    struct pull_job *job = t->job;
    const struct img_descriptor *d = &job->manifest->layers[t->index];
    enum img_compression compression;
    if (img_layer_compression(d->media_type, &compression, err) < 0)
        return -1;
    _cleanup_free_ char *path = NULL;
    _cleanup_close_ int fd = -1;
    if (fetch_blob(job, cancel, d, &path, &fd, err) < 0)
        return -1;
    int r = unpack_into_store(job, cancel, t->index, fd, err);
    unlink(path);
    if (r == 0)
        crisp_crash_point("pull.after_layer");
    return r;
}

static void record_layer_error(struct pull_job *job, crisp_error_t *e)
{
    pthread_mutex_lock(&job->err_lock);
    if (!job->layer_err)
        job->layer_err = e;
    else
        crisp_error_free(e);
    pthread_mutex_unlock(&job->err_lock);
}

static bool layer_failed(struct pull_job *job)
{
    pthread_mutex_lock(&job->err_lock);
    bool failed = job->layer_err != NULL;
    pthread_mutex_unlock(&job->err_lock);
    return failed;
}

/* Takes missing layers off the job until none is left or one failed. */
static void *layer_worker(void *arg)
{
    struct pull_job *job = arg;
    size_t n = job->manifest->n_layers;
    for (size_t i; (i = atomic_fetch_add(&job->next_layer, 1)) < n && !layer_failed(job) &&
                   !crisp_cancel_fired(job->cancel);) {
        if (job->held[i])
            continue;
        struct layer_task t = {job, i};
        crisp_error_t *e = NULL;
        if (flight_do(&job->p->layers, job->chain_ids[i], fetch_layer, &t, job->cancel, &e) < 0)
            record_layer_error(job, e);
        else
            crisp_error_free(e);
    }
    return NULL;
}

/* Holds every layer (present ones are then safe from collection) and fetches the missing ones. */
static int fetch_layers(struct pull_job *job, crisp_error_t **err)
{
    size_t n = job->manifest->n_layers, missing = 0;
    for (size_t i = 0; i < n; i++) {
        bool present = img_store_layer_hold(job->p->store, job->chain_ids[i]);
        job->held[i] = present;
        missing += !present;
    }
    size_t workers = missing < (size_t)job->p->max_downloads ? missing : (size_t)job->p->max_downloads;
    pthread_t threads[16];
    size_t started = 0;
    for (; started < workers && started < ARRAY_SIZE(threads); started++)
        if (pthread_create(&threads[started], NULL, layer_worker, job) != 0)
            break;
    if (missing && started == 0)
        layer_worker(job);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (job->layer_err) {
        *err = TAKE_PTR(job->layer_err);
        return -1;
    }
    /* The workers stop taking layers once cancelled: some may be missing. */
    if (crisp_cancel_fired(job->cancel))
        return crisp_cancel_error(job->cancel, "pull", err);
    return 0;
}

static char **names_for(const struct img_ref *ref, const char *top_digest, bool tags)
{
    char **v = calloc(2, sizeof(char *));
    if (!v)
        return NULL;
    if (tags && ref->tag && !(v[0] = img_ref_tagged(ref)))
        goto fail;
    if (!tags && !(v[0] = img_ref_digested(ref, top_digest)))
        goto fail;
    return v;
fail:
    free(v);
    return NULL;
}

static int commit_image(struct pull_job *job, const char *config_body, size_t config_len, crisp_error_t **err)
{
    const struct img_manifest *m = job->manifest;
    if (img_store_blob_put(job->p->store, m->config.digest, config_body, config_len, err) < 0 ||
        img_store_blob_put(job->p->store, job->manifest_digest, job->manifest_body, job->manifest_len, err) <
            0)
        return -1;
    struct img_record rec = {.chain_ids = job->chain_ids, .user = job->config->user};
    snprintf(rec.id, sizeof(rec.id), "%s", m->config.digest);
    snprintf(rec.manifest_digest, sizeof(rec.manifest_digest), "%s", job->manifest_digest);
    rec.size = (uint64_t)(m->config.size > 0 ? m->config.size : 0);
    for (size_t i = 0; i < m->n_layers; i++)
        rec.size += (uint64_t)(m->layers[i].size > 0 ? m->layers[i].size : 0);
    _cleanup_strv_ char **tags = names_for(job->ref, job->top_digest, true);
    _cleanup_strv_ char **digests = names_for(job->ref, job->top_digest, false);
    if (!tags || !digests)
        return crisp_error_oom(err);
    rec.repo_tags = tags;
    rec.repo_digests = digests;
    crisp_crash_point("pull.before_image_record");
    if (img_store_image_commit(job->p->store, &rec, err) < 0)
        return -1;
    memcpy(job->id, rec.id, IMG_DIGEST_MAX);
    return 0;
}

static int pull_steps(struct pull_job *job, crisp_error_t **err)
{
    _cleanup_free_ char *config_body = NULL;
    size_t config_len = 0;
    if (resolve_manifest(job, err) < 0 ||
        img_manifest_parse(job->manifest_body, job->manifest_len, &job->manifest, err) < 0 ||
        fetch_config(job, &config_body, &config_len, err) < 0 || compute_chain_ids(job, err) < 0 ||
        fetch_layers(job, err) < 0)
        return -1;
    return commit_image(job, config_body, config_len, err);
}

static void pull_job_fini(struct pull_job *job)
{
    for (size_t i = 0; job->chain_ids && job->chain_ids[i]; i++)
        img_store_layer_release(job->p->store, job->chain_ids[i]);
    strv_free(job->chain_ids);
    free(job->held);
    free(job->manifest_body);
    img_manifest_free(job->manifest);
    img_config_free(job->config);
    crisp_error_free(job->layer_err);
}

static int pull_run(void *arg, struct crisp_cancel *cancel, crisp_error_t **err)
{
    struct pull_job *job = arg;
    job->cancel = cancel;
    int r = pull_steps(job, err);
    pull_job_fini(job);
    return r;
}

/* Pulls sharing one run must also share who they are: the key includes the credentials' user. */
static char *pull_key(const struct img_ref *ref, const struct img_auth *auth)
{
    _cleanup_free_ char *name = img_ref_name(ref);
    char *key = NULL;
    if (!name || asprintf(&key, "%s:%s@%s\n%s", name, ref->tag ? ref->tag : "",
                          ref->digest ? ref->digest : "", auth && auth->username ? auth->username : "") < 0)
        return NULL;
    return key;
}

int img_pull(struct img_puller *p, const char *image, const struct img_auth *auth,
             char ret_id[IMG_DIGEST_MAX], uint64_t *ret_bytes, crisp_error_t **err)
{
    _cleanup_(img_ref_freep) struct img_ref *ref = NULL;
    if (img_ref_parse(image, &ref, err) < 0)
        return -1;
    _cleanup_free_ char *key = pull_key(ref, auth);
    if (!key)
        return crisp_error_oom(err);
    struct pull_job job = {.p = p, .ref = ref, .auth = auth};
    pthread_mutex_init(&job.err_lock, NULL);
    /* The server's handler does not pass its call's token down; it is this thread's. */
    int r = flight_do(&p->images, key, pull_run, &job, crisp_cancel_current(), err);
    pthread_mutex_destroy(&job.err_lock);
    if (ret_bytes)
        *ret_bytes = job.bytes;
    if (r < 0)
        return -1;
    /* A waiter that shared another caller's run looks the result up by name. */
    if (job.id[0] == '\0') {
        _cleanup_free_ char *name = ref->digest ? img_ref_digested(ref, ref->digest) : img_ref_tagged(ref);
        struct img_record *rec = NULL;
        if (!name || img_store_lookup(p->store, name, &rec, err) < 0)
            return -1;
        memcpy(job.id, rec->id, IMG_DIGEST_MAX);
        img_record_free(rec);
    }
    memcpy(ret_id, job.id, IMG_DIGEST_MAX);
    return 0;
}
