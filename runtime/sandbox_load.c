/* Opening the runtime: its directories, cgroup root and CNI, then the pods and containers of the state
 * directory, as their records describe them, with what a crash left half-done finished first
 * (sandbox_recover.c). */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "common/strv.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

static int is_pod_dir(const struct dirent *d)
{
    return strlen(d->d_name) == RT_ID_LEN && strspn(d->d_name, "0123456789abcdef") == RT_ID_LEN;
}

static int load_pod(struct rt_runtime *rt, const char *name, crisp_error_t **err)
{
    _cleanup_free_ char *dir = path_join(rt->pods_dir, name);
    struct rt_sandbox *sb = NULL;
    if (!dir)
        return crisp_error_oom(err);
    if (rt_sandbox_recover(rt, dir, name, &sb, err) < 0)
        return -1;
    if (!sb)
        return 0;
    int r = rt_index_add(&rt->pods, &sb->node, false, NULL, NULL, NULL, err);
    rt_sandbox_unref(sb); /* the index holds it now, or nothing does */
    return r;
}

static int load_pods(struct rt_runtime *rt, crisp_error_t **err)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_list_sorted(rt->pods_dir, is_pod_dir, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++)
        if (load_pod(rt, *n, err) < 0)
            return crisp_error_wrap(err, "loading pod %s", *n);
    return 0;
}

/* The systemd driver's crisp-hold is installed beside crisp-monitor. */
static int use_systemd(struct rt_runtime *rt, crisp_error_t **err)
{
    const char *slash = strrchr(rt->monitor, '/');
    _cleanup_free_ char *dir = slash ? strndup(rt->monitor, (size_t)(slash - rt->monitor)) : strdup(".");
    if (!dir)
        return crisp_error_oom(err);
    return rt_cgroup_root_use_systemd(&rt->cgroups, dir[0] ? dir : "/", err);
}

static int runtime_init(struct rt_runtime *rt, const struct rt_runtime_options *o, crisp_error_t **err)
{
    rt_index_init(&rt->pods);
    rt_index_init(&rt->containers);
    rt_image_uses_init(&rt->image_uses);
    rt->pods_dir = path_join(o->state_dir, "pods");
    rt->containers_dir = path_join(o->state_dir, "containers");
    rt->layers_dir = path_join(o->root_dir, "containers");
    rt->pinns = strdup(o->pinns_path);
    rt->monitor = strdup(o->monitor_path);
    rt->exec_helper = strdup(o->exec_path);
    rt->default_cgroup_parent = strdup(o->default_cgroup_parent);
    rt->host_resolv_conf = strdup(o->host_resolv_conf);
    rt->systemd_cgroup = o->systemd_cgroup;
    if (!rt->pods_dir || !rt->containers_dir || !rt->layers_dir || !rt->pinns || !rt->monitor ||
        !rt->exec_helper || !rt->default_cgroup_parent || !rt->host_resolv_conf)
        return crisp_error_oom(err);
    if (dir_create_all(rt->pods_dir, 0700, err) < 0 ||
        rt_cgroup_root_detect(o->cgroup_mount, &rt->cgroups, err) < 0)
        return -1;
    if (o->systemd_cgroup && use_systemd(rt, err) < 0)
        return -1;
    return rt_cni_new(o->cni_conf_dir, o->cni_bin_dirs, &rt->cni, err);
}

int rt_runtime_open(const struct rt_runtime_options *o, struct rt_runtime **ret, crisp_error_t **err)
{
    struct rt_runtime *rt = calloc(1, sizeof(*rt));
    if (!rt)
        return crisp_error_oom(err);
    if (runtime_init(rt, o, err) < 0 || load_pods(rt, err) < 0 || rt_containers_load(rt, err) < 0) {
        rt_runtime_free(rt);
        return crisp_error_wrap(err, "runtime state");
    }
    *ret = rt;
    return 0;
}

/* Every operation has ended: the indexes hold the last references. */
void rt_runtime_free(struct rt_runtime *rt)
{
    if (!rt)
        return;
    rt_index_fini(&rt->containers);
    rt_index_fini(&rt->pods);
    rt_image_uses_fini(&rt->image_uses);
    rt_cni_free(rt->cni);
    rt_cgroup_root_fini(&rt->cgroups);
    free(rt->pods_dir);
    free(rt->containers_dir);
    free(rt->layers_dir);
    free(rt->pinns);
    free(rt->monitor);
    free(rt->exec_helper);
    free(rt->default_cgroup_parent);
    free(rt->host_resolv_conf);
    free(rt);
}

struct rt_cni *rt_runtime_cni(struct rt_runtime *rt)
{
    return rt->cni;
}

const struct rt_cgroup_root *rt_runtime_cgroups(struct rt_runtime *rt)
{
    return &rt->cgroups;
}
