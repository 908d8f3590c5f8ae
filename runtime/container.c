#define _GNU_SOURCE
#include "runtime/container.h"

#include "common/cleanup.h"
#include "common/file.h"
#include "common/strv.h"
#include "runtime/container_internal.h"
#include "runtime/container_spec.h"
#include "runtime/seccomp/seccomp.h"
#include "runtime/exec.h"
#include "runtime/pod_ns.h"
#include "runtime/propagation.h"
#include "runtime/runtime_internal.h"
#include "runtime/util.h"
#include "runtime/sandbox_internal.h"
#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 60000
#define SYNC_LINE_MAX 8192
#define EXIT_FILE_MAX 65536
#define EXEC_MAX_OUTPUT (16 * 1024 * 1024)

extern char **environ;

static void container_free(struct rt_container *c)
{
    if (!c)
        return;
    rt_container_fields_free(c);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void container_unref(struct rt_container *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        container_free(c);
}

static void emit(struct rt_runtime *rt, int type, const struct rt_container *c)
{
    if (rt->event_fn)
        rt->event_fn(rt->event_data, type, c->info.id, c->info.sandbox_id);
}

void rt_runtime_set_event_hook(struct rt_runtime *rt, rt_container_event_fn fn, void *data)
{
    rt->event_fn = fn;
    rt->event_data = data;
}

/* Replaced atomically but not fsynced, as pod records are (runtime/sandbox.c says why). */
static int persist(const struct rt_container *c, crisp_error_t **err)
{
    _cleanup_free_ char *json = rt_container_record_to_json(c), *path = path_join(c->dir, "container.json");
    if (!json || !path)
        return crisp_error_oom(err);
    return file_write_replace(path, json, strlen(json), 0600, err);
}

/* ---- index ---- */

static struct rt_container *find_locked(struct rt_runtime *rt, const char *id)
{
    size_t len = strlen(id);
    struct rt_container *found = NULL;
    for (size_t i = 0; len > 0 && i < rt->n_containers; i++) {
        struct rt_container *c = rt->containers[i];
        if (c->removed || strncmp(c->info.id, id, len) != 0)
            continue;
        if (len == RT_ID_LEN)
            return c;
        if (found)
            return NULL;
        found = c;
    }
    return found;
}

static int index_add(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    pthread_rwlock_wrlock(&rt->lock);
    for (size_t i = 0; i < rt->n_containers; i++) {
        const struct rt_container_info *o = &rt->containers[i]->info;
        if (!rt->containers[i]->removed && strcmp(o->sandbox_id, c->info.sandbox_id) == 0 &&
            strcmp(o->name, c->info.name) == 0 && o->attempt == c->info.attempt) {
            pthread_rwlock_unlock(&rt->lock);
            return crisp_error_make(err, EEXIST, "container %s (attempt %u) already exists in pod %.12s as %s",
                                    c->info.name, c->info.attempt, c->info.sandbox_id, o->id);
        }
    }
    struct rt_container **grown = realloc(rt->containers, (rt->n_containers + 1) * sizeof(*grown));
    if (grown) {
        rt->containers = grown;
        grown[rt->n_containers++] = c;
    }
    pthread_rwlock_unlock(&rt->lock);
    return grown ? 0 : crisp_error_oom(err);
}

static void index_remove(struct rt_runtime *rt, struct rt_container *c)
{
    bool found = false;
    pthread_rwlock_wrlock(&rt->lock);
    for (size_t i = 0; i < rt->n_containers && !found; i++)
        if (rt->containers[i] == c) {
            rt->containers[i] = rt->containers[--rt->n_containers];
            found = true;
        }
    pthread_rwlock_unlock(&rt->lock);
    if (found)
        container_unref(c);
}

static struct rt_container *lookup_locked(struct rt_runtime *rt, const char *id)
{
    pthread_rwlock_rdlock(&rt->lock);
    struct rt_container *c = find_locked(rt, id);
    if (c)
        atomic_fetch_add(&c->refs, 1);
    pthread_rwlock_unlock(&rt->lock);
    if (c)
        pthread_mutex_lock(&c->lock);
    return c;
}

static void unlock_unref(struct rt_container *c)
{
    pthread_mutex_unlock(&c->lock);
    container_unref(c);
}

/* ---- exits, as crisp-monitor records them ---- */

static char *exit_file(const struct rt_container *c)
{
    return path_join(c->dir, "exit");
}

char *rt_container_seccomp_file(const struct rt_container *c)
{
    return path_join(c->dir, "seccomp.bpf");
}

char *rt_container_attach_socket(const struct rt_container *c)
{
    return path_join(c->dir, "attach");
}

static char *unescape_value(const char *v)
{
    char *out = malloc(strlen(v) + 1), *o = out;
    for (const char *p = v; out && *p; p++) {
        if (*p == '\\' && p[1] == 'n') {
            *o++ = '\n';
            p++;
        } else if (*p == '\\' && p[1] == '\\') {
            *o++ = '\\';
            p++;
        } else {
            *o++ = *p;
        }
    }
    if (out)
        *o = '\0';
    return out;
}

static void apply_exit_field(struct rt_container_info *i, const char *key, const char *value)
{
    if (strcmp(key, "exit_code") == 0)
        i->exit_code = atoi(value);
    else if (strcmp(key, "finished_at") == 0)
        i->finished_at = strtoll(value, NULL, 10);
    else if (strcmp(key, "reason") == 0 || strcmp(key, "message") == 0) {
        char *v = unescape_value(value);
        if (!v)
            return;
        char **slot = key[0] == 'r' ? &i->reason : &i->message;
        free(*slot);
        *slot = v;
    }
}

/* Reads the exit record if the monitor wrote one; true when the container has exited. */
static bool read_exit(struct rt_container *c)
{
    _cleanup_free_ char *path = exit_file(c), *text = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    if (!path || file_read_bounded(path, EXIT_FILE_MAX, &text, NULL, &err) < 0)
        return false;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        apply_exit_field(&c->info, line, sp + 1);
    }
    c->info.state = RT_CONTAINER_EXITED;
    c->info.pid = 0;
    return true;
}

