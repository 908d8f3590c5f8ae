/* Containers after a crispd restart: rebuilt from their records and the monitors' exit files. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "common/strv.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_MAX (1 << 20)

static int is_container_dir(const struct dirent *d)
{
    return strlen(d->d_name) == RT_ID_LEN && strspn(d->d_name, "0123456789abcdef") == RT_ID_LEN;
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
        /* A create that crashed before its record: nothing refers to it. */
        rt_container_unref(c);
        dir_remove_all(dir, NULL);
        return;
    }
    c->dir = TAKE_PTR(dir);
    /* Exits that happened while crispd was down were recorded by the monitor; a container whose monitor
     * died without a record is lost (and a workload that outlived it is killed). */
    if (c->info.state == RT_CONTAINER_RUNNING) {
        rt_container_monitor_track(c);
        if (rt_container_settle(c))
            rt_container_persist(c, NULL);
    }
    rt_container_index_add(rt, c, &err);
    rt_container_unref(c); /* the index holds it now, or nothing does */
}

int rt_containers_load(struct rt_runtime *rt, crisp_error_t **err)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_create_all(rt->containers_dir, 0700, err) < 0 || dir_create_all(rt->layers_dir, 0700, err) < 0 ||
        dir_list_sorted(rt->containers_dir, is_container_dir, &names, err) < 0)
        return -1;
    for (char **n = names; *n; n++)
        load_one(rt, *n);
    return 0;
}
