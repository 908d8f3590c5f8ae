/* Cgroup tests in four parts: pure path and conversion checks; the v2 and v1 backends against fake
 * trees in /tmp (plain files stand in for interface files, so the test creates the ones each step
 * reads; code under test never creates files); the dispatch through the ops table, with a backend
 * of the test's own; and real cgroups below a unique parent: v1, and v2 (the whole tree on a v2
 * host, the controller-less unified/ tree on a hybrid one), each skipped where not writable. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/cgroup/cgroup.h"
#include "runtime/cgroup/cgroup_internal.h"
#include "runtime/sandbox_internal.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Status of the error, which is freed; 0 on success. */
static int status(int r, crisp_error_t **err)
{
    int s = r < 0 ? (*err ? (*err)->status : -1) : 0;
    crisp_error_freep(err);
    return s;
}

#define ALL(d) (&RT_CGROUP_CREATED_UNIFORM(d))

/* Every hierarchy create looked at (at least one) had want levels made. */
static bool created_all(const struct rt_cgroup_created *c, int want)
{
    bool ok = c->n > 0 && c->rest == 0;
    for (size_t i = 0; i < c->n; i++)
        ok &= c->levels[i].depth == want;
    return ok;
}

static char *parent(const char *in, bool systemd, int *ret_status)
{
    char *path = NULL;
    crisp_error_t *err = NULL;
    *ret_status = status(rt_cgroup_parent_path(in, systemd, &path, &err), &err);
    return path;
}

static void check_parent(const char *in, bool systemd, const char *want)
{
    int s;
    _cleanup_free_ char *got = parent(in, systemd, &s);
    if (want) {
        CHECK_STR(got, want);
    } else {
        if (s != EINVAL)
            fprintf(stderr, "parent path \"%.60s\" (%s) gave %s\n", in, systemd ? "systemd" : "cgroupfs",
                    got);
        CHECK(s == EINVAL);
    }
}

static void test_parent_path(void)
{
    check_parent("/kubepods/burstable/pod1", false, "/kubepods/burstable/pod1");
    check_parent("/kubepods/", false, "/kubepods");
    check_parent("/", false, "/");
    check_parent("/a.slice", false, "/a.slice");
    check_parent("/pod:x_y-z.1", false, "/pod:x_y-z.1");
    const char *bad_cgroupfs[] = {"",      "kubepods", "/a/../b", "/..",   "/a/..", "/a/./b",        "/.",
                                  "/a//b", "//",       "/a//",    "/a\nb", "/a\tb", "kubepods.slice"};
    for (size_t i = 0; i < ARRAY_SIZE(bad_cgroupfs); i++)
        check_parent(bad_cgroupfs[i], false, NULL);
    check_parent(NULL, false, NULL);

    check_parent("kubepods-burstable-pod123.slice", true,
                 "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice");
    check_parent("kubepods.slice", true, "/kubepods.slice");
    check_parent("-.slice", true, "/");
    check_parent("kube_pods:x.y-z.slice", true, "/kube_pods:x.y.slice/kube_pods:x.y-z.slice");
    check_parent("/kubepods/pod1", true, "/kubepods/pod1");
    check_parent("/kubepods.slice/kubepods-pod1.slice/", true, "/kubepods.slice/kubepods-pod1.slice");
    const char *bad_systemd[] = {"",        "a--b.slice", "-a.slice",     "a-.slice", ".slice",
                                 "a.scope", "a b.slice",  "a\\x2d.slice", "a/b",      "kubepods",
                                 "-",       "--.slice",   "a.slice/../b"};
    for (size_t i = 0; i < ARRAY_SIZE(bad_systemd); i++)
        check_parent(bad_systemd[i], true, NULL);
}

static void test_parent_path_limits(void)
{
    char long_path[RT_CGROUP_PATH_MAX + 2];
    long_path[0] = '/';
    memset(long_path + 1, 'a', RT_CGROUP_PATH_MAX);
    long_path[RT_CGROUP_PATH_MAX + 1] = '\0';
    check_parent(long_path, false, NULL);
    long_path[RT_CGROUP_PATH_MAX] = '\0';
    int s;
    _cleanup_free_ char *ok = parent(long_path, false, &s);
    CHECK(ok && strlen(ok) == RT_CGROUP_PATH_MAX);

    char slice[300] = "";
    for (int i = 0; i < 41; i++)
        strcat(slice, "abcde-");
    strcat(slice, "x.slice");
    check_parent(slice, true, NULL); /* 253 bytes, but expands past 4096 */
    memset(slice, 'a', 250);
    strcpy(slice + 250, ".slice");
    check_parent(slice, true, NULL); /* 256 bytes: longer than a unit name may be */
    slice[249] = '\0';
    strcat(slice, ".slice");
    _cleanup_free_ char *longest = parent(slice, true, &s);
    CHECK(longest && strlen(longest) == 256);
}

static void test_weight(void)
{
    CHECK(rt_cgroup_shares_to_weight(2) == 1);
    CHECK(rt_cgroup_shares_to_weight(0) == 1);
    CHECK(rt_cgroup_shares_to_weight(100) == 4);
    CHECK(rt_cgroup_shares_to_weight(512) == 20);
    CHECK(rt_cgroup_shares_to_weight(1024) == 39);
    CHECK(rt_cgroup_shares_to_weight(262144) == 10000);
    CHECK(rt_cgroup_shares_to_weight(UINT64_MAX) == 10000);
}

static void test_created(void)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created c = {0};
    CHECK(rt_cgroup_created_max(&c) == 0 && rt_cgroup_created_depth(&c, "cpu") == 0);
    CHECK(status(rt_cgroup_created_set(&c, "cpu", 0, &err), &err) == 0);
    CHECK(status(rt_cgroup_created_set(&c, "devices", 3, &err), &err) == 0);
    CHECK(status(rt_cgroup_created_set(&c, "devices", 2, &err), &err) == 0);
    CHECK(c.n == 2 && rt_cgroup_created_depth(&c, "devices") == 2 && rt_cgroup_created_depth(&c, "cpu") == 0);
    CHECK(rt_cgroup_created_depth(&c, "pids") == 0 && rt_cgroup_created_max(&c) == 2);
    CHECK(status(rt_cgroup_created_set(&c, "", 1, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_created_set(&c, "a-name-of-16-chr", 1, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_created_set(&c, "cpu", -1, &err), &err) == EINVAL);
    for (int i = 0; c.n < RT_CGROUP_HIERARCHIES_MAX; i++) {
        char name[16];
        snprintf(name, sizeof(name), "h%d", i);
        CHECK(status(rt_cgroup_created_set(&c, name, 1, &err), &err) == 0);
    }
    CHECK(status(rt_cgroup_created_set(&c, "one-more", 1, &err), &err) == ENOSPC);
    CHECK(status(rt_cgroup_created_set(&c, "cpu", 1, &err), &err) == 0); /* a known one still changes */

    /* Records from before per-hierarchy depths: one depth everywhere. */
    const struct rt_cgroup_created *old = ALL(3);
    CHECK(rt_cgroup_created_depth(old, "cpu") == 3 && rt_cgroup_created_depth(old, "unified") == 3);
    CHECK(rt_cgroup_created_max(old) == 3);
}

/* Reads a pod record back into a new pod; NULL if it doesn't load. */
static struct rt_sandbox *record_load(const char *json)
{
    crisp_error_t *err = NULL;
    struct rt_sandbox *sb = rt_sandbox_new();
    if (!sb)
        abort();
    if (status(rt_sandbox_record_from_json(json, sb, &err), &err) != 0) {
        rt_sandbox_unref(sb);
        return NULL;
    }
    return sb;
}

/* The pod record keeps what crisp made per hierarchy; one written before that keeps its one depth. */
static void test_record_depths(void)
{
    struct rt_sandbox *sb = rt_sandbox_new();
    if (!sb)
        abort();
    memset(sb->info.id, 'a', RT_ID_LEN);
    CHECK(rt_cgroup_created_set(&sb->cgroup_created, "cpu", 0, NULL) == 0);
    CHECK(rt_cgroup_created_set(&sb->cgroup_created, "devices", 3, NULL) == 0);
    _cleanup_free_ char *json = rt_sandbox_record_to_json(sb);
    rt_sandbox_unref(sb);
    CHECK_CONTAINS(json, "\"cgroup_created\":{\"cpu\":0,\"devices\":3}");
    CHECK_CONTAINS(json, "\"cgroup_depth\":3");
    struct rt_sandbox *back = json ? record_load(json) : NULL;
    CHECK(back && back->cgroup_created.n == 2 && back->cgroup_created.rest == 0);
    CHECK(back && rt_cgroup_created_depth(&back->cgroup_created, "cpu") == 0 &&
          rt_cgroup_created_depth(&back->cgroup_created, "devices") == 3 &&
          rt_cgroup_created_depth(&back->cgroup_created, "freezer") == 0);
    rt_sandbox_unref(back);

    char *at = json ? strstr(json, ",\"cgroup_created\":{") : NULL;
    CHECK(at != NULL);
    if (!at)
        return;
    memmove(at, strchr(at, '}') + 1, strlen(strchr(at, '}') + 1) + 1);
    struct rt_sandbox *old = record_load(json);
    CHECK(old && old->cgroup_created.n == 0 && old->cgroup_created.rest == 3);
    rt_sandbox_unref(old);

    char bad[256];
    snprintf(bad, sizeof(bad), "{\"id\":\"%064d\",\"cgroup_created\":{\"cpu\":-1}}", 0);
    CHECK(record_load(bad) == NULL);
    snprintf(bad, sizeof(bad), "{\"id\":\"%064d\",\"cgroup_created\":{\"cpu\":\"x\"}}", 0);
    CHECK(record_load(bad) == NULL);
}

static char fake[] = "/tmp/crisp-unit-cgroup-XXXXXX";

static char *fake_path(const char *rel)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", fake, rel) < 0)
        abort();
    return p;
}

