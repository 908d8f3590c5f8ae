#define _GNU_SOURCE
#include "runtime/container.h"

#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void container_destroy(struct rt_index_node *n)
{
    struct rt_container *c = rt_index_entry(n, struct rt_container, node);
    rt_container_fini(c);
    fd_close_reset(&c->monitor_pidfd);
    pthread_cond_destroy(&c->op_done);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

struct rt_container *rt_container_new(void)
{
    struct rt_container *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    rt_index_node_init(&c->node, c->info.id, container_destroy);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->op_done, NULL);
    c->monitor_pidfd = -1;
    return c;
}

void rt_container_op_begin_locked(struct rt_container *c, enum rt_container_op op)
{
    c->op = op;
}

void rt_container_op_end_locked(struct rt_container *c)
{
    c->op = RT_OP_NONE;
    pthread_cond_broadcast(&c->op_done);
}

void rt_container_op_wait_locked(struct rt_container *c)
{
    while (c->op != RT_OP_NONE)
        pthread_cond_wait(&c->op_done, &c->lock);
}

const char *rt_container_op_name(enum rt_container_op op)
{
    switch (op) {
    case RT_OP_STARTING:
        return "being started";
    case RT_OP_STOPPING:
        return "being stopped";
    case RT_OP_REMOVING:
        return "being removed";
    default:
        return "idle";
    }
}

void rt_container_unref(struct rt_container *c)
{
    if (c)
        rt_index_node_unref(&c->node);
}

/* Name and attempt are fixed once indexed, so they may be read under the index lock alone. */
static bool same_name(const struct rt_index_node *n, const void *key)
{
    const struct rt_container_info *o = &rt_index_entry(n, const struct rt_container, node)->info;
    const struct rt_container_info *i = key;
    return strcmp(o->sandbox_id, i->sandbox_id) == 0 && strcmp(o->name, i->name) == 0 &&
           o->attempt == i->attempt;
}

int rt_container_index_add(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    struct rt_index_node *same = NULL;
    int r = rt_index_add(&rt->containers, &c->node, false, same_name, &c->info, &same, err);
    if (r <= 0)
        return r;
    crisp_error_make(err, EEXIST, "container %s (attempt %u) already exists in pod %.12s as %s", c->info.name,
                     c->info.attempt, c->info.sandbox_id, same->id);
    rt_index_node_unref(same);
    return -1;
}

struct rt_container *rt_container_lock_by_id(struct rt_runtime *rt, const char *id)
{
    struct rt_index_node *n = rt_index_get(&rt->containers, id);
    if (!n)
        return NULL;
    struct rt_container *c = rt_index_entry(n, struct rt_container, node);
    pthread_mutex_lock(&c->lock);
    if (c->removed) { /* removed while this lookup waited for the lock */
        rt_container_unlock_unref(c);
        return NULL;
    }
    return c;
}

void rt_container_unlock_unref(struct rt_container *c)
{
    pthread_mutex_unlock(&c->lock);
    rt_container_unref(c);
}

static bool in_pod(const struct rt_index_node *n, const void *sandbox_id)
{
    return strcmp(rt_index_entry(n, const struct rt_container, node)->info.sandbox_id, sandbox_id) == 0;
}

char **rt_containers_of_pod(struct rt_runtime *rt, const char *sandbox_id)
{
    struct rt_index_node **list = NULL;
    size_t n = 0;
    if (rt_index_list(&rt->containers, in_pod, sandbox_id, &list, &n, NULL) < 0)
        return NULL;
    char **ids = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; ids && i < n; i++)
        if (!(ids[i] = strdup(list[i]->id))) {
            strv_free(ids);
            ids = NULL;
        }
    rt_index_list_unref(list, n);
    return ids;
}

void rt_runtime_set_event_hook(struct rt_runtime *rt, rt_container_event_fn fn, void *data)
{
    rt->event_fn = fn;
    rt->event_data = data;
}

void rt_container_emit(struct rt_runtime *rt, enum rt_container_event type, const struct rt_container *c)
{
    if (rt->event_fn)
        rt->event_fn(rt->event_data, type, c->info.id, c->info.sandbox_id);
}

/* Replaced atomically but not fsynced, as pod records are (runtime/sandbox.c says why). */
int rt_container_persist(const struct rt_container *c, crisp_error_t **err)
{
    _cleanup_free_ char *json = rt_container_record_to_json(c), *path = path_join(c->dir, "container.json");
    if (!json || !path)
        return crisp_error_oom(err);
    return file_write_replace(path, json, strlen(json), 0600, err);
}

char *rt_container_exit_file(const struct rt_container *c)
{
    return path_join(c->dir, "exit");
}

char *rt_container_seccomp_file(const struct rt_container *c)
{
    return path_join(c->dir, "seccomp.bpf");
}

char *rt_container_attach_socket(const struct rt_container *c)
{
    return path_join(c->dir, "attach");
}
