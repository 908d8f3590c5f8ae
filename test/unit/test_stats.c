/* Stats readers: cgroup figures against fake v1 and v2 trees in /tmp (plain files stand in for
 * interface files) and against this process's own cgroups; kept cgroup handles, on fake trees and
 * on a test-made v1 cgroup, and the server's table of them; the CPU rate table; the writable-layer
 * walk and its cache; network counters of test-made namespaces joined by a veth pair. Timings are
 * printed, never asserted. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/clock.h"
#include "common/file.h"
#include "runtime/stats/stats_cgroup.h"
#include "runtime/stats/stats_cpu_rate.h"
#include "runtime/stats/stats_fs_usage.h"
#include "runtime/stats/stats_netdev.h"
#include "server/stats.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *tmp_root;

/* Status of the error, which is freed; 0 on success. */
static int status(int r, crisp_error_t **err)
{
    int s = r < 0 ? (*err ? (*err)->status : -1) : 0;
    crisp_error_freep(err);
    return s;
}

static char *tmp_path(const char *rel)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", tmp_root, rel) < 0)
        abort();
    return p;
}

/* Writes tmp_root/rel, making its directories. */
static void put(const char *rel, const char *content)
{
    _cleanup_free_ char *path = tmp_path(rel);
    _cleanup_free_ char *dir = strdup(path);
    crisp_error_t *err = NULL;
    *strrchr(dir, '/') = '\0';
    if (dir_create_all(dir, 0755, &err) < 0 ||
        file_write_replace(path, content, strlen(content), 0644, &err) < 0) {
        fprintf(stderr, "put %s: %s\n", path, err->msg);
        abort();
    }
}

/* Rewrites tmp_root/rel in place, as the kernel's files change: the same inode, so that an fd kept
 * open sees the new content (put replaces the file). */
static void rewrite(const char *rel, const char *content)
{
    _cleanup_free_ char *path = tmp_path(rel);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
        abort();
}

static void drop(const char *rel)
{
    _cleanup_free_ char *path = tmp_path(rel);
    unlink(path);
}

static void mkdirs(const char *rel)
{
    _cleanup_free_ char *path = tmp_path(rel);
    crisp_error_t *err = NULL;
    if (dir_create_all(path, 0755, &err) < 0)
        abort();
}

static void remove_tree(const char *rel)
{
    _cleanup_free_ char *path = tmp_path(rel);
    crisp_error_t *err = NULL;
    dir_remove_all(path, &err);
    crisp_error_free(err);
}

static int read_fake(const char *mount_rel, bool v2, const char *path, struct rt_stats_cgroup *ret)
{
    _cleanup_free_ char *mount = tmp_path(mount_rel);
    crisp_error_t *err = NULL;
    return status(rt_stats_cgroup_read(mount, v2, path, ret, &err), &err);
}

#define V1 "v1"
#define V1_CPU V1 "/cpu,cpuacct/crisp/pod1/ctr1/"
#define V1_MEM V1 "/memory/crisp/pod1/ctr1/"
#define V1_PIDS V1 "/pids/crisp/pod1/ctr1/"

static void v1_tree(void)
{
    mkdirs(V1 "/cpu,cpuacct");
    _cleanup_free_ char *cpu = tmp_path(V1 "/cpu"), *cpuacct = tmp_path(V1 "/cpuacct");
    if ((symlink("cpu,cpuacct", cpu) < 0 && errno != EEXIST) ||
        (symlink("cpu,cpuacct", cpuacct) < 0 && errno != EEXIST))
        abort();
    put(V1_CPU "cpuacct.usage", "123456789\n");
    put(V1_CPU "cpuacct.stat", "user 10\nsystem 5\n");
    put(V1_CPU "cpu.stat", "nr_periods 7\nnr_throttled 2\nthrottled_time 3000\n");
    put(V1_MEM "memory.usage_in_bytes", "10000000\n");
    put(V1_MEM "memory.limit_in_bytes", "9223372036854771712\n");
    put(V1_MEM "memory.stat", "cache 4000000\nrss 5000000\ninactive_file 1\npgfault 1\n"
                              "hierarchical_memory_limit 9223372036854771712\ntotal_cache 4000000\n"
                              "total_rss 5000000\ntotal_pgfault 100\ntotal_pgmajfault 3\n"
                              "total_inactive_file 2000000\ntotal_active_file 1000\n");
    put(V1_PIDS "pids.current", "4\n");
}

static void test_cgroup_v1(void)
{
    v1_tree();
    struct rt_stats_cgroup s;
    int64_t before = clock_realtime_ns();
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.timestamp_ns >= before && s.timestamp_ns <= clock_realtime_ns());
    CHECK(s.cpu.available && s.cpu.usage_ns == 123456789);
    uint64_t tick = 1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK);
    CHECK(s.cpu.has_user_system && s.cpu.user_ns == 10 * tick && s.cpu.system_ns == 5 * tick);
    CHECK(s.cpu.has_throttling && s.cpu.periods == 7 && s.cpu.throttled_periods == 2 &&
          s.cpu.throttled_ns == 3000);
    CHECK(s.memory.available && s.memory.usage_bytes == 10000000);
    CHECK(s.memory.working_set_bytes == 8000000);
    CHECK(s.memory.rss_bytes == 5000000);
    CHECK(s.memory.page_faults == 100 && s.memory.major_page_faults == 3);
    CHECK(!s.memory.limited && s.memory.limit_bytes == 0 && s.memory.available_bytes == 0);
    CHECK(!s.memory.has_swap && !s.memory.swap_limited);
    CHECK(s.pids.available && s.pids.current == 4);
    CHECK(!s.cpu_pressure.available && !s.memory_pressure.available && !s.io_pressure.available);

    /* A limit, and swap accounting. */
    put(V1_MEM "memory.limit_in_bytes", "20000000\n");
    put(V1_MEM "memory.memsw.usage_in_bytes", "10500000\n");
    put(V1_MEM "memory.memsw.limit_in_bytes", "30000000\n");
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.memory.limited && s.memory.limit_bytes == 20000000 && s.memory.available_bytes == 12000000);
    CHECK(s.memory.has_swap && s.memory.swap_bytes == 500000);
    CHECK(s.memory.swap_limited && s.memory.swap_limit_bytes == 10000000);
    /* 2^62 and up is no limit, whatever the kernel's rounding. */
    put(V1_MEM "memory.limit_in_bytes", "4611686018427387904\n");
    put(V1_MEM "memory.memsw.limit_in_bytes", "9223372036854771712\n");
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(!s.memory.limited && s.memory.available_bytes == 0 && s.memory.has_swap && !s.memory.swap_limited);

    /* Working set and available bytes never go below 0. */
    put(V1_MEM "memory.limit_in_bytes", "1000\n");
    put(V1_MEM "memory.stat", "total_inactive_file 20000000\n");
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.memory.working_set_bytes == 0 && s.memory.available_bytes == 1000);
    put(V1_MEM "memory.stat", "total_inactive_file 0\n");
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.memory.working_set_bytes == 10000000 && s.memory.available_bytes == 0);

    /* Without cpuacct.stat only the split is missing; the root cgroup has no pids.current. */
    drop(V1_CPU "cpuacct.stat");
    drop(V1_PIDS "pids.current");
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.cpu.available && !s.cpu.has_user_system && s.pids.available == false);
    put(V1_PIDS "pids.current", "4\n");
}

