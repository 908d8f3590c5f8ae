#include "runtime/index.h"

#include <stdlib.h>
#include <string.h>

void rt_index_init(struct rt_index *idx)
{
    *idx = (struct rt_index){.nodes = NULL};
    pthread_rwlock_init(&idx->lock, NULL);
}

void rt_index_fini(struct rt_index *idx)
{
    for (size_t i = 0; i < idx->n; i++)
        rt_index_node_unref(idx->nodes[i]);
    free(idx->nodes);
    idx->nodes = NULL;
    idx->n = 0;
    pthread_rwlock_destroy(&idx->lock);
}

void rt_index_node_init(struct rt_index_node *n, const char *id, void (*destroy)(struct rt_index_node *n))
{
    n->id = id;
    atomic_init(&n->refs, 1);
    n->hidden = false;
    n->destroy = destroy;
}

void rt_index_node_ref(struct rt_index_node *n)
{
    atomic_fetch_add(&n->refs, 1);
}

void rt_index_node_unref(struct rt_index_node *n)
{
    if (n && atomic_fetch_sub(&n->refs, 1) == 1)
        n->destroy(n);
}

static struct rt_index_node *find_same(const struct rt_index *idx, rt_index_match_fn same, const void *key)
{
    for (size_t i = 0; same && i < idx->n; i++)
        if (same(idx->nodes[i], key))
            return idx->nodes[i];
    return NULL;
}

int rt_index_add(struct rt_index *idx, struct rt_index_node *n, bool hidden, rt_index_match_fn same,
                 const void *key, struct rt_index_node **ret_same, crisp_error_t **err)
{
    pthread_rwlock_wrlock(&idx->lock);
    struct rt_index_node *dup = find_same(idx, same, key);
    if (dup) {
        rt_index_node_ref(dup);
        pthread_rwlock_unlock(&idx->lock);
        *ret_same = dup;
        return 1;
    }
    struct rt_index_node **grown = realloc(idx->nodes, (idx->n + 1) * sizeof(*grown));
    if (grown) {
        n->hidden = hidden;
        rt_index_node_ref(n);
        idx->nodes = grown;
        grown[idx->n++] = n;
    }
    pthread_rwlock_unlock(&idx->lock);
    return grown ? 0 : crisp_error_oom(err);
}

void rt_index_show(struct rt_index *idx, struct rt_index_node *n)
{
    pthread_rwlock_wrlock(&idx->lock);
    n->hidden = false;
    pthread_rwlock_unlock(&idx->lock);
}

bool rt_index_remove(struct rt_index *idx, struct rt_index_node *n)
{
    bool found = false;
    pthread_rwlock_wrlock(&idx->lock);
    for (size_t i = 0; i < idx->n && !found; i++)
        if (idx->nodes[i] == n) {
            idx->nodes[i] = idx->nodes[--idx->n];
            found = true;
        }
    pthread_rwlock_unlock(&idx->lock);
    if (found)
        rt_index_node_unref(n);
    return found;
}

/* Called with the index lock held. */
static struct rt_index_node *find_locked(const struct rt_index *idx, const char *id)
{
    size_t len = strlen(id), matches = 0;
    struct rt_index_node *found = NULL;
    for (size_t i = 0; len > 0 && i < idx->n; i++) {
        struct rt_index_node *n = idx->nodes[i];
        if (n->hidden || strncmp(n->id, id, len) != 0)
            continue;
        if (n->id[len] == '\0')
            return n;
        found = n;
        matches++;
    }
    return matches == 1 ? found : NULL; /* none, or an ambiguous prefix */
}

struct rt_index_node *rt_index_get(struct rt_index *idx, const char *id)
{
    pthread_rwlock_rdlock(&idx->lock);
    struct rt_index_node *n = find_locked(idx, id);
    if (n)
        rt_index_node_ref(n);
    pthread_rwlock_unlock(&idx->lock);
    return n;
}

int rt_index_list(struct rt_index *idx, rt_index_match_fn match, const void *key, struct rt_index_node ***ret,
                  size_t *ret_n, crisp_error_t **err)
{
    pthread_rwlock_rdlock(&idx->lock);
    struct rt_index_node **list = calloc(idx->n + 1, sizeof(*list));
    size_t n = 0;
    for (size_t i = 0; list && i < idx->n; i++)
        if (!idx->nodes[i]->hidden && (!match || match(idx->nodes[i], key))) {
            rt_index_node_ref(idx->nodes[i]);
            list[n++] = idx->nodes[i];
        }
    pthread_rwlock_unlock(&idx->lock);
    if (!list)
        return crisp_error_oom(err);
    *ret = list;
    *ret_n = n;
    return 0;
}

void rt_index_list_unref(struct rt_index_node **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        rt_index_node_unref(list[i]);
    free(list);
}
