#define _GNU_SOURCE
#include "runtime/image_volume.h"

#include "common/cleanup.h"
#include "common/file.h"
#include "common/strv.h"
#include "runtime/container_internal.h"
#include "runtime/path_check.h"
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define VOLUMES_DIR "image-volumes"
/* Overlay needs two lower dirs when it has no upper one: a one-layer image gets this empty one. */
#define EMPTY_DIR ".empty"
/* mount(2) copies at most one page of option data; longer layer lists go one by one (Linux 6.8). */
#define OVERLAY_DATA_MAX 4096
#define MOUNT_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV)

struct rt_image_use {
    char *id;
    unsigned users;    /* indexed (or being created) containers: their own image, and image volumes */
    unsigned removing; /* RemoveImage calls under way */
};

int rt_image_sub_path_check(const char *sub_path, crisp_error_t **err)
{
    if (strlen(sub_path) > RT_IMAGE_SUB_PATH_MAX)
        return crisp_error_make(err, EINVAL, "image_sub_path is %zu bytes: at most %d", strlen(sub_path),
                                RT_IMAGE_SUB_PATH_MAX);
    return rt_path_check("image_sub_path", sub_path, RT_PATH_RELATIVE, err);
}

void rt_image_uses_init(struct rt_image_uses *u)
{
    *u = (struct rt_image_uses){0};
    pthread_mutex_init(&u->lock, NULL);
}

void rt_image_uses_fini(struct rt_image_uses *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->v[i].id);
    free(u->v);
    pthread_mutex_destroy(&u->lock);
}

/* The entry for id, made if absent and make is set; NULL if absent (or out of memory). u->lock held. */
static struct rt_image_use *use_find(struct rt_image_uses *u, const char *id, bool make)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->v[i].id, id) == 0)
            return &u->v[i];
    if (!make)
        return NULL;
    struct rt_image_use *v = realloc(u->v, (u->n + 1) * sizeof(*v));
    if (!v)
        return NULL;
    u->v = v;
    if (!(v[u->n].id = strdup(id)))
        return NULL;
    v[u->n].users = v[u->n].removing = 0;
    return &v[u->n++];
}

/* Entries nobody uses go, so the table holds only images in use. u->lock held. */
static void use_drop_unused(struct rt_image_uses *u, struct rt_image_use *e)
{
    if (!e || e->users || e->removing)
        return;
    free(e->id);
    *e = u->v[--u->n];
}

static const char *use_kind(const struct rt_container_info *c, const char *id)
{
    if (c->image_id && strcmp(c->image_id, id) == 0)
        return "";
    for (size_t m = 0; m < c->n_mounts; m++)
        if (c->mounts[m].image_id && strcmp(c->mounts[m].image_id, id) == 0)
            return " as an image volume";
    return NULL;
}

/* A container using image id, for the message; NULL if none is indexed (yet). */
static char *user_of(struct rt_runtime *rt, const char *id)
{
    struct rt_container_info **list = NULL;
    size_t n = 0;
    char *who = NULL;
    if (rt_container_info_list(rt, &list, &n, NULL) < 0)
        return NULL;
    for (size_t i = 0; i < n && !who; i++) {
        const char *kind = use_kind(list[i], id);
        if (kind && asprintf(&who, "%.12s (%s)%s", list[i]->id, list[i]->name, kind) < 0)
            who = NULL;
    }
    rt_container_info_list_free(list, n);
    return who;
}

int rt_image_remove_begin(struct rt_runtime *rt, const char *image_id, crisp_error_t **err)
{
    struct rt_image_uses *u = &rt->image_uses;
    pthread_mutex_lock(&u->lock);
    struct rt_image_use *e = use_find(u, image_id, true);
    bool in_use = e && e->users > 0;
    if (e && !in_use)
        e->removing++;
    pthread_mutex_unlock(&u->lock);
    if (!e)
        return crisp_error_oom(err);
    if (!in_use)
        return 0;
    _cleanup_free_ char *who = user_of(rt, image_id); /* without the leaf lock: it takes others */
    return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "image %s is in use by container %s", image_id,
                            who ? who : "being created");
}

void rt_image_remove_end(struct rt_runtime *rt, const char *image_id)
{
    struct rt_image_uses *u = &rt->image_uses;
    pthread_mutex_lock(&u->lock);
    struct rt_image_use *e = use_find(u, image_id, false);
    if (e && e->removing)
        e->removing--;
    use_drop_unused(u, e);
    pthread_mutex_unlock(&u->lock);
}

static void release_one(struct rt_image_uses *u, const char *id)
{
    struct rt_image_use *e = id && *id ? use_find(u, id, false) : NULL;
    if (e && e->users)
        e->users--;
    use_drop_unused(u, e);
}

