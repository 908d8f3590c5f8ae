/* Which device nodes a container may use. A container has CAP_MKNOD by default and sees /sys, so
 * without a device cgroup it could make and open the host's disks; like runc, crisp denies every
 * device and then allows the standard ones, mknod of any (harmless without access), and those the
 * request names. On cgroup v1 that is the devices controller's deny and allow files; on v2 an eBPF
 * program attached to the container's cgroup (runtime/cgroup/cgroup_devices_bpf.c). */
#define _GNU_SOURCE
#include "runtime/cgroup/cgroup.h"

#include "common/cleanup.h"
#include "runtime/cgroup/cgroup_devices.h"
#include "runtime/cgroup/cgroup_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const default_rules[] = {
    "c *:* m",   "b *:* m",                                   /* mknod, not access */
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", /* null zero full random urandom */
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",    /* tty console ptmx pts */
    NULL,
};

static int v1_devices_write(const char *dir, const char *file, const char *rule, crisp_error_t **err)
{
    _cleanup_free_ char *p = rt_cgroup_join(dir, file);
    if (!p)
        return crisp_error_oom(err);
    return rt_cgroup_write_file(p, rule, err);
}

static int v2_devices_restrict(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                               crisp_error_t **err)
{
    size_t n_default = sizeof(default_rules) / sizeof(default_rules[0]) - 1, n = n_default;
    for (char *const *r = extra_rules; r && *r; r++)
        n++;
    _cleanup_free_ struct rt_device_rule *rules = calloc(n, sizeof(*rules));
    _cleanup_free_ char *dir = NULL;
    if (!rules || asprintf(&dir, "%s%s", root->mount, path) < 0)
        return crisp_error_oom(err);
    for (size_t i = 0; i < n; i++)
        if (rt_device_rule_parse(i < n_default ? default_rules[i] : extra_rules[i - n_default], &rules[i], err) < 0)
            return -1;
    if (rt_device_program_attach(dir, rules, n, err) < 0)
        return crisp_error_wrap(err, "device cgroup");
    return 0;
}

int rt_cgroup_devices_restrict(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                               crisp_error_t **err)
{
    if (root->mode == RT_CGROUP_V2)
        return v2_devices_restrict(root, path, extra_rules, err);
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s/devices%s", root->mount, path) < 0)
        return crisp_error_oom(err);
    if (access(dir, F_OK) < 0)
        return 0; /* no devices controller mounted */
    if (v1_devices_write(dir, "devices.deny", "a", err) < 0)
        return crisp_error_wrap(err, "device cgroup");
    for (const char *const *r = default_rules; *r; r++)
        if (v1_devices_write(dir, "devices.allow", *r, err) < 0)
            return crisp_error_wrap(err, "device cgroup");
    for (char *const *r = extra_rules; r && *r; r++)
        if (v1_devices_write(dir, "devices.allow", *r, err) < 0)
            return crisp_error_wrap(err, "device cgroup rule \"%s\"", *r);
    return 0;
}
