/* NULL-terminated vectors of owned strings (the free function lives in cleanup.h with its cleanup). */
#ifndef CRISP_STRV_H
#define CRISP_STRV_H

#include <stdbool.h>
#include <stddef.h>

size_t strv_length(char *const *v);
/* A deep copy (NULL gives an empty vector); NULL when out of memory. */
char **strv_copy(char *const *v);
bool strv_contains(char *const *v, const char *s);
/* Appends a copy of s unless already there; -1 when out of memory. */
int strv_add(char ***v, const char *s);
/* Removes every s in place. */
void strv_remove(char **v, const char *s);

#endif
