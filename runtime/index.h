/* The runtime's object index: pods and containers by id, the same code for both. An object embeds an
 * rt_index_node (its id and its reference count); lookups take a reference under the index's read
 * lock and return with the lock dropped, so the caller may then block on the object's own lock. The
 * lock order this serves is written in runtime/runtime_internal.h. */
#ifndef CRISP_RUNTIME_INDEX_H
#define CRISP_RUNTIME_INDEX_H

#include "common/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct rt_index_node {
    const char *id;   /* the object's full id, which the object owns: set before it is added, never changed */
    _Atomic int refs; /* one per holder: the index while the node is in it, and each operation using it */
    bool hidden;      /* guarded by the index lock: in the index (its name stays taken) but not found */
    void (*destroy)(struct rt_index_node *n); /* frees the object when the last reference goes */
};

/* The object that embeds node as member. */
#define rt_index_entry(node, type, member) ((type *)((char *)(node)-offsetof(type, member)))

struct rt_index {
    pthread_rwlock_t
        lock; /* guards nodes, n and every node's hidden flag; a leaf: nothing is locked under it */
    struct rt_index_node **nodes; /* in the order added, but a removal moves the last node into the gap */
    size_t n;
};

/* Whether node n matches key (for duplicates at add, and filters of rt_index_list). Called with the
 * index lock held: it may read only what is fixed while n is indexed. */
typedef bool (*rt_index_match_fn)(const struct rt_index_node *n, const void *key);

void rt_index_init(struct rt_index *idx);
/* Drops the index's references; no other thread may use the index any more. */
void rt_index_fini(struct rt_index *idx);

/* The node starts with one reference, the caller's. */
void rt_index_node_init(struct rt_index_node *n, const char *id, void (*destroy)(struct rt_index_node *n));
void rt_index_node_ref(struct rt_index_node *n);
void rt_index_node_unref(struct rt_index_node *n);

/* Adds n, hidden or not, with a reference of the index's own; 0 when added. When a node of the index
 * (hidden ones too) matches key by same, n is not added: 1, and that node, referenced, in *ret_same.
 * -1: out of memory. */
int rt_index_add(struct rt_index *idx, struct rt_index_node *n, bool hidden, rt_index_match_fn same,
                 const void *key, struct rt_index_node **ret_same, crisp_error_t **err);
/* Makes a hidden node visible to lookups. */
void rt_index_show(struct rt_index *idx, struct rt_index_node *n);
/* Takes n out and drops the index's reference (the caller must hold one of its own to go on using
 * n); false if n was not in the index. */
bool rt_index_remove(struct rt_index *idx, struct rt_index_node *n);

/* The visible node with this full id or unique id prefix, referenced; NULL if none, or if the prefix
 * is empty or ambiguous. */
struct rt_index_node *rt_index_get(struct rt_index *idx, const char *id);
/* Every visible node that match accepts (match NULL: all), each referenced, in index order; give them
 * back with rt_index_list_unref. */
int rt_index_list(struct rt_index *idx, rt_index_match_fn match, const void *key, struct rt_index_node ***ret,
                  size_t *ret_n, crisp_error_t **err);
void rt_index_list_unref(struct rt_index_node **list, size_t n);

#endif
