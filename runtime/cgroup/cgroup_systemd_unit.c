/* The systemd driver's names and unit properties, kept apart from the bus so they can be tested. */
#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCOPE_SUFFIX ".scope"
#define SLICE_SUFFIX ".slice"
#define UNIT_NAME_MAX 255
/* systemd's own bound on CPU and NUMA node masks (CPU_SET_MAX is far larger; no machine has more). */
#define CPUSET_MAX 8192
/* systemd counts quotas in whole percent: a quota that is a fraction of one would be rounded down
 * by systemd and then refused to a child asking for the exact value (runc rounds up the same way). */
#define QUOTA_PER_SEC_STEP 10000

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/* systemd's unit_name_is_valid for the plain names crisp makes ("crisp-<id>.scope"). */
static bool scope_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n <= UNIT_NAME_MAX && has_suffix(name, SCOPE_SUFFIX) &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

/* A slice is a unit only where systemd would put it: "/foo/bar.slice" is a plain directory. */
static int slice_at(const char *path, const char *name, bool *ret_ok, crisp_error_t **err)
{
    *ret_ok = false;
    if (!rt_cgroup_slice_name_ok(name))
        return 0;
    _cleanup_free_ char *expected = NULL;
    if (rt_cgroup_slice_path(name, &expected, err) < 0)
        return -1;
    *ret_ok = strcmp(expected, path) == 0;
    return 0;
}

/* The slice holding a unit whose parent directory is dir: "-.slice" for the root. */
static int parent_slice(const char *dir, size_t len, char **ret, bool *ret_ok, crisp_error_t **err)
{
    _cleanup_free_ char *d = strndup(dir, len ? len : 1);
    if (!d)
        return crisp_error_oom(err);
    const char *name = strcmp(d, "/") == 0 ? "-" SLICE_SUFFIX : strrchr(d, '/') + 1;
    if (slice_at(d, name, ret_ok, err) < 0)
        return -1;
    if (*ret_ok && !(*ret = strdup(name)))
        return crisp_error_oom(err);
    return 0;
}

int rt_systemd_unit_of(const char *path, enum rt_systemd_unit_kind *ret_kind, char **ret_unit,
                       char **ret_parent, crisp_error_t **err)
{
    *ret_kind = RT_SYSTEMD_NONE;
    *ret_unit = *ret_parent = NULL;
    const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
    if (!slash || !*name)
        return 0;
    bool ok = false;
    enum rt_systemd_unit_kind kind = RT_SYSTEMD_NONE;
    if (has_suffix(name, SLICE_SUFFIX)) {
        if (slice_at(path, name, &ok, err) < 0)
            return -1;
        kind = RT_SYSTEMD_SLICE;
    } else if (scope_name_ok(name)) {
        ok = true;
        kind = RT_SYSTEMD_SCOPE;
    }
    _cleanup_free_ char *parent = NULL;
    if (!ok)
        return 0;
    if (parent_slice(path, (size_t)(slash - path), &parent, &ok, err) < 0)
        return -1;
    if (!ok)
        return 0;
    _cleanup_free_ char *unit = strdup(name);
    if (!unit)
        return crisp_error_oom(err);
    *ret_kind = kind;
    *ret_unit = TAKE_PTR(unit);
    *ret_parent = TAKE_PTR(parent);
    return 0;
}

void rt_systemd_props_fini(struct rt_systemd_props *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].str);
        free(p->v[i].bytes);
        strv_free(p->v[i].pairs);
    }
    p->n = 0;
}

const struct rt_systemd_prop *rt_systemd_props_find(const struct rt_systemd_props *p, const char *name)
{
    for (size_t i = p->n; i > 0; i--)
        if (strcmp(p->v[i - 1].name, name) == 0)
            return &p->v[i - 1];
    return NULL;
}

/* A later property of the same name replaces an earlier one (a unified key over the derived value). */
static struct rt_systemd_prop *prop_slot(struct rt_systemd_props *p, const char *name, crisp_error_t **err)
{
    struct rt_systemd_prop *slot = (struct rt_systemd_prop *)rt_systemd_props_find(p, name);
    if (slot) {
        free(slot->str);
        free(slot->bytes);
        strv_free(slot->pairs);
    } else if (p->n == RT_SYSTEMD_PROPS_MAX) {
        crisp_error_make(err, E2BIG, "more than %d unit properties", RT_SYSTEMD_PROPS_MAX);
        return NULL;
    } else {
        slot = &p->v[p->n++];
    }
    *slot = (struct rt_systemd_prop){.name = name};
    return slot;
}

