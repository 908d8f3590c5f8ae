#define _GNU_SOURCE
#include "runtime/stats_cgroup.h"

#include "common/cleanup.h"
#include "common/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One number, or "max". */
#define VALUE_MAX 64
/* memory.stat is the largest file read: about 60 short lines on Linux 6.x, twice that with v1's
 * total_* copies; 16 KiB leaves room for kernels to come. */
#define KEYED_MAX 16384
/* Two lines of about 60 bytes. */
#define PSI_MAX 512
/* The kernel prints "unlimited" as a page-aligned LONG_MAX (9223372036854771712); like containerd
 * and cAdvisor, anything from 2^62 up counts as no limit. */
#define UNLIMITED_FROM (1ULL << 62)
#define PATH_LEN_MAX 4096

/* An open cgroup directory and its path, for messages. */
struct cg_dir {
    int fd;
    char *path;
};

#define CG_DIR_INIT {.fd = -1}

static void cg_dir_fini(struct cg_dir *d)
{
    fd_close_reset(&d->fd);
    free(d->path);
    d->path = NULL;
}

/* "/" or "/a/b": absolute, no empty, "." or ".." components, so it cannot leave the mount. */
static bool path_ok(const char *path)
{
    if (!path || path[0] != '/' || strlen(path) >= PATH_LEN_MAX)
        return false;
    if (strcmp(path, "/") == 0)
        return true;
    for (const char *p = path; *p;) {
        const char *c = p + 1, *e = strchrnul(c, '/');
        size_t n = e - c;
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        p = e;
    }
    return true;
}

static int dir_open(struct cg_dir *d, crisp_error_t **err)
{
    d->fd = open(d->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (d->fd >= 0)
        return 1;
    if (errno == ENOENT)
        return crisp_error_make(err, ENOENT, "cgroup %s not found", d->path);
    return crisp_error_errno(err, "open cgroup %s", d->path);
}

/* v1: <mount>/<ctrl><path>. 0 when the controller is not mounted at all. */
static int v1_open(const char *mount, const char *ctrl, const char *path, struct cg_dir *d, crisp_error_t **err)
{
    if (asprintf(&d->path, "%s/%s%s", mount, ctrl, strcmp(path, "/") == 0 ? "" : path) < 0) {
        d->path = NULL;
        return crisp_error_oom(err);
    }
    d->fd = open(d->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (d->fd >= 0)
        return 1;
    if (errno != ENOENT)
        return crisp_error_errno(err, "open cgroup %s", d->path);
    char hierarchy[PATH_LEN_MAX];
    snprintf(hierarchy, sizeof(hierarchy), "%s/%s", mount, ctrl);
    if (access(hierarchy, F_OK) < 0 && errno == ENOENT)
        return 0;
    return crisp_error_make(err, ENOENT, "cgroup %s not found", d->path);
}

/* A controller's main file is missing: the cgroup was removed while being read (ENOENT), or the
 * controller is not enabled for it (0: its figures are not available). */
static int dir_gone(const struct cg_dir *d, crisp_error_t **err)
{
    if (access(d->path, F_OK) < 0 && errno == ENOENT)
        return crisp_error_make(err, ENOENT, "cgroup %s was removed", d->path);
    return 0;
}

static int read_all(int fd, const struct cg_dir *d, const char *name, char *buf, size_t size, crisp_error_t **err)
{
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EOPNOTSUPP || errno == ENODEV) && len == 0)
            return 0; /* PSI switched off (psi=0, cgroup.pressure 0) */
        if (n < 0)
            return crisp_error_errno(err, "read %s/%s", d->path, name);
        if (n == 0)
            break;
        len += n;
        if (len == size - 1) {
            char extra;
            do
                n = read(fd, &extra, 1);
            while (n < 0 && errno == EINTR);
            if (n != 0)
                return crisp_error_make(err, EFBIG, "%s/%s: longer than %zu bytes", d->path, name, size - 1);
            break;
        }
    }
    buf[len] = '\0';
    return 1;
}

/* Reads d/name into buf, NUL-terminated. 1: read; 0: the file is missing; -1: error. */
static int cg_read(const struct cg_dir *d, const char *name, char *buf, size_t size, crisp_error_t **err)
{
    _cleanup_close_ int fd = openat(d->fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && (errno == ENOENT || errno == EOPNOTSUPP))
        return 0;
    if (fd < 0)
        return crisp_error_errno(err, "open %s/%s", d->path, name);
    return read_all(fd, d, name, buf, size, err);
}

