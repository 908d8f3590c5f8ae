/* A bump allocator for everything one RPC allocates: the decoded request, the response and its
 * strings. Nothing is freed piecemeal; the whole arena goes when the call ends. */
#ifndef CRISP_ARENA_H
#define CRISP_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head;
};

void *arena_alloc(struct arena *a, size_t size); /* zeroed; NULL when out of memory */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_fini(struct arena *a);

#endif
