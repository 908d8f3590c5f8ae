/* server/convert/security_context: a CRI LinuxContainerSecurityContext as the runtime's spec (users
 * from the image's own /etc/passwd and /etc/group, groups, capabilities, privileged, masked and
 * read-only paths, namespace modes), and what the runtime then checks against the pod. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/caps.h"
#include "runtime/container_internal.h"
#include "server/convert/security_context.h"
#include "unit.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef Runtime__V1__LinuxContainerSecurityContext secctx_t;

#define BIT(c) (1ULL << (c))
#define N(a) (sizeof(a) / sizeof((a)[0]))

static char layer[] = "/tmp/crisp-unit-secctx-XXXXXX";
static char *layers[] = {layer, NULL};
static struct arena arena;

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "app:x:1000:1001::/home/app:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/:/bin/false\n";
static const char group[] = "root:x:0:\n"
                            "wheel:x:10:root,app\n"
                            "appgrp:x:1001:\n"
                            "audio:x:29:other,app\n"
                            "video:x:44:app\n";

static void layer_write(const char *name, const char *text)
{
    _cleanup_free_ char *path = NULL;
    crisp_error_t *err = NULL;
    if (asprintf(&path, "%s/etc/%s", layer, name) < 0)
        abort();
    CHECK(file_write_replace(path, text, strlen(text), 0644, &err) == 0);
    crisp_error_free(err);
}

static int apply(const secctx_t *sc, const char *image_user, struct rt_container_spec *s, crisp_error_t **err)
{
    struct img_config img = {.user = (char *)image_user};
    *s = (struct rt_container_spec){.name = "c", .lowerdirs = layers};
    return srv_security_context_apply(&arena, sc, &img, s, err);
}

static void expect_ok(const secctx_t *sc, const char *image_user, struct rt_container_spec *s)
{
    crisp_error_t *err = NULL;
    int r = apply(sc, image_user, s, &err);
    if (r < 0)
        fprintf(stderr, "unexpected error: %s\n", err ? err->msg : "(none)");
    CHECK(r == 0);
    crisp_error_free(err);
}

static void expect_error(const secctx_t *sc, const char *image_user, const char *msg, bool exact)
{
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(apply(sc, image_user, &s, &err) < 0);
    CHECK(err && err->status == EINVAL);
    if (exact)
        CHECK_STR(err ? err->msg : NULL, msg);
    else
        CHECK_CONTAINS(err ? err->msg : NULL, msg);
    crisp_error_free(err);
}

static void expect_user(const secctx_t *sc, const char *image_user, uid_t uid, gid_t gid)
{
    struct rt_container_spec s;
    expect_ok(sc, image_user, &s);
    if (s.uid != uid || s.gid != gid)
        fprintf(stderr, "image user \"%s\": got %u:%u, want %u:%u\n", image_user, s.uid, s.gid, uid, gid);
    CHECK(s.uid == uid && s.gid == gid);
}

static void test_image_user(void)
{
    expect_user(NULL, "", 0, 0);
    expect_user(NULL, "app", 1000, 1001);
    expect_user(NULL, "1000", 1000, 1001);
    expect_user(NULL, "4242", 4242, 0);
    expect_user(NULL, "1000:29", 1000, 29);
    expect_user(NULL, "app:wheel", 1000, 10);
    expect_user(NULL, "4242:4343", 4242, 4343);
    expect_error(NULL, "ghost", "is not in the image's", false);
    expect_error(NULL, "app:nogroup", "is not in the image's", false);
    /* An empty security context is no context. */
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    expect_user(&sc, "app", 1000, 1001);
}

static void test_run_as(void)
{
    Runtime__V1__Int64Value user = RUNTIME__V1__INT64_VALUE__INIT, grp = RUNTIME__V1__INT64_VALUE__INIT;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.run_as_user = &user;
    user.value = 1000;
    expect_user(&sc, "nobody", 1000, 1001); /* the image's USER is ignored, its passwd is not */
    user.value = 4242;
    expect_user(&sc, "app", 4242, 0);
    user.value = 0;
    expect_user(&sc, "app", 0, 0); /* an explicit root is honoured */
    user.value = 4294967294LL;
    expect_user(&sc, "", 4294967294U, 0);
    sc.run_as_group = &grp;
    user.value = 1000;
    grp.value = 29;
    expect_user(&sc, "", 1000, 29);
    grp.value = 0;
    expect_user(&sc, "", 1000, 0);
    /* run_as_user wins over run_as_username. */
    sc.run_as_group = NULL;
    sc.run_as_username = "app";
    user.value = 65534;
    expect_user(&sc, "", 65534, 65534);
    sc.run_as_user = NULL;
    expect_user(&sc, "nobody", 1000, 1001);
    sc.run_as_group = &grp;
    grp.value = 5000;
    expect_user(&sc, "", 1000, 5000);
}

