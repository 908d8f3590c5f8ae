#define _GNU_SOURCE
#include "runtime/sandbox.h"

#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void sandbox_destroy(struct rt_index_node *n)
{
    struct rt_sandbox *sb = rt_index_entry(n, struct rt_sandbox, node);
    rt_sandbox_fini(sb);
    pthread_mutex_destroy(&sb->info_lock);
    pthread_mutex_destroy(&sb->lock);
    free(sb);
}

struct rt_sandbox *rt_sandbox_new(void)
{
    struct rt_sandbox *sb = calloc(1, sizeof(*sb));
    if (!sb)
        return NULL;
    rt_index_node_init(&sb->node, sb->info.id, sandbox_destroy);
    pthread_mutex_init(&sb->info_lock, NULL);
    pthread_mutex_init(&sb->lock, NULL);
    return sb;
}

void rt_sandbox_unref(struct rt_sandbox *sb)
{
    if (sb)
        rt_index_node_unref(&sb->node);
}

/* Name, uid, namespace and attempt are set before the pod is indexed and never change. */
static bool same_key(const struct rt_index_node *n, const void *key)
{
    const struct rt_sandbox_info *i = &rt_index_entry(n, const struct rt_sandbox, node)->info;
    const struct rt_sandbox_info *k = key;
    return i->attempt == k->attempt && strcmp(i->name, k->name) == 0 && strcmp(i->uid, k->uid) == 0 &&
           strcmp(i->namespace_, k->namespace_) == 0;
}

int rt_sandbox_index_add(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    const struct rt_sandbox_info *i = &sb->info;
    struct rt_index_node *same = NULL;
    int r = rt_index_add(&rt->pods, &sb->node, true, same_key, i, &same, err);
    if (r <= 0)
        return r;
    crisp_error_make(err, EEXIST, "pod sandbox %s/%s (uid %s, attempt %u) already exists as %s",
                     i->namespace_, i->name, i->uid, i->attempt, same->id);
    rt_index_node_unref(same);
    return -1;
}

struct rt_sandbox *rt_sandbox_lock_by_id(struct rt_runtime *rt, const char *id)
{
    struct rt_index_node *n = rt_index_get(&rt->pods, id);
    if (!n)
        return NULL;
    struct rt_sandbox *sb = rt_index_entry(n, struct rt_sandbox, node);
    pthread_mutex_lock(&sb->lock);
    if (sb->removed) { /* removed while this lookup waited for the lock */
        rt_sandbox_unlock_unref(sb);
        return NULL;
    }
    return sb;
}

void rt_sandbox_unlock_unref(struct rt_sandbox *sb)
{
    pthread_mutex_unlock(&sb->lock);
    rt_sandbox_unref(sb);
}

/* The record lives in the volatile state dir: replaced atomically, so a crash of crispd never leaves a
 * torn record, but not fsynced. A crash of the machine ends every pod it describes (their namespaces
 * and processes go with it, and /run is normally tmpfs), so waiting for the disk would buy nothing and
 * cost most of a host-network RunPodSandbox. */
int rt_sandbox_persist(const struct rt_sandbox *sb, crisp_error_t **err)
{
    _cleanup_free_ char *json = rt_sandbox_record_to_json(sb), *path = path_join(sb->info.dir, "pod.json");
    if (!json || !path)
        return crisp_error_oom(err);
    return file_write_replace(path, json, strlen(json), 0600, err);
}