/* A running container whose monitor recorded an exit becomes EXITED (and kubelet hears of it). */
static void refresh(struct rt_runtime *rt, struct rt_container *c)
{
    if (c->info.state != RT_CONTAINER_RUNNING || !read_exit(c))
        return;
    persist(c, NULL);
    emit(rt, 2 /* CONTAINER_STOPPED_EVENT */, c);
}

/* ---- create ---- */

static char *oom_file(struct rt_runtime *rt, const char *path, bool v2)
{
    char *f = NULL;
    if (v2 != (rt->cgroups.mode == RT_CGROUP_V2))
        return strdup("");
    int r = v2 ? asprintf(&f, "%s%s/memory.events", rt->cgroups.mount, path)
               : asprintf(&f, "%s/memory%s/memory.oom_control", rt->cgroups.mount, path);
    return r < 0 ? NULL : f;
}

/* Records what was asked: a merge of what the container had and what res sets. */
static int record_resources(struct rt_container_resources *cr, const struct rt_cgroup_resources *res,
                            const int *oom_score_adj)
{
    if (res) {
        cr->cpu_period = res->cpu_period ? res->cpu_period : cr->cpu_period;
        cr->cpu_quota = res->cpu_quota ? res->cpu_quota : cr->cpu_quota;
        cr->cpu_shares = res->cpu_shares ? res->cpu_shares : cr->cpu_shares;
        cr->memory_limit = res->memory_limit ? res->memory_limit : cr->memory_limit;
        cr->memory_swap_limit = res->memory_swap_limit ? res->memory_swap_limit : cr->memory_swap_limit;
    }
    if (oom_score_adj)
        cr->oom_score_adj = *oom_score_adj;
    const char *cpus = res && res->cpuset_cpus && *res->cpuset_cpus ? res->cpuset_cpus : cr->cpuset_cpus;
    const char *mems = res && res->cpuset_mems && *res->cpuset_mems ? res->cpuset_mems : cr->cpuset_mems;
    char *c = strdup(cpus ? cpus : ""), *m = strdup(mems ? mems : "");
    if (!c || !m) {
        free(c);
        free(m);
        return -1;
    }
    free(cr->cpuset_cpus);
    free(cr->cpuset_mems);
    cr->cpuset_cpus = c;
    cr->cpuset_mems = m;
    return 0;
}

static int groups_copy(const gid_t *groups, size_t n, gid_t **ret, size_t *ret_n)
{
    *ret = calloc(n + 1, sizeof(gid_t));
    if (!*ret)
        return -1;
    if (n > 0)
        memcpy(*ret, groups, n * sizeof(gid_t));
    *ret_n = n;
    return 0;
}

static int copy_spec(struct rt_container *c, const struct rt_container_spec *s, const struct rt_sandbox_info *pod,
                     crisp_error_t **err)
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
    if (groups_copy(s->groups, s->n_groups, &i->groups, &i->n_groups) < 0)
        return crisp_error_oom(err);
    c->stop_signal = s->stop_signal > 0 ? s->stop_signal : SIGTERM;
    c->capabilities = s->capabilities;
    c->ambient_capabilities = s->ambient_capabilities;
    c->no_new_privs = s->no_new_privs;
    c->tty = s->tty;
    c->env = strv_copy(s->env);
    c->cwd = strdup(s->cwd);
    i->mounts = calloc(s->n_mounts + 1, sizeof(*i->mounts));
    if (!i->name || !i->reason || !i->message || !i->image || !i->image_id || !i->log_path || !c->env || !c->cwd ||
        !i->mounts || rt_kv_copy(s->labels, s->n_labels, &i->labels) < 0 ||
        rt_kv_copy(s->annotations, s->n_annotations, &i->annotations) < 0)
        return crisp_error_oom(err);
    i->n_labels = s->n_labels;
    i->n_annotations = s->n_annotations;
    if (record_resources(&i->resources, s->resources, s->has_oom_score_adj ? &s->oom_score_adj : NULL) < 0)
        return crisp_error_oom(err);
    for (size_t m = 0; m < s->n_mounts; m++) {
        i->mounts[m] = s->mounts[m];
        i->mounts[m].container_path = strdup(s->mounts[m].container_path);
        i->mounts[m].host_path = strdup(s->mounts[m].host_path);
        i->n_mounts++;
        if (!i->mounts[m].container_path || !i->mounts[m].host_path)
            return crisp_error_oom(err);
    }
    return 0;
}

