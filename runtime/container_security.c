/* What a container's security context asks of its pod and its host: a privileged container needs a
 * privileged pod; namespace modes must fit the pod's; device rules for the device cgroup. */
#define _GNU_SOURCE
#include "runtime/container_internal.h"

#include "common/cleanup.h"
#include "runtime/cgroup/cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static const char *mode_name(enum rt_ns_mode m)
{
    static const char *const names[] = {"POD", "CONTAINER", "NODE", "TARGET"};
    return (unsigned)m < 4 ? names[m] : "unknown";
}

/* Network and IPC namespaces belong to the pod: a container can only take the pod's. */
static int shared_mode_check(const char *what, enum rt_ns_mode want, enum rt_ns_mode pod, crisp_error_t **err)
{
    enum rt_ns_mode effective = pod == RT_NS_NODE ? RT_NS_NODE : RT_NS_POD;
    if (want != effective)
        return crisp_error_make(err, EINVAL, "%s namespace mode %s does not match the pod's (%s)", what,
                                mode_name(want), mode_name(effective));
    return 0;
}

static int pid_mode_check(const struct rt_container_spec *s, const struct rt_sandbox_info *pod,
                          crisp_error_t **err)
{
    switch (s->pid_mode) {
    case RT_NS_NODE:
        if (pod->pid_mode != RT_NS_NODE)
            return crisp_error_make(err, EINVAL,
                                    "PID namespace mode NODE needs a pod on the host's PID namespace");
        return 0;
    case RT_NS_POD:
        if (pod->pid_mode != RT_NS_POD)
            return crisp_error_make(err, EINVAL,
                                    "PID namespace mode POD needs a pod that shares its PID namespace");
        return 0;
    case RT_NS_CONTAINER:
        return 0;
    case RT_NS_TARGET:
        if (!s->pid_target_id || !*s->pid_target_id)
            return crisp_error_make(err, EINVAL, "PID namespace mode TARGET needs a target container id");
        return 0;
    }
    return crisp_error_make(err, EINVAL, "unknown PID namespace mode %d", (int)s->pid_mode);
}

/* The user namespace is the pod's: a container may repeat it, not change it. */
static int userns_check(const struct rt_container_spec *s, const struct rt_sandbox_info *pod,
                        crisp_error_t **err)
{
    const struct rt_userns *c = &s->userns, *p = &pod->userns;
    if (!s->has_userns)
        return 0;
    if (c->enabled != p->enabled)
        return crisp_error_make(err, EINVAL, "user namespace mode %s does not match the pod's (%s)",
                                c->enabled ? "POD" : "NODE", p->enabled ? "POD" : "NODE");
    if (c->enabled && (c->uid != p->uid || c->gid != p->gid || c->size != p->size))
        return crisp_error_make(err, EINVAL,
                                "user namespace mappings (uid %u, gid %u, %u ids) do not match the pod's "
                                "(uid %u, gid %u, %u ids)",
                                c->uid, c->gid, c->size, p->uid, p->gid, p->size);
    return 0;
}

int rt_container_security_check(const struct rt_container_spec *s, const struct rt_sandbox_info *pod,
                                crisp_error_t **err)
{
    if (s->privileged && !pod->privileged)
        return crisp_error_make(err, EINVAL, "privileged container %s in pod %.12s, which is not privileged",
                                s->name, pod->id);
    if (userns_check(s, pod, err) < 0)
        return -1;
    if (!s->has_namespaces)
        return 0;
    if (shared_mode_check("network", s->net_mode, pod->net_mode, err) < 0 ||
        shared_mode_check("IPC", s->ipc_mode, pod->ipc_mode, err) < 0)
        return -1;
    return pid_mode_check(s, pod, err);
}

static bool permissions_valid(const char *p)
{
    return strlen(p) <= 3 && strspn(p, "rwm") == strlen(p);
}

/* Each requested device checked once: its permissions, and what its host path is. */
static int device_resolve(const struct rt_device *d, struct rt_device_node *ret, crisp_error_t **err)
{
    struct stat st;
    const char *perm = d->permissions && *d->permissions ? d->permissions : "rwm";
    if (!permissions_valid(perm))
        return crisp_error_make(err, EINVAL,
                                "device %s: permissions \"%s\" are not a combination of r, w and m",
                                d->host_path, perm);
    if (stat(d->host_path, &st) < 0)
        return crisp_error_errno(err, "device %s", d->host_path);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return crisp_error_make(err, EINVAL, "device %s is not a character or block device", d->host_path);
    *ret = (struct rt_device_node){.container_path = d->container_path,
                                   .type = S_ISCHR(st.st_mode) ? 'c' : 'b',
                                   .major = major(st.st_rdev),
                                   .minor = minor(st.st_rdev),
                                   .mode = st.st_mode & 07777,
                                   .permissions = perm};
    return 0;
}

int rt_container_devices_resolve(const struct rt_container_spec *s, struct rt_device_node **ret,
                                 crisp_error_t **err)
{
    struct rt_device_node *nodes = calloc(s->n_devices + 1, sizeof(*nodes));
    if (!nodes)
        return crisp_error_oom(err);
    for (size_t i = 0; i < s->n_devices; i++)
        if (device_resolve(&s->devices[i], &nodes[i], err) < 0) {
            free(nodes);
            return -1;
        }
    *ret = nodes;
    return 0;
}

/* "c 10:200 rwm" for each requested device; the caller frees. */
char **rt_container_device_rules(const struct rt_device_node *nodes, size_t n, crisp_error_t **err)
{
    char **rules = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; rules && i < n; i++)
        if (asprintf(&rules[i], "%c %u:%u %s", nodes[i].type, nodes[i].major, nodes[i].minor,
                     nodes[i].permissions) < 0) {
            rules[i] = NULL;
            strv_free(rules);
            rules = NULL;
        }
    if (!rules)
        crisp_error_oom(err);
    return rules;
}
