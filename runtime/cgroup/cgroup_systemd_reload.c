/* What the systemd driver does between calls: keeping the unified values that systemd has no unit
 * property for, and writing them again after systemd wrote its defaults over them.
 *
 * systemd 252 (Debian 12) resets memory.oom.group to 0 on a scope whenever it applies the scope's
 * properties: on SetUnitProperties and on every `systemctl daemon-reload` (a package install does
 * one). kubelet asks for memory.oom.group=1 on cgroup v2 so that an OOM kill takes the whole
 * container; without this a reload quietly turned that off. A watcher thread reads the Reloading
 * signal; at the end of a reload the kept values are written again (the reset and the rewrite are
 * apart by one signal's round trip). The thread also drains signals nobody waits for, which on
 * systemd's private socket would otherwise pile up. */
#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"
#include "runtime/cgroup/cgroup_systemd_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* How long the watcher sleeps at most: signals read into sd-bus's queue by a call of another thread
 * don't wake its poll, so this bounds how late a reload is answered. */
#define WATCH_POLL_MS 500

static struct rt_sd_kept *kept_find(struct rt_cgroup_systemd *s, const char *file)
{
    for (size_t i = 0; i < s->n_kept; i++)
        if (strcmp(s->kept[i].file, file) == 0)
            return &s->kept[i];
    return NULL;
}

static void kept_entry_free(struct rt_sd_kept *k)
{
    free(k->path);
    free(k->file);
    free(k->value);
}

/* Copies first, then room for the new entries, then the commit that can't fail. */
int rt_sd_kept_set_locked(struct rt_cgroup_systemd *s, const struct rt_cgroup_root *root, const char *path,
                          const struct rt_cgroup_resources *res, crisp_error_t **err)
{
    if (root->mode != RT_CGROUP_V2 || res->n_unified == 0)
        return 0;
    struct rt_sd_kept *fresh = calloc(res->n_unified, sizeof(*fresh));
    if (!fresh)
        return crisp_error_oom(err);
    size_t n = 0, added = 0;
    int r = 0;
    for (size_t i = 0; i < res->n_unified && r == 0; i++) {
        if (rt_systemd_unified_has_property(res->unified[i].key, res->unified[i].value))
            continue;
        struct rt_sd_kept *k = &fresh[n++];
        if (asprintf(&k->file, "%s%s/%s", root->mount, path, res->unified[i].key) < 0)
            k->file = NULL;
        k->path = strdup(path);
        k->value = strdup(res->unified[i].value);
        if (!k->file || !k->path || !k->value)
            r = crisp_error_oom(err);
        else if (!kept_find(s, k->file))
            added++;
    }
    struct rt_sd_kept *grown = r == 0 && added ? realloc(s->kept, (s->n_kept + added) * sizeof(*grown))
                                               : NULL;
    if (r == 0 && added && !grown)
        r = crisp_error_oom(err);
    if (grown)
        s->kept = grown;
    for (size_t i = 0; i < n; i++) {
        struct rt_sd_kept *old = r == 0 ? kept_find(s, fresh[i].file) : NULL;
        if (r < 0) {
            kept_entry_free(&fresh[i]);
        } else if (old) {
            kept_entry_free(old);
            *old = fresh[i];
        } else {
            s->kept[s->n_kept++] = fresh[i];
        }
    }
    free(fresh);
    return r;
}

void rt_sd_kept_write_locked(struct rt_cgroup_systemd *s, const char *path)
{
    for (size_t i = 0; i < s->n_kept; i++)
        if (!path || strcmp(s->kept[i].path, path) == 0)
            rt_cgroup_write_file(s->kept[i].file, s->kept[i].value, NULL);
}

void rt_sd_kept_write_all_locked(struct rt_cgroup_systemd *s)
{
    rt_sd_kept_write_locked(s, NULL);
}

static bool is_at_or_below(const char *p, const char *path)
{
    size_t n = strlen(path);
    return strncmp(p, path, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

void rt_sd_kept_drop_locked(struct rt_cgroup_systemd *s, const char *path)
{
    size_t j = 0;
    for (size_t i = 0; i < s->n_kept; i++) {
        if (is_at_or_below(s->kept[i].path, path))
            kept_entry_free(&s->kept[i]);
        else
            s->kept[j++] = s->kept[i];
    }
    s->n_kept = j;
}

void rt_sd_kept_fini(struct rt_cgroup_systemd *s)
{
    for (size_t i = 0; i < s->n_kept; i++)
        kept_entry_free(&s->kept[i]);
    free(s->kept);
    s->kept = NULL;
    s->n_kept = 0;
}

/* Runs in whichever thread processes the connection, always under s->lock. */
int rt_sd_on_reloading(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
    (void)ret_error;
    struct rt_cgroup_systemd *s = userdata;
    int active = 1;
    if (sd_bus_message_read(m, "b", &active) >= 0 && !active)
        rt_sd_kept_write_all_locked(s);
    return 0;
}

/* Takes the lock only to process what has arrived and to learn what to poll for; polls without it. */
static void *watcher_main(void *arg)
{
    struct rt_cgroup_systemd *s = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_mutex_lock(&s->lock);
    while (!s->stop_watching) {
        struct pollfd p[2] = {{-1, 0, 0}, {s->watcher_wake, POLLIN, 0}};
        if (rt_sd_bus_connect_locked(s, NULL) == 0) {
            while (sd_bus_process(s->bus, NULL) > 0)
                ;
            int events = sd_bus_get_events(s->bus);
            p[0].fd = sd_bus_get_fd(s->bus);
            p[0].events = (short)(events > 0 ? events : POLLIN);
        }
        pthread_mutex_unlock(&s->lock);
        poll(p, 2, WATCH_POLL_MS);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int rt_sd_watcher_start(struct rt_cgroup_systemd *s, crisp_error_t **err)
{
    s->watcher_wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->watcher_wake < 0)
        return crisp_error_errno(err, "eventfd");
    int r = pthread_create(&s->watcher, NULL, watcher_main, s);
    if (r != 0) {
        close(s->watcher_wake);
        s->watcher_wake = -1;
        errno = r;
        return crisp_error_errno(err, "start the systemd watcher thread");
    }
    s->watching = true;
    return 0;
}

void rt_sd_watcher_stop(struct rt_cgroup_systemd *s)
{
    if (!s->watching)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop_watching = true;
    pthread_mutex_unlock(&s->lock);
    uint64_t one = 1;
    if (write(s->watcher_wake, &one, sizeof(one)) < 0) {
        /* full counter: it is readable already, which is all the wake needs */
    }
    pthread_join(s->watcher, NULL);
    close(s->watcher_wake);
    s->watcher_wake = -1;
    s->watching = false;
}
