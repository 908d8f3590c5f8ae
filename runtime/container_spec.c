#define _GNU_SOURCE
#include "runtime/container_spec.h"

#include "common/cleanup.h"
#include "common/file.h"
#include "helpers/lib/spec_keys.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

void rt_spec_put(FILE *f, const char *key, const char *value)
{
    fprintf(f, "%s ", key);
    for (const char *p = value ? value : ""; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fputc('\n', f);
}

void rt_spec_putf(FILE *f, const char *key, const char *fmt, ...)
{
    _cleanup_free_ char *v = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&v, fmt, ap);
    va_end(ap);
    if (n >= 0)
        rt_spec_put(f, key, v);
}

static void put_mount(FILE *f, const char *dest, const char *source, const char *type, const char *options,
                      const char *propagation)
{
    rt_spec_put(f, SPEC_KEY_MOUNT_DESTINATION, dest);
    rt_spec_put(f, SPEC_KEY_MOUNT_SOURCE, source);
    rt_spec_put(f, SPEC_KEY_MOUNT_TYPE, type);
    rt_spec_put(f, SPEC_KEY_MOUNT_OPTIONS, options);
    if (propagation)
        rt_spec_put(f, SPEC_KEY_MOUNT_PROPAGATION, propagation);
}

static bool requested(const struct rt_container_spec *s, const char *dest)
{
    for (size_t i = 0; i < s->n_mounts; i++)
        if (strcmp(s->mounts[i].container_path, dest) == 0)
            return true;
    return false;
}

/* /proc, /dev and friends, /sys, and the pod's shared files, unless the request mounts its own. */
static void put_standard_mounts(FILE *f, const struct rt_spec_context *c)
{
    put_mount(f, "/proc", "proc", "proc", "nosuid,noexec,nodev", NULL);
    put_mount(f, "/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k", NULL);
    /* The tty group (5) as the container sees it. */
    char devpts[128];
    snprintf(devpts, sizeof(devpts), "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=%u",
             c->pod->userns.enabled ? c->pod->userns.gid + 5 : 5);
    put_mount(f, "/dev/pts", "devpts", "devpts", devpts, NULL);
    put_mount(f, "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev", NULL);
    put_mount(f, "/sys", "sysfs", "sysfs",
              c->spec->privileged ? "rw,nosuid,noexec,nodev" : "ro,nosuid,noexec,nodev", NULL);
    _cleanup_free_ char *shm = NULL;
    if (c->pod->ipc_mode == RT_NS_NODE)
        put_mount(f, "/dev/shm", "/dev/shm", "bind", "nosuid,nodev,noexec", "private");
    else if (asprintf(&shm, "%s/shm", c->pod->dir) >= 0)
        put_mount(f, "/dev/shm", shm, "bind", "nosuid,nodev,noexec", "private");
    static const char *const files[][2] = {
        {"/etc/hosts", "hosts"}, {"/etc/resolv.conf", "resolv.conf"}, {"/etc/hostname", "hostname"}};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        _cleanup_free_ char *src = NULL;
        if (!requested(c->spec, files[i][0]) && asprintf(&src, "%s/%s", c->pod->dir, files[i][1]) >= 0)
            put_mount(f, files[i][0], src, "bind", "nosuid,nodev,noexec", "private");
    }
}

/* The container sees its own cgroup, read-only, where cgroup tools look for it. On v2 it is also the
 * root of the container's cgroup namespace (put_namespaces), so the mount's root reads as "/" in
 * its /proc/self/mountinfo, as a cgroup2 mount made inside that namespace would. */
static void put_cgroup_mounts(FILE *f, const struct rt_spec_context *c)
{
    const char *opts = c->spec->privileged ? "rw,nosuid,nodev,noexec" : "ro,nosuid,nodev,noexec";
    if (c->cgroups->mode == RT_CGROUP_V2) {
        _cleanup_free_ char *src = NULL;
        if (asprintf(&src, "%s%s", c->cgroups->mount, c->cgroup_path) >= 0)
            put_mount(f, "/sys/fs/cgroup", src, "bind", opts, "private");
        return;
    }
    static const char *const ctrls[] = {"cpu",   "cpuacct", "cpuset",  "memory", "pids",
                                        "blkio", "devices", "freezer", "hugetlb"};
    put_mount(f, "/sys/fs/cgroup", "tmpfs", "tmpfs", "nosuid,nodev,noexec,mode=755,size=64k", NULL);
    for (size_t i = 0; i < sizeof(ctrls) / sizeof(ctrls[0]); i++) {
        _cleanup_free_ char *src = NULL, *dst = NULL;
        struct stat st;
        if (asprintf(&src, "%s/%s%s", c->cgroups->mount, ctrls[i], c->cgroup_path) < 0 ||
            asprintf(&dst, "/sys/fs/cgroup/%s", ctrls[i]) < 0 || stat(src, &st) < 0)
            continue;
        put_mount(f, dst, src, "bind", opts, "private");
    }
}

