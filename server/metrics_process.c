#define _GNU_SOURCE
#include "server/metrics_process.h"

#include "common/cleanup.h"
#include "common/file.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define PROC_STAT_MAX 4096

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static double boot_time; /* seconds since the epoch; 0 when /proc/stat could not tell */

/* The boot time never changes, and /proc/stat grows with the CPU count: it is read once. */
static void boot_time_load(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    unsigned long long btime;
    while (f && getline(&line, &cap, f) > 0)
        if (sscanf(line, "btime %llu", &btime) == 1) {
            boot_time = (double)btime;
            return;
        }
}

/* Fields 14-15 (utime, stime), 20 (num_threads), 22-24 (starttime, vsize, rss) of proc(5), counted
 * after the command name, which may itself hold spaces and parentheses. */
static int stat_parse(const char *text, struct srv_process_stats *ret, crisp_error_t **err)
{
    const char *p = strrchr(text, ')');
    unsigned long utime, stime, vsize;
    unsigned long long start;
    long threads, rss;
    if (!p ||
        sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld %*d %llu %lu %ld",
               &utime, &stime, &threads, &start, &vsize, &rss) != 6)
        return crisp_error_make(err, EINVAL, "unexpected /proc/self/stat");
    double ticks = (double)sysconf(_SC_CLK_TCK);
    pthread_once(&boot_once, boot_time_load);
    *ret = (struct srv_process_stats){
        .cpu_seconds = (double)(utime + stime) / ticks,
        .resident_bytes = (uint64_t)(rss > 0 ? rss : 0) * (uint64_t)sysconf(_SC_PAGESIZE),
        .virtual_bytes = vsize,
        .threads = threads > 0 ? (uint64_t)threads : 0,
        .start_time_seconds = boot_time > 0 ? boot_time + (double)start / ticks : 0,
    };
    return 0;
}

int srv_process_stats_read(struct srv_process_stats *ret, crisp_error_t **err)
{
    _cleanup_free_ char *text = NULL;
    if (file_read_bounded("/proc/self/stat", PROC_STAT_MAX, &text, NULL, err) < 0)
        return -1;
    return stat_parse(text, ret, err);
}

enum stat_field { STAT_CPU, STAT_RESIDENT, STAT_VIRTUAL, STAT_THREADS, STAT_START };

/* data is the enum stat_field to report. */
static int collect_stat(void *data, double *ret, size_t n)
{
    (void)n;
    struct srv_process_stats st;
    if (srv_process_stats_read(&st, NULL) < 0)
        return -1;
    const double values[] = {
        [STAT_CPU] = st.cpu_seconds,
        [STAT_RESIDENT] = (double)st.resident_bytes,
        [STAT_VIRTUAL] = (double)st.virtual_bytes,
        [STAT_THREADS] = (double)st.threads,
        [STAT_START] = st.start_time_seconds,
    };
    enum stat_field field = (enum stat_field)(intptr_t)data;
    if (field == STAT_START && st.start_time_seconds <= 0)
        return -1;
    *ret = values[field];
    return 0;
}

/* Entries of /proc/self/fd; like client_golang, the one the listing itself opens is counted. */
static int collect_open_fds(void *data, double *ret, size_t n)
{
    (void)data, (void)n;
    _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    uint64_t count = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            count++;
    *ret = (double)count;
    return 0;
}

static int collect_max_fds(void *data, double *ret, size_t n)
{
    (void)data, (void)n;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    *ret = rl.rlim_cur == RLIM_INFINITY ? (double)UINT64_MAX : (double)rl.rlim_cur;
    return 0;
}

int srv_metrics_process_register(struct metrics_registry *r, crisp_error_t **err)
{
    static const struct {
        const char *name, *help;
        enum metrics_type type;
        metrics_collect_fn fn;
        enum stat_field field; /* for collect_stat */
    } families[] = {
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", METRICS_COUNTER,
         collect_stat, STAT_CPU},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", METRICS_GAUGE, collect_stat,
         STAT_RESIDENT},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", METRICS_GAUGE, collect_stat,
         STAT_VIRTUAL},
        {"process_open_fds", "Number of open file descriptors.", METRICS_GAUGE, collect_open_fds, 0},
        {"process_max_fds", "Maximum number of open file descriptors.", METRICS_GAUGE, collect_max_fds, 0},
        {"process_threads", "Number of OS threads in the process.", METRICS_GAUGE, collect_stat,
         STAT_THREADS},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         METRICS_GAUGE, collect_stat, STAT_START},
    };
    for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
        const struct metrics_callback_spec spec = {families[i].name, families[i].help, families[i].type, NULL,
                                                   NULL};
        if (metrics_callback_add(r, &spec, families[i].fn, (void *)(intptr_t)families[i].field, NULL, err) <
            0)
            return -1;
    }
    return 0;
}
