/* seccomp, AppArmor and SELinux from a container's security context. seccomp comes as a
 * SecurityProfile or, from older kubelets, as a string; unset means unconfined, as kubelet expects.
 * AppArmor and SELinux apply where the host has them; a Localhost AppArmor profile on a host without
 * AppArmor cannot be honoured and is refused. */
#define _GNU_SOURCE
#include "server/convert/security_context.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROFILE_PATH_MAX 4096

/* Older kubelets still send the deprecated string fields, so they are read on purpose. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static bool apparmor_on, selinux_on;
static pthread_once_t lsm_once = PTHREAD_ONCE_INIT;

/* Read once: which security modules the host has does not change while crispd runs. */
static void lsm_detect(void)
{
    char c = 0;
    FILE *f = fopen("/sys/module/apparmor/parameters/enabled", "re");
    if (f) {
        apparmor_on = fread(&c, 1, 1, f) == 1 && c == 'Y';
        fclose(f);
    }
    selinux_on = access("/sys/fs/selinux/enforce", F_OK) == 0;
}

static bool path_ok(const char *p)
{
    return p[0] == '/' && strlen(p) < PROFILE_PATH_MAX && !strchr(p, '\n');
}

static int seccomp_localhost(const char *path, struct rt_container_spec *s, crisp_error_t **err)
{
    if (!path_ok(path))
        return crisp_error_make(err, EINVAL, "seccomp profile \"%.128s\" is not an absolute path", path);
    s->seccomp_mode = RT_SECCOMP_LOCALHOST;
    s->seccomp_profile = path;
    return 0;
}

/* The string form: runtime/default, docker/default, unconfined, localhost/<absolute path>. */
static int seccomp_legacy(const char *v, struct rt_container_spec *s, crisp_error_t **err)
{
    if (!*v || strcmp(v, "unconfined") == 0)
        s->seccomp_mode = RT_SECCOMP_UNCONFINED;
    else if (strcmp(v, "runtime/default") == 0 || strcmp(v, "docker/default") == 0)
        s->seccomp_mode = RT_SECCOMP_RUNTIME_DEFAULT;
    else if (strncmp(v, "localhost/", 10) == 0)
        return seccomp_localhost(v + 10, s, err);
    else
        return crisp_error_make(err, EINVAL,
                                "unknown seccomp profile \"%.128s\": expected runtime/default, "
                                "docker/default, unconfined or localhost/<path>",
                                v);
    return 0;
}

static int seccomp_from(const Runtime__V1__LinuxContainerSecurityContext *sc, struct rt_container_spec *s,
                        crisp_error_t **err)
{
    s->seccomp_mode = RT_SECCOMP_UNCONFINED;
    if (!sc || s->privileged)
        return 0;
    const Runtime__V1__SecurityProfile *p = sc->seccomp;
    if (!p)
        return seccomp_legacy(sc->seccomp_profile_path ? sc->seccomp_profile_path : "", s, err);
    switch (p->profile_type) {
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
        s->seccomp_mode = RT_SECCOMP_RUNTIME_DEFAULT;
        return 0;
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
        return 0;
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
        return seccomp_localhost(p->localhost_ref ? p->localhost_ref : "", s, err);
    default:
        return crisp_error_make(err, EINVAL, "unknown seccomp profile type %d", (int)p->profile_type);
    }
}

/* securityfs lists each loaded profile as "NAME (MODE)". */
static bool apparmor_loaded(const char *name)
{
    FILE *f = fopen("/sys/kernel/security/apparmor/profiles", "re");
    char line[512];
    size_t n = strlen(name);
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strncmp(line, name, n) == 0 && strncmp(line + n, " (", 2) == 0;
    if (f)
        fclose(f);
    return found;
}

static int apparmor_localhost(const char *name, struct rt_container_spec *s, crisp_error_t **err)
{
    if (!*name || strlen(name) > 255 || strpbrk(name, "\n "))
        return crisp_error_make(err, EINVAL, "AppArmor profile name \"%.64s\" is not valid", name);
    if (!apparmor_on)
        return crisp_error_make(err, EINVAL,
                                "AppArmor profile %s was asked for, but AppArmor is not enabled on "
                                "this host",
                                name);
    if (!apparmor_loaded(name))
        return crisp_error_make(err, EINVAL, "AppArmor profile %s is not loaded on this host", name);
    s->apparmor_profile = name;
    return 0;
}

/* RuntimeDefault and unconfined run without a profile: crisp has no default AppArmor profile yet. */
static int apparmor_from(const Runtime__V1__LinuxContainerSecurityContext *sc, struct rt_container_spec *s,
                         crisp_error_t **err)
{
    s->apparmor_profile = NULL;
    if (!sc || s->privileged)
        return 0;
    const Runtime__V1__SecurityProfile *p = sc->apparmor;
    if (p) {
        if (p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
            return apparmor_localhost(p->localhost_ref ? p->localhost_ref : "", s, err);
        if (p->profile_type > RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
            return crisp_error_make(err, EINVAL, "unknown AppArmor profile type %d", (int)p->profile_type);
        return 0;
    }
    const char *v = sc->apparmor_profile ? sc->apparmor_profile : "";
    if (strncmp(v, "localhost/", 10) == 0)
        return apparmor_localhost(v + 10, s, err);
    if (*v && strcmp(v, "runtime/default") != 0 && strcmp(v, "unconfined") != 0)
        return crisp_error_make(err, EINVAL, "unknown AppArmor profile \"%.128s\"", v);
    return 0;
}

static bool label_part_ok(const char *p)
{
    return strlen(p) < 256 && !strpbrk(p, ":\n ");
}

/* Without SELinux on the host a label means nothing and is accepted, as containerd does. */
static int selinux_from(struct arena *a, const Runtime__V1__LinuxContainerSecurityContext *sc,
                        struct rt_container_spec *s, crisp_error_t **err)
{
    const Runtime__V1__SELinuxOption *o = sc ? sc->selinux_options : NULL;
    s->selinux_label = NULL;
    if (!o || (!*o->user && !*o->role && !*o->type && !*o->level))
        return 0;
    if (!label_part_ok(o->user) || !label_part_ok(o->role) || !label_part_ok(o->type) ||
        strlen(o->level) > 255 || strpbrk(o->level, "\n "))
        return crisp_error_make(err, EINVAL, "SELinux options are not a valid label");
    if (!selinux_on || s->privileged)
        return 0;
    s->selinux_label = arena_printf(a, "%s:%s:%s:%s", *o->user ? o->user : "system_u",
                                    *o->role ? o->role : "system_r", *o->type ? o->type : "container_t",
                                    *o->level ? o->level : "s0");
    return s->selinux_label ? 0 : crisp_error_oom(err);
}

int srv_security_profiles_apply(struct arena *a, const Runtime__V1__LinuxContainerSecurityContext *sc,
                                struct rt_container_spec *s, crisp_error_t **err)
{
    pthread_once(&lsm_once, lsm_detect);
    if (seccomp_from(sc, s, err) < 0 || apparmor_from(sc, s, err) < 0 || selinux_from(a, sc, s, err) < 0)
        return -1;
    return 0;
}
