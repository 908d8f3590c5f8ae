/* runtime/mountinfo.c: the octal escapes of mountinfo, and unmounting what lies below a directory
 * (stacked mounts and nested ones, deepest first), on real tmpfs mounts in a temporary directory. */
#define _GNU_SOURCE
#include "common/file.h"
#include "runtime/mountinfo.h"
#include "unit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_unescape(void)
{
    char a[] = "/a\\040b\\011c\\012d\\134e";
    rt_mountinfo_unescape(a);
    CHECK_STR(a, "/a b\tc\nd\\e");
    char b[] = "/no\\escape\\9\\04";
    rt_mountinfo_unescape(b);
    CHECK_STR(b, "/no\\escape\\9\\04"); /* not three octal digits: kept as is */
}

static bool mounted(const char *path)
{
    char *text = NULL;
    if (rt_mountinfo_read(&text, NULL) < 0)
        return false;
    char needle[512];
    snprintf(needle, sizeof(needle), " %s ", path);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static void test_unmount_below(void)
{
    char dir[] = "/tmp/crisp-unit-mountinfo-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[256], nested[256], space[256], sibling[256];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    snprintf(nested, sizeof(nested), "%s/sub/nested", dir);
    snprintf(space, sizeof(space), "%s/with space", dir);
    snprintf(sibling, sizeof(sibling), "%s-sibling", dir); /* a prefix match that is not below */
    CHECK(mkdir(sub, 0700) == 0 && mkdir(space, 0700) == 0 && mkdir(sibling, 0700) == 0);
    if (mount("t", sub, "tmpfs", 0, NULL) < 0) {
        printf("test_mountinfo: no tmpfs mounts here, unmount_below skipped\n");
        rmdir(sub), rmdir(space), rmdir(sibling), rmdir(dir);
        return;
    }
    CHECK(mount("t", sub, "tmpfs", 0, NULL) == 0); /* stacked */
    CHECK(mkdir(nested, 0700) == 0 && mount("t", nested, "tmpfs", 0, NULL) == 0);
    CHECK(mount("t", space, "tmpfs", 0, NULL) == 0);
    CHECK(mount("t", sibling, "tmpfs", 0, NULL) == 0);

    crisp_error_t *err = NULL;
    CHECK(rt_unmount_below(dir, &err) == 0 && err == NULL);
    CHECK(!mounted(sub) && !mounted(nested));
    char escaped[300];
    snprintf(escaped, sizeof(escaped), "%s/with\\040space", dir);
    CHECK(!mounted(escaped));
    CHECK(mounted(sibling));
    CHECK(rt_unmount_below(dir, &err) == 0); /* nothing left: still success */

    CHECK(umount2(sibling, MNT_DETACH) == 0);
    CHECK(dir_remove_all(dir, NULL) == 0);
    rmdir(sibling);
}

int main(void)
{
    test_unescape();
    test_unmount_below();
    return unit_report("test_mountinfo");
}
