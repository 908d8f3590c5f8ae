/* A container's LinuxContainerSecurityContext as the runtime's spec: identity, capabilities,
 * privileged mode, protected paths, namespace modes, seccomp, AppArmor and SELinux. Whatever cannot
 * be honoured is INVALID_ARGUMENT here, before anything is made. */
#define _GNU_SOURCE
#include "server/convert/security_context.h"

#include "common/cleanup.h"
#include "runtime/caps.h"
#include "runtime/image_user.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_GROUPS 1024
#define MAX_ID 0xfffffffeLL

typedef Runtime__V1__LinuxContainerSecurityContext secctx_t;

static int id_check(const char *what, int64_t v, crisp_error_t **err)
{
    if (v < 0 || v > MAX_ID)
        return crisp_error_make(err, EINVAL, "%s %lld is not a valid id", what, (long long)v);
    return 0;
}

/* run_as_user, else run_as_username (which must be in the image's /etc/passwd), else the image's USER;
 * run_as_group only with one of the first two, as CRI demands. */
static int user_resolve(const secctx_t *sc, const struct img_config *img, struct rt_container_spec *s,
                        crisp_error_t **err)
{
    const char *username = sc && sc->run_as_username && *sc->run_as_username ? sc->run_as_username : NULL;
    if (sc && sc->run_as_group && !sc->run_as_user && !username)
        return crisp_error_make(err, EINVAL, "run_as_group is set without run_as_user or run_as_username");
    if ((sc && sc->run_as_user && id_check("run_as_user", sc->run_as_user->value, err) < 0) ||
        (sc && sc->run_as_group && id_check("run_as_group", sc->run_as_group->value, err) < 0))
        return -1;
    char numeric[24];
    const char *user = img->user;
    if (sc && sc->run_as_user) {
        snprintf(numeric, sizeof(numeric), "%lld", (long long)sc->run_as_user->value);
        user = numeric;
    } else if (username) {
        if (strchr(username, ':'))
            return crisp_error_make(err, EINVAL, "run_as_username \"%.64s\" is not a user name", username);
        user = username;
    }
    if (rt_image_user_resolve(s->lowerdirs, user, &s->uid, &s->gid, err) < 0)
        return -1;
    if (sc && sc->run_as_group)
        s->gid = (gid_t)sc->run_as_group->value;
    return 0;
}

/* The primary gid comes on top of MAX_GROUPS: the limit is on the groups a request can add. */
static int group_add(gid_t *groups, size_t *n, gid_t g)
{
    for (size_t i = 0; i < *n; i++)
        if (groups[i] == g)
            return 0;
    if (*n >= MAX_GROUPS + 1)
        return -1;
    groups[(*n)++] = g;
    return 0;
}

