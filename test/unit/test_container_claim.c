/* Intents in the container record, and how a start crispd did not see end is resolved from the
 * monitor's claim (runtime/container_claim.c). */
#define _GNU_SOURCE
#include "common/file.h"
#include "runtime/container_internal.h"
#include "runtime/pod_ns.h"
#include "runtime/runtime_internal.h"
#include "unit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static struct rt_container *container_make(const char *dir)
{
    struct rt_container *c = rt_container_new();
    memcpy(c->info.id, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", RT_ID_LEN + 1);
    memcpy(c->info.sandbox_id, c->info.id, RT_ID_LEN + 1);
    c->info.name = strdup("c");
    c->info.reason = strdup("");
    c->info.message = strdup("");
    c->info.image = strdup("busybox");
    c->info.image_id = strdup("sha256:11");
    c->info.log_path = strdup("");
    c->info.cgroup_path = strdup(""); /* no cgroup: settle kills nothing there */
    c->info.mounts = calloc(1, sizeof(struct rt_mount));
    c->cwd = strdup("/");
    c->env = calloc(1, sizeof(char *));
    c->dir = dir ? strdup(dir) : NULL;
    return c;
}

static void test_record_intents(void)
{
    struct rt_container *c = container_make(NULL);
    c->creating = true;
    c->log_dir_made = strdup("/var/log/pods/p/c");
    c->starting = true;
    c->start_seq = 7;
    char *json = rt_container_record_to_json(c);
    struct rt_container *back = rt_container_new();
    CHECK(json && rt_container_record_from_json(json, back, NULL) == 0);
    CHECK(back->creating && back->starting && !back->removing && back->start_seq == 7);
    CHECK_STR(back->log_dir_made, "/var/log/pods/p/c");
    free(json);

    c->creating = c->starting = false;
    c->removing = true;
    json = rt_container_record_to_json(c);
    CHECK(json && !strstr(json, "creating") && !strstr(json, "\"starting\""));
    struct rt_container *again = rt_container_new();
    CHECK(json && rt_container_record_from_json(json, again, NULL) == 0);
    CHECK(!again->creating && !again->starting && again->removing && again->start_seq == 7);
    CHECK(again->log_dir_made == NULL);
    free(json);
    rt_container_unref(again);
    rt_container_unref(back);
    rt_container_unref(c);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char *path = path_join(dir, name);
    CHECK(file_write_replace(path, text, strlen(text), 0600, NULL) == 0);
    free(path);
}

static char *claim_text(pid_t monitor, pid_t workload)
{
    uint64_t ms = 0, ws = 0;
    rt_proc_start_time(monitor, &ms, NULL);
    if (workload > 0)
        rt_proc_start_time(workload, &ws, NULL);
    char *text = NULL;
    if (workload > 0)
        CHECK(asprintf(&text, "monitor %d %llu\nworkload %d %llu\nstarted_at 123\n", (int)monitor,
                       (unsigned long long)ms, (int)workload, (unsigned long long)ws) > 0);
    else
        CHECK(asprintf(&text, "monitor %d %llu\n", (int)monitor, (unsigned long long)ms) > 0);
    return text;
}

static void resolve(struct rt_runtime *rt, struct rt_container *c)
{
    struct rt_start_claim cl;
    c->starting = true;
    rt_container_claim_settle(rt, c, &cl);
    rt_container_claim_apply(c, &cl);
    CHECK(!c->starting);
}

static void test_unclaimed_start_is_cancelled(struct rt_runtime *rt, const char *dir)
{
    struct rt_container *c = container_make(dir);
    c->start_seq = 1;
    resolve(rt, c);
    CHECK(c->info.state == RT_CONTAINER_CREATED && c->info.pid == 0);
    /* A monitor that comes later finds its start claimed, and gives up. */
    char *path = rt_container_claim_file(c), *text = NULL;
    CHECK(path && file_read_bounded(path, 100, &text, NULL, NULL) == 0);
    CHECK_STR(text, "cancelled\n");
    free(text);
    free(path);
    rt_container_unref(c);
}

/* This process stands in for a live monitor, a child of it for the workload. */
static void test_claimed_workload_is_adopted(struct rt_runtime *rt, const char *dir)
{
    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    struct rt_container *c = container_make(dir);
    c->start_seq = 2;
    char *text = claim_text(getpid(), child);
    write_text(dir, "start.2", text);
    resolve(rt, c);
    CHECK(c->info.state == RT_CONTAINER_RUNNING && c->info.pid == child && c->monitor_pid == getpid());
    CHECK(c->info.started_at == 123 && rt_container_pid_is_ours(c) && c->monitor_pidfd >= 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    free(text);
    rt_container_unref(c);
}

/* The monitor died after the workload ran, and recorded its exit. */
static void test_exited_workload_is_recorded(struct rt_runtime *rt, const char *dir)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    char *text = claim_text(child, child);
    waitpid(child, NULL, 0);
    struct rt_container *c = container_make(dir);
    c->start_seq = 3;
    write_text(dir, "start.3", text);
    write_text(dir, "exit", "exit_code 3\nfinished_at 456\nreason Error\nmessage \n");
    resolve(rt, c);
    CHECK(c->info.state == RT_CONTAINER_EXITED && c->info.exit_code == 3 && c->info.finished_at == 456);
    char *exitf = path_join(dir, "exit");
    unlink(exitf);
    free(exitf);
    free(text);
    rt_container_unref(c);
}

/* A monitor that had not let its workload run is killed: nothing of that start may run later. */
static void test_monitor_without_workload_is_killed(struct rt_runtime *rt, const char *dir)
{
    pid_t monitor = fork();
    if (monitor == 0) {
        pause();
        _exit(0);
    }
    struct rt_container *c = container_make(dir);
    c->start_seq = 4;
    char *text = claim_text(monitor, 0);
    write_text(dir, "start.4", text);
    resolve(rt, c);
    int status = 0;
    CHECK(waitpid(monitor, &status, 0) == monitor && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(c->info.state == RT_CONTAINER_CREATED && c->monitor_pid == 0 && c->monitor_pidfd < 0);
    free(text);
    rt_container_unref(c);
}

int main(void)
{
    test_record_intents();
    char dir[] = "/tmp/crisp-unit-claim-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct rt_runtime rt = {0};
    test_unclaimed_start_is_cancelled(&rt, dir);
    test_claimed_workload_is_adopted(&rt, dir);
    test_exited_workload_is_recorded(&rt, dir);
    test_monitor_without_workload_is_killed(&rt, dir);
    dir_remove_all(dir, NULL);
    return unit_report("test_container_claim");
}