static int validate(const struct rt_container_spec *s, crisp_error_t **err)
{
    if (!s->name || !*s->name || strlen(s->name) > 253)
        return crisp_error_make(err, EINVAL, "container metadata needs a name of at most 253 bytes");
    if (!s->argv || !s->argv[0])
        return crisp_error_make(err, EINVAL, "container %s has no command: the image sets none and neither does the request",
                                s->name);
    if (!s->cwd || s->cwd[0] != '/')
        return crisp_error_make(err, EINVAL, "working directory \"%s\" is not absolute", s->cwd ? s->cwd : "");
    for (size_t m = 0; m < s->n_mounts; m++) {
        const struct rt_mount *mt = &s->mounts[m];
        if (mt->container_path[0] != '/' || strstr(mt->container_path, "/../"))
            return crisp_error_make(err, EINVAL, "mount destination \"%s\" must be an absolute path without \"..\"",
                                    mt->container_path);
        struct stat st;
        if (stat(mt->host_path, &st) < 0)
            return crisp_error_errno(err, "mount source %s", mt->host_path);
    }
    return 0;
}

/* rslave and rshared volumes need the host side to propagate: made so before the container exists. */
static int prepare_propagation(const struct rt_container_spec *s, crisp_error_t **err)
{
    for (size_t m = 0; m < s->n_mounts; m++) {
        enum rt_propagation p = s->mounts[m].propagation;
        if (p != RT_PROPAGATION_PRIVATE &&
            rt_propagation_ensure(s->mounts[m].host_path, p == RT_PROPAGATION_BIDIRECTIONAL, err) < 0)
            return crisp_error_wrap(err, "mount %s", s->mounts[m].container_path);
    }
    return 0;
}

static int target_pid_ns(struct rt_runtime *rt, const char *id, const char *pod_id, char *buf, size_t size,
                         crisp_error_t **err)
{
    struct rt_container *t = lookup_locked(rt, id);
    if (!t)
        return crisp_error_make(err, ENOENT, "target container %s not found", id);
    refresh(rt, t);
    bool ok = t->info.state == RT_CONTAINER_RUNNING && strcmp(t->info.sandbox_id, pod_id) == 0;
    pid_t pid = t->info.pid;
    unlock_unref(t);
    if (!ok)
        return crisp_error_make(err, EINVAL, "target container %.12s is not running in pod %.12s", id, pod_id);
    snprintf(buf, size, "/proc/%d/ns/pid", (int)pid);
    return 0;
}

/* The PID namespace the container joins: "host", "new", or a namespace file (into buf). */
static int pid_ns_for(struct rt_runtime *rt, const struct rt_container_spec *s, const struct rt_sandbox_info *pod,
                      char *buf, size_t size, const char **ret, crisp_error_t **err)
{
    enum rt_ns_mode mode = s->has_namespaces ? s->pid_mode : pod->pid_mode;
    *ret = buf;
    if (mode == RT_NS_TARGET)
        return target_pid_ns(rt, s->pid_target_id, pod->id, buf, size, err);
    if (mode == RT_NS_POD && pod->init_pid > 0) {
        snprintf(buf, size, "%s/ns/pid", pod->dir);
        return 0;
    }
    *ret = mode == RT_NS_NODE ? "host" : "new";
    return 0;
}

/* What CreateContainer works out from the request before it makes anything, so that a request it
 * cannot honour leaves nothing behind. */
struct create_inputs {
    struct rt_seccomp_filter filter;
    struct rt_device_node *devices;
};

static void create_inputs_fini(struct create_inputs *in)
{
    rt_seccomp_filter_fini(&in->filter);
    free(in->devices);
}

/* Non-privileged containers get only the standard devices and those they asked for. */
static int devices_restrict(struct rt_runtime *rt, const struct rt_container *c, const struct rt_container_spec *s,
                            const struct rt_device_node *devices, crisp_error_t **err)
{
    if (s->privileged)
        return 0;
    _cleanup_strv_ char **rules = rt_container_device_rules(devices, s->n_devices, err);
    if (!rules)
        return -1;
    return rt_cgroup_devices_restrict(&rt->cgroups, c->info.cgroup_path, rules, err);
}

