/* Containers after a crispd restart: rebuilt from their records and the monitors' exit files; what a
 * crash cut short is finished (a start, a remove) or rolled back (a create), and writable layers no
 * container owns are removed. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "common/strv.h"
#include "runtime/container_internal.h"
#include "runtime/image_volume.h"
#include "runtime/mountinfo.h"
#include "runtime/runtime_internal.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define RECORD_MAX (1 << 20)

static int is_container_dir(const struct dirent *d)
{
    return strlen(d->d_name) == RT_ID_LEN && strspn(d->d_name, "0123456789abcdef") == RT_ID_LEN;
}

/* A create a crash cut short (kubelet was never told of it) is rolled back; a remove (kubelet asked
 * for it) is finished. */
static void discard(struct rt_runtime *rt, struct rt_container *c)
{
    rt_unmount_below(c->dir, NULL);
    rt_unmount_below(c->rw_dir, NULL);
    rt_container_discard(rt, c, NULL);
    if (c->creating && c->log_dir_made)
        rmdir(c->log_dir_made); /* only if empty: it may be kubelet's */
}

/* A start whose end crispd did not record: its monitor's claim says how it ended. */
static void start_resolve(struct rt_runtime *rt, struct rt_container *c)
{
    struct rt_start_claim cl;
    rt_container_claim_settle(rt, c, &cl);
    rt_container_claim_apply(c, &cl);
    rt_container_persist(c, NULL);
}

/* The systemd driver writes the unified values systemd resets again after a daemon-reload; it learns
 * them from the record, as this crispd did not apply them. Best effort: the container runs either way. */
static void cgroup_keep(struct rt_runtime *rt, struct rt_container *c)
{
    const struct rt_container_resources *cr = &c->info.resources;
    struct rt_cgroup_resources res = {.n_unified = cr->n_unified};
    typeof(*res.unified) unified[cr->n_unified];
    for (size_t i = 0; i < cr->n_unified; i++)
        unified[i] = (typeof(*res.unified)){cr->unified[i].key, cr->unified[i].value};
    res.unified = unified;
    rt_cgroup_keep(&rt->cgroups, c->info.cgroup_path, &res, NULL);
}

static void load_one(struct rt_runtime *rt, const char *name)
{
    _cleanup_free_ char *dir = path_join(rt->containers_dir, name),
                        *rec = dir ? path_join(dir, "container.json") : NULL;
    _cleanup_free_ char *text = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    struct rt_container *c = rt_container_new();
    if (!c || !rec)
        return rt_container_unref(c);
    if (file_read_bounded(rec, RECORD_MAX, &text, NULL, &err) < 0 ||
        rt_container_record_from_json(text, c, &err) < 0 || strcmp(c->info.id, name) != 0 ||
        !(c->rw_dir = path_join(rt->layers_dir, name)) ||
        !(c->info.upper_dir = path_join(c->rw_dir, "upper"))) {
        /* A create that crashed before its record: nothing refers to it (what it mounted goes first). */
        rt_container_unref(c);
        if (rt_image_volumes_unmount(dir, NULL) == 0)
            dir_remove_all(dir, NULL);
        return;
    }
    c->dir = TAKE_PTR(dir);
    if (c->creating || c->removing) {
        discard(rt, c);
        rt_container_unref(c);
        return;
    }
    if (c->starting)
        start_resolve(rt, c);
    /* Exits that happened while crispd was down were recorded by the monitor; a container whose monitor
     * died without a record is lost (and a workload that outlived it is killed). */
    if (c->info.state == RT_CONTAINER_RUNNING) {
        rt_container_monitor_track(c);
        if (rt_container_settle(c))
            rt_container_persist(c, NULL);
    }
    if (c->info.state != RT_CONTAINER_EXITED && c->info.resources.n_unified > 0)
        cgroup_keep(rt, c);
    rt_image_volumes_check(c);
    /* Its image volumes keep their images in use again (nothing is being removed this early). */
    if (rt_container_index_add(rt, c, &err) == 0)
        rt_container_images_hold(rt, c->info.image_id, c->info.mounts, c->info.n_mounts, NULL);
    rt_container_unref(c); /* the index holds it now, or nothing does */
}

/* A layer whose container has no state directory (left by a crash before the create's intent, or by
 * an older crispd) belongs to nothing. */
static void layers_sweep(struct rt_runtime *rt)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_list_sorted(rt->layers_dir, is_container_dir, &names, NULL) < 0)
        return;
    for (char **n = names; *n; n++) {
        _cleanup_free_ char *state = path_join(rt->containers_dir, *n),
                            *layer = path_join(rt->layers_dir, *n);
        if (!state || !layer || access(state, F_OK) == 0)
            continue;
        rt_unmount_below(layer, NULL);
        dir_remove_all(layer, NULL);
    }
}

int rt_containers_load(struct rt_runtime *rt, crisp_error_t **err)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_create_all(rt->containers_dir, 0700, err) < 0 || dir_create_all(rt->layers_dir, 0700, err) < 0 ||
        dir_list_sorted(rt->containers_dir, is_container_dir, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++)
        load_one(rt, *n);
    layers_sweep(rt);
    return 0;
}
