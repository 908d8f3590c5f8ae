/* struct rt_mount's copies, for the container's record and the snapshots status and list take. */
#define _GNU_SOURCE
#include "runtime/container.h"

#include <stdlib.h>
#include <string.h>

static bool dup_opt(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return !src || *dst;
}

bool rt_mount_copy(struct rt_mount *dst, const struct rt_mount *src)
{
    *dst = *src;
    dst->image_layers = NULL;
    bool ok = dup_opt(&dst->container_path, src->container_path);
    ok = dup_opt(&dst->host_path, src->host_path) && ok;
    ok = dup_opt(&dst->image, src->image) && ok;
    ok = dup_opt(&dst->image_id, src->image_id) && ok;
    ok = dup_opt(&dst->image_sub_path, src->image_sub_path) && ok;
    return ok && dst->container_path && dst->host_path;
}

void rt_mount_fini(struct rt_mount *m)
{
    free(m->container_path);
    free(m->host_path);
    free(m->image);
    free(m->image_id);
    free(m->image_sub_path);
    *m = (struct rt_mount){0};
}