/* Compiled once here; the monitor and every exec only load the bytes. A Localhost profile that can't
 * be read or compiled is the request's fault: INVALID_ARGUMENT, with the file named. */
static int seccomp_compile(const struct rt_container_spec *s, struct rt_seccomp_filter *ret, crisp_error_t **err)
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

static int make_layout(struct rt_runtime *rt, struct rt_container *c, const struct rt_container_spec *s,
                       const struct rt_sandbox_info *pod, const struct create_inputs *in, crisp_error_t **err)
{
    _cleanup_free_ char *upper = path_join(c->rw_dir, "upper"), *work = path_join(c->rw_dir, "work");
    _cleanup_free_ char *rootfs = path_join(c->dir, "rootfs"), *spec = path_join(c->dir, "spec"), *exitf = exit_file(c);
    _cleanup_free_ char *oom1 = NULL, *oom2 = NULL, *attach = rt_container_attach_socket(c);
    if (!upper || !work || !rootfs || !spec || !exitf || !attach)
        return crisp_error_oom(err);
    if (mkdir(c->dir, 0700) < 0 || mkdir(rootfs, 0755) < 0)
        return crisp_error_errno(err, "make %s", c->dir);
    if (dir_create_all(upper, 0755, err) < 0 || dir_create_all(work, 0700, err) < 0)
        return -1;
    if (asprintf(&c->info.cgroup_path, "%s/ctr-%.12s", pod->cgroup_path, c->info.id) < 0)
        return crisp_error_oom(err);
    int depth = 0;
    if (rt_cgroup_create(&rt->cgroups, c->info.cgroup_path, &depth, err) < 0 ||
        (s->resources && rt_cgroup_apply(&rt->cgroups, c->info.cgroup_path, s->resources, err) < 0))
        return -1;
    if (devices_restrict(rt, c, s, in->devices, err) < 0)
        return -1;
    _cleanup_strv_ char **procs = rt_cgroup_procs_files(&rt->cgroups, c->info.cgroup_path);
    oom1 = oom_file(rt, c->info.cgroup_path, false);
    oom2 = oom_file(rt, c->info.cgroup_path, true);
    char pidns_buf[4096];
    const char *pidns;
    if (pid_ns_for(rt, s, pod, pidns_buf, sizeof(pidns_buf), &pidns, err) < 0)
        return -1;
    _cleanup_free_ char *seccomp = NULL;
    if (seccomp_install(c, &in->filter, &seccomp, err) < 0)
        return -1;
    struct rt_spec_context ctx = {s, pod, c->info.id, rootfs, upper, work, exitf, attach, procs, oom1, oom2,
                                  pidns, &rt->cgroups, c->info.cgroup_path, in->devices, seccomp,
                                  c->seccomp_flags};
    if (!procs || !oom1 || !oom2)
        return crisp_error_oom(err);
    return rt_spec_write(spec, &ctx, err);
}

static void undo_create(struct rt_runtime *rt, struct rt_container *c)
{
    if (c->info.cgroup_path)
        rt_cgroup_remove(&rt->cgroups, c->info.cgroup_path, 1, NULL);
    dir_remove_all(c->dir, NULL);
    dir_remove_all(c->rw_dir, NULL);
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
    _cleanup_(create_inputs_fini) struct create_inputs in = {0};
    if (rt_container_security_check(s, pod, err) < 0 || rt_container_devices_resolve(s, &in.devices, err) < 0 ||
        seccomp_compile(s, &in.filter, err) < 0)
        return -1;
    struct rt_container *c = calloc(1, sizeof(*c));
    if (!c)
        return crisp_error_oom(err);
    pthread_mutex_init(&c->lock, NULL);
    c->refs = 1;
    if (rt_random_id(c->info.id, err) < 0 || copy_spec(c, s, pod, err) < 0 ||
        !(c->dir = path_join(rt->containers_dir, c->info.id)) || !(c->rw_dir = path_join(rt->layers_dir, c->info.id))) {
        container_free(c);
        return err && *err ? -1 : crisp_error_oom(err);
    }
    if (index_add(rt, c, err) < 0) {
        container_free(c);
        return -1;
    }
    int r = make_layout(rt, c, s, pod, &in, err);
    if (r == 0)
        r = persist(c, err);
    if (r < 0) {
        undo_create(rt, c);
        index_remove(rt, c);
        return crisp_error_wrap(err, "create container %s", s->name);
    }
    memcpy(ret_id, c->info.id, RT_ID_LEN + 1);
    emit(rt, 0 /* CONTAINER_CREATED_EVENT */, c);
    return 0;
}

/* ---- start ---- */

