/* common/: errors, arena, file helpers, address checks, JSON nesting. */
#define _GNU_SOURCE
#include "common/arena.h"
#include "common/cleanup.h"
#include "common/error.h"
#include "common/file.h"
#include "common/idvec.h"
#include "common/json.h"
#include "common/netaddr.h"
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
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

/* idvec's contract: the id is the item's first member. */
struct idvec_item {
    char *id;
    int value;
};

static struct idvec_item *idvec_item_new(const char *id, int value)
{
    struct idvec_item *it = calloc(1, sizeof(*it));
    if (it && !(it->id = strdup(id))) {
        free(it);
        return NULL;
    }
    if (it)
        it->value = value;
    return it;
}

static void idvec_item_free(struct idvec_item *it)
{
    if (!it)
        return;
    free(it->id);
    free(it);
}

/* Adds id as the tables do: only when idvec_find did not find it, at the place it gave. 1: added,
 * 0: a duplicate, refused; -1: out of memory. */
static int idvec_add(struct idvec *v, const char *id, int value)
{
    bool found;
    size_t at = idvec_find(v, id, &found);
    if (found)
        return 0;
    struct idvec_item *it = idvec_item_new(id, value);
    if (!it || idvec_insert(v, at, it) < 0) {
        idvec_item_free(it);
        return -1;
    }
    return 1;
}

static bool idvec_sorted(const struct idvec *v)
{
    for (size_t i = 1; i < v->n; i++)
        if (strcmp(((struct idvec_item *)idvec_at(v, i - 1))->id,
                   ((struct idvec_item *)idvec_at(v, i))->id) >= 0)
            return false;
    return true;
}

static void test_idvec(void)
{
    struct idvec v = {0};
    bool found = true;
    CHECK(idvec_find(&v, "x", &found) == 0 && !found);

    CHECK(idvec_add(&v, "m", 1) == 1);
    CHECK(idvec_add(&v, "c", 2) == 1);
    CHECK(idvec_add(&v, "x", 3) == 1);
    CHECK(idvec_add(&v, "a", 4) == 1);
    CHECK(idvec_add(&v, "m", 5) == 0);
    CHECK(v.n == 4 && idvec_sorted(&v));
    size_t at = idvec_find(&v, "m", &found);
    CHECK(found && at == 2 && ((struct idvec_item *)idvec_at(&v, at))->value == 1);
    CHECK(idvec_find(&v, "b", &found) == 1 && !found);
    CHECK(idvec_find(&v, "z", &found) == 4 && !found);
    CHECK(idvec_find(&v, "", &found) == 0 && !found);

    /* Remove hands the item back and closes the gap. */
    at = idvec_find(&v, "c", &found);
    struct idvec_item *it = idvec_remove(&v, at);
    CHECK(found && it && strcmp(it->id, "c") == 0 && it->value == 2);
    idvec_item_free(it);
    CHECK(v.n == 3 && idvec_sorted(&v));
    CHECK(idvec_find(&v, "c", &found) == 1 && !found);
    it = idvec_remove(&v, v.n - 1);
    CHECK(strcmp(it->id, "x") == 0 && v.n == 2);
    idvec_item_free(it);
    CHECK(idvec_add(&v, "b", 6) == 1);
    CHECK(idvec_take(&v, "c") == NULL && v.n == 3);
    it = idvec_take(&v, "b");
    CHECK(it && it->value == 6 && v.n == 2 && idvec_sorted(&v));
    idvec_item_free(it);
    it = idvec_remove(&v, 0);
    CHECK(strcmp(it->id, "a") == 0 && v.n == 1);
    idvec_item_free(it);

    /* Growth across many reallocations, ids added out of order. */
    int added = 0;
    for (int i = 0; i < 5000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "id-%05d", (i * 7919) % 5000);
        added += idvec_add(&v, id, i) == 1;
    }
    CHECK(added == 5000 && v.n == 5001 && v.alloc >= v.n && idvec_sorted(&v));
    int all_found = 1;
    for (int i = 0; i < 5000; i++) {
        char id[32];
        snprintf(id, sizeof(id), "id-%05d", i);
        at = idvec_find(&v, id, &found);
        all_found &= found && strcmp(((struct idvec_item *)idvec_at(&v, at))->id, id) == 0;
    }
    CHECK(all_found);

    /* fini frees the array only: the items are still the caller's. */
    struct idvec_item **items = calloc(v.n, sizeof(*items));
    size_t n = v.n;
    for (size_t i = 0; items && i < n; i++)
        items[i] = idvec_at(&v, i);
    idvec_fini(&v);
    CHECK(v.items == NULL && v.n == 0 && v.alloc == 0);
    CHECK(items && strcmp(items[0]->id, "id-00000") == 0 && strcmp(items[n - 1]->id, "m") == 0);
    for (size_t i = 0; items && i < n; i++)
        idvec_item_free(items[i]);
    free(items);
    idvec_fini(&v);
    CHECK(v.n == 0 && idvec_find(&v, "m", &found) == 0 && !found);
}

int main(void)
{
    test_error();
    test_arena();
    test_files();
    test_netaddr();
    test_json_nesting();
    test_idvec();
    return unit_report("test_common");
}
