#define _GNU_SOURCE
#include "common/idvec.h"

#include <stdlib.h>
#include <string.h>

#define IDVEC_FIRST_ALLOC 64

/* The header's contract: an item starts with its char *id. Reading it through a char * lvalue is
 * reading the struct's first member, which C allows without breaking aliasing rules. */
static const char *item_id(const void *item)
{
    return *(char *const *)item;
}

size_t idvec_find(const struct idvec *v, const char *id, bool *ret_found)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(item_id(v->items[mid]), id);
        if (c == 0) {
            *ret_found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *ret_found = false;
    return lo;
}

int idvec_insert(struct idvec *v, size_t at, void *item)
{
    if (v->n == v->alloc) {
        size_t alloc = v->alloc ? v->alloc * 2 : IDVEC_FIRST_ALLOC;
        void **items = reallocarray(v->items, alloc, sizeof(*items));
        if (!items)
            return -1;
        v->items = items;
        v->alloc = alloc;
    }
    memmove(&v->items[at + 1], &v->items[at], (v->n - at) * sizeof(v->items[0]));
    v->items[at] = item;
    v->n++;
    return 0;
}

void *idvec_remove(struct idvec *v, size_t at)
{
    void *item = v->items[at];
    memmove(&v->items[at], &v->items[at + 1], (v->n - at - 1) * sizeof(v->items[0]));
    v->n--;
    return item;
}

void *idvec_take(struct idvec *v, const char *id)
{
    bool found;
    size_t at = idvec_find(v, id, &found);
    return found ? idvec_remove(v, at) : NULL;
}

void idvec_fini(struct idvec *v)
{
    free(v->items);
    *v = (struct idvec){0};
}
