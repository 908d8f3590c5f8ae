/* ContainerStatus and ListContainers: copies of containers' info, each taken under the container's
 * lock after its exit record was read. That lock is never held across a wait (a stop, start or remove
 * waits without it), so these answer at once. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rt_container_groups_copy(const gid_t *groups, size_t n, gid_t **ret, size_t *ret_n)
{
    *ret = calloc(n + 1, sizeof(gid_t));
    if (!*ret)
        return -1;
    if (n > 0)
        memcpy(*ret, groups, n * sizeof(gid_t));
    *ret_n = n;
    return 0;
}

static bool mounts_copy(struct rt_container_info *c, const struct rt_container_info *i)
{
    c->mounts = calloc(i->n_mounts + 1, sizeof(*c->mounts));
    if (!c->mounts)
        return false;
    for (size_t m = 0; m < i->n_mounts; m++)
        if (!rt_mount_copy(&c->mounts[m], &i->mounts[m]))
            return false;
    return true;
}

static struct rt_container_info *info_copy(const struct rt_container_info *i)
{
    struct rt_container_info *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = *i;
    c->name = strdup(i->name);
    c->reason = strdup(i->reason);
    c->message = strdup(i->message);
    c->image = strdup(i->image);
    c->image_id = strdup(i->image_id);
    c->log_path = strdup(i->log_path);
    c->cgroup_path = strdup(i->cgroup_path ? i->cgroup_path : "");
    c->upper_dir = strdup(i->upper_dir ? i->upper_dir : "");
    c->resources.cpuset_cpus = strdup(i->resources.cpuset_cpus ? i->resources.cpuset_cpus : "");
    c->resources.cpuset_mems = strdup(i->resources.cpuset_mems ? i->resources.cpuset_mems : "");
    c->labels = c->annotations = NULL;
    c->resources.unified = NULL;
    c->groups = NULL;
    c->mounts = NULL;
    c->spec_path = NULL;
    bool ok = rt_container_groups_copy(i->groups, i->n_groups, &c->groups, &c->n_groups) == 0 && c->name &&
              c->reason && c->message && c->image && c->image_id && c->log_path && c->cgroup_path &&
              c->upper_dir && c->resources.cpuset_cpus && c->resources.cpuset_mems &&
              rt_kv_copy(i->labels, i->n_labels, &c->labels) == 0 &&
              rt_kv_copy(i->resources.unified, i->resources.n_unified, &c->resources.unified) == 0 &&
              rt_kv_copy(i->annotations, i->n_annotations, &c->annotations) == 0 && mounts_copy(c, i);
    if (!ok) {
        rt_container_info_free(c);
        return NULL;
    }
    return c;
}

int rt_container_info_get(struct rt_runtime *rt, const char *id, struct rt_container_info **ret,
                          crisp_error_t **err)
{
    struct rt_container *c = rt_container_lock_by_id(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %.100s not found", id);
    rt_container_refresh(rt, c);
    struct rt_container_info *copy = info_copy(&c->info);
    if (copy && asprintf(&copy->spec_path, "%s/spec", c->dir) < 0) {
        copy->spec_path = NULL;
        rt_container_info_free(TAKE_PTR(copy));
    }
    rt_container_unlock_unref(c);
    if (!copy)
        return crisp_error_oom(err);
    *ret = copy;
    return 0;
}

/* The copy of one listed container; NULL in *ret if it was removed since the list was taken. */
static int info_list_one(struct rt_runtime *rt, struct rt_container *c, struct rt_container_info **ret)
{
    pthread_mutex_lock(&c->lock);
    *ret = NULL;
    if (!c->removed) {
        rt_container_refresh(rt, c);
        *ret = info_copy(&c->info);
    }
    bool ok = c->removed || *ret;
    pthread_mutex_unlock(&c->lock);
    return ok ? 0 : -1;
}

/* The list holds references, so the containers are refreshed without the index lock. */
int rt_container_info_list(struct rt_runtime *rt, struct rt_container_info ***ret, size_t *ret_n,
                           crisp_error_t **err)
{
    struct rt_index_node **all = NULL;
    size_t n_all = 0, n = 0;
    if (rt_index_list(&rt->containers, NULL, NULL, &all, &n_all, err) < 0)
        return -1;
    struct rt_container_info **list = calloc(n_all + 1, sizeof(*list));
    bool ok = list != NULL;
    for (size_t i = 0; ok && i < n_all; i++) {
        ok = info_list_one(rt, rt_index_entry(all[i], struct rt_container, node), &list[n]) == 0;
        n += list[n] != NULL;
    }
    rt_index_list_unref(all, n_all);
    if (!ok) {
        rt_container_info_list_free(list, n);
        return crisp_error_oom(err);
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

void rt_container_info_free(struct rt_container_info *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->reason);
    free(c->message);
    free(c->image);
    free(c->image_id);
    free(c->log_path);
    free(c->cgroup_path);
    free(c->upper_dir);
    free(c->resources.cpuset_cpus);
    free(c->resources.cpuset_mems);
    rt_kv_free(c->resources.unified, c->resources.n_unified);
    rt_kv_free(c->labels, c->n_labels);
    rt_kv_free(c->annotations, c->n_annotations);
    for (size_t m = 0; c->mounts && m < c->n_mounts; m++)
        rt_mount_fini(&c->mounts[m]);
    free(c->mounts);
    free(c->groups);
    free(c->spec_path);
    free(c);
}

void rt_container_info_freep(struct rt_container_info **c)
{
    rt_container_info_free(*c);
}

void rt_container_info_list_free(struct rt_container_info **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        rt_container_info_free(list[i]);
    free(list);
}

/* A monitor's pid stays in its record after it exits, so each is asked whether it still runs. */
static bool monitor_alive(struct rt_container *c)
{
    pthread_mutex_lock(&c->lock);
    bool alive = !c->removed && c->monitor_pid > 0 && !rt_container_monitor_gone(c);
    pthread_mutex_unlock(&c->lock);
    return alive;
}

int rt_container_monitors_alive(struct rt_runtime *rt, size_t *ret_n, crisp_error_t **err)
{
    struct rt_index_node **all = NULL;
    size_t n_all = 0;
    if (rt_index_list(&rt->containers, NULL, NULL, &all, &n_all, err) < 0)
        return -1;
    *ret_n = 0;
    for (size_t i = 0; i < n_all; i++)
        *ret_n += monitor_alive(rt_index_entry(all[i], struct rt_container, node));
    rt_index_list_unref(all, n_all);
    return 0;
}
