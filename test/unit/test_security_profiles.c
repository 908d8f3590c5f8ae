/* server/convert/security_profiles: seccomp (SecurityProfile and the legacy strings), AppArmor and
 * SELinux from a container's security context. What AppArmor and SELinux do depends on the host:
 * the test reads the host the way crispd does and expects accordingly. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "server/convert/security_context.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* The legacy string fields are what older kubelets send: set on purpose. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

typedef Runtime__V1__LinuxContainerSecurityContext secctx_t;
typedef Runtime__V1__SecurityProfile profile_t;

#define RUNTIME_DEFAULT RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault
#define UNCONFINED RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined
#define LOCALHOST RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost

static struct arena arena;
static bool apparmor_on, selinux_on;

static void host_detect(void)
{
    char c = 0;
    FILE *f = fopen("/sys/module/apparmor/parameters/enabled", "re");
    if (f) {
        apparmor_on = fread(&c, 1, 1, f) == 1 && c == 'Y';
        fclose(f);
    }
    selinux_on = access("/sys/fs/selinux/enforce", F_OK) == 0;
}

static int apply(const secctx_t *sc, bool privileged, struct rt_container_spec *s, crisp_error_t **err)
{
    /* Stale values show whether the converter really sets every field. */
    *s = (struct rt_container_spec){.privileged = privileged,
                                    .seccomp_mode = (enum rt_seccomp_mode)99,
                                    .seccomp_profile = "stale",
                                    .apparmor_profile = "stale",
                                    .selinux_label = "stale"};
    return srv_security_profiles_apply(&arena, sc, s, err);
}

static void expect_seccomp(const secctx_t *sc, bool privileged, enum rt_seccomp_mode mode, const char *path)
{
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(apply(sc, privileged, &s, &err) == 0);
    if (err)
        fprintf(stderr, "unexpected error: %s\n", err->msg);
    CHECK(s.seccomp_mode == mode);
    if (path)
        CHECK_STR(s.seccomp_profile, path);
    CHECK(!s.apparmor_profile && !s.selinux_label);
    crisp_error_free(err);
}

static void expect_error(const secctx_t *sc, bool privileged, const char *msg)
{
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(apply(sc, privileged, &s, &err) < 0);
    CHECK(err && err->status == EINVAL);
    CHECK_STR(err ? err->msg : NULL, msg);
    crisp_error_free(err);
}

static void test_seccomp_profile(const char *dir)
{
    /* Unset means unconfined, as kubelet expects of a runtime. */
    expect_seccomp(NULL, false, RT_SECCOMP_UNCONFINED, NULL);
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    expect_seccomp(&sc, false, RT_SECCOMP_UNCONFINED, NULL);
    profile_t p = RUNTIME__V1__SECURITY_PROFILE__INIT;
    sc.seccomp = &p;
    p.profile_type = RUNTIME_DEFAULT;
    expect_seccomp(&sc, false, RT_SECCOMP_RUNTIME_DEFAULT, NULL);
    p.profile_type = UNCONFINED;
    expect_seccomp(&sc, false, RT_SECCOMP_UNCONFINED, NULL);
    /* Localhost: the path is kept as given; the profile is read when the container is made. */
    _cleanup_free_ char *path = NULL;
    crisp_error_t *err = NULL;
    const char json[] = "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}";
    if (asprintf(&path, "%s/profile.json", dir) < 0)
        abort();
    CHECK(file_write_replace(path, json, strlen(json), 0644, &err) == 0);
    crisp_error_free(err);
    p.profile_type = LOCALHOST;
    p.localhost_ref = path;
    expect_seccomp(&sc, false, RT_SECCOMP_LOCALHOST, path);
    p.localhost_ref = "/nonexistent/profile.json";
    expect_seccomp(&sc, false, RT_SECCOMP_LOCALHOST, "/nonexistent/profile.json");
    /* The profile wins over the legacy string. */
    sc.seccomp_profile_path = "bogus";
    p.profile_type = RUNTIME_DEFAULT;
    expect_seccomp(&sc, false, RT_SECCOMP_RUNTIME_DEFAULT, NULL);
    /* A privileged container runs without seccomp, whatever it asks for. */
    expect_seccomp(&sc, true, RT_SECCOMP_UNCONFINED, NULL);
    p.profile_type = LOCALHOST;
    p.localhost_ref = "relative.json";
    expect_seccomp(&sc, true, RT_SECCOMP_UNCONFINED, NULL);
}

