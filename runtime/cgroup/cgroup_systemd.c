/* The systemd cgroup driver: a pod's slice and each container's scope are systemd units, made over
 * D-Bus as runc, crun and CRI-O make them, so that systemd knows them (systemctl, systemd-cgls), keeps
 * its hands off them (Delegate=yes on scopes), and writes crisp's limits rather than its defaults when
 * it realizes them again (daemon-reload). The files themselves are written by the cgroupfs backend for
 * root->mode, as runc writes them after setting the properties.
 *
 * A scope needs a process: systemd refuses an empty one, and stops one as soon as its cgroup empties,
 * taking the cgroup with it. crisp makes the container's cgroup at CreateContainer, long before the
 * workload exists (StartContainer, where crisp-monitor clones it straight into the cgroup), and needs
 * the cgroup after the workload's end too: crisp-monitor reads memory.events then to tell an OOM kill,
 * and stats and removal look at it. runc has its init process waiting in the scope from `runc create`
 * on; crisp has crisp-hold, a tiny process that only sleeps, started as the scope's first process and
 * living there until the container's processes are killed (StopContainer / RemoveContainer). Its cost
 * is one sleeping process per container (about 100 KiB, and one task of the pids limit).
 * The alternatives don't hold: the monitor in the scope would be charged to and killed with the
 * container; a slice (which may be empty) can't be delegated; a scope made at StartContainer would
 * leave CreateContainer without the cgroup it writes limits and device rules to. */
#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"
#include "runtime/cgroup/cgroup_systemd_internal.h"

#include "common/cleanup.h"
#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

/* What systemctl uses as root when there is no D-Bus daemon. */
#define SD_PRIVATE_ADDRESS "unix:path=/run/systemd/private"
#define CALL_TIMEOUT_US (10 * 1000000ULL)
/* Above the scopes' TimeoutStopSec, so a stop that has to SIGKILL still ends in time. */
#define JOB_TIMEOUT_MS 15000
#define HOLD_REPORT_MS 5000
#define HOLD_NAME "crisp-hold"

static void message_unrefp(sd_bus_message **m)
{
    if (*m)
        sd_bus_message_unref(*m);
}

#define _cleanup_message_ __attribute__((cleanup(message_unrefp)))
#define _cleanup_bus_error_ __attribute__((cleanup(sd_bus_error_free)))

static int bus_fail(crisp_error_t **err, int r, const sd_bus_error *e, const char *what, const char *unit)
{
    int status = e && sd_bus_error_is_set(e) ? sd_bus_error_get_errno(e) : -r;
    return crisp_error_make(err, status ? status : EIO, "systemd: %s %s: %s", what, unit,
                            e && e->message ? e->message : strerror(-r));
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    (void)ret_error;
    struct rt_cgroup_systemd *s = userdata;
    uint32_t id;
    const char *job, *unit, *result;
    if (sd_bus_message_read(m, "uoss", &id, &job, &unit, &result) >= 0 && s->awaited_job &&
        strcmp(job, s->awaited_job) == 0)
        snprintf(s->job_result, sizeof(s->job_result), "%s", result[0] ? result : "?");
    return 0;
}

/* The D-Bus daemon's system bus first, as runc does; systemd's private socket (root only) where no
 * daemon runs. systemd sends a job's JobRemoved to the connection that queued it, either way. */
static int bus_open(sd_bus **ret, crisp_error_t **err)
{
    sd_bus *bus = NULL;
    int r = sd_bus_open_system(&bus);
    if (r >= 0) {
        *ret = bus;
        return 0;
    }
    int r2 = sd_bus_new(&bus);
    if (r2 >= 0 && (r2 = sd_bus_set_address(bus, SD_PRIVATE_ADDRESS)) >= 0 && (r2 = sd_bus_start(bus)) >= 0) {
        *ret = bus;
        return 0;
    }
    sd_bus_unref(bus);
    return crisp_error_make(err, EHOSTUNREACH, "can't reach systemd over D-Bus (system bus: %s; %s: %s)",
                            strerror(-r), SD_PRIVATE_ADDRESS + strlen("unix:path="), strerror(-r2));
}