static int malformed(const struct cg_dir *d, const char *name, crisp_error_t **err)
{
    return crisp_error_make(err, EINVAL, "%s/%s: unexpected content", d->path, name);
}

/* Decimal digits only, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *ret, const char **ret_end)
{
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        return false;
    *ret = v;
    *ret_end = p;
    return true;
}

static bool only_space(const char *p)
{
    for (; *p; p++)
        if (*p != '\n' && *p != ' ')
            return false;
    return true;
}

/* A file holding one number, or "max" (*ret_max) where the kernel writes that for "no limit". */
static int read_value(const struct cg_dir *d, const char *name, uint64_t *ret, bool *ret_max, crisp_error_t **err)
{
    char buf[VALUE_MAX];
    int r = cg_read(d, name, buf, sizeof(buf), err);
    if (r <= 0)
        return r;
    const char *end;
    if (ret_max && strncmp(buf, "max", 3) == 0 && only_space(buf + 3)) {
        *ret = 0;
        *ret_max = true;
        return 1;
    }
    if (!parse_u64(buf, ret, &end) || !only_space(end))
        return malformed(d, name, err);
    if (ret_max)
        *ret_max = false;
    return 1;
}

struct key_want {
    const char *key;
    uint64_t *value;
};

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* One "key value" line (without its newline); only wanted values must be numbers. */
static bool parse_keyed_line(const char *line, const char *end, const struct key_want *want, size_t n)
{
    const char *k = line;
    while (k < end && key_char(*k))
        k++;
    if (k == line || k == end || *k != ' ' || k + 1 == end)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (strlen(want[i].key) != (size_t)(k - line) || memcmp(want[i].key, line, k - line) != 0)
            continue;
        const char *vend;
        return parse_u64(k + 1, want[i].value, &vend) && vend == end;
    }
    for (const char *v = k + 1; v < end; v++)
        if (*v == ' ')
            return false;
    return true;
}

/* A flat keyed file (memory.stat, cpu.stat, cpuacct.stat). Wanted keys it lacks stay as they are. */
static int read_keyed(const struct cg_dir *d, const char *name, const struct key_want *want, size_t n,
                      crisp_error_t **err)
{
    char buf[KEYED_MAX];
    int r = cg_read(d, name, buf, sizeof(buf), err);
    if (r <= 0)
        return r;
    if (buf[0] == '\0')
        return malformed(d, name, err);
    for (const char *line = buf; *line;) {
        const char *end = strchrnul(line, '\n');
        if (!parse_keyed_line(line, end, want, n))
            return malformed(d, name, err);
        line = *end ? end + 1 : end;
    }
    return 1;
}

/* "12.34" (the kernel's fixed-point percentages) without strtod's dependence on the locale. */
static bool parse_decimal(const char *s, double *ret, const char **ret_end)
{
    uint64_t whole, frac = 0;
    const char *p;
    if (!parse_u64(s, &whole, &p))
        return false;
    double scale = 1;
    if (*p == '.') {
        const char *f = ++p;
        for (; *p >= '0' && *p <= '9' && p - f < 18; p++) {
            frac = frac * 10 + (uint64_t)(*p - '0');
            scale *= 10;
        }
        if (p == f || (*p >= '0' && *p <= '9'))
            return false;
    }
    *ret = (double)whole + (double)frac / scale;
    *ret_end = p;
    return true;
}

/* " avg10=0.00 avg60=0.00 avg300=0.00 total=0" after "some" or "full". */
static bool parse_psi_fields(const char *p, const char *end, struct rt_stats_psi_line *ret)
{
    static const char *const keys[] = {" avg10=", " avg60=", " avg300="};
    double *avgs[] = {&ret->avg10, &ret->avg60, &ret->avg300};
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        size_t n = strlen(keys[i]);
        if ((size_t)(end - p) < n || memcmp(p, keys[i], n) != 0 || !parse_decimal(p + n, avgs[i], &p))
            return false;
    }
    if ((size_t)(end - p) < 7 || memcmp(p, " total=", 7) != 0)
        return false;
    const char *tend;
    return parse_u64(p + 7, &ret->total_us, &tend) && tend == end;
}

