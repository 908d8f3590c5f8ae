/* Device rules as the devices cgroup v1 writes them ("c 1:3 rwm"), and the eBPF program that
 * enforces them on cgroup v2 (runtime/cgroup/cgroup_devices_bpf.c). */
#ifndef CRISP_RUNTIME_CGROUP_DEVICES_H
#define CRISP_RUNTIME_CGROUP_DEVICES_H

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

struct rt_device_rule {
    char type;            /* 'c', 'b', or 'a' for both */
    int64_t major, minor; /* -1: any */
    unsigned access;      /* BPF_DEVCG_ACC_* bits: mknod 1, read 2, write 4 */
};

int rt_device_rule_parse(const char *text, struct rt_device_rule *ret, crisp_error_t **err);

/* The allow-list program's instructions (struct bpf_insn; the caller frees them). */
int rt_device_program_build(const struct rt_device_rule *rules, size_t n, void **ret_insns, size_t *ret_count,
                            crisp_error_t **err);

/* Loads the program and attaches it (with BPF_F_ALLOW_MULTI) to the cgroup v2 directory. */
int rt_device_program_attach(const char *cgroup_dir, const struct rt_device_rule *rules, size_t n,
                             crisp_error_t **err);

#endif
