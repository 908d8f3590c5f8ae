/* A pod's namespaces, created by the crisp-pinns helper and pinned as files in a directory (as CRI-O's
 * pinns does), and the pod's init when the pod has its own PID namespace. crispd only spawns the
 * helper: it is multi-threaded and must not unshare or mount in a forked child of itself. */
#ifndef CRISP_RUNTIME_POD_NS_H
#define CRISP_RUNTIME_POD_NS_H

#include "common/error.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define RT_POD_NS_HELPER_TIMEOUT_MS 30000
#define RT_POD_NS_HELPER_OUTPUT_MAX (64 * 1024)

struct rt_pod_ns_options {
    const char *helper; /* path of crisp-pinns */
    const char *dir;    /* gets the pins: dir/net, dir/ipc, dir/uts, dir/pid, dir/user */
    bool net, ipc, uts, pid;
    bool userns;                   /* a user namespace owning net, ipc and uts, with these maps: */
    const char *uid_map, *gid_map; /* "CONTAINER_ID HOST_ID LENGTH" */
    const char *hostname;          /* needs uts */
    char *const *sysctls;          /* "key=value", NULL-terminated or NULL; checked by rt_sysctl_check */
    char *const *cgroup_procs;     /* cgroup.procs files the init joins, NULL-terminated or NULL */
};

/* Creates dir (0700) if missing and runs the helper. *ret_init_pid is the host pid of the pod's init,
 * 0 without pid. The init is not crispd's child: record its start time (rt_proc_start_time) with it.
 * On failure nothing is left: no pin, no mount, no init, and dir only if it existed before. */
int rt_pod_ns_create(const struct rt_pod_ns_options *o, pid_t *ret_init_pid, crisp_error_t **err);

/* Kills the init if init_pid > 0 still names the process started at init_start_time, waits for it to
 * exit, unmounts and removes the pins and removes dir. Removing what is already gone is success. */
int rt_pod_ns_destroy(const char *dir, pid_t init_pid, uint64_t init_start_time, crisp_error_t **err);

/* Field 22 of /proc/pid/stat (clock ticks after boot): with the pid it names one process, even after
 * the pid is reused. ENOENT when there is no such process. */
int rt_proc_start_time(pid_t pid, uint64_t *ret, crisp_error_t **err);

#endif
