#define _GNU_SOURCE
#include "runtime/caps.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const cap_names[] = {
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
};

/* containerd's and Docker's default for unprivileged containers. */
static const char *const default_caps[] = {
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
};

static uint64_t host_bounding;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

/* The host's bounding set never changes while crispd runs: read once. */
static void read_host_bounding(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    host_bounding = ~0ULL;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "CapBnd:", 7) == 0)
            host_bounding = strtoull(line + 7, NULL, 16);
    if (f)
        fclose(f);
}

int rt_caps_number(const char *name)
{
    const char *n = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
    for (size_t i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
        if (strcasecmp(n, cap_names[i]) == 0)
            return (int)i;
    return -1;
}

static bool has_all(char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(names[i], "ALL") == 0)
            return true;
    return false;
}

static int apply_list(char *const *names, size_t n, bool add, uint64_t *mask, crisp_error_t **err)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(names[i], "ALL") == 0)
            continue;
        int cap = rt_caps_number(names[i]);
        if (cap < 0)
            return crisp_error_make(err, EINVAL, "unknown capability \"%.64s\"", names[i]);
        *mask = add ? *mask | (1ULL << cap) : *mask & ~(1ULL << cap);
    }
    return 0;
}

/* As containerd orders it: ALL in add, then ALL in drop, then the named additions, then the drops. */
int rt_caps_mask(char *const *add, size_t n_add, char *const *drop, size_t n_drop, bool privileged,
                 uint64_t *ret_mask, crisp_error_t **err)
{
    pthread_once(&host_once, read_host_bounding);
    if (privileged) {
        *ret_mask = host_bounding;
        return 0;
    }
    uint64_t mask = 0;
    for (size_t i = 0; i < sizeof(default_caps) / sizeof(default_caps[0]); i++)
        mask |= 1ULL << rt_caps_number(default_caps[i]);
    if (has_all(add, n_add))
        mask = ~0ULL;
    if (has_all(drop, n_drop))
        mask = 0;
    if (apply_list(add, n_add, true, &mask, err) < 0 || apply_list(drop, n_drop, false, &mask, err) < 0)
        return -1;
    *ret_mask = mask & host_bounding;
    return 0;
}

int rt_caps_ambient_mask(char *const *names, size_t n, uint64_t *ret_mask, crisp_error_t **err)
{
    pthread_once(&host_once, read_host_bounding);
    uint64_t mask = has_all(names, n) ? ~0ULL : 0;
    if (apply_list(names, n, true, &mask, err) < 0)
        return crisp_error_wrap(err, "ambient capabilities");
    *ret_mask = mask & host_bounding;
    return 0;
}
