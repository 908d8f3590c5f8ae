/* common/: errors, arena, file helpers, address checks, JSON nesting. */
#define _GNU_SOURCE
#include "common/arena.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/file.h"
#include "common/json.h"
#include "common/netaddr.h"
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

static void test_error(void)
{
    crisp_error_t *err = NULL;
    CHECK(crisp_error_make(&err, ENOENT, "no %s", "pod") == -1);
    CHECK(err && err->status == ENOENT);
    CHECK_STR(err->msg, "no pod");
    /* A second error never overwrites the first. */
    crisp_error_make(&err, EINVAL, "later");
    CHECK_STR(err->msg, "no pod");
    CHECK(crisp_error_wrap(&err, "pod %d", 7) == -1);
    CHECK_STR(err->msg, "pod 7: no pod");
    crisp_error_freep(&err);
    CHECK(err == NULL);
    errno = EACCES;
    crisp_error_errno(&err, "open %s", "/x");
    CHECK(err->status == EACCES);
    CHECK_STR(err->msg, "open /x: Permission denied");
    crisp_error_free(err);
    CHECK(crisp_error_make(NULL, EIO, "ignored") == -1);
    crisp_error_free(NULL);
}

static void test_arena(void)
{
    struct arena a = {0};
    char *s = arena_strdup(&a, "hello");
    CHECK_STR(s, "hello");
    for (int i = 0; i < 1000; i++) {
        void *p = arena_alloc(&a, (size_t)i % 97 + 1);
        CHECK(p && ((uintptr_t)p % _Alignof(max_align_t)) == 0);
    }
    unsigned char *big = arena_alloc(&a, 1 << 20);
    CHECK(big && big[0] == 0 && big[(1 << 20) - 1] == 0);
    CHECK_STR(s, "hello"); /* earlier data survives growth */
    CHECK_STR(arena_printf(&a, "%s-%d", "x", 42), "x-42");
    CHECK_STR(arena_strndup(&a, "abcdef", 3), "abc");
    CHECK(arena_strdup(&a, NULL) == NULL);
    CHECK(arena_alloc(&a, SIZE_MAX) == NULL);
    arena_fini(&a);
    CHECK(a.head == NULL);
}

static void test_files(void)
{
    char dir[] = "/tmp/crisp-unit-file-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    _cleanup_free_ char *nested = NULL, *file = NULL;
    CHECK(asprintf(&nested, "%s/a/b/c", dir) > 0 && asprintf(&file, "%s/a/b/c/rec.json", dir) > 0);
    crisp_error_t *err = NULL;
    CHECK(dir_create_all(nested, 0700, &err) == 0);
    CHECK(dir_create_all(nested, 0700, &err) == 0);
    CHECK(file_write_atomic(file, "{\"a\":1}", 7, 0600, &err) == 0);
    CHECK(file_write_atomic(file, "{}", 2, 0600, &err) == 0);
    struct stat st;
    CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600);
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    CHECK(file_read_bounded(file, 100, &data, &len, &err) == 0);
    CHECK(len == 2);
    CHECK_STR(data, "{}");
    char *none = NULL;
    CHECK(file_read_bounded(file, 1, &none, NULL, &err) < 0 && err->status == EFBIG);
    crisp_error_freep(&err);
    CHECK(file_read_bounded(nested, 100, &none, NULL, &err) < 0 && err->status == EINVAL);
    crisp_error_freep(&err);
    CHECK(dir_create_all(file, 0700, &err) < 0 && err->status == ENOTDIR);
    crisp_error_freep(&err);
    _cleanup_free_ char *cmd = NULL;
    CHECK(asprintf(&cmd, "rm -rf %s", dir) > 0 && system(cmd) == 0);
}

static void test_netaddr(void)
{
    CHECK(netaddr_cidr_valid("10.0.0.0/8"));
    CHECK(netaddr_cidr_valid("0.0.0.0/0"));
    CHECK(netaddr_cidr_valid("fd00::/64"));
    CHECK(netaddr_cidr_valid("::/128"));
    CHECK(!netaddr_cidr_valid("10.0.0.0"));
    CHECK(!netaddr_cidr_valid("10.0.0.0/33"));
    CHECK(!netaddr_cidr_valid("10.0.0.0/"));
    CHECK(!netaddr_cidr_valid("10.0.0.0/-1"));
    CHECK(!netaddr_cidr_valid("/8"));
    CHECK(!netaddr_cidr_valid("fd00::/0129"));
    CHECK(netaddr_cidr_list_valid("10.0.0.0/24,fd00::/64"));
    CHECK(!netaddr_cidr_list_valid(""));
    CHECK(!netaddr_cidr_list_valid(",10.0.0.0/24"));
    CHECK(!netaddr_cidr_list_valid("10.0.0.0/24,"));
    CHECK(!netaddr_cidr_list_valid("10.0.0.0/24,,fd00::/64"));
}

/* Brackets in strings and comments do not count; a comment cannot hide real ones: yajl parses
 * comments, so a quote inside one must not open a string that swallows the nesting after it. */
static void test_json_nesting(void)
{
    CHECK(json_nesting_ok("[[[]]]", 3));
    CHECK(!json_nesting_ok("[[[[]]]]", 3));
    CHECK(json_nesting_ok("[\"[[[[\"]", 1));
    CHECK(json_nesting_ok("[\"\\\"[[[\"]", 1));
    CHECK(json_nesting_ok("[/* [[[[ */]", 1));
    CHECK(json_nesting_ok("[// [[[[\n]", 1));
    CHECK(!json_nesting_ok("/* \" */ [[[[]]]]", 3));
    CHECK(!json_nesting_ok("// \"\n[[[[]]]]", 3));
    CHECK(json_nesting_ok("[] /* unterminated [[[[", 1));
    CHECK(json_nesting_ok("[\"/* not a comment\", [[]]]", 3));
    CHECK(!json_nesting_ok("[\"/* not a comment\", [[[]]]]", 3));
}

int main(void)
{
    test_error();
    test_arena();
    test_files();
    test_netaddr();
    test_json_nesting();
    return unit_report("test_common");
}