static int put_u64(struct rt_systemd_props *p, const char *name, enum rt_systemd_prop_type type, uint64_t v,
                   crisp_error_t **err)
{
    struct rt_systemd_prop *s = prop_slot(p, name, err);
    if (!s)
        return -1;
    s->type = type;
    s->u64 = v;
    return 0;
}

static int put_str(struct rt_systemd_props *p, const char *name, const char *v, crisp_error_t **err)
{
    struct rt_systemd_prop *s = prop_slot(p, name, err);
    if (!s)
        return -1;
    s->type = RT_PROP_STR;
    s->str = strdup(v);
    return s->str ? 0 : crisp_error_oom(err);
}

static int put_cpuset(struct rt_systemd_props *p, const char *name, const char *list, crisp_error_t **err)
{
    uint8_t *mask = NULL;
    size_t n = 0;
    if (rt_systemd_cpuset_mask(list, &mask, &n, err) < 0)
        return -1;
    struct rt_systemd_prop *s = prop_slot(p, name, err);
    if (!s) {
        free(mask);
        return -1;
    }
    s->type = RT_PROP_BYTES;
    s->bytes = mask;
    s->n_bytes = n;
    return 0;
}

/* Properties every unit of crisp's gets: accounting on (the same controllers the cgroupfs driver
 * uses), no default dependencies (a container must not hold up, or be stopped by, shutdown ordering
 * other than its slice's), and garbage collection even of a failed unit, so that no stale unit blocks
 * the name. */
static int put_common(struct rt_systemd_props *p, const char *description, crisp_error_t **err)
{
    static const char *const accounting[] = {"CPUAccounting", "MemoryAccounting", "TasksAccounting",
                                             "IOAccounting"};
    if (put_str(p, "Description", description, err) < 0 ||
        put_u64(p, "DefaultDependencies", RT_PROP_BOOL, 0, err) < 0 ||
        put_str(p, "CollectMode", "inactive-or-failed", err) < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(accounting); i++)
        if (put_u64(p, accounting[i], RT_PROP_BOOL, 1, err) < 0)
            return -1;
    return 0;
}

int rt_systemd_props_scope(struct rt_systemd_props *p, const char *slice, const char *description, pid_t pid,
                           crisp_error_t **err)
{
    if (pid <= 0)
        return crisp_error_make(err, EINVAL, "a scope needs a process, not pid %d", (int)pid);
    /* TimeoutStopSec bounds StopUnit when something in the scope ignores SIGTERM; crisp has killed
     * the container's processes before it stops the scope, so only a straggler ever waits for it. */
    if (put_common(p, description, err) < 0 || put_str(p, "Slice", slice, err) < 0 ||
        put_u64(p, "Delegate", RT_PROP_BOOL, 1, err) < 0 ||
        put_u64(p, "TimeoutStopUSec", RT_PROP_U64, 5 * 1000000ULL, err) < 0)
        return -1;
    return put_u64(p, "PIDs", RT_PROP_PID, (uint64_t)pid, err);
}

int rt_systemd_props_slice(struct rt_systemd_props *p, const char *description, crisp_error_t **err)
{
    return put_common(p, description, err);
}

/* -1 is "no limit", which systemd spells UINT64_MAX ("infinity"). */
static uint64_t limit_value(int64_t v)
{
    return v < 0 ? UINT64_MAX : (uint64_t)v;
}

static int put_cpu(struct rt_systemd_props *p, enum rt_cgroup_mode mode,
                   const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (res->cpu_shares &&
        (mode == RT_CGROUP_V2 ? put_u64(p, "CPUWeight", RT_PROP_U64,
                                        rt_cgroup_shares_to_weight((uint64_t)res->cpu_shares), err)
                              : put_u64(p, "CPUShares", RT_PROP_U64, (uint64_t)res->cpu_shares, err)) < 0)
        return -1;
    if (res->cpu_period && put_u64(p, "CPUQuotaPeriodUSec", RT_PROP_U64, (uint64_t)res->cpu_period, err) < 0)
        return -1;
    if (res->cpu_quota < 0)
        return put_u64(p, "CPUQuotaPerSecUSec", RT_PROP_U64, UINT64_MAX, err);
    if (res->cpu_quota == 0)
        return 0;
    uint64_t period = res->cpu_period ? (uint64_t)res->cpu_period : 100000;
    uint64_t per_sec = (uint64_t)res->cpu_quota * 1000000 / period;
    if (per_sec % QUOTA_PER_SEC_STEP)
        per_sec = (per_sec / QUOTA_PER_SEC_STEP + 1) * QUOTA_PER_SEC_STEP;
    return put_u64(p, "CPUQuotaPerSecUSec", RT_PROP_U64, per_sec, err);
}

