#define _GNU_SOURCE
#include "runtime/pod_ns.h"

#include "common/cleanup.h"
#include "common/strv.h"
#include "helpers/lib/proc_stat.h"
#include "runtime/spawn.h"
#include "runtime/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define INIT_KILL_WAIT_MS 1000

static const char *const pin_names[] = {"net", "ipc", "uts", "pid", "user"};

static const char **helper_argv(const struct rt_pod_ns_options *o)
{
    size_t max = 16 + 2 * strv_length(o->sysctls) + 2 * strv_length(o->cgroup_procs);
    const char **argv = calloc(max, sizeof(char *));
    if (!argv)
        return NULL;
    size_t n = 0;
    argv[n++] = o->helper;
    argv[n++] = "--dir";
    argv[n++] = o->dir;
    const bool on[] = {o->net, o->ipc, o->uts, o->pid};
    static const char *const flags[] = {"--net", "--ipc", "--uts", "--pid"};
    for (size_t i = 0; i < ARRAY_SIZE(flags); i++)
        if (on[i])
            argv[n++] = flags[i];
    if (o->userns) {
        argv[n++] = "--userns";
        argv[n++] = "--uid-map";
        argv[n++] = o->uid_map;
        argv[n++] = "--gid-map";
        argv[n++] = o->gid_map;
    }
    if (o->hostname) {
        argv[n++] = "--hostname";
        argv[n++] = o->hostname;
    }
    for (size_t i = 0; i < strv_length(o->sysctls); i++) {
        argv[n++] = "--sysctl";
        argv[n++] = o->sysctls[i];
    }
    for (size_t i = 0; i < strv_length(o->cgroup_procs); i++) {
        argv[n++] = "--cgroup-procs";
        argv[n++] = o->cgroup_procs[i];
    }
    return argv;
}

static int parse_init_pid(const char *out, pid_t *ret, crisp_error_t **err)
{
    int pid = -1, end = -1;
    if (sscanf(out, " { \"init_pid\" : %d } %n", &pid, &end) != 1 || end < 0 || out[end] != '\0' || pid < 0)
        return crisp_error_make(err, EIO, "crisp-pinns printed an unexpected result: %.200s", out);
    *ret = pid;
    return 0;
}

/* The helper's stderr is one line saying what failed and why; that line is the error. */
static int helper_failure(int status, char *errs, crisp_error_t **err)
{
    errs[strcspn(errs, "\n")] = '\0';
    if (errs[0])
        return crisp_error_make(err, EIO, "%s", errs);
    if (WIFSIGNALED(status))
        return crisp_error_make(err, EIO, "crisp-pinns killed by signal %d", WTERMSIG(status));
    return crisp_error_make(err, EIO, "crisp-pinns exited with status %d", WEXITSTATUS(status));
}

/* *ret_undone tells whether a failed helper cleaned up after itself: it does when it reports the
 * failure, not when it was killed or never ran to the end. */
static int helper_create(const struct rt_pod_ns_options *o, pid_t *ret_init_pid, bool *ret_undone,
                         crisp_error_t **err)
{
    _cleanup_free_ const char **argv = helper_argv(o);
    *ret_undone = false;
    if (!argv)
        return crisp_error_oom(err);
    const struct rt_spawn_options so = {.argv = (char *const *)argv,
                                        .timeout_ms = RT_POD_NS_HELPER_TIMEOUT_MS,
                                        .max_output = RT_POD_NS_HELPER_OUTPUT_MAX};
    _cleanup_(rt_spawn_result_fini) struct rt_spawn_result res = {0};
    if (rt_spawn_run(&so, &res, err) < 0)
        return -1;
    if (res.timed_out)
        return crisp_error_make(err, ETIMEDOUT, "crisp-pinns did not finish in %d s",
                                RT_POD_NS_HELPER_TIMEOUT_MS / 1000);
    int status = res.wait_status;
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        *ret_undone = true;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return helper_failure(status, res.err_out.data, err);
    return parse_init_pid(res.out.data, ret_init_pid, err);
}

static int pin_remove(const char *dir, const char *name, crisp_error_t **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return crisp_error_oom(err);
    /* Unmount until nothing is mounted there: a pin may have been mounted twice. */
    while (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        ;
    if (errno != EINVAL && errno != ENOENT)
        return crisp_error_errno(err, "unmount %s", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return crisp_error_errno(err, "remove %s", path);
    return 0;
}

static int pins_remove(const char *dir, crisp_error_t **err)
{
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(pin_names); i++)
        if (pin_remove(dir, pin_names[i], err) < 0)
            r = -1;
    return r;
}

int rt_pod_ns_create(const struct rt_pod_ns_options *o, pid_t *ret_init_pid, crisp_error_t **err)
{
    bool created = mkdir(o->dir, 0700) == 0;
    if (!created && errno != EEXIST)
        return crisp_error_errno(err, "mkdir %s", o->dir);
    pid_t init_pid = 0;
    bool undone = false;
    if (helper_create(o, &init_pid, &undone, err) < 0) {
        if (!undone)
            pins_remove(o->dir, NULL);
        if (created)
            rmdir(o->dir);
        return -1;
    }
    *ret_init_pid = init_pid;
    return 0;
}

/* State and start time of /proc/pid/stat; -errno on failure, -ENOENT when the process is gone. */
static int proc_stat_read(pid_t pid, struct hl_proc_stat *ret)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    return hl_proc_stat_read(AT_FDCWD, path, ret);
}

int rt_proc_start_time(pid_t pid, uint64_t *ret, crisp_error_t **err)
{
    struct hl_proc_stat st;
    int r = proc_stat_read(pid, &st);
    if (r == -ENOENT)
        return crisp_error_make(err, ENOENT, "no process %d", (int)pid);
    if (r < 0) {
        errno = -r;
        return crisp_error_errno(err, "read /proc/%d/stat", (int)pid);
    }
    *ret = st.start_time;
    return 0;
}

int rt_pod_ns_destroy(const char *dir, pid_t init_pid, uint64_t init_start_time, crisp_error_t **err)
{
    int r = 0;
    if (init_pid > 0 &&
        rt_proc_kill_checked(init_pid, init_start_time, INIT_KILL_WAIT_MS, "pod init", err) < 0)
        r = -1;
    if (pins_remove(dir, err) < 0)
        r = -1;
    if (r == 0 && rmdir(dir) < 0 && errno != ENOENT)
        r = crisp_error_errno(err, "remove %s", dir);
    return r;
}
