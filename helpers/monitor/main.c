/* crisp-monitor --spec FILE --sync-fd N [--claim FILE]
 * Spawned by crispd, which waits for this process to exit and then reads one line from fd N:
 * `ok <container pid> <monitor pid>` or `error <exit code> <message>`. The monitor itself lives on,
 * detached, until the workload exits, and then writes the exit file. */
#define _GNU_SOURCE
#include "monitor.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What outlives the spec once the workload runs; the spec itself is freed to keep the monitor small. */
struct kept {
    char *exit_file, *oom_v1, *oom_v2;
};

static int args_parse(int argc, char **argv, const char **ret_spec, int *ret_sync_fd, const char **ret_claim)
{
    if ((argc != 5 && argc != 7) || strcmp(argv[1], "--spec") != 0 || strcmp(argv[3], "--sync-fd") != 0 ||
        (argc == 7 && strcmp(argv[5], "--claim") != 0))
        return -1;
    *ret_claim = argc == 7 ? argv[6] : NULL;
    char *end;
    long fd = strtol(argv[4], &end, 10);
    if (*end != '\0' || fd < 3 || fd > 65535 || fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    *ret_spec = argv[2];
    *ret_sync_fd = (int)fd;
    return 0;
}

static int start_failed(const char *exit_file, struct mon_exit *ex, int sync_fd)
{
    if (ex->reason == NULL) { /* a failure of ours before the workload existed */
        *ex = (struct mon_exit){.exit_code = 1, .reason = "Error", .finished_at = mon_now_ns()};
        snprintf(ex->message, sizeof ex->message, "%s", hl_error());
    }
    mon_exit_file_write(exit_file, ex);
    mon_sync_error(sync_fd, ex->exit_code, ex->message);
    return 1;
}

/* Without memory for the copies, the spec simply stays. */
static void kept_take(struct mon_spec *spec, struct kept *k)
{
    k->exit_file = strdup(spec->exit_file);
    k->oom_v1 = strdup(spec->oom_v1_control);
    k->oom_v2 = strdup(spec->oom_v2_events);
    if (!k->exit_file || !k->oom_v1 || !k->oom_v2) {
        *k = (struct kept){spec->exit_file, spec->oom_v1_control, spec->oom_v2_events};
        return;
    }
    mon_spec_free(spec);
    malloc_trim(0); /* hand the file's pages back: they would count in every pod's memory */
}

static int monitor_run(struct mon_spec *spec, int sync_fd)
{
    struct mon_exit ex = {0};
    struct mon_stdio io;
    struct kept kept;
    pid_t pid;
    if (mon_signals_setup() < 0 || mon_crilog_open(spec->log_path, spec->log_max_line) < 0 ||
        mon_stdio_create(spec, &io) < 0 || mon_attach_listen(spec->attach_socket, &io, spec->stdin_once) < 0)
        return start_failed(spec->exit_file, &ex, sync_fd);
    int64_t oom_kills = mon_oom_kills(spec->oom_v1_control, spec->oom_v2_events);
    if (mon_workload_spawn(spec, &io, &pid, &ex) < 0)
        return start_failed(spec->exit_file, &ex, sync_fd);
    mon_sync_ok(sync_fd, pid);
    close(sync_fd);
    kept_take(spec, &kept);
    int status = 0;
    mon_loop_run(&io, pid, &status);
    ex.finished_at = mon_now_ns();
    mon_exit_from_status(&ex, status, mon_oom_kills(kept.oom_v1, kept.oom_v2) > oom_kills);
    return mon_exit_file_write(kept.exit_file, &ex) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *spec_path, *claim;
    int sync_fd;
    struct mon_spec spec;
    if (args_parse(argc, argv, &spec_path, &sync_fd, &claim) < 0) {
        fprintf(stderr, "usage: crisp-monitor --spec FILE --sync-fd N [--claim FILE] (N: an open fd >= 3)\n");
        return 2;
    }
    if (mon_spec_load(spec_path, &spec) < 0) {
        mon_sync_error(sync_fd, 1, hl_error());
        return 1;
    }
    if (mon_detach(sync_fd) < 0) {
        mon_sync_error(sync_fd, 1, hl_error());
        return 1;
    }
    int claimed = mon_claim_begin(claim);
    if (claimed != 0) { /* cancelled: the crispd that asked is gone, and its successor gave up on us */
        if (claimed < 0)
            mon_sync_error(sync_fd, 1, hl_error());
        return 1;
    }
    return monitor_run(&spec, sync_fd);
}