static const char *propagation_name(enum rt_propagation p)
{
    return p == RT_PROPAGATION_BIDIRECTIONAL       ? "rshared"
           : p == RT_PROPAGATION_HOST_TO_CONTAINER ? "rslave"
                                                   : "private";
}

/* In a user namespace, volumes are idmapped: files keep their owners on disk, and the container's
 * root sees what the host's root owns as its own. */
static void put_request_mounts(FILE *f, const struct rt_container_spec *s, bool idmap)
{
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct rt_mount *m = &s->mounts[i];
        char options[32];
        snprintf(options, sizeof(options), "%s%s%s%s", m->readonly ? "ro" : "rw", m->noexec ? ",noexec" : "",
                 m->nosuid ? ",nosuid" : "", m->nodev ? ",nodev" : "");
        put_mount(f, m->container_path, m->host_path, "bind", options, propagation_name(m->propagation));
        if (m->recursive_readonly)
            rt_spec_put(f, SPEC_KEY_MOUNT_RECURSIVE_RO, "1");
        if (idmap)
            rt_spec_put(f, SPEC_KEY_MOUNT_IDMAP, "1");
    }
}

static void put_device(FILE *f, const char *path, char type, unsigned major, unsigned minor, unsigned mode)
{
    rt_spec_put(f, SPEC_KEY_DEVICE_PATH, path);
    rt_spec_putf(f, SPEC_KEY_DEVICE_TYPE, "%c", type);
    rt_spec_putf(f, SPEC_KEY_DEVICE_MAJOR, "%u", major);
    rt_spec_putf(f, SPEC_KEY_DEVICE_MINOR, "%u", minor);
    rt_spec_putf(f, SPEC_KEY_DEVICE_MODE, "%04o", mode);
    rt_spec_put(f, SPEC_KEY_DEVICE_UID, "0");
    rt_spec_put(f, SPEC_KEY_DEVICE_GID, "0");
}

/* The request's devices come first: the monitor keeps the first node made at a path. */
static void put_request_devices(FILE *f, const struct rt_spec_context *c)
{
    for (size_t i = 0; i < c->spec->n_devices; i++)
        put_device(f, c->devices[i].container_path, c->devices[i].type, c->devices[i].major,
                   c->devices[i].minor, c->devices[i].mode);
}

/* What a privileged container gets: every device node of the host's /dev, bar the directories the
 * container has its own instances of. */
static bool host_dev_skipped(const char *path)
{
    static const char *const skip[] = {"/dev/pts", "/dev/shm",     "/dev/mqueue",
                                       "/dev/fd",  "/dev/console", NULL};
    for (const char *const *p = skip; *p; p++)
        if (strcmp(path, *p) == 0)
            return true;
    return false;
}

static void put_host_devices_in(FILE *f, const char *dir, int depth)
{
    _cleanup_closedir_ DIR *d = depth < 4 ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        struct stat st;
        if (e->d_name[0] == '.' || asprintf(&path, "%s/%s", dir, e->d_name) < 0 || host_dev_skipped(path) ||
            lstat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            put_host_devices_in(f, path, depth + 1);
        else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
            put_device(f, path, S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev), minor(st.st_rdev),
                       st.st_mode & 07777);
    }
}

