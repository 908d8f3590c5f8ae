/* CreateContainer: the request is checked whole and what it needs worked out (seccomp filter, devices,
 * PID namespace) before anything is made; then the container is indexed, laid out, and recorded. The
 * record is written first marked "creating" (the layout writes it as soon as the state directory
 * exists), so that start-up rolls back a create a crash cut short. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "common/strv.h"
#include "runtime/container_internal.h"
#include "runtime/image_volume.h"
#include "runtime/path_check.h"
#include "runtime/propagation.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"
#include "runtime/util.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy_mounts(struct rt_container_info *i, const struct rt_container_spec *s, crisp_error_t **err)
{
    i->mounts = calloc(s->n_mounts + 1, sizeof(*i->mounts));
    if (!i->mounts)
        return crisp_error_oom(err);
    for (size_t m = 0; m < s->n_mounts; m++) {
        i->n_mounts++;
        if (!rt_mount_copy(&i->mounts[m], &s->mounts[m]))
            return crisp_error_oom(err);
    }
    return 0;
}

static int copy_spec(struct rt_container *c, const struct rt_container_spec *s,
                     const struct rt_sandbox_info *pod, crisp_error_t **err)
{
    struct rt_container_info *i = &c->info;
    memcpy(i->sandbox_id, pod->id, RT_ID_LEN + 1);
    i->name = strdup(s->name);
    i->attempt = s->attempt;
    i->state = RT_CONTAINER_CREATED;
    i->created_at = clock_realtime_ns();
    i->reason = strdup("");
    i->message = strdup("");
    i->image = strdup(s->image);
    i->image_id = strdup(s->image_id);
    i->log_path = strdup(s->log_path ? s->log_path : "");
    i->uid = s->uid;
    i->gid = s->gid;
    if (rt_container_groups_copy(s->groups, s->n_groups, &i->groups, &i->n_groups) < 0)
        return crisp_error_oom(err);
    c->stop_signal = s->stop_signal > 0 ? s->stop_signal : SIGTERM;
    c->capabilities = s->capabilities;
    c->ambient_capabilities = s->ambient_capabilities;
    c->no_new_privs = s->no_new_privs;
    c->tty = s->tty;
    c->env = strv_copy(s->env);
    c->cwd = strdup(s->cwd);
    if (!i->name || !i->reason || !i->message || !i->image || !i->image_id || !i->log_path || !c->env ||
        !c->cwd || rt_kv_copy(s->labels, s->n_labels, &i->labels) < 0 ||
        rt_kv_copy(s->annotations, s->n_annotations, &i->annotations) < 0)
        return crisp_error_oom(err);
    i->n_labels = s->n_labels;
    i->n_annotations = s->n_annotations;
    if (rt_container_resources_record(&i->resources, s->resources,
                                      s->has_oom_score_adj ? &s->oom_score_adj : NULL) < 0)
        return crisp_error_oom(err);
    return copy_mounts(i, s, err);
}

/* Mounted at create from the image's layers; what the request may not set for one is refused. */
static int image_volume_check(const struct rt_mount *m, crisp_error_t **err)
{
    if (!m->image_id || !*m->image_id || !m->image_layers || !m->image_layers[0])
        return crisp_error_make(err, EINVAL, "image volume %.100s has no image layers", m->container_path);
    if (!m->readonly || m->propagation != RT_PROPAGATION_PRIVATE)
        return crisp_error_make(err, EINVAL, "image volume %.100s must be read-only and private",
                                m->container_path);
    if (rt_image_sub_path_check(m->image_sub_path ? m->image_sub_path : "", err) < 0)
        return crisp_error_wrap(err, "image volume %.100s", m->container_path);
    return 0;
}

static int validate(const struct rt_container_spec *s, crisp_error_t **err)
{
    if (!s->name || !*s->name || strlen(s->name) > 253)
        return crisp_error_make(err, EINVAL, "container metadata needs a name of at most 253 bytes");
    if (!s->argv || !s->argv[0])
        return crisp_error_make(
            err, EINVAL, "container %s has no command: the image sets none and neither does the request",
            s->name);
    if (!s->cwd || s->cwd[0] != '/')
        return crisp_error_make(err, EINVAL, "working directory \"%.100s\" is not absolute",
                                s->cwd ? s->cwd : "");
    if (s->log_path && *s->log_path && rt_path_check("log path", s->log_path, RT_PATH_ABSOLUTE, err) < 0)
        return -1;
    for (size_t m = 0; m < s->n_mounts; m++) {
        const struct rt_mount *mt = &s->mounts[m];
        /* "/mnt/.." would mount over the container's root. */
        if (rt_path_check("mount container_path", mt->container_path, RT_PATH_ABSOLUTE | RT_PATH_NOT_ROOT,
                          err) < 0)
            return -1;
        if (mt->image) {
            if (image_volume_check(mt, err) < 0)
                return -1;
            continue;
        }
        struct stat st;
        if (stat(mt->host_path, &st) < 0)
            return crisp_error_errno(err, "mount source %.100s", mt->host_path);
    }
    return 0;
}

