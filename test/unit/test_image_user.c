/* The image's users and groups: USER in every form, and group membership from /etc/group. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/error.h"
#include "common/file.h"
#include "runtime/image_user.h"
#include "test/unit/unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "app:x:1000:1001::/home/app:/bin/sh\n"
                             "broken:x:notanumber:1:::\n"
                             "nobody:x:65534:65534:nobody:/:/bin/false\n";
static const char group[] = "root:x:0:\n"
                            "appgrp:x:1001:\n"
                            "wheel:x:10:root,app\n"
                            "audio:x:29:other,app,more\n"
                            "staff:x:50:application,apps\n"
                            "bad:x:zz:app\n"
                            "short:x\n"
                            "video:x:44:app";

static void write_file(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *etc = NULL, *path = NULL;
    crisp_error_t *err = NULL;
    if (asprintf(&etc, "%s/etc", dir) < 0 || asprintf(&path, "%s/etc/%s", dir, name) < 0)
        abort();
    mkdir(etc, 0755);
    CHECK(file_write_replace(path, text, strlen(text), 0644, &err) == 0);
    crisp_error_free(err);
}

static void check_user(char *const *layers, const char *user, int want_rc, uid_t want_uid, gid_t want_gid)
{
    uid_t uid = 99;
    gid_t gid = 99;
    crisp_error_t *err = NULL;
    int rc = rt_image_user_resolve(layers, user, &uid, &gid, &err);
    CHECK(rc == want_rc);
    if (rc == 0)
        CHECK(uid == want_uid && gid == want_gid);
    else
        CHECK(err && err->status == EINVAL && strstr(err->msg, "is not in the image's"));
    crisp_error_free(err);
}

static void test_user_forms(char *const *layers)
{
    check_user(layers, "", 0, 0, 0);
    check_user(layers, "app", 0, 1000, 1001);
    check_user(layers, "1000", 0, 1000, 1001); /* numeric, with a passwd entry: its group */
    check_user(layers, "4242", 0, 4242, 0);    /* numeric, unknown: gid 0, as Docker */
    check_user(layers, "1000:29", 0, 1000, 29);
    check_user(layers, "app:wheel", 0, 1000, 10);
    check_user(layers, "4242:4343", 0, 4242, 4343);
    check_user(layers, "ghost", -1, 0, 0);
    check_user(layers, "app:nogroup", -1, 0, 0);
    check_user(layers, "broken", -1, 0, 0);
}

static void check_groups(char *const *layers, uid_t uid, const gid_t *want, size_t n_want)
{
    gid_t *groups = NULL;
    size_t n = 0;
    crisp_error_t *err = NULL;
    CHECK(rt_image_user_groups(layers, uid, &groups, &n, &err) == 0);
    CHECK(n == n_want);
    for (size_t i = 0; i < n && i < n_want; i++)
        CHECK(groups[i] == want[i]);
    free(groups);
    crisp_error_free(err);
}

static void test_groups(char *const *layers)
{
    /* Exact member names only ("application" is not "app"), malformed lines skipped, a last line
     * without a newline read. */
    check_groups(layers, 1000, (const gid_t[]){10, 29, 44}, 3);
    check_groups(layers, 0, (const gid_t[]){10}, 1);
    check_groups(layers, 4242, NULL, 0); /* not in passwd: no memberships */
}

int main(void)
{
    char top[] = "/tmp/crisp-unit-user-XXXXXX", base[] = "/tmp/crisp-unit-user-XXXXXX";
    if (!mkdtemp(top) || !mkdtemp(base))
        return 1;
    /* The top-most layer that has a file wins: base's files are shadowed. */
    write_file(base, "passwd", "app:x:7:7:::\n");
    write_file(base, "group", "wheel:x:10:nobody\n");
    write_file(top, "passwd", passwd);
    write_file(top, "group", group);
    char *layers[] = {top, base, NULL};
    test_user_forms(layers);
    test_groups(layers);
    char *none[] = {NULL};
    check_user(none, "app", -1, 0, 0);
    check_groups(none, 1000, NULL, 0);
    crisp_error_t *err = NULL;
    dir_remove_all(top, &err);
    dir_remove_all(base, &err);
    crisp_error_free(err);
    printf("test_image_user: %d passed, %d failed\n", unit_passed, unit_failed);
    return unit_failed != 0;
}