/* (Re)connects when there is no open connection: the D-Bus daemon may have been restarted. Subscribes
 * too: on the system bus systemd sends Reloading only while someone is subscribed. A new connection
 * may follow a reload crisp did not hear, so the kept values are written again. */
int rt_sd_bus_connect_locked(struct rt_cgroup_systemd *s, crisp_error_t **err)
{
    if (s->bus && sd_bus_is_open(s->bus) > 0)
        return 0;
    s->bus = sd_bus_flush_close_unref(s->bus);
    sd_bus *bus = NULL;
    if (bus_open(&bus, err) < 0)
        return -1;
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    _cleanup_free_ char *version = NULL;
    int r = sd_bus_match_signal(bus, NULL, SD_DEST, SD_PATH, SD_MANAGER, "JobRemoved", on_job_removed, s);
    if (r >= 0)
        r = sd_bus_match_signal(bus, NULL, SD_DEST, SD_PATH, SD_MANAGER, "Reloading", rt_sd_on_reloading, s);
    if (r >= 0)
        r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "Subscribe", &e, NULL, "");
    if (r >= 0)
        r = sd_bus_get_property_string(bus, SD_DEST, SD_PATH, SD_MANAGER, "Version", &e, &version);
    if (r < 0) {
        sd_bus_flush_close_unref(bus);
        return bus_fail(err, r, &e, "ask", "its version");
    }
    s->bus = bus;
    rt_sd_kept_write_all_locked(s);
    return 0;
}

/* Signals left over from earlier exchanges are read first, so only this job's end can match. */
static int job_wait_locked(struct rt_cgroup_systemd *s, const char *job, const char *what, const char *unit,
                           crisp_error_t **err)
{
    s->awaited_job = job;
    s->job_result[0] = '\0';
    int64_t deadline = clock_monotonic_ms() + JOB_TIMEOUT_MS;
    int r = 0;
    while (!s->job_result[0]) {
        r = sd_bus_process(s->bus, NULL);
        if (r > 0)
            continue;
        if (r < 0)
            break;
        int64_t left = deadline - clock_monotonic_ms();
        if (left <= 0) {
            r = -ETIMEDOUT;
            break;
        }
        if ((r = sd_bus_wait(s->bus, (uint64_t)left * 1000)) < 0)
            break;
    }
    s->awaited_job = NULL;
    if (r < 0)
        return crisp_error_make(err, -r, "systemd: %s %s: waiting for its job: %s", what, unit, strerror(-r));
    if (strcmp(s->job_result, "done") != 0)
        return crisp_error_make(err, EIO, "systemd: %s %s: the job ended \"%s\" (see journalctl -u %s)", what,
                                unit, s->job_result, unit);
    return 0;
}

/* A property whose variant append() can't write in one call: (sv) opened down to the variant. */
static int prop_open(sd_bus_message *m, const char *name, const char *variant)
{
    int r = sd_bus_message_open_container(m, SD_BUS_TYPE_STRUCT, "sv");
    if (r >= 0)
        r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, name);
    return r >= 0 ? sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, variant) : r;
}

static int prop_close(sd_bus_message *m, int r)
{
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return r >= 0 ? sd_bus_message_close_container(m) : r;
}

static int append_bytes(sd_bus_message *m, const struct rt_systemd_prop *p)
{
    int r = prop_open(m, p->name, "ay");
    if (r >= 0)
        r = sd_bus_message_append_array(m, 'y', p->bytes, p->n_bytes);
    return prop_close(m, r);
}

static int append_pairs(sd_bus_message *m, const struct rt_systemd_prop *p)
{
    int r = prop_open(m, p->name, "a(ss)");
    if (r >= 0)
        r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "(ss)");
    for (char **pair = p->pairs; r >= 0 && pair && pair[0] && pair[1]; pair += 2)
        r = sd_bus_message_append(m, "(ss)", pair[0], pair[1]);
    if (r >= 0)
        r = sd_bus_message_close_container(m);
    return prop_close(m, r);
}

