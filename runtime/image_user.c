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

/* The passwd entry whose uid is id: its name (copied into name) and gid. */
static bool passwd_by_uid(const char *text, unsigned long id, char *name, size_t name_size,
                          unsigned long *ret_gid)
{
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        size_t nlen = strcspn(line, ":\n");
        const char *f = line[nlen] == ':' ? strchr(line + nlen + 1, ':') : NULL;
        unsigned long uid, gid;
        if (!f || !parse_id(f + 1, strcspn(f + 1, ":\n"), &uid) || uid != id)
            continue;
        const char *g = strchr(f + 1, ':');
        if (!g || !parse_id(g + 1, strcspn(g + 1, ":\n"), &gid) || nlen >= name_size)
            return false;
        memcpy(name, line, nlen);
        name[nlen] = '\0';
        *ret_gid = gid;
        return true;
    }
    return false;
}

/* A numeric user with an entry in the image's passwd runs with that entry's group, as in Docker. */
static int resolve_part(char *const *lowerdirs, const char *part, bool group, unsigned long *ret_id,
                        unsigned long *ret_gid, crisp_error_t **err)
{
    if (parse_id(part, strlen(part), ret_id)) {
        char name[256];
        _cleanup_free_ char *db = group ? NULL : read_db(lowerdirs, "etc/passwd");
        if (db && ret_gid)
            passwd_by_uid(db, *ret_id, name, sizeof(name), ret_gid);
        return 1;
    }
    _cleanup_free_ char *db = read_db(lowerdirs, group ? "etc/group" : "etc/passwd");
    if (!db || !db_lookup(db, part, ret_id, group ? NULL : ret_gid))
        return crisp_error_make(err, EINVAL, "%s \"%s\" is not in the image's /etc/%s",
                                group ? "group" : "user", part, group ? "group" : "passwd");
    return 0;
}

/* Whether the comma-separated member list, which ends at end, names name. */
static bool members_include(const char *m, const char *end, const char *name)
{
    size_t nlen = strlen(name);
    while (m < end) {
        size_t len = strcspn(m, ",\n");
        if (len == nlen && strncmp(m, name, nlen) == 0)
            return true;
        if (m[len] != ',')
            break;
        m += len + 1;
    }
    return false;
}

/* A group line "name:password:gid:members" listing user: its gid. */
static bool group_line_lists(const char *line, const char *user, unsigned long *ret_gid)
{
    const char *end = line + strcspn(line, "\n");
    const char *pw = memchr(line, ':', (size_t)(end - line));
    const char *id = pw ? memchr(pw + 1, ':', (size_t)(end - pw - 1)) : NULL;
    const char *members = id ? memchr(id + 1, ':', (size_t)(end - id - 1)) : NULL;
    return members && parse_id(id + 1, (size_t)(members - id - 1), ret_gid) &&
           members_include(members + 1, end, user);
}

static int groups_add(gid_t **groups, size_t *n, unsigned long gid)
{
    for (size_t i = 0; i < *n; i++)
        if ((*groups)[i] == (gid_t)gid)
            return 0;
    if (*n >= RT_IMAGE_USER_MAX_GROUPS)
        return -1;
    gid_t *g = realloc(*groups, (*n + 1) * sizeof(gid_t));
    if (!g)
        return -1;
    g[(*n)++] = (gid_t)gid;
    *groups = g;
    return 0;
}

int rt_image_user_groups(char *const *lowerdirs, uid_t uid, gid_t **ret_groups, size_t *ret_n,
                         crisp_error_t **err)
{
    *ret_groups = NULL;
    *ret_n = 0;
    char name[256];
    unsigned long gid;
    _cleanup_free_ char *passwd = read_db(lowerdirs, "etc/passwd");
    _cleanup_free_ char *group = passwd && passwd_by_uid(passwd, uid, name, sizeof(name), &gid)
                                     ? read_db(lowerdirs, "etc/group")
                                     : NULL;
    for (const char *line = group; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned long g;
        if (!group_line_lists(line, name, &g))
            continue;
        if (groups_add(ret_groups, ret_n, g) < 0) {
            free(*ret_groups);
            *ret_groups = NULL;
            *ret_n = 0;
            return crisp_error_make(err, ENOMEM, "the image's /etc/group lists user %s in too many groups",
                                    name);
        }
    }
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
        return crisp_error_oom(err);
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
