/* PodSandboxStatus and ListPodSandbox: copies of pods' info taken under each pod's info_lock, so they
 * never wait for a pod's run, stop or remove. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/strv.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct rt_sandbox_info *info_copy(const struct rt_sandbox_info *i)
{
    struct rt_sandbox_info *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = *i;
    c->name = strdup(i->name);
    c->uid = strdup(i->uid);
    c->namespace_ = strdup(i->namespace_);
    c->runtime_handler = strdup(i->runtime_handler);
    c->ips = strv_copy(i->ips);
    c->netns_path = strdup(i->netns_path);
    c->cgroup_path = strdup(i->cgroup_path ? i->cgroup_path : "");
    c->cni_result = strdup(i->cni_result);
    c->dir = strdup(i->dir);
    c->labels = c->annotations = NULL;
    if (rt_kv_copy(i->labels, i->n_labels, &c->labels) < 0 ||
        rt_kv_copy(i->annotations, i->n_annotations, &c->annotations) < 0 || !c->name || !c->uid ||
        !c->namespace_ || !c->runtime_handler || !c->ips || !c->netns_path || !c->cgroup_path ||
        !c->cni_result || !c->dir) {
        rt_sandbox_info_free(c);
        return NULL;
    }
    return c;
}

static struct rt_sandbox_info *sandbox_info_copy(struct rt_sandbox *sb)
{
    pthread_mutex_lock(&sb->info_lock);
    struct rt_sandbox_info *c = info_copy(&sb->info);
    pthread_mutex_unlock(&sb->info_lock);
    return c;
}

int rt_sandbox_info_get(struct rt_runtime *rt, const char *id, struct rt_sandbox_info **ret,
                        crisp_error_t **err)
{
    struct rt_index_node *n = rt_index_get(&rt->pods, id);
    if (!n)
        return crisp_error_make(err, ENOENT, "pod sandbox %.100s not found", id);
    struct rt_sandbox *sb = rt_index_entry(n, struct rt_sandbox, node);
    struct rt_sandbox_info *c = sandbox_info_copy(sb);
    rt_sandbox_unref(sb);
    if (!c)
        return crisp_error_oom(err);
    *ret = c;
    return 0;
}

int rt_sandbox_info_list(struct rt_runtime *rt, struct rt_sandbox_info ***ret, size_t *ret_n,
                         crisp_error_t **err)
{
    struct rt_index_node **all = NULL;
    size_t n = 0;
    if (rt_index_list(&rt->pods, NULL, NULL, &all, &n, err) < 0)
        return -1;
    struct rt_sandbox_info **list = calloc(n + 1, sizeof(*list));
    bool ok = list != NULL;
    for (size_t i = 0; ok && i < n; i++)
        ok = (list[i] = sandbox_info_copy(rt_index_entry(all[i], struct rt_sandbox, node))) != NULL;
    rt_index_list_unref(all, n);
    if (!ok) {
        rt_sandbox_info_list_free(list, n);
        return crisp_error_oom(err);
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

void rt_sandbox_info_free(struct rt_sandbox_info *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->uid);
    free(c->namespace_);
    free(c->runtime_handler);
    strv_free(c->ips);
    free(c->netns_path);
    free(c->cgroup_path);
    free(c->cni_result);
    free(c->dir);
    rt_kv_free(c->labels, c->n_labels);
    rt_kv_free(c->annotations, c->n_annotations);
    free(c);
}

void rt_sandbox_info_freep(struct rt_sandbox_info **info)
{
    rt_sandbox_info_free(*info);
}

void rt_sandbox_info_list_free(struct rt_sandbox_info **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        rt_sandbox_info_free(list[i]);
    free(list);
}