static void release_locked(struct rt_image_uses *u, const char *image_id, const struct rt_mount *mounts,
                           size_t n)
{
    release_one(u, image_id);
    for (size_t i = 0; i < n; i++)
        if (mounts[i].image)
            release_one(u, mounts[i].image_id);
}

/* what: for the message, e.g. "of volume /data". */
static int hold_one(struct rt_image_uses *u, const char *id, const char *what, crisp_error_t **err)
{
    if (!id || !*id)
        return 0;
    struct rt_image_use *e = use_find(u, id, true);
    if (!e)
        return crisp_error_oom(err);
    if (e->removing) {
        use_drop_unused(u, e);
        return crisp_error_make(err, ENOENT, "image %s%s is being removed", id, what);
    }
    e->users++;
    return 0;
}

int rt_container_images_hold(struct rt_runtime *rt, const char *image_id, const struct rt_mount *mounts,
                             size_t n, crisp_error_t **err)
{
    struct rt_image_uses *u = &rt->image_uses;
    pthread_mutex_lock(&u->lock);
    int r = hold_one(u, image_id, "", err);
    size_t i = 0;
    for (; i < n && r == 0; i++)
        if (mounts[i].image) {
            char what[128];
            snprintf(what, sizeof(what), " of volume %.100s", mounts[i].container_path);
            r = hold_one(u, mounts[i].image_id, what, err);
        }
    if (r < 0 && i > 0)
        release_locked(u, image_id, mounts, i - 1);
    pthread_mutex_unlock(&u->lock);
    return r;
}

void rt_container_images_release(struct rt_runtime *rt, const char *image_id, const struct rt_mount *mounts,
                                 size_t n)
{
    pthread_mutex_lock(&rt->image_uses.lock);
    release_locked(&rt->image_uses, image_id, mounts, n);
    pthread_mutex_unlock(&rt->image_uses.lock);
}

/* Overlay escapes ',' and ':' with backslashes; the store's paths never need that, so refuse them. */
static int layers_check(char *const *layers, crisp_error_t **err)
{
    if (!layers || !layers[0])
        return crisp_error_make(err, EINVAL, "the image has no layers to mount");
    for (size_t i = 0; layers[i]; i++)
        if (strpbrk(layers[i], ",:\\"))
            return crisp_error_make(err, EINVAL, "layer path %.100s has ',', ':' or '\\'", layers[i]);
    return 0;
}

static char *overlay_data(char *const *layers, const char *empty)
{
    char *data = strdup("lowerdir=");
    for (size_t i = 0; data && layers[i]; i++) {
        char *next = NULL;
        if (asprintf(&next, "%s%s%s", data, i ? ":" : "", layers[i]) < 0)
            next = NULL;
        free(data);
        data = next;
    }
    if (data && empty) {
        char *next = NULL;
        if (asprintf(&next, "%s:%s", data, empty) < 0)
            next = NULL;
        free(data);
        data = next;
    }
    return data;
}

/* The mount API takes the layers one by one ("lowerdir+", Linux 6.8): no page limit. */
static int overlay_mount_by_layer(const char *target, char *const *layers, const char *empty,
                                  crisp_error_t **err)
{
    _cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return crisp_error_errno(err, "fsopen overlay");
    for (size_t i = 0; layers[i] || empty; i++) {
        const char *dir = layers[i] ? layers[i] : empty;
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", dir, 0) < 0)
            return crisp_error_errno(err, "overlay lower dir %s", dir);
        if (!layers[i])
            break;
    }
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return crisp_error_errno(err, "create overlay");
    _cleanup_close_ int mnt = fsmount(fs, FSMOUNT_CLOEXEC,
                                      MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (mnt < 0)
        return crisp_error_errno(err, "fsmount overlay");
    if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return crisp_error_errno(err, "mount overlay on %s", target);
    return 0;
}

/* A read-only overlay of layers (top-most first) at target; empty is added below them when there is
 * only one. */
static int overlay_mount(const char *target, char *const *layers, const char *empty, crisp_error_t **err)
{
    if (layers_check(layers, err) < 0)
        return -1;
    _cleanup_free_ char *data = overlay_data(layers, layers[1] ? NULL : empty);
    if (!data)
        return crisp_error_oom(err);
    if (strlen(data) >= OVERLAY_DATA_MAX)
        return overlay_mount_by_layer(target, layers, layers[1] ? NULL : empty, err);
    if (mount("overlay", target, "overlay", MOUNT_FLAGS, data) < 0)
        return crisp_error_errno(err, "mount overlay of %zu layers on %s", strv_length((char **)layers),
                                 target);
    return 0;
}

/* The host path of sub within the mounted image at root: symlinks resolve inside the image (as
 * containerd's OpenInRoot does), and it must be a directory. */
static int sub_path_resolve(const char *root, const char *sub, char **ret, crisp_error_t **err)
{
    if (!*sub)
        return (*ret = strdup(root)) ? 0 : crisp_error_oom(err);
    _cleanup_close_ int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
        return crisp_error_errno(err, "open %s", root);
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    _cleanup_close_ int fd = (int)syscall(SYS_openat2, rfd, sub, &how, sizeof(how));
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
        return crisp_error_make(err, ENOENT, "sub path \"%.100s\" does not exist in the image", sub);
    if (fd < 0)
        return crisp_error_errno(err, "sub path \"%.100s\" of the image", sub);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return crisp_error_errno(err, "sub path \"%.100s\" of the image", sub);
    if (!S_ISDIR(st.st_mode))
        return crisp_error_make(err, EINVAL, "sub path \"%.100s\" of the image is not a directory", sub);
    char proc[64], path[PATH_MAX];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, path, sizeof(path) - 1);
    if (n < 0)
        return crisp_error_errno(err, "readlink %s", proc);
    path[n] = '\0';
    if (!rt_path_is_below(path, root)) /* cannot happen with RESOLVE_IN_ROOT; checked all the same */
        return crisp_error_make(err, EINVAL, "sub path \"%.100s\" resolves outside the image", sub);
    return (*ret = strdup(path)) ? 0 : crisp_error_oom(err);
}