static int gid_compare(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

/* Every group the process has, as `id -G` shows them: the primary gid first (runc and containerd put
 * it among the supplementary groups too), then in ascending order, as the kernel keeps them, the
 * request's and, under Merge (the default), the user's groups from the image's /etc/group. Strict:
 * the primary gid and the request's only. */
static int groups_resolve(struct arena *a, const secctx_t *sc, struct rt_container_spec *s,
                          crisp_error_t **err)
{
    size_t n_req = sc ? sc->n_supplemental_groups : 0;
    if (n_req > MAX_GROUPS)
        return crisp_error_make(err, EINVAL, "%zu supplemental groups, at most %d", n_req, MAX_GROUPS);
    _cleanup_free_ gid_t *image_groups = NULL;
    size_t n_image = 0;
    bool strict = sc && sc->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    if (!strict && rt_image_user_groups(s->lowerdirs, s->uid, &image_groups, &n_image, err) < 0)
        return -1;
    gid_t *groups = arena_alloc(a, (n_image + n_req + 1) * sizeof(gid_t));
    size_t n = 0;
    if (!groups)
        return crisp_error_oom(err);
    group_add(groups, &n, s->gid);
    for (size_t i = 0; i < n_image; i++)
        group_add(groups, &n, image_groups[i]);
    for (size_t i = 0; i < n_req; i++) {
        if (id_check("supplemental group", sc->supplemental_groups[i], err) < 0)
            return -1;
        if (group_add(groups, &n, (gid_t)sc->supplemental_groups[i]) < 0)
            return crisp_error_make(err, EINVAL, "more than %d supplemental groups", MAX_GROUPS);
    }
    qsort(groups + 1, n - 1, sizeof(gid_t), gid_compare);
    s->groups = groups;
    s->n_groups = n;
    return 0;
}

static int check_paths(char *const *paths, size_t n, const char *what, crisp_error_t **err)
{
    if (n > 256)
        return crisp_error_make(err, EINVAL, "%zu %s paths: at most 256", n, what);
    for (size_t i = 0; i < n; i++)
        if (paths[i][0] != '/' || strlen(paths[i]) > 4096 || strchr(paths[i], '\n'))
            return crisp_error_make(err, EINVAL, "%s path \"%.64s\" must be absolute", what, paths[i]);
    return 0;
}

static char **strv_dup_n(struct arena *a, char *const *v, size_t n)
{
    char **out = arena_alloc(a, (n + 1) * sizeof(char *));
    for (size_t i = 0; out && i < n; i++)
        out[i] = v[i];
    return out;
}

/* kubelet sends the paths for every container; when it sends none the usual set applies, and a
 * privileged container gets none. */
static int protected_paths(struct arena *a, const secctx_t *sc, struct rt_container_spec *s,
                           crisp_error_t **err)
{
    static char *const default_masked[] = {"/proc/acpi",
                                           "/proc/asound",
                                           "/proc/kcore",
                                           "/proc/keys",
                                           "/proc/latency_stats",
                                           "/proc/timer_list",
                                           "/proc/timer_stats",
                                           "/proc/sched_debug",
                                           "/proc/scsi",
                                           "/sys/firmware",
                                           "/sys/devices/virtual/powercap",
                                           NULL};
    static char *const default_readonly[] = {"/proc/bus",           "/proc/fs", "/proc/irq", "/proc/sys",
                                             "/proc/sysrq-trigger", NULL};
    static char *const none[] = {NULL};
    if (sc && (check_paths(sc->masked_paths, sc->n_masked_paths, "masked", err) < 0 ||
               check_paths(sc->readonly_paths, sc->n_readonly_paths, "read-only", err) < 0))
        return -1;
    s->readonly_rootfs = sc && sc->readonly_rootfs;
    if (s->privileged) {
        s->masked_paths = s->readonly_paths = none;
        return 0;
    }
    s->masked_paths = sc && sc->n_masked_paths ? strv_dup_n(a, sc->masked_paths, sc->n_masked_paths)
                                               : default_masked;
    s->readonly_paths = sc && sc->n_readonly_paths ? strv_dup_n(a, sc->readonly_paths, sc->n_readonly_paths)
                                                   : default_readonly;
    return s->masked_paths && s->readonly_paths ? 0 : crisp_error_oom(err);
}

static int capabilities(const secctx_t *sc, struct rt_container_spec *s, crisp_error_t **err)
{
    const Runtime__V1__Capability *c = sc ? sc->capabilities : NULL;
    s->no_new_privs = sc && sc->no_new_privs;
    s->ambient_capabilities = 0;
    if (rt_caps_mask(c ? c->add_capabilities : NULL, c ? c->n_add_capabilities : 0,
                     c ? c->drop_capabilities : NULL, c ? c->n_drop_capabilities : 0, s->privileged,
                     &s->capabilities, err) < 0)
        return -1;
    if (!c || c->n_add_ambient_capabilities == 0)
        return 0;
    if (rt_caps_ambient_mask(c->add_ambient_capabilities, c->n_add_ambient_capabilities,
                             &s->ambient_capabilities, err) < 0)
        return -1;
    s->capabilities |= s->ambient_capabilities; /* an ambient capability must be permitted too */
    return 0;
}

static int mode_check(const char *what, Runtime__V1__NamespaceMode m, crisp_error_t **err)
{
    if ((int)m < 0 || (int)m > RUNTIME__V1__NAMESPACE_MODE__TARGET)
        return crisp_error_make(err, EINVAL, "unknown %s namespace mode %d", what, (int)m);
    return 0;
}

/* kubelet repeats the pod's user namespace options for each container: they can only be the pod's (one
 * mapping each for uids and gids, from container id 0), which runtime/container_security.c checks. */
static int userns_from(const Runtime__V1__UserNamespace *u, struct rt_container_spec *s, crisp_error_t **err)
{
    if (!u)
        return 0;
    s->has_userns = true;
    s->userns = (struct rt_userns){0};
    if (u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE) {
        if (u->n_uids || u->n_gids)
            return crisp_error_make(err, EINVAL, "user namespace mode NODE takes no id mappings");
        return 0;
    }
    if (u->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
        return crisp_error_make(err, EINVAL,
                                "user namespace mode %d is not supported for a container: use the pod's",
                                (int)u->mode);
    if (u->n_uids != 1 || u->n_gids != 1)
        return crisp_error_make(err, EINVAL,
                                "user namespace: %zu uid and %zu gid mappings, where the pod has one of each",
                                u->n_uids, u->n_gids);
    const Runtime__V1__IDMapping *uid = u->uids[0], *gid = u->gids[0];
    if (uid->container_id != 0 || gid->container_id != 0 || uid->length != gid->length)
        return crisp_error_make(err, EINVAL,
                                "user namespace: the uid and gid mappings must start at container id 0 and "
                                "have the same length, as the pod's");
    s->userns = (struct rt_userns){true, uid->host_id, gid->host_id, uid->length};
    return 0;
}

static int namespaces(const secctx_t *sc, struct rt_container_spec *s, crisp_error_t **err)
{
    const Runtime__V1__NamespaceOption *ns = sc ? sc->namespace_options : NULL;
    if (!ns)
        return 0;
    if (mode_check("network", ns->network, err) < 0 || mode_check("PID", ns->pid, err) < 0 ||
        mode_check("IPC", ns->ipc, err) < 0)
        return -1;
    if (userns_from(ns->userns_options, s, err) < 0)
        return -1;
    s->has_namespaces = true;
    s->net_mode = (enum rt_ns_mode)ns->network;
    s->pid_mode = (enum rt_ns_mode)ns->pid;
    s->ipc_mode = (enum rt_ns_mode)ns->ipc;
    s->pid_target_id = ns->target_id;
    return 0;
}

int srv_security_context_apply(struct arena *a, const secctx_t *sc, const struct img_config *img,
                               struct rt_container_spec *s, crisp_error_t **err)
{
    s->privileged = sc && sc->privileged;
    if (user_resolve(sc, img, s, err) < 0 || groups_resolve(a, sc, s, err) < 0 ||
        capabilities(sc, s, err) < 0 || protected_paths(a, sc, s, err) < 0 || namespaces(sc, s, err) < 0)
        return -1;
    return srv_security_profiles_apply(a, sc, s, err);
}