static void test_seccomp_profile_refused(void)
{
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    profile_t p = RUNTIME__V1__SECURITY_PROFILE__INIT;
    sc.seccomp = &p;
    p.profile_type = LOCALHOST;
    p.localhost_ref = "profiles/audit.json";
    expect_error(&sc, false, "seccomp profile \"profiles/audit.json\" is not an absolute path");
    p.localhost_ref = "";
    expect_error(&sc, false, "seccomp profile \"\" is not an absolute path");
    p.localhost_ref = NULL;
    expect_error(&sc, false, "seccomp profile \"\" is not an absolute path");
    p.localhost_ref = "/a\nb";
    expect_error(&sc, false, "seccomp profile \"/a\nb\" is not an absolute path");
    char long_path[4097];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    p.localhost_ref = long_path;
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(apply(&sc, false, &s, &err) < 0 && err && strstr(err->msg, "is not an absolute path"));
    crisp_error_free(err);
    long_path[4095] = '\0';
    expect_seccomp(&sc, false, RT_SECCOMP_LOCALHOST, long_path);
    p.profile_type = (Runtime__V1__SecurityProfile__ProfileType)7;
    expect_error(&sc, false, "unknown seccomp profile type 7");
}

static void expect_legacy(const char *value, enum rt_seccomp_mode mode, const char *path)
{
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.seccomp_profile_path = (char *)value;
    expect_seccomp(&sc, false, mode, path);
}

static void test_seccomp_legacy(void)
{
    expect_legacy("", RT_SECCOMP_UNCONFINED, NULL);
    expect_legacy(NULL, RT_SECCOMP_UNCONFINED, NULL);
    expect_legacy("unconfined", RT_SECCOMP_UNCONFINED, NULL);
    expect_legacy("runtime/default", RT_SECCOMP_RUNTIME_DEFAULT, NULL);
    expect_legacy("docker/default", RT_SECCOMP_RUNTIME_DEFAULT, NULL);
    expect_legacy("localhost//var/lib/kubelet/seccomp/audit.json", RT_SECCOMP_LOCALHOST,
                  "/var/lib/kubelet/seccomp/audit.json");
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.seccomp_profile_path = "localhost/audit.json";
    expect_error(&sc, false, "seccomp profile \"audit.json\" is not an absolute path");
    sc.seccomp_profile_path = "localhost/";
    expect_error(&sc, false, "seccomp profile \"\" is not an absolute path");
    const char *want =
        "unknown seccomp profile \"%s\": expected runtime/default, docker/default, unconfined or "
        "localhost/<path>";
    static const char *const bad[] = {"RuntimeDefault", "Unconfined", "runtime/Default", "default",
                                      "/abs.json"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), want, bad[i]);
        sc.seccomp_profile_path = (char *)bad[i];
        expect_error(&sc, false, msg);
    }
    /* Privileged: not even looked at. */
    expect_seccomp(&sc, true, RT_SECCOMP_UNCONFINED, NULL);
}

static void expect_apparmor(const secctx_t *sc, bool privileged, const char *profile)
{
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(apply(sc, privileged, &s, &err) == 0);
    if (err)
        fprintf(stderr, "unexpected error: %s\n", err->msg);
    if (profile)
        CHECK_STR(s.apparmor_profile, profile);
    else
        CHECK(s.apparmor_profile == NULL);
    crisp_error_free(err);
}

/* RuntimeDefault and Unconfined: no profile (crisp has no default AppArmor profile yet). */
static void test_apparmor(void)
{
    expect_apparmor(NULL, false, NULL);
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    expect_apparmor(&sc, false, NULL);
    profile_t p = RUNTIME__V1__SECURITY_PROFILE__INIT;
    sc.apparmor = &p;
    p.profile_type = RUNTIME_DEFAULT;
    expect_apparmor(&sc, false, NULL);
    p.profile_type = UNCONFINED;
    expect_apparmor(&sc, false, NULL);
    sc.apparmor_profile = "bogus"; /* the profile wins over the legacy string */
    expect_apparmor(&sc, false, NULL);
    sc.apparmor = NULL;
    sc.apparmor_profile = "runtime/default";
    expect_apparmor(&sc, false, NULL);
    sc.apparmor_profile = "unconfined";
    expect_apparmor(&sc, false, NULL);
    sc.apparmor_profile = "";
    expect_apparmor(&sc, false, NULL);
    /* Privileged: no profile, whatever is asked. */
    sc.apparmor_profile = "localhost/crisp-unit-no-such-profile";
    expect_apparmor(&sc, true, NULL);
    sc.apparmor_profile = "bogus";
    expect_apparmor(&sc, true, NULL);
}

static void test_apparmor_refused(void)
{
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    profile_t p = RUNTIME__V1__SECURITY_PROFILE__INIT;
    sc.apparmor = &p;
    p.profile_type = LOCALHOST;
    p.localhost_ref = "";
    expect_error(&sc, false, "AppArmor profile name \"\" is not valid");
    p.localhost_ref = NULL;
    expect_error(&sc, false, "AppArmor profile name \"\" is not valid");
    p.localhost_ref = "two words";
    expect_error(&sc, false, "AppArmor profile name \"two words\" is not valid");
    p.localhost_ref = "crisp-unit-no-such-profile";
    expect_error(&sc, false,
                 apparmor_on ? "AppArmor profile crisp-unit-no-such-profile is not loaded on this host"
                             : "AppArmor profile crisp-unit-no-such-profile was asked for, but AppArmor "
                               "is not enabled on this host");
    p.profile_type = (Runtime__V1__SecurityProfile__ProfileType)3;
    expect_error(&sc, false, "unknown AppArmor profile type 3");
    sc.apparmor = NULL;
    sc.apparmor_profile = "localhost/crisp-unit-no-such-profile";
    expect_error(&sc, false,
                 apparmor_on ? "AppArmor profile crisp-unit-no-such-profile is not loaded on this host"
                             : "AppArmor profile crisp-unit-no-such-profile was asked for, but AppArmor "
                               "is not enabled on this host");
    sc.apparmor_profile = "localhost/";
    expect_error(&sc, false, "AppArmor profile name \"\" is not valid");
    sc.apparmor_profile = "docker-default";
    expect_error(&sc, false, "unknown AppArmor profile \"docker-default\"");
}

