/* What CreateContainer makes for a checked request: the state and writable-layer directories, the
 * cgroup with its resources and device rules, the compiled seccomp filter, and the spec file
 * crisp-monitor reads. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/container_spec.h"
#include "runtime/image_volume.h"
#include "runtime/runtime_internal.h"
#include "runtime/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *oom_file(struct rt_runtime *rt, const char *path, bool v2)
{
    char *f = NULL;
    if (v2 != (rt->cgroups.mode == RT_CGROUP_V2))
        return strdup("");
    int r = v2 ? asprintf(&f, "%s%s/memory.events", rt->cgroups.mount, path)
               : asprintf(&f, "%s/memory%s/memory.oom_control", rt->cgroups.mount, path);
    return r < 0 ? NULL : f;
}

/* Non-privileged containers get only the standard devices and those they asked for. */
static int devices_restrict(struct rt_runtime *rt, const struct rt_container *c,
                            const struct rt_container_spec *s, const struct rt_device_node *devices,
                            crisp_error_t **err)
{
    if (s->privileged)
        return 0;
    _cleanup_strv_ char **rules = rt_container_device_rules(devices, s->n_devices, err);
    if (!rules)
        return -1;
    return rt_cgroup_devices_restrict(&rt->cgroups, c->info.cgroup_path, rules, err);
}

static int seccomp_install(struct rt_container *c, const struct rt_seccomp_filter *f, char **ret_path,
                           crisp_error_t **err)
{
    *ret_path = NULL;
    if (!f->bpf)
        return 0;
    _cleanup_free_ char *path = rt_container_seccomp_file(c);
    if (!path)
        return crisp_error_oom(err);
    if (rt_seccomp_filter_write(f, path, err) < 0)
        return -1;
    c->has_seccomp = true;
    c->seccomp_flags = f->flags;
    *ret_path = TAKE_PTR(path);
    return 0;
}

static int make_cgroup(struct rt_runtime *rt, struct rt_container *c, const struct rt_container_spec *s,
                       const struct rt_container_inputs *in, crisp_error_t **err)
{
    /* Only "ctr-<id>" (or the scope) is new below the pod's cgroup, so removal takes one level. */
    struct rt_cgroup_created created;
    if (rt_cgroup_create(&rt->cgroups, c->info.cgroup_path, &created, err) < 0 ||
        (s->resources && rt_cgroup_apply(&rt->cgroups, c->info.cgroup_path, s->resources, err) < 0))
        return -1;
    return devices_restrict(rt, c, s, in->devices, err);
}

int rt_container_layout_make(struct rt_runtime *rt, struct rt_container *c, const struct rt_container_spec *s,
                             const struct rt_sandbox_info *pod, const struct rt_container_inputs *in,
                             crisp_error_t **err)
{
    _cleanup_free_ char *upper = path_join(c->rw_dir, "upper"), *work = path_join(c->rw_dir, "work");
    _cleanup_free_ char *rootfs = path_join(c->dir, "rootfs"), *spec = path_join(c->dir, "spec");
    _cleanup_free_ char *exitf = rt_container_exit_file(c), *attach = rt_container_attach_socket(c);
    if (!upper || !work || !rootfs || !spec || !exitf || !attach)
        return crisp_error_oom(err);
    /* "ctr-<id12>", or the scope "crisp-<id>.scope" with the systemd driver. */
    c->info.cgroup_path = rt_cgroup_container_path(&rt->cgroups, pod->cgroup_path, c->info.id);
    if (!c->info.cgroup_path)
        return crisp_error_oom(err);
    if (mkdir(c->dir, 0700) < 0)
        return crisp_error_errno(err, "make %s", c->dir);
    /* The intent (c->creating), before anything else is made: start-up rolls back what a crash left. */
    crisp_crash_point("container.create.after_state_dir");
    if (rt_container_persist(c, err) < 0)
        return -1;
    crisp_crash_point("container.create.after_intent");
    if (mkdir(rootfs, 0755) < 0)
        return crisp_error_errno(err, "make %s", rootfs);
    if (dir_create_all(upper, 0755, err) < 0 || dir_create_all(work, 0700, err) < 0)
        return -1;
    crisp_crash_point("container.create.after_layer");
    if (rt_image_volumes_mount(c, s, err) < 0)
        return -1;
    crisp_crash_point("container.create.after_image_volumes");
    if (make_cgroup(rt, c, s, in, err) < 0)
        return -1;
    crisp_crash_point("container.create.after_cgroup");
    /* The spec binds image volumes from where they were just mounted (c->info.mounts' host paths). */
    struct rt_container_spec resolved = *s;
    resolved.mounts = c->info.mounts;
    _cleanup_strv_ char **procs = rt_cgroup_procs_files(&rt->cgroups, c->info.cgroup_path);
    _cleanup_free_ char *oom1 = oom_file(rt, c->info.cgroup_path, false);
    _cleanup_free_ char *oom2 = oom_file(rt, c->info.cgroup_path, true);
    _cleanup_free_ char *seccomp = NULL;
    if (seccomp_install(c, &in->filter, &seccomp, err) < 0)
        return -1;
    struct rt_spec_context ctx = {&resolved,
                                  pod,
                                  c->info.id,
                                  rootfs,
                                  upper,
                                  work,
                                  exitf,
                                  attach,
                                  procs,
                                  oom1,
                                  oom2,
                                  in->pid_ns,
                                  &rt->cgroups,
                                  c->info.cgroup_path,
                                  in->devices,
                                  seccomp,
                                  c->seccomp_flags};
    if (!procs || !oom1 || !oom2)
        return crisp_error_oom(err);
    return rt_spec_write(spec, &ctx, err);
}

void rt_container_layout_undo(struct rt_runtime *rt, struct rt_container *c)
{
    if (c->info.cgroup_path)
        rt_cgroup_remove(&rt->cgroups, c->info.cgroup_path, &RT_CGROUP_CREATED_UNIFORM(1), NULL);
    /* The state dir goes only once nothing is mounted in it. */
    if (rt_image_volumes_unmount(c->dir, NULL) == 0)
        dir_remove_all(c->dir, NULL);
    dir_remove_all(c->rw_dir, NULL);
}