/* crisp-monitor detaches (its first process exits at once) and reports on the sync pipe. */
static int spawn_monitor(struct rt_runtime *rt, struct rt_container *c, int *ret_sync_fd, crisp_error_t **err)
{
    _cleanup_free_ char *spec = path_join(c->dir, "spec");
    int pipefd[2];
    if (!spec)
        return crisp_error_oom(err);
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return crisp_error_errno(err, "pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&fa, 0, 1);
    posix_spawn_file_actions_adddup2(&fa, 0, 2);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 3);
    char *argv[] = {rt->monitor, "--spec", spec, "--sync-fd", "3", NULL};
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    pid_t pid;
    int r = posix_spawn(&pid, rt->monitor, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (r != 0) {
        close(pipefd[0]);
        errno = r;
        return crisp_error_errno(err, "spawn %s", rt->monitor);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    *ret_sync_fd = pipefd[0];
    return 0;
}

static int read_sync_line(int fd, char *buf, size_t size, crisp_error_t **err)
{
    size_t len = 0;
    int64_t deadline = clock_realtime_ns() + (int64_t)START_TIMEOUT_MS * 1000000;
    while (len + 1 < size) {
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)((deadline - clock_realtime_ns()) / 1000000);
        if (left <= 0 || poll(&p, 1, left) == 0)
            return crisp_error_make(err, ETIMEDOUT, "crisp-monitor did not report within %d s", START_TIMEOUT_MS / 1000);
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return len ? 0 : crisp_error_make(err, EIO, "crisp-monitor exited without reporting");
}

static int start_locked(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    if (c->info.state != RT_CONTAINER_CREATED)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not in state CREATED", c->info.id);
    _cleanup_close_ int fd = -1;
    char line[SYNC_LINE_MAX];
    if (spawn_monitor(rt, c, &fd, err) < 0 || read_sync_line(fd, line, sizeof(line), err) < 0)
        return -1;
    int pid = 0, monitor = 0, code = 0, consumed = 0;
    if (sscanf(line, "ok %d %d", &pid, &monitor) == 2 && pid > 0) {
        c->info.pid = pid;
        c->monitor_pid = monitor;
        c->info.started_at = clock_realtime_ns();
        c->info.state = RT_CONTAINER_RUNNING;
        rt_proc_start_time(pid, &c->pid_start, NULL);
        return persist(c, err);
    }
    if (sscanf(line, "error %d %n", &code, &consumed) >= 1 && consumed > 0) {
        read_exit(c);
        c->info.state = RT_CONTAINER_EXITED;
        c->info.exit_code = code;
        persist(c, NULL);
        return crisp_error_make(err, EIO, "%s", line + consumed);
    }
    return crisp_error_make(err, EIO, "crisp-monitor said \"%.200s\"", line);
}

int rt_container_start(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    struct rt_container *c = lookup_locked(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %s not found", id);
    int r = start_locked(rt, c, err);
    if (r == 0)
        emit(rt, 1 /* CONTAINER_STARTED_EVENT */, c);
    else if (c->info.state == RT_CONTAINER_EXITED)
        emit(rt, 2, c);
    unlock_unref(c);
    return r < 0 ? crisp_error_wrap(err, "start container %.12s", id) : 0;
}

/* ---- stop, remove ---- */

static bool pid_is_ours(const struct rt_container *c)
{
    uint64_t start = 0;
    return c->info.pid > 0 && rt_proc_start_time(c->info.pid, &start, NULL) == 0 && start == c->pid_start;
}

/* Waits for the monitor's exit record up to timeout_ms; true once the container has exited. */
static bool wait_exit(struct rt_container *c, int64_t timeout_ms)
{
    int64_t deadline = clock_realtime_ns() + timeout_ms * 1000000;
    for (;;) {
        if (read_exit(c))
            return true;
        if (clock_realtime_ns() >= deadline)
            return false;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* The monitor died too (or crispd's host rebooted): no record will come, so make one. */
static void mark_lost(struct rt_container *c)
{
    c->info.state = RT_CONTAINER_EXITED;
    c->info.finished_at = clock_realtime_ns();
    c->info.exit_code = 137;
    free(c->info.reason);
    c->info.reason = strdup("Error");
    c->info.pid = 0;
}

static int stop_locked(struct rt_runtime *rt, struct rt_container *c, int64_t timeout_s)
{
    if (c->info.state != RT_CONTAINER_RUNNING || read_exit(c))
        return 0;
    if (timeout_s > 0 && pid_is_ours(c)) {
        kill(c->info.pid, c->stop_signal);
        if (wait_exit(c, timeout_s * 1000))
            return 0;
    }
    rt_cgroup_kill_all(&rt->cgroups, c->info.cgroup_path, 10000, NULL);
    if (!wait_exit(c, 10000))
        mark_lost(c);
    return 0;
}

int rt_container_stop(struct rt_runtime *rt, const char *id, int64_t timeout_s, crisp_error_t **err)
{
    struct rt_container *c = lookup_locked(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %s not found", id);
    bool was_running = c->info.state == RT_CONTAINER_RUNNING;
    int r = stop_locked(rt, c, timeout_s);
    if (was_running && c->info.state == RT_CONTAINER_EXITED) {
        persist(c, NULL);
        emit(rt, 2 /* CONTAINER_STOPPED_EVENT */, c);
    }
    unlock_unref(c);
    return r;
}

static int remove_locked(struct rt_runtime *rt, struct rt_container *c, crisp_error_t **err)
{
    stop_locked(rt, c, 0);
    if (rt_cgroup_remove(&rt->cgroups, c->info.cgroup_path, 1, err) < 0 || dir_remove_all(c->rw_dir, err) < 0 ||
        dir_remove_all(c->dir, err) < 0)
        return -1;
    c->removed = true;
    return 0;
}

int rt_container_remove(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    struct rt_container *c = lookup_locked(rt, id);
    if (!c)
        return 0;
    int r = c->removed ? 0 : remove_locked(rt, c, err);
    bool removed = c->removed;
    pthread_mutex_unlock(&c->lock);
    if (r == 0 && removed) {
        emit(rt, 3 /* CONTAINER_DELETED_EVENT */, c);
        index_remove(rt, c);
    }
    container_unref(c);
    return r < 0 ? crisp_error_wrap(err, "remove container %.12s", id) : 0;
}

char **rt_containers_of_pod(struct rt_runtime *rt, const char *sandbox_id)
{
    pthread_rwlock_rdlock(&rt->lock);
    char **ids = calloc(rt->n_containers + 1, sizeof(char *));
    for (size_t i = 0, n = 0; ids && i < rt->n_containers; i++)
        if (strcmp(rt->containers[i]->info.sandbox_id, sandbox_id) == 0 && !rt->containers[i]->removed &&
            !(ids[n++] = strdup(rt->containers[i]->info.id))) {
            strv_free(ids);
            ids = NULL;
        }
    pthread_rwlock_unlock(&rt->lock);
    return ids;
}

/* ---- update, logs, exec ---- */

int rt_container_update(struct rt_runtime *rt, const char *id, const struct rt_cgroup_resources *res,
                        crisp_error_t **err)
{
    struct rt_container *c = lookup_locked(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %s not found", id);
    int r = c->info.state == RT_CONTAINER_EXITED
                ? crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s has exited", id)
                : rt_cgroup_apply(&rt->cgroups, c->info.cgroup_path, res, err);
    if (r == 0 && record_resources(&c->info.resources, res, NULL) == 0)
        persist(c, NULL);
    unlock_unref(c);
    return r;
}

/* kubelet renamed the log; the monitor reopens log_path on SIGUSR1, which creates the new file. */
int rt_container_reopen_log(struct rt_runtime *rt, const char *id, crisp_error_t **err)
{
    struct rt_container *c = lookup_locked(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %s not found", id);
    refresh(rt, c);
    int r = 0;
    if (c->info.state != RT_CONTAINER_RUNNING)
        r = crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not running", id);
    else if (c->info.log_path[0] && kill(c->monitor_pid, SIGUSR1) < 0)
        r = crisp_error_errno(err, "signal crisp-monitor of %.12s", id);
    for (int i = 0; r == 0 && c->info.log_path[0] && i < 400 && access(c->info.log_path, F_OK) < 0; i++) {
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (r == 0 && c->info.log_path[0] && access(c->info.log_path, F_OK) < 0)
        r = crisp_error_make(err, ETIMEDOUT, "log %s was not reopened", c->info.log_path);
    unlock_unref(c);
    return r;
}

void rt_exec_output_fini(struct rt_exec_output *o)
{
    free(o->out);
    free(o->err_out);
    memset(o, 0, sizeof(*o));
}

/* What every exec in c shares: its namespaces, cgroups, user, environment and privileges. */
static void exec_request_fill(struct rt_runtime *rt, struct rt_container *c, char *const *argv, char **procs,
                              const char *seccomp, struct rt_exec_request *req)
{
    *req = (struct rt_exec_request){
        .helper = rt->exec_helper, .pid = c->info.pid, .start_time = c->pid_start, .cgroup_procs = procs,
        .uid = c->info.uid, .gid = c->info.gid, .groups = c->info.groups, .n_groups = c->info.n_groups,
        .cwd = c->cwd, .env = c->env, .argv = argv,
        .has_caps = true, .no_new_privs = c->no_new_privs, .seccomp_path = c->has_seccomp ? seccomp : NULL,
        .seccomp_flags = c->seccomp_flags, .ambient_caps = c->ambient_capabilities,
    };
    snprintf(req->caps_hex, sizeof(req->caps_hex), "%016llx", (unsigned long long)c->capabilities);
}

/* What an exec borrows from its container: a reference, not the lock (a long exec must not block
 * status or stop), and the files it joins. */
struct exec_prep {
    struct rt_container *c;
    char **procs;
    char *seccomp;
};

static void exec_prep_fini(struct exec_prep *p)
{
    strv_free(p->procs);
    free(p->seccomp);
    if (p->c)
        container_unref(p->c);
}

static int exec_prepare(struct rt_runtime *rt, const char *id, char *const *argv, struct exec_prep *p,
                        struct rt_exec_request *req, crisp_error_t **err)
{
    *p = (struct exec_prep){.c = lookup_locked(rt, id)};
    if (!p->c)
        return crisp_error_make(err, ENOENT, "container %s not found", id);
    refresh(rt, p->c);
    bool running = p->c->info.state == RT_CONTAINER_RUNNING;
    p->procs = running ? rt_cgroup_procs_files(&rt->cgroups, p->c->info.cgroup_path) : NULL;
    p->seccomp = rt_container_seccomp_file(p->c);
    exec_request_fill(rt, p->c, argv, p->procs, p->seccomp, req);
    pthread_mutex_unlock(&p->c->lock);
    if (!running)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not running", id);
    return p->procs && p->seccomp ? 0 : crisp_error_oom(err);
}

int rt_container_exec_sync(struct rt_runtime *rt, const char *id, char *const *argv, int64_t timeout_s,
                           struct rt_exec_output *ret, crisp_error_t **err)
{
    _cleanup_(exec_prep_fini) struct exec_prep prep = {0};
    struct rt_exec_request req;
    if (exec_prepare(rt, id, argv, &prep, &req, err) < 0)
        return -1;
    req.timeout_ms = (int)(timeout_s > 0 ? timeout_s * 1000 : 0);
    req.max_output = EXEC_MAX_OUTPUT;
    struct rt_exec_result res = {0};
    int r = rt_exec_sync(&req, &res, err);
    if (r == 0 && res.timed_out)
        r = crisp_error_make(err, ETIMEDOUT, "command timed out after %lld s", (long long)timeout_s);
    if (r == 0)
        *ret = (struct rt_exec_output){res.exit_code, res.out, res.err_out, res.out_len, res.err_len};
    else
        rt_exec_result_fini(&res);
    return r;
}

/* ---- snapshots ---- */

static struct rt_container_info *info_copy(const struct rt_container_info *i)
{
    struct rt_container_info *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    *c = *i;
    c->name = strdup(i->name);
    c->reason = strdup(i->reason);
    c->message = strdup(i->message);
    c->image = strdup(i->image);
    c->image_id = strdup(i->image_id);
    c->log_path = strdup(i->log_path);
    c->cgroup_path = strdup(i->cgroup_path ? i->cgroup_path : "");
    c->resources.cpuset_cpus = strdup(i->resources.cpuset_cpus ? i->resources.cpuset_cpus : "");
    c->resources.cpuset_mems = strdup(i->resources.cpuset_mems ? i->resources.cpuset_mems : "");
    c->labels = c->annotations = NULL;
    c->groups = NULL;
    c->mounts = calloc(i->n_mounts + 1, sizeof(*c->mounts));
    bool ok = groups_copy(i->groups, i->n_groups, &c->groups, &c->n_groups) == 0 && c->name && c->reason && c->message && c->image && c->image_id && c->log_path && c->cgroup_path &&
              c->mounts && c->resources.cpuset_cpus && c->resources.cpuset_mems && rt_kv_copy(i->labels, i->n_labels, &c->labels) == 0 &&
              rt_kv_copy(i->annotations, i->n_annotations, &c->annotations) == 0;
    for (size_t m = 0; ok && m < i->n_mounts; m++) {
        c->mounts[m] = i->mounts[m];
        c->mounts[m].container_path = strdup(i->mounts[m].container_path);
        c->mounts[m].host_path = strdup(i->mounts[m].host_path);
        ok = c->mounts[m].container_path && c->mounts[m].host_path;
    }
    if (!ok) {
        rt_container_info_free(c);
        return NULL;
    }
    return c;
}

int rt_container_info_get(struct rt_runtime *rt, const char *id, struct rt_container_info **ret, crisp_error_t **err)
{
    struct rt_container *c = lookup_locked(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %s not found", id);
    refresh(rt, c);
    struct rt_container_info *copy = info_copy(&c->info);
    unlock_unref(c);
    if (!copy)
        return crisp_error_oom(err);
    *ret = copy;
    return 0;
}

/* Takes a reference on every live container, so the list can be refreshed without the index lock. */
static struct rt_container **snapshot(struct rt_runtime *rt, size_t *ret_n)
{
    pthread_rwlock_rdlock(&rt->lock);
    struct rt_container **list = calloc(rt->n_containers + 1, sizeof(*list));
    size_t n = 0;
    for (size_t i = 0; list && i < rt->n_containers; i++)
        if (!rt->containers[i]->removed) {
            atomic_fetch_add(&rt->containers[i]->refs, 1);
            list[n++] = rt->containers[i];
        }
    pthread_rwlock_unlock(&rt->lock);
    *ret_n = n;
    return list;
}

int rt_container_info_list(struct rt_runtime *rt, struct rt_container_info ***ret, size_t *ret_n, crisp_error_t **err)
{
    size_t n = 0;
    struct rt_container **all = snapshot(rt, &n);
    struct rt_container_info **list = all ? calloc(n + 1, sizeof(*list)) : NULL;
    bool ok = list != NULL;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&all[i]->lock);
        refresh(rt, all[i]);
        if (ok)
            ok = (list[i] = info_copy(&all[i]->info)) != NULL;
        pthread_mutex_unlock(&all[i]->lock);
        container_unref(all[i]);
    }
    free(all);
    if (!ok) {
        rt_container_info_list_free(list, n);
        return crisp_error_oom(err);
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

void rt_container_info_free(struct rt_container_info *c)
{
    if (!c)
        return;
    free(c->name);
    free(c->reason);
    free(c->message);
    free(c->image);
    free(c->image_id);
    free(c->log_path);
    free(c->cgroup_path);
    free(c->resources.cpuset_cpus);
    free(c->resources.cpuset_mems);
    rt_kv_free(c->labels, c->n_labels);
    rt_kv_free(c->annotations, c->n_annotations);
    for (size_t m = 0; c->mounts && m < c->n_mounts; m++) {
        free(c->mounts[m].container_path);
        free(c->mounts[m].host_path);
    }
    free(c->mounts);
    free(c->groups);
    free(c);
}

void rt_container_info_freep(struct rt_container_info **c)
{
    rt_container_info_free(*c);
}

void rt_container_info_list_free(struct rt_container_info **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        rt_container_info_free(list[i]);
    free(list);
}

/* ---- restart ---- */

static int is_container_dir(const struct dirent *d)
{
    return strlen(d->d_name) == RT_ID_LEN && strspn(d->d_name, "0123456789abcdef") == RT_ID_LEN;
}

static void load_one(struct rt_runtime *rt, const char *name)
{
    _cleanup_free_ char *dir = path_join(rt->containers_dir, name), *rec = dir ? path_join(dir, "container.json") : NULL;
    _cleanup_free_ char *text = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    struct rt_container *c = calloc(1, sizeof(*c));
    if (!c || !rec)
        return free(c);
    pthread_mutex_init(&c->lock, NULL);
    c->refs = 1;
    if (file_read_bounded(rec, 1 << 20, &text, NULL, &err) < 0 || rt_container_record_from_json(text, c, &err) < 0 ||
        strcmp(c->info.id, name) != 0 || !(c->rw_dir = path_join(rt->layers_dir, name))) {
        /* A create that crashed before its record: nothing refers to it. */
        container_free(c);
        dir_remove_all(dir, NULL);
        return;
    }
    c->dir = TAKE_PTR(dir);
    /* Exits that happened while crispd was down were recorded by the monitor; a container whose monitor
     * and workload are both gone without a record is lost. */
    if (c->info.state == RT_CONTAINER_RUNNING && !read_exit(c) && !pid_is_ours(c))
        mark_lost(c);
    if (index_add(rt, c, &err) < 0)
        container_free(c);
}

int rt_containers_load(struct rt_runtime *rt, crisp_error_t **err)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_create_all(rt->containers_dir, 0700, err) < 0 || dir_create_all(rt->layers_dir, 0700, err) < 0 ||
        dir_list_sorted(rt->containers_dir, is_container_dir, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++)
        load_one(rt, *n);
    return 0;
}

void rt_containers_free(struct rt_runtime *rt)
{
    for (size_t i = 0; i < rt->n_containers; i++)
        container_unref(rt->containers[i]);
    free(rt->containers);
}

int rt_container_exec_start(struct rt_runtime *rt, const char *id, char *const *argv, bool tty, const int stdio[3],
                            struct rt_exec_process *ret, crisp_error_t **err)
{
    _cleanup_(exec_prep_fini) struct exec_prep prep = {0};
    struct rt_exec_request req;
    if (exec_prepare(rt, id, argv, &prep, &req, err) < 0)
        return -1;
    req.tty = tty;
    return rt_exec_start(&req, stdio, ret, err);
}

int rt_container_attach(struct rt_runtime *rt, const char *id, bool in, bool out, bool err_stream,
                        struct rt_attachment *ret, bool *ret_tty, crisp_error_t **err)
{
    struct rt_container *c = lookup_locked(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %s not found", id);
    refresh(rt, c);
    bool running = c->info.state == RT_CONTAINER_RUNNING;
    bool tty = c->tty;
    _cleanup_free_ char *path = rt_container_attach_socket(c);
    pthread_mutex_unlock(&c->lock);
    container_unref(c);
    if (!running)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not running", id);
    if (!path)
        return crisp_error_oom(err);
    /* With a tty, stdout and stderr are one stream. */
    if (rt_attach_open(path, in, out, err_stream && !tty, ret, err) < 0)
        return crisp_error_wrap(err, "attach to container %.12s", id);
    *ret_tty = tty;
    return 0;
}
