/* Placing the workload before it runs a single instruction of its own: its cgroups (so every page
 * and process it makes is accounted) and its oom_score_adj. */
#include "helpers/lib/cgroup_self.h"
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The directory of the first cgroup.procs on cgroup v2, for the workload to be born in. */
int mon_cgroup2_dir_open(const struct mon_spec *spec, size_t *ret_index)
{
    char dir[PATH_MAX];
    struct statfs sf;
    for (size_t i = 0; i < spec->n_cgroup_procs; i++) {
        const char *procs = spec->cgroup_procs[i], *slash = strrchr(procs, '/');
        if (statfs(procs, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC ||
            strcmp(slash, "/cgroup.procs") != 0 || (size_t)(slash - procs) >= sizeof dir)
            continue;
        memcpy(dir, procs, (size_t)(slash - procs));
        dir[slash - procs] = '\0';
        *ret_index = i;
        return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    return -1;
}

/* Run by the workload itself, single-threaded, before anything else (helpers/lib/cgroup_self.h). SKIP is
 * the one the workload was born in, or -1. */
int mon_cgroup_join_self(const struct mon_spec *spec, ssize_t skip)
{
    for (size_t i = 0; i < spec->n_cgroup_procs; i++)
        if ((ssize_t)i != skip && hl_cgroup_self_join(spec->cgroup_procs[i]) < 0)
            return -1;
    return 0;
}

/* Lowering the score needs CAP_SYS_RESOURCE; without it the workload keeps the (higher, safer for
 * the node) score it inherited, as other runtimes do. Any other failure is an error. */
int mon_oom_score_adj_set(const struct mon_spec *spec, pid_t pid)
{
    if (!spec->has_oom_score_adj)
        return 0;
    char path[64], text[24];
    snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)pid);
    snprintf(text, sizeof text, "%d", spec->oom_score_adj);
    if (mon_write_string(path, text) == 0)
        return 0;
    int saved = errno;
    char current[24];
    if ((saved == EACCES || saved == EPERM) && mon_read_small(path, current, sizeof current) > 0 &&
        spec->oom_score_adj < atoi(current))
        return 0;
    return hl_fail(saved, "write %s", path);
}