/* rslave and rshared volumes need the host side to propagate: made so before the container exists. */
static int prepare_propagation(const struct rt_container_spec *s, crisp_error_t **err)
{
    for (size_t m = 0; m < s->n_mounts; m++) {
        enum rt_propagation p = s->mounts[m].propagation;
        if (p != RT_PROPAGATION_PRIVATE && !s->mounts[m].image &&
            rt_propagation_ensure(s->mounts[m].host_path, p == RT_PROPAGATION_BIDIRECTIONAL, err) < 0)
            return crisp_error_wrap(err, "mount %s", s->mounts[m].container_path);
    }
    return 0;
}

/* Looked up before the new container locks itself: no code holds two containers' locks. */
static int target_pid_ns(struct rt_runtime *rt, const char *id, const char *pod_id, char **ret,
                         crisp_error_t **err)
{
    struct rt_container *t = rt_container_lock_by_id(rt, id);
    if (!t)
        return crisp_error_make(err, ENOENT, "target container %.100s not found", id);
    rt_container_refresh(rt, t);
    bool ok = t->info.state == RT_CONTAINER_RUNNING && strcmp(t->info.sandbox_id, pod_id) == 0;
    pid_t pid = t->info.pid;
    rt_container_unlock_unref(t);
    if (!ok)
        return crisp_error_make(err, EINVAL, "target container %.12s is not running in pod %.12s", id,
                                pod_id);
    char *path;
    if (asprintf(&path, "/proc/%d/ns/pid", (int)pid) < 0)
        return crisp_error_oom(err);
    *ret = path;
    return 0;
}

/* The PID namespace the container joins: "host", "new", or a namespace file. */
static int pid_ns_for(struct rt_runtime *rt, const struct rt_container_spec *s,
                      const struct rt_sandbox_info *pod, char **ret, crisp_error_t **err)
{
    enum rt_ns_mode mode = s->has_namespaces ? s->pid_mode : pod->pid_mode;
    if (mode == RT_NS_TARGET && target_pid_ns(rt, s->pid_target_id, pod->id, ret, err) < 0)
        return crisp_error_wrap(err, "create container %s", s->name);
    if (mode == RT_NS_TARGET)
        return 0;
    if (mode == RT_NS_POD && pod->init_pid > 0)
        return (*ret = path_join(pod->dir, "ns/pid")) ? 0 : crisp_error_oom(err);
    *ret = strdup(mode == RT_NS_NODE ? "host" : "new");
    return *ret ? 0 : crisp_error_oom(err);
}

/* Compiled once here; the monitor and every exec only load the bytes. A Localhost profile that can't
 * be read or compiled is the request's fault: INVALID_ARGUMENT, with the file named. */
static int seccomp_compile(const struct rt_container_spec *s, struct rt_seccomp_filter *ret,
                           crisp_error_t **err)
{
    *ret = (struct rt_seccomp_filter){0};
    if (s->seccomp_mode == RT_SECCOMP_RUNTIME_DEFAULT)
        return rt_seccomp_compile_default(s->capabilities, ret, err);
    if (s->seccomp_mode != RT_SECCOMP_LOCALHOST)
        return 0;
    if (rt_seccomp_compile_file(s->seccomp_profile, s->capabilities, ret, err) == 0)
        return 0;
    if (err && *err && (*err)->status != ENOMEM)
        (*err)->status = EINVAL;
    return -1;
}

static void inputs_fini(struct rt_container_inputs *in)
{
    rt_seccomp_filter_fini(&in->filter);
    free(in->devices);
    free(in->pid_ns);
}

static int inputs_prepare(struct rt_runtime *rt, const struct rt_container_spec *s,
                          const struct rt_sandbox_info *pod, struct rt_container_inputs *in,
                          crisp_error_t **err)
{
    if (rt_container_security_check(s, pod, err) < 0 ||
        rt_container_devices_resolve(s, &in->devices, err) < 0 || seccomp_compile(s, &in->filter, err) < 0)
        return -1;
    return pid_ns_for(rt, s, pod, &in->pid_ns, err);
}