static void test_run_as_refused(void)
{
    Runtime__V1__Int64Value user = RUNTIME__V1__INT64_VALUE__INIT, grp = RUNTIME__V1__INT64_VALUE__INIT;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.run_as_group = &grp;
    expect_error(&sc, "app", "run_as_group is set without run_as_user or run_as_username", true);
    sc.run_as_username = "";
    expect_error(&sc, "app", "run_as_group is set without run_as_user or run_as_username", true);
    sc.run_as_group = NULL;
    sc.run_as_user = &user;
    user.value = -1;
    expect_error(&sc, "", "run_as_user -1 is not a valid id", true);
    user.value = 4294967295LL;
    expect_error(&sc, "", "run_as_user 4294967295 is not a valid id", true);
    user.value = 1000;
    sc.run_as_group = &grp;
    grp.value = -5;
    expect_error(&sc, "", "run_as_group -5 is not a valid id", true);
    sc.run_as_user = NULL;
    sc.run_as_group = NULL;
    sc.run_as_username = "app:wheel";
    expect_error(&sc, "", "run_as_username \"app:wheel\" is not a user name", true);
    sc.run_as_username = "ghost";
    expect_error(&sc, "", "is not in the image's", false);
}

/* want NULL: only the count is checked. */
static void expect_groups(const secctx_t *sc, const char *image_user, const gid_t *want, size_t n_want)
{
    struct rt_container_spec s;
    expect_ok(sc, image_user, &s);
    CHECK(s.n_groups == n_want);
    for (size_t i = 0; want && i < s.n_groups && i < n_want; i++)
        CHECK(s.groups[i] == want[i]);
}

static void test_groups(void)
{
    /* Merge, the default: the primary gid, then the image's memberships of the user and the request's,
     * each once, in ascending order. */
    expect_groups(NULL, "app", (const gid_t[]){1001, 10, 29, 44}, 4);
    expect_groups(NULL, "root", (const gid_t[]){0, 10}, 2);
    expect_groups(NULL, "4242", (const gid_t[]){0}, 1);
    int64_t extra[] = {5000, 29, 5000, 0};
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.supplemental_groups = extra;
    sc.n_supplemental_groups = N(extra);
    expect_groups(&sc, "app", (const gid_t[]){1001, 0, 10, 29, 44, 5000}, 6);
    expect_groups(&sc, "4242", (const gid_t[]){0, 29, 5000}, 3);
    /* run_as_group is the primary gid, and so the first group. */
    Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT, gid = RUNTIME__V1__INT64_VALUE__INIT;
    uid.value = 1000;
    gid.value = 3000;
    sc.run_as_user = &uid;
    sc.run_as_group = &gid;
    expect_groups(&sc, "", (const gid_t[]){3000, 0, 10, 29, 44, 5000}, 6);
    sc.run_as_group = NULL;
    /* run_as_user with an entry in the image's passwd: that entry's group. */
    expect_groups(&sc, "", (const gid_t[]){1001, 0, 10, 29, 44, 5000}, 6);
    sc.run_as_user = NULL;
    /* Strict: the primary gid and the request's only. */
    sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    expect_groups(&sc, "app", (const gid_t[]){1001, 0, 29, 5000}, 4);
    sc.n_supplemental_groups = 0;
    expect_groups(&sc, "app", (const gid_t[]){1001}, 1);
}

static void test_groups_refused(void)
{
    int64_t bad[] = {7, -1};
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.supplemental_groups = bad;
    sc.n_supplemental_groups = N(bad);
    expect_error(&sc, "app", "supplemental group -1 is not a valid id", true);
    bad[1] = 4294967295LL;
    expect_error(&sc, "app", "supplemental group 4294967295 is not a valid id", true);
    int64_t *many = calloc(1025, sizeof(int64_t));
    for (int i = 0; many && i < 1025; i++)
        many[i] = 20000 + i;
    sc.supplemental_groups = many;
    sc.n_supplemental_groups = 1025;
    expect_error(&sc, "app", "1025 supplemental groups, at most 1024", true);
    /* 1024 of the request's are fine alone, not on top of the image's three. */
    sc.n_supplemental_groups = 1024;
    expect_error(&sc, "app", "more than 1024 supplemental groups", true);
    expect_groups(&sc, "4242", NULL, 1025); /* the primary gid 0 on top */
    sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    expect_groups(&sc, "app", NULL, 1025);
    free(many);
}

