#include "runtime/index.h"
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct obj {
    struct rt_index_node node;
    char id[65];
    int group;
};

static _Atomic int destroyed;

static void obj_destroy(struct rt_index_node *n)
{
    free(rt_index_entry(n, struct obj, node));
    atomic_fetch_add(&destroyed, 1);
}

static struct obj *obj_new(const char *id, int group)
{
    struct obj *o = calloc(1, sizeof(*o));
    snprintf(o->id, sizeof(o->id), "%s", id);
    o->group = group;
    rt_index_node_init(&o->node, o->id, obj_destroy);
    return o;
}

static bool same_group(const struct rt_index_node *n, const void *key)
{
    return rt_index_entry(n, const struct obj, node)->group == *(const int *)key;
}

/* Adds a new object and drops the caller's reference: the index holds the only one. */
static int add(struct rt_index *idx, const char *id, int group, bool hidden, rt_index_match_fn same)
{
    struct obj *o = obj_new(id, group);
    struct rt_index_node *dup = NULL;
    int r = rt_index_add(idx, &o->node, hidden, same, &o->group, &dup, NULL);
    if (r == 1)
        rt_index_node_unref(dup);
    rt_index_node_unref(&o->node);
    return r;
}

static const char *get_id(struct rt_index *idx, const char *id)
{
    static char buf[65];
    struct rt_index_node *n = rt_index_get(idx, id);
    if (!n)
        return NULL;
    snprintf(buf, sizeof(buf), "%s", n->id);
    rt_index_node_unref(n);
    return buf;
}

static void test_lookup(void)
{
    struct rt_index idx;
    rt_index_init(&idx);
    CHECK(add(&idx, "abc123", 1, false, NULL) == 0);
    CHECK(add(&idx, "abd456", 2, false, NULL) == 0);
    CHECK(add(&idx, "abc789", 4, false, NULL) == 0);
    CHECK(add(&idx, "abc", 3, false, NULL) == 0);
    CHECK_STR(get_id(&idx, "abc123"), "abc123");
    CHECK_STR(get_id(&idx, "abc1"), "abc123");
    CHECK(get_id(&idx, "abc7") != NULL);
    CHECK_STR(get_id(&idx, "abd"), "abd456");
    CHECK_STR(get_id(&idx, "abc"), "abc"); /* a full id wins over the longer ids it prefixes */
    CHECK(get_id(&idx, "ab") == NULL);     /* ambiguous */
    CHECK(get_id(&idx, "") == NULL);
    CHECK(get_id(&idx, "x") == NULL);
    CHECK(get_id(&idx, "abc1234") == NULL);
    rt_index_fini(&idx);
}

static void test_hidden_and_duplicates(void)
{
    struct rt_index idx;
    rt_index_init(&idx);
    struct obj *o = obj_new("hidden1", 7);
    struct rt_index_node *dup = NULL;
    CHECK(rt_index_add(&idx, &o->node, true, same_group, &o->group, &dup, NULL) == 0);
    CHECK(get_id(&idx, "hidden1") == NULL);
    struct rt_index_node **list = NULL;
    size_t n = 99;
    CHECK(rt_index_list(&idx, NULL, NULL, &list, &n, NULL) == 0 && n == 0);
    rt_index_list_unref(list, n);
    /* A hidden node still takes its key. */
    struct obj *twin = obj_new("twin", 7);
    CHECK(rt_index_add(&idx, &twin->node, false, same_group, &twin->group, &dup, NULL) == 1);
    CHECK(dup == &o->node);
    rt_index_node_unref(dup);
    rt_index_node_unref(&twin->node);
    rt_index_show(&idx, &o->node);
    CHECK_STR(get_id(&idx, "hid"), "hidden1");
    rt_index_node_unref(&o->node);
    rt_index_fini(&idx);
}

static void test_references(void)
{
    struct rt_index idx;
    rt_index_init(&idx);
    int before = destroyed;
    struct obj *o = obj_new("kept", 1);
    CHECK(rt_index_add(&idx, &o->node, false, NULL, NULL, NULL, NULL) == 0);
    CHECK(atomic_load(&o->node.refs) == 2);
    struct rt_index_node *got = rt_index_get(&idx, "kept");
    CHECK(got == &o->node && atomic_load(&o->node.refs) == 3);
    CHECK(rt_index_remove(&idx, &o->node));
    CHECK(!rt_index_remove(&idx, &o->node));
    CHECK(get_id(&idx, "kept") == NULL);
    rt_index_node_unref(got);
    CHECK(destroyed == before);
    rt_index_node_unref(&o->node); /* the last one */
    CHECK(destroyed == before + 1);
    CHECK(add(&idx, "left", 1, false, NULL) == 0);
    rt_index_fini(&idx);
    CHECK(destroyed == before + 2);
}

static void test_list(void)
{
    struct rt_index idx;
    rt_index_init(&idx);
    CHECK(add(&idx, "a1", 1, false, NULL) == 0);
    CHECK(add(&idx, "b2", 2, false, NULL) == 0);
    CHECK(add(&idx, "c1", 1, false, NULL) == 0);
    CHECK(add(&idx, "d1", 1, true, NULL) == 0);
    int group = 1;
    struct rt_index_node **list = NULL;
    size_t n = 0;
    CHECK(rt_index_list(&idx, same_group, &group, &list, &n, NULL) == 0);
    CHECK(n == 2 && list[2] == NULL);
    CHECK_STR(n == 2 ? list[0]->id : NULL, "a1");
    CHECK_STR(n == 2 ? list[1]->id : NULL, "c1");
    /* The list's references keep a removed node alive. */
    int before = destroyed;
    CHECK(n == 2 && rt_index_remove(&idx, list[0]));
    CHECK(destroyed == before);
    CHECK_STR(list[0]->id, "a1");
    rt_index_list_unref(list, n);
    CHECK(destroyed == before + 1);
    rt_index_fini(&idx);
}

#define THREADS 4
#define ROUNDS 2000

struct worker {
    struct rt_index *idx;
    int n;
};

/* Each thread adds, finds, lists and removes its own ids while the others do the same. */
static void *worker_run(void *arg)
{
    struct worker *w = arg;
    int failures = 0;
    for (int i = 0; i < ROUNDS; i++) {
        char id[65];
        snprintf(id, sizeof(id), "t%d-%d", w->n, i);
        struct obj *o = obj_new(id, w->n);
        failures += rt_index_add(w->idx, &o->node, false, NULL, NULL, NULL, NULL) != 0;
        struct rt_index_node *n = rt_index_get(w->idx, id);
        failures += n != &o->node;
        struct rt_index_node **list = NULL;
        size_t len = 0;
        failures += rt_index_list(w->idx, same_group, &w->n, &list, &len, NULL) != 0 || len != 1;
        rt_index_list_unref(list, len);
        failures += !rt_index_remove(w->idx, &o->node);
        rt_index_node_unref(n);
        rt_index_node_unref(&o->node);
    }
    return (void *)(long)failures;
}

static void test_threads(void)
{
    struct rt_index idx;
    rt_index_init(&idx);
    int before = destroyed;
    pthread_t t[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){&idx, i};
        pthread_create(&t[i], NULL, worker_run, &w[i]);
    }
    long failures = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        failures += (long)r;
    }
    CHECK(failures == 0);
    CHECK(destroyed == before + THREADS * ROUNDS);
    CHECK(idx.n == 0);
    rt_index_fini(&idx);
}

int main(void)
{
    test_lookup();
    test_hidden_and_duplicates();
    test_references();
    test_list();
    test_threads();
    return unit_report("test_index");
}