/* v2's swap limit is swap alone, v1's (a file systemd has no property for) memory plus swap. */
static int put_memory(struct rt_systemd_props *p, enum rt_cgroup_mode mode,
                      const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (res->memory_limit && put_u64(p, mode == RT_CGROUP_V2 ? "MemoryMax" : "MemoryLimit", RT_PROP_U64,
                                     (uint64_t)res->memory_limit, err) < 0)
        return -1;
    if (mode != RT_CGROUP_V2 || !res->memory_swap_limit)
        return 0;
    if (res->memory_swap_limit < 0)
        return put_u64(p, "MemorySwapMax", RT_PROP_U64, UINT64_MAX, err);
    if (!res->memory_limit)
        return 0; /* refused by the file backend, which says why */
    return put_u64(p, "MemorySwapMax", RT_PROP_U64, (uint64_t)(res->memory_swap_limit - res->memory_limit),
                   err);
}

/* Unified keys with a property of their own, so that systemd keeps them too; crisp keeps the rest
 * itself (cgroup_systemd_reload.c), as systemd writes its defaults over some of them. */
static const struct {
    const char *key, *property;
} unified_props[] = {
    {"memory.high", "MemoryHigh"},        {"memory.low", "MemoryLow"},
    {"memory.min", "MemoryMin"},          {"memory.max", "MemoryMax"},
    {"memory.swap.max", "MemorySwapMax"}, {"pids.max", "TasksMax"},
    {"cpu.weight", "CPUWeight"},          {"io.weight", "IOWeight"},
};

/* The property carrying key = value and its number; NULL for a key without one or a value in
 * another form ("default 100"): the file write refuses a bad one with the kernel's word. */
static const char *unified_property(const char *key, const char *value, uint64_t *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(unified_props); i++) {
        if (strcmp(key, unified_props[i].key) != 0)
            continue;
        if (strcmp(value, "max") == 0) {
            *ret = UINT64_MAX;
            return unified_props[i].property;
        }
        char *end;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || (*end && *end != '\n') || value[0] == '-')
            return NULL;
        *ret = v;
        return unified_props[i].property;
    }
    return NULL;
}

bool rt_systemd_unified_has_property(const char *key, const char *value)
{
    uint64_t v;
    return unified_property(key, value, &v) != NULL;
}

static int put_unified(struct rt_systemd_props *p, const char *key, const char *value, crisp_error_t **err)
{
    uint64_t v;
    const char *property = unified_property(key, value, &v);
    return property ? put_u64(p, property, RT_PROP_U64, v, err) : 0;
}

int rt_systemd_props_resources(struct rt_systemd_props *p, enum rt_cgroup_mode mode,
                               const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (put_cpu(p, mode, res, err) < 0 || put_memory(p, mode, res, err) < 0)
        return -1;
    if (res->pids_limit && put_u64(p, "TasksMax", RT_PROP_U64, limit_value(res->pids_limit), err) < 0)
        return -1;
    if (mode != RT_CGROUP_V2)
        return 0;
    if (res->cpuset_cpus && res->cpuset_cpus[0] && put_cpuset(p, "AllowedCPUs", res->cpuset_cpus, err) < 0)
        return -1;
    if (res->cpuset_mems && res->cpuset_mems[0] &&
        put_cpuset(p, "AllowedMemoryNodes", res->cpuset_mems, err) < 0)
        return -1;
    for (size_t i = 0; i < res->n_unified; i++)
        if (put_unified(p, res->unified[i].key, res->unified[i].value, err) < 0)
            return -1;
    return 0;
}

static int parse_cpu(const char **s, unsigned long *ret, const char *list, crisp_error_t **err)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(*s, &end, 10);
    if (errno || end == *s || **s == '-' || **s == '+' || v >= CPUSET_MAX)
        return crisp_error_make(err, EINVAL, "bad cpu or node list \"%s\" (at most %d)", list,
                                CPUSET_MAX - 1);
    *s = end;
    *ret = v;
    return 0;
}

