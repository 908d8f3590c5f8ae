/* Undoing a pod, step by step and idempotently, so a failed or crashed stop, remove or run can be
 * taken up again: its processes, network, namespaces and /dev/shm, then its cgroup and directory. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/crash_point.h"
#include "common/file.h"
#include "runtime/pod_ns.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#define STOP_KILL_TIMEOUT_MS 5000
#define MOUNTINFO_MAX (16 << 20)

void rt_sandbox_crash_point(const char *op, const char *step)
{
    if (__builtin_expect(crisp_crash_point_hook == NULL, 1))
        return;
    char name[96];
    snprintf(name, sizeof(name), "pod.%s.after_%s", op, step);
    crisp_crash_point(name);
}

static void teardown_processes(struct rt_runtime *rt, struct rt_sandbox *sb)
{
    if (sb->info.cgroup_path && sb->info.cgroup_path[0])
        rt_cgroup_kill_all(&rt->cgroups, sb->info.cgroup_path, STOP_KILL_TIMEOUT_MS, NULL);
}

static int teardown_namespaces(struct rt_sandbox *sb, crisp_error_t **err)
{
    _cleanup_free_ char *dir = path_join(sb->info.dir, "ns");
    if (!dir)
        return crisp_error_oom(err);
    if (rt_pod_ns_destroy(dir, sb->info.init_pid, sb->init_start, err) < 0)
        return -1;
    pthread_mutex_lock(&sb->info_lock);
    sb->info.init_pid = 0;
    pthread_mutex_unlock(&sb->info_lock);
    return 0;
}

/* Tried even when the record doesn't say it is mounted: a crash may have come between the mount and
 * the next record. */
static int teardown_shm(struct rt_sandbox *sb, crisp_error_t **err)
{
    _cleanup_free_ char *shm = path_join(sb->info.dir, "shm");
    if (!shm)
        return crisp_error_oom(err);
    while (umount2(shm, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        ;
    if (errno != EINVAL && errno != ENOENT)
        return crisp_error_errno(err, "unmount %s", shm);
    sb->shm_mounted = false;
    return 0;
}

int rt_sandbox_teardown_running(struct rt_runtime *rt, struct rt_sandbox *sb, const char *op,
                                crisp_error_t **err)
{
    teardown_processes(rt, sb);
    rt_sandbox_crash_point(op, "processes");
    if (rt_sandbox_network_teardown(rt, sb, err) < 0)
        return -1;
    rt_sandbox_crash_point(op, "network");
    if (teardown_namespaces(sb, err) < 0)
        return -1;
    rt_sandbox_crash_point(op, "namespaces");
    if (teardown_shm(sb, err) < 0)
        return -1;
    rt_sandbox_crash_point(op, "shm");
    return 0;
}

static int teardown_cgroup(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    if (sb->info.cgroup_path && sb->info.cgroup_path[0] && rt_cgroup_created_max(&sb->cgroup_created) > 0 &&
        rt_cgroup_remove(&rt->cgroups, sb->info.cgroup_path, &sb->cgroup_created, err) < 0)
        return -1;
    sb->cgroup_created = (struct rt_cgroup_created){0};
    return 0;
}

int rt_sandbox_teardown_all(struct rt_runtime *rt, struct rt_sandbox *sb, const char *op, crisp_error_t **err)
{
    if (rt_sandbox_teardown_running(rt, sb, op, err) < 0 || teardown_cgroup(rt, sb, err) < 0)
        return -1;
    rt_sandbox_crash_point(op, "cgroup");
    return dir_remove_all(sb->info.dir, err);
}

/* Keeps the first failure in err; r is the step's result. */
static int keep(int r, int *ret)
{
    if (r < 0)
        *ret = -1;
    return r;
}

int rt_sandbox_rollback(struct rt_runtime *rt, struct rt_sandbox *sb, crisp_error_t **err)
{
    int r = 0;
    teardown_processes(rt, sb);
    rt_sandbox_network_teardown(rt, sb, NULL);
    sb->network_up = false;
    rt_sandbox_crash_point("rollback", "network");
    keep(teardown_namespaces(sb, r < 0 ? NULL : err), &r);
    keep(teardown_shm(sb, r < 0 ? NULL : err), &r);
    keep(rt_sandbox_unmount_below(sb->info.dir, r < 0 ? NULL : err), &r);
    keep(teardown_cgroup(rt, sb, r < 0 ? NULL : err), &r);
    rt_sandbox_crash_point("rollback", "cgroup");
    if (r == 0)
        return dir_remove_all(sb->info.dir, err);
    sb->phase = RT_SANDBOX_PHASE_CREATING;
    rt_sandbox_persist(sb, NULL);
    return -1;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
    char *out = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
            s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* The mount point (field 5) of a mountinfo line if it is dir or below it, else NULL. */
static char *mount_point_below(char *line, const char *dir, size_t dir_len)
{
    char *field = line;
    for (int i = 0; i < 4 && field; i++)
        if ((field = strchr(field, ' ')))
            field++;
    if (!field)
        return NULL;
    field[strcspn(field, " ")] = '\0';
    unescape(field);
    return strncmp(field, dir, dir_len) == 0 && (field[dir_len] == '/' || field[dir_len] == '\0') ? field
                                                                                                  : NULL;
}

static int deeper_first(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

int rt_sandbox_unmount_below(const char *dir, crisp_error_t **err)
{
    _cleanup_free_ char *text = NULL;
    if (file_read_bounded("/proc/self/mountinfo", MOUNTINFO_MAX, &text, NULL, err) < 0)
        return -1;
    size_t n = 0, cap = 16, dir_len = strlen(dir);
    _cleanup_free_ char **points = malloc(cap * sizeof(char *));
    if (!points)
        return crisp_error_oom(err);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p = mount_point_below(line, dir, dir_len);
        if (!p)
            continue;
        if (n == cap) {
            char **grown = realloc(points, (cap *= 2) * sizeof(char *));
            if (!grown)
                return crisp_error_oom(err);
            points = grown;
        }
        points[n++] = p;
    }
    qsort(points, n, sizeof(char *), deeper_first);
    for (size_t i = 0; i < n; i++)
        if (umount2(points[i], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
            return crisp_error_errno(err, "unmount %s", points[i]);
    return 0;
}
