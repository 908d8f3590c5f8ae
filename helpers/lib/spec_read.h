/* The container spec file crispd writes (runtime/container_spec.md) as crisp-monitor reads it. libc
 * only, like the monitor, and in the helpers' library so that a unit test can check the round trip
 * against the writer (runtime/container_spec.c). Failures go through hl_fail (helper_error.h). */
#ifndef CRISP_HELPERS_SPEC_READ_H
#define CRISP_HELPERS_SPEC_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MON_DEFAULT_MAX_LINE 16384

struct mon_mount {
    char *destination, *source, *type, *options, *propagation;
    bool recursive_ro;
    bool idmap;          /* a bind seen through the container's user namespace */
    unsigned long flags; /* MS_* from options */
    char *data;          /* the options that are not flags, for the filesystem */
    int line;
};

struct mon_device {
    char *path;
    char type; /* 'c' or 'b' */
    unsigned major, minor;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    int line;
};

/* Strings point into one buffer holding the file; argv and env end with NULL for exec. */
struct mon_spec {
    char *file;
    char *id;
    char **lowers;
    size_t n_lowers;
    char *upper, *work, *mountpoint;
    char **args, **env;
    size_t n_args, n_env;
    char *cwd;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t n_groups;
    bool tty, stdin_open, stdin_once, no_new_privs;
    char *ns_net, *ns_ipc, *ns_uts, *ns_pid;
    char *ns_user;                   /* the pod's user namespace, "": the host's */
    bool ns_cgroup_new;              /* a cgroup namespace rooted at the container's cgroup */
    uint32_t userns_uid, userns_gid; /* host ids of the container's 0 */
    struct mon_mount *mounts;
    size_t n_mounts;
    struct mon_device *devices;
    size_t n_devices;
    char **masked, **readonly; /* paths inside the container: hidden, or made read-only */
    size_t n_masked, n_readonly;
    bool readonly_rootfs;
    char **cgroup_procs;
    size_t n_cgroup_procs;
    bool has_oom_score_adj;
    int oom_score_adj;
    bool has_capabilities;
    uint64_t capabilities; /* mask of capability numbers (caps_apply.h) */
    uint64_t ambient_capabilities;
    char *log_path;
    size_t log_max_line;
    char *exit_file, *oom_v1_control, *oom_v2_events;
    char *attach_socket;                    /* "": none */
    char *apparmor_profile, *selinux_label; /* "": none */
    char *seccomp_path;                     /* compiled BPF (seccomp_load.h), "": unconfined */
    unsigned seccomp_flags;
};

/* spec_read.c: parses and checks the whole file; on failure nothing is left to free. */
int mon_spec_load(const char *path, struct mon_spec *ret_spec);
void mon_spec_free(struct mon_spec *spec);

/* spec_mount_options.c: splits m->options into MS_* flags and the filesystem's data. */
int mon_mount_options_parse(struct mon_mount *m);

#endif