static uint64_t caps_of(char **add, size_t n_add, char **drop, size_t n_drop, bool privileged)
{
    uint64_t mask = 0;
    crisp_error_t *err = NULL;
    CHECK(rt_caps_mask(add, n_add, drop, n_drop, privileged, &mask, &err) == 0);
    crisp_error_free(err);
    return mask;
}

static void test_capabilities(void)
{
    uint64_t def = caps_of(NULL, 0, NULL, 0, false), host = caps_of(NULL, 0, NULL, 0, true);
    struct rt_container_spec s;
    expect_ok(NULL, "", &s);
    CHECK(s.capabilities == def && s.ambient_capabilities == 0 && !s.no_new_privs);
    CHECK((def & BIT(CAP_CHOWN)) && (def & BIT(CAP_NET_BIND_SERVICE)) && !(def & BIT(CAP_SYS_ADMIN)));
    Runtime__V1__Capability caps = RUNTIME__V1__CAPABILITY__INIT;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.capabilities = &caps;
    sc.no_new_privs = true;
    char *add[] = {"CAP_NET_ADMIN", "sys_ptrace"}, *drop[] = {"CHOWN"}, *all[] = {"ALL"};
    caps.add_capabilities = add;
    caps.n_add_capabilities = N(add);
    caps.drop_capabilities = drop;
    caps.n_drop_capabilities = N(drop);
    expect_ok(&sc, "", &s);
    CHECK(s.capabilities == ((def | ((BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_PTRACE)) & host)) & ~BIT(CAP_CHOWN)));
    CHECK(s.no_new_privs);
    caps.drop_capabilities = all;
    caps.n_drop_capabilities = 1;
    expect_ok(&sc, "", &s);
    CHECK(s.capabilities == ((BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_PTRACE)) & host));
    /* An ambient capability is permitted too, even when everything else is dropped. */
    char *ambient[] = {"NET_BIND_SERVICE"};
    caps.n_add_capabilities = 0;
    caps.add_ambient_capabilities = ambient;
    caps.n_add_ambient_capabilities = 1;
    expect_ok(&sc, "app", &s);
    CHECK(s.ambient_capabilities == (BIT(CAP_NET_BIND_SERVICE) & host));
    CHECK(s.capabilities == s.ambient_capabilities);
    caps.add_capabilities = all;
    caps.n_add_capabilities = 1;
    caps.n_drop_capabilities = 0;
    caps.n_add_ambient_capabilities = 0;
    expect_ok(&sc, "", &s);
    CHECK(s.capabilities == host);
}

static void test_capabilities_refused(void)
{
    Runtime__V1__Capability caps = RUNTIME__V1__CAPABILITY__INIT;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.capabilities = &caps;
    char *bad[] = {"CAP_NET_ADMIN", "CAP_WIZARD"};
    caps.add_capabilities = bad;
    caps.n_add_capabilities = N(bad);
    expect_error(&sc, "", "unknown capability \"CAP_WIZARD\"", true);
    caps.n_add_capabilities = 0;
    caps.drop_capabilities = bad;
    caps.n_drop_capabilities = N(bad);
    expect_error(&sc, "", "unknown capability \"CAP_WIZARD\"", true);
    caps.n_drop_capabilities = 0;
    char *ambient[] = {"WIZARD"};
    caps.add_ambient_capabilities = ambient;
    caps.n_add_ambient_capabilities = 1;
    expect_error(&sc, "", "ambient capabilities: unknown capability \"WIZARD\"", true);
}

static size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static void expect_strv(char *const *got, const char *const *want, size_t n_want)
{
    CHECK(strv_len(got) == n_want);
    for (size_t i = 0; i < n_want && got && got[i]; i++)
        CHECK_STR(got[i], want[i]);
}