static int append_prop(sd_bus_message *m, const struct rt_systemd_prop *p)
{
    switch (p->type) {
    case RT_PROP_BOOL:
        return sd_bus_message_append(m, "(sv)", p->name, "b", (int)(p->u64 != 0));
    case RT_PROP_U64:
        return sd_bus_message_append(m, "(sv)", p->name, "t", p->u64);
    case RT_PROP_STR:
        return sd_bus_message_append(m, "(sv)", p->name, "s", p->str);
    case RT_PROP_PID:
        return sd_bus_message_append(m, "(sv)", p->name, "au", 1, (uint32_t)p->u64);
    case RT_PROP_BYTES:
        return append_bytes(m, p);
    case RT_PROP_PAIRS:
        return append_pairs(m, p);
    }
    return -EINVAL;
}

static int append_props(sd_bus_message *m, const struct rt_systemd_props *props)
{
    int r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "(sv)");
    for (size_t i = 0; r >= 0 && i < props->n; i++)
        r = append_prop(m, &props->v[i]);
    return r >= 0 ? sd_bus_message_close_container(m) : r;
}

/* A Manager method taking the unit name first, then what add() appends; ret_reply may be NULL. */
static int manager_call_locked(struct rt_cgroup_systemd *s, const char *method, const char *unit,
                               const char *mode, const struct rt_systemd_props *props,
                               sd_bus_message **ret_reply, sd_bus_error *e)
{
    _cleanup_message_ sd_bus_message *m = NULL;
    int r = sd_bus_message_new_method_call(s->bus, &m, SD_DEST, SD_PATH, SD_MANAGER, method);
    if (r >= 0)
        r = sd_bus_message_append(m, "s", unit);
    if (r >= 0 && mode)
        r = sd_bus_message_append(m, "s", mode);
    if (r >= 0 && props && !mode) /* SetUnitProperties: runtime only, gone at reboot */
        r = sd_bus_message_append(m, "b", 1);
    if (r >= 0 && props)
        r = append_props(m, props);
    if (r >= 0 && props && mode) /* StartTransientUnit: no auxiliary units */
        r = sd_bus_message_append(m, "a(sa(sv))", 0);
    return r < 0 ? r : sd_bus_call(s->bus, m, CALL_TIMEOUT_US, e, ret_reply);
}

/* A method answering with a job: waits for the job's end. */
static int job_call_locked(struct rt_cgroup_systemd *s, const char *method, const char *what,
                           const char *unit, const struct rt_systemd_props *props, bool *ret_exists,
                           crisp_error_t **err)
{
    _cleanup_message_ sd_bus_message *reply = NULL;
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    const char *job = NULL;
    int r = manager_call_locked(s, method, unit, props ? "fail" : "replace", props, &reply, &e);
    if (r < 0 && ret_exists && sd_bus_error_has_name(&e, "org.freedesktop.systemd1.UnitExists")) {
        *ret_exists = true;
        return 0;
    }
    if (r < 0 && strcmp(method, "StopUnit") == 0 &&
        sd_bus_error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit"))
        return 0; /* stopping what is gone */
    if (r >= 0)
        r = sd_bus_message_read(reply, "o", &job);
    if (r < 0)
        return bus_fail(err, r, &e, what, unit);
    return job_wait_locked(s, job, what, unit, err);
}

/* StartTransientUnit; *ret_exists (and success) when a unit of that name is there already. */
static int start_transient_locked(struct rt_cgroup_systemd *s, const char *unit,
                                  const struct rt_systemd_props *props, bool *ret_exists, crisp_error_t **err)
{
    *ret_exists = false;
    return job_call_locked(s, "StartTransientUnit", "start", unit, props, ret_exists, err);
}

/* A failed unit keeps its name until reset; stopping what is not there is success. */
static void reset_failed_locked(struct rt_cgroup_systemd *s, const char *unit)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    manager_call_locked(s, "ResetFailedUnit", unit, NULL, NULL, NULL, &e);
}

static int stop_unit_locked(struct rt_cgroup_systemd *s, const char *unit, crisp_error_t **err)
{
    int r = job_call_locked(s, "StopUnit", "stop", unit, NULL, NULL, err);
    reset_failed_locked(s, unit);
    return r;
}

