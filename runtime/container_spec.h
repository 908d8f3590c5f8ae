/* Writing the spec file crisp-monitor reads (format: runtime/container_spec.md; keys in
 * helpers/lib/spec_keys.h, shared with the reader). */
#ifndef CRISP_RUNTIME_CONTAINER_SPEC_H
#define CRISP_RUNTIME_CONTAINER_SPEC_H

#include "runtime/container.h"
#include "runtime/container_internal.h"

#include <stdio.h>

/* Writes "key value\n" with the value escaped (backslash, newline). */
void rt_spec_put(FILE *f, const char *key, const char *value);
void rt_spec_putf(FILE *f, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

struct rt_spec_context {
    const struct rt_container_spec *spec;
    const struct rt_sandbox_info *pod;
    const char *id;
    const char *rootfs, *upper, *work, *exit_file, *attach_socket;
    char *const *cgroup_procs;
    const char *oom_v1_control, *oom_v2_events;
    const char *pid_ns; /* "new", "host" or a pid namespace path */
    const struct rt_cgroup_root *cgroups;
    const char *cgroup_path;              /* the container's own cgroup, shown read-only at /sys/fs/cgroup */
    const struct rt_device_node *devices; /* spec->devices, checked (runtime/container_internal.h) */
    const char *seccomp_path;             /* compiled filter, or NULL: unconfined */
    unsigned seccomp_flags;
};

/* The whole spec: rootfs, process, namespaces, the standard mounts and devices, the request's mounts
 * and devices, cgroup, log and exit file. */
int rt_spec_write(const char *path, const struct rt_spec_context *c, crisp_error_t **err);

#endif