/* The new container, indexed and locked (the caller unlocks it); its name must be free in the pod. */
static int container_add(struct rt_runtime *rt, const struct rt_container_spec *s,
                         const struct rt_sandbox_info *pod, struct rt_container **ret, crisp_error_t **err)
{
    struct rt_container *c = rt_container_new();
    if (!c)
        return crisp_error_oom(err);
    pthread_mutex_lock(&c->lock);
    if (rt_random_id(c->info.id, err) < 0 || copy_spec(c, s, pod, err) < 0 ||
        !(c->dir = path_join(rt->containers_dir, c->info.id)) ||
        !(c->rw_dir = path_join(rt->layers_dir, c->info.id)) ||
        !(c->info.upper_dir = path_join(c->rw_dir, "upper")) || rt_container_index_add(rt, c, err) < 0) {
        rt_container_unlock_unref(c);
        return err && *err ? -1 : crisp_error_oom(err);
    }
    *ret = c;
    return 0;
}

/* kubelet names a log file inside the pod's log directory; the container's own subdirectory may not
 * exist yet. Whether it does is noted in the intent (*ret_made: the leaf create will make, for the
 * undo and a rollback at start-up); it is made last, once the request is known good. */
static int log_dir_plan(const char *log_path, char **ret_made, crisp_error_t **err)
{
    *ret_made = NULL;
    if (!log_path || !*log_path)
        return 0;
    _cleanup_free_ char *copy = strdup(log_path);
    if (!copy)
        return crisp_error_oom(err);
    const char *dir = dirname(copy);
    if (access(dir, F_OK) != 0 && !(*ret_made = strdup(dir)))
        return crisp_error_oom(err);
    return 0;
}

static int log_dir_make(const char *log_path, crisp_error_t **err)
{
    if (!log_path || !*log_path)
        return 0;
    _cleanup_free_ char *copy = strdup(log_path);
    return copy ? dir_create_all(dirname(copy), 0755, err) : crisp_error_oom(err);
}

int rt_container_create(struct rt_runtime *rt, const struct rt_container_spec *s, char ret_id[RT_ID_LEN + 1],
                        crisp_error_t **err)
{
    if (validate(s, err) < 0 || prepare_propagation(s, err) < 0)
        return -1;
    _cleanup_(rt_sandbox_info_freep) struct rt_sandbox_info *pod = NULL;
    if (rt_sandbox_info_get(rt, s->sandbox_id, &pod, err) < 0)
        return -1;
    if (pod->state != RT_SANDBOX_READY)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "pod sandbox %.12s is not ready", pod->id);
    _cleanup_(inputs_fini) struct rt_container_inputs in = {0};
    struct rt_container *c = NULL;
    /* Held from before the mounts exist, so that RemoveImage can't take the layers away meanwhile. */
    if (inputs_prepare(rt, s, pod, &in, err) < 0 ||
        rt_container_images_hold(rt, s->image_id, s->mounts, s->n_mounts, err) < 0)
        return -1;
    if (container_add(rt, s, pod, &c, err) < 0) {
        rt_container_images_release(rt, s->image_id, s->mounts, s->n_mounts);
        return -1;
    }
    c->creating = true;
    int r = log_dir_plan(s->log_path, &c->log_dir_made, err);
    if (r == 0)
        r = rt_container_layout_make(rt, c, s, pod, &in, err);
    crisp_crash_point("container.create.after_spec");
    if (r == 0)
        r = log_dir_make(s->log_path, err);
    crisp_crash_point("container.create.after_log_dir");
    c->creating = false;
    if (r == 0)
        r = rt_container_persist(c, err);
    if (r < 0) {
        if (c->log_dir_made)
            rmdir(c->log_dir_made);
        rt_container_layout_undo(rt, c);
        c->removed = true;
        rt_index_remove(&rt->containers, &c->node);
        rt_container_images_release(rt, s->image_id, s->mounts, s->n_mounts);
        rt_container_unlock_unref(c);
        return crisp_error_wrap(err, "create container %s", s->name);
    }
    crisp_crash_point("container.create.after_record");
    memcpy(ret_id, c->info.id, RT_ID_LEN + 1);
    rt_container_emit(rt, RT_EVENT_CONTAINER_CREATED, c);
    rt_container_unlock_unref(c);
    return 0;
}
