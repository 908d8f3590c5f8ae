#define _GNU_SOURCE
#include "server/daemon.h"

#include "runtime/caps.h"
#include "runtime/seccomp/seccomp.h"
#include "server/stats.h"

#include "common/cleanup.h"
#include "common/clock.h"
#include "common/file.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define RUNTIME_CONFIG_FILE "runtime-config.json"
#define RUNTIME_CONFIG_MAX 4096

static char *runtime_config_path(const struct srv_daemon *d)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", d->cfg->state, RUNTIME_CONFIG_FILE) < 0)
        return NULL;
    return path;
}

/* The pod CIDR kubelet gave an earlier crispd of this boot; a damaged record is ignored. */
static char *load_pod_cidr(const struct srv_daemon *d)
{
    _cleanup_free_ char *path = runtime_config_path(d);
    _cleanup_free_ char *text = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    if (!path || file_read_bounded(path, RUNTIME_CONFIG_MAX, &text, NULL, &err) < 0)
        return strdup("");
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    const char *key[] = {"pod_cidr", NULL};
    yajl_val v = root ? yajl_tree_get(root, key, yajl_t_string) : NULL;
    char *cidr = strdup(v ? v->u.string : "");
    yajl_tree_free(root);
    return cidr;
}

static int images_init(struct srv_daemon *d, crisp_error_t **err)
{
    const struct crisp_config *cfg = d->cfg;
    struct img_registry_options opts = {
        .cfg = cfg,
        .auth_file = cfg->image_auth_file[0] ? cfg->image_auth_file : NULL,
        .stall_timeout_s = cfg->image_pull_progress_timeout,
    };
    if (img_store_open(cfg->root, &d->images, err) < 0 || img_registry_new(&opts, &d->registry, err) < 0 ||
        img_puller_new(d->images, d->registry, cfg->image_max_concurrent_downloads, &d->puller, err) < 0)
        return -1;
    return 0;
}

/* Writable layers are measured on the image store's filesystem, which ImageFsInfo names. */
static int stats_init(struct srv_daemon *d, crisp_error_t **err)
{
    struct img_store_usage usage;
    img_store_usage(d->images, &usage);
    d->stats = calloc(1, sizeof(*d->stats));
    if (!d->stats)
        return crisp_error_oom(err);
    if (srv_stats_init(d->stats, rt_runtime_cgroups(d->runtime), usage.mountpoint, err) < 0) {
        free(d->stats);
        d->stats = NULL;
        return -1;
    }
    return 0;
}

/* Helper binaries (crisp-pinns, crisp-monitor) are installed beside crispd. */
static char *helper_path(const char *name)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    char *path = NULL;
    if (!slash || asprintf(&path, "%.*s/%s", (int)(slash - exe), exe, name) < 0)
        return NULL;
    return path;
}

/* Container lifecycle changes go out to GetContainerEvents streams. */
static void publish_container_event(void *data, enum rt_container_event type, const char *container_id,
                                    const char *sandbox_id)
{
    struct srv_daemon *d = data;
    struct srv_event ev = {.type = (enum srv_event_type)type};
    ev.created_at = clock_realtime_ns();
    snprintf(ev.container_id, sizeof(ev.container_id), "%s", container_id);
    snprintf(ev.sandbox_id, sizeof(ev.sandbox_id), "%s", sandbox_id);
    srv_event_publish(d->events, &ev);
}

