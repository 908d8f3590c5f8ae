/* State and start time of a process from /proc/PID/stat, for crisp-exec (is the container's process
 * still the one crispd started?) and crispd (rt_proc_start_time). crispd's threads call it, so it
 * keeps no error state: failures are -errno. */
#ifndef CRISP_HELPERS_PROC_STAT_H
#define CRISP_HELPERS_PROC_STAT_H

#include <stdint.h>

struct hl_proc_stat {
    char state;          /* field 3: R, S, D, Z, X, ... */
    uint64_t start_time; /* field 22, clock ticks after boot: with the pid it names one process */
};

/* Parses one stat line; -EINVAL when it is not one. */
int hl_proc_stat_parse(const char *line, struct hl_proc_stat *ret);

/* Reads the stat file at path, relative to dirfd (AT_FDCWD, or a /proc/PID directory with "stat"):
 * 0, -ENOENT when the process is gone, or another -errno. */
int hl_proc_stat_read(int dirfd, const char *path, struct hl_proc_stat *ret);

#endif