static int set_props_locked(struct rt_cgroup_systemd *s, const char *unit,
                            const struct rt_systemd_props *props, crisp_error_t **err)
{
    _cleanup_bus_error_ sd_bus_error e = SD_BUS_ERROR_NULL;
    int r = manager_call_locked(s, "SetUnitProperties", unit, NULL, props, NULL, &e);
    return r < 0 ? bus_fail(err, r, &e, "set properties of", unit) : 0;
}

static int read_hold_pid(int fd, pid_t *ret, crisp_error_t **err)
{
    char buf[32];
    size_t len = 0;
    int64_t deadline = clock_monotonic_ms() + HOLD_REPORT_MS;
    while (len + 1 < sizeof(buf) && !memchr(buf, '\n', len)) {
        struct pollfd p = {fd, POLLIN, 0};
        int64_t left = deadline - clock_monotonic_ms();
        if (left <= 0 || poll(&p, 1, (int)left) == 0)
            return crisp_error_make(err, ETIMEDOUT, HOLD_NAME " did not report its pid");
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    char *end;
    long pid = strtol(buf, &end, 10);
    if (pid <= 0 || *end != '\n')
        return crisp_error_make(err, EIO, HOLD_NAME " reported \"%.*s\", not a pid", (int)strcspn(buf, "\n"),
                                buf);
    *ret = (pid_t)pid;
    return 0;
}

/* crisp-hold detaches (its first process exits at once) and reports the pid of the one that stays. */
static int hold_spawn(const struct rt_cgroup_systemd *s, pid_t *ret_pid, crisp_error_t **err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return crisp_error_errno(err, "pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, 0, 2);
    char *argv[] = {s->hold, NULL}, *envp[] = {NULL};
    pid_t first;
    int r = posix_spawn(&first, s->hold, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (r != 0) {
        close(fds[0]);
        errno = r;
        return crisp_error_errno(err, "spawn %s", s->hold);
    }
    r = read_hold_pid(fds[0], ret_pid, err);
    close(fds[0]);
    while (waitpid(first, NULL, 0) < 0 && errno == EINTR)
        ;
    return r;
}

static int scope_start_locked(struct rt_cgroup_systemd *s, const char *unit, const char *slice,
                              crisp_error_t **err)
{
    _cleanup_(rt_systemd_props_fini) struct rt_systemd_props props = {0};
    pid_t hold = 0;
    bool exists = false;
    if (hold_spawn(s, &hold, err) < 0)
        return -1;
    int r = rt_systemd_props_scope(&props, slice, "crisp container", hold, err);
    if (r == 0)
        r = start_transient_locked(s, unit, &props, &exists, err);
    if (r == 0 && exists) { /* a failed scope of an earlier try holds the name until reset */
        reset_failed_locked(s, unit);
        r = start_transient_locked(s, unit, &props, &exists, err);
        if (r == 0 && exists)
            r = crisp_error_make(err, EEXIST, "systemd unit %s exists already", unit);
    }
    if (r < 0)
        kill(hold, SIGKILL); /* not our child: init reaps it */
    return r;
}

static char *hierarchy_dir(const struct rt_cgroup_root *root, const char *path)
{
    char *dir = NULL;
    int r = root->mode == RT_CGROUP_V2 ? asprintf(&dir, "%s%s", root->mount, path)
                                       : asprintf(&dir, "%s/systemd%s", root->mount, path);
    return r < 0 ? NULL : dir;
}

/* How many trailing components of path have no cgroup yet: the slices systemd will start. */
static int missing_depth(const struct rt_cgroup_root *root, const char *path, int *ret, crisp_error_t **err)
{
    _cleanup_free_ char *dir = hierarchy_dir(root, path);
    if (!dir)
        return crisp_error_oom(err);
    size_t base = strlen(dir) - strlen(path);
    int depth = 0;
    while (strlen(dir) > base && access(dir, F_OK) < 0) {
        depth++;
        *strrchr(dir, '/') = '\0';
    }
    *ret = depth;
    return 0;
}

/* Kubelet's slice is left as it is. Ours is transient; when the name is loaded already (an
 * implicitly made parent of another slice), starting it is enough. */
static int slice_start_locked(const struct rt_cgroup_root *root, struct rt_cgroup_systemd *s,
                              const char *path, const char *unit, int *ret_depth, crisp_error_t **err)
{
    _cleanup_(rt_systemd_props_fini) struct rt_systemd_props props = {0};
    bool exists = false;
    if (missing_depth(root, path, ret_depth, err) < 0)
        return -1;
    if (*ret_depth == 0)
        return 0;
    if (rt_systemd_props_slice(&props, "crisp pod", err) < 0 ||
        start_transient_locked(s, unit, &props, &exists, err) < 0)
        return -1;
    return exists ? job_call_locked(s, "StartUnit", "start", unit, NULL, NULL, err) : 0;
}

static struct rt_cgroup_systemd *locked(const struct rt_cgroup_root *root, crisp_error_t **err)
{
    struct rt_cgroup_systemd *s = root->systemd;
    pthread_mutex_lock(&s->lock);
    if (rt_sd_bus_connect_locked(s, err) < 0) {
        pthread_mutex_unlock(&s->lock);
        return NULL;
    }
    return s;
}

static int sd_create(const struct rt_cgroup_root *root, const char *path,
                     struct rt_cgroup_created *ret_created, crisp_error_t **err)
{
    enum rt_systemd_unit_kind kind;
    _cleanup_free_ char *unit = NULL, *parent = NULL;
    if (rt_systemd_unit_of(path, &kind, &unit, &parent, err) < 0)
        return -1;
    if (kind == RT_SYSTEMD_NONE)
        return rt_cgroup_files_ops(root)->create(root, path, ret_created, err);
    struct rt_cgroup_systemd *s = locked(root, err);
    if (!s)
        return -1;
    int depth = 1;
    int r = kind == RT_SYSTEMD_SCOPE ? scope_start_locked(s, unit, parent, err)
                                     : slice_start_locked(root, s, path, unit, &depth, err);
    pthread_mutex_unlock(&s->lock);
    if (r < 0)
        return -1;
    /* systemd makes the unit's cgroup in the controllers it manages; the file backend adds the others:
     * on v1 their directories (cpuset, hugetlb, ...), which removal sweeps up after systemd; on v2 the
     * controllers systemd doesn't know (hugetlb), enabled down the path as runc's systemd driver does,
     * without which a scope has no hugetlb files and its limits would go unset. */
    struct rt_cgroup_created files = {0};
    if (rt_cgroup_files_ops(root)->create(root, path, &files, err) < 0)
        return -1;
    *ret_created = (struct rt_cgroup_created){.rest = depth};
    return 0;
}

/* The files first, through undo: the kernel checks every value there, so a refused one leaves
 * systemd's properties as they were (setting them first left systemd, and the file rollback after it,
 * holding the refused update's values). Then the properties, so that systemd keeps the values across
 * a daemon-reload. Setting them makes systemd write its files again, rounding a CPU quota to whole
 * percent and resetting the ones it has no property for, so the files are written once more with the
 * exact values, and the kept ones of earlier calls too. A failure after the first pass is rolled back
 * by the caller. */
static int sd_apply(const struct rt_cgroup_root *root, const char *path,
                    const struct rt_cgroup_resources *res, struct rt_cgroup_undo *undo, crisp_error_t **err)
{
    const struct rt_cgroup_ops *files = rt_cgroup_files_ops(root);
    enum rt_systemd_unit_kind kind;
    _cleanup_free_ char *unit = NULL, *parent = NULL;
    _cleanup_(rt_systemd_props_fini) struct rt_systemd_props props = {0};
    if (rt_systemd_unit_of(path, &kind, &unit, &parent, err) < 0 ||
        (kind != RT_SYSTEMD_NONE && rt_systemd_props_resources(&props, root->mode, res, err) < 0))
        return -1;
    if (files->apply(root, path, res, undo, err) < 0)
        return -1;
    if (kind == RT_SYSTEMD_NONE)
        return 0;
    struct rt_cgroup_systemd *s = locked(root, err);
    if (!s)
        return -1;
    _cleanup_(rt_cgroup_undo_fini) struct rt_cgroup_undo again = {0};
    int r = props.n > 0 ? set_props_locked(s, unit, &props, err) : 0;
    if (r == 0 && props.n > 0)
        r = files->apply(root, path, res, &again, err);
    if (r == 0)
        r = rt_sd_kept_set_locked(s, root, path, res, err);
    if (r == 0 && props.n > 0)
        rt_sd_kept_write_locked(s, path);
    pthread_mutex_unlock(&s->lock);
    return r;
}

static int sd_keep(const struct rt_cgroup_root *root, const char *path, const struct rt_cgroup_resources *res,
                   crisp_error_t **err)
{
    enum rt_systemd_unit_kind kind;
    _cleanup_free_ char *unit = NULL, *parent = NULL;
    if (rt_systemd_unit_of(path, &kind, &unit, &parent, err) < 0)
        return -1;
    if (kind == RT_SYSTEMD_NONE)
        return 0;
    struct rt_cgroup_systemd *s = root->systemd;
    pthread_mutex_lock(&s->lock);
    int r = rt_sd_kept_set_locked(s, root, path, res, err);
    if (r == 0)
        rt_sd_kept_write_locked(s, path);
    pthread_mutex_unlock(&s->lock);
    return r;
}

static bool has_children(const struct rt_cgroup_root *root, const char *path)
{
    _cleanup_free_ char *dir = hierarchy_dir(root, path);
    _cleanup_strv_ char **names = NULL;
    return !dir || rt_cgroup_list_subdirs(dir, &names, NULL) < 0 || (names && names[0]);
}

/* The pod's slice, then each parent crisp made that nothing else uses now (stopping a slice stops
 * everything in it). */
static int slices_stop_locked(const struct rt_cgroup_root *root, struct rt_cgroup_systemd *s,
                              const char *path, int depth, crisp_error_t **err)
{
    _cleanup_free_ char *p = strdup(path);
    if (!p)
        return crisp_error_oom(err);
    for (int i = 0; i < depth && strcmp(p, "/") != 0; i++) {
        if (has_children(root, p)) {
            if (i > 0)
                return 0;
            return crisp_error_make(err, EBUSY, "slice %s still has cgroups in it", strrchr(p, '/') + 1);
        }
        if (stop_unit_locked(s, strrchr(p, '/') + 1, err) < 0)
            return -1;
        *strrchr(p, '/') = '\0';
        if (!p[0])
            strcpy(p, "/");
    }
    return 0;
}

/* On v1 systemd 252 leaves a stopped scope's directory in its own (name=systemd) hierarchy when the
 * scope's last process (crisp-hold) was still on its way out as the stop ended; the pod's slice
 * can't go while it is there. The unit is gone, so the empty directory is nobody's but crisp's: the
 * file backend's removal (which waits out a busy directory) takes it. */
static int scope_leftover_remove(const struct rt_cgroup_root *root, const char *path, crisp_error_t **err)
{
    _cleanup_free_ char *base = rt_cgroup_join(root->mount, "systemd");
    return base ? rt_cgroup_remove_at(base, path, 1, err) : crisp_error_oom(err);
}

static int sd_remove(const struct rt_cgroup_root *root, const char *path,
                     const struct rt_cgroup_created *created, crisp_error_t **err)
{
    enum rt_systemd_unit_kind kind;
    _cleanup_free_ char *unit = NULL, *parent = NULL;
    int depth = rt_cgroup_created_max(created);
    if (rt_systemd_unit_of(path, &kind, &unit, &parent, err) < 0)
        return -1;
    if (kind != RT_SYSTEMD_NONE && depth > 0) {
        struct rt_cgroup_systemd *s = locked(root, err);
        if (!s)
            return -1;
        int r = kind == RT_SYSTEMD_SCOPE ? stop_unit_locked(s, unit, err)
                                         : slices_stop_locked(root, s, path, depth, err);
        if (r == 0)
            rt_sd_kept_drop_locked(s, path);
        pthread_mutex_unlock(&s->lock);
        if (r < 0 || (kind == RT_SYSTEMD_SCOPE && root->mode == RT_CGROUP_V1 &&
                      scope_leftover_remove(root, path, err) < 0))
            return -1;
    }
    /* What systemd left (v1 controllers it doesn't manage) or never knew (plain directories). */
    return rt_cgroup_files_ops(root)->remove(root, path, created, err);
}

/* On v1 systemd writes a scope's devices list itself whenever it applies the scope's properties
 * (a reload, an update), "a *:* rwm" unless told otherwise: so it is told the container's rules
 * first, and the files get crisp's exact list after. On v2 crisp's eBPF program is attached beside
 * systemd's (BPF_F_ALLOW_MULTI), which a reload leaves alone. */
static int sd_devices_restrict(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                               crisp_error_t **err)
{
    enum rt_systemd_unit_kind kind;
    _cleanup_free_ char *unit = NULL, *parent = NULL, *proc_devices = NULL;
    _cleanup_free_ struct rt_device_rule *rules = NULL;
    size_t n = 0;
    _cleanup_(rt_systemd_props_fini) struct rt_systemd_props props = {0};
    if (root->mode == RT_CGROUP_V1) {
        if (rt_systemd_unit_of(path, &kind, &unit, &parent, err) < 0)
            return -1;
        if (kind == RT_SYSTEMD_SCOPE && (rt_cgroup_devices_rules(extra_rules, &rules, &n, err) < 0 ||
                                         rt_cgroup_read_file("/proc/devices", &proc_devices, err) < 0 ||
                                         rt_systemd_props_devices(&props, rules, n, proc_devices, err) < 0))
            return -1;
    }
    if (props.n > 0) {
        struct rt_cgroup_systemd *s = locked(root, err);
        if (!s)
            return -1;
        int r = set_props_locked(s, unit, &props, err);
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
            return -1;
    }
    return rt_cgroup_files_ops(root)->devices_restrict(root, path, extra_rules, err);
}

static int sd_enter(const struct rt_cgroup_root *root, const char *path, pid_t pid, crisp_error_t **err)
{
    return rt_cgroup_files_ops(root)->enter(root, path, pid, err);
}

/* crisp-hold goes too: systemd then stops the emptied scope by itself, and StopUnit finds it gone. */
static int sd_kill_all(const struct rt_cgroup_root *root, const char *path, int timeout_ms,
                       crisp_error_t **err)
{
    return rt_cgroup_files_ops(root)->kill_all(root, path, timeout_ms, err);
}

static int sd_pids(const struct rt_cgroup_root *root, const char *path, pid_t **ret_pids, size_t *ret_n,
                   crisp_error_t **err)
{
    return rt_cgroup_files_ops(root)->pids(root, path, ret_pids, ret_n, err);
}

const struct rt_cgroup_ops rt_cgroup_systemd_ops = {
    .create = sd_create,
    .apply = sd_apply,
    .devices_restrict = sd_devices_restrict,
    .enter = sd_enter,
    .kill_all = sd_kill_all,
    .remove = sd_remove,
    .pids = sd_pids,
    .keep = sd_keep,
};

void rt_cgroup_systemd_free(struct rt_cgroup_systemd *s)
{
    if (!s)
        return;
    rt_sd_watcher_stop(s);
    rt_sd_kept_fini(s);
    sd_bus_flush_close_unref(s->bus);
    pthread_mutex_destroy(&s->lock);
    free(s->hold);
    free(s);
}

int rt_cgroup_root_use_systemd(struct rt_cgroup_root *root, const char *helper_dir, crisp_error_t **err)
{
    struct rt_cgroup_systemd *s = calloc(1, sizeof(*s));
    if (!s || asprintf(&s->hold, "%s/" HOLD_NAME, helper_dir) < 0) {
        free(s);
        return crisp_error_oom(err);
    }
    pthread_mutex_init(&s->lock, NULL);
    s->watcher_wake = -1;
    int r = access(s->hold, X_OK) < 0 ? crisp_error_errno(err, "%s", s->hold)
                                      : rt_sd_bus_connect_locked(s, err);
    if (r == 0)
        r = rt_sd_watcher_start(s, err);
    if (r < 0) {
        rt_cgroup_systemd_free(s);
        return crisp_error_wrap(err, "systemd cgroup driver");
    }
    root->systemd = s;
    root->ops = &rt_cgroup_systemd_ops;
    return 0;
}
