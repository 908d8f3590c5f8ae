/* Which device nodes a container may use. A container has CAP_MKNOD by default and sees /sys, so
 * without a device cgroup it could make and open the host's disks; like runc, crisp denies every
 * device and then allows the standard ones, mknod of any (harmless without access), and those the
 * request names. The backends enforce the list: the devices controller's deny and allow files on
 * v1 (cgroup_v1.c), an eBPF program attached to the container's cgroup on v2 (cgroup_v2.c with
 * cgroup_devices_bpf.c). */
#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"
#include "runtime/cgroup/cgroup_devices.h"

#include <stdlib.h>

const char *const rt_cgroup_devices_default[] = {
    "c *:* m",   "b *:* m",                                            /* mknod, not access */
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",   "c 1:9 rwm", /* null zero full random urandom */
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",              /* tty console ptmx pts */
    NULL,
};

int rt_cgroup_devices_rules(char *const *extra_rules, struct rt_device_rule **ret_rules, size_t *ret_n,
                            crisp_error_t **err)
{
    size_t n_default = ARRAY_SIZE(rt_cgroup_devices_default) - 1, n = n_default;
    for (char *const *r = extra_rules; r && *r; r++)
        n++;
    _cleanup_free_ struct rt_device_rule *rules = calloc(n, sizeof(*rules));
    if (!rules)
        return crisp_error_oom(err);
    for (size_t i = 0; i < n; i++) {
        const char *text = i < n_default ? rt_cgroup_devices_default[i] : extra_rules[i - n_default];
        if (rt_device_rule_parse(text, &rules[i], err) < 0)
            return -1;
    }
    *ret_rules = TAKE_PTR(rules);
    *ret_n = n;
    return 0;
}