static void put(const char *rel, const char *text)
{
    _cleanup_free_ char *p = fake_path(rel);
    FILE *f = fopen(p, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

static void fake_mkdir(const char *rel)
{
    _cleanup_free_ char *p = fake_path(rel);
    mkdir(p, 0755);
}

/* Whole content of a fake file, or "(missing)". */
static char *get(const char *rel)
{
    _cleanup_free_ char *p = fake_path(rel);
    char *text = NULL;
    if (rt_cgroup_read_file(p, &text, NULL) < 0)
        return strdup("(missing)");
    return text;
}

static bool fake_exists(const char *rel)
{
    _cleanup_free_ char *p = fake_path(rel);
    return access(p, F_OK) == 0;
}

#define CHECK_FILE(rel, want)                                                                                \
    do {                                                                                                     \
        _cleanup_free_ char *_got = get(rel);                                                                \
        CHECK_STR(_got, want);                                                                               \
    } while (0)

static void fake_setup(void)
{
    put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n");
    put("cgroup.subtree_control", "");
    fake_mkdir("kubepods");
    put("kubepods/cgroup.controllers", "cpu memory pids\n");
    put("kubepods/cgroup.subtree_control", "memory\n");
}

static void test_fake_detect(struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_root v1 = {0};
    CHECK(status(rt_cgroup_root_detect(fake, root, &err), &err) == 0);
    CHECK(root->mode == RT_CGROUP_V2);
    CHECK(root->ops == &rt_cgroup_v2_ops);
    CHECK_STR(root->mount, fake);
    fake_mkdir("v1");
    _cleanup_free_ char *v1_mount = fake_path("v1");
    CHECK(status(rt_cgroup_root_detect(v1_mount, &v1, &err), &err) == 0);
    CHECK(v1.mode == RT_CGROUP_V1);
    CHECK(v1.ops == &rt_cgroup_v1_ops);
    rt_cgroup_root_fini(&v1);
    CHECK(!v1.mount && !v1.ops);
    rt_cgroup_root_fini(&v1);
    _cleanup_free_ char *missing = fake_path("none");
    CHECK(status(rt_cgroup_root_detect(missing, &v1, &err), &err) == ENOENT);
}

static void test_fake_create(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created created;
    CHECK(status(rt_cgroup_create(root, "/kubepods/pod1/ctr", &created, &err), &err) == 0);
    CHECK(created_all(&created, 2));
    CHECK_FILE("kubepods/cgroup.subtree_control", "+cpu +pids");
    /* The root offers what it has to the path's top (rdma: not one crisp uses). */
    CHECK_FILE("cgroup.subtree_control", "+cpuset +cpu +io +memory +hugetlb +pids");
    CHECK(fake_exists("kubepods/pod1/ctr"));
    CHECK(!fake_exists("kubepods/pod1/cgroup.subtree_control"));

    /* Already enabled (as the kernel lists them, without '+'): nothing is written. */
    put("kubepods/cgroup.subtree_control", "cpu memory pids\n");
    CHECK(status(rt_cgroup_create(root, "/kubepods/pod1/ctr", &created, &err), &err) == 0);
    CHECK(created_all(&created, 0));
    CHECK_FILE("kubepods/cgroup.subtree_control", "cpu memory pids\n");

    /* A created directory inside the path gets what its parent offers. */
    put("kubepods/pod1/cgroup.controllers", "cpu memory pids\n");
    put("kubepods/pod1/cgroup.subtree_control", "");
    CHECK(status(rt_cgroup_create(root, "/kubepods/pod1/ctr2/sub", &created, &err), &err) == 0);
    CHECK(created_all(&created, 2));
    CHECK_FILE("kubepods/pod1/cgroup.subtree_control", "+cpu +memory +pids");

    CHECK(status(rt_cgroup_create(root, "/", &created, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_create(root, "/a/../b", &created, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_create(root, "kubepods", &created, &err), &err) == EINVAL);
}

/* A failure half way leaves nothing behind that crisp made. */
static void test_fake_create_undo(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created created;
    fake_mkdir("qos");
    put("qos/cgroup.controllers", "cpu\n");
    fake_mkdir("qos/cgroup.subtree_control"); /* unreadable as a file */
    CHECK(rt_cgroup_create(root, "/qos/podx/ctr", &created, &err) < 0);
    CHECK(err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "create cgroup /qos/podx/ctr");
    CHECK_CONTAINS(err ? err->msg : NULL, "cgroup.subtree_control is not a regular file");
    crisp_error_freep(&err);
    CHECK(!fake_exists("qos/podx"));
    CHECK(fake_exists("qos"));
}

static void fake_interface_files(void)
{
    put("kubepods/pod1/ctr/cpu.max", "max 100000\n");
    put("kubepods/pod1/ctr/cpu.weight", "100\n");
    put("kubepods/pod1/ctr/memory.max", "max\n");
    put("kubepods/pod1/ctr/memory.swap.max", "max\n");
    put("kubepods/pod1/ctr/memory.high", "max\n");
    put("kubepods/pod1/ctr/pids.max", "max\n");
    put("kubepods/pod1/ctr/cpuset.cpus", "\n");
    put("kubepods/pod1/ctr/cpuset.mems", "\n");
    put("kubepods/pod1/ctr/hugetlb.2MB.max", "max\n");
    put("kubepods/pod1/ctr/cgroup.procs", "");
}

static void test_fake_apply(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    fake_interface_files();
    struct {
        const char *page_size;
        uint64_t limit;
    } huge[] = {{"2MB", 4194304}, {"1GB", 0}};
    struct {
        const char *key;
        const char *value;
    } unified[] = {{"memory.high", "50000000"}};
    struct rt_cgroup_resources res = {
        .cpu_period = 100000,
        .cpu_quota = 50000,
        .cpu_shares = 1024,
        .memory_limit = 64 << 20,
        .memory_swap_limit = 96 << 20,
        .pids_limit = 50,
        .cpuset_cpus = "0-1",
        .cpuset_mems = "0",
        .hugepages = (void *)huge,
        .n_hugepages = 2,
        .unified = (void *)unified,
        .n_unified = 1,
    };
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &res, &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/cpu.max", "50000 100000");
    CHECK_FILE("kubepods/pod1/ctr/cpu.weight", "39");
    CHECK_FILE("kubepods/pod1/ctr/memory.max", "67108864");
    CHECK_FILE("kubepods/pod1/ctr/memory.swap.max", "33554432"); /* swap alone on v2 */
    CHECK_FILE("kubepods/pod1/ctr/pids.max", "50");
    CHECK_FILE("kubepods/pod1/ctr/cpuset.cpus", "0-1");
    CHECK_FILE("kubepods/pod1/ctr/cpuset.mems", "0");
    CHECK_FILE("kubepods/pod1/ctr/hugetlb.2MB.max", "4194304");
    CHECK(!fake_exists("kubepods/pod1/ctr/hugetlb.1GB.max")); /* unsupported size: skipped, not created */
    CHECK_FILE("kubepods/pod1/ctr/memory.high", "50000000");

    struct rt_cgroup_resources unlimited = {
        .cpu_quota = -1, .memory_limit = 1 << 30, .memory_swap_limit = -1, .pids_limit = -1};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &unlimited, &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/cpu.max", "max");
    CHECK_FILE("kubepods/pod1/ctr/memory.swap.max", "max");
    CHECK_FILE("kubepods/pod1/ctr/pids.max", "max");
    CHECK_FILE("kubepods/pod1/ctr/cpu.weight", "39"); /* unset: left alone */

    struct rt_cgroup_resources period_only = {.cpu_period = 50000};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &period_only, &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/cpu.max", "max 50000");
}

/* CRI's memory+swap (v1 semantics) as v2's swap alone, and a host without swap accounting. */
static void test_fake_swap(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_resources no_swap = {.memory_limit = 64 << 20, .memory_swap_limit = 64 << 20};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &no_swap, &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/memory.max", "67108864");
    CHECK_FILE("kubepods/pod1/ctr/memory.swap.max", "0"); /* swap == memory: none at all */

    _cleanup_free_ char *swap_max = fake_path("kubepods/pod1/ctr/memory.swap.max");
    unlink(swap_max);
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &no_swap, &err), &err) == 0);
    struct rt_cgroup_resources unlimited = {.memory_limit = 32 << 20, .memory_swap_limit = -1};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &unlimited, &err), &err) == 0);
    CHECK(!fake_exists("kubepods/pod1/ctr/memory.swap.max")); /* never created */
    CHECK_FILE("kubepods/pod1/ctr/memory.max", "33554432");
    /* A real swap limit can't be kept without accounting: refused, and memory.max rolled back. */
    struct rt_cgroup_resources some = {.memory_limit = 16 << 20, .memory_swap_limit = 48 << 20};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &some, &err), &err) == ENOENT);
    CHECK_FILE("kubepods/pod1/ctr/memory.max", "33554432");
    put("kubepods/pod1/ctr/memory.swap.max", "max\n");
}

