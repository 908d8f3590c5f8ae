/* A growable array of pointers kept sorted by id, for tables looked up by a container's or pod's
 * id. The items belong to the caller: the vector only orders and stores the pointers.
 *
 * Contract: every item is a struct whose first member is its `char *id` (NUL-terminated, never
 * NULL), so that the id of an item is `*(char *const *)item`. An item's id must not change while
 * it is in a vector. The vector does not refuse duplicate ids: callers insert at the position
 * idvec_find gave when it did not find the id. Not thread-safe: callers hold their own lock. */
#ifndef CRISP_IDVEC_H
#define CRISP_IDVEC_H

#include <stdbool.h>
#include <stddef.h>

/* Zero-initialised is empty. */
struct idvec {
    void **items; /* sorted by id */
    size_t n, alloc;
};

/* Index of id, or the index where it would go to keep the order; *ret_found says which. */
size_t idvec_find(const struct idvec *v, const char *id, bool *ret_found);

/* Puts item at index at (0..n), moving the items from there up one; -1 when out of memory, with
 * the vector unchanged. */
int idvec_insert(struct idvec *v, size_t at, void *item);

/* Takes the item at index at (< n) out of the vector and returns it, for the caller to free. */
void *idvec_remove(struct idvec *v, size_t at);

/* Takes id's item out of the vector and returns it, for the caller to free; NULL when id has none. */
void *idvec_take(struct idvec *v, const char *id);

static inline void *idvec_at(const struct idvec *v, size_t i)
{
    return v->items[i];
}

/* Frees the array, not the items (free those first), and leaves the vector empty. */
void idvec_fini(struct idvec *v);

#endif