static void put_devices(FILE *f, const struct rt_spec_context *c)
{
    static const struct {
        const char *path;
        unsigned major, minor;
    } std[] = {
        {"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
        {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
    };
    put_request_devices(f, c);
    for (size_t i = 0; i < sizeof(std) / sizeof(std[0]); i++)
        put_device(f, std[i].path, 'c', std[i].major, std[i].minor, 0666);
    if (c->spec->privileged)
        put_host_devices_in(f, "/dev", 0);
}

static const char *ns_path(const struct rt_sandbox_info *pod, enum rt_ns_mode mode, const char *name,
                           char *buf, size_t size)
{
    if (mode == RT_NS_NODE)
        return "host";
    snprintf(buf, size, "%s/ns/%s", pod->dir, name);
    return buf;
}

static void put_process(FILE *f, const struct rt_spec_context *c)
{
    const struct rt_container_spec *s = c->spec;
    for (char *const *a = s->argv; *a; a++)
        rt_spec_put(f, SPEC_KEY_ARG, *a);
    for (char *const *e = s->env; e && *e; e++)
        rt_spec_put(f, SPEC_KEY_ENV, *e);
    rt_spec_put(f, SPEC_KEY_CWD, s->cwd);
    rt_spec_putf(f, SPEC_KEY_UID, "%u", (unsigned)s->uid);
    rt_spec_putf(f, SPEC_KEY_GID, "%u", (unsigned)s->gid);
    for (size_t i = 0; i < s->n_groups; i++)
        rt_spec_putf(f, SPEC_KEY_GROUP, "%u", (unsigned)s->groups[i]);
    rt_spec_putf(f, SPEC_KEY_CAPABILITIES, "%016llx", (unsigned long long)s->capabilities);
    if (s->ambient_capabilities)
        rt_spec_putf(f, SPEC_KEY_CAPABILITIES_AMBIENT, "%016llx",
                     (unsigned long long)s->ambient_capabilities);
    rt_spec_put(f, SPEC_KEY_NO_NEW_PRIVS, s->no_new_privs ? "1" : "0");
    rt_spec_put(f, SPEC_KEY_READONLY_ROOTFS, s->readonly_rootfs ? "1" : "0");
    for (char *const *m = s->masked_paths; m && *m; m++)
        rt_spec_put(f, SPEC_KEY_MASKED, *m);
    for (char *const *r = s->readonly_paths; r && *r; r++)
        rt_spec_put(f, SPEC_KEY_READONLY, *r);
    rt_spec_put(f, SPEC_KEY_TTY, s->tty ? "1" : "0");
    rt_spec_put(f, SPEC_KEY_STDIN, s->stdin_open ? "1" : "0");
    rt_spec_put(f, SPEC_KEY_STDIN_ONCE, s->stdin_once ? "1" : "0");
}

static void put_namespaces(FILE *f, const struct rt_spec_context *c)
{
    char buf[3][4096];
    const struct rt_sandbox_info *pod = c->pod;
    rt_spec_put(f, SPEC_KEY_NS_NET, ns_path(pod, pod->net_mode, "net", buf[0], sizeof(buf[0])));
    rt_spec_put(f, SPEC_KEY_NS_IPC, ns_path(pod, pod->ipc_mode, "ipc", buf[1], sizeof(buf[1])));
    rt_spec_put(f, SPEC_KEY_NS_UTS, ns_path(pod, pod->net_mode, "uts", buf[2], sizeof(buf[2])));
    rt_spec_put(f, SPEC_KEY_NS_PID, c->pid_ns);
    /* As kubelet expects on v2 (containerd's and CRI-O's default there): the container's own cgroup is
     * its root, so /proc/self/cgroup reads "0::/" and cgroup paths don't reveal the host's layout. On
     * v1, where the controllers' paths are bind-mounted one by one, the host's namespace stays. */
    rt_spec_put(f, SPEC_KEY_NS_CGROUP, c->cgroups->mode == RT_CGROUP_V2 ? "new" : "host");
    if (pod->userns.enabled) {
        char user[4096];
        snprintf(user, sizeof(user), "%s/ns/user", pod->dir);
        rt_spec_put(f, SPEC_KEY_NS_USER, user);
        rt_spec_putf(f, SPEC_KEY_USERNS_UID, "%u", pod->userns.uid);
        rt_spec_putf(f, SPEC_KEY_USERNS_GID, "%u", pod->userns.gid);
    }
}

int rt_spec_write(const char *path, const struct rt_spec_context *c, crisp_error_t **err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return crisp_error_oom(err);
    rt_spec_put(f, SPEC_KEY_ID, c->id);
    for (char *const *l = c->spec->lowerdirs; *l; l++)
        rt_spec_put(f, SPEC_KEY_ROOTFS_LOWER, *l);
    rt_spec_put(f, SPEC_KEY_ROOTFS_UPPER, c->upper);
    rt_spec_put(f, SPEC_KEY_ROOTFS_WORK, c->work);
    rt_spec_put(f, SPEC_KEY_ROOTFS_MOUNTPOINT, c->rootfs);
    put_process(f, c);
    put_namespaces(f, c);
    put_standard_mounts(f, c);
    put_cgroup_mounts(f, c);
    put_request_mounts(f, c->spec, c->pod->userns.enabled);
    put_devices(f, c);
    for (char *const *p = c->cgroup_procs; *p; p++)
        rt_spec_put(f, SPEC_KEY_CGROUP_PROCS, *p);
    if (c->spec->has_oom_score_adj)
        rt_spec_putf(f, SPEC_KEY_OOM_SCORE_ADJ, "%d", c->spec->oom_score_adj);
    rt_spec_put(f, SPEC_KEY_LOG_PATH, c->spec->log_path);
    rt_spec_put(f, SPEC_KEY_EXIT_FILE, c->exit_file);
    rt_spec_put(f, SPEC_KEY_ATTACH_SOCKET, c->attach_socket);
    if (c->seccomp_path) {
        rt_spec_put(f, SPEC_KEY_SECCOMP_PATH, c->seccomp_path);
        rt_spec_putf(f, SPEC_KEY_SECCOMP_FLAGS, "%u", c->seccomp_flags);
    }
    if (c->spec->apparmor_profile)
        rt_spec_put(f, SPEC_KEY_APPARMOR_PROFILE, c->spec->apparmor_profile);
    if (c->spec->selinux_label)
        rt_spec_put(f, SPEC_KEY_SELINUX_LABEL, c->spec->selinux_label);
    rt_spec_put(f, SPEC_KEY_OOM_V1_CONTROL, c->oom_v1_control);
    rt_spec_put(f, SPEC_KEY_OOM_V2_EVENTS, c->oom_v2_events);
    if (fclose(f) != 0)
        return crisp_error_oom(err);
    return file_write_replace(path, text, len, 0600, err);
}
