/* Applying a container's capability set, shared by the libc-only helpers (crisp-monitor for the
 * workload, crisp-exec for ExecSync) so both give a container's processes the same privileges. Header
 * only: the helpers link nothing but libc.
 *
 * The set is a 64-bit mask of capability numbers. Order matters: the bounding set is cut while we still
 * have CAP_SETPCAP (before setuid); after setuid a root workload gets exactly the set as effective and
 * permitted, a non-root one keeps none (the kernel clears them on the uid change), as Docker does,
 * except the ambient ones asked for: those a non-root workload keeps across exec too. */
#ifndef CRISP_RUNTIME_CAPS_APPLY_H
#define CRISP_RUNTIME_CAPS_APPLY_H

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int caps_last_cap(void)
{
    int last = 40;
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f) {
        if (fscanf(f, "%d", &last) != 1)
            last = 40;
        fclose(f);
    }
    return last < 63 ? last : 63;
}

/* Drops every capability outside mask from the bounding set; 0 or an errno. */
static inline int caps_apply_bounding(uint64_t mask)
{
    int last = caps_last_cap();
    for (int cap = 0; cap <= last; cap++)
        if (!(mask & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return errno;
    return 0;
}

/* Before setuid: with ambient capabilities to keep, the permitted set must survive the uid change. */
static inline int caps_keep_for_setuid(uint64_t ambient)
{
    return ambient && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 ? errno : 0;
}

static inline int caps_raise_ambient(uint64_t ambient)
{
    for (int cap = 0; cap < 64; cap++)
        if ((ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return errno;
    return 0;
}

/* After setuid: effective and permitted become mask for root (what the bounding set allows), or the
 * ambient set for others; the ambient set is inheritable and raised. 0 or an errno. */
static inline int caps_apply_process(uint64_t mask, int is_root, uint64_t ambient)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return errno;
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    if (syscall(SYS_capget, &hdr, data) < 0)
        return errno;
    uint64_t permitted = ((uint64_t)data[1].permitted << 32) | data[0].permitted;
    ambient &= mask & permitted;
    uint64_t want = is_root ? mask & permitted : ambient;
    data[0].effective = data[0].permitted = (uint32_t)want;
    data[1].effective = data[1].permitted = (uint32_t)(want >> 32);
    data[0].inheritable = (uint32_t)ambient;
    data[1].inheritable = (uint32_t)(ambient >> 32);
    if (syscall(SYS_capset, &hdr, data) < 0)
        return errno;
    if (ambient)
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    return caps_raise_ambient(ambient);
}

#endif