static const char *const default_masked[] = {"/proc/acpi",
                                             "/proc/asound",
                                             "/proc/kcore",
                                             "/proc/keys",
                                             "/proc/latency_stats",
                                             "/proc/timer_list",
                                             "/proc/timer_stats",
                                             "/proc/sched_debug",
                                             "/proc/scsi",
                                             "/sys/firmware",
                                             "/sys/devices/virtual/powercap"};
static const char *const default_readonly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                               "/proc/sysrq-trigger"};

static void test_paths(void)
{
    struct rt_container_spec s;
    expect_ok(NULL, "", &s);
    expect_strv(s.masked_paths, default_masked, N(default_masked));
    expect_strv(s.readonly_paths, default_readonly, N(default_readonly));
    CHECK(!s.readonly_rootfs);
    /* kubelet's lists replace the defaults, each on its own. */
    char *masked[] = {"/proc/kcore", "/proc/mine"}, *ro[] = {"/proc/sys"};
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.masked_paths = masked;
    sc.n_masked_paths = N(masked);
    sc.readonly_rootfs = true;
    expect_ok(&sc, "", &s);
    expect_strv(s.masked_paths, (const char *const[]){"/proc/kcore", "/proc/mine"}, 2);
    expect_strv(s.readonly_paths, default_readonly, N(default_readonly));
    CHECK(s.readonly_rootfs);
    sc.readonly_paths = ro;
    sc.n_readonly_paths = N(ro);
    sc.n_masked_paths = 0;
    expect_ok(&sc, "", &s);
    expect_strv(s.masked_paths, default_masked, N(default_masked));
    expect_strv(s.readonly_paths, (const char *const[]){"/proc/sys"}, 1);
    /* Privileged: none at all, whatever kubelet sent. */
    sc.n_masked_paths = N(masked);
    sc.privileged = true;
    expect_ok(&sc, "", &s);
    CHECK(s.privileged);
    CHECK(s.masked_paths && !s.masked_paths[0] && s.readonly_paths && !s.readonly_paths[0]);
    CHECK(s.readonly_rootfs);
}

static void test_paths_refused(void)
{
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    char *rel[] = {"/proc/kcore", "proc/keys"}, *nl[] = {"/proc/a\nb"};
    sc.masked_paths = rel;
    sc.n_masked_paths = N(rel);
    expect_error(&sc, "", "masked path \"proc/keys\" must be absolute", true);
    sc.privileged = true; /* checked even when the paths would not be used */
    expect_error(&sc, "", "masked path \"proc/keys\" must be absolute", true);
    sc.privileged = false;
    sc.n_masked_paths = 0;
    sc.readonly_paths = nl;
    sc.n_readonly_paths = 1;
    expect_error(&sc, "", "read-only path \"/proc/a\nb\" must be absolute", true);
    char long_path[4098];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    char *too_long[] = {long_path};
    sc.readonly_paths = too_long;
    expect_error(&sc, "", "read-only path \"/aaa", false);
    char *many[257];
    for (size_t i = 0; i < N(many); i++)
        many[i] = "/proc/x";
    sc.readonly_paths = many;
    sc.n_readonly_paths = N(many);
    expect_error(&sc, "", "257 read-only paths: at most 256", true);
    sc.n_readonly_paths = 0;
    sc.masked_paths = many;
    sc.n_masked_paths = N(many);
    expect_error(&sc, "", "257 masked paths: at most 256", true);
    sc.n_masked_paths = 256;
    struct rt_container_spec s;
    expect_ok(&sc, "", &s);
    CHECK(strv_len(s.masked_paths) == 256);
}

