/* The pod record's crash-recovery fields (phase, the saved network configuration, per-hierarchy
 * created depths) and the cgroup plan they are recorded from, on a fake cgroup v1 tree. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/strv.h"
#include "runtime/sandbox_internal.h"
#include "test/unit/unit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fill(struct rt_sandbox *sb)
{
    struct rt_sandbox_info *i = &sb->info;
    memset(i->id, 'a', RT_ID_LEN);
    i->name = strdup("p");
    i->uid = strdup("u");
    i->namespace_ = strdup("ns");
    i->runtime_handler = strdup("");
    i->ips = strv_copy(NULL);
    i->netns_path = strdup("/run/x/ns/net");
    i->cgroup_path = strdup("/kubepods/pod1");
    i->cni_result = strdup("");
    sb->ports = calloc(1, sizeof(*sb->ports));
    sb->phase = RT_SANDBOX_PHASE_CREATING;
    sb->network_up = true;
    sb->cni_config = strdup(
        "{\"cniVersion\": \"1.0.0\", \"name\": \"n\", \"plugins\": [{\"type\": \"bridge\"}]}");
    strcpy(sb->cni_ifname, "eth0");
    char *servers[] = {"10.0.0.10", NULL}, *none[] = {NULL};
    sb->dns_servers = strv_copy(servers);
    sb->dns_searches = strv_copy(none);
    sb->dns_options = strv_copy(none);
    rt_cgroup_created_set(&sb->cgroup_created, "devices", 2, NULL);
    rt_cgroup_created_set(&sb->cgroup_created, "cpu", 0, NULL);
}

static void test_round_trip(void)
{
    struct rt_sandbox a = {0}, b = {0};
    fill(&a);
    _cleanup_free_ char *json = rt_sandbox_record_to_json(&a);
    CHECK(json != NULL);
    CHECK(rt_sandbox_record_from_json(json, &b, NULL) == 0);
    CHECK(b.phase == RT_SANDBOX_PHASE_CREATING);
    CHECK(b.network_up);
    CHECK_STR(b.cni_config, a.cni_config);
    CHECK_STR(b.cni_ifname, "eth0");
    CHECK(strv_length(b.dns_servers) == 1 && strcmp(b.dns_servers[0], "10.0.0.10") == 0);
    CHECK(rt_cgroup_created_depth(&b.cgroup_created, "devices") == 2);
    CHECK(rt_cgroup_created_depth(&b.cgroup_created, "cpu") == 0);
    rt_sandbox_fini(&a);
    rt_sandbox_fini(&b);
}

/* Records written before phases and saved configs are live pods whose DEL uses the current config. */
static void test_old_record(void)
{
    struct rt_sandbox b = {0};
    const char *old = "{\"id\": \"" /* 64 hex */
                      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                      "\", \"name\": \"p\", \"network_up\": true, \"cgroup_depth\": 1}";
    CHECK(rt_sandbox_record_from_json(old, &b, NULL) == 0);
    CHECK(b.phase == RT_SANDBOX_PHASE_LIVE);
    CHECK_STR(b.cni_config, "");
    CHECK(b.dns_servers && !b.dns_servers[0]);
    CHECK(rt_cgroup_created_depth(&b.cgroup_created, "memory") == 1);
    rt_sandbox_fini(&b);
    struct rt_sandbox c = {0};
    const char *bad = "{\"id\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", "
                      "\"phase\": \"exploding\"}";
    CHECK(rt_sandbox_record_from_json(bad, &c, NULL) < 0);
    rt_sandbox_fini(&c);
}

static void mkdir_p(const char *base, const char *rel)
{
    _cleanup_free_ char *cmd = NULL;
    if (asprintf(&cmd, "mkdir -p '%s/%s'", base, rel) > 0 && system(cmd) != 0)
        fprintf(stderr, "mkdir -p %s/%s failed\n", base, rel);
}

/* kubelet made kubepods/burstable/pod1 in cpu only: crisp would make all three levels in devices,
 * none in cpu, and the plan says exactly that. */
static void test_plan(void)
{
    char tmpl[] = "/tmp/crisp-unit-plan-XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir)
        return;
    mkdir_p(dir, "cpu/kubepods/burstable/pod1");
    mkdir_p(dir, "devices/kubepods");
    mkdir_p(dir, "memory");
    struct rt_cgroup_root root = {.mount = dir, .mode = RT_CGROUP_V1};
    struct rt_cgroup_created plan;
    CHECK(rt_cgroup_create_plan(&root, "/kubepods/burstable/pod1", &plan, NULL) == 0);
    CHECK(rt_cgroup_created_depth(&plan, "cpu") == 0);
    CHECK(rt_cgroup_created_depth(&plan, "devices") == 2);
    CHECK(rt_cgroup_created_depth(&plan, "memory") == 3);
    CHECK(rt_cgroup_created_depth(&plan, "pids") == 0); /* not mounted */
    crisp_error_t *err = NULL;
    CHECK(rt_cgroup_create_plan(&root, "/a/../b", &plan, &err) < 0);
    crisp_error_free(err);

    struct rt_cgroup_created made = {0};
    rt_cgroup_created_set(&made, "devices", 3, NULL);
    rt_cgroup_created_set(&made, "cpu", 0, NULL);
    CHECK(rt_cgroup_create_plan(&root, "/kubepods/burstable/pod1", &plan, NULL) == 0);
    CHECK(rt_cgroup_created_merge(&plan, &made, NULL) == 0);
    CHECK(rt_cgroup_created_depth(&plan, "devices") == 3);
    CHECK(rt_cgroup_created_depth(&plan, "memory") == 3);
    CHECK(rt_cgroup_created_depth(&plan, "cpu") == 0);
    _cleanup_free_ char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf '%s'", dir) > 0 && system(cmd) != 0)
        fprintf(stderr, "rm -rf %s failed\n", dir);
}

int main(void)
{
    test_round_trip();
    test_old_record();
    test_plan();
    return unit_report("test_sandbox_record");
}
