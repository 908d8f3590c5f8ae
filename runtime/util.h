/* Small things the runtime's pods and containers share. */
#ifndef CRISP_RUNTIME_UTIL_H
#define CRISP_RUNTIME_UTIL_H

#include "common/error.h"
#include "runtime/cgroup/cgroup.h"
#include "runtime/sandbox.h"

#include <stdint.h>
#include <sys/types.h>

/* A new object id: 64 random hex digits, as kubelet and crictl expect. */
int rt_random_id(char out[RT_ID_LEN + 1], crisp_error_t **err);
/* The cgroup.procs files of path in every hierarchy in use that has one (a helper writes pids there so
 * what it starts is born in the cgroup); NULL when out of memory. */
char **rt_cgroup_procs_files(const struct rt_cgroup_root *root, const char *path);

/* SIGKILL to pid if it is still the process that started at start_time (clock ticks, as
 * /proc/<pid>/stat says), sent through a pidfd so a recycled pid is never hit; waits up to timeout_ms
 * for it to die. Gone already, a zombie, or another process by now: success. what names it in errors. */
int rt_proc_kill_checked(pid_t pid, uint64_t start_time, int timeout_ms, const char *what,
                         crisp_error_t **err);

#endif
