/* The start claim (--claim FILE): the file this monitor, and only it, creates for the start crispd
 * named. It says which processes are the container's, so that a crispd that crashed before reading our
 * report can adopt them (runtime/container_claim.c). A crispd that finds no claim after its restart
 * creates the file itself, "cancelled": a monitor that comes later then exits without starting
 * anything, so a start crispd gave up on can never run next to a retried one.
 *
 * Both versions are written to a temp file first and linked or renamed into place: a reader sees all
 * of one or nothing. No fsync: the file is on tmpfs (/run/crisp) and a machine crash ends the
 * container anyway. */
#define _GNU_SOURCE
#include "helpers/lib/proc_stat.h"
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

static const char *claim_path; /* NULL when crispd asked for no claim */

static int claim_line(pid_t pid, const char *key, char *buf, size_t size)
{
    struct hl_proc_stat st;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int r = hl_proc_stat_read(AT_FDCWD, path, &st);
    if (r < 0)
        return hl_fail(-r, "read the start time of process %d", (int)pid);
    int n = snprintf(buf, size, "%s %d %llu\n", key, (int)pid, (unsigned long long)st.start_time);
    return n > 0 && (size_t)n < size ? n : hl_fail(ENAMETOOLONG, "claim line");
}

static int tmp_write(const char *tmp, const char *text, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return hl_fail(errno, "write %s", tmp);
    int rc = mon_write_all(fd, text, len);
    int saved = errno;
    close(fd);
    if (rc < 0) {
        unlink(tmp);
        return hl_fail(saved, "write %s", tmp);
    }
    return 0;
}

static int tmp_name(char tmp[PATH_MAX])
{
    if (snprintf(tmp, PATH_MAX, "%s.monitor", claim_path) >= PATH_MAX)
        return hl_fail(ENAMETOOLONG, "claim %s", claim_path);
    return 0;
}

int mon_claim_begin(const char *path)
{
    char tmp[PATH_MAX], text[128];
    claim_path = path;
    if (!path)
        return 0;
    int n = claim_line(getpid(), "monitor", text, sizeof text);
    if (n < 0 || tmp_name(tmp) < 0 || tmp_write(tmp, text, (size_t)n) < 0)
        return -1;
    /* link(2), unlike rename(2), fails when crispd's "cancelled" is there already. */
    int rc = link(tmp, path), saved = errno;
    unlink(tmp);
    if (rc == 0)
        return 0;
    return saved == EEXIST ? 1 : hl_fail(saved, "claim %s", path);
}

int mon_claim_commit(pid_t workload)
{
    char tmp[PATH_MAX], text[256];
    if (!claim_path)
        return 0;
    int a = claim_line(getpid(), "monitor", text, sizeof text);
    int b = a < 0 ? -1 : claim_line(workload, "workload", text + a, sizeof text - (size_t)a);
    if (b < 0)
        return -1;
    int c = snprintf(text + a + b, sizeof text - (size_t)(a + b), "started_at %lld\n",
                     (long long)mon_now_ns());
    if (tmp_name(tmp) < 0 || tmp_write(tmp, text, (size_t)(a + b + c)) < 0)
        return -1;
    if (rename(tmp, claim_path) == 0)
        return 0;
    int saved = errno;
    unlink(tmp);
    return hl_fail(saved, "claim %s", claim_path);
}
