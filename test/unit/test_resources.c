/* server/convert/resources: LinuxContainerResources checked and turned into the runtime's cgroup
 * resources; here the parts that reach cgroup v2 (the unified map and hugepage limits), whose keys
 * become file names in the container's cgroup. */
#define _GNU_SOURCE
#include "common/arena.h"
#include "common/cleanup.h"
#include "server/convert/resources.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct arena arena;

static int unified_status(const char *key, const char *value)
{
    crisp_error_t *err = NULL;
    int r = srv_unified_check(key, value, &err);
    int s = r < 0 ? (err ? err->status : -1) : 0;
    crisp_error_free(err);
    return s;
}

static void test_unified_keys(void)
{
    static const char *const good[] = {
        "memory.high",
        "memory.min",
        "memory.oom.group",
        "memory.swap.max",
        "cpu.weight",
        "cpu.max",
        "cpu.idle",
        "cpuset.cpus",
        "io.weight",
        "io.max",
        "io.bfq.weight",
        "hugetlb.2MB.max",
        "hugetlb.1GB.rsvd.max",
        "pids.max",
        "rdma.max",
        "misc.max",
        "cgroup.max.depth",
        "cgroup.max.descendants",
    };
    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        int s = unified_status(good[i], "1");
        if (s != 0)
            fprintf(stderr, "unified key %s refused (%d)\n", good[i], s);
        CHECK(s == 0);
    }
    static const char *const bad[] = {
        "",
        "memory",
        "memory.",
        ".memory.high",
        "../memory.high",
        "memory/../x.max",
        "a/b.max",
        "memory..high",
        "memory.high\n",
        "memory.high ",
        "devices.allow",
        "freezer.state",
        "net_cls.classid",
        "blkio.weight",
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.subtree_control",
        "cgroup.kill",
        "cgroup.freeze",
        "cgroup.type",
        "notacontroller.max",
        "cpu.max/",
        "x.y",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int s = unified_status(bad[i], "1");
        if (s != EINVAL)
            fprintf(stderr, "unified key \"%s\" gave %d\n", bad[i], s);
        CHECK(s == EINVAL);
    }
    char longkey[80];
    memset(longkey, 'x', sizeof(longkey) - 1);
    memcpy(longkey, "memory.", 7);
    longkey[sizeof(longkey) - 1] = '\0';
    CHECK(unified_status(longkey, "1") == EINVAL);
    CHECK(unified_status(NULL, "1") == EINVAL);
}

static void test_unified_values(void)
{
    CHECK(unified_status("memory.high", "max") == 0);
    CHECK(unified_status("memory.high", "") == 0);
    CHECK(unified_status("memory.high", NULL) == 0);
    CHECK(unified_status("io.max", "8:0 rbps=1048576\n8:16 wbps=2097152\n") == 0); /* a line per device */
    CHECK(unified_status("memory.high", "1\r2") == EINVAL);
    CHECK(unified_status("memory.high", "1\t2") == EINVAL);
    char *huge = malloc(5000);
    memset(huge, '1', 4999);
    huge[4999] = '\0';
    CHECK(unified_status("io.max", huge) == EINVAL);
    huge[4096] = '\0';
    CHECK(unified_status("io.max", huge) == 0);
    free(huge);
    crisp_error_t *err = NULL;
    CHECK(srv_unified_check("cgroup.procs", "1", &err) < 0);
    CHECK_CONTAINS(err ? err->msg : NULL, "unified cgroup key \"cgroup.procs\" is not a cgroup v2 interface");
    crisp_error_free(err);
}

static int from(Runtime__V1__LinuxContainerResources *r, struct rt_cgroup_resources **res, char **ret_msg)
{
    crisp_error_t *err = NULL;
    int rc = srv_resources_from(&arena, r, res, &err);
    int s = rc < 0 ? (err ? err->status : -1) : 0;
    if (ret_msg)
        *ret_msg = err ? strdup(err->msg) : NULL;
    crisp_error_free(err);
    return s;
}

/* The whole request through srv_resources_from: every field reaches the runtime's struct, bad
 * entries are INVALID_ARGUMENT before anything is made. */
static void test_resources_from(void)
{
    Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    Runtime__V1__HugepageLimit h = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
    h.page_size = "2MB", h.limit = 4 << 20;
    Runtime__V1__HugepageLimit *hs[] = {&h};
    Runtime__V1__LinuxContainerResources__UnifiedEntry u[2] = {
        RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT,
        RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT};
    u[0].key = "memory.high", u[0].value = "100000000";
    u[1].key = "memory.oom.group", u[1].value = "1";
    Runtime__V1__LinuxContainerResources__UnifiedEntry *us[] = {&u[0], &u[1]};
    r.cpu_period = 100000, r.cpu_quota = 50000, r.cpu_shares = 512;
    r.memory_limit_in_bytes = 64 << 20, r.memory_swap_limit_in_bytes = 128 << 20;
    r.hugepage_limits = hs, r.n_hugepage_limits = 1;
    r.unified = us, r.n_unified = 2;
    struct rt_cgroup_resources *res = NULL;
    CHECK(from(&r, &res, NULL) == 0 && res);
    if (res) {
        CHECK(res->cpu_period == 100000 && res->cpu_quota == 50000 && res->cpu_shares == 512);
        CHECK(res->memory_limit == 64 << 20 && res->memory_swap_limit == 128 << 20);
        CHECK(res->n_hugepages == 1 && strcmp(res->hugepages[0].page_size, "2MB") == 0 &&
              res->hugepages[0].limit == 4 << 20);
        CHECK(res->n_unified == 2 && strcmp(res->unified[1].key, "memory.oom.group") == 0 &&
              strcmp(res->unified[1].value, "1") == 0);
    }
    u[1].key = "cgroup.procs";
    char *msg = NULL;
    CHECK(from(&r, &res, &msg) == EINVAL);
    CHECK_CONTAINS(msg, "cgroup.procs");
    free(msg);
    u[1].key = "memory.oom.group";

    static const char *const sizes[] = {"../2MB", "2XB", "MB", "2M", "2MBB", "", "02MB", "2MB/x"};
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        h.page_size = (char *)sizes[i];
        CHECK(from(&r, &res, NULL) == EINVAL);
    }
    h.page_size = "1GB";
    CHECK(from(&r, &res, NULL) == 0);
    h.page_size = "64KB";
    CHECK(from(&r, &res, NULL) == 0);
}

int main(void)
{
    test_unified_keys();
    test_unified_values();
    test_resources_from();
    arena_fini(&arena);
    return unit_report("test_resources");
}
