#include "helpers/lib/caps_apply.h"
#include "helpers/lib/helper_error.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int caps_last_cap(void)
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

/* EINVAL: a capability this kernel does not know, which nobody can hold anyway. */
int hl_caps_bounding_apply(uint64_t mask)
{
    int last = caps_last_cap();
    for (int cap = 0; cap <= last; cap++)
        if (!(mask & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return hl_fail(errno, "drop capabilities from the bounding set");
    return 0;
}

int hl_caps_keep_across_setuid(uint64_t ambient)
{
    if (ambient && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        return hl_fail(errno, "keep capabilities across setuid");
    return 0;
}

static int caps_ambient_raise(uint64_t ambient)
{
    for (int cap = 0; cap < 64; cap++)
        if ((ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            return hl_fail(errno, "set capabilities");
    return 0;
}

/* EINVAL from the clear: a kernel without ambient capabilities, so there are none to clear. */
int hl_caps_process_apply(uint64_t mask, bool is_root, uint64_t ambient)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return hl_fail(errno, "set capabilities");
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    if (syscall(SYS_capget, &hdr, data) < 0)
        return hl_fail(errno, "set capabilities");
    uint64_t permitted = ((uint64_t)data[1].permitted << 32) | data[0].permitted;
    ambient &= mask & permitted;
    uint64_t want = is_root ? mask & permitted : ambient;
    data[0].effective = data[0].permitted = (uint32_t)want;
    data[1].effective = data[1].permitted = (uint32_t)(want >> 32);
    data[0].inheritable = (uint32_t)ambient;
    data[1].inheritable = (uint32_t)(ambient >> 32);
    if (syscall(SYS_capset, &hdr, data) < 0)
        return hl_fail(errno, "set capabilities");
    if (ambient)
        prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    return caps_ambient_raise(ambient);
}