static bool parse_psi(const char *text, struct rt_stats_psi *ret)
{
    bool some = false;
    for (const char *line = text; *line;) {
        const char *end = strchrnul(line, '\n');
        if (end - line > 4 && memcmp(line, "some", 4) == 0 && !some) {
            if (!parse_psi_fields(line + 4, end, &ret->some))
                return false;
            some = true;
        } else if (end - line > 4 && memcmp(line, "full", 4) == 0 && !ret->has_full) {
            if (!parse_psi_fields(line + 4, end, &ret->full))
                return false;
            ret->has_full = true;
        } else {
            return false;
        }
        line = *end ? end + 1 : end;
    }
    return some;
}

static int read_psi(const struct cg_dir *d, const char *name, struct rt_stats_psi *ret, crisp_error_t **err)
{
    char buf[PSI_MAX];
    int r = cg_read(d, name, buf, sizeof(buf), err);
    if (r <= 0)
        return r;
    if (!parse_psi(buf, ret)) {
        *ret = (struct rt_stats_psi){0};
        return malformed(d, name, err);
    }
    ret->available = true;
    return 1;
}

static bool unlimited(uint64_t v)
{
    return v >= UNLIMITED_FROM;
}

static void memory_derive(struct rt_stats_memory *m, uint64_t inactive_file)
{
    m->working_set_bytes = m->usage_bytes > inactive_file ? m->usage_bytes - inactive_file : 0;
    if (m->limited)
        m->available_bytes = m->limit_bytes > m->working_set_bytes ? m->limit_bytes - m->working_set_bytes : 0;
}

/* cpuacct.stat counts USER_HZ ticks. */
static int v1_cpu_split(const struct cg_dir *d, struct rt_stats_cpu *ret, crisp_error_t **err)
{
    uint64_t user = UINT64_MAX, system = UINT64_MAX;
    struct key_want want[] = {{"user", &user}, {"system", &system}};
    int r = read_keyed(d, "cpuacct.stat", want, ARRAY_SIZE(want), err);
    if (r <= 0 || user == UINT64_MAX || system == UINT64_MAX)
        return r;
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t ns_per_tick = 1000000000ULL / (uint64_t)(hz > 0 ? hz : 100);
    ret->user_ns = user * ns_per_tick;
    ret->system_ns = system * ns_per_tick;
    ret->has_user_system = true;
    return 1;
}

static int v1_cpu_throttling(const char *mount, const char *path, struct rt_stats_cpu *ret, crisp_error_t **err)
{
    _cleanup_(cg_dir_fini) struct cg_dir d = CG_DIR_INIT;
    int r = v1_open(mount, "cpu", path, &d, err);
    if (r <= 0)
        return r;
    uint64_t periods = UINT64_MAX, throttled = UINT64_MAX, ns = UINT64_MAX;
    struct key_want want[] = {{"nr_periods", &periods}, {"nr_throttled", &throttled}, {"throttled_time", &ns}};
    r = read_keyed(&d, "cpu.stat", want, ARRAY_SIZE(want), err);
    if (r <= 0 || periods == UINT64_MAX || throttled == UINT64_MAX || ns == UINT64_MAX)
        return r;
    ret->periods = periods;
    ret->throttled_periods = throttled;
    ret->throttled_ns = ns;
    ret->has_throttling = true;
    return 1;
}

static int v1_cpu(const char *mount, const char *path, unsigned want, struct rt_stats_cpu *ret,
                  crisp_error_t **err)
{
    _cleanup_(cg_dir_fini) struct cg_dir d = CG_DIR_INIT;
    int r = v1_open(mount, "cpuacct", path, &d, err);
    if (r <= 0)
        return r;
    r = read_value(&d, "cpuacct.usage", &ret->usage_ns, NULL, err);
    if (r <= 0)
        return r < 0 ? -1 : dir_gone(&d, err);
    ret->available = true;
    if (!(want & RT_STATS_CPU_DETAIL))
        return 0;
    if (v1_cpu_split(&d, ret, err) < 0)
        return -1;
    return v1_cpu_throttling(mount, path, ret, err) < 0 ? -1 : 0;
}

/* memory.memsw.* count memory + swap; they exist only with swap accounting. */
static int v1_swap(const struct cg_dir *d, struct rt_stats_memory *m, crisp_error_t **err)
{
    uint64_t memsw, memsw_limit;
    int r = read_value(d, "memory.memsw.usage_in_bytes", &memsw, NULL, err);
    if (r <= 0)
        return r;
    m->has_swap = true;
    m->swap_bytes = memsw > m->usage_bytes ? memsw - m->usage_bytes : 0;
    r = read_value(d, "memory.memsw.limit_in_bytes", &memsw_limit, NULL, err);
    if (r <= 0 || unlimited(memsw_limit) || !m->limited)
        return r;
    m->swap_limited = true;
    m->swap_limit_bytes = memsw_limit > m->limit_bytes ? memsw_limit - m->limit_bytes : 0;
    return 1;
}