static int runtime_init(struct srv_daemon *d, crisp_error_t **err)
{
    const struct crisp_config *cfg = d->cfg;
    _cleanup_free_ char *pinns = helper_path("crisp-pinns"), *monitor = helper_path("crisp-monitor");
    _cleanup_free_ char *exec = helper_path("crisp-exec");
    if (!pinns || !monitor || !exec)
        return crisp_error_errno(err, "find crispd's own directory");
    struct rt_runtime_options o = {
        .state_dir = cfg->state,
        .root_dir = cfg->root,
        .pinns_path = pinns,
        .monitor_path = monitor,
        .exec_path = exec,
        .cgroup_mount = "/sys/fs/cgroup",
        .default_cgroup_parent = cfg->default_cgroup_parent,
        .systemd_cgroup = cfg->cgroup_driver == CGROUP_DRIVER_SYSTEMD,
        .cni_conf_dir = cfg->cni_conf_dir,
        .cni_bin_dirs = cfg->cni_bin_dirs,
        .host_resolv_conf = "/etc/resolv.conf",
    };
    if (rt_runtime_open(&o, &d->runtime, err) < 0)
        return -1;
    rt_runtime_set_event_hook(d->runtime, publish_container_event, d);
    return 0;
}

/* RuntimeDefault costs ~10 ms to compile and is cached per capability set: compiled once now for the
 * default set, the first CreateContainer that asks for it does not pay. A failure only loses the head
 * start; that CreateContainer will report it. */
static void seccomp_warm(void)
{
    uint64_t caps;
    struct rt_seccomp_filter f;
    if (rt_caps_mask(NULL, 0, NULL, 0, false, &caps, NULL) == 0 &&
        rt_seccomp_compile_default(caps, &f, NULL) == 0)
        rt_seccomp_filter_fini(&f);
    malloc_trim(0); /* libseccomp's working memory is freed, but stays in the heap until trimmed */
}

int srv_daemon_init(struct srv_daemon *d, const struct crisp_config *cfg, crisp_error_t **err)
{
    memset(d, 0, sizeof(*d));
    d->cfg = cfg;
    pthread_mutex_init(&d->lock, NULL);
    const char *hooks = getenv("CRISP_TEST_HOOKS");
    d->test_hooks = hooks && strcmp(hooks, "1") == 0;
    d->events = srv_event_bus_new();
    d->pod_cidr = load_pod_cidr(d);
    if (!d->events || !d->pod_cidr)
        return crisp_error_oom_in(err, "daemon state");
    if (images_init(d, err) < 0 || runtime_init(d, err) < 0 || stats_init(d, err) < 0)
        return -1;
    seccomp_warm();
    return 0;
}

void srv_daemon_fini(struct srv_daemon *d)
{
    if (d->stats)
        srv_stats_fini(d->stats);
    free(d->stats);
    rt_runtime_free(d->runtime);
    img_puller_free(d->puller);
    img_registry_free(d->registry);
    img_store_free(d->images);
    srv_event_bus_free(d->events);
    free(d->pod_cidr);
    pthread_mutex_destroy(&d->lock);
}

static int persist_pod_cidr(const struct srv_daemon *d, const char *cidr, crisp_error_t **err)
{
    _cleanup_free_ char *path = runtime_config_path(d);
    if (!path)
        return crisp_error_oom(err);
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return crisp_error_oom(err);
    yajl_gen_map_open(g);
    yajl_gen_string(g, (const unsigned char *)"pod_cidr", 8);
    yajl_gen_string(g, (const unsigned char *)cidr, strlen(cidr));
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    int r = file_write_atomic(path, buf, len, 0600, err);
    yajl_gen_free(g);
    return r;
}

int srv_daemon_set_pod_cidr(struct srv_daemon *d, const char *cidr, crisp_error_t **err)
{
    char *copy = strdup(cidr);
    if (!copy)
        return crisp_error_oom(err);
    pthread_mutex_lock(&d->lock);
    int r = persist_pod_cidr(d, cidr, err);
    if (r == 0) {
        free(d->pod_cidr);
        d->pod_cidr = copy;
        copy = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    free(copy);
    return r;
}

char *srv_daemon_pod_cidr(struct srv_daemon *d)
{
    pthread_mutex_lock(&d->lock);
    char *copy = strdup(d->pod_cidr);
    pthread_mutex_unlock(&d->lock);
    return copy;
}
