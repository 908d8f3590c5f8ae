/* Image volumes (CRI Mount.image, Kubernetes' ImageVolume): the named image's layers as one read-only
 * overlay that crispd mounts under the container's state directory at CreateContainer, bound into the
 * container like any volume (a sub path binds only that directory), and unmounted at RemoveContainer,
 * as containerd and CRI-O do. While a container has one, its image cannot be removed. */
#ifndef CRISP_RUNTIME_IMAGE_VOLUME_H
#define CRISP_RUNTIME_IMAGE_VOLUME_H

#include "common/error.h"
#include "runtime/container.h"

#include <pthread.h>
#include <stddef.h>

/* Longest image_sub_path accepted (PATH_MAX less the room the mount point's own path takes). */
#define RT_IMAGE_SUB_PATH_MAX 3072

/* 0, or EINVAL: a sub path is "" (the whole image) or a relative path without ".." components of at
 * most RT_IMAGE_SUB_PATH_MAX bytes. Lexical only; whether it exists is seen once the image is mounted. */
int rt_image_sub_path_check(const char *sub_path, crisp_error_t **err);

/* Which image ids containers use, as their own image or as image volumes, and which are being removed
 * (struct rt_runtime). The lock is a leaf: nothing else is locked under it. */
struct rt_image_use;
struct rt_image_uses {
    pthread_mutex_t lock;
    struct rt_image_use *v;
    size_t n;
};
void rt_image_uses_init(struct rt_image_uses *u);
void rt_image_uses_fini(struct rt_image_uses *u);

/* RemoveImage: from here to rt_image_remove_end no container starts to use image_id (the config
 * digest). FAILED_PRECONDITION, naming a container, when one already does: its rootfs overlay or
 * image volume stands on the image's layers, as CRI-O refuses too. */
int rt_image_remove_begin(struct rt_runtime *rt, const char *image_id, crisp_error_t **err);
void rt_image_remove_end(struct rt_runtime *rt, const char *image_id);

/* For runtime/container*.c. */
struct rt_container;
/* Takes one use of image_id (the container's own image; NULL or "" for none) and of each image
 * volume's image among mounts; NOT_FOUND (and none taken) if one is being removed. */
int rt_container_images_hold(struct rt_runtime *rt, const char *image_id, const struct rt_mount *mounts,
                             size_t n, crisp_error_t **err);
void rt_container_images_release(struct rt_runtime *rt, const char *image_id, const struct rt_mount *mounts,
                                 size_t n);
/* Mounts each image volume of c (its layers from spec, which c->info.mounts copies) under
 * <c->dir>/image-volumes/<index> and sets its host_path to what the container binds: the mount, or
 * its sub path, which must be a directory inside the image (symlinks resolve within the image). */
int rt_image_volumes_mount(struct rt_container *c, const struct rt_container_spec *spec, crisp_error_t **err);
/* Unmounts and removes whatever is under <dir>/image-volumes (nothing there is success). */
int rt_image_volumes_unmount(const char *dir, crisp_error_t **err);
/* After a crispd restart: a volume whose mount is gone loses its mount point too, so that starting
 * the container fails instead of binding an empty directory. */
void rt_image_volumes_check(const struct rt_container *c);

#endif
