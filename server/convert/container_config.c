/* CreateContainer's request merged with its image, as Docker and kubelet expect: entrypoint and cmd
 * against command and args, env (the request wins), working dir, user. */
#define _GNU_SOURCE
#include "server/convert/container_config.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "images/manifest.h"
#include "runtime/path_check.h"
#include "runtime/propagation.h"
#include "server/convert/resources.h"
#include "server/convert/security_context.h"
#include "server/daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LIST 4096
/* execve refuses a single argument or environment string over MAX_ARG_STRLEN (32 pages) with E2BIG. */
#define MAX_ARG_STRING (128 * 1024)
/* argv and env together share ARG_MAX, which is a quarter of the stack limit (2 MiB under the usual
 * 8 MiB): half of that leaves the workload room for its own execs and a smaller stack limit. */
#define MAX_ARGS_TOTAL (1024 * 1024)

static char **concat(struct arena *a, char *const *x, size_t nx, char *const *y, size_t ny)
{
    char **v = arena_alloc(a, (nx + ny + 1) * sizeof(char *));
    for (size_t i = 0; v && i < nx; i++)
        v[i] = x[i];
    for (size_t i = 0; v && i < ny; i++)
        v[nx + i] = y[i];
    return v;
}

static size_t count(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* Kubernetes: command replaces the entrypoint (and drops the image's cmd); args replace cmd. */
static char **merge_argv(struct arena *a, const Runtime__V1__ContainerConfig *c, const struct img_config *img)
{
    if (c->n_command)
        return concat(a, c->command, c->n_command, c->args, c->n_args);
    if (c->n_args)
        return concat(a, img->entrypoint, count(img->entrypoint), c->args, c->n_args);
    return concat(a, img->entrypoint, count(img->entrypoint), img->cmd, count(img->cmd));
}

static bool same_key(const char *kv, const char *key, size_t klen)
{
    return strncmp(kv, key, klen) == 0 && kv[klen] == '=';
}

/* "KEY=VALUE" with the value's bytes as sent (CRI's KeyValue.value is bytes: not always UTF-8). */
static char *env_entry(struct arena *a, const Runtime__V1__KeyValue *kv)
{
    size_t klen = strlen(kv->key);
    char *e = arena_alloc(a, klen + 1 + kv->value.len + 1);
    if (!e)
        return NULL;
    memcpy(e, kv->key, klen);
    e[klen] = '=';
    if (kv->value.len)
        memcpy(e + klen + 1, kv->value.data, kv->value.len);
    e[klen + 1 + kv->value.len] = '\0';
    return e;
}

/* execve takes NUL-terminated strings: a value with a NUL byte cannot reach the workload whole. */
static int envs_check(const Runtime__V1__ContainerConfig *c, crisp_error_t **err)
{
    for (size_t k = 0; k < c->n_envs; k++) {
        const Runtime__V1__KeyValue *kv = c->envs[k];
        const uint8_t *nul = kv->value.len ? memchr(kv->value.data, '\0', kv->value.len) : NULL;
        if (nul)
            return crisp_error_make(err, EINVAL, "env %.100s: the value has a NUL byte at offset %zu",
                                    kv->key, (size_t)(nul - kv->value.data));
    }
    return 0;
}

static char **merge_env(struct arena *a, const Runtime__V1__ContainerConfig *c, const struct img_config *img)
{
    size_t ni = count(img->env), n = 0;
    char **v = arena_alloc(a, (ni + c->n_envs + 1) * sizeof(char *));
    for (size_t i = 0; v && i < ni; i++) {
        size_t klen = strcspn(img->env[i], "=");
        bool overridden = false;
        for (size_t k = 0; k < c->n_envs && !overridden; k++)
            overridden = strlen(c->envs[k]->key) == klen && same_key(img->env[i], c->envs[k]->key, klen);
        if (!overridden)
            v[n++] = img->env[i];
    }
    for (size_t k = 0; v && k < c->n_envs; k++)
        if (!(v[n++] = env_entry(a, c->envs[k])))
            return NULL;
    return v;
}

static int parse_signal(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {
        {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"HUP", SIGHUP},
        {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {"STOP", SIGSTOP},
    };
    if (!s || !*s)
        return SIGTERM;
    if (strspn(s, "0123456789") == strlen(s))
        return atoi(s) > 0 && atoi(s) < 65 ? atoi(s) : SIGTERM;
    const char *n = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(n, names[i].name) == 0)
            return names[i].sig;
    return SIGTERM;
}

/* Kubelet sends only noexec, nodev and nosuid (KEP-5855's bindMountOptions): bind mount flags the kernel
 * applies on the remount. Anything else is refused rather than silently ignored. */
static int mount_options_from(const Runtime__V1__Mount *pm, struct rt_mount *m, crisp_error_t **err)
{
    if (pm->n_mount_options > 16)
        return crisp_error_make(err, EINVAL, "mount %.100s: %zu mount options: at most 16",
                                pm->container_path, pm->n_mount_options);
    for (size_t k = 0; k < pm->n_mount_options; k++) {
        const char *o = pm->mount_options[k];
        if (strcmp(o, "noexec") == 0)
            m->noexec = true;
        else if (strcmp(o, "nosuid") == 0)
            m->nosuid = true;
        else if (strcmp(o, "nodev") == 0)
            m->nodev = true;
        else
            return crisp_error_make(err, EINVAL,
                                    "mount %.100s: mount option \"%.64s\" is not supported (only noexec, "
                                    "nosuid and nodev are)",
                                    pm->container_path, o);
    }
    return 0;
}

/* A device node goes under the container's /dev, named plainly: "/dev/../etc/z" would make /etc/z. */
static int device_path_check(const char *path, crisp_error_t **err)
{
    if (rt_path_check("device container_path", path, RT_PATH_ABSOLUTE | RT_PATH_NO_DOT | RT_PATH_NOT_ROOT,
                      err) < 0)
        return -1;
    if (strncmp(path, "/dev/", 5) != 0 || path[5 + strspn(path + 5, "/")] == '\0')
        return crisp_error_make(err, EINVAL, "device container_path \"%.100s\" is not below /dev", path);
    return 0;
}

static char **layer_dirs(struct srv_ctx *ctx, const struct img_record *rec);

/* An image volume: the image must be in the store (kubelet pulls it first), and its layers are what
 * CreateContainer mounts. A reference that is not there is NOT_FOUND, as the container's own image
 * is, which tells kubelet to pull it. */
static int image_volume_from(struct srv_ctx *ctx, const Runtime__V1__Mount *pm, struct rt_mount *m,
                             crisp_error_t **err)
{
    if (pm->host_path && *pm->host_path)
        return crisp_error_make(err, EINVAL, "mount %.100s: an image volume takes no host_path",
                                pm->container_path);
    if (!pm->readonly)
        return crisp_error_make(err, EINVAL, "mount %.100s: an image volume is read-only: set readonly",
                                pm->container_path);
    if (pm->n_uidmappings || pm->n_gidmappings)
        return crisp_error_make(err, EINVAL, "mount %.100s: idmapped image volumes are not supported",
                                pm->container_path);
    _cleanup_(img_record_freep) struct img_record *rec = NULL;
    if (img_store_lookup(ctx->daemon->images, pm->image->image, &rec, err) < 0)
        return crisp_error_wrap(err, "mount %.100s: image volume", pm->container_path);
    m->host_path = "";
    m->image = pm->image->image;
    m->image_sub_path = pm->image_sub_path ? pm->image_sub_path : "";
    /* The mount is crisp's own read-only overlay: nothing propagates to or from it. */
    m->propagation = RT_PROPAGATION_PRIVATE;
    if (!(m->image_id = arena_strdup(ctx->arena, rec->id)) || !(m->image_layers = layer_dirs(ctx, rec)))
        return crisp_error_oom(err);
    return 0;
}

static int mounts_from(struct srv_ctx *ctx, const Runtime__V1__ContainerConfig *c,
                       struct rt_container_spec *s, crisp_error_t **err)
{
    struct arena *a = ctx->arena;
    if (c->n_mounts > 256 || c->n_devices > 256)
        return crisp_error_make(err, EINVAL, "at most 256 mounts and 256 devices");
    struct rt_mount *m = arena_alloc(a, (c->n_mounts + 1) * sizeof(*m));
    struct rt_device *d = arena_alloc(a, (c->n_devices + 1) * sizeof(*d));
    if (!m || !d)
        return crisp_error_oom(err);
    for (size_t i = 0; i < c->n_mounts; i++) {
        const Runtime__V1__Mount *pm = c->mounts[i];
        bool image = pm->image && pm->image->image[0];
        if (!image && (pm->n_uidmappings || pm->n_gidmappings))
            return crisp_error_make(err, EINVAL, "mount %.100s: idmapped mounts are not supported yet",
                                    pm->container_path);
        if (!image && pm->image_sub_path && *pm->image_sub_path)
            return crisp_error_make(err, EINVAL, "mount %.100s: image_sub_path without an image",
                                    pm->container_path);
        m[i] = (struct rt_mount){.container_path = pm->container_path,
                                 .host_path = pm->host_path,
                                 .readonly = pm->readonly,
                                 .recursive_readonly = pm->recursive_read_only,
                                 .propagation = (enum rt_propagation)pm->propagation};
        if ((image && image_volume_from(ctx, pm, &m[i], err) < 0) || mount_options_from(pm, &m[i], err) < 0 ||
            rt_mount_rro_check(&m[i], err) < 0)
            return -1;
    }
    for (size_t i = 0; i < c->n_devices; i++) {
        if (device_path_check(c->devices[i]->container_path, err) < 0)
            return -1;
        d[i] = (struct rt_device){c->devices[i]->container_path, c->devices[i]->host_path,
                                  c->devices[i]->permissions};
    }
    s->mounts = m;
    s->n_mounts = c->n_mounts;
    s->devices = d;
    s->n_devices = c->n_devices;
    return 0;
}

/* This machine may lack CAP_SYS_RESOURCE: a score below crispd's own can't be set, so it is raised to
 * it, with one warning per crispd run. */
static int clamp_oom_score(int wanted)
{
    static _Atomic bool warned;
    int own = 0;
    FILE *f = fopen("/proc/self/oom_score_adj", "re");
    if (f) {
        if (fscanf(f, "%d", &own) != 1)
            own = 0;
        fclose(f);
    }
    if (wanted >= own)
        return wanted;
    if (!atomic_exchange(&warned, true))
        log_warn("oom_score_adj %d is below crispd's own %d and can't be lowered here; using %d", wanted, own,
                 own);
    return own;
}

static char **layer_dirs(struct srv_ctx *ctx, const struct img_record *rec)
{
    size_t n = count(rec->chain_ids);
    char **dirs = arena_alloc(ctx->arena, (n + 1) * sizeof(char *));
    for (size_t i = 0; dirs && i < n; i++) {
        _cleanup_free_ char *p = img_store_layer_path(ctx->daemon->images, rec->chain_ids[n - 1 - i]);
        if (!p || !(dirs[i] = arena_strdup(ctx->arena, p)))
            return NULL;
    }
    return dirs;
}

static int load_image(struct srv_ctx *ctx, const char *name, struct img_record **ret_rec,
                      struct img_config **ret_cfg, crisp_error_t **err)
{
    if (img_store_lookup(ctx->daemon->images, name, ret_rec, err) < 0)
        return crisp_error_wrap(err, "image");
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (img_store_blob_read(ctx->daemon->images, (*ret_rec)->id, IMG_CONFIG_MAX_SIZE, &text, &len, err) < 0 ||
        img_config_parse(text, len, ret_cfg, err) < 0)
        return crisp_error_wrap(err, "config of image %s", (*ret_rec)->id);
    return 0;
}

/* kubelet names the log file relative to the pod's log directory, and it must stay inside it. An
 * empty directory or file means no log. */
static int log_path_check(const Runtime__V1__CreateContainerRequest *r, crisp_error_t **err)
{
    const char *dir = r->sandbox_config ? r->sandbox_config->log_directory : NULL;
    const char *file = r->config->log_path;
    if (dir && *dir && rt_path_check("pod log_directory", dir, RT_PATH_ABSOLUTE, err) < 0)
        return -1;
    if (!file || !*file)
        return 0;
    if (rt_path_check("log_path", file, RT_PATH_RELATIVE | RT_PATH_NOT_ROOT, err) < 0)
        return -1;
    if (file[strlen(file) - 1] == '/')
        return crisp_error_make(err, EINVAL, "log_path \"%.100s\" names a directory, not a file", file);
    return 0;
}

static char *log_path_of(struct arena *a, const Runtime__V1__CreateContainerRequest *r)
{
    const char *dir = r->sandbox_config ? r->sandbox_config->log_directory : NULL;
    const char *file = r->config->log_path;
    if (!dir || !*dir || !file || !*file)
        return "";
    return arena_printf(a, "%s/%s", dir, file);
}

static int args_size_add(char *const *v, size_t *total, const char *what, crisp_error_t **err)
{
    for (size_t i = 0; v && v[i]; i++) {
        size_t n = strlen(v[i]) + 1;
        if (n > MAX_ARG_STRING)
            return crisp_error_make(err, EINVAL, "%s entry \"%.40s...\" is %zu bytes: at most %d", what, v[i],
                                    n, MAX_ARG_STRING);
        *total += n;
    }
    return 0;
}

/* What execve would refuse at StartContainer, refused here: the merged command and environment. */
static int args_size_check(const struct rt_container_spec *s, crisp_error_t **err)
{
    size_t total = 0;
    if (args_size_add(s->argv, &total, "command", err) < 0 || args_size_add(s->env, &total, "env", err) < 0)
        return -1;
    if (total > MAX_ARGS_TOTAL)
        return crisp_error_make(err, EINVAL,
                                "command and environment (with the image's) take %zu bytes: at most %d",
                                total, MAX_ARGS_TOTAL);
    return 0;
}

static int oom_score_adj_check(const Runtime__V1__LinuxContainerConfig *l, crisp_error_t **err)
{
    int64_t v = l && l->resources ? l->resources->oom_score_adj : 0;
    if (v < -1000 || v > 1000)
        return crisp_error_make(err, EINVAL, "oom_score_adj %lld is outside [-1000, 1000]", (long long)v);
    return 0;
}

int srv_container_spec_from(struct srv_ctx *ctx, const Runtime__V1__CreateContainerRequest *r,
                            struct rt_container_spec *s, struct srv_container_image *img, crisp_error_t **err)
{
    const Runtime__V1__ContainerConfig *c = r->config;
    if (!c || !c->metadata || !c->image || !c->image->image[0])
        return crisp_error_make(err, EINVAL, "CreateContainer needs a config with metadata and an image");
    if (c->n_command > MAX_LIST || c->n_args > MAX_LIST || c->n_envs > MAX_LIST)
        return crisp_error_make(err, EINVAL, "at most %d command, args or env entries", MAX_LIST);
    if (envs_check(c, err) < 0 || log_path_check(r, err) < 0 || oom_score_adj_check(c->linux, err) < 0)
        return -1;
    if (load_image(ctx, c->image->image, &img->rec, &img->cfg, err) < 0)
        return -1;
    const Runtime__V1__LinuxContainerConfig *l = c->linux;
    struct rt_cgroup_resources *res = NULL;
    *s = (struct rt_container_spec){
        .sandbox_id = r->pod_sandbox_id,
        .name = c->metadata->name,
        .attempt = c->metadata->attempt,
        .image = c->image->image,
        .image_id = img->rec->id,
        .tty = c->tty,
        .stdin_open = c->stdin,
        .stdin_once = c->stdin_once,
        .log_path = log_path_of(ctx->arena, r),
        .stop_signal = parse_signal(img->cfg->stop_signal),
    };
    s->lowerdirs = layer_dirs(ctx, img->rec);
    s->argv = merge_argv(ctx->arena, c, img->cfg);
    s->env = merge_env(ctx->arena, c, img->cfg);
    s->cwd = c->working_dir && *c->working_dir ? c->working_dir
             : *img->cfg->working_dir          ? img->cfg->working_dir
                                               : "/";
    if (!s->lowerdirs || !s->argv || !s->env || !s->log_path)
        return crisp_error_oom(err);
    if (args_size_check(s, err) < 0 || mounts_from(ctx, c, s, err) < 0 ||
        srv_security_context_apply(ctx->arena, l ? l->security_context : NULL, img->cfg, s, err) < 0 ||
        srv_resources_from(ctx->arena, l ? l->resources : NULL, &res, err) < 0)
        return -1;
    s->resources = res;
    if (l && l->resources && l->resources->oom_score_adj) {
        s->has_oom_score_adj = true;
        s->oom_score_adj = clamp_oom_score((int)l->resources->oom_score_adj);
    }
    return 0;
}

void srv_container_image_fini(struct srv_container_image *img)
{
    img_record_free(img->rec);
    img_config_free(img->cfg);
}