static int v1_memory(const char *mount, const char *path, struct rt_stats_memory *ret, crisp_error_t **err)
{
    _cleanup_(cg_dir_fini) struct cg_dir d = CG_DIR_INIT;
    int r = v1_open(mount, "memory", path, &d, err);
    if (r <= 0)
        return r;
    r = read_value(&d, "memory.usage_in_bytes", &ret->usage_bytes, NULL, err);
    if (r <= 0)
        return r < 0 ? -1 : dir_gone(&d, err);
    uint64_t limit = 0, inactive_file = 0;
    struct key_want want[] = {{"total_inactive_file", &inactive_file}, {"total_rss", &ret->rss_bytes},
                              {"total_pgfault", &ret->page_faults}, {"total_pgmajfault", &ret->major_page_faults}};
    if (read_value(&d, "memory.limit_in_bytes", &limit, NULL, err) < 0 ||
        read_keyed(&d, "memory.stat", want, ARRAY_SIZE(want), err) < 0)
        return -1;
    ret->available = true;
    ret->limited = limit > 0 && !unlimited(limit);
    ret->limit_bytes = ret->limited ? limit : 0;
    memory_derive(ret, inactive_file);
    return v1_swap(&d, ret, err) < 0 ? -1 : 0;
}

static int v1_pids(const char *mount, const char *path, struct rt_stats_pids *ret, crisp_error_t **err)
{
    _cleanup_(cg_dir_fini) struct cg_dir d = CG_DIR_INIT;
    int r = v1_open(mount, "pids", path, &d, err);
    if (r <= 0)
        return r;
    /* The root cgroup has no pids.current. */
    r = read_value(&d, "pids.current", &ret->current, NULL, err);
    ret->available = r > 0;
    return r < 0 ? -1 : 0;
}

/* Each controller is its own directory on v1: only the ones asked for are opened. */
static int v1_read(const char *mount, const char *path, unsigned want, struct rt_stats_cgroup *ret,
                   crisp_error_t **err)
{
    if ((want & RT_STATS_CPU) && v1_cpu(mount, path, want, &ret->cpu, err) < 0)
        return -1;
    if ((want & RT_STATS_MEMORY) && v1_memory(mount, path, &ret->memory, err) < 0)
        return -1;
    if ((want & RT_STATS_PIDS) && v1_pids(mount, path, &ret->pids, err) < 0)
        return -1;
    return 0;
}

static int v2_cpu(const struct cg_dir *d, struct rt_stats_cpu *ret, crisp_error_t **err)
{
    uint64_t usage = UINT64_MAX, user = UINT64_MAX, system = UINT64_MAX;
    uint64_t periods = UINT64_MAX, throttled = UINT64_MAX, throttled_us = UINT64_MAX;
    struct key_want want[] = {{"usage_usec", &usage},       {"user_usec", &user},
                              {"system_usec", &system},     {"nr_periods", &periods},
                              {"nr_throttled", &throttled}, {"throttled_usec", &throttled_us}};
    int r = read_keyed(d, "cpu.stat", want, ARRAY_SIZE(want), err);
    if (r < 0)
        return -1;
    if (r == 0 || usage == UINT64_MAX)
        return r == 0 ? dir_gone(d, err) : malformed(d, "cpu.stat", err);
    ret->available = true;
    ret->usage_ns = usage * 1000;
    if (user != UINT64_MAX && system != UINT64_MAX) {
        ret->has_user_system = true;
        ret->user_ns = user * 1000;
        ret->system_ns = system * 1000;
    }
    /* The throttling lines appear only where the cpu controller is enabled. */
    if (periods != UINT64_MAX && throttled != UINT64_MAX && throttled_us != UINT64_MAX) {
        ret->has_throttling = true;
        ret->periods = periods;
        ret->throttled_periods = throttled;
        ret->throttled_ns = throttled_us * 1000;
    }
    return 0;
}