static void expect_label(const secctx_t *sc, bool privileged, const char *label)
{
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(apply(sc, privileged, &s, &err) == 0);
    if (err)
        fprintf(stderr, "unexpected error: %s\n", err->msg);
    if (label)
        CHECK_STR(s.selinux_label, label);
    else
        CHECK(s.selinux_label == NULL);
    crisp_error_free(err);
}

/* Without SELinux on the host a valid label is accepted and means nothing, as containerd does. */
static void test_selinux(void)
{
    Runtime__V1__SELinuxOption o = RUNTIME__V1__SELINUX_OPTION__INIT;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.selinux_options = &o;
    expect_label(&sc, false, NULL);
    o.level = "s0:c1,c2";
    expect_label(&sc, false, selinux_on ? "system_u:system_r:container_t:s0:c1,c2" : NULL);
    o.user = "user_u", o.role = "role_r", o.type = "spc_t";
    expect_label(&sc, false, selinux_on ? "user_u:role_r:spc_t:s0:c1,c2" : NULL);
    o.level = "";
    expect_label(&sc, false, selinux_on ? "user_u:role_r:spc_t:s0" : NULL);
    expect_label(&sc, true, NULL);
}

static void test_selinux_refused(void)
{
    static const char *const bad[][4] = {
        {"a:b", "", "", ""},   {"", "role r", "", ""}, {"", "", "type\n", ""},
        {"", "", "", "s0 c1"}, {"", "", "", "s0\n"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Runtime__V1__SELinuxOption o = RUNTIME__V1__SELINUX_OPTION__INIT;
        o.user = (char *)bad[i][0], o.role = (char *)bad[i][1], o.type = (char *)bad[i][2],
        o.level = (char *)bad[i][3];
        secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        sc.selinux_options = &o;
        expect_error(&sc, false, "SELinux options are not a valid label");
        expect_error(&sc, true, "SELinux options are not a valid label"); /* checked for privileged too */
    }
    char long_part[257];
    memset(long_part, 'a', sizeof(long_part) - 1);
    long_part[sizeof(long_part) - 1] = '\0';
    Runtime__V1__SELinuxOption o = RUNTIME__V1__SELINUX_OPTION__INIT;
    o.type = long_part;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.selinux_options = &o;
    expect_error(&sc, false, "SELinux options are not a valid label");
    long_part[255] = '\0';
    expect_label(&sc, false, NULL);
}

/* Each part of the profiles fails alone: the first failure is the one reported. */
static void test_order(void)
{
    profile_t seccomp = RUNTIME__V1__SECURITY_PROFILE__INIT, apparmor = RUNTIME__V1__SECURITY_PROFILE__INIT;
    Runtime__V1__SELinuxOption o = RUNTIME__V1__SELINUX_OPTION__INIT;
    secctx_t sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    sc.seccomp = &seccomp;
    sc.apparmor = &apparmor;
    sc.selinux_options = &o;
    seccomp.profile_type = LOCALHOST;
    seccomp.localhost_ref = "rel";
    apparmor.profile_type = (Runtime__V1__SecurityProfile__ProfileType)5;
    o.user = "a:b";
    expect_error(&sc, false, "seccomp profile \"rel\" is not an absolute path");
    seccomp.profile_type = RUNTIME_DEFAULT;
    expect_error(&sc, false, "unknown AppArmor profile type 5");
    apparmor.profile_type = RUNTIME_DEFAULT;
    expect_error(&sc, false, "SELinux options are not a valid label");
    o.user = "";
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(apply(&sc, false, &s, &err) == 0);
    CHECK(s.seccomp_mode == RT_SECCOMP_RUNTIME_DEFAULT && !s.apparmor_profile && !s.selinux_label);
    crisp_error_free(err);
}

int main(void)
{
    char dir[] = "/tmp/crisp-unit-profiles-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    host_detect();
    test_seccomp_profile(dir);
    test_seccomp_profile_refused();
    test_seccomp_legacy();
    test_apparmor();
    test_apparmor_refused();
    test_selinux();
    test_selinux_refused();
    test_order();
    arena_fini(&arena);
    crisp_error_t *err = NULL;
    dir_remove_all(dir, &err);
    crisp_error_free(err);
    return unit_report("test_security_profiles");
}
