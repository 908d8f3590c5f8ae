/* One cgroup's figures for the CRI stats RPCs, read from its interface files on each call: a few
 * small reads into fixed buffers, no directory walks, and with a kept handle no opens either.
 * cgroup v1 keeps one directory per controller (<mount>/<controller><path>), v2 one unified
 * directory (<mount><path>). A figure whose file is missing (no swap accounting, no PSI, a
 * controller not enabled) is flagged "not available"; a file with unexpected content is an error
 * (EINVAL), and a missing cgroup is ENOENT. */
#ifndef CRISP_RUNTIME_STATS_CGROUP_H
#define CRISP_RUNTIME_STATS_CGROUP_H

#include "common/error.h"
#include "runtime/cgroup/cgroup.h"

#include <stdbool.h>
#include <stdint.h>

struct rt_stats_cpu {
    bool available;
    uint64_t usage_ns; /* v1 cpuacct.usage; v2 cpu.stat usage_usec * 1000 */
    bool has_user_system;
    uint64_t user_ns, system_ns;
    bool has_throttling; /* v1 cpu.stat (cpu controller); v2 cpu.stat */
    uint64_t periods, throttled_periods, throttled_ns;
};

struct rt_stats_memory {
    bool available;
    uint64_t usage_bytes;       /* v1 memory.usage_in_bytes; v2 memory.current */
    uint64_t working_set_bytes; /* usage - inactive file pages, at least 0 */
    uint64_t rss_bytes;         /* v1 total_rss; v2 anon */
    uint64_t page_faults, major_page_faults;
    bool limited; /* false: no limit, and limit_bytes and available_bytes are 0 */
    uint64_t limit_bytes;
    uint64_t available_bytes; /* limit - working set, at least 0 */
    bool has_swap;            /* v1 needs swap accounting (memory.memsw.*) */
    uint64_t swap_bytes;
    bool swap_limited;
    uint64_t swap_limit_bytes; /* swap alone, not memory + swap */
};

struct rt_stats_pids {
    bool available;
    uint64_t current;
};

/* One line of a v2 pressure file: "some avg10=0.00 avg60=0.00 avg300=0.00 total=0". */
struct rt_stats_psi_line {
    double avg10, avg60, avg300; /* percent of wall time */
    uint64_t total_us;
};

struct rt_stats_psi {
    bool available; /* v2 with PSI enabled only */
    struct rt_stats_psi_line some;
    bool has_full; /* cpu.pressure has no "full" line before Linux 5.13 */
    struct rt_stats_psi_line full;
};

struct rt_stats_cgroup {
    int64_t timestamp_ns; /* realtime, taken before the first read */
    struct rt_stats_cpu cpu;
    struct rt_stats_memory memory;
    struct rt_stats_pids pids;
    struct rt_stats_psi cpu_pressure, memory_pressure, io_pressure;
};

/* What to read: each costs a few file reads (on v1 also a directory per controller). */
enum rt_stats_want {
    RT_STATS_CPU = 1 << 0,        /* usage */
    RT_STATS_CPU_DETAIL = 1 << 1, /* user/system split and throttling, for metrics */
    RT_STATS_MEMORY = 1 << 2,     /* with swap where accounted */
    RT_STATS_PIDS = 1 << 3,
    RT_STATS_PSI = 1 << 4, /* v2 */
    RT_STATS_ALL = (1 << 5) - 1,
};

/* A cgroup's interface files, opened once for what want names and read again on each call: a
 * cgroup file makes its content anew on every read at offset 0, so pread on the kept fd gives
 * fresh figures at a fraction of the cost of opening it (and, on v1, a directory per controller).
 * A file missing at open (no swap accounting, no PSI, pids.current at the root) stays missing. */
struct rt_stats_cgroup_files;

/* The most fds a handle keeps: 10 on v2 with RT_STATS_ALL, 9 on v1. */
#define RT_STATS_CGROUP_FILES_FDS_MAX 10

/* Opens the files of the cgroup at path ("/", or "/crisp/pod1/ctr1": absolute, no "." or ".."
 * components) below root's mount that want (enum rt_stats_want) needs. On v1 a controller that is
 * not mounted leaves its section unavailable, while a mounted one without the cgroup's directory
 * is ENOENT. */
int rt_stats_cgroup_files_open(const struct rt_cgroup_root *root, const char *path, unsigned want,
                               struct rt_stats_cgroup_files **ret, crisp_error_t **err);

/* Reads what want names, which must be among what the handle was opened for (EINVAL otherwise);
 * the rest stays unavailable. Safe from several threads at once. ENOENT when the cgroup was
 * removed since the handle was opened (or, on v2, one of its files hidden since: a controller
 * disabled, cgroup.pressure 0): the handle is stale, and only a new one can tell which. */
int rt_stats_cgroup_files_read(const struct rt_stats_cgroup_files *f, unsigned want,
                               struct rt_stats_cgroup *ret, crisp_error_t **err);

/* The want the handle was opened for. */
unsigned rt_stats_cgroup_files_want(const struct rt_stats_cgroup_files *f);

/* True when a controller asked for had no files in the cgroup although its directory exists (on
 * v2, a controller not enabled for it): they may appear later, so such a handle is not worth
 * keeping. Never for the root cgroup, where missing files are the rule. */
bool rt_stats_cgroup_files_partial(const struct rt_stats_cgroup_files *f);

void rt_stats_cgroup_files_free(struct rt_stats_cgroup_files *f);
void rt_stats_cgroup_files_freep(struct rt_stats_cgroup_files **f);

/* A one-shot read of everything: open, read, close. mount is "/sys/fs/cgroup", or a fake tree in
 * tests. crispd itself keeps handles (rt_stats_cgroup_files_open). */
int rt_stats_cgroup_read(const char *mount, bool v2, const char *path, struct rt_stats_cgroup *ret,
                         crisp_error_t **err);

#endif