static int v2_swap(const struct cg_dir *d, struct rt_stats_memory *m, crisp_error_t **err)
{
    uint64_t limit;
    bool max;
    int r = read_value(d, "memory.swap.current", &m->swap_bytes, NULL, err);
    if (r <= 0)
        return r;
    m->has_swap = true;
    r = read_value(d, "memory.swap.max", &limit, &max, err);
    if (r <= 0 || max || unlimited(limit))
        return r;
    m->swap_limited = true;
    m->swap_limit_bytes = limit;
    return 1;
}

static int v2_memory(const struct cg_dir *d, struct rt_stats_memory *ret, crisp_error_t **err)
{
    /* memory.current is missing where the memory controller is not enabled (and at the root). */
    int r = read_value(d, "memory.current", &ret->usage_bytes, NULL, err);
    if (r <= 0)
        return r < 0 ? -1 : dir_gone(d, err);
    uint64_t limit = 0, inactive_file = 0;
    bool max = true;
    struct key_want want[] = {{"inactive_file", &inactive_file}, {"anon", &ret->rss_bytes},
                              {"pgfault", &ret->page_faults}, {"pgmajfault", &ret->major_page_faults}};
    if (read_value(d, "memory.max", &limit, &max, err) < 0 ||
        read_keyed(d, "memory.stat", want, ARRAY_SIZE(want), err) < 0)
        return -1;
    ret->available = true;
    ret->limited = !max && !unlimited(limit);
    ret->limit_bytes = ret->limited ? limit : 0;
    memory_derive(ret, inactive_file);
    return v2_swap(d, ret, err) < 0 ? -1 : 0;
}

static int v2_psi(const struct cg_dir *d, struct rt_stats_cgroup *ret, crisp_error_t **err)
{
    if (read_psi(d, "cpu.pressure", &ret->cpu_pressure, err) < 0 ||
        read_psi(d, "memory.pressure", &ret->memory_pressure, err) < 0 ||
        read_psi(d, "io.pressure", &ret->io_pressure, err) < 0)
        return -1;
    return 0;
}

static int v2_pids(const struct cg_dir *d, struct rt_stats_pids *ret, crisp_error_t **err)
{
    int r = read_value(d, "pids.current", &ret->current, NULL, err);
    ret->available = r > 0;
    return r < 0 ? -1 : 0;
}

/* One directory on v2; cpu.stat holds the CPU details anyway. */
static int v2_read(const char *mount, const char *path, unsigned want, struct rt_stats_cgroup *ret,
                   crisp_error_t **err)
{
    _cleanup_(cg_dir_fini) struct cg_dir d = CG_DIR_INIT;
    if (asprintf(&d.path, "%s%s", mount, strcmp(path, "/") == 0 ? "" : path) < 0) {
        d.path = NULL;
        return crisp_error_oom(err);
    }
    if (dir_open(&d, err) < 0 || ((want & RT_STATS_CPU) && v2_cpu(&d, &ret->cpu, err) < 0) ||
        ((want & RT_STATS_MEMORY) && v2_memory(&d, &ret->memory, err) < 0) ||
        ((want & RT_STATS_PIDS) && v2_pids(&d, &ret->pids, err) < 0) || ((want & RT_STATS_PSI) && v2_psi(&d, ret, err) < 0))
        return -1;
    return 0;
}

int rt_stats_cgroup_read_some(const char *mount, bool v2, const char *path, unsigned want,
                              struct rt_stats_cgroup *ret, crisp_error_t **err)
{
    *ret = (struct rt_stats_cgroup){.timestamp_ns = clock_realtime_ns()};
    if (!mount || !mount[0] || strlen(mount) >= PATH_LEN_MAX / 2)
        return crisp_error_make(err, EINVAL, "invalid cgroup mount \"%s\"", mount ? mount : "");
    if (!path_ok(path))
        return crisp_error_make(err, EINVAL, "invalid cgroup path \"%s\"", path ? path : "");
    return v2 ? v2_read(mount, path, want, ret, err) : v1_read(mount, path, want, ret, err);
}

int rt_stats_cgroup_read(const char *mount, bool v2, const char *path, struct rt_stats_cgroup *ret,
                         crisp_error_t **err)
{
    return rt_stats_cgroup_read_some(mount, v2, path, RT_STATS_ALL, ret, err);
}

int rt_stats_cgroup_read_root(const struct rt_cgroup_root *root, const char *path, unsigned want,
                              struct rt_stats_cgroup *ret, crisp_error_t **err)
{
    return rt_stats_cgroup_read_some(root->mount, root->mode == RT_CGROUP_V2, path, want, ret, err);
}
