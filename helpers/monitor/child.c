/* The container process between clone and exec: joins the pod's namespaces, builds its root, takes
 * the workload's identity and stdio, execs. Every failure goes to the monitor through the
 * close-on-exec error pipe as `int32 exit code` + "<step>: <error>", then the process exits. */
#define _GNU_SOURCE
#include "monitor.h"
#include "helpers/lib/caps_apply.h"
#include "helpers/lib/seccomp_load.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static _Noreturn void child_die(int error_fd, int exit_code)
{
    char buf[sizeof(int32_t) + 512];
    int32_t code = exit_code;
    size_t len = strnlen(mon_error(), sizeof buf - sizeof code);
    memcpy(buf, &code, sizeof code);
    memcpy(buf + sizeof code, mon_error(), len);
    mon_write_all(error_fd, buf, sizeof code + len); /* below PIPE_BUF: one atomic write */
    _exit(exit_code);
}

/* EOF instead of the byte: the monitor could not place us and gave up. */
static void release_wait(int fd)
{
    char byte;
    ssize_t n;
    while ((n = read(fd, &byte, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(1);
    close(fd);
}

/* Our own session, so that a pty can become the controlling terminal. */
static int session_new(void)
{
    return setsid() < 0 ? mon_fail(errno, "setsid") : 0;
}

static int ns_join(const char *path, int type, const char *what)
{
    if (strcmp(path, "host") == 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mon_fail(errno, "open %s namespace %s", what, path);
    int rc = setns(fd, type);
    int saved = errno;
    close(fd);
    return rc < 0 ? mon_fail(saved, "join %s namespace %s", what, path) : 0;
}

static int namespaces_join(const struct mon_spec *spec)
{
    if (ns_join(spec->ns_net, CLONE_NEWNET, "network") < 0 || ns_join(spec->ns_ipc, CLONE_NEWIPC, "ipc") < 0 ||
        ns_join(spec->ns_uts, CLONE_NEWUTS, "uts") < 0)
        return -1;
    return 0;
}

/* Slave, so that host mounts still reach us but nothing we mount or unmount leaks back. */
/* A read-only root can't get its working directory later: make it while the root is writable. */
static int cwd_prepare(const struct mon_spec *spec, int rootfd)
{
    int fd = mon_root_mkdir_p(rootfd, spec->cwd, 0755, true, mon_host_uid(spec, spec->uid),
                              mon_host_gid(spec, spec->gid));
    if (fd < 0)
        return mon_fail(errno, "create cwd %s", spec->cwd);
    close(fd);
    return 0;
}

static int rootfs_build(const struct mon_spec *spec)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return mon_fail(errno, "make / a slave mount");
    if (mon_rootfs_mount(spec) < 0)
        return -1;
    int rootfd = open(spec->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return mon_fail(errno, "open %s", spec->mountpoint);
    int rc = mon_mounts_apply(spec, rootfd);
    if (rc == 0)
        rc = mon_devices_create(spec, rootfd);
    if (rc == 0 && spec->readonly_rootfs)
        rc = cwd_prepare(spec, rootfd);
    if (rc == 0)
        rc = mon_paths_protect(spec, rootfd);
    close(rootfd);
    return rc < 0 ? -1 : mon_rootfs_pivot(spec->mountpoint);
}

static int cwd_enter(const struct mon_spec *spec)
{
    int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = root < 0 ? -1
                      : mon_root_mkdir_p(root, spec->cwd, 0755, true, mon_host_uid(spec, spec->uid),
                                         mon_host_gid(spec, spec->gid));
    int saved = errno;
    if (root >= 0)
        close(root);
    if (fd < 0)
        return mon_fail(saved, "create cwd %s", spec->cwd);
    close(fd);
    if (chdir(spec->cwd) < 0)
        return mon_fail(errno, "chdir %s", spec->cwd);
    return 0;
}

/* The container's seccomp filter, read while the state dir is still in reach; len 0: unconfined. */
static struct sock_fprog seccomp_prog;

static int seccomp_read(const struct mon_spec *spec)
{
    if (spec->seccomp_path[0] && rt_seccomp_bpf_read(spec->seccomp_path, &seccomp_prog) < 0)
        return mon_fail(errno, "read seccomp filter %s", spec->seccomp_path);
    return 0;
}

static int seccomp_load(const struct mon_spec *spec)
{
    if (seccomp_prog.len && rt_seccomp_bpf_load(&seccomp_prog, spec->seccomp_flags) < 0)
        return mon_fail(errno, "load the seccomp filter");
    return 0;
}

/* After every mount: those need root. The bounding set while we may still cut it, then groups, gid
 * and uid, then the capabilities the workload keeps. Without no_new_privs the kernel takes a seccomp
 * filter only from a holder of CAP_SYS_ADMIN, so then it goes in before the credentials change (as runc
 * does); with no_new_privs it is the last thing before exec. */
static int identity_take(const struct mon_spec *spec)
{
    int rc;
    if (spec->has_capabilities && (rc = caps_apply_bounding(spec->capabilities)) != 0)
        return mon_fail(rc, "drop capabilities from the bounding set");
    if (!spec->no_new_privs && seccomp_load(spec) < 0)
        return -1;
    if ((rc = caps_keep_for_setuid(spec->ambient_capabilities)) != 0)
        return mon_fail(rc, "keep capabilities across setuid");
    if (setgroups(spec->n_groups, spec->groups) < 0)
        return mon_fail(errno, "setgroups");
    if (setgid(spec->gid) < 0)
        return mon_fail(errno, "setgid %u", (unsigned)spec->gid);
    if (setuid(spec->uid) < 0)
        return mon_fail(errno, "setuid %u", (unsigned)spec->uid);
    if (spec->has_capabilities && (rc = caps_apply_process(spec->capabilities, spec->uid == 0, spec->ambient_capabilities)) != 0)
        return mon_fail(rc, "set capabilities");
    if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return mon_fail(errno, "set no_new_privs");
    return 0;
}

static int stdio_install(const struct mon_stdio *io)
{
    if (io->tty && ioctl(io->child_out, TIOCSCTTY, 0) < 0)
        return mon_fail(errno, "make the pty our controlling terminal");
    if (dup2(io->child_in, 0) < 0 || dup2(io->child_out, 1) < 0 || dup2(io->child_err, 2) < 0)
        return mon_fail(errno, "set up stdio");
    return 0;
}

/* Close-on-exec rather than closed, so the error pipe still works if exec fails. */
static int fds_close_on_exec(void)
{
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    for (int fd = 3; fd < 65536; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

static int exit_code_for_exec(int err)
{
    return err == ENOENT ? 127 : err == EACCES || err == ENOEXEC ? 126 : 1;
}

_Noreturn void mon_child_run(const struct mon_spec *spec, struct mon_stdio *io, ssize_t born_in, int release_fd,
                             int error_fd)
{
    mon_signals_reset();
    release_wait(release_fd);
    if (mon_cgroup_join_self(spec, born_in) < 0)
        child_die(error_fd, 1);
    umask(0); /* modes of what we create are exact; the workload gets the usual 022 */
    if (session_new() < 0 || seccomp_read(spec) < 0 || mon_userns_open(spec) < 0 || namespaces_join(spec) < 0 || rootfs_build(spec) < 0 || mon_stdio_terminal_open(io) < 0 || cwd_enter(spec) < 0 ||
        mon_lsm_apply(spec) < 0 || mon_userns_enter() < 0 || identity_take(spec) < 0 || stdio_install(io) < 0 || fds_close_on_exec() < 0)
        child_die(error_fd, 1);
    umask(022);
    if (spec->no_new_privs && seccomp_load(spec) < 0)
        child_die(error_fd, 1);
    mon_exec(spec);
    int err = errno;
    mon_fail(err, "exec %s", spec->args[0]);
    child_die(error_fd, exit_code_for_exec(err));
}
