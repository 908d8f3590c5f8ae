#define _GNU_SOURCE
#include "runtime/stats/stats_cgroup.h"

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

/* The files a reading may need. The CPU usage is v1's cpuacct.usage, or v2's cpu.stat with the
 * details in it; the details' own files are v1's. */
enum cg_file {
    CG_CPU_USAGE,
    CG_CPU_SPLIT,
    CG_CPU_THROTTLING,
    CG_MEM_USAGE,
    CG_MEM_LIMIT,
    CG_MEM_STAT,
    CG_SWAP_USAGE,
    CG_SWAP_LIMIT,
    CG_PIDS,
    CG_CPU_PRESSURE,
    CG_MEMORY_PRESSURE,
    CG_IO_PRESSURE,
    CG_FILES,
};

/* v1 keeps a directory per controller; v2 uses the first slot for its one directory. */
enum cg_ctrl { CTRL_CPUACCT, CTRL_CPU, CTRL_MEMORY, CTRL_PIDS, CTRL_COUNT };

static const char *const ctrl_names[CTRL_COUNT] = {"cpuacct", "cpu", "memory", "pids"};

/* need: the want bits that ask for the file. A section's main file tells whether its controller
 * serves the cgroup: where it is missing, the section's other files are not opened. */
struct cg_file_spec {
    enum cg_ctrl ctrl;
    const char *v1, *v2;
    unsigned need;
    bool main;
};

#define CPU_DETAIL (RT_STATS_CPU | RT_STATS_CPU_DETAIL)

static const struct cg_file_spec specs[CG_FILES] = {
    [CG_CPU_USAGE] = {CTRL_CPUACCT, "cpuacct.usage", "cpu.stat", RT_STATS_CPU, true},
    [CG_CPU_SPLIT] = {CTRL_CPUACCT, "cpuacct.stat", NULL, CPU_DETAIL, false},
    [CG_CPU_THROTTLING] = {CTRL_CPU, "cpu.stat", NULL, CPU_DETAIL, false},
    [CG_MEM_USAGE] = {CTRL_MEMORY, "memory.usage_in_bytes", "memory.current", RT_STATS_MEMORY, true},
    [CG_MEM_LIMIT] = {CTRL_MEMORY, "memory.limit_in_bytes", "memory.max", RT_STATS_MEMORY, false},
    [CG_MEM_STAT] = {CTRL_MEMORY, "memory.stat", "memory.stat", RT_STATS_MEMORY, false},
    [CG_SWAP_USAGE] = {CTRL_MEMORY, "memory.memsw.usage_in_bytes", "memory.swap.current", RT_STATS_MEMORY,
                       false},
    [CG_SWAP_LIMIT] = {CTRL_MEMORY, "memory.memsw.limit_in_bytes", "memory.swap.max", RT_STATS_MEMORY, false},
    [CG_PIDS] = {CTRL_PIDS, "pids.current", "pids.current", RT_STATS_PIDS, true},
    [CG_CPU_PRESSURE] = {CTRL_CPUACCT, NULL, "cpu.pressure", RT_STATS_PSI, false},
    [CG_MEMORY_PRESSURE] = {CTRL_CPUACCT, NULL, "memory.pressure", RT_STATS_PSI, false},
    [CG_IO_PRESSURE] = {CTRL_CPUACCT, NULL, "io.pressure", RT_STATS_PSI, false},
};

/* The CPU details belong to the CPU section: without cpuacct.usage they are not read either. */
static unsigned section_of(enum cg_file id)
{
    return specs[id].need & ~RT_STATS_CPU_DETAIL;
}

/* Read-only once open, so that threads can share it. */
struct rt_stats_cgroup_files {
    bool v2;
    bool partial;
    unsigned want;
    char *dirs[CTRL_COUNT]; /* for messages */
    int fds[CG_FILES];      /* -1: not asked for, or missing */
};

/* An open cgroup directory and its path, while its files are being opened. */
struct cg_dir {
    int fd;
    char *path;
};

#define CG_DIR_INIT                                                                                          \
    {                                                                                                        \
        .fd = -1                                                                                             \
    }

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
static int v1_dir_open(const char *mount, const char *ctrl, const char *path, struct cg_dir *d,
                       crisp_error_t **err)
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