static void test_cgroup_v1_missing(void)
{
    struct rt_stats_cgroup s;
    /* A cgroup absent from a mounted controller is ENOENT... */
    CHECK(read_fake(V1, false, "/crisp/pod1/nope", &s) == ENOENT);
    remove_tree(V1 "/pids/crisp/pod1/ctr1");
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == ENOENT);
    /* ... while a controller that is not mounted at all leaves its figures unavailable. */
    remove_tree(V1 "/pids");
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.cpu.available && s.memory.available && !s.pids.available);
    CHECK(read_fake("no-such-mount", false, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(!s.cpu.available && !s.memory.available && !s.pids.available);

    const char *bad_paths[] = {"", "crisp", "/crisp/../x", "/crisp/./x", "/crisp//x", "/crisp/", "/.."};
    for (size_t i = 0; i < ARRAY_SIZE(bad_paths); i++)
        CHECK(read_fake(V1, false, bad_paths[i], &s) == EINVAL);
    CHECK(read_fake(V1, false, NULL, &s) == EINVAL);
}

/* Each bad content of file gives EINVAL (EFBIG when too long), then good is put back. */
static void check_malformed(const char *mount, bool v2, const char *file, const char *const *bad, size_t n,
                            const char *good)
{
    struct rt_stats_cgroup s;
    for (size_t i = 0; i < n; i++) {
        put(file, bad[i]);
        int st = read_fake(mount, v2, "/crisp/pod1/ctr1", &s);
        if (st != EINVAL)
            fprintf(stderr, "%s with \"%.40s\" gave status %d\n", file, bad[i], st);
        CHECK(st == EINVAL);
    }
    put(file, good);
    CHECK(read_fake(mount, v2, "/crisp/pod1/ctr1", &s) == 0);
}

static void test_cgroup_v1_malformed(void)
{
    const char *const values[] = {
        "", "\n", "abc\n", "12x\n", "-1\n", "max\n", "99999999999999999999999\n", "1 2\n", " 12\n"};
    check_malformed(V1, false, V1_MEM "memory.usage_in_bytes", values, ARRAY_SIZE(values), "10000000\n");
    check_malformed(V1, false, V1_CPU "cpuacct.usage", values, ARRAY_SIZE(values), "1\n");
    check_malformed(V1, false, V1_PIDS "pids.current", values, ARRAY_SIZE(values), "4\n");
    const char *const stats[] = {"",
                                 "garbage\n",
                                 "total_rss\n",
                                 "total_rss 12x\n",
                                 "total_rss -5\n",
                                 "total_rss  5\n",
                                 "Total_rss 5\n",
                                 "total_rss 5 6\n",
                                 "total_rss\t5\n",
                                 "cache 1\n\ntotal_rss 5\n",
                                 "total_pgfault 184467440737095516150\n"};
    check_malformed(V1, false, V1_MEM "memory.stat", stats, ARRAY_SIZE(stats), "total_rss 5\n");

    /* Longer than any kernel's memory.stat: refused whole, not parsed in part. */
    _cleanup_free_ char *big = malloc(40000);
    size_t len = 0;
    for (; len + 19 < 40000; len += 19)
        memcpy(big + len, "total_unknown_x 12\n", 19);
    big[len] = '\0';
    put(V1_MEM "memory.stat", big);
    struct rt_stats_cgroup s;
    CHECK(read_fake(V1, false, "/crisp/pod1/ctr1", &s) == EFBIG);
    put(V1_MEM "memory.stat", "total_rss 5\n");
}

#define V2 "v2"
#define V2_DIR V2 "/crisp/pod1/ctr1/"

static void v2_tree(void)
{
    put(V2_DIR "cpu.stat", "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 4\n"
                           "nr_throttled 1\nthrottled_usec 700\nnr_bursts 0\nburst_usec 0\n");
    put(V2_DIR "memory.current", "10485760\n");
    put(V2_DIR "memory.max", "max\n");
    put(V2_DIR "memory.stat", "anon 4194304\nfile 6291456\nkernel 0\ninactive_anon 0\nactive_anon 4194304\n"
                              "inactive_file 2097152\nactive_file 4194304\npgfault 50\npgmajfault 2\n"
                              "workingset_refault_anon 0\n");
    put(V2_DIR "memory.swap.current", "4096\n");
    put(V2_DIR "memory.swap.max", "max\n");
    put(V2_DIR "pids.current", "2\n");
    put(V2_DIR "cpu.pressure", "some avg10=1.50 avg60=0.25 avg300=10.05 total=123456\n"
                               "full avg10=0.00 avg60=0.01 avg300=0.00 total=42\n");
    put(V2_DIR "memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n"
                                  "full avg10=99.99 avg60=100.00 avg300=0.00 total=8\n");
    put(V2_DIR "io.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                              "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
}

static bool near(double a, double b)
{
    return a > b - 1e-9 && a < b + 1e-9;
}

static void test_cgroup_v2(void)
{
    v2_tree();
    struct rt_stats_cgroup s;
    CHECK(read_fake(V2, true, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.cpu.available && s.cpu.usage_ns == 5000000);
    CHECK(s.cpu.has_user_system && s.cpu.user_ns == 3000000 && s.cpu.system_ns == 2000000);
    CHECK(s.cpu.has_throttling && s.cpu.periods == 4 && s.cpu.throttled_periods == 1 &&
          s.cpu.throttled_ns == 700000);
    CHECK(s.memory.available && s.memory.usage_bytes == 10485760);
    CHECK(s.memory.working_set_bytes == 10485760 - 2097152);
    CHECK(s.memory.rss_bytes == 4194304 && s.memory.page_faults == 50 && s.memory.major_page_faults == 2);
    CHECK(!s.memory.limited && s.memory.available_bytes == 0);
    CHECK(s.memory.has_swap && s.memory.swap_bytes == 4096 && !s.memory.swap_limited);
    CHECK(s.pids.available && s.pids.current == 2);
    CHECK(s.cpu_pressure.available && s.cpu_pressure.has_full);
    CHECK(near(s.cpu_pressure.some.avg10, 1.5) && near(s.cpu_pressure.some.avg60, 0.25) &&
          near(s.cpu_pressure.some.avg300, 10.05) && s.cpu_pressure.some.total_us == 123456);
    CHECK(near(s.cpu_pressure.full.avg60, 0.01) && s.cpu_pressure.full.total_us == 42);
    CHECK(s.memory_pressure.available && s.memory_pressure.some.total_us == 7);
    CHECK(near(s.memory_pressure.full.avg10, 99.99) && near(s.memory_pressure.full.avg60, 100) &&
          s.memory_pressure.full.total_us == 8);
    CHECK(s.io_pressure.available && s.io_pressure.has_full && s.io_pressure.some.total_us == 0);

    put(V2_DIR "memory.max", "8388608\n");
    put(V2_DIR "memory.swap.max", "524288\n");
    CHECK(read_fake(V2, true, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.memory.limited && s.memory.limit_bytes == 8388608 &&
          s.memory.available_bytes == 8388608 - 8388608);
    CHECK(s.memory.swap_limited && s.memory.swap_limit_bytes == 524288);
    put(V2_DIR "memory.max", "16777216\n");
    CHECK(read_fake(V2, true, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.memory.available_bytes == 16777216 - 8388608);

    /* No swap, no PSI, cpu.pressure before Linux 5.13 (no "full"), no throttling lines. */
    drop(V2_DIR "memory.swap.current");
    drop(V2_DIR "memory.swap.max");
    drop(V2_DIR "memory.pressure");
    drop(V2_DIR "io.pressure");
    put(V2_DIR "cpu.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n");
    put(V2_DIR "cpu.stat", "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\n");
    CHECK(read_fake(V2, true, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(!s.memory.has_swap && !s.memory_pressure.available && !s.io_pressure.available);
    CHECK(s.cpu_pressure.available && !s.cpu_pressure.has_full && s.cpu_pressure.some.total_us == 9);
    CHECK(s.cpu.available && !s.cpu.has_throttling);

    /* The memory and pids controllers not enabled for this cgroup: their figures are unavailable. */
    drop(V2_DIR "memory.current");
    drop(V2_DIR "pids.current");
    CHECK(read_fake(V2, true, "/crisp/pod1/ctr1", &s) == 0);
    CHECK(s.cpu.available && !s.memory.available && !s.pids.available);
    put(V2_DIR "memory.current", "10485760\n");
    put(V2_DIR "pids.current", "2\n");

    CHECK(read_fake(V2, true, "/crisp/pod1/gone", &s) == ENOENT);
    CHECK(read_fake("no-such-mount", true, "/crisp/pod1/ctr1", &s) == ENOENT);
}

static void test_cgroup_v2_malformed(void)
{
    const char *const psi[] = {"",
                               "\n",
                               "some\n",
                               "some avg10=x avg60=0.00 avg300=0.00 total=0\n",
                               "some avg10=1.00 avg60=2.00 total=5\n",
                               "some avg10=1.00 avg60=2.00 avg300=3.00 total=5 extra=1\n",
                               "some avg10=1.00 avg60=2.00 avg300=3.00 total=-5\n",
                               "some avg10=1. avg60=2.00 avg300=3.00 total=5\n",
                               "some avg10=1,00 avg60=2.00 avg300=3.00 total=5\n",
                               "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                               "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nwhat avg10=0.00\n",
                               "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                               "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"};
    check_malformed(V2, true, V2_DIR "io.pressure", psi, ARRAY_SIZE(psi),
                    "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    const char *const max[] = {"maxx\n", "ma\n", "max 1\n", "-1\n", "\n"};
    check_malformed(V2, true, V2_DIR "memory.max", max, ARRAY_SIZE(max), "max\n");
    const char *const current[] = {"max\n", "1.5\n"};
    check_malformed(V2, true, V2_DIR "memory.current", current, ARRAY_SIZE(current), "10485760\n");
    const char *const cpu[] = {"user_usec 1\n", "usage_usec x\n", "", "usage_usec 1\nnr_periods\n"};
    check_malformed(V2, true, V2_DIR "cpu.stat", cpu, ARRAY_SIZE(cpu), "usage_usec 5000\n");
}

static int open_fake(const char *mount_rel, bool v2, const char *path, unsigned want,
                     struct rt_stats_cgroup_files **ret)
{
    _cleanup_free_ char *mount = tmp_path(mount_rel);
    struct rt_cgroup_root root = {.mount = mount, .mode = v2 ? RT_CGROUP_V2 : RT_CGROUP_V1};
    crisp_error_t *err = NULL;
    return status(rt_stats_cgroup_files_open(&root, path, want, ret, &err), &err);
}

static int read_files(const struct rt_stats_cgroup_files *f, unsigned want, struct rt_stats_cgroup *ret)
{
    crisp_error_t *err = NULL;
    return status(rt_stats_cgroup_files_read(f, want, ret, &err), &err);
}

#define STATS_RPC (RT_STATS_CPU | RT_STATS_MEMORY | RT_STATS_PSI)

/* A kept handle reads what the files say now; a file missing at open stays missing. */
static void test_files_v1(void)
{
    v1_tree();
    drop(V1_MEM "memory.memsw.usage_in_bytes");
    drop(V1_MEM "memory.memsw.limit_in_bytes");
    _cleanup_(rt_stats_cgroup_files_freep) struct rt_stats_cgroup_files *f = NULL;
    struct rt_stats_cgroup s;
    CHECK(open_fake(V1, false, "/crisp/pod1/ctr1", RT_STATS_ALL, &f) == 0);
    CHECK(f && rt_stats_cgroup_files_want(f) == RT_STATS_ALL && !rt_stats_cgroup_files_partial(f));
    if (!f)
        return;
    CHECK(read_files(f, RT_STATS_ALL, &s) == 0);
    CHECK(s.cpu.usage_ns == 123456789 && s.cpu.has_user_system && s.cpu.has_throttling);
    CHECK(s.memory.usage_bytes == 10000000 && !s.memory.limited && !s.memory.has_swap);
    CHECK(s.pids.available && s.pids.current == 4);

    rewrite(V1_CPU "cpuacct.usage", "223456789\n");
    rewrite(V1_MEM "memory.usage_in_bytes", "20000000\n");
    rewrite(V1_MEM "memory.limit_in_bytes", "30000000\n");
    rewrite(V1_MEM "memory.stat", "total_rss 7\ntotal_inactive_file 1000000\n");
    rewrite(V1_PIDS "pids.current", "5\n");
    put(V1_MEM "memory.memsw.usage_in_bytes", "20500000\n");
    CHECK(read_files(f, RT_STATS_ALL, &s) == 0);
    CHECK(s.cpu.usage_ns == 223456789);
    CHECK(s.memory.usage_bytes == 20000000 && s.memory.working_set_bytes == 19000000 &&
          s.memory.rss_bytes == 7);
    CHECK(s.memory.limited && s.memory.limit_bytes == 30000000 && s.memory.available_bytes == 11000000);
    CHECK(!s.memory.has_swap); /* missing at open: not looked for again */
    CHECK(s.pids.current == 5);
    /* Less than the handle was opened for: the rest stays unavailable; more is refused. */
    CHECK(read_files(f, RT_STATS_MEMORY, &s) == 0);
    CHECK(!s.cpu.available && s.memory.available && !s.pids.available);
    _cleanup_(rt_stats_cgroup_files_freep) struct rt_stats_cgroup_files *small = NULL;
    CHECK(open_fake(V1, false, "/crisp/pod1/ctr1", RT_STATS_CPU, &small) == 0);
    CHECK(small && read_files(small, RT_STATS_CPU | RT_STATS_MEMORY, &s) == EINVAL);
    CHECK(small && read_files(small, RT_STATS_CPU, &s) == 0 && s.cpu.available && !s.cpu.has_throttling);

    /* Content the parsers refuse is refused through a kept handle as well. */
    rewrite(V1_MEM "memory.usage_in_bytes", "12x\n");
    CHECK(read_files(f, RT_STATS_ALL, &s) == EINVAL);
    rewrite(V1_MEM "memory.usage_in_bytes", "10000000\n");
    CHECK(read_files(f, RT_STATS_ALL, &s) == 0 && s.memory.usage_bytes == 10000000);
    /* An open file outlives its name in a plain directory (not in cgroupfs, where files go only
     * with their cgroup): a new handle sees it missing. */
    drop(V1_CPU "cpuacct.stat");
    CHECK(read_files(f, RT_STATS_ALL, &s) == 0 && s.cpu.has_user_system);
    _cleanup_(rt_stats_cgroup_files_freep) struct rt_stats_cgroup_files *again = NULL;
    CHECK(open_fake(V1, false, "/crisp/pod1/ctr1", RT_STATS_ALL, &again) == 0);
    CHECK(again && read_files(again, RT_STATS_ALL, &s) == 0 && s.cpu.available && !s.cpu.has_user_system);
    CHECK(again && s.memory.has_swap && s.memory.swap_bytes == 10500000);
    put(V1_CPU "cpuacct.stat", "user 10\nsystem 5\n");
    drop(V1_MEM "memory.memsw.usage_in_bytes");
    rewrite(V1_MEM "memory.limit_in_bytes", "9223372036854771712\n");
    rewrite(V1_MEM "memory.stat", "total_rss 5000000\ntotal_pgfault 100\ntotal_pgmajfault 3\n"
                                  "total_inactive_file 2000000\n");

    CHECK(open_fake(V1, false, "/crisp/pod1/nope", RT_STATS_ALL, &f) == ENOENT);
    CHECK(open_fake(V1, false, "/crisp/../x", RT_STATS_ALL, &f) == EINVAL);
}

static void test_files_v2(void)
{
    v2_tree();
    drop(V2_DIR "io.pressure");
    _cleanup_(rt_stats_cgroup_files_freep) struct rt_stats_cgroup_files *f = NULL;
    struct rt_stats_cgroup s;
    CHECK(open_fake(V2, true, "/crisp/pod1/ctr1", RT_STATS_ALL, &f) == 0);
    if (!f)
        return;
    CHECK(!rt_stats_cgroup_files_partial(f));
    CHECK(read_files(f, RT_STATS_ALL, &s) == 0);
    CHECK(s.cpu.usage_ns == 5000000 && s.memory.usage_bytes == 10485760 && s.pids.current == 2);
    CHECK(s.cpu_pressure.available && s.cpu_pressure.some.total_us == 123456 && !s.io_pressure.available);

    rewrite(V2_DIR "cpu.stat", "usage_usec 6000\nuser_usec 4000\nsystem_usec 2000\n");
    rewrite(V2_DIR "memory.current", "20971520\n");
    rewrite(V2_DIR "memory.max", "41943040\n");
    rewrite(V2_DIR "cpu.pressure", "some avg10=2.00 avg60=0.25 avg300=10.05 total=200000\n");
    rewrite(V2_DIR "pids.current", "3\n");
    put(V2_DIR "io.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    CHECK(read_files(f, STATS_RPC | RT_STATS_PIDS, &s) == 0);
    CHECK(s.cpu.usage_ns == 6000000 && !s.cpu.has_throttling);
    CHECK(s.memory.usage_bytes == 20971520 && s.memory.limited && s.memory.limit_bytes == 41943040);
    CHECK(s.pids.current == 3);
    CHECK(near(s.cpu_pressure.some.avg10, 2.0) && s.cpu_pressure.some.total_us == 200000 &&
          !s.cpu_pressure.has_full);
    CHECK(!s.io_pressure.available); /* missing at open */

    /* A controller not enabled for the cgroup: its section unavailable, and the handle partial
     * (the controller may come later), but not at the root, where missing files are the rule. */
    drop(V2_DIR "memory.current");
    _cleanup_(rt_stats_cgroup_files_freep) struct rt_stats_cgroup_files *partial = NULL, *root = NULL;
    CHECK(open_fake(V2, true, "/crisp/pod1/ctr1", STATS_RPC, &partial) == 0);
    CHECK(partial && rt_stats_cgroup_files_partial(partial));
    CHECK(partial && read_files(partial, STATS_RPC, &s) == 0 && s.cpu.available && !s.memory.available);
    put(V2 "/cpu.stat", "usage_usec 1\n");
    CHECK(open_fake(V2, true, "/", RT_STATS_ALL, &root) == 0);
    CHECK(root && !rt_stats_cgroup_files_partial(root));
    CHECK(root && read_files(root, RT_STATS_ALL, &s) == 0 && s.cpu.usage_ns == 1000 && !s.memory.available &&
          !s.pids.available);
    v2_tree();
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static const char *const real_ctrls[] = {"cpu", "cpuacct", "memory", "pids"};

/* Makes (or removes) the test's own cgroup in each v1 hierarchy that real_ctrls names. */
static bool real_cgroup(const char *name, bool make)
{
    bool ok = true;
    for (size_t i = 0; i < ARRAY_SIZE(real_ctrls); i++) {
        char path[256];
        snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/%s", real_ctrls[i], name);
        if (make ? mkdir(path, 0755) < 0 && errno != EEXIST : rmdir(path) < 0 && errno != ENOENT)
            ok = false;
    }
    return ok;
}

static bool real_v1(void)
{
    if (geteuid() != 0 || access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(real_ctrls); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/tasks", real_ctrls[i]);
        if (access(path, F_OK) < 0)
            return false;
    }
    return true;
}

/* cgroupfs itself: a kept file gives new figures at each read, and a removed cgroup's files read
 * ENOENT (the kernel says ENODEV). */
static void test_files_real(void)
{
    if (!real_v1()) {
        printf("test_files_real: skipped (needs root and cgroup v1 with cpu, cpuacct, memory, pids)\n");
        return;
    }
    char name[64], path[80];
    snprintf(name, sizeof(name), "crisp-stats-test-%d", (int)getpid());
    snprintf(path, sizeof(path), "/%s", name);
    CHECK(real_cgroup(name, true));
    struct rt_cgroup_root root = {.mount = "/sys/fs/cgroup", .mode = RT_CGROUP_V1};
    struct rt_stats_cgroup s;
    crisp_error_t *err = NULL;
    struct rt_stats_cgroup_files *f = NULL;
    CHECK(status(rt_stats_cgroup_files_open(&root, path, RT_STATS_ALL, &f, &err), &err) == 0);
    if (f) {
        CHECK(read_files(f, RT_STATS_ALL, &s) == 0);
        CHECK(s.cpu.available && s.memory.available && !s.memory.limited && s.pids.available &&
              s.pids.current == 0);
        CHECK(sh("echo 104857600 > /sys/fs/cgroup/memory/%s/memory.limit_in_bytes", name) == 0);
        CHECK(read_files(f, RT_STATS_ALL, &s) == 0);
        CHECK(s.memory.limited && s.memory.limit_bytes == 104857600);
        int64_t start = clock_monotonic_ms();
        int n = 20000;
        for (int i = 0; i < n; i++)
            rt_stats_cgroup_files_read(f, STATS_RPC, &s, NULL);
        printf("bench: one cgroup v1 read through a kept handle (cpu, memory) takes %.2f us\n",
               (clock_monotonic_ms() - start) * 1000.0 / n);
    }
    CHECK(real_cgroup(name, false));
    CHECK(f && read_files(f, RT_STATS_ALL, &s) == ENOENT);
    CHECK(f && read_files(f, RT_STATS_MEMORY, &s) == ENOENT);
    rt_stats_cgroup_files_free(f);
    CHECK(status(rt_stats_cgroup_read(root.mount, root.mode == RT_CGROUP_V2, path, &s, &err), &err) ==
          ENOENT);
}

static void srv_stats_on(struct srv_stats *s, struct rt_cgroup_root *root, const char *mount, bool v2)
{
    *root = (struct rt_cgroup_root){.mount = (char *)mount, .mode = v2 ? RT_CGROUP_V2 : RT_CGROUP_V1};
    crisp_error_t *err = NULL;
    if (srv_stats_init(s, root, "/", &err) < 0)
        abort();
}

/* The server's table: one handle per id, reused, widened for a call that wants more, forgotten,
 * bounded. */
static void test_files_table(void)
{
    v1_tree();
    _cleanup_free_ char *mount = tmp_path(V1);
    struct rt_cgroup_root root;
    struct srv_stats s;
    struct rt_stats_cgroup st;
    const char *ctr = "/crisp/pod1/ctr1";
    srv_stats_on(&s, &root, mount, false);
    CHECK(s.files.capacity > 0);
    CHECK(srv_stats_cgroup_read(&s, "c1", ctr, STATS_RPC, &st) && st.cpu.usage_ns == 123456789);
    CHECK(srv_stats_cgroup_files_count(&s) == 1);
    rewrite(V1_CPU "cpuacct.usage", "123456790\n");
    CHECK(srv_stats_cgroup_read(&s, "c1", ctr, STATS_RPC, &st) && st.cpu.usage_ns == 123456790);
    CHECK(!st.cpu.has_throttling && !st.pids.available);
    /* Metrics want everything: the handle is opened again for both. */
    CHECK(srv_stats_cgroup_read(&s, "c1", ctr, RT_STATS_ALL, &st) && st.cpu.has_throttling &&
          st.pids.available);
    CHECK(srv_stats_cgroup_read(&s, "c1", ctr, STATS_RPC, &st) && !st.pids.available);
    CHECK(srv_stats_cgroup_files_count(&s) == 1);

    /* No id, or a cgroup that is not there: nothing kept. */
    CHECK(srv_stats_cgroup_read(&s, NULL, ctr, STATS_RPC, &st));
    CHECK(!srv_stats_cgroup_read(&s, "c9", "/crisp/pod1/nope", STATS_RPC, &st));
    CHECK(!srv_stats_cgroup_read(&s, "c9", "", STATS_RPC, &st));
    CHECK(srv_stats_cgroup_files_count(&s) == 1);

    /* Full: calls still get their figures, through files of their own. */
    s.files.capacity = 2;
    CHECK(srv_stats_cgroup_read(&s, "c2", ctr, STATS_RPC, &st));
    CHECK(srv_stats_cgroup_read(&s, "c3", ctr, STATS_RPC, &st) && st.cpu.usage_ns == 123456790);
    CHECK(srv_stats_cgroup_files_count(&s) == 2);
    srv_stats_forget(&s, "c1");
    srv_stats_forget(&s, "c1");
    srv_stats_forget(&s, "unknown");
    CHECK(srv_stats_cgroup_files_count(&s) == 1);
    CHECK(srv_stats_cgroup_read(&s, "c3", ctr, STATS_RPC, &st));
    CHECK(srv_stats_cgroup_files_count(&s) == 2);
    /* An id whose cgroup moved gets a new handle in place of its old one. */
    put(V1 "/cpu,cpuacct/crisp/pod1/ctr2/cpuacct.usage", "77\n");
    put(V1 "/memory/crisp/pod1/ctr2/memory.usage_in_bytes", "1\n");
    put(V1 "/pids/crisp/pod1/ctr2/pids.current", "1\n");
    CHECK(srv_stats_cgroup_read(&s, "c3", "/crisp/pod1/ctr2", STATS_RPC, &st) && st.cpu.usage_ns == 77);
    CHECK(srv_stats_cgroup_files_count(&s) == 2);
    srv_stats_fini(&s);

    /* A v2 cgroup without its memory controller is read, not kept: the controller may come. */
    v2_tree();
    _cleanup_free_ char *mount2 = tmp_path(V2);
    srv_stats_on(&s, &root, mount2, true);
    drop(V2_DIR "memory.current");
    CHECK(srv_stats_cgroup_read(&s, "p1", ctr, STATS_RPC, &st) && st.cpu.available && !st.memory.available);
    CHECK(srv_stats_cgroup_files_count(&s) == 0);
    put(V2_DIR "memory.current", "10485760\n");
    CHECK(srv_stats_cgroup_read(&s, "p1", ctr, STATS_RPC, &st) && st.memory.available);
    CHECK(srv_stats_cgroup_files_count(&s) == 1);
    srv_stats_fini(&s);
}

/* A removed cgroup's handle goes at its next read; one made again at the same path is read anew. */
static void test_files_table_real(void)
{
    if (!real_v1()) {
        printf("test_files_table_real: skipped (needs root and cgroup v1)\n");
        return;
    }
    char name[64], path[80];
    snprintf(name, sizeof(name), "crisp-stats-test-%d", (int)getpid());
    snprintf(path, sizeof(path), "/%s", name);
    struct rt_cgroup_root root;
    struct srv_stats s;
    struct rt_stats_cgroup st;
    srv_stats_on(&s, &root, "/sys/fs/cgroup", false);
    CHECK(real_cgroup(name, true));
    CHECK(srv_stats_cgroup_read(&s, "r1", path, STATS_RPC | RT_STATS_PIDS, &st) && !st.memory.limited);
    CHECK(srv_stats_cgroup_files_count(&s) == 1);
    CHECK(real_cgroup(name, false) && real_cgroup(name, true));
    CHECK(sh("echo 104857600 > /sys/fs/cgroup/memory/%s/memory.limit_in_bytes", name) == 0);
    CHECK(srv_stats_cgroup_read(&s, "r1", path, STATS_RPC | RT_STATS_PIDS, &st) && st.memory.limited);
    CHECK(srv_stats_cgroup_files_count(&s) == 1);
    CHECK(real_cgroup(name, false));
    CHECK(!srv_stats_cgroup_read(&s, "r1", path, STATS_RPC | RT_STATS_PIDS, &st));
    CHECK(srv_stats_cgroup_files_count(&s) == 0);
    srv_stats_fini(&s);
}

struct files_worker {
    struct srv_stats *s;
    const char *id;
    int ok;
};

static void *files_worker_run(void *arg)
{
    struct files_worker *w = arg;
    struct rt_stats_cgroup st;
    for (int i = 0; i < 2000; i++) {
        if (srv_stats_cgroup_read(w->s, w->id, "/crisp/pod1/ctr1", i % 3 ? STATS_RPC : RT_STATS_ALL, &st) &&
            st.cpu.available && st.memory.usage_bytes == 10000000)
            w->ok++;
        if (i % 50 == 0)
            srv_stats_forget(w->s, w->id);
    }
    return NULL;
}

/* Readers share a handle while others widen it and forget it (make tsan watches). */
static void test_files_table_threads(void)
{
    v1_tree();
    _cleanup_free_ char *mount = tmp_path(V1);
    struct rt_cgroup_root root;
    struct srv_stats s;
    srv_stats_on(&s, &root, mount, false);
    struct files_worker w[4] = {{&s, "t1", 0}, {&s, "t1", 0}, {&s, "t2", 0}, {&s, "t1", 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, files_worker_run, &w[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK(w[i].ok == 2000);
    CHECK(srv_stats_cgroup_files_count(&s) <= 2);
    srv_stats_fini(&s);
}

/* This process's path in a v1 hierarchy whose /proc/self/cgroup line names ctrl. */
static char *own_v1_path(const char *ctrl)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
    char line[4096];
    while (f && fgets(line, sizeof(line), f)) {
        char *ctrls = strchr(line, ':'), *path = ctrls ? strchr(ctrls + 1, ':') : NULL;
        if (!path)
            continue;
        *path++ = '\0';
        path[strcspn(path, "\n")] = '\0';
        for (char *c = strtok(ctrls + 1, ","); c; c = strtok(NULL, ","))
            if (strcmp(c, ctrl) == 0)
                return strdup(path);
    }
    return NULL;
}

/* The real kernel's files: this process's own memory and cpuacct cgroups. Their paths may differ
 * per controller, so a fake mount of symlinks to them is read at "/". */
static void test_cgroup_real(void)
{
    crisp_error_t *err = NULL;
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 || access("/sys/fs/cgroup/memory", F_OK) < 0) {
        printf("test_cgroup_real: skipped, /sys/fs/cgroup is not cgroup v1\n");
        return;
    }
    static const char *const ctrls[] = {"cpuacct", "cpu", "memory", "pids"};
    mkdirs("real");
    for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
        _cleanup_free_ char *own = own_v1_path(ctrls[i]), *target = NULL, *link = NULL;
        if (!own || asprintf(&target, "/sys/fs/cgroup/%s%s", ctrls[i], own) < 0 ||
            asprintf(&link, "%s/real/%s", tmp_root, ctrls[i]) < 0 || symlink(target, link) < 0)
            continue;
    }
    struct rt_stats_cgroup s;
    CHECK(read_fake("real", false, "/", &s) == 0);
    CHECK(s.cpu.available && s.cpu.usage_ns > 0);
    CHECK(s.memory.available && s.memory.usage_bytes > 0);
    CHECK(s.memory.working_set_bytes <= s.memory.usage_bytes);
    CHECK(s.memory.page_faults > 0);
    CHECK(!s.memory.limited || s.memory.limit_bytes >= s.memory.usage_bytes / 2);
    printf(
        "own cgroups: cpu %llu ns (user %llu, system %llu), memory %llu B, working set %llu B, rss %llu B, "
        "%s\n",
        (unsigned long long)s.cpu.usage_ns, (unsigned long long)s.cpu.user_ns,
        (unsigned long long)s.cpu.system_ns, (unsigned long long)s.memory.usage_bytes,
        (unsigned long long)s.memory.working_set_bytes, (unsigned long long)s.memory.rss_bytes,
        s.memory.limited ? "limited" : "no limit");

    /* The root of each hierarchy, straight from /sys/fs/cgroup. */
    CHECK(status(rt_stats_cgroup_read("/sys/fs/cgroup", false, "/", &s, &err), &err) == 0);
    CHECK(s.cpu.usage_ns > 0 && s.memory.usage_bytes > 0);

    int64_t start = clock_monotonic_ms();
    int n = 2000;
    for (int i = 0; i < n; i++)
        rt_stats_cgroup_read("/sys/fs/cgroup", false, "/", &s, NULL);
    int64_t took = clock_monotonic_ms() - start;
    printf("bench: one cgroup v1 read (9 files) takes %.1f us\n", took * 1000.0 / n);
}

#define SEC 1000000000LL

static void test_cpu_rate(void)
{
    struct rt_stats_cpu_rate t;
    rt_stats_cpu_rate_init(&t, 0, -1);
    crisp_error_t *err = NULL;
    uint64_t rate = 77;
    /* First sample: no rate. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 10 * SEC, 1000, &rate, &err) == 0 && rate == 77);
    /* Half a core over two seconds. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 12 * SEC, 1000 + SEC, &rate, &err) == 1 && rate == SEC / 2);
    /* Two cores. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 13 * SEC, 1000 + 3 * SEC, &rate, &err) == 1 && rate == 2 * SEC);
    /* Idle. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 14 * SEC, 1000 + 3 * SEC, &rate, &err) == 1 && rate == 0);
    /* Same timestamp, or an older sample arriving late: no rate, and the stored one stays. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 14 * SEC, 1000 + 3 * SEC, &rate, &err) == 0);
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 13 * SEC, 1000 + 3 * SEC, &rate, &err) == 0);
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 15 * SEC, 1000 + 4 * SEC, &rate, &err) == 1 && rate == SEC);
    /* The counter went back (recreated cgroup): no rate, never a negative one, then from there. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 16 * SEC, 500, &rate, &err) == 0);
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 17 * SEC, 500 + SEC / 4, &rate, &err) == 1 && rate == SEC / 4);
    /* The clock stepped back while usage moved on: no rate, then from the new sample. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 5 * SEC, 500 + SEC, &rate, &err) == 0);
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 6 * SEC, 500 + 2 * SEC, &rate, &err) == 1 && rate == SEC);
    /* Back to back (within the 1 s minimum interval): the last rate again, the sample kept. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 6 * SEC + 1000, 500 + 2 * SEC + 900, &rate, &err) == 1 &&
          rate == SEC);
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 8 * SEC, 500 + 3 * SEC, &rate, &err) == 1 && rate == SEC / 2);
    /* An id within its minimum interval before any rate: none. */
    CHECK(rt_stats_cpu_rate_sample(&t, "c2", SEC, 0, &rate, &err) == 0);
    CHECK(rt_stats_cpu_rate_sample(&t, "c2", SEC + 5, 10, &rate, &err) == 0);
    CHECK(rt_stats_cpu_rate_count(&t) == 2);

    /* Removal: the id starts over. */
    rt_stats_cpu_rate_remove(&t, "c1");
    rt_stats_cpu_rate_remove(&t, "unknown");
    CHECK(rt_stats_cpu_rate_count(&t) == 1);
    CHECK(rt_stats_cpu_rate_sample(&t, "c1", 30 * SEC, 5 * SEC, &rate, &err) == 0);

    CHECK(status(rt_stats_cpu_rate_sample(&t, "", SEC, 0, &rate, &err), &err) == EINVAL);
    char long_id[300];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    CHECK(status(rt_stats_cpu_rate_sample(&t, long_id, SEC, 0, &rate, &err), &err) == EINVAL);
    rt_stats_cpu_rate_fini(&t);

    /* No minimum interval: a rate over 1 ns, and an overflowing one saturates. */
    rt_stats_cpu_rate_init(&t, 0, 0);
    CHECK(rt_stats_cpu_rate_sample(&t, "x", 1, 0, &rate, &err) == 0);
    CHECK(rt_stats_cpu_rate_sample(&t, "x", 2, UINT64_MAX / 2, &rate, &err) == 1 && rate == UINT64_MAX);
    rt_stats_cpu_rate_fini(&t);
}

static void test_cpu_rate_bounded(void)
{
    struct rt_stats_cpu_rate t;
    rt_stats_cpu_rate_init(&t, 3, 0);
    uint64_t rate;
    const char *ids[] = {"a", "b", "c"};
    for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
        CHECK(rt_stats_cpu_rate_sample(&t, ids[i], SEC, 0, &rate, NULL) == 0);
    /* "a" sampled again: "b" is now the least recently sampled, and makes room for "d". */
    CHECK(rt_stats_cpu_rate_sample(&t, "a", 2 * SEC, SEC, &rate, NULL) == 1);
    CHECK(rt_stats_cpu_rate_sample(&t, "d", 2 * SEC, 0, &rate, NULL) == 0);
    CHECK(rt_stats_cpu_rate_count(&t) == 3);
    CHECK(rt_stats_cpu_rate_sample(&t, "c", 3 * SEC, SEC, &rate, NULL) == 1 && rate == SEC / 2);
    CHECK(rt_stats_cpu_rate_sample(&t, "a", 3 * SEC, 2 * SEC, &rate, NULL) == 1 && rate == SEC);
    /* "b" was dropped: it starts over (evicting "d", now the oldest). */
    CHECK(rt_stats_cpu_rate_sample(&t, "b", 3 * SEC, 0, &rate, NULL) == 0);
    CHECK(rt_stats_cpu_rate_count(&t) == 3);
    rt_stats_cpu_rate_fini(&t);
}

struct rate_worker {
    struct rt_stats_cpu_rate *t;
    int index;
    int rates;
};

static void *rate_worker_run(void *arg)
{
    struct rate_worker *w = arg;
    char own[32];
    snprintf(own, sizeof(own), "own-%d", w->index);
    for (int i = 1; i <= 2000; i++) {
        uint64_t rate;
        char many[32];
        snprintf(many, sizeof(many), "id-%d", i % 100);
        w->rates += rt_stats_cpu_rate_sample(w->t, own, i * SEC, (uint64_t)i * SEC, &rate, NULL) == 1 &&
                    rate == SEC;
        rt_stats_cpu_rate_sample(w->t, "shared", clock_realtime_ns(), (uint64_t)i, &rate, NULL);
        rt_stats_cpu_rate_sample(w->t, many, i * SEC, (uint64_t)i, &rate, NULL);
        if (i % 7 == 0)
            rt_stats_cpu_rate_remove(w->t, many);
    }
    return NULL;
}

static void test_cpu_rate_threads(void)
{
    struct rt_stats_cpu_rate t;
    rt_stats_cpu_rate_init(&t, 0, 0);
    struct rate_worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct rate_worker){.t = &t, .index = i};
        pthread_create(&th[i], NULL, rate_worker_run, &w[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].rates == 1999);
    }
    CHECK(rt_stats_cpu_rate_count(&t) <= 4 + 1 + 100 && rt_stats_cpu_rate_count(&t) >= 5);
    rt_stats_cpu_rate_fini(&t);
}

/* What the walk should find: lstat of each listed path, one count per inode. */
static void expect_add(const char *rel, uint64_t *bytes, uint64_t *inodes)
{
    _cleanup_free_ char *path = tmp_path(rel);
    struct stat st;
    if (lstat(path, &st) < 0)
        abort();
    *bytes += (uint64_t)st.st_blocks * 512;
    (*inodes)++;
}

static int walk(const char *rel, const atomic_bool *cancel, struct rt_stats_fs_usage *ret)
{
    _cleanup_free_ char *path = tmp_path(rel);
    crisp_error_t *err = NULL;
    return status(rt_stats_fs_walk(path, cancel, ret, &err), &err);
}

static void test_fs_walk(void)
{
    put("layer/a", "hello");
    _cleanup_free_ char *big = calloc(1, 100000);
    memset(big, 'x', 99999);
    put("layer/d/e/f/big", big);
    put("layer/d/small", "x");
    put("layer/empty", "");
    _cleanup_free_ char *a = tmp_path("layer/a"), *a2 = tmp_path("layer/d/a2"),
                        *a3 = tmp_path("layer/d/e/a3");
    _cleanup_free_ char *s = tmp_path("layer/usr"), *s2 = tmp_path("layer/d/loop");
    CHECK(link(a, a2) == 0 && link(a, a3) == 0);
    CHECK(symlink("/usr", s) == 0 && symlink("..", s2) == 0);
    const char *listed[] = {"layer",           "layer/a",       "layer/d",     "layer/d/e", "layer/d/e/f",
                            "layer/d/e/f/big", "layer/d/small", "layer/empty", "layer/usr", "layer/d/loop"};
    uint64_t bytes = 0, inodes = 0;
    for (size_t i = 0; i < ARRAY_SIZE(listed); i++)
        expect_add(listed[i], &bytes, &inodes);
    struct rt_stats_fs_usage u;
    int64_t before = clock_realtime_ns();
    CHECK(walk("layer", NULL, &u) == 0);
    CHECK(u.inodes == inodes && inodes == 10);
    CHECK(u.used_bytes == bytes && u.used_bytes >= 100000);
    CHECK(!u.truncated && u.timestamp_ns >= before);

    /* Not into other mounts: a tmpfs mounted inside is left out (where this test may mount). */
    _cleanup_free_ char *mnt = tmp_path("layer/mnt");
    mkdirs("layer/mnt");
    expect_add("layer/mnt", &bytes, &inodes);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m") == 0) {
        put("layer/mnt/inside", big);
        CHECK(walk("layer", NULL, &u) == 0);
        CHECK(u.inodes == inodes - 1 && u.used_bytes < bytes);
        CHECK(umount2(mnt, MNT_DETACH) == 0);
    } else {
        printf("test_fs_walk: mount check skipped: %s\n", strerror(errno));
    }
    CHECK(walk("layer", NULL, &u) == 0 && u.inodes == inodes && u.used_bytes == bytes);

    atomic_bool cancel;
    atomic_init(&cancel, true);
    CHECK(walk("layer", &cancel, &u) == ECANCELED);
    CHECK(walk("no-such-layer", NULL, &u) == ENOENT);
    CHECK(walk("layer/usr", NULL, &u) != 0); /* the root itself is not followed either */
    CHECK(walk("layer/a", NULL, &u) == ENOTDIR);
    remove_tree("layer");
}

static void test_fs_walk_deep(void)
{
    _cleanup_free_ char *root = tmp_path("deep");
    mkdirs("deep");
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < RT_STATS_FS_DEPTH_MAX + 5 && fd >= 0; i++) {
        int next = mkdirat(fd, "d", 0755) == 0 ? openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        close(fd);
        fd = next;
    }
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    struct rt_stats_fs_usage u;
    CHECK(walk("deep", NULL, &u) == 0);
    CHECK(u.truncated && u.inodes == RT_STATS_FS_DEPTH_MAX + 1);
    remove_tree("deep");
}

/* n files of 100 bytes in directories of 100. */
static void make_tree(const char *rel, int n)
{
    char name[256], content[101];
    memset(content, 'y', 100);
    content[100] = '\0';
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "%s/d%03d/f%03d", rel, i / 100, i % 100);
        put(name, content);
    }
}

static void bench_walk(void)
{
    make_tree("bench", 10000);
    struct rt_stats_fs_usage u;
    int runs = 10;
    int64_t start = clock_monotonic_ms();
    for (int i = 0; i < runs; i++)
        walk("bench", NULL, &u);
    int64_t took = clock_monotonic_ms() - start;
    printf(
        "bench: walking 10000 files in 100 directories (warm cache) takes %.1f ms (%llu inodes, %llu bytes)\n",
        (double)took / runs, (unsigned long long)u.inodes, (unsigned long long)u.used_bytes);
    CHECK(u.inodes == 10000 + 100 + 1);
}

/* Polls get until pred holds, up to 5 s; 1 if it did. */
static int cache_wait(struct rt_stats_fs_cache *c, const char *id, uint64_t min_bytes,
                      struct rt_stats_fs_usage *ret, int64_t *ret_age)
{
    for (int i = 0; i < 500; i++) {
        crisp_error_t *err = NULL;
        int r = rt_stats_fs_cache_get(c, id, ret, ret_age, &err);
        crisp_error_free(err);
        if (r == 1 && ret->used_bytes >= min_bytes)
            return 1;
        usleep(10000);
    }
    return 0;
}

static void test_fs_cache(void)
{
    struct rt_stats_fs_cache c;
    crisp_error_t *err = NULL;
    CHECK(rt_stats_fs_cache_init(&c, 100, &err) == 0);
    put("ctr1/upper/file", "data");
    _cleanup_free_ char *upper = tmp_path("ctr1/upper"), *missing = tmp_path("ctr2/none");
    struct rt_stats_fs_usage u, direct;
    int64_t age;

    CHECK(status(rt_stats_fs_cache_get(&c, "ctr1", &u, &age, &err), &err) == ENOENT);
    CHECK(rt_stats_fs_cache_add(&c, "ctr1", upper, &err) == 0);
    CHECK(cache_wait(&c, "ctr1", 0, &u, &age) == 1);
    CHECK(rt_stats_fs_walk(upper, NULL, &direct, NULL) == 0);
    CHECK(u.inodes == direct.inodes && u.used_bytes == direct.used_bytes && age >= 0);

    /* A tree that cannot be walked has no figure yet: "not available", not an error. */
    CHECK(rt_stats_fs_cache_add(&c, "ctr2", missing, &err) == 0);
    usleep(300000);
    CHECK(status(rt_stats_fs_cache_get(&c, "ctr2", &u, &age, &err), &err) == 0);

    /* The refresher sees a change within about max_age. */
    _cleanup_free_ char *big = calloc(1, 1 << 20);
    memset(big, 'z', (1 << 20) - 1);
    put("ctr1/upper/big", big);
    CHECK(cache_wait(&c, "ctr1", direct.used_bytes + (1 << 20), &u, &age) == 1);
    CHECK(u.inodes == direct.inodes + 1);

    /* Figures stay within their bound: max_age plus a walk and a rest (1 s of slack for a busy
     * machine: this checks that the refresher keeps going, not its speed). */
    int64_t worst = 0;
    for (int i = 0; i < 20; i++) {
        CHECK(rt_stats_fs_cache_get(&c, "ctr1", &u, &age, NULL) == 1);
        worst = age > worst ? age : worst;
        usleep(50000);
    }
    CHECK(worst < 100 + 1000);
    printf("fs cache: oldest figure seen with max_age 100 ms: %lld ms\n", (long long)worst);
    CHECK(rt_stats_fs_cache_walks(&c) >= 5);

    /* Re-adding an id drops its figure until the new path is walked. */
    CHECK(rt_stats_fs_cache_add(&c, "ctr2", upper, &err) == 0);
    CHECK(cache_wait(&c, "ctr2", direct.used_bytes + (1 << 20), &u, &age) == 1);

    rt_stats_fs_cache_remove(&c, "ctr1");
    rt_stats_fs_cache_remove(&c, "nope");
    CHECK(status(rt_stats_fs_cache_get(&c, "ctr1", &u, &age, &err), &err) == ENOENT);
    CHECK(status(rt_stats_fs_cache_add(&c, "", upper, &err), &err) == EINVAL);
    CHECK(status(rt_stats_fs_cache_add(&c, "x", "relative", &err), &err) == EINVAL);
    rt_stats_fs_cache_fini(&c);
    CHECK(!c.started);
    remove_tree("ctr1");
}

/* fini while the refresher walks a large tree: the walk stops at its next file and fini joins. */
static void test_fs_cache_fini(void)
{
    make_tree("fini", 20000);
    struct rt_stats_fs_cache c;
    CHECK(rt_stats_fs_cache_init(&c, 0, NULL) == 0);
    _cleanup_free_ char *path = tmp_path("fini"), *bench = tmp_path("bench");
    CHECK(rt_stats_fs_cache_add(&c, "a", path, NULL) == 0);
    CHECK(rt_stats_fs_cache_add(&c, "b", bench, NULL) == 0);
    usleep(2000);
    int64_t start = clock_monotonic_ms();
    rt_stats_fs_cache_fini(&c);
    printf("fs cache: fini during a walk joined in %lld ms\n", (long long)(clock_monotonic_ms() - start));
    CHECK(!c.started && c.entries.n == 0 && !c.entries.items);
    /* An idle cache too. */
    CHECK(rt_stats_fs_cache_init(&c, 0, NULL) == 0);
    rt_stats_fs_cache_fini(&c);
    CHECK(!c.started);
    remove_tree("fini");
    remove_tree("bench");
}

static void test_netdev_parse(void)
{
    static const char dev[] =
        "Inter-|   Receive                                                |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
        "carrier compressed\n"
        "    lo:  988787   4722    0    0    0     0          0         0   988787    4722    0    0    0     0       0"
        "          0\n"
        "  eth0: 43351663     940    1    2    0     0          0         0    44544     544    3    4    0     0       "
        "0          0\n"
        "verylongname15:18446744073709551615 1 0 0 0 0 0 0 5 6 7 8 0 0 0 0\n";
    struct rt_stats_netdev nd;
    crisp_error_t *err = NULL;
    CHECK(rt_stats_netdev_parse(dev, &nd, &err) == 0);
    CHECK(nd.n == 2 && nd.n_seen == 2);
    CHECK_STR(nd.ifaces[0].name, "eth0");
    CHECK(nd.ifaces[0].rx_bytes == 43351663 && nd.ifaces[0].rx_packets == 940 &&
          nd.ifaces[0].rx_errors == 1 && nd.ifaces[0].rx_drops == 2);
    CHECK(nd.ifaces[0].tx_bytes == 44544 && nd.ifaces[0].tx_packets == 544 && nd.ifaces[0].tx_errors == 3 &&
          nd.ifaces[0].tx_drops == 4);
    CHECK_STR(nd.ifaces[1].name, "verylongname15");
    CHECK(nd.ifaces[1].rx_bytes == UINT64_MAX && nd.ifaces[1].tx_bytes == 5 && nd.ifaces[1].tx_drops == 8);

    const char *const bad[] = {
        "",
        "no header\n",
        "Inter-|\n face |\n  eth0: 1 2 3\n",
        "Inter-|\n face |\n  eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
        "Inter-|\n face |\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
        "Inter-|\n face |\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n",
        "Inter-|\n face |\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 -16\n",
        "Inter-|\n face |\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 18446744073709551616\n",
        "Inter-|\n face |\nthisnameistoolong: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
        "Inter-|\n face |\n: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
        "Inter-|\n face |\n\n",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        int st = status(rt_stats_netdev_parse(bad[i], &nd, &err), &err);
        if (st != EINVAL)
            fprintf(stderr, "netdev case %zu gave %d\n", i, st);
        CHECK(st == EINVAL);
    }

    /* More interfaces than kept: counted, not stored. */
    char many[8192] = "Inter-|\n face |\n";
    for (int i = 0; i < RT_STATS_NETDEV_MAX + 8; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many),
                 "net%d: %d 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n", i, i);
    CHECK(rt_stats_netdev_parse(many, &nd, &err) == 0);
    CHECK(nd.n == RT_STATS_NETDEV_MAX && nd.n_seen == RT_STATS_NETDEV_MAX + 8);
    CHECK(nd.ifaces[RT_STATS_NETDEV_MAX - 1].rx_bytes == RT_STATS_NETDEV_MAX - 1);
}

static void test_netdev_route(void)
{
    static const char head[] =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT   \n";
    char route[2048], name[IFNAMSIZ];
    crisp_error_t *err = NULL;
    snprintf(route, sizeof(route),
             "%snet1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0     \n"
             "net1\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0     \n"
             "net2\t00000000\t010300C0\t0003\t0\t0\t50\t00000000\t0\t0\t0     \n"
             "net3\t00000000\t010300C0\t0002\t0\t0\t1\t00000000\t0\t0\t0     \n",
             head);
    CHECK(rt_stats_netdev_default_route(route, NULL, name, &err) == 0);
    CHECK_STR(name, "net2");
    static const char v6[] =
        "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth1\n"
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
        "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
    /* IPv6 only: the v4 table has no default. */
    CHECK(rt_stats_netdev_default_route(head, v6, name, &err) == 0);
    CHECK_STR(name, "eth1");
    CHECK(rt_stats_netdev_default_route(route, v6, name, &err) == 0);
    CHECK_STR(name, "net2");
    /* Neither: CNI's usual name. */
    CHECK(rt_stats_netdev_default_route(head, "", name, &err) == 0);
    CHECK_STR(name, "eth0");
    CHECK(rt_stats_netdev_default_route(NULL, NULL, name, &err) == 0);
    CHECK_STR(name, "eth0");

    snprintf(route, sizeof(route), "%snet1\t0000000G\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", head);
    CHECK(status(rt_stats_netdev_default_route(route, NULL, name, &err), &err) == EINVAL);
    snprintf(route, sizeof(route), "%snet1\t00000000\n", head);
    CHECK(status(rt_stats_netdev_default_route(route, NULL, name, &err), &err) == EINVAL);
    CHECK(status(rt_stats_netdev_default_route(head, "0000 00 eth0\n", name, &err), &err) == EINVAL);
}

struct sender {
    const char *netns;
    int sent;
};

/* Sends UDP datagrams from inside a test namespace, from a thread of its own. */
static void *sender_run(void *arg)
{
    struct sender *s = arg;
    int nsfd = open(s->netns, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
        return NULL;
    close(nsfd);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
    inet_pton(AF_INET, "169.254.123.2", &to.sin_addr);
    for (int i = 0; i < 5 && fd >= 0; i++) {
        s->sent += sendto(fd, "crisp stats test", 16, 0, (struct sockaddr *)&to, sizeof(to)) == 16;
        usleep(20000);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *cmd = NULL;
    int r = vasprintf(&cmd, fmt, ap);
    va_end(ap);
    return r < 0 ? -1 : system(cmd);
}

static int netdev_read(const char *path, struct rt_stats_netdev *ret)
{
    crisp_error_t *err = NULL;
    return status(rt_stats_netdev_read(path, ret, &err), &err);
}

static const struct rt_stats_netdev_iface *iface_named(const struct rt_stats_netdev *nd, const char *name)
{
    for (size_t i = 0; i < nd->n; i++)
        if (strcmp(nd->ifaces[i].name, name) == 0)
            return &nd->ifaces[i];
    return NULL;
}

/* Two namespaces of the test's own, a veth pair between them with a link-local /30, traffic from
 * A to B; A's default route goes through the veth. */
static void test_netdev_real(void)
{
    if (geteuid() != 0 || sh("ip -V >/dev/null 2>&1") != 0) {
        printf("test_netdev_real: skipped (needs root and iproute2)\n");
        return;
    }
    int pid = (int)getpid();
    char a[64], b[64], va[IFNAMSIZ], vb[IFNAMSIZ], path_a[128], path_b[128];
    snprintf(a, sizeof(a), "crisp-stats-test-%d-a", pid);
    snprintf(b, sizeof(b), "crisp-stats-test-%d-b", pid);
    snprintf(va, sizeof(va), "cst%da", pid % 1000000);
    snprintf(vb, sizeof(vb), "cst%db", pid % 1000000);
    snprintf(path_a, sizeof(path_a), "/run/netns/%s", a);
    snprintf(path_b, sizeof(path_b), "/run/netns/%s", b);
    int r = sh(
        "ip netns add %s && ip netns add %s && ip link add %s netns %s type veth peer name %s netns %s && "
        "ip -n %s addr add 169.254.123.1/30 dev %s && ip -n %s addr add 169.254.123.2/30 dev %s && "
        "ip -n %s link set %s up && ip -n %s link set %s up && ip -n %s link set lo up && "
        "ip -n %s route add default via 169.254.123.2",
        a, b, va, a, vb, b, a, va, b, vb, a, va, b, vb, a, a);
    CHECK(r == 0);
    struct rt_stats_netdev nd;
    if (r == 0) {
        /* A namespace with the veth only up: named, no traffic needed. */
        CHECK(netdev_read(path_b, &nd) == 0);
        CHECK(nd.n == 1 && iface_named(&nd, vb) != NULL && iface_named(&nd, "lo") == NULL);
        CHECK_STR(nd.default_iface, "eth0"); /* B has no default route */

        struct sender s = {.netns = path_a};
        pthread_t t;
        pthread_create(&t, NULL, sender_run, &s);
        pthread_join(t, NULL);
        CHECK(s.sent == 5);
        const struct rt_stats_netdev_iface *ia = NULL, *ib = NULL;
        struct rt_stats_netdev nb;
        for (int i = 0; i < 100; i++) {
            if (netdev_read(path_a, &nd) == 0 && (ia = iface_named(&nd, va)) && ia->tx_bytes > 0 &&
                ia->tx_packets >= 5) {
                if (netdev_read(path_b, &nb) == 0 && (ib = iface_named(&nb, vb)) &&
                    ib->rx_bytes >= ia->tx_bytes)
                    break;
            }
            ia = ib = NULL;
            usleep(20000);
        }
        CHECK(ia != NULL && ib != NULL);
        CHECK(ia && ia->tx_bytes > 5 * 16 && ia->tx_errors == 0 && ia->rx_errors == 0);
        CHECK(nd.n == 1 && nd.n_seen == 1);
        CHECK_STR(nd.default_iface, va);
        if (ia && ib)
            printf("netdev: %s sent %llu bytes in %llu packets, %s received %llu bytes\n", va,
                   (unsigned long long)ia->tx_bytes, (unsigned long long)ia->tx_packets, vb,
                   (unsigned long long)ib->rx_bytes);
    }
    sh("ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", a, b);
    CHECK(access(path_a, F_OK) < 0 && access(path_b, F_OK) < 0);
    CHECK(sh("ip link show %s >/dev/null 2>&1", va) != 0);

    CHECK(netdev_read(path_a, &nd) == ENOENT);
    CHECK(netdev_read("/proc/self/status", &nd) == EINVAL); /* not a namespace: setns says EINVAL */
    CHECK(netdev_read("", &nd) == 0);                       /* crispd's own */
}

int main(void)
{
    char tmpl[] = "/tmp/crisp-stats-XXXXXX";
    tmp_root = mkdtemp(tmpl);
    if (!tmp_root)
        return 2;
    test_cgroup_v1();
    test_cgroup_v1_missing();
    test_cgroup_v1_malformed();
    test_cgroup_v2();
    test_cgroup_v2_malformed();
    test_cgroup_real();
    test_files_v1();
    test_files_v2();
    test_files_real();
    test_files_table();
    test_files_table_real();
    test_files_table_threads();
    test_cpu_rate();
    test_cpu_rate_bounded();
    test_cpu_rate_threads();
    test_fs_walk();
    test_fs_walk_deep();
    bench_walk();
    test_fs_cache();
    test_fs_cache_fini();
    test_netdev_parse();
    test_netdev_route();
    test_netdev_real();
    crisp_error_t *err = NULL;
    dir_remove_all(tmp_root, &err);
    crisp_error_free(err);
    return unit_report("test_stats");
}