static void test_namespaces(void)
{
    struct rt_container_spec s;
    expect_ok(NULL, "", &s);
    CHECK(!s.has_namespaces);
    Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.namespace_options = &ns;
    ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
    expect_ok(&sc, "", &s);
    CHECK(s.has_namespaces && s.net_mode == RT_NS_NODE && s.pid_mode == RT_NS_CONTAINER &&
          s.ipc_mode == RT_NS_POD);
    ns.pid = RUNTIME__V1__NAMESPACE_MODE__TARGET;
    ns.target_id = "abc123";
    expect_ok(&sc, "", &s);
    CHECK(s.pid_mode == RT_NS_TARGET);
    CHECK_STR(s.pid_target_id, "abc123");
    CHECK(!s.has_userns);
    /* kubelet repeats the pod's user namespace options: kept for the check against the pod's. */
    Runtime__V1__UserNamespace userns = RUNTIME__V1__USER_NAMESPACE__INIT;
    ns.userns_options = &userns;
    userns.mode = RUNTIME__V1__NAMESPACE_MODE__NODE;
    expect_ok(&sc, "", &s);
    CHECK(s.has_userns && !s.userns.enabled);
    Runtime__V1__IDMapping uids = RUNTIME__V1__IDMAPPING__INIT, gids = RUNTIME__V1__IDMAPPING__INIT;
    Runtime__V1__IDMapping *uidv[] = {&uids, &uids}, *gidv[] = {&gids};
    uids.host_id = 65536, gids.host_id = 131072, uids.length = gids.length = 65536;
    userns.uids = uidv, userns.gids = gidv, userns.n_uids = 1, userns.n_gids = 1;
    expect_error(&sc, "", "user namespace mode NODE takes no id mappings", true);
    userns.mode = RUNTIME__V1__NAMESPACE_MODE__POD;
    expect_ok(&sc, "", &s);
    CHECK(s.has_userns && s.userns.enabled && s.userns.uid == 65536 && s.userns.gid == 131072 &&
          s.userns.size == 65536);
    userns.n_uids = 2;
    expect_error(&sc, "", "user namespace: 2 uid and 1 gid mappings, where the pod has one of each", true);
    userns.n_uids = 1;
    gids.container_id = 1;
    expect_error(&sc, "",
                 "user namespace: the uid and gid mappings must start at container id 0 and have the same "
                 "length, as the pod's",
                 true);
    gids.container_id = 0;
    gids.length = 1000;
    expect_error(&sc, "",
                 "user namespace: the uid and gid mappings must start at container id 0 and have the same "
                 "length, as the pod's",
                 true);
    gids.length = 65536;
    userns.mode = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
    expect_error(&sc, "", "user namespace mode 1 is not supported for a container: use the pod's", true);
    ns.userns_options = NULL;
    ns.network = (Runtime__V1__NamespaceMode)7;
    expect_error(&sc, "", "unknown network namespace mode 7", true);
    ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
    ns.pid = (Runtime__V1__NamespaceMode)-1;
    expect_error(&sc, "", "unknown PID namespace mode -1", true);
    ns.pid = RUNTIME__V1__NAMESPACE_MODE__POD;
    ns.ipc = (Runtime__V1__NamespaceMode)4;
    expect_error(&sc, "", "unknown IPC namespace mode 4", true);
}

static void expect_pod_check(const struct rt_container_spec *s, const struct rt_sandbox_info *pod,
                             const char *msg)
{
    crisp_error_t *err = NULL;
    int r = rt_container_security_check(s, pod, &err);
    if (!msg) {
        CHECK(r == 0);
    } else {
        CHECK(r < 0 && err && err->status == EINVAL);
        CHECK_STR(err ? err->msg : NULL, msg);
    }
    crisp_error_free(err);
}

/* A container's user namespace options are the pod's, or refused. */
static void test_pod_check_userns(void)
{
    struct rt_sandbox_info pod = {
        .id = "0123456789abcdef0123", .net_mode = RT_NS_POD, .pid_mode = RT_NS_POD, .ipc_mode = RT_NS_POD};
    struct rt_container_spec s;
    expect_ok(NULL, "", &s);
    expect_pod_check(&s, &pod, NULL);
    s.has_namespaces = s.has_userns = true;
    s.net_mode = s.ipc_mode = s.pid_mode = RT_NS_POD;
    expect_pod_check(&s, &pod, NULL); /* NODE in a pod on the host's user namespace */
    s.userns = (struct rt_userns){true, 65536, 65536, 65536};
    expect_pod_check(&s, &pod, "user namespace mode POD does not match the pod's (NODE)");
    pod.userns = s.userns;
    expect_pod_check(&s, &pod, NULL);
    s.has_userns = false; /* none given: the pod's applies */
    expect_pod_check(&s, &pod, NULL);
    s.has_userns = true;
    s.userns.gid = 131072;
    expect_pod_check(&s, &pod,
                     "user namespace mappings (uid 65536, gid 131072, 65536 ids) do not match the pod's "
                     "(uid 65536, gid 65536, 65536 ids)");
    s.userns = (struct rt_userns){true, 65536, 65536, 1000};
    expect_pod_check(&s, &pod,
                     "user namespace mappings (uid 65536, gid 65536, 1000 ids) do not match the pod's "
                     "(uid 65536, gid 65536, 65536 ids)");
    s.userns = (struct rt_userns){0};
    expect_pod_check(&s, &pod, "user namespace mode NODE does not match the pod's (POD)");
}

