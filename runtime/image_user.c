#define _GNU_SOURCE
#include "runtime/image_user.h"

#include "common/cleanup.h"
#include "common/file.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_MAX (4 * 1024 * 1024)

static bool parse_id(const char *s, size_t len, unsigned long *ret)
{
    if (len == 0 || len > 10 || strspn(s, "0123456789") < len)
        return false;
    *ret = strtoul(s, NULL, 10);
    return *ret <= 0xfffffffeUL;
}

/* The top-most layer that has the file wins, as in the container's overlay. */
static char *read_db(char *const *lowerdirs, const char *file)
{
    for (char *const *d = lowerdirs; d && *d; d++) {
        _cleanup_free_ char *path = NULL;
        char *text = NULL;
        if (asprintf(&path, "%s/%s", *d, file) < 0)
            return NULL;
        _cleanup_error_ crisp_error_t *err = NULL;
        if (file_read_bounded(path, DB_MAX, &text, NULL, &err) == 0)
            return text;
    }
    return NULL;
}

/* In a passwd or group text, the entry named name: field 2 (id) and, for passwd, field 3 (gid). */
static bool db_lookup(const char *text, const char *name, unsigned long *ret_id, unsigned long *ret_gid)
{
    size_t nlen = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, nlen) != 0 || line[nlen] != ':')
            continue;
        const char *f = strchr(line + nlen + 1, ':');
        if (!f)
            return false;
        const char *id = f + 1;
        if (!parse_id(id, strcspn(id, ":\n"), ret_id))
            return false;
        const char *g = strchr(id, ':');
        if (ret_gid && (!g || !parse_id(g + 1, strcspn(g + 1, ":\n"), ret_gid)))
            return false;
        return true;
    }
    return false;
}

static int resolve_part(char *const *lowerdirs, const char *part, bool group, unsigned long *ret_id,
                        unsigned long *ret_gid, crisp_error_t **err)
{
    if (parse_id(part, strlen(part), ret_id))
        return 1; /* numeric: no primary group known */
    _cleanup_free_ char *db = read_db(lowerdirs, group ? "etc/group" : "etc/passwd");
    if (!db || !db_lookup(db, part, ret_id, group ? NULL : ret_gid))
        return crisp_error_make(err, EINVAL, "%s \"%s\" is not in the image's /etc/%s", group ? "group" : "user",
                                part, group ? "group" : "passwd");
    return 0;
}

int rt_image_user_resolve(char *const *lowerdirs, const char *user, uid_t *ret_uid, gid_t *ret_gid,
                          crisp_error_t **err)
{
    *ret_uid = 0;
    *ret_gid = 0;
    if (!user || !*user)
        return 0;
    if (strlen(user) > 512)
        return crisp_error_make(err, EINVAL, "image user \"%.64s...\" is too long", user);
    _cleanup_free_ char *copy = strdup(user);
    if (!copy)
        return crisp_error_make(err, ENOMEM, "out of memory");
    char *colon = strchr(copy, ':');
    if (colon)
        *colon = '\0';
    unsigned long uid = 0, gid = 0;
    int r = resolve_part(lowerdirs, copy, false, &uid, &gid, err);
    if (r < 0)
        return -1;
    if (colon && resolve_part(lowerdirs, colon + 1, true, &gid, NULL, err) < 0)
        return -1;
    *ret_uid = (uid_t)uid;
    *ret_gid = (gid_t)gid; /* a bare numeric uid runs with gid 0, as Docker does */
    return 0;
}
