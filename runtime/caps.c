/* Capability names, the capabilities the running kernel knows and the host's bounding set, from
 * libcap: a kernel or libcap with new capabilities needs no change here. */
#define _GNU_SOURCE
#include "runtime/caps.h"

#include "common/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>

#define CAPS_MAX 64 /* masks are uint64_t */

/* containerd's and Docker's default for unprivileged containers. */
static const char *const default_caps[] = {
    "CHOWN",  "DAC_OVERRIDE", "FSETID",  "FOWNER",           "MKNOD",      "NET_RAW", "SETGID",
    "SETUID", "SETFCAP",      "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",    "AUDIT_WRITE",
};

static uint64_t host_known, host_bounding;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

/* Neither the kernel's capabilities nor crispd's bounding set change while crispd runs: read once. */
static void host_caps_read(void)
{
    unsigned n = cap_max_bits();
    if (n > CAPS_MAX)
        n = CAPS_MAX;
    host_known = n == CAPS_MAX ? ~0ULL : (1ULL << n) - 1;
    for (unsigned c = 0; c < n; c++)
        if (cap_get_bound((cap_value_t)c) > 0)
            host_bounding |= 1ULL << c;
}

static void cap_name_freep(char **name)
{
    cap_free(*name);
}

/* cap_from_name also takes numbers and stops at the first character that can't be in a name, so only
 * a name that comes back unchanged from cap_to_name counts. */
int rt_caps_number(const char *name)
{
    const char *n = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
    char want[64] = "cap_";
    size_t len = strlen(n);
    if (len == 0 || len >= sizeof(want) - 4)
        return -1;
    for (size_t i = 0; i <= len; i++)
        want[4 + i] = (char)tolower((unsigned char)n[i]);
    cap_value_t cap = -1;
    if (cap_from_name(want, &cap) < 0 || cap < 0 || cap >= CAPS_MAX)
        return -1;
    _cleanup_(cap_name_freep) char *canonical = cap_to_name(cap);
    return canonical && strcmp(canonical, want) == 0 ? (int)cap : -1;
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
    pthread_once(&host_once, host_caps_read);
    if (privileged) {
        *ret_mask = host_bounding;
        return 0;
    }
    uint64_t mask = 0;
    for (size_t i = 0; i < sizeof(default_caps) / sizeof(default_caps[0]); i++)
        mask |= 1ULL << rt_caps_number(default_caps[i]);
    if (has_all(add, n_add))
        mask = host_known;
    if (has_all(drop, n_drop))
        mask = 0;
    if (apply_list(add, n_add, true, &mask, err) < 0 || apply_list(drop, n_drop, false, &mask, err) < 0)
        return -1;
    *ret_mask = mask & host_bounding;
    return 0;
}

int rt_caps_ambient_mask(char *const *names, size_t n, uint64_t *ret_mask, crisp_error_t **err)
{
    pthread_once(&host_once, host_caps_read);
    uint64_t mask = has_all(names, n) ? host_known : 0;
    if (apply_list(names, n, true, &mask, err) < 0)
        return crisp_error_wrap(err, "ambient capabilities");
    *ret_mask = mask & host_bounding;
    return 0;
}
