/* The container process between clone and exec: joins the pod's namespaces, builds its root, takes
 * the workload's identity and stdio, execs. Every failure goes to the monitor through the
 * close-on-exec error pipe as `int32 exit code` + "<step>: <error>", then the process exits. */
#define _GNU_SOURCE
#include "helpers/lib/cred.h"
#include "helpers/lib/seccomp_load.h"
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static _Noreturn void child_die(int error_fd, int exit_code)
{
    char buf[sizeof(int32_t) + 512];
    int32_t code = exit_code;
    size_t len = strnlen(hl_error(), sizeof buf - sizeof code);
    memcpy(buf, &code, sizeof code);
    memcpy(buf + sizeof code, hl_error(), len);
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
    return setsid() < 0 ? hl_fail(errno, "setsid") : 0;
}

static int ns_join(const char *path, int type, const char *what)
{
    if (strcmp(path, "host") == 0)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hl_fail(errno, "open %s namespace %s", what, path);
    int rc = setns(fd, type);
    int saved = errno;
    close(fd);
    return rc < 0 ? hl_fail(saved, "join %s namespace %s", what, path) : 0;
}

/* After the cgroups are joined: a new cgroup namespace is rooted at the cgroup of its creator. Made as
 * the host's root, before the pod's user namespace, so that only the host can join it (crisp-exec). */
static int cgroup_ns_new(const struct mon_spec *spec)
{
    if (spec->ns_cgroup_new && unshare(CLONE_NEWCGROUP) < 0)
        return hl_fail(errno, "new cgroup namespace");
    return 0;
}

static int namespaces_join(const struct mon_spec *spec)
{
    if (ns_join(spec->ns_net, CLONE_NEWNET, "network") < 0 ||
        ns_join(spec->ns_ipc, CLONE_NEWIPC, "ipc") < 0 || ns_join(spec->ns_uts, CLONE_NEWUTS, "uts") < 0)
        return -1;
    return 0;
}

/* A read-only root can't get its working directory later: make it while the root is writable. */
static int cwd_prepare(const struct mon_spec *spec, int rootfd)
{
    int fd = mon_root_mkdir_p(rootfd, spec->cwd, 0755, true, mon_host_uid(spec, spec->uid),
                              mon_host_gid(spec, spec->gid));
    if (fd < 0)
        return hl_fail(errno, "create cwd %s", spec->cwd);
    close(fd);
    return 0;
}

static int rootfs_build(const struct mon_spec *spec)
{
    /* Slave, so that host mounts still reach us but nothing we mount or unmount leaks back; the
     * bidirectional volumes are cloned first, as peers of the host's mounts. */
    if (mon_mounts_hold_shared(spec) < 0)
        return -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return hl_fail(errno, "make / a slave mount");
    if (mon_rootfs_mount(spec) < 0)
        return -1;
    int rootfd = open(spec->mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return hl_fail(errno, "open %s", spec->mountpoint);
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
        return hl_fail(saved, "create cwd %s", spec->cwd);
    close(fd);
    if (chdir(spec->cwd) < 0)
        return hl_fail(errno, "chdir %s", spec->cwd);
    return 0;
}

/* The workload's credentials, with its seccomp filter read while the state dir is still in reach. */
static struct hl_cred cred;

static int cred_prepare(const struct mon_spec *spec)
{
    cred = (struct hl_cred){.uid = spec->uid,
                            .gid = spec->gid,
                            .groups = spec->groups,
                            .n_groups = spec->n_groups,
                            .has_caps = spec->has_capabilities,
                            .caps = spec->capabilities,
                            .ambient = spec->ambient_capabilities,
                            .no_new_privs = spec->no_new_privs,
                            .seccomp_flags = spec->seccomp_flags};
    return spec->seccomp_path[0] ? hl_seccomp_read(spec->seccomp_path, &cred.seccomp) : 0;
}

static int stdio_install(const struct mon_stdio *io)
{
    if (io->tty && ioctl(io->child_out, TIOCSCTTY, 0) < 0)
        return hl_fail(errno, "make the pty our controlling terminal");
    if (dup2(io->child_in, 0) < 0 || dup2(io->child_out, 1) < 0 || dup2(io->child_err, 2) < 0)
        return hl_fail(errno, "set up stdio");
    return 0;
}

/* Close-on-exec rather than closed, so the error pipe still works if exec fails. */
static void fds_close_on_exec(void)
{
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    for (int fd = 3; fd < 65536; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int exit_code_for_exec(int err)
{
    return err == ENOENT ? 127 : err == EACCES || err == ENOEXEC ? 126 : 1;
}

_Noreturn void mon_child_run(const struct mon_spec *spec, struct mon_stdio *io, ssize_t born_in,
                             int release_fd, int error_fd)
{
    mon_signals_reset();
    release_wait(release_fd);
    /* First: every page and process of ours from here on is the container's. */
    if (mon_cgroup_join_self(spec, born_in) < 0 || cgroup_ns_new(spec) < 0)
        child_die(error_fd, 1);
    umask(0); /* modes of what we create are exact; the workload gets the usual 022 */
    if (session_new() < 0)
        child_die(error_fd, 1);
    /* Files of the host's, opened before the pod's namespaces and our own root hide them. */
    if (cred_prepare(spec) < 0)
        child_die(error_fd, 1);
    if (mon_userns_open(spec) < 0)
        child_die(error_fd, 1);
    if (namespaces_join(spec) < 0)
        child_die(error_fd, 1);
    if (rootfs_build(spec) < 0)
        child_die(error_fd, 1);
    /* Once / is the container's: the terminal belongs to its own devpts. */
    if (mon_stdio_terminal_open(io) < 0)
        child_die(error_fd, 1);
    if (cwd_enter(spec) < 0)
        child_die(error_fd, 1);
    if (mon_lsm_apply(spec) < 0)
        child_die(error_fd, 1);
    /* After every mount, made as the host's root; the ids below are the user namespace's. */
    if (mon_userns_enter() < 0)
        child_die(error_fd, 1);
    if (hl_cred_drop(&cred) < 0)
        child_die(error_fd, 1);
    if (stdio_install(io) < 0)
        child_die(error_fd, 1);
    fds_close_on_exec();
    umask(022);
    /* With no_new_privs the filter is the last step: of our calls only execve meets its profile. */
    if (hl_cred_seccomp_last(&cred) < 0)
        child_die(error_fd, 1);
    mon_exec(spec);
    int err = errno;
    hl_fail(err, "exec %s", spec->args[0]);
    child_die(error_fd, exit_code_for_exec(err));
}