int rt_systemd_cpuset_mask(const char *list, uint8_t **ret_mask, size_t *ret_n, crisp_error_t **err)
{
    uint8_t mask[CPUSET_MAX / 8] = {0};
    size_t n = 0;
    for (const char *s = list; *s;) {
        unsigned long lo, hi;
        if (parse_cpu(&s, &lo, list, err) < 0)
            return -1;
        hi = lo;
        if (*s == '-' && (s++, parse_cpu(&s, &hi, list, err) < 0))
            return -1;
        if (hi < lo || (*s && *s != ','))
            return crisp_error_make(err, EINVAL, "bad cpu or node list \"%s\"", list);
        for (unsigned long c = lo; c <= hi; c++)
            mask[c / 8] |= (uint8_t)(1u << (c % 8));
        n = n > hi / 8 + 1 ? n : hi / 8 + 1;
        s += *s == ',';
    }
    if (!n)
        return crisp_error_make(err, EINVAL, "empty cpu or node list");
    *ret_mask = malloc(n);
    if (!*ret_mask)
        return crisp_error_oom(err);
    memcpy(*ret_mask, mask, n);
    *ret_n = n;
    return 0;
}

/* The one name /proc/devices gives major in section ("Character devices:"), NULL when it has none
 * or shares it with another major (systemd would allow them all). */
static char *major_name(const char *proc_devices, const char *section, int64_t major)
{
    const char *at = strstr(proc_devices, section);
    if (!at)
        return NULL;
    char *found = NULL;
    for (const char *line = strchr(at, '\n'); line && line[1] && line[1] != '\n';
         line = strchr(line + 1, '\n')) {
        long long m;
        char name[64];
        if (sscanf(line + 1, " %lld %63s", &m, name) != 2 || strchr(name, '/'))
            continue;
        if (m == major && !found) {
            found = strdup(name);
        } else if (m != major && found && strcmp(found, name) == 0) {
            free(found);
            return NULL;
        }
    }
    return found;
}

/* The DeviceAllow= path of one rule's type ('c' or 'b'): "/dev/char/1:3", "char-*" for every major,
 * "char-pts" for every minor of one major. NULL (and no error) when systemd can't say it exactly. */
static char *device_path(char type, const struct rt_device_rule *r, const char *proc_devices)
{
    const char *kind = type == 'c' ? "char" : "block";
    char *path = NULL;
    if (r->major < 0 && r->minor < 0) {
        if (asprintf(&path, "%s-*", kind) < 0)
            return NULL;
    } else if (r->major < 0) {
        return NULL;
    } else if (r->minor < 0) {
        _cleanup_free_ char *name = major_name(
            proc_devices, type == 'c' ? "Character devices:" : "Block devices:", r->major);
        if (!name || asprintf(&path, "%s-%s", kind, name) < 0)
            return NULL;
    } else if (asprintf(&path, "/dev/%s/%lld:%lld", kind, (long long)r->major, (long long)r->minor) < 0) {
        return NULL;
    }
    return path;
}

int rt_systemd_props_devices(struct rt_systemd_props *p, const struct rt_device_rule *rules, size_t n,
                             const char *proc_devices, crisp_error_t **err)
{
    /* At most two entries per rule (type 'a' is both), two strings each. */
    _cleanup_strv_ char **pairs = calloc(4 * n + 1, sizeof(char *));
    if (!pairs)
        return crisp_error_oom(err);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char access[4], *a = access;
        if (rules[i].access & BPF_DEVCG_ACC_READ)
            *a++ = 'r';
        if (rules[i].access & BPF_DEVCG_ACC_WRITE)
            *a++ = 'w';
        if (rules[i].access & BPF_DEVCG_ACC_MKNOD)
            *a++ = 'm';
        *a = '\0';
        for (const char *t = rules[i].type == 'a' ? "cb" : rules[i].type == 'c' ? "c" : "b"; *t; t++) {
            char *path = device_path(*t, &rules[i], proc_devices);
            if (!path)
                continue;
            pairs[k++] = path;
            if (!(pairs[k++] = strdup(access)))
                return crisp_error_oom(err);
        }
    }
    if (put_str(p, "DevicePolicy", "strict", err) < 0)
        return -1;
    struct rt_systemd_prop *s = prop_slot(p, "DeviceAllow", err);
    if (!s)
        return -1;
    s->type = RT_PROP_PAIRS;
    s->pairs = TAKE_PTR(pairs);
    return 0;
}