/* A controller's main file is missing: the cgroup was removed while being opened (ENOENT), or the
 * controller is not enabled for it (0: its figures are not available). */
static int dir_gone(const struct cg_dir *d, crisp_error_t **err)
{
    if (access(d->path, F_OK) < 0 && errno == ENOENT)
        return crisp_error_make(err, ENOENT, "cgroup %s was removed", d->path);
    return 0;
}

static const char *file_name(const struct rt_stats_cgroup_files *f, enum cg_file id)
{
    return f->v2 ? specs[id].v2 : specs[id].v1;
}

static const char *file_dir(const struct rt_stats_cgroup_files *f, enum cg_file id)
{
    return f->dirs[f->v2 ? 0 : specs[id].ctrl];
}

/* Whether the open of d (controller ctrl on v1) takes file id. */
static bool file_wanted(const struct rt_stats_cgroup_files *f, enum cg_file id, enum cg_ctrl ctrl,
                        unsigned skipped)
{
    const struct cg_file_spec *s = &specs[id];
    return file_name(f, id) && (f->v2 || s->ctrl == ctrl) && (f->want & s->need) == s->need &&
           !(skipped & section_of(id));
}

/* Opens the files of d that f wants; *skipped collects the sections whose main file is missing. */
static int files_open_dir(struct rt_stats_cgroup_files *f, const struct cg_dir *d, enum cg_ctrl ctrl,
                          bool root, unsigned *skipped, crisp_error_t **err)
{
    for (int id = 0; id < CG_FILES; id++) {
        if (!file_wanted(f, id, ctrl, *skipped))
            continue;
        f->fds[id] = openat(d->fd, file_name(f, id), O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (f->fds[id] >= 0)
            continue;
        if (errno != ENOENT && errno != EOPNOTSUPP)
            return crisp_error_errno(err, "open %s/%s", d->path, file_name(f, id));
        if (!specs[id].main)
            continue;
        if (dir_gone(d, err) < 0)
            return -1;
        *skipped |= section_of(id);
        f->partial = f->partial || !root;
    }
    return 0;
}

/* Each controller is its own directory on v1: only the ones with a file wanted are opened. */
static int v1_files_open(struct rt_stats_cgroup_files *f, const char *mount, const char *path,
                         crisp_error_t **err)
{
    unsigned skipped = 0;
    for (int c = 0; c < CTRL_COUNT; c++) {
        bool any = false;
        for (int id = 0; id < CG_FILES; id++)
            any = any || file_wanted(f, id, c, skipped);
        if (!any)
            continue;
        _cleanup_(cg_dir_fini) struct cg_dir d = CG_DIR_INIT;
        int r = v1_dir_open(mount, ctrl_names[c], path, &d, err);
        if (r < 0)
            return -1;
        /* Not mounted: the sections whose main file lives there are unavailable. */
        for (int id = 0; r == 0 && id < CG_FILES; id++)
            if (specs[id].main && specs[id].ctrl == (enum cg_ctrl)c)
                skipped |= section_of(id);
        if (r > 0 && files_open_dir(f, &d, c, strcmp(path, "/") == 0, &skipped, err) < 0)
            return -1;
        f->dirs[c] = TAKE_PTR(d.path);
    }
    return 0;
}

/* One directory on v2; cpu.stat holds the CPU details anyway. */
static int v2_files_open(struct rt_stats_cgroup_files *f, const char *mount, const char *path,
                         crisp_error_t **err)
{
    _cleanup_(cg_dir_fini) struct cg_dir d = CG_DIR_INIT;
    if (asprintf(&d.path, "%s%s", mount, strcmp(path, "/") == 0 ? "" : path) < 0) {
        d.path = NULL;
        return crisp_error_oom(err);
    }
    unsigned skipped = 0;
    if (dir_open(&d, err) < 0 || files_open_dir(f, &d, 0, strcmp(path, "/") == 0, &skipped, err) < 0)
        return -1;
    f->dirs[0] = TAKE_PTR(d.path);
    return 0;
}

static int files_open(const char *mount, bool v2, const char *path, unsigned want,
                      struct rt_stats_cgroup_files **ret, crisp_error_t **err)
{
    if (!mount || !mount[0] || strlen(mount) >= PATH_LEN_MAX / 2)
        return crisp_error_make(err, EINVAL, "invalid cgroup mount \"%s\"", mount ? mount : "");
    if (!path_ok(path))
        return crisp_error_make(err, EINVAL, "invalid cgroup path \"%s\"", path ? path : "");
    _cleanup_(rt_stats_cgroup_files_freep) struct rt_stats_cgroup_files *f = calloc(1, sizeof(*f));
    if (!f)
        return crisp_error_oom(err);
    f->v2 = v2;
    f->want = want & RT_STATS_ALL;
    for (int id = 0; id < CG_FILES; id++)
        f->fds[id] = -1;
    if ((v2 ? v2_files_open(f, mount, path, err) : v1_files_open(f, mount, path, err)) < 0)
        return -1;
    *ret = TAKE_PTR(f);
    return 0;
}

int rt_stats_cgroup_files_open(const struct rt_cgroup_root *root, const char *path, unsigned want,
                               struct rt_stats_cgroup_files **ret, crisp_error_t **err)
{
    return files_open(root->mount, root->mode == RT_CGROUP_V2, path, want, ret, err);
}

void rt_stats_cgroup_files_free(struct rt_stats_cgroup_files *f)
{
    if (!f)
        return;
    for (int id = 0; id < CG_FILES; id++)
        fd_close_reset(&f->fds[id]);
    for (int c = 0; c < CTRL_COUNT; c++)
        free(f->dirs[c]);
    free(f);
}

void rt_stats_cgroup_files_freep(struct rt_stats_cgroup_files **f)
{
    rt_stats_cgroup_files_free(*f);
}

unsigned rt_stats_cgroup_files_want(const struct rt_stats_cgroup_files *f)
{
    return f->want;
}

bool rt_stats_cgroup_files_partial(const struct rt_stats_cgroup_files *f)
{
    return f->partial;
}

/* Reads file id into buf, NUL-terminated: 1; 0 when it is missing. A cgroup file is made whole
 * at a read from offset 0 and handed out from that one copy, so a read shorter than buf is all of
 * it, and one that fills buf is too long. A removed cgroup's kept files read ENODEV. */
static int file_read(const struct rt_stats_cgroup_files *f, enum cg_file id, char *buf, size_t size,
                     crisp_error_t **err)
{
    if (f->fds[id] < 0)
        return 0;
    ssize_t n;
    do
        n = pread(f->fds[id], buf, size, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EOPNOTSUPP)
        return 0; /* PSI switched off (psi=0) */
    if (n < 0 && errno == ENODEV)
        return crisp_error_make(err, ENOENT, "cgroup %s was removed (%s reads ENODEV)", file_dir(f, id),
                                file_name(f, id));
    if (n < 0)
        return crisp_error_errno(err, "read %s/%s", file_dir(f, id), file_name(f, id));
    if ((size_t)n == size)
        return crisp_error_make(err, EFBIG, "%s/%s: longer than %zu bytes", file_dir(f, id), file_name(f, id),
                                size - 1);
    buf[n] = '\0';
    return 1;
}

static int malformed(const struct rt_stats_cgroup_files *f, enum cg_file id, crisp_error_t **err)
{
    return crisp_error_make(err, EINVAL, "%s/%s: unexpected content", file_dir(f, id), file_name(f, id));
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
static int read_value(const struct rt_stats_cgroup_files *f, enum cg_file id, uint64_t *ret, bool *ret_max,
                      crisp_error_t **err)
{
    char buf[VALUE_MAX];
    int r = file_read(f, id, buf, sizeof(buf), err);
    if (r <= 0)
        return r;
    const char *end;
    if (ret_max && strncmp(buf, "max", 3) == 0 && only_space(buf + 3)) {
        *ret = 0;
        *ret_max = true;
        return 1;
    }
    if (!parse_u64(buf, ret, &end) || !only_space(end))
        return malformed(f, id, err);
    if (ret_max)
        *ret_max = false;
    return 1;
}

struct key_want {
    const char *key;
    size_t len;
    uint64_t *value;
};

/* The length is counted when compiling: each of memory.stat's 70 lines is matched against each key. */
#define KEY(k, v)                                                                                            \
    {                                                                                                        \
        k, sizeof(k) - 1, v                                                                                  \
    }

/* A table: the test runs on each byte of memory.stat's keys, on every call. */
static const bool key_chars[256] = {['a' ... 'z'] = true, ['0' ... '9'] = true, ['_'] = true};

static bool key_char(char c)
{
    return key_chars[(unsigned char)c];
}

/* One "key value" line (without its newline); only wanted values must be numbers. */
static bool parse_keyed_line(const char *line, const char *end, const struct key_want *want, size_t n)
{
    const char *k = line;
    while (k < end && key_char(*k))
        k++;
    if (k == line || k == end || *k != ' ' || k + 1 == end)
        return false;
    size_t len = k - line;
    for (size_t i = 0; i < n; i++) {
        if (want[i].len != len || memcmp(want[i].key, line, len) != 0)
            continue;
        const char *vend;
        return parse_u64(k + 1, want[i].value, &vend) && vend == end;
    }
    return !memchr(k + 1, ' ', end - (k + 1));
}

/* A flat keyed file (memory.stat, cpu.stat, cpuacct.stat). Wanted keys it lacks stay as they are. */
static int read_keyed(const struct rt_stats_cgroup_files *f, enum cg_file id, const struct key_want *want,
                      size_t n, crisp_error_t **err)
{
    char buf[KEYED_MAX];
    int r = file_read(f, id, buf, sizeof(buf), err);
    if (r <= 0)
        return r;
    if (buf[0] == '\0')
        return malformed(f, id, err);
    for (const char *line = buf; *line;) {
        const char *end = strchrnul(line, '\n');
        if (!parse_keyed_line(line, end, want, n))
            return malformed(f, id, err);
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

static int read_psi(const struct rt_stats_cgroup_files *f, enum cg_file id, struct rt_stats_psi *ret,
                    crisp_error_t **err)
{
    char buf[PSI_MAX];
    int r = file_read(f, id, buf, sizeof(buf), err);
    if (r <= 0)
        return r;
    if (!parse_psi(buf, ret)) {
        *ret = (struct rt_stats_psi){0};
        return malformed(f, id, err);
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
        m->available_bytes = m->limit_bytes > m->working_set_bytes ? m->limit_bytes - m->working_set_bytes
                                                                   : 0;
}

/* cpuacct.stat counts USER_HZ ticks. */
static int v1_cpu_split(const struct rt_stats_cgroup_files *f, struct rt_stats_cpu *ret, crisp_error_t **err)
{
    uint64_t user = UINT64_MAX, system = UINT64_MAX;
    struct key_want want[] = {KEY("user", &user), KEY("system", &system)};
    int r = read_keyed(f, CG_CPU_SPLIT, want, ARRAY_SIZE(want), err);
    if (r <= 0 || user == UINT64_MAX || system == UINT64_MAX)
        return r;
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t ns_per_tick = 1000000000ULL / (uint64_t)(hz > 0 ? hz : 100);
    ret->user_ns = user * ns_per_tick;
    ret->system_ns = system * ns_per_tick;
    ret->has_user_system = true;
    return 1;
}

static int v1_cpu_throttling(const struct rt_stats_cgroup_files *f, struct rt_stats_cpu *ret,
                             crisp_error_t **err)
{
    uint64_t periods = UINT64_MAX, throttled = UINT64_MAX, ns = UINT64_MAX;
    struct key_want want[] = {KEY("nr_periods", &periods), KEY("nr_throttled", &throttled),
                              KEY("throttled_time", &ns)};
    int r = read_keyed(f, CG_CPU_THROTTLING, want, ARRAY_SIZE(want), err);
    if (r <= 0 || periods == UINT64_MAX || throttled == UINT64_MAX || ns == UINT64_MAX)
        return r;
    ret->periods = periods;
    ret->throttled_periods = throttled;
    ret->throttled_ns = ns;
    ret->has_throttling = true;
    return 1;
}

static int v1_cpu(const struct rt_stats_cgroup_files *f, unsigned want, struct rt_stats_cpu *ret,
                  crisp_error_t **err)
{
    int r = read_value(f, CG_CPU_USAGE, &ret->usage_ns, NULL, err);
    if (r <= 0)
        return r;
    ret->available = true;
    if (!(want & RT_STATS_CPU_DETAIL))
        return 0;
    if (v1_cpu_split(f, ret, err) < 0)
        return -1;
    return v1_cpu_throttling(f, ret, err) < 0 ? -1 : 0;
}

/* memory.memsw.* count memory + swap; they exist only with swap accounting. */
static int v1_swap(const struct rt_stats_cgroup_files *f, struct rt_stats_memory *m, crisp_error_t **err)
{
    uint64_t memsw, memsw_limit;
    int r = read_value(f, CG_SWAP_USAGE, &memsw, NULL, err);
    if (r <= 0)
        return r;
    m->has_swap = true;
    m->swap_bytes = memsw > m->usage_bytes ? memsw - m->usage_bytes : 0;
    /* Swap alone has a limit only where memory has one. */
    if (!m->limited)
        return 1;
    r = read_value(f, CG_SWAP_LIMIT, &memsw_limit, NULL, err);
    if (r <= 0 || unlimited(memsw_limit))
        return r;
    m->swap_limited = true;
    m->swap_limit_bytes = memsw_limit > m->limit_bytes ? memsw_limit - m->limit_bytes : 0;
    return 1;
}

static int v1_memory(const struct rt_stats_cgroup_files *f, struct rt_stats_memory *ret, crisp_error_t **err)
{
    int r = read_value(f, CG_MEM_USAGE, &ret->usage_bytes, NULL, err);
    if (r <= 0)
        return r;
    uint64_t limit = 0, inactive_file = 0;
    struct key_want want[] = {KEY("total_inactive_file", &inactive_file), KEY("total_rss", &ret->rss_bytes),
                              KEY("total_pgfault", &ret->page_faults),
                              KEY("total_pgmajfault", &ret->major_page_faults)};
    if (read_value(f, CG_MEM_LIMIT, &limit, NULL, err) < 0 ||
        read_keyed(f, CG_MEM_STAT, want, ARRAY_SIZE(want), err) < 0)
        return -1;
    ret->available = true;
    ret->limited = limit > 0 && !unlimited(limit);
    ret->limit_bytes = ret->limited ? limit : 0;
    memory_derive(ret, inactive_file);
    return v1_swap(f, ret, err) < 0 ? -1 : 0;
}

/* pids.current is missing at the root, and where the controller is not mounted. */
static int read_pids(const struct rt_stats_cgroup_files *f, struct rt_stats_pids *ret, crisp_error_t **err)
{
    int r = read_value(f, CG_PIDS, &ret->current, NULL, err);
    ret->available = r > 0;
    return r < 0 ? -1 : 0;
}

static int v1_read(const struct rt_stats_cgroup_files *f, unsigned want, struct rt_stats_cgroup *ret,
                   crisp_error_t **err)
{
    if ((want & RT_STATS_CPU) && v1_cpu(f, want, &ret->cpu, err) < 0)
        return -1;
    if ((want & RT_STATS_MEMORY) && v1_memory(f, &ret->memory, err) < 0)
        return -1;
    if ((want & RT_STATS_PIDS) && read_pids(f, &ret->pids, err) < 0)
        return -1;
    return 0;
}

static int v2_cpu(const struct rt_stats_cgroup_files *f, struct rt_stats_cpu *ret, crisp_error_t **err)
{
    uint64_t usage = UINT64_MAX, user = UINT64_MAX, system = UINT64_MAX;
    uint64_t periods = UINT64_MAX, throttled = UINT64_MAX, throttled_us = UINT64_MAX;
    struct key_want want[] = {KEY("usage_usec", &usage),       KEY("user_usec", &user),
                              KEY("system_usec", &system),     KEY("nr_periods", &periods),
                              KEY("nr_throttled", &throttled), KEY("throttled_usec", &throttled_us)};
    int r = read_keyed(f, CG_CPU_USAGE, want, ARRAY_SIZE(want), err);
    if (r <= 0)
        return r;
    if (usage == UINT64_MAX)
        return malformed(f, CG_CPU_USAGE, err);
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

static int v2_swap(const struct rt_stats_cgroup_files *f, struct rt_stats_memory *m, crisp_error_t **err)
{
    uint64_t limit;
    bool max;
    int r = read_value(f, CG_SWAP_USAGE, &m->swap_bytes, NULL, err);
    if (r <= 0)
        return r;
    m->has_swap = true;
    r = read_value(f, CG_SWAP_LIMIT, &limit, &max, err);
    if (r <= 0 || max || unlimited(limit))
        return r;
    m->swap_limited = true;
    m->swap_limit_bytes = limit;
    return 1;
}

/* memory.current is missing where the memory controller is not enabled (and at the root). */
static int v2_memory(const struct rt_stats_cgroup_files *f, struct rt_stats_memory *ret, crisp_error_t **err)
{
    int r = read_value(f, CG_MEM_USAGE, &ret->usage_bytes, NULL, err);
    if (r <= 0)
        return r;
    uint64_t limit = 0, inactive_file = 0;
    bool max = true;
    struct key_want want[] = {KEY("inactive_file", &inactive_file), KEY("anon", &ret->rss_bytes),
                              KEY("pgfault", &ret->page_faults), KEY("pgmajfault", &ret->major_page_faults)};
    if (read_value(f, CG_MEM_LIMIT, &limit, &max, err) < 0 ||
        read_keyed(f, CG_MEM_STAT, want, ARRAY_SIZE(want), err) < 0)
        return -1;
    ret->available = true;
    ret->limited = !max && !unlimited(limit);
    ret->limit_bytes = ret->limited ? limit : 0;
    memory_derive(ret, inactive_file);
    return v2_swap(f, ret, err) < 0 ? -1 : 0;
}

static int v2_psi(const struct rt_stats_cgroup_files *f, struct rt_stats_cgroup *ret, crisp_error_t **err)
{
    if (read_psi(f, CG_CPU_PRESSURE, &ret->cpu_pressure, err) < 0 ||
        read_psi(f, CG_MEMORY_PRESSURE, &ret->memory_pressure, err) < 0 ||
        read_psi(f, CG_IO_PRESSURE, &ret->io_pressure, err) < 0)
        return -1;
    return 0;
}

static int v2_read(const struct rt_stats_cgroup_files *f, unsigned want, struct rt_stats_cgroup *ret,
                   crisp_error_t **err)
{
    if (((want & RT_STATS_CPU) && v2_cpu(f, &ret->cpu, err) < 0) ||
        ((want & RT_STATS_MEMORY) && v2_memory(f, &ret->memory, err) < 0) ||
        ((want & RT_STATS_PIDS) && read_pids(f, &ret->pids, err) < 0) ||
        ((want & RT_STATS_PSI) && v2_psi(f, ret, err) < 0))
        return -1;
    return 0;
}

int rt_stats_cgroup_files_read(const struct rt_stats_cgroup_files *f, unsigned want,
                               struct rt_stats_cgroup *ret, crisp_error_t **err)
{
    *ret = (struct rt_stats_cgroup){.timestamp_ns = clock_realtime_ns()};
    if (want & ~f->want)
        return crisp_error_make(err, EINVAL, "cgroup stats: asked for %#x, opened for %#x", want, f->want);
    return f->v2 ? v2_read(f, want, ret, err) : v1_read(f, want, ret, err);
}

int rt_stats_cgroup_read(const char *mount, bool v2, const char *path, struct rt_stats_cgroup *ret,
                         crisp_error_t **err)
{
    *ret = (struct rt_stats_cgroup){.timestamp_ns = clock_realtime_ns()};
    _cleanup_(rt_stats_cgroup_files_freep) struct rt_stats_cgroup_files *f = NULL;
    if (files_open(mount, v2, path, RT_STATS_ALL, &f, err) < 0)
        return -1;
    return rt_stats_cgroup_files_read(f, RT_STATS_ALL, ret, err);
}
