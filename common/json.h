/* Small helpers over yajl for crisp's own records: writing keys and reading typed members. */
#ifndef CRISP_JSON_H
#define CRISP_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

void json_gen_str(yajl_gen g, const char *s); /* NULL is written as "" */
void json_gen_kv_str(yajl_gen g, const char *key, const char *value);
void json_gen_kv_int(yajl_gen g, const char *key, long long value);
void json_gen_kv_strv(yajl_gen g, const char *key, char *const *v);
/* The generated text (caller frees); frees g. */
char *json_gen_take(yajl_gen g);

/* Members of an object: a string (or NULL), an integer (0 when absent or not one), a string list
 * (a fresh NULL-terminated copy, non-strings skipped; NULL only when out of memory). */
const char *json_get_str(yajl_val obj, const char *key);
long long json_get_int(yajl_val obj, const char *key);
char **json_get_strv(yajl_val obj, const char *key);

/* False when text nests arrays/objects deeper than max_depth (checked before handing it to yajl). */
bool json_nesting_ok(const char *text, size_t max_depth);

#endif
