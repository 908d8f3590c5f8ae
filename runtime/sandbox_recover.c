/* Start-up's part for one pod directory, before crispd serves: a live pod is taken back as its record
 * describes it; what a crash left half-done is finished. A pod that was still being made (the record
 * says "creating": no client was told it exists) is rolled back; one that was being removed is
 * removed; a directory without a usable record (a crash before its first record) is unmounted and
 * removed. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/mountinfo.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A pod record holds at most a network config and a CNI result of 1 MiB each, both escaped. */
#define RECORD_MAX (5 << 20)

/* A pod whose namespaces were lost (a reboot of /run, or an init that died) can't be READY. */
static void recover_state(struct rt_sandbox *sb)
{
    struct stat st;
    bool lost = sb->info.netns_path[0] && stat(sb->info.netns_path, &st) < 0;
    if (sb->info.init_pid > 0 && kill(sb->info.init_pid, 0) < 0)
        lost = true;
    if (lost)
        sb->info.state = RT_SANDBOX_NOTREADY;
}

/* Records are replaced by rename, so a crash never tears one: a directory without one is a run that
 * crashed before its first record, when it had made nothing but the directory. A damaged record
 * (written by something else) can't be undone step by step either: what is mounted below goes. */
static int forget_dir(const char *dir, crisp_error_t **err)
{
    if (rt_unmount_below(dir, err) < 0)
        return -1;
    return dir_remove_all(dir, err);
}

static int read_record(const char *dir, const char *id, struct rt_sandbox *sb, crisp_error_t **err)
{
    _cleanup_free_ char *rec = path_join(dir, "pod.json"), *text = NULL;
    if (!rec)
        return crisp_error_oom(err);
    if (file_read_bounded(rec, RECORD_MAX, &text, NULL, err) < 0 ||
        rt_sandbox_record_from_json(text, sb, err) < 0)
        return -1;
    if (strcmp(sb->info.id, id) != 0)
        return crisp_error_make(err, EINVAL, "pod record of %.64s is in %s", sb->info.id, dir);
    return 0;
}

/* A removal that can't be finished now leaves the pod listed, NOTREADY, for kubelet to retry. */
static int finish_remove(struct rt_runtime *rt, struct rt_sandbox *sb, struct rt_sandbox **ret)
{
    if (rt_sandbox_teardown_all(rt, sb, "recover", NULL) == 0) {
        rt_sandbox_unref(sb);
        return 0;
    }
    sb->info.state = RT_SANDBOX_NOTREADY;
    rt_sandbox_persist(sb, NULL);
    *ret = sb;
    return 0;
}

int rt_sandbox_recover(struct rt_runtime *rt, const char *dir, const char *id, struct rt_sandbox **ret,
                       crisp_error_t **err)
{
    *ret = NULL;
    struct rt_sandbox *sb = rt_sandbox_new();
    if (!sb)
        return crisp_error_oom(err);
    _cleanup_error_ crisp_error_t *rec_err = NULL;
    if (read_record(dir, id, sb, &rec_err) < 0) {
        rt_sandbox_unref(sb);
        if (rec_err && rec_err->status == ENOMEM)
            return crisp_error_oom(err);
        /* Nothing to report it to before serving: what can't go now is tried again next start. */
        forget_dir(dir, NULL);
        return 0;
    }
    if (!(sb->info.dir = strdup(dir))) {
        rt_sandbox_unref(sb);
        return crisp_error_oom(err);
    }
    switch (sb->phase) {
    case RT_SANDBOX_PHASE_CREATING:
        rt_sandbox_rollback(rt, sb, NULL); /* a failure keeps the record for the next start */
        rt_sandbox_unref(sb);
        return 0;
    case RT_SANDBOX_PHASE_REMOVING:
        return finish_remove(rt, sb, ret);
    case RT_SANDBOX_PHASE_LIVE:
        break;
    }
    recover_state(sb);
    *ret = sb;
    return 0;
}