/* A privileged container only in a privileged pod; namespace modes that fit the pod's. */
static void test_pod_check(void)
{
    struct rt_sandbox_info pod = {.id = "0123456789abcdef0123",
                                  .net_mode = RT_NS_POD,
                                  .pid_mode = RT_NS_CONTAINER,
                                  .ipc_mode = RT_NS_POD};
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.privileged = true;
    struct rt_container_spec s;
    expect_ok(&sc, "", &s);
    expect_pod_check(&s, &pod, "privileged container c in pod 0123456789ab, which is not privileged");
    pod.privileged = true;
    expect_pod_check(&s, &pod, NULL);
    expect_ok(NULL, "", &s);
    expect_pod_check(&s, &pod, NULL);
    pod.privileged = false;
    expect_pod_check(&s, &pod, NULL);

    s.has_namespaces = true;
    s.net_mode = RT_NS_POD, s.ipc_mode = RT_NS_POD, s.pid_mode = RT_NS_CONTAINER;
    expect_pod_check(&s, &pod, NULL);
    s.net_mode = RT_NS_NODE;
    expect_pod_check(&s, &pod, "network namespace mode NODE does not match the pod's (POD)");
    s.net_mode = RT_NS_CONTAINER;
    expect_pod_check(&s, &pod, "network namespace mode CONTAINER does not match the pod's (POD)");
    s.net_mode = RT_NS_POD;
    s.ipc_mode = RT_NS_NODE;
    expect_pod_check(&s, &pod, "IPC namespace mode NODE does not match the pod's (POD)");
    pod.ipc_mode = RT_NS_NODE;
    expect_pod_check(&s, &pod, NULL);
    s.pid_mode = RT_NS_NODE;
    expect_pod_check(&s, &pod, "PID namespace mode NODE needs a pod on the host's PID namespace");
    s.pid_mode = RT_NS_POD;
    expect_pod_check(&s, &pod, "PID namespace mode POD needs a pod that shares its PID namespace");
    pod.pid_mode = RT_NS_POD;
    expect_pod_check(&s, &pod, NULL);
    s.pid_mode = RT_NS_TARGET;
    expect_pod_check(&s, &pod, "PID namespace mode TARGET needs a target container id");
    s.pid_target_id = "abc";
    expect_pod_check(&s, &pod, NULL);
    pod.pid_mode = RT_NS_NODE;
    s.pid_mode = RT_NS_NODE;
    expect_pod_check(&s, &pod, NULL);
    /* Without the request's options the pod's modes apply: nothing to check. */
    s.has_namespaces = false;
    s.net_mode = RT_NS_NODE;
    expect_pod_check(&s, &pod, NULL);
}

static void test_privileged(void)
{
    uint64_t host = caps_of(NULL, 0, NULL, 0, true);
    Runtime__V1__Capability caps = RUNTIME__V1__CAPABILITY__INIT;
    Runtime__V1__SecurityProfile seccomp = RUNTIME__V1__SECURITY_PROFILE__INIT;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    char *drop[] = {"ALL"};
    caps.drop_capabilities = drop;
    caps.n_drop_capabilities = 1;
    sc.capabilities = &caps;
    sc.seccomp = &seccomp;
    sc.privileged = true;
    struct rt_container_spec s;
    expect_ok(&sc, "app", &s);
    CHECK(s.privileged && s.capabilities == host);
    CHECK(s.seccomp_mode == RT_SECCOMP_UNCONFINED && !s.apparmor_profile && !s.selinux_label);
    CHECK(s.uid == 1000 && s.gid == 1001);
}

int main(void)
{
    _cleanup_free_ char *etc = NULL;
    if (!mkdtemp(layer) || asprintf(&etc, "%s/etc", layer) < 0 || mkdir(etc, 0755) < 0)
        return 1;
    layer_write("passwd", passwd);
    layer_write("group", group);
    test_image_user();
    test_run_as();
    test_run_as_refused();
    test_groups();
    test_groups_refused();
    test_capabilities();
    test_capabilities_refused();
    test_paths();
    test_paths_refused();
    test_namespaces();
    test_pod_check();
    test_pod_check_userns();
    test_privileged();
    arena_fini(&arena);
    crisp_error_t *err = NULL;
    dir_remove_all(layer, &err);
    crisp_error_free(err);
    return unit_report("test_security_context");
}