static int volume_mount(const char *base, size_t index, struct rt_mount *m, char *const *layers,
                        crisp_error_t **err)
{
    _cleanup_free_ char *target = NULL, *empty = path_join(base, EMPTY_DIR), *host = NULL;
    if (asprintf(&target, "%s/%zu", base, index) < 0 || !empty)
        return crisp_error_oom(err);
    if ((!layers[1] && mkdir(empty, 0700) < 0 && errno != EEXIST) || mkdir(target, 0755) < 0)
        return crisp_error_errno(err, "make %s", target);
    if (overlay_mount(target, layers, empty, err) < 0 ||
        sub_path_resolve(target, m->image_sub_path, &host, err) < 0)
        return -1;
    free(m->host_path);
    m->host_path = TAKE_PTR(host);
    return 0;
}

int rt_image_volumes_mount(struct rt_container *c, const struct rt_container_spec *spec, crisp_error_t **err)
{
    _cleanup_free_ char *base = path_join(c->dir, VOLUMES_DIR);
    if (!base)
        return crisp_error_oom(err);
    for (size_t i = 0; i < c->info.n_mounts; i++) {
        struct rt_mount *m = &c->info.mounts[i];
        if (!m->image)
            continue;
        if (mkdir(base, 0700) < 0 && errno != EEXIST)
            return crisp_error_errno(err, "make %s", base);
        if (volume_mount(base, i, m, spec->mounts[i].image_layers, err) < 0)
            return crisp_error_wrap(err, "image volume %.100s (image %s)", m->container_path, m->image);
    }
    return 0;
}

static int not_dots(const struct dirent *d)
{
    return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Every mount stacked on path, then path itself. A busy mount is detached: its container is gone. */
static int unmount_one(const char *path, crisp_error_t **err)
{
    while (umount2(path, UMOUNT_NOFOLLOW) == 0)
        ;
    if (errno == EBUSY) {
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
            return crisp_error_errno(err, "unmount %s", path);
    } else if (errno != EINVAL && errno != ENOENT) {
        return crisp_error_errno(err, "unmount %s", path);
    }
    if (rmdir(path) < 0 && errno != ENOENT)
        return crisp_error_errno(err, "remove %s", path);
    return 0;
}

int rt_image_volumes_unmount(const char *dir, crisp_error_t **err)
{
    _cleanup_free_ char *base = path_join(dir, VOLUMES_DIR);
    _cleanup_strv_ char **names = NULL;
    if (!base)
        return crisp_error_oom(err);
    if (dir_list_sorted(base, not_dots, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++) {
        _cleanup_free_ char *path = path_join(base, *n);
        if (!path)
            return crisp_error_oom(err);
        if (unmount_one(path, err) < 0)
            return -1;
    }
    if (rmdir(base) < 0 && errno != ENOENT)
        return crisp_error_errno(err, "remove %s", base);
    return 0;
}

static bool is_mount_root(const char *path)
{
    struct statx stx;
    return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0, &stx) == 0 &&
           (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

void rt_image_volumes_check(const struct rt_container *c)
{
    for (size_t i = 0; i < c->info.n_mounts; i++) {
        _cleanup_free_ char *path = NULL;
        if (!c->info.mounts[i].image || asprintf(&path, "%s/" VOLUMES_DIR "/%zu", c->dir, i) < 0)
            continue;
        if (!is_mount_root(path))
            rmdir(path);
    }
}
