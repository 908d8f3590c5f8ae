#include "server/convert/resources.h"

#include "common/cleanup.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESOURCE_ENTRIES 64
/* The kernel's NR_CPUS is at most 8192; a bound keeps the numbers and the range walk small. */
#define MAX_CPUSET_ID 65535
#define MAX_CPUSET_LEN 4096
#define MAX_UNIFIED_KEY 64
/* io.max takes a line per device; a few dozen lines fit. */
#define MAX_UNIFIED_VALUE 4096

/* One "N" or "N-M" of a list, at *p; moves *p past it. */
static bool cpuset_range(const char **p, unsigned *ret_lo, unsigned *ret_hi)
{
    char *end;
    if (**p < '0' || **p > '9')
        return false;
    unsigned long lo = strtoul(*p, &end, 10), hi = lo;
    if (*end == '-') {
        if (end[1] < '0' || end[1] > '9')
            return false;
        hi = strtoul(end + 1, &end, 10);
    }
    if (lo > hi || hi > MAX_CPUSET_ID)
        return false;
    *p = end;
    *ret_lo = lo;
    *ret_hi = hi;
    return true;
}

/* Whether every id in lo..hi is in the list online (already known well-formed). */
static bool cpuset_covered(unsigned lo, unsigned hi, const char *online)
{
    unsigned next = lo;
    bool moved = true;
    while (next <= hi && moved) {
        moved = false;
        unsigned a, b;
        for (const char *p = online; *p && cpuset_range(&p, &a, &b); p += *p == ',') {
            if (a <= next && next <= b) {
                next = b + 1;
                moved = true;
            }
        }
    }
    return next > hi;
}

int srv_cpuset_check(const char *what, const char *list, const char *online, crisp_error_t **err)
{
    if (!list || !*list)
        return 0;
    size_t len = strlen(list);
    const char *more = len > 100 ? "..." : "";
    if (len > MAX_CPUSET_LEN)
        return crisp_error_make(err, EINVAL, "%s \"%.100s%s\" is longer than %d bytes", what, list, more,
                                MAX_CPUSET_LEN);
    for (const char *p = list;;) {
        unsigned lo, hi;
        if (!cpuset_range(&p, &lo, &hi) || (*p && *p != ','))
            return crisp_error_make(err, EINVAL,
                                    "%s \"%.100s%s\" is not a list of numbers and ranges (as \"0-3,6\")",
                                    what, list, more);
        if (online && !cpuset_covered(lo, hi, online))
            return crisp_error_make(err, EINVAL,
                                    "%s \"%.100s%s\": %u-%u is not all online here (online: %.100s)", what,
                                    list, more, lo, hi, online);
        if (!*p)
            return 0;
        p++;
    }
}

static char online_cpus[MAX_CPUSET_LEN + 1], online_mems[MAX_CPUSET_LEN + 1];

static void online_read(const char *path, char *buf, const char *fallback)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f || !fgets(buf, MAX_CPUSET_LEN + 1, f))
        snprintf(buf, MAX_CPUSET_LEN + 1, "%s", fallback);
    buf[strcspn(buf, "\n")] = '\0';
}

/* Read once: CPU and memory-node hotplug on a node running pods is rare, and kubelet restarts for it. A
 * kernel without NUMA has no node directory and one memory node, 0. */
static void online_load(void)
{
    online_read("/sys/devices/system/cpu/online", online_cpus, "");
    online_read("/sys/devices/system/node/online", online_mems, "0");
}

static int cpusets_check(const Runtime__V1__LinuxContainerResources *r, crisp_error_t **err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, online_load);
    /* An unreadable cpu list (no sysfs) leaves only the syntax to check. */
    if (srv_cpuset_check("cpuset_cpus", r->cpuset_cpus, *online_cpus ? online_cpus : NULL, err) < 0 ||
        srv_cpuset_check("cpuset_mems", r->cpuset_mems, online_mems, err) < 0)
        return -1;
    return 0;
}

/* The v2 controllers a unified key may name; "cgroup." files are the core's, and only its limits may be
 * set: the rest (procs, threads, subtree_control, kill, freeze, type) move, kill or reshape. */
static const char *const unified_controllers[] = {"cpu",  "cpuset",  "io",   "memory",
                                                  "pids", "hugetlb", "rdma", "misc"};
static const char *const unified_core_files[] = {"cgroup.max.depth", "cgroup.max.descendants"};

static bool in_list(const char *word, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncmp(list[i], word, len) == 0)
            return true;
    return false;
}

