/* crisp-monitor: one per container. Parses the spec crispd wrote, detaches, creates the workload in
 * its namespaces and root filesystem, holds its stdio, writes its CRI log and records its exit.
 * libc only and small: its memory is part of every pod's cost. */
#ifndef CRISP_MONITOR_H
#define CRISP_MONITOR_H

#include "helpers/lib/helper_error.h"
#include "helpers/lib/spec_read.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MON_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* mounts.c: statvfs ST_* flags as the mount(2) MS_* flags a remount must carry over. */
unsigned long mon_statvfs_to_ms(unsigned long f);

/* paths.c: masked and read-only paths, then a read-only root; before pivot_root. */
int mon_paths_protect(const struct mon_spec *spec, int rootfd);

/* util.c */
int mon_write_all(int fd, const void *buf, size_t len);
ssize_t mon_read_small(const char *path, char *buf, size_t size);
int mon_write_string(const char *path, const char *text);
int64_t mon_now_ns(void);

/* sync.c */
void mon_sync_ok(int sync_fd, pid_t pid);
void mon_sync_error(int sync_fd, int exit_code, const char *message);

/* claim.c: the start claim crispd reads after a restart. begin: 0 claimed (or no claim asked for), 1
 * when crispd cancelled this start (nothing may run), -1 on error. commit: before the workload runs. */
int mon_claim_begin(const char *path);
int mon_claim_commit(pid_t workload);

/* detach.c */
int mon_detach(int sync_fd);
int mon_fds_close_except(int keep_fd);

/* stdio.c: the workload's end (child_*) and the monitor's end of its stdin, stdout and stderr. */
struct mon_stdio {
    bool tty;
    int child_in, child_out, child_err;
    int in_w, out_r, err_r; /* with a tty, out_r is the pty master and err_r is -1 */
    /* With a tty, the child opens the terminal in the container's devpts and sends its master from
     * child_tty_sock to tty_sock. */
    int tty_sock, child_tty_sock;
};
int mon_stdio_create(const struct mon_spec *spec, struct mon_stdio *ret_io);
void mon_stdio_close_child_ends(struct mon_stdio *io);
void mon_stdio_close(struct mon_stdio *io);
int mon_stdio_terminal_open(struct mon_stdio *io);    /* in the child, once / is the container's */
int mon_stdio_terminal_receive(struct mon_stdio *io); /* in the monitor, after the exec */

/* spawn.c, cgroup_join.c: create the workload and hold it until it is placed. */
struct mon_exit;
int mon_workload_spawn(const struct mon_spec *spec, struct mon_stdio *io, pid_t *ret_pid,
                       struct mon_exit *ret_exit);
int mon_cgroup2_dir_open(const struct mon_spec *spec, size_t *ret_index);
int mon_cgroup_join_self(const struct mon_spec *spec, ssize_t skip);
int mon_oom_score_adj_set(const struct mon_spec *spec, pid_t pid);

/* child.c and its steps: run in the new process; never return. */
_Noreturn void mon_child_run(const struct mon_spec *spec, struct mon_stdio *io, ssize_t born_in,
                             int release_fd, int error_fd);
int mon_rootfs_mount(const struct mon_spec *spec);
int mon_rootfs_pivot(const char *mountpoint);
int mon_mounts_apply(const struct mon_spec *spec, int rootfd);
int mon_mounts_hold_shared(const struct mon_spec *spec); /* before "/" becomes a slave */
int mon_devices_create(const struct mon_spec *spec, int rootfd);
int mon_exec(const struct mon_spec *spec); /* returns only on failure, with errno set */

/* lsm.c: AppArmor and SELinux for the coming exec. */
int mon_lsm_apply(const struct mon_spec *spec);

/* userns.c: the pod's user namespace, idmapped mounts, and host ids for what we create. */
int mon_userns_open(const struct mon_spec *spec);
int mon_userns_enter(void);
int mon_idmap_mount(const char *source, const char *target, bool recursive);
bool mon_userns_active(void);
uid_t mon_host_uid(const struct mon_spec *spec, uid_t uid);
gid_t mon_host_gid(const struct mon_spec *spec, gid_t gid);

/* resolve.c: paths inside the container's root, symlinks resolved as if ROOTFD were "/". */
int mon_root_open(int rootfd, const char *path, int flags);
int mon_root_mkdir_p(int rootfd, const char *path, mode_t mode, bool chown_new, uid_t uid, gid_t gid);
int mon_root_create_file(int rootfd, const char *path);
int mon_root_parent_open(int rootfd, const char *path, char buf[4096], const char **ret_name);

/* crilog.c */
enum mon_stream { MON_STDOUT = 0, MON_STDERR = 1 };
int mon_crilog_open(const char *path, size_t max_line);
void mon_crilog_reopen(void);
void mon_crilog_write(enum mon_stream stream, const char *data, size_t len);
void mon_crilog_eof(enum mon_stream stream);

/* oom.c */
int64_t mon_oom_kills(const char *v1_control, const char *v2_events);

/* attach.c: the attach socket, polled by the loop (MON_ATTACH_MAX_POLLFDS entries at most). */
#define MON_ATTACH_MAX_POLLFDS (2 + 2 * 16)
struct pollfd;
int mon_attach_listen(const char *path, const struct mon_stdio *io, bool stdin_once);
size_t mon_attach_pollfds(struct pollfd *pfds);
void mon_attach_handle(const struct pollfd *pfds);
void mon_attach_output(enum mon_stream stream, const char *data, size_t len);
void mon_attach_terminal(int master);
void mon_attach_close(void);

/* loop.c */
int mon_signals_setup(void);
void mon_signals_reset(void);
void mon_loop_run(struct mon_stdio *io, pid_t pid, int *ret_status);

/* exit_file.c */
struct mon_exit {
    int exit_code, signal;
    int64_t started_at, finished_at;
    const char *reason;
    char message[512];
};
void mon_exit_from_status(struct mon_exit *ex, int status, bool oom_killed);
int mon_exit_file_write(const char *path, const struct mon_exit *ex);

#endif