/* hugetlb's .rsvd limit next to the fault-time one, where the kernel has it. */
static void test_fake_hugetlb(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    put("kubepods/pod1/ctr/hugetlb.2MB.rsvd.max", "max\n");
    struct {
        const char *page_size;
        uint64_t limit;
    } huge[] = {{"2MB", 2097152}};
    struct rt_cgroup_resources res = {.hugepages = (void *)huge, .n_hugepages = 1};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &res, &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/hugetlb.2MB.max", "2097152");
    CHECK_FILE("kubepods/pod1/ctr/hugetlb.2MB.rsvd.max", "2097152");
}

struct kv {
    const char *key;
    const char *value;
};

static int apply_unified(const struct rt_cgroup_root *root, const char *key, const char *value,
                         crisp_error_t **err)
{
    struct kv unified[] = {{key, value}};
    struct rt_cgroup_resources res = {.unified = (void *)unified, .n_unified = 1};
    return rt_cgroup_apply(root, "/kubepods/pod1/ctr", &res, err);
}

/* The unified map: explicit values win, lines go one write each, io.weight falls back to BFQ. */
static void test_fake_unified(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct kv unified[] = {{"memory.max", "1000000"}, {"pids.max", "7"}};
    struct rt_cgroup_resources res = {
        .memory_limit = 1 << 30, .pids_limit = 50, .unified = (void *)unified, .n_unified = 2};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &res, &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/memory.max", "1000000");
    CHECK_FILE("kubepods/pod1/ctr/pids.max", "7");

    put("kubepods/pod1/ctr/io.max", "\n");
    CHECK(status(apply_unified(root, "io.max", "8:0 rbps=1048576\n8:16 wbps=2097152\n", &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/io.max", "8:16 wbps=2097152"); /* the last of two writes */

    /* No io.weight (no io cost model), only BFQ's on 1..1000. */
    put("kubepods/pod1/ctr/io.bfq.weight", "default 100\n");
    CHECK(status(apply_unified(root, "io.weight", "default 100", &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/io.bfq.weight", "19");
    CHECK(!fake_exists("kubepods/pod1/ctr/io.weight"));
    CHECK(status(apply_unified(root, "io.weight", "10000", &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/io.bfq.weight", "1000");
    CHECK(status(apply_unified(root, "io.weight", "1", &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/io.bfq.weight", "10");
    CHECK(status(apply_unified(root, "io.weight", "8:0 300", &err), &err) == EINVAL);
    put("kubepods/pod1/ctr/io.weight", "default 100\n");
    CHECK(status(apply_unified(root, "io.weight", "default 250", &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/io.weight", "default 250");
    CHECK_FILE("kubepods/pod1/ctr/io.bfq.weight", "10");

    /* A controller this cgroup doesn't have: named in the error, and nothing created. */
    CHECK(apply_unified(root, "rdma.max", "mlx4_0 hca_handle=2", &err) < 0);
    CHECK(err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "unified resource rdma.max can't be set");
    CHECK_CONTAINS(err ? err->msg : NULL, "controller rdma not available");
    crisp_error_freep(&err);
    CHECK(!fake_exists("kubepods/pod1/ctr/rdma.max"));
    put("kubepods/pod1/ctr/memory.max", "1073741824\n"); /* as test_fake_rollback expects */
}

static void test_fake_rollback(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    put("kubepods/pod1/ctr/cpu.max", "20000 100000\n");
    _cleanup_free_ char *pids_max = fake_path("kubepods/pod1/ctr/pids.max");
    unlink(pids_max);
    struct rt_cgroup_resources res = {
        .cpu_quota = 30000, .cpu_shares = 2, .memory_limit = 32 << 20, .pids_limit = 10};
    CHECK(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &res, &err) < 0);
    CHECK(err && err->status == ENOENT);
    CHECK_CONTAINS(err ? err->msg : NULL, "write \"10\" to ");
    CHECK_CONTAINS(err ? err->msg : NULL, "/kubepods/pod1/ctr/pids.max");
    CHECK_CONTAINS(err ? err->msg : NULL, "set resources of cgroup /kubepods/pod1/ctr: ");
    crisp_error_freep(&err);
    CHECK_FILE("kubepods/pod1/ctr/cpu.max", "20000 100000");
    CHECK_FILE("kubepods/pod1/ctr/cpu.weight", "39");
    CHECK_FILE("kubepods/pod1/ctr/memory.max", "1073741824");
    put("kubepods/pod1/ctr/pids.max", "max\n");
}

static void check_invalid(const struct rt_cgroup_root *root, struct rt_cgroup_resources res, const char *what)
{
    crisp_error_t *err = NULL;
    int s = status(rt_cgroup_apply(root, "/kubepods/pod1/ctr", &res, &err), &err);
    if (s != EINVAL)
        fprintf(stderr, "invalid resources (%s) gave status %d\n", what, s);
    CHECK(s == EINVAL);
}

static void test_fake_invalid(const struct rt_cgroup_root *root)
{
    put("kubepods/pod1/ctr/cpu.max", "max 100000\n");
    check_invalid(root, (struct rt_cgroup_resources){.cpu_quota = -2}, "quota -2");
    check_invalid(root, (struct rt_cgroup_resources){.cpu_period = -1}, "period -1");
    check_invalid(root, (struct rt_cgroup_resources){.cpu_shares = -1}, "shares -1");
    check_invalid(root, (struct rt_cgroup_resources){.memory_limit = -1}, "memory -1");
    check_invalid(root, (struct rt_cgroup_resources){.memory_swap_limit = -2}, "swap -2");
    check_invalid(root, (struct rt_cgroup_resources){.pids_limit = -2}, "pids -2");
    check_invalid(root, (struct rt_cgroup_resources){.memory_limit = 100, .memory_swap_limit = 50},
                  "swap < mem");
    check_invalid(root, (struct rt_cgroup_resources){.cpu_quota = 1000, .memory_swap_limit = 50},
                  "swap alone");
    check_invalid(root, (struct rt_cgroup_resources){.cpuset_cpus = "0-1; rm"}, "cpus");
    check_invalid(root, (struct rt_cgroup_resources){.cpuset_mems = "a"}, "mems");
    const char *sizes[] = {"../x", "2XB", "MB", "2M", "2MBB", ""};
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        struct {
            const char *page_size;
            uint64_t limit;
        } huge[] = {{sizes[i], 1}};
        check_invalid(root, (struct rt_cgroup_resources){.hugepages = (void *)huge, .n_hugepages = 1},
                      sizes[i]);
    }
    const char *keys[] = {"../cpu.max", "nodot", ".hidden", "a/b.c", ""};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        struct {
            const char *key;
            const char *value;
        } unified[] = {{keys[i], "1"}};
        check_invalid(root, (struct rt_cgroup_resources){.unified = (void *)unified, .n_unified = 1},
                      keys[i]);
    }
    struct {
        const char *key;
        const char *value;
    } no_value[] = {{"memory.high", NULL}};
    check_invalid(root, (struct rt_cgroup_resources){.unified = (void *)no_value, .n_unified = 1},
                  "no value");
    CHECK_FILE("kubepods/pod1/ctr/cpu.max", "max 100000"); /* "swap alone" rolled back its cpu.max */
}

static void test_fake_pids(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    CHECK(status(rt_cgroup_enter(root, "/kubepods/pod1/ctr", 4242, &err), &err) == 0);
    CHECK_FILE("kubepods/pod1/ctr/cgroup.procs", "4242");
    CHECK(status(rt_cgroup_enter(root, "/kubepods/pod1/ctr", 0, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_enter(root, "/kubepods/pod1/none", 1, &err), &err) == ENOENT);
    put("kubepods/pod1/ctr/cgroup.procs", "12\n34\n");
    CHECK(status(rt_cgroup_pids(root, "/kubepods/pod1/ctr", &pids, &n, &err), &err) == 0);
    CHECK(n == 2 && pids && pids[0] == 12 && pids[1] == 34);
    free(TAKE_PTR(pids));
    put("kubepods/pod1/ctr/cgroup.procs", "");
    CHECK(status(rt_cgroup_pids(root, "/kubepods/pod1/ctr", &pids, &n, &err), &err) == 0);
    CHECK(n == 0);
    free(TAKE_PTR(pids));
    put("kubepods/pod1/ctr/cgroup.procs", "12\nx\n");
    CHECK(status(rt_cgroup_pids(root, "/kubepods/pod1/ctr", &pids, &n, &err), &err) == EINVAL);
    put("cgroup.procs", "1\n");
    CHECK(status(rt_cgroup_pids(root, "/", &pids, &n, &err), &err) == 0);
    CHECK(n == 1 && pids && pids[0] == 1);
    /* No kill on the fake tree beyond these: its pids are made up and may be real processes. */
    CHECK(status(rt_cgroup_kill_all(root, "/", 100, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_kill_all(root, "/kubepods/gone", 100, &err), &err) == 0);
}

static int unlink_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_F)
        unlink(path);
    return 0;
}

static void test_fake_remove(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created created;
    /* Plain files make the fake directory non-empty, as a real one with tasks is busy. */
    CHECK(status(rt_cgroup_remove(root, "/kubepods/pod1/ctr", ALL(2), &err), &err) == ENOTEMPTY);
    CHECK(fake_exists("kubepods/pod1/ctr"));
    _cleanup_free_ char *pod1 = fake_path("kubepods/pod1");
    nftw(pod1, unlink_file, 16, FTW_PHYS);
    CHECK(status(rt_cgroup_remove(root, "/kubepods/pod1", ALL(2), &err), &err) == 0);
    CHECK(!fake_exists("kubepods/pod1"));
    CHECK(fake_exists("kubepods")); /* not empty: stays */
    CHECK(status(rt_cgroup_remove(root, "/kubepods/pod1", ALL(2), &err), &err) == 0);

    CHECK(status(rt_cgroup_create(root, "/e1/e2", &created, &err), &err) == 0);
    CHECK(created_all(&created, 2));
    CHECK(status(rt_cgroup_remove(root, "/e1/e2", ALL(100), &err), &err) == 0);
    CHECK(!fake_exists("e1"));
    CHECK(fake_exists("cgroup.controllers"));
    CHECK(status(rt_cgroup_remove(root, "/", ALL(1), &err), &err) == EINVAL);
}

/* The filter itself is test_cgroup_devices' business; here only that rules are checked before the
 * program is made, and that the path is. */
static void test_fake_devices(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    char *bad[] = {"c 1:3 rwx", NULL};
    CHECK(status(rt_cgroup_devices_restrict(root, "/kubepods/pod1/ctr", bad, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_devices_restrict(root, "/", NULL, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_devices_restrict(root, "/a/../b", NULL, &err), &err) == EINVAL);
}

static void test_fake_v2(void)
{
    struct rt_cgroup_root root = {0};
    fake_setup();
    test_fake_detect(&root);
    test_fake_create(&root);
    test_fake_create_undo(&root);
    test_fake_apply(&root);
    test_fake_swap(&root);
    test_fake_hugetlb(&root);
    test_fake_unified(&root);
    test_fake_rollback(&root);
    test_fake_invalid(&root);
    test_fake_pids(&root);
    test_fake_devices(&root);
    test_fake_remove(&root);
    rt_cgroup_root_fini(&root);
}

/* A fake v1 mount under <fake>/v1: one directory per controller, no cpuset (a new cpuset directory
 * gets its cpus copied into an interface file only the kernel makes) and no hugetlb. */
static const char *const fake_v1_ctrls[] = {"cpu", "memory", "pids", "freezer", "devices"};

static char *fake_v1_path(const char *ctrl, const char *rel, const char *file)
{
    char *p = NULL;
    if (asprintf(&p, "v1/%s%s%s%s", ctrl, rel, file ? "/" : "", file ? file : "") < 0)
        abort();
    return p;
}

static void fake_v1_put_each(const char *rel, const char *file, const char *text)
{
    for (size_t i = 0; i < ARRAY_SIZE(fake_v1_ctrls); i++) {
        _cleanup_free_ char *p = fake_v1_path(fake_v1_ctrls[i], rel, file);
        put(p, text);
    }
}

static void fake_v1_check_each(const char *rel, bool exists)
{
    for (size_t i = 0; i < ARRAY_SIZE(fake_v1_ctrls); i++) {
        _cleanup_free_ char *p = fake_v1_path(fake_v1_ctrls[i], rel, NULL);
        CHECK(fake_exists(p) == exists);
    }
}

static void test_fake_v1_create(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created created;
    for (size_t i = 0; i < ARRAY_SIZE(fake_v1_ctrls); i++) {
        _cleanup_free_ char *p = fake_v1_path(fake_v1_ctrls[i], "", NULL);
        fake_mkdir(p);
    }
    CHECK(status(rt_cgroup_create(root, "/kubepods/pod1", &created, &err), &err) == 0);
    CHECK(created_all(&created, 2));
    fake_v1_check_each("/kubepods/pod1", true);

    /* cpuset comes after cpu: its failure takes away what was made in cpu, and only that. */
    fake_mkdir("v1/cpuset");
    put("v1/cpuset/cpuset.cpus", "0-3\n");
    put("v1/cpuset/cpuset.mems", "0\n");
    CHECK(status(rt_cgroup_create(root, "/kubepods/pod2", &created, &err), &err) == ENOENT);
    CHECK(!fake_exists("v1/cpu/kubepods/pod2"));
    CHECK(fake_exists("v1/cpu/kubepods/pod1"));
    CHECK(!fake_exists("v1/cpuset/kubepods"));
    _cleanup_free_ char *cpus = fake_path("v1/cpuset/cpuset.cpus"),
                        *mems = fake_path("v1/cpuset/cpuset.mems");
    _cleanup_free_ char *cpuset = fake_path("v1/cpuset");
    CHECK(unlink(cpus) == 0 && unlink(mems) == 0 && rmdir(cpuset) == 0);
}

static void test_fake_v1_apply(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    put("v1/cpu/kubepods/pod1/cpu.shares", "1024\n");
    put("v1/cpu/kubepods/pod1/cpu.cfs_period_us", "100000\n");
    put("v1/cpu/kubepods/pod1/cpu.cfs_quota_us", "-1\n");
    put("v1/memory/kubepods/pod1/memory.limit_in_bytes", "9223372036854771712\n");
    put("v1/memory/kubepods/pod1/memory.memsw.limit_in_bytes", "9223372036854771712\n");
    put("v1/pids/kubepods/pod1/pids.max", "max\n");
    struct {
        const char *page_size;
        uint64_t limit;
    } huge[] = {{"2MB", 4194304}};
    struct rt_cgroup_resources res = {.cpu_period = 50000,
                                      .cpu_quota = 25000,
                                      .cpu_shares = 512,
                                      .memory_limit = 64 << 20,
                                      .memory_swap_limit = 96 << 20,
                                      .pids_limit = 50,
                                      .hugepages = (void *)huge,
                                      .n_hugepages = 1};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1", &res, &err), &err) == 0);
    CHECK_FILE("v1/cpu/kubepods/pod1/cpu.shares", "512");
    CHECK_FILE("v1/cpu/kubepods/pod1/cpu.cfs_period_us", "50000");
    CHECK_FILE("v1/cpu/kubepods/pod1/cpu.cfs_quota_us", "25000");
    CHECK_FILE("v1/memory/kubepods/pod1/memory.limit_in_bytes", "67108864");
    CHECK_FILE("v1/memory/kubepods/pod1/memory.memsw.limit_in_bytes", "100663296"); /* memory+swap on v1 */
    CHECK_FILE("v1/pids/kubepods/pod1/pids.max", "50");
    CHECK(!fake_exists("v1/hugetlb")); /* no hugetlb controller: limits skipped */

    _cleanup_free_ char *pids_max = fake_path("v1/pids/kubepods/pod1/pids.max");
    unlink(pids_max);
    struct rt_cgroup_resources fails = {.cpu_shares = 2, .pids_limit = 10};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1", &fails, &err), &err) == ENOENT);
    CHECK_FILE("v1/cpu/kubepods/pod1/cpu.shares", "512");
    put("v1/pids/kubepods/pod1/pids.max", "50\n");
    struct {
        const char *key;
        const char *value;
    } unified[] = {{"memory.high", "1"}};
    CHECK(status(rt_cgroup_apply(root, "/kubepods/pod1",
                                 &(struct rt_cgroup_resources){.unified = (void *)unified, .n_unified = 1},
                                 &err),
                 &err) == EINVAL);
}

/* Plain files keep only the last write: the deny, then the last allow. */
static void test_fake_v1_devices(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    put("v1/devices/kubepods/pod1/devices.deny", "");
    put("v1/devices/kubepods/pod1/devices.allow", "");
    CHECK(status(rt_cgroup_devices_restrict(root, "/kubepods/pod1", NULL, &err), &err) == 0);
    CHECK_FILE("v1/devices/kubepods/pod1/devices.deny", "a");
    CHECK_FILE("v1/devices/kubepods/pod1/devices.allow", "c 136:* rwm");
    char *extra[] = {"c 10:200 rwm", NULL};
    CHECK(status(rt_cgroup_devices_restrict(root, "/kubepods/pod1", extra, &err), &err) == 0);
    CHECK_FILE("v1/devices/kubepods/pod1/devices.allow", "c 10:200 rwm");
    CHECK(status(rt_cgroup_devices_restrict(root, "/kubepods/none", extra, &err), &err) == 0);
}

/* Pids are read from the pids hierarchy. Killing is tried only on an empty cgroup: the fake's pids
 * would be real processes. */
static void test_fake_v1_processes(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    fake_v1_put_each("/kubepods/pod1", "cgroup.procs", "");
    CHECK(status(rt_cgroup_enter(root, "/kubepods/pod1", 4242, &err), &err) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(fake_v1_ctrls); i++) {
        _cleanup_free_ char *p = fake_v1_path(fake_v1_ctrls[i], "/kubepods/pod1", "cgroup.procs");
        CHECK_FILE(p, "4242");
    }
    put("v1/pids/kubepods/pod1/cgroup.procs", "7\n8\n");
    CHECK(status(rt_cgroup_pids(root, "/kubepods/pod1", &pids, &n, &err), &err) == 0);
    CHECK(n == 2 && pids && pids[0] == 7 && pids[1] == 8);

    fake_v1_put_each("/kubepods/pod1", "cgroup.procs", "");
    put("v1/freezer/kubepods/pod1/freezer.state", "THAWED\n");
    CHECK(status(rt_cgroup_kill_all(root, "/kubepods/pod1", 100, &err), &err) == 0);
    CHECK_FILE("v1/freezer/kubepods/pod1/freezer.state", "THAWED");
    CHECK(status(rt_cgroup_kill_all(root, "/kubepods/gone", 100, &err), &err) == 0);
}

static void test_fake_v1_remove(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    CHECK(status(rt_cgroup_remove(root, "/kubepods/pod1", ALL(2), &err), &err) == ENOTEMPTY);
    for (size_t i = 0; i < ARRAY_SIZE(fake_v1_ctrls); i++) {
        _cleanup_free_ char *rel = fake_v1_path(fake_v1_ctrls[i], "/kubepods/pod1", NULL);
        _cleanup_free_ char *dir = fake_path(rel);
        nftw(dir, unlink_file, 16, FTW_PHYS);
    }
    CHECK(status(rt_cgroup_remove(root, "/kubepods/pod1", ALL(2), &err), &err) == 0);
    fake_v1_check_each("/kubepods", false);
    fake_v1_check_each("", true);
}

static void fake_v1_mkdirs(const char *const *ctrls, size_t n, const char *rel)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *p = fake_v1_path(ctrls[i], rel, NULL);
        fake_mkdir(p);
    }
}

static bool fake_v1_exists(const char *ctrl, const char *rel)
{
    _cleanup_free_ char *p = fake_v1_path(ctrl, rel, NULL);
    return fake_exists(p);
}

/* Kubelet's cgroupfs driver makes a pod's levels, before RunPodSandbox, only in the controllers it
 * manages; crisp makes the rest of the path in the others (devices, freezer). Removing the pod must
 * take away only what crisp made, in each hierarchy: kubelet's QoS and pod levels stay, even empty. */
static const char *const kubelet_ctrls[] = {"cpu", "memory", "pids"};
static const char *const other_ctrls[] = {"devices", "freezer"};

static void test_fake_v1_kubelet_pod(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created pod, ctr;
    fake_v1_mkdirs(kubelet_ctrls, ARRAY_SIZE(kubelet_ctrls), "/kubepods");
    fake_v1_mkdirs(kubelet_ctrls, ARRAY_SIZE(kubelet_ctrls), "/kubepods/burstable");
    fake_v1_mkdirs(kubelet_ctrls, ARRAY_SIZE(kubelet_ctrls), "/kubepods/burstable/podu1");
    CHECK(status(rt_cgroup_create(root, "/kubepods/burstable/podu1", &pod, &err), &err) == 0);
    CHECK(pod.n == ARRAY_SIZE(fake_v1_ctrls) && pod.rest == 0);
    for (size_t i = 0; i < ARRAY_SIZE(kubelet_ctrls); i++)
        CHECK(rt_cgroup_created_depth(&pod, kubelet_ctrls[i]) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(other_ctrls); i++)
        CHECK(rt_cgroup_created_depth(&pod, other_ctrls[i]) == 3);
    CHECK(status(rt_cgroup_create(root, "/kubepods/burstable/podu1/ctr1", &ctr, &err), &err) == 0);
    CHECK(created_all(&ctr, 1));
    fake_v1_check_each("/kubepods/burstable/podu1/ctr1", true);

    CHECK(status(rt_cgroup_remove(root, "/kubepods/burstable/podu1/ctr1", ALL(1), &err), &err) == 0);
    CHECK(status(rt_cgroup_remove(root, "/kubepods/burstable/podu1", &pod, &err), &err) == 0);
    fake_v1_check_each("/kubepods/burstable/podu1/ctr1", false);
    for (size_t i = 0; i < ARRAY_SIZE(kubelet_ctrls); i++)
        CHECK(fake_v1_exists(kubelet_ctrls[i], "/kubepods/burstable/podu1"));
    for (size_t i = 0; i < ARRAY_SIZE(other_ctrls); i++)
        CHECK(!fake_v1_exists(other_ctrls[i], "/kubepods"));
    /* Again: gone is success, and kubelet's levels still stay. */
    CHECK(status(rt_cgroup_remove(root, "/kubepods/burstable/podu1", &pod, &err), &err) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(kubelet_ctrls); i++)
        CHECK(fake_v1_exists(kubelet_ctrls[i], "/kubepods/burstable/podu1"));
}

/* Two pods: the first made the QoS levels in devices and freezer, the second only its own level.
 * Removing the first keeps the levels the second sits in. */
static void test_fake_v1_kubelet_two_pods(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created a, b;
    fake_v1_mkdirs(kubelet_ctrls, ARRAY_SIZE(kubelet_ctrls), "/kubepods/burstable/podu2");
    CHECK(status(rt_cgroup_create(root, "/kubepods/burstable/podu1", &a, &err), &err) == 0);
    CHECK(status(rt_cgroup_create(root, "/kubepods/burstable/podu2", &b, &err), &err) == 0);
    CHECK(rt_cgroup_created_depth(&a, "devices") == 3 && rt_cgroup_created_depth(&b, "devices") == 1);
    CHECK(rt_cgroup_created_depth(&b, "cpu") == 0);
    CHECK(status(rt_cgroup_remove(root, "/kubepods/burstable/podu1", &a, &err), &err) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(other_ctrls); i++)
        CHECK(fake_v1_exists(other_ctrls[i], "/kubepods/burstable/podu2") &&
              !fake_v1_exists(other_ctrls[i], "/kubepods/burstable/podu1"));
    CHECK(status(rt_cgroup_remove(root, "/kubepods/burstable/podu2", &b, &err), &err) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(kubelet_ctrls); i++)
        CHECK(fake_v1_exists(kubelet_ctrls[i], "/kubepods/burstable/podu1") &&
              fake_v1_exists(kubelet_ctrls[i], "/kubepods/burstable/podu2"));
    /* b made only its own level there, so the QoS levels a left for it stay once both are gone. */
    for (size_t i = 0; i < ARRAY_SIZE(other_ctrls); i++)
        CHECK(fake_v1_exists(other_ctrls[i], "/kubepods/burstable") &&
              !fake_v1_exists(other_ctrls[i], "/kubepods/burstable/podu2"));
}

static void test_fake_v1(void)
{
    _cleanup_(rt_cgroup_root_fini) struct rt_cgroup_root root = {0};
    crisp_error_t *err = NULL;
    _cleanup_free_ char *mount = fake_path("v1");
    CHECK(status(rt_cgroup_root_detect(mount, &root, &err), &err) == 0);
    CHECK(root.ops == &rt_cgroup_v1_ops);
    if (root.ops != &rt_cgroup_v1_ops)
        return;
    test_fake_v1_create(&root);
    test_fake_v1_apply(&root);
    test_fake_v1_devices(&root);
    test_fake_v1_processes(&root);
    test_fake_v1_remove(&root);
    test_fake_v1_kubelet_pod(&root);
    test_fake_v1_kubelet_two_pods(&root);
}

/* A backend of the test's own behind the public functions: what reaches a slot has been checked,
 * and a failed apply's writes are undone whichever backend made them. */
static int rec_calls;

static int rec_create(const struct rt_cgroup_root *root, const char *path,
                      struct rt_cgroup_created *ret_created, crisp_error_t **err)
{
    (void)root, (void)path;
    rec_calls++;
    return rt_cgroup_created_set(ret_created, "rec", 1, err);
}

static int rec_apply(const struct rt_cgroup_root *root, const char *path,
                     const struct rt_cgroup_resources *res, struct rt_cgroup_undo *undo, crisp_error_t **err)
{
    (void)path, (void)res;
    rec_calls++;
    _cleanup_free_ char *file = rt_cgroup_join(root->mount, "rec.value");
    if (rt_cgroup_undo_write(undo, file, "new", err) < 0)
        return -1;
    return crisp_error_make(err, EIO, "refused");
}

static int rec_devices_restrict(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                                crisp_error_t **err)
{
    (void)root, (void)path, (void)extra_rules, (void)err;
    rec_calls++;
    return 0;
}

static int rec_enter(const struct rt_cgroup_root *root, const char *path, pid_t pid, crisp_error_t **err)
{
    (void)root, (void)path, (void)pid, (void)err;
    rec_calls++;
    return 0;
}

static int rec_kill_all(const struct rt_cgroup_root *root, const char *path, int timeout_ms,
                        crisp_error_t **err)
{
    (void)root, (void)path, (void)timeout_ms, (void)err;
    rec_calls++;
    return 0;
}

static int rec_remove_depth = -1;

static int rec_remove(const struct rt_cgroup_root *root, const char *path,
                      const struct rt_cgroup_created *created, crisp_error_t **err)
{
    (void)root, (void)path, (void)err;
    rec_remove_depth = rt_cgroup_created_depth(created, "rec");
    rec_calls++;
    return 0;
}

static int rec_pids(const struct rt_cgroup_root *root, const char *path, pid_t **ret_pids, size_t *ret_n,
                    crisp_error_t **err)
{
    (void)root, (void)path, (void)err;
    *ret_pids = NULL;
    *ret_n = 0;
    rec_calls++;
    return 0;
}

static const struct rt_cgroup_ops rec_ops = {
    .create = rec_create,
    .apply = rec_apply,
    .devices_restrict = rec_devices_restrict,
    .enter = rec_enter,
    .kill_all = rec_kill_all,
    .remove = rec_remove,
    .pids = rec_pids,
};

static void test_ops_checked(const struct rt_cgroup_root *root)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created created;
    pid_t *pids = NULL;
    size_t n = 0;
    CHECK(status(rt_cgroup_create(root, "/a/../b", &created, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_apply(root, "/a", &(struct rt_cgroup_resources){.pids_limit = -2}, &err), &err) ==
          EINVAL);
    CHECK(status(rt_cgroup_devices_restrict(root, "/", NULL, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_enter(root, "/a", 0, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_kill_all(root, "/", 100, &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_remove(root, "a", ALL(1), &err), &err) == EINVAL);
    CHECK(status(rt_cgroup_pids(root, "", &pids, &n, &err), &err) == EINVAL);
    CHECK(rec_calls == 0);
}

static void test_ops_dispatch(void)
{
    struct rt_cgroup_root root = {.mount = fake, .mode = RT_CGROUP_V2, .ops = &rec_ops};
    crisp_error_t *err = NULL;
    struct rt_cgroup_created created;
    pid_t *pids = NULL;
    size_t n = 0;
    test_ops_checked(&root);
    CHECK(status(rt_cgroup_create(&root, "/a", &created, &err), &err) == 0 && created_all(&created, 1));
    CHECK(status(rt_cgroup_devices_restrict(&root, "/a", NULL, &err), &err) == 0);
    CHECK(status(rt_cgroup_enter(&root, "/a", 1, &err), &err) == 0);
    CHECK(status(rt_cgroup_kill_all(&root, "/a", 100, &err), &err) == 0);
    CHECK(created.n == 1 && strcmp(created.levels[0].name, "rec") == 0);
    CHECK(status(rt_cgroup_remove(&root, "/a", &created, &err), &err) == 0 && rec_remove_depth == 1);
    CHECK(status(rt_cgroup_pids(&root, "/", &pids, &n, &err), &err) == 0 && n == 0);
    CHECK(rec_calls == 6);

    put("rec.value", "old\n");
    CHECK(rt_cgroup_apply(&root, "/a", &(struct rt_cgroup_resources){.pids_limit = 1}, &err) < 0);
    CHECK(rec_calls == 7);
    CHECK_STR(err ? err->msg : NULL, "set resources of cgroup /a: refused");
    crisp_error_freep(&err);
    CHECK_FILE("rec.value", "old");
}

static void test_fake(void)
{
    if (!mkdtemp(fake)) {
        unit_failed++;
        return;
    }
    test_fake_v2();
    test_fake_v1();
    test_ops_dispatch();
    _cleanup_error_ crisp_error_t *err = NULL;
    dir_remove_all(fake, &err);
}

/* Real cgroup v1. */

#define V1_MOUNT "/sys/fs/cgroup"

static const char *const v1_ctrls[] = {"cpu",     "cpuacct", "cpuset",  "memory", "pids",
                                       "hugetlb", "blkio",   "devices", "freezer"};
static char v1_parent[64];
static pid_t real_child = -1;

static char *v1_file(const char *ctrl, const char *rel, const char *file)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s%s%s%s%s", V1_MOUNT, ctrl, v1_parent, rel, file ? "/" : "", file ? file : "") < 0)
        abort();
    return p;
}

static bool v1_mounted(const char *ctrl)
{
    _cleanup_free_ char *p = NULL;
    struct stat st;
    if (asprintf(&p, "%s/%s", V1_MOUNT, ctrl) < 0)
        abort();
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* First line of a real interface file, or "(missing)". */
static char *v1_get(const char *ctrl, const char *rel, const char *file)
{
    _cleanup_free_ char *p = v1_file(ctrl, rel, file);
    char *text = NULL;
    if (rt_cgroup_read_file(p, &text, NULL) < 0)
        return strdup("(missing)");
    text[strcspn(text, "\n")] = '\0';
    return text;
}

#define CHECK_V1(ctrl, rel, file, want)                                                                      \
    do {                                                                                                     \
        _cleanup_free_ char *_got = v1_get(ctrl, rel, file);                                                 \
        CHECK_STR(_got, want);                                                                               \
    } while (0)

static bool v1_exists(const char *ctrl, const char *rel)
{
    _cleanup_free_ char *p = v1_file(ctrl, rel, NULL);
    return access(p, F_OK) == 0;
}

static int cleanup_kill(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (type != FTW_F || strcmp(path + ftw->base, "cgroup.procs") != 0)
        return 0;
    _cleanup_free_ char *text = NULL;
    if (rt_cgroup_read_file(path, &text, NULL) == 0)
        for (char *p = text; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != '\0'))
            if (atoi(p) > 1 && atoi(p) != getpid())
                kill(atoi(p), SIGKILL);
    return 0;
}

static int cleanup_rmdir(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    for (int i = 0; type == FTW_DP && i < 100 && rmdir(path) < 0 && errno == EBUSY; i++)
        usleep(10000);
    return 0;
}

/* Independent of the code under test, so that its bugs can't leave cgroups or processes behind. */
static void real_cleanup_dir(const char *dir)
{
    nftw(dir, cleanup_kill, 16, FTW_PHYS);
    nftw(dir, cleanup_rmdir, 16, FTW_PHYS | FTW_DEPTH);
    if (access(dir, F_OK) == 0)
        fprintf(stderr, "test_cgroup: could not remove %s\n", dir);
}

static void real_kill_child(void)
{
    if (real_child > 0) {
        kill(real_child, SIGKILL);
        waitpid(real_child, NULL, 0);
        real_child = -1;
    }
}

/* Orphaned grandchildren came to us (subreaper); everything has been killed by now. */
static void real_reap(void)
{
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
}

static void v1_cleanup(void)
{
    real_kill_child();
    for (size_t i = 0; i < ARRAY_SIZE(v1_ctrls); i++) {
        _cleanup_free_ char *dir = v1_file(v1_ctrls[i], "", NULL);
        _cleanup_free_ char *state = v1_file(v1_ctrls[i], "", "freezer.state");
        int fd = open(state, O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            (void)!write(fd, "THAWED", 6);
            close(fd);
        }
        real_cleanup_dir(dir);
    }
    real_reap();
}

static void test_v1_create_apply(const struct rt_cgroup_root *root, const char *pod)
{
    crisp_error_t *err = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(v1_ctrls); i++)
        if (v1_mounted(v1_ctrls[i]))
            CHECK(v1_exists(v1_ctrls[i], "/pod1"));
    if (v1_mounted("cpuset")) {
        _cleanup_free_ char *top = NULL;
        CHECK(rt_cgroup_read_file(V1_MOUNT "/cpuset/cpuset.cpus", &top, NULL) == 0);
        if (top)
            top[strcspn(top, "\n")] = '\0';
        CHECK_V1("cpuset", "/pod1", "cpuset.cpus", top);
    }
    struct rt_cgroup_resources res = {.cpu_period = 100000,
                                      .cpu_quota = 50000,
                                      .cpu_shares = 512,
                                      .memory_limit = 64 << 20,
                                      .memory_swap_limit = 128 << 20,
                                      .pids_limit = 32,
                                      .cpuset_cpus = "0",
                                      .cpuset_mems = "0"};
    CHECK(status(rt_cgroup_apply(root, pod, &res, &err), &err) == 0);
    CHECK_V1("cpu", "/pod1", "cpu.cfs_period_us", "100000");
    CHECK_V1("cpu", "/pod1", "cpu.cfs_quota_us", "50000");
    CHECK_V1("cpu", "/pod1", "cpu.shares", "512");
    CHECK_V1("memory", "/pod1", "memory.limit_in_bytes", "67108864");
    CHECK_V1("pids", "/pod1", "pids.max", "32");
    CHECK_V1("cpuset", "/pod1", "cpuset.cpus", "0");
    CHECK_V1("cpuset", "/pod1", "cpuset.mems", "0");
    _cleanup_free_ char *memsw = v1_file("memory", "/pod1", "memory.memsw.limit_in_bytes");
    bool has_swap = access(memsw, F_OK) == 0;
    if (has_swap)
        CHECK_V1("memory", "/pod1", "memory.memsw.limit_in_bytes", "134217728");

    /* Both directions need a different write order to keep memory <= memory+swap. */
    struct rt_cgroup_resources lower = {
        .memory_limit = 32 << 20, .memory_swap_limit = 48 << 20, .cpu_quota = -1};
    CHECK(status(rt_cgroup_apply(root, pod, &lower, &err), &err) == 0);
    CHECK_V1("memory", "/pod1", "memory.limit_in_bytes", "33554432");
    if (has_swap)
        CHECK_V1("memory", "/pod1", "memory.memsw.limit_in_bytes", "50331648");
    CHECK_V1("cpu", "/pod1", "cpu.cfs_quota_us", "-1");
    struct rt_cgroup_resources raise = {
        .memory_limit = 256 << 20, .memory_swap_limit = 512 << 20, .pids_limit = -1};
    CHECK(status(rt_cgroup_apply(root, pod, &raise, &err), &err) == 0);
    CHECK_V1("memory", "/pod1", "memory.limit_in_bytes", "268435456");
    if (has_swap)
        CHECK_V1("memory", "/pod1", "memory.memsw.limit_in_bytes", "536870912");
    CHECK_V1("pids", "/pod1", "pids.max", "max");
}

static void test_v1_rollback(const struct rt_cgroup_root *root, const char *pod)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_resources bad = {
        .cpu_shares = 1024, .memory_limit = 16 << 20, .pids_limit = 8, .cpuset_cpus = "4095"};
    CHECK(rt_cgroup_apply(root, pod, &bad, &err) < 0);
    CHECK_CONTAINS(err ? err->msg : NULL, "write \"4095\" to ");
    CHECK_CONTAINS(err ? err->msg : NULL, "/pod1/cpuset.cpus");
    crisp_error_freep(&err);
    CHECK_V1("cpu", "/pod1", "cpu.shares", "512");
    CHECK_V1("memory", "/pod1", "memory.limit_in_bytes", "268435456");
    CHECK_V1("pids", "/pod1", "pids.max", "max");
    CHECK_V1("cpuset", "/pod1", "cpuset.cpus", "0");
    struct {
        const char *key;
        const char *value;
    } unified[] = {{"memory.high", "1"}};
    CHECK(status(rt_cgroup_apply(root, pod,
                                 &(struct rt_cgroup_resources){.unified = (void *)unified, .n_unified = 1},
                                 &err),
                 &err) == EINVAL);
}

/* A child that, once moved, forks a grandchild into the same cgroups and reports both are there. */
static pid_t real_spawn(const struct rt_cgroup_root *root, const char *pod)
{
    int go[2], ready[2];
    char c = 0;
    if (pipe(go) < 0 || pipe(ready) < 0)
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        if (read(go[0], &c, 1) != 1)
            _exit(1);
        if (fork() == 0)
            for (;;)
                pause();
        (void)!write(ready[1], "r", 1);
        for (;;)
            pause();
    }
    close(go[0]);
    close(ready[1]);
    crisp_error_t *err = NULL;
    real_child = pid;
    CHECK(status(rt_cgroup_enter(root, pod, pid, &err), &err) == 0);
    CHECK(write(go[1], "g", 1) == 1);
    CHECK(read(ready[0], &c, 1) == 1);
    close(go[1]);
    close(ready[0]);
    return pid;
}

static bool has_pid(const pid_t *pids, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

static void test_v1_processes(const struct rt_cgroup_root *root, const char *pod)
{
    crisp_error_t *err = NULL;
    pid_t child = real_spawn(root, pod);
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    CHECK(status(rt_cgroup_pids(root, pod, &pids, &n, &err), &err) == 0);
    CHECK(n == 2 && has_pid(pids, n, child));
    for (size_t i = 0; i < ARRAY_SIZE(v1_ctrls); i++) {
        _cleanup_free_ char *procs = v1_file(v1_ctrls[i], "/pod1", "cgroup.procs");
        _cleanup_free_ char *text = NULL;
        char want[16];
        snprintf(want, sizeof(want), "%d\n", (int)child);
        if (v1_mounted(v1_ctrls[i]) && rt_cgroup_read_file(procs, &text, NULL) == 0)
            CHECK_CONTAINS(text, want);
    }
    CHECK(status(rt_cgroup_remove(root, pod, ALL(2), &err), &err) == EBUSY);
    CHECK(v1_exists("cpu", "/pod1"));

    CHECK(status(rt_cgroup_kill_all(root, pod, 5000, &err), &err) == 0);
    int ws = 0;
    CHECK(waitpid(child, &ws, 0) == child && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    real_child = -1;
    free(TAKE_PTR(pids));
    CHECK(status(rt_cgroup_pids(root, pod, &pids, &n, &err), &err) == 0);
    CHECK(n == 0);
    if (v1_mounted("freezer"))
        CHECK_V1("freezer", "/pod1", "freezer.state", "THAWED");
}

static void test_v1_devices(const struct rt_cgroup_root *root, const char *pod)
{
    crisp_error_t *err = NULL;
    char *extra[] = {"c 10:200 rwm", NULL};
    CHECK(status(rt_cgroup_devices_restrict(root, pod, extra, &err), &err) == 0);
    if (!v1_mounted("devices"))
        return;
    _cleanup_free_ char *list_file = v1_file("devices", "/pod1", "devices.list");
    _cleanup_free_ char *list = NULL;
    CHECK(rt_cgroup_read_file(list_file, &list, NULL) == 0);
    CHECK_CONTAINS(list, "c 1:3 rwm\n");
    CHECK_CONTAINS(list, "c 10:200 rwm\n");
    CHECK(list && !strstr(list, "a *:* rwm"));
}

static void test_v1_remove(const struct rt_cgroup_root *root, const char *pod)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created created;
    _cleanup_free_ char *ctr = NULL;
    if (asprintf(&ctr, "%s/ctr1", pod) < 0)
        abort();
    CHECK(status(rt_cgroup_create(root, ctr, &created, &err), &err) == 0);
    CHECK(created_all(&created, 1));
    CHECK(status(rt_cgroup_remove(root, pod, ALL(2), &err), &err) == 0);
    for (size_t i = 0; i < ARRAY_SIZE(v1_ctrls); i++)
        if (v1_mounted(v1_ctrls[i]))
            CHECK(!v1_exists(v1_ctrls[i], ""));
    CHECK(status(rt_cgroup_remove(root, pod, ALL(2), &err), &err) == 0);
    CHECK(status(rt_cgroup_kill_all(root, pod, 100, &err), &err) == 0);
}

/* Issue 12 item 7: a parent another request made a moment ago has empty cpus and mems. The pod below it
 * gets the nearest values up the tree, and so does the empty parent, which nothing could join anyway. */
static void test_v1_cpuset_empty_parent(const struct rt_cgroup_root *root, const char *pod)
{
    if (!v1_mounted("cpuset"))
        return;
    crisp_error_t *err = NULL;
    _cleanup_free_ char *parent = v1_file("cpuset", "", NULL);
    CHECK(mkdir(parent, 0755) == 0);
    CHECK_V1("cpuset", "", "cpuset.cpus", "");
    _cleanup_free_ char *cpus = NULL, *mems = NULL;
    CHECK(rt_cgroup_read_file(V1_MOUNT "/cpuset/cpuset.cpus", &cpus, NULL) == 0);
    CHECK(rt_cgroup_read_file(V1_MOUNT "/cpuset/cpuset.mems", &mems, NULL) == 0);
    if (cpus)
        cpus[strcspn(cpus, "\n")] = '\0';
    if (mems)
        mems[strcspn(mems, "\n")] = '\0';
    struct rt_cgroup_created created;
    int r = status(rt_cgroup_create(root, pod, &created, &err), &err);
    CHECK(r == 0);
    if (r != 0) {
        rmdir(parent);
        return;
    }
    CHECK_V1("cpuset", "", "cpuset.cpus", cpus);
    CHECK_V1("cpuset", "", "cpuset.mems", mems);
    CHECK_V1("cpuset", "/pod1", "cpuset.cpus", cpus);
    CHECK_V1("cpuset", "/pod1", "cpuset.mems", mems);
    /* A process can join it: the failure was ENOSPC on that write. */
    pid_t child = real_spawn(root, pod);
    CHECK(child > 0);
    CHECK(status(rt_cgroup_kill_all(root, pod, 5000, &err), &err) == 0);
    int ws = 0;
    CHECK(waitpid(child, &ws, 0) == child);
    real_child = -1;
    CHECK(status(rt_cgroup_remove(root, pod, &created, &err), &err) == 0);
    CHECK(v1_exists("cpuset", "") && !v1_exists("cpuset", "/pod1"));
    CHECK(rmdir(parent) == 0);
}

static void test_real_v1(void)
{
    struct rt_cgroup_root root = {0};
    crisp_error_t *err = NULL;
    if (status(rt_cgroup_root_detect(NULL, &root, &err), &err) != 0 || root.mode != RT_CGROUP_V1) {
        printf("test_cgroup: skipping real cgroup tests: %s is not cgroup v1\n", V1_MOUNT);
        rt_cgroup_root_fini(&root);
        return;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    snprintf(v1_parent, sizeof(v1_parent), "/crisp-unit-%d-%08x", (int)getpid(), (unsigned)rand());
    _cleanup_free_ char *pod = NULL;
    if (asprintf(&pod, "%s/pod1", v1_parent) < 0)
        abort();
    struct rt_cgroup_created created;
    int s = status(rt_cgroup_create(&root, pod, &created, &err), &err);
    if (s == EACCES || s == EPERM || s == EROFS) {
        printf("test_cgroup: skipping real cgroup tests: %s is not writable\n", V1_MOUNT);
    } else {
        CHECK(s == 0 && created_all(&created, 2));
        if (s == 0) {
            test_v1_create_apply(&root, pod);
            test_v1_rollback(&root, pod);
            test_v1_processes(&root, pod);
            test_v1_devices(&root, pod);
            test_v1_remove(&root, pod);
            test_v1_cpuset_empty_parent(&root, pod);
        }
    }
    v1_cleanup();
    rt_cgroup_root_fini(&root);
}

/* Real cgroup v2: the whole tree on a v2 host, or the one without controllers that hybrid hosts
 * mount at unified/, which still has processes, cgroup.kill and device filters. */

static char v2_dir[128];

static void test_v2_processes(const struct rt_cgroup_root *root, const char *pod)
{
    crisp_error_t *err = NULL;
    pid_t child = real_spawn(root, pod);
    _cleanup_free_ pid_t *pids = NULL;
    size_t n = 0;
    CHECK(status(rt_cgroup_pids(root, pod, &pids, &n, &err), &err) == 0);
    CHECK(n == 2 && has_pid(pids, n, child));
    char *extra[] = {"c 10:200 rwm", NULL};
    CHECK(status(rt_cgroup_devices_restrict(root, pod, extra, &err), &err) == 0);
    CHECK(status(rt_cgroup_remove(root, pod, ALL(2), &err), &err) == EBUSY);

    CHECK(status(rt_cgroup_kill_all(root, pod, 5000, &err), &err) == 0);
    int ws = 0;
    CHECK(waitpid(child, &ws, 0) == child && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    real_child = -1;
    free(TAKE_PTR(pids));
    CHECK(status(rt_cgroup_pids(root, pod, &pids, &n, &err), &err) == 0);
    CHECK(n == 0);
}

static void test_v2_remove(const struct rt_cgroup_root *root, const char *pod)
{
    crisp_error_t *err = NULL;
    struct rt_cgroup_created created;
    _cleanup_free_ char *ctr = NULL;
    if (asprintf(&ctr, "%s/ctr1", pod) < 0)
        abort();
    CHECK(status(rt_cgroup_create(root, ctr, &created, &err), &err) == 0);
    CHECK(created_all(&created, 1));
    CHECK(status(rt_cgroup_remove(root, pod, ALL(2), &err), &err) == 0);
    CHECK(access(v2_dir, F_OK) < 0 && errno == ENOENT);
    CHECK(status(rt_cgroup_kill_all(root, pod, 100, &err), &err) == 0);
}

static void test_real_v2(void)
{
    const char *mount = access(V1_MOUNT "/cgroup.controllers", F_OK) == 0 ? V1_MOUNT : V1_MOUNT "/unified";
    _cleanup_(rt_cgroup_root_fini) struct rt_cgroup_root root = {0};
    crisp_error_t *err = NULL;
    if (status(rt_cgroup_root_detect(mount, &root, &err), &err) != 0 || root.ops != &rt_cgroup_v2_ops) {
        printf("test_cgroup: skipping real cgroup v2 tests: no v2 hierarchy at %s\n", mount);
        return;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char parent[64];
    snprintf(parent, sizeof(parent), "/crisp-unit-v2-%d-%08x", (int)getpid(), (unsigned)rand());
    snprintf(v2_dir, sizeof(v2_dir), "%s%s", mount, parent);
    _cleanup_free_ char *pod = NULL;
    if (asprintf(&pod, "%s/pod1", parent) < 0)
        abort();
    struct rt_cgroup_created created;
    int s = status(rt_cgroup_create(&root, pod, &created, &err), &err);
    if (s == EACCES || s == EPERM || s == EROFS) {
        printf("test_cgroup: skipping real cgroup v2 tests: %s is not writable\n", mount);
    } else {
        CHECK(s == 0 && created_all(&created, 2));
        if (s == 0) {
            test_v2_processes(&root, pod);
            test_v2_remove(&root, pod);
        }
    }
    real_kill_child();
    real_cleanup_dir(v2_dir);
    real_reap();
}

int main(void)
{
    test_parent_path();
    test_parent_path_limits();
    test_weight();
    test_created();
    test_record_depths();
    test_fake();
    test_real_v1();
    test_real_v2();
    return unit_report("test_cgroup");
}
