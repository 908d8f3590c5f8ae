#include "common/strv.h"

#include "common/cleanup.h"

#include <stdlib.h>
#include <string.h>

size_t strv_length(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **strv_copy(char *const *v)
{
    size_t n = strv_length(v);
    char **c = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; c && i < n; i++)
        if (!(c[i] = strdup(v[i]))) {
            strv_free(c);
            return NULL;
        }
    return c;
}

bool strv_contains(char *const *v, const char *s)
{
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return true;
    return false;
}

int strv_add(char ***v, const char *s)
{
    if (strv_contains(*v, s))
        return 0;
    size_t n = strv_length(*v);
    char **grown = realloc(*v, (n + 2) * sizeof(char *));
    if (!grown)
        return -1;
    *v = grown;
    grown[n + 1] = NULL;
    return (grown[n] = strdup(s)) ? 0 : -1;
}

void strv_remove(char **v, const char *s)
{
    size_t j = 0;
    for (size_t i = 0; v && v[i]; i++) {
        if (strcmp(v[i], s) == 0)
            free(v[i]);
        else
            v[j++] = v[i];
    }
    if (v)
        v[j] = NULL;
}
