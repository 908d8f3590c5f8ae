#define _GNU_SOURCE
#include "common/json.h"

#include "common/cleanup.h"

#include <stdlib.h>
#include <string.h>

void json_gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)(s ? s : ""), s ? strlen(s) : 0);
}

void json_gen_kv_str(yajl_gen g, const char *key, const char *value)
{
    json_gen_str(g, key);
    json_gen_str(g, value);
}

void json_gen_kv_int(yajl_gen g, const char *key, long long value)
{
    json_gen_str(g, key);
    yajl_gen_integer(g, value);
}

void json_gen_kv_strv(yajl_gen g, const char *key, char *const *v)
{
    json_gen_str(g, key);
    yajl_gen_array_open(g);
    for (; v && *v; v++)
        json_gen_str(g, *v);
    yajl_gen_array_close(g);
}

char *json_gen_take(yajl_gen g)
{
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    char *out = strndup((const char *)buf, len);
    yajl_gen_free(g);
    return out;
}

const char *json_get_str(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    return v ? v->u.string : NULL;
}

long long json_get_int(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_number);
    return v && YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0;
}

char **json_get_strv(yajl_val obj, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_array);
    size_t n = v ? v->u.array.len : 0;
    char **out = calloc(n + 1, sizeof(char *));
    for (size_t i = 0, j = 0; out && i < n; i++)
        if (YAJL_IS_STRING(v->u.array.values[i]) && !(out[j++] = strdup(v->u.array.values[i]->u.string))) {
            strv_free(out);
            return NULL;
        }
    return out;
}

/* Where the comment starting at p ends (its last character), or NULL when p starts none. yajl
 * accepts comments, so a quote or bracket inside one must not count. */
static const char *comment_end(const char *p)
{
    if (p[0] != '/' || (p[1] != '/' && p[1] != '*'))
        return NULL;
    const char *end = p[1] == '/' ? strchr(p + 2, '\n') : strstr(p + 2, "*/");
    if (!end)
        return p + strlen(p) - 1; /* unterminated: the rest of the text */
    return p[1] == '/' ? end : end + 1;
}

/* yajl's tree code recurses once per level: untrusted text is measured first. */
bool json_nesting_ok(const char *text, size_t max_depth)
{
    size_t depth = 0;
    bool in_string = false;
    for (const char *p = text; *p; p++) {
        const char *skip = in_string ? NULL : comment_end(p);
        if (skip) {
            p = skip;
        } else if (in_string) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_string = false;
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == '[' || *p == '{') {
            if (++depth > max_depth)
                return false;
        } else if ((*p == ']' || *p == '}') && depth > 0) {
            depth--;
        }
    }
    return true;
}
