/* What runtime/container*.c share. */
#ifndef CRISP_RUNTIME_CONTAINER_INTERNAL_H
#define CRISP_RUNTIME_CONTAINER_INTERNAL_H

#include "runtime/container.h"

#include <pthread.h>
#include <stdatomic.h>

struct rt_container {
    struct rt_container_info info;
    pthread_mutex_t lock; /* serialises start, stop, remove, exec bookkeeping of this container */
    _Atomic int refs;
    bool removed;
    char *dir;      /* state dir: spec, record, exit file */
    char *rw_dir;   /* root/containers/<id>: upper and work */
    uint64_t pid_start;
    pid_t monitor_pid;
    int stop_signal;
    uint64_t capabilities; /* for ExecSync: the same set as the workload */
    uint64_t ambient_capabilities;
    bool no_new_privs;
    bool has_seccomp;       /* <dir>/seccomp.bpf holds the filter, for the workload and every exec */
    unsigned seccomp_flags;
    bool tty;
    char **env;     /* for exec: the container's environment */
    char *cwd;
};

/* The container's compiled seccomp filter. */
char *rt_container_seccomp_file(const struct rt_container *c);

/* Where the container's monitor serves attach. */
char *rt_container_attach_socket(const struct rt_container *c);

/* container_security.c */
int rt_container_security_check(const struct rt_container_spec *s, const struct rt_sandbox_info *pod,
                                crisp_error_t **err);
/* A requested device as checked at create: what the container gets at container_path. */
struct rt_device_node {
    const char *container_path, *permissions;
    char type; /* 'c' or 'b' */
    unsigned major, minor;
    mode_t mode;
};
/* One per s->devices (the caller frees the array); EINVAL for bad permissions or a path that is no
 * device. */
int rt_container_devices_resolve(const struct rt_container_spec *s, struct rt_device_node **ret, crisp_error_t **err);
char **rt_container_device_rules(const struct rt_device_node *nodes, size_t n, crisp_error_t **err);

char *rt_container_record_to_json(const struct rt_container *c);
int rt_container_record_from_json(const char *text, struct rt_container *c, crisp_error_t **err);
void rt_container_fields_free(struct rt_container *c);

#endif