/* An interface file name: "<controller>.<name>" in [A-Za-z0-9_.-], nothing that leaves the cgroup. */
static bool unified_key_ok(const char *key)
{
    size_t len = strlen(key), ctrl = strcspn(key, ".");
    if (len == 0 || len > MAX_UNIFIED_KEY || ctrl == len || ctrl + 1 == len || strstr(key, ".."))
        return false;
    if (strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len)
        return false;
    if (strncmp(key, "cgroup.", 7) == 0)
        return in_list(key, len, unified_core_files, ARRAY_SIZE(unified_core_files));
    return in_list(key, ctrl, unified_controllers, ARRAY_SIZE(unified_controllers));
}

int srv_unified_check(const char *key, const char *value, crisp_error_t **err)
{
    if (!key || !unified_key_ok(key))
        return crisp_error_make(err, EINVAL,
                                "unified cgroup key \"%.64s\" is not a cgroup v2 interface file of a "
                                "controller (as \"memory.high\")",
                                key ? key : "");
    size_t len = value ? strlen(value) : 0;
    if (len > MAX_UNIFIED_VALUE)
        return crisp_error_make(err, EINVAL, "unified cgroup value of %s is longer than %d bytes", key,
                                MAX_UNIFIED_VALUE);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)value[i] < 0x20 && value[i] != '\n')
            return crisp_error_make(err, EINVAL, "unified cgroup value of %s has a control character", key);
    return 0;
}

/* "2MB", "1GB", "64KB": the kernel's names for hugepage sizes, which become part of a file name. */
static int page_size_check(const char *s, crisp_error_t **err)
{
    size_t digits = s ? strspn(s, "0123456789") : 0;
    if (digits > 0 && digits <= 12 && s[0] != '0' && s[digits] && strchr("KMGT", s[digits]) &&
        strcmp(s + digits + 1, "B") == 0)
        return 0;
    return crisp_error_make(err, EINVAL, "hugepage size \"%.32s\" is not a size such as \"2MB\" or \"1GB\"",
                            s ? s : "");
}

static int hugepages_from(struct arena *a, const Runtime__V1__LinuxContainerResources *r,
                          struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (r->n_hugepage_limits > MAX_RESOURCE_ENTRIES || r->n_unified > MAX_RESOURCE_ENTRIES)
        return crisp_error_make(err, EINVAL, "at most %d hugepage limits and unified entries",
                                MAX_RESOURCE_ENTRIES);
    res->hugepages = arena_alloc(a, (r->n_hugepage_limits + 1) * sizeof(*res->hugepages));
    res->unified = arena_alloc(a, (r->n_unified + 1) * sizeof(*res->unified));
    if (!res->hugepages || !res->unified)
        return crisp_error_oom(err);
    for (size_t i = 0; i < r->n_hugepage_limits; i++) {
        if (!r->hugepage_limits[i] || page_size_check(r->hugepage_limits[i]->page_size, err) < 0)
            return -1;
        res->hugepages[i].page_size = r->hugepage_limits[i]->page_size;
        res->hugepages[i].limit = r->hugepage_limits[i]->limit;
    }
    res->n_hugepages = r->n_hugepage_limits;
    for (size_t i = 0; i < r->n_unified; i++) {
        if (!r->unified[i] || srv_unified_check(r->unified[i]->key, r->unified[i]->value, err) < 0)
            return -1;
        res->unified[i].key = r->unified[i]->key;
        res->unified[i].value = r->unified[i]->value;
    }
    res->n_unified = r->n_unified;
    return 0;
}

int srv_resources_from(struct arena *a, const Runtime__V1__LinuxContainerResources *r,
                       struct rt_cgroup_resources **ret, crisp_error_t **err)
{
    *ret = NULL;
    if (!r)
        return 0;
    if (cpusets_check(r, err) < 0)
        return -1;
    struct rt_cgroup_resources *res = arena_alloc(a, sizeof(*res));
    if (!res)
        return crisp_error_oom(err);
    res->cpu_period = r->cpu_period;
    res->cpu_quota = r->cpu_quota;
    res->cpu_shares = r->cpu_shares;
    res->memory_limit = r->memory_limit_in_bytes;
    res->memory_swap_limit = r->memory_swap_limit_in_bytes;
    res->cpuset_cpus = r->cpuset_cpus;
    res->cpuset_mems = r->cpuset_mems;
    if (hugepages_from(a, r, res, err) < 0)
        return -1;
    *ret = res;
    return 0;
}
