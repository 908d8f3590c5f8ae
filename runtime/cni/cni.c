#define _GNU_SOURCE
#include "runtime/cni/cni.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/strv.h"
#include "runtime/cni/cni_config.h"
#include "common/clock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define MAX_PLUGINS 32
#define ERROR_TEXT_MAX 1024 /* plugin stderr quoted in an error */
#define PLAIN_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
#define VERSION(a, b, c) ((a) * 10000u + (b) * 100u + (c))
#define NEWEST_VERSION VERSION(1, 1, 0)
/* containerd's convention: the largest burst the bandwidth plugin takes, so only the rate limits. */
#define BANDWIDTH_BURST 4294967295ull

struct cni_plugin {
    yajl_val conf;
    const char *type;
};

/* One loaded network list, shared by the operations using it; freed when the last one lets go. */
struct cni_net {
    unsigned refs;
    yajl_val root, lo_root;
    char *path;
    const char *name;
    char version[16];
    unsigned vnum;
    bool disable_check;
    size_t n_plugins;
    struct cni_plugin plugins[MAX_PLUGINS], loopback;
};

/* What the loaded config was read from; any change means a reload. */
struct stamp {
    struct timespec dir_mtime, file_mtime;
    dev_t dev;
    ino_t ino;
    off_t size;
};

struct rt_cni {
    pthread_mutex_t lock;
    char *conf_dir, **bin_dirs, *cni_path;
    int timeout_ms;
    struct cni_net *net; /* NULL until a valid config is found */
    struct stamp stamp;
};

/* One ADD, CHECK or DEL over the list, with the environment every plugin of it shares. */
struct cni_op {
    const struct rt_cni *cni;
    const struct cni_net *net;
    const struct rt_cni_request *req;
    const char *command;
};

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static const char *string_member(yajl_val obj, const char *name)
{
    const char *path[] = {name, NULL};
    yajl_val v = yajl_tree_get(obj, path, yajl_t_string);
    return v ? v->u.string : NULL;
}

static yajl_val member(yajl_val obj, const char *name, yajl_type type)
{
    const char *path[] = {name, NULL};
    return yajl_tree_get(obj, path, type);
}

/* Plugin types name files in bin_dirs, so nothing that could walk out of them. */
static bool is_plain_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= NAME_MAX && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strspn(s, PLAIN_NAME_CHARS) == n;
}

/* ---- the network list ---- */

static int version_parse(const char *s, unsigned *ret)
{
    unsigned a, b, c;
    int end = 0;
    if (strspn(s, "0123456789.") != strlen(s) || sscanf(s, "%u.%u.%u%n", &a, &b, &c, &end) != 3 || s[end] ||
        a > 99 || b > 99 || c > 99)
        return -1;
    *ret = VERSION(a, b, c);
    return 0;
}

/* CNI 1.1 lists may name several versions in "cniVersions"; the newest we speak wins over "cniVersion". */
static const char *version_choose(yajl_val root)
{
    const char *best = string_member(root, "cniVersion");
    unsigned best_num = 0;
    yajl_val list = member(root, "cniVersions", yajl_t_array);
    for (size_t i = 0; list && i < list->u.array.len; i++) {
        yajl_val v = list->u.array.values[i];
        unsigned num;
        if (YAJL_IS_STRING(v) && version_parse(v->u.string, &num) == 0 && num <= NEWEST_VERSION &&
            num > best_num) {
            best = v->u.string;
            best_num = num;
        }
    }
    return best;
}

static int net_set_version(struct cni_net *net, crisp_error_t **err)
{
    const char *v = version_choose(net->root);
    if (!v || version_parse(v, &net->vnum) < 0 || strlen(v) >= sizeof(net->version))
        return crisp_error_make(err, EINVAL, "invalid cniVersion \"%s\"", v ? v : "");
    if (net->vnum < VERSION(0, 3, 0))
        return crisp_error_make(err, EINVAL, "cniVersion %s is not supported (0.3.0 or later)", v);
    strcpy(net->version, v);
    return 0;
}

/* Older lists wrote disableCheck as a string. */
static int net_set_disable_check(struct cni_net *net, crisp_error_t **err)
{
    yajl_val v = member(net->root, "disableCheck", yajl_t_any);
    if (!v || YAJL_IS_FALSE(v))
        return 0;
    if (YAJL_IS_TRUE(v) || (YAJL_IS_STRING(v) && strcasecmp(v->u.string, "true") == 0)) {
        net->disable_check = true;
        return 0;
    }
    if (YAJL_IS_STRING(v) && strcasecmp(v->u.string, "false") == 0)
        return 0;
    return crisp_error_make(err, EINVAL, "invalid \"disableCheck\"");
}

static int net_set_plugins(struct cni_net *net, crisp_error_t **err)
{
    yajl_val list = member(net->root, "plugins", yajl_t_array);
    size_t n = list ? list->u.array.len : 1;
    if (n > MAX_PLUGINS)
        return crisp_error_make(err, EINVAL, "%zu plugins, at most %d allowed", n, MAX_PLUGINS);
    for (size_t i = 0; i < n; i++) {
        struct cni_plugin *p = &net->plugins[i];
        p->conf = list ? list->u.array.values[i] : net->root;
        p->type = string_member(p->conf, "type");
        if (!p->type || !is_plain_name(p->type))
            return crisp_error_make(err, EINVAL, "invalid plugin type \"%s\"", p->type ? p->type : "");
    }
    net->n_plugins = n;
    return 0;
}

/* lo is brought up by the loopback plugin, run like a one-plugin list of the same version. */
static int net_set_loopback(struct cni_net *net, crisp_error_t **err)
{
    char text[128];
    snprintf(text, sizeof(text), "{\"cniVersion\": \"%s\", \"name\": \"cni-loopback\", \"type\": \"loopback\"}",
             net->version);
    if (!(net->lo_root = yajl_tree_parse(text, NULL, 0)))
        return crisp_error_oom(err);
    net->loopback = (struct cni_plugin){net->lo_root, "loopback"};
    return 0;
}

static void net_free(struct cni_net *net)
{
    if (!net)
        return;
    yajl_tree_free(net->root);
    yajl_tree_free(net->lo_root);
    free(net->path);
    free(net);
}

static void net_freep(struct cni_net **net)
{
    net_free(*net);
}

static int net_parse(struct cni_net *net, crisp_error_t **err)
{
    net->name = string_member(net->root, "name");
    if (!net->name || !isalnum((unsigned char)net->name[0]) || !is_plain_name(net->name))
        return crisp_error_make(err, EINVAL, "invalid network name \"%s\"", net->name ? net->name : "");
    if (net_set_version(net, err) < 0 || net_set_disable_check(net, err) < 0 || net_set_plugins(net, err) < 0)
        return -1;
    return net_set_loopback(net, err);
}

static int net_load(const char *conf_dir, struct stat *ret_st, struct cni_net **ret, crisp_error_t **err)
{
    _cleanup_(net_freep) struct cni_net *net = calloc(1, sizeof(*net));
    if (!net)
        return crisp_error_oom(err);
    if (rt_cni_config_load(conf_dir, &net->path, &net->root, ret_st, err) < 0)
        return -1;
    if (net_parse(net, err) < 0)
        return crisp_error_wrap(err, "%s", net->path);
    net->refs = 1;
    *ret = TAKE_PTR(net);
    return 0;
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool net_current(const struct rt_cni *cni)
{
    struct stat d, f;
    if (!cni->net || stat(cni->conf_dir, &d) < 0 || stat(cni->net->path, &f) < 0)
        return false;
    const struct stamp *s = &cni->stamp;
    return same_time(d.st_mtim, s->dir_mtime) && same_time(f.st_mtim, s->file_mtime) && f.st_dev == s->dev &&
           f.st_ino == s->ino && f.st_size == s->size;
}

/* Called with the lock held. */
static void net_release_locked(struct cni_net *net)
{
    if (net && --net->refs == 0)
        net_free(net);
}

static int net_reload_locked(struct rt_cni *cni, crisp_error_t **err)
{
    struct stat dir_st = {0}, file_st;
    if (stat(cni->conf_dir, &dir_st) < 0)
        memset(&dir_st, 0, sizeof(dir_st)); /* the load below says what is missing */
    struct cni_net *net = NULL;
    int r = net_load(cni->conf_dir, &file_st, &net, err);
    net_release_locked(cni->net);
    cni->net = net;
    if (r == 0)
        cni->stamp = (struct stamp){dir_st.st_mtim, file_st.st_mtim, file_st.st_dev, file_st.st_ino, file_st.st_size};
    return r;
}

/* The current list, reloaded first if the directory changed; give it back with net_put. */
static int net_get(struct rt_cni *cni, struct cni_net **ret, crisp_error_t **err)
{
    pthread_mutex_lock(&cni->lock);
    int r = net_current(cni) ? 0 : net_reload_locked(cni, err);
    if (r == 0) {
        cni->net->refs++;
        *ret = cni->net;
    }
    pthread_mutex_unlock(&cni->lock);
    return r;
}

static void net_put(struct rt_cni *cni, struct cni_net *net)
{
    pthread_mutex_lock(&cni->lock);
    net_release_locked(net);
    pthread_mutex_unlock(&cni->lock);
}

/* ---- a plugin's stdin ---- */

static void gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* Copies a parsed value; numbers keep their original text. Depth is bounded by parsing. */
static void gen_value(yajl_gen g, yajl_val v)
{
    if (YAJL_IS_STRING(v)) {
        gen_str(g, v->u.string);
    } else if (YAJL_IS_NUMBER(v)) {
        yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
    } else if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);
        for (size_t i = 0; i < v->u.object.len; i++) {
            gen_str(g, v->u.object.keys[i]);
            gen_value(g, v->u.object.values[i]);
        }
        yajl_gen_map_close(g);
    } else if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);
        for (size_t i = 0; i < v->u.array.len; i++)
            gen_value(g, v->u.array.values[i]);
        yajl_gen_array_close(g);
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, YAJL_IS_TRUE(v));
    } else {
        yajl_gen_null(g);
    }
}

static void gen_strv(yajl_gen g, char *const *v)
{
    yajl_gen_array_open(g);
    for (; v && *v; v++)
        gen_str(g, *v);
    yajl_gen_array_close(g);
}

enum { CAP_PORTS = 1, CAP_DNS = 2, CAP_BANDWIDTH = 4, CAP_CGROUP = 8 };

static bool cap_declared(const struct cni_plugin *p, const char *name)
{
    const char *path[] = {"capabilities", name, NULL};
    return yajl_tree_get(p->conf, path, yajl_t_true) != NULL;
}

/* Mappings without a host port publish nothing (as containerd filters them). */
static bool has_host_ports(const struct rt_cni_request *q)
{
    for (size_t i = 0; i < q->n_port_mappings; i++)
        if (q->port_mappings[i].host_port > 0)
            return true;
    return false;
}

static bool strv_nonempty(char *const *v)
{
    return v && v[0];
}

/* runtimeConfig carries only what the plugin declares and the request has. */
static unsigned caps_wanted(const struct cni_plugin *p, const struct rt_cni_request *q)
{
    unsigned caps = 0;
    if (has_host_ports(q) && cap_declared(p, "portMappings"))
        caps |= CAP_PORTS;
    if ((strv_nonempty(q->dns_servers) || strv_nonempty(q->dns_searches) || strv_nonempty(q->dns_options)) &&
        cap_declared(p, "dns"))
        caps |= CAP_DNS;
    if ((q->ingress_rate > 0 || q->egress_rate > 0) && cap_declared(p, "bandwidth"))
        caps |= CAP_BANDWIDTH;
    if (q->cgroup_path && *q->cgroup_path && cap_declared(p, "cgroupPath"))
        caps |= CAP_CGROUP;
    return caps;
}

static void gen_port_mappings(yajl_gen g, const struct rt_cni_request *q)
{
    gen_str(g, "portMappings");
    yajl_gen_array_open(g);
    for (size_t i = 0; i < q->n_port_mappings; i++) {
        const struct rt_cni_port_mapping *m = &q->port_mappings[i];
        if (m->host_port <= 0)
            continue;
        yajl_gen_map_open(g);
        gen_str(g, "hostPort");
        yajl_gen_integer(g, m->host_port);
        gen_str(g, "containerPort");
        yajl_gen_integer(g, m->container_port);
        gen_str(g, "protocol");
        gen_str(g, m->protocol && *m->protocol ? m->protocol : "tcp");
        gen_str(g, "hostIP");
        gen_str(g, m->host_ip ? m->host_ip : "");
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
}

static void gen_rate(yajl_gen g, const char *rate_key, const char *burst_key, int64_t rate)
{
    if (rate <= 0)
        return;
    gen_str(g, rate_key);
    yajl_gen_integer(g, rate);
    gen_str(g, burst_key);
    yajl_gen_integer(g, (long long)BANDWIDTH_BURST);
}

static void gen_runtime_config(yajl_gen g, unsigned caps, const struct rt_cni_request *q)
{
    gen_str(g, "runtimeConfig");
    yajl_gen_map_open(g);
    if (caps & CAP_PORTS)
        gen_port_mappings(g, q);
    if (caps & CAP_DNS) {
        gen_str(g, "dns");
        yajl_gen_map_open(g);
        gen_str(g, "servers");
        gen_strv(g, q->dns_servers);
        gen_str(g, "searches");
        gen_strv(g, q->dns_searches);
        gen_str(g, "options");
        gen_strv(g, q->dns_options);
        yajl_gen_map_close(g);
    }
    if (caps & CAP_BANDWIDTH) {
        gen_str(g, "bandwidth");
        yajl_gen_map_open(g);
        gen_rate(g, "ingressRate", "ingressBurst", q->ingress_rate);
        gen_rate(g, "egressRate", "egressBurst", q->egress_rate);
        yajl_gen_map_close(g);
    }
    if (caps & CAP_CGROUP) {
        gen_str(g, "cgroupPath");
        gen_str(g, q->cgroup_path);
    }
    yajl_gen_map_close(g);
}

/* Keys the runtime owns: taken from the list, the previous result, or the request. */
static bool is_injected_key(const char *key, unsigned caps)
{
    return strcmp(key, "name") == 0 || strcmp(key, "cniVersion") == 0 || strcmp(key, "prevResult") == 0 ||
           (caps && strcmp(key, "runtimeConfig") == 0);
}

/* The plugin's object with the list's name and version, prevResult and runtimeConfig (CNI spec). */
static int stdin_build(const struct cni_op *op, const struct cni_plugin *p, const char *name, yajl_val prev,
                       char **ret, crisp_error_t **err)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return crisp_error_oom(err);
    unsigned caps = caps_wanted(p, op->req);
    yajl_gen_map_open(g);
    for (size_t i = 0; i < p->conf->u.object.len; i++) {
        if (is_injected_key(p->conf->u.object.keys[i], caps))
            continue;
        gen_str(g, p->conf->u.object.keys[i]);
        gen_value(g, p->conf->u.object.values[i]);
    }
    gen_str(g, "name");
    gen_str(g, name);
    gen_str(g, "cniVersion");
    gen_str(g, op->net->version);
    if (prev) {
        gen_str(g, "prevResult");
        gen_value(g, prev);
    }
    if (caps)
        gen_runtime_config(g, caps, op->req);
    yajl_gen_map_close(g);
    const unsigned char *buf;
    size_t len;
    yajl_gen_get_buf(g, &buf, &len);
    *ret = strndup((const char *)buf, len);
    yajl_gen_free(g);
    return *ret ? 0 : crisp_error_oom(err);
}

/* ---- finding and running a plugin ---- */

static int plugin_find(const struct rt_cni *cni, const char *type, char **ret_path, crisp_error_t **err)
{
    if (!is_plain_name(type))
        return crisp_error_make(err, EINVAL, "invalid plugin type \"%s\"", type);
    for (char **dir = cni->bin_dirs; *dir; dir++) {
        _cleanup_free_ char *path = fmt("%s/%s", *dir, type);
        if (!path)
            return crisp_error_oom(err);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0) {
            *ret_path = TAKE_PTR(path);
            return 0;
        }
    }
    return crisp_error_make(err, ENOENT, "CNI plugin \"%s\" not found in %s", type, cni->cni_path);
}

/* Every binary the list needs, checked before anything runs so a missing one changes nothing. */
static int plugins_find_all(const struct rt_cni *cni, const struct cni_net *net, crisp_error_t **err)
{
    _cleanup_free_ char *path = NULL;
    if (plugin_find(cni, "loopback", &path, err) < 0)
        return -1;
    for (size_t i = 0; i < net->n_plugins; i++) {
        free(TAKE_PTR(path));
        if (plugin_find(cni, net->plugins[i].type, &path, err) < 0)
            return -1;
    }
    return 0;
}

/* CNI_ARGS is ';'-separated key=value pairs: values must not be able to add pairs. */
static bool is_arg_value(const char *s)
{
    return !s || !strpbrk(s, ";=");
}

static int env_build(const struct cni_op *op, const char *ifname, char ***ret, crisp_error_t **err)
{
    const struct rt_cni_request *q = op->req;
    char *v[] = {
        fmt("CNI_COMMAND=%s", op->command),
        fmt("CNI_CONTAINERID=%s", q->container_id),
        fmt("CNI_NETNS=%s", q->netns ? q->netns : ""),
        fmt("CNI_IFNAME=%s", ifname),
        fmt("CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;"
            "K8S_POD_UID=%s",
            q->pod_namespace ? q->pod_namespace : "", q->pod_name ? q->pod_name : "", q->container_id,
            q->pod_uid ? q->pod_uid : ""),
        fmt("CNI_PATH=%s", op->cni->cni_path),
        strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin"),
        NULL,
    };
    char **env = malloc(sizeof(v));
    bool ok = env != NULL;
    for (size_t i = 0; i + 1 < ARRAY_SIZE(v); i++)
        ok = ok && v[i];
    if (!ok) {
        for (size_t i = 0; i < ARRAY_SIZE(v); i++)
            free(v[i]);
        free(env);
        return crisp_error_oom(err);
    }
    memcpy(env, v, sizeof(v));
    *ret = env;
    return 0;
}

/* Output gathered from one of the plugin's pipes, NUL-terminated, at most RT_CNI_OUTPUT_MAX bytes. */
struct obuf {
    char *data;
    size_t len, cap;
};

/* Reads what is there: 1 at EOF, 0 when more may come, -1 with errno (EFBIG past the bound). */
static int obuf_fill(int fd, struct obuf *b)
{
    for (;;) {
        if (b->cap - b->len < 2) {
            size_t cap = b->cap ? b->cap * 2 : 4096;
            if (cap > RT_CNI_OUTPUT_MAX + 2)
                cap = RT_CNI_OUTPUT_MAX + 2;
            char *data = realloc(b->data, cap);
            if (!data)
                return -1;
            b->data = data;
            b->cap = cap;
            b->data[b->len] = '\0';
        }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n > 0) {
            b->len += (size_t)n;
            b->data[b->len] = '\0';
            if (b->len > RT_CNI_OUTPUT_MAX)
                return errno = EFBIG, -1;
        } else if (n == 0) {
            return 1;
        } else if (errno == EAGAIN) {
            return 0;
        } else if (errno != EINTR) {
            return -1;
        }
    }
}

static char *obuf_take(struct obuf *b)
{
    char *s = b->data ? TAKE_PTR(b->data) : strdup("");
    *b = (struct obuf){0};
    return s;
}

/* A running plugin and the parent's ends of its stdin, stdout and stderr (-1 once closed). */
struct child {
    pid_t pid;
    int in, out, err;
    const char *input;
    size_t input_len, input_off;
    struct obuf obuf, ebuf;
    bool epipe;
    int timeout_ms;
};

/* Keeps pipe ends off 0-2, which the dup2s in the child overwrite, in case crispd's are closed. */
static int fd_above_stdio(int *fd)
{
    if (*fd > 2)
        return 0;
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
    if (moved < 0)
        return -1;
    close(*fd);
    *fd = moved;
    return 0;
}

static int pipes_open(int p[3][2])
{
    for (int i = 0; i < 3; i++)
        if (pipe2(p[i], O_CLOEXEC) < 0 || fd_above_stdio(&p[i][0]) < 0 || fd_above_stdio(&p[i][1]) < 0)
            return errno;
    return 0;
}

/* In its own process group (so a timeout kills what it started too), default signal handling, an
 * empty signal mask, only fds 0-2: nothing of crispd leaks into it. Returns an errno. */
static int spawn_with(const char *path, char *const *env, int p[3][2], pid_t *ret_pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    char *argv[] = {(char *)path, NULL};
    int r = posix_spawn_file_actions_init(&fa);
    if (r)
        return r;
    if ((r = posix_spawnattr_init(&at))) {
        posix_spawn_file_actions_destroy(&fa);
        return r;
    }
    r = posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
    r = r ? r : posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
    r = r ? r : posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
    r = r ? r : posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
    r = r ? r : posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    r = r ? r : posix_spawnattr_setpgroup(&at, 0);
    r = r ? r : posix_spawnattr_setsigmask(&at, &none);
    r = r ? r : posix_spawnattr_setsigdefault(&at, &all);
    r = r ? r : posix_spawn(ret_pid, path, &fa, &at, argv, env);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return r;
}

static int child_spawn(struct child *c, const char *path, char *const *env, crisp_error_t **err)
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int r = pipes_open(p);
    if (r == 0)
        r = spawn_with(path, env, p, &c->pid);
    fd_close_reset(&p[0][0]);
    fd_close_reset(&p[1][1]);
    fd_close_reset(&p[2][1]);
    c->in = p[0][1];
    c->out = p[1][0];
    c->err = p[2][0];
    if (r != 0) {
        c->pid = -1;
        errno = r;
        return crisp_error_errno(err, "spawn %s", path);
    }
    int *fds[] = {&c->in, &c->out, &c->err};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (fcntl(*fds[i], F_SETFL, O_NONBLOCK) < 0)
            return crisp_error_errno(err, "fcntl");
    return 0;
}

/* A plugin that closes its stdin early is not an error here: its exit status says why. */
static void child_feed(struct child *c)
{
    while (c->input_off < c->input_len) {
        ssize_t n = write(c->in, c->input + c->input_off, c->input_len - c->input_off);
        if (n > 0) {
            c->input_off += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            return;
        } else if (n == 0 || errno != EINTR) {
            c->epipe = n < 0 && errno == EPIPE;
            break;
        }
    }
    fd_close_reset(&c->in);
}

static int child_drain(int *fd, struct obuf *b, crisp_error_t **err)
{
    int r = obuf_fill(*fd, b);
    if (r < 0 && errno == EFBIG)
        return crisp_error_make(err, EFBIG, "output larger than %d bytes", RT_CNI_OUTPUT_MAX);
    if (r < 0)
        return crisp_error_errno(err, "read plugin output");
    if (r == 1)
        fd_close_reset(fd);
    return 0;
}

static int ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms = (deadline->tv_sec - now.tv_sec) * 1000LL + (deadline->tv_nsec - now.tv_nsec + 999999) / 1000000;
    return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Feeds stdin and collects stdout and stderr until both are closed, or the deadline. */
static int child_pump(struct child *c, const struct timespec *deadline, crisp_error_t **err)
{
    while (c->out >= 0 || c->err >= 0) {
        struct pollfd p[3];
        nfds_t n = 0;
        if (c->in >= 0)
            p[n++] = (struct pollfd){.fd = c->in, .events = POLLOUT};
        if (c->out >= 0)
            p[n++] = (struct pollfd){.fd = c->out, .events = POLLIN};
        if (c->err >= 0)
            p[n++] = (struct pollfd){.fd = c->err, .events = POLLIN};
        int left = ms_left(deadline);
        if (left == 0)
            return crisp_error_make(err, ETIMEDOUT, "timed out after %d ms", c->timeout_ms);
        if (poll(p, n, left) < 0) {
            if (errno == EINTR)
                continue;
            return crisp_error_errno(err, "poll");
        }
        for (nfds_t i = 0; i < n; i++) {
            if (!p[i].revents)
                continue;
            if (p[i].fd == c->in)
                child_feed(c);
            else if (child_drain(p[i].fd == c->out ? &c->out : &c->err,
                                 p[i].fd == c->out ? &c->obuf : &c->ebuf, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* Plugins exit right after closing their output, so a short sleep between polls costs nothing. */
static int child_wait(struct child *c, const struct timespec *deadline, int *ret_status, crisp_error_t **err)
{
    for (;;) {
        int status;
        pid_t w = waitpid(c->pid, &status, WNOHANG);
        if (w == c->pid) {
            c->pid = -1;
            *ret_status = status;
            return 0;
        }
        if (w < 0 && errno != EINTR) {
            c->pid = -1; /* not ours to kill any more */
            return crisp_error_errno(err, "waitpid");
        }
        if (ms_left(deadline) == 0)
            return crisp_error_make(err, ETIMEDOUT, "timed out after %d ms", c->timeout_ms);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* SIGKILL to the plugin's process group, then reap it: no zombie is left whatever failed. */
static void child_kill(struct child *c)
{
    if (c->pid <= 0)
        return;
    kill(-c->pid, SIGKILL);
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    c->pid = -1;
}

struct exec_result {
    char *out, *err;
    int status;
};

static void exec_result_fini(struct exec_result *x)
{
    free(x->out);
    free(x->err);
}

static int child_run(struct child *c, const char *path, char *const *env, crisp_error_t **err)
{
    struct timespec deadline = clock_timespec_after_ms(CLOCK_MONOTONIC, c->timeout_ms);
    int status = 0;
    if (child_spawn(c, path, env, err) < 0 || child_pump(c, &deadline, err) < 0 ||
        child_wait(c, &deadline, &status, err) < 0)
        return -1;
    return status;
}

/* Runs path with input on stdin. SIGPIPE is blocked meanwhile, as a plugin may exit before reading
 * all of it; a SIGPIPE raised here is consumed so it does not reach crispd. */
static int plugin_exec(const char *path, char *const *env, const char *input, int timeout_ms,
                       struct exec_result *ret, crisp_error_t **err)
{
    struct child c = {.pid = -1, .in = -1, .out = -1, .err = -1, .input = input, .input_len = strlen(input),
                      .timeout_ms = timeout_ms};
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int status = child_run(&c, path, env, err);
    child_kill(&c);
    fd_close_reset(&c.in);
    fd_close_reset(&c.out);
    fd_close_reset(&c.err);
    if (c.epipe && !sigismember(&old, SIGPIPE))
        sigtimedwait(&pipe_set, NULL, &(struct timespec){0, 0});
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ret->out = obuf_take(&c.obuf);
    ret->err = obuf_take(&c.ebuf);
    ret->status = status;
    if (status < 0)
        return -1;
    return ret->out && ret->err ? 0 : crisp_error_oom(err);
}

/* Plugin text quoted in an error: trimmed, one line, bounded. */
static char *text_excerpt(const char *s)
{
    s += strspn(s, " \t\r\n");
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1]))
        n--;
    char *out = strndup(s, n > ERROR_TEXT_MAX ? ERROR_TEXT_MAX : n);
    for (char *p = out; p && *p; p++)
        if ((unsigned char)*p < ' ')
            *p = ' ';
    return out;
}

static char *status_text(int status)
{
    if (WIFEXITED(status))
        return fmt("exit status %d", WEXITSTATUS(status));
    return fmt("killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The spec's error object on stdout; else stderr, else stdout as text, else the exit status. */
static int plugin_failure(const struct cni_op *op, const char *type, const struct exec_result *x,
                          crisp_error_t **err)
{
    yajl_val root = json_nesting_ok(x->out, RT_CNI_JSON_MAX_DEPTH) ? yajl_tree_parse(x->out, NULL, 0) : NULL;
    const char *msg = root ? string_member(root, "msg") : NULL;
    const char *details = root ? string_member(root, "details") : NULL;
    yajl_val code = root ? member(root, "code", yajl_t_number) : NULL;
    int status = code && YAJL_IS_INTEGER(code) && code->u.number.i == 11 ? EAGAIN : EIO; /* 11: try again */
    _cleanup_free_ char *text = NULL, *full = NULL;
    if (msg && *msg)
        text = (full = details && *details ? fmt("%s: %s", msg, details) : strdup(msg)) ? text_excerpt(full) : NULL;
    else if (x->err[strspn(x->err, " \t\r\n")])
        text = text_excerpt(x->err);
    else if (x->out[strspn(x->out, " \t\r\n")])
        text = text_excerpt(x->out);
    else
        text = status_text(x->status);
    yajl_tree_free(root);
    return crisp_error_make(err, status, "plugin %s failed (%s): %s", type, op->command,
                            text ? text : "out of memory");
}

/* Runs one plugin of the op; its stdout in *ret_out (if not NULL) when it succeeded. */
static int plugin_run(const struct cni_op *op, const struct cni_plugin *p, bool loopback, yajl_val prev,
                      char **ret_out, crisp_error_t **err)
{
    const char *ifname = loopback ? "lo" : op->req->ifname && *op->req->ifname ? op->req->ifname : "eth0";
    _cleanup_free_ char *path = NULL, *input = NULL;
    _cleanup_strv_ char **env = NULL;
    if (plugin_find(op->cni, p->type, &path, err) < 0 ||
        stdin_build(op, p, loopback ? "cni-loopback" : op->net->name, prev, &input, err) < 0 ||
        env_build(op, ifname, &env, err) < 0)
        return -1;
    _cleanup_(exec_result_fini) struct exec_result x = {0};
    if (plugin_exec(path, env, input, op->cni->timeout_ms, &x, err) < 0)
        return crisp_error_wrap(err, "plugin %s failed (%s)", p->type, op->command);
    if (!WIFEXITED(x.status) || WEXITSTATUS(x.status) != 0)
        return plugin_failure(op, p->type, &x, err);
    if (ret_out)
        *ret_out = TAKE_PTR(x.out);
    return 0;
}

/* ---- results ---- */

static int result_parse(const char *type, const char *text, yajl_val *ret, crisp_error_t **err)
{
    char errbuf[128] = "";
    yajl_val root = NULL;
    if (!json_nesting_ok(text, RT_CNI_JSON_MAX_DEPTH))
        snprintf(errbuf, sizeof(errbuf), "nested too deeply");
    else
        root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    if (root && !YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        root = NULL;
        snprintf(errbuf, sizeof(errbuf), "not an object");
    }
    if (!root) {
        errbuf[strcspn(errbuf, "\n")] = '\0';
        return crisp_error_make(err, EIO, "plugin %s returned an invalid result: %s", type, errbuf);
    }
    *ret = root;
    return 0;
}

/* An address whose "interface" names a host-side interface (no "sandbox") is not the pod's. */
static bool ip_in_sandbox(yajl_val ip, yajl_val interfaces)
{
    yajl_val idx = member(ip, "interface", yajl_t_number);
    if (!idx || !YAJL_IS_INTEGER(idx) || !interfaces || idx->u.number.i < 0 ||
        (size_t)idx->u.number.i >= interfaces->u.array.len)
        return true;
    const char *sandbox = string_member(interfaces->u.array.values[idx->u.number.i], "sandbox");
    return sandbox && *sandbox;
}

/* "10.88.0.5/16" -> "10.88.0.5" if it is an address of family af. */
static char *ip_address(yajl_val ip, int af)
{
    const char *cidr = string_member(ip, "address");
    char addr[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    size_t n = cidr ? strcspn(cidr, "/") : 0;
    if (n == 0 || n >= sizeof(addr))
        return NULL;
    memcpy(addr, cidr, n);
    addr[n] = '\0';
    return inet_pton(af, addr, bin) == 1 ? strdup(addr) : NULL;
}

/* The pod's addresses from a 0.3.0+ result, IPv4 first. */
static int result_ips(yajl_val result, char ***ret, crisp_error_t **err)
{
    yajl_val ips = member(result, "ips", yajl_t_array);
    yajl_val interfaces = member(result, "interfaces", yajl_t_array);
    size_t n_ips = ips ? ips->u.array.len : 0, n = 0;
    _cleanup_strv_ char **out = calloc(n_ips + 1, sizeof(char *));
    if (!out)
        return crisp_error_oom(err);
    const int families[] = {AF_INET, AF_INET6};
    for (size_t f = 0; f < ARRAY_SIZE(families); f++)
        for (size_t i = 0; i < n_ips; i++)
            if (ip_in_sandbox(ips->u.array.values[i], interfaces) &&
                (out[n] = ip_address(ips->u.array.values[i], families[f])))
                n++;
    *ret = TAKE_PTR(out);
    return 0;
}

/* ---- operations ---- */

static bool is_container_id(const char *s)
{
    return s && isalnum((unsigned char)s[0]) && strlen(s) <= 256 && is_plain_name(s);
}

static bool is_ifname(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 16 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strpbrk(s, "/: \t\n\r");
}

static int request_check(const struct rt_cni_request *q, bool need_netns, crisp_error_t **err)
{
    if (!is_container_id(q->container_id))
        return crisp_error_make(err, EINVAL, "invalid container id \"%s\"", q->container_id ? q->container_id : "");
    if (q->ifname && *q->ifname && !is_ifname(q->ifname))
        return crisp_error_make(err, EINVAL, "invalid interface name \"%s\"", q->ifname);
    if (need_netns && (!q->netns || !*q->netns))
        return crisp_error_make(err, EINVAL, "no network namespace");
    if (!is_arg_value(q->pod_name) || !is_arg_value(q->pod_namespace) || !is_arg_value(q->pod_uid))
        return crisp_error_make(err, EINVAL, "pod name, namespace and uid must not contain ';' or '='");
    return 0;
}

/* prevResult is passed to CHECK and DEL from 0.4.0 on. */
static int prev_parse(const struct cni_net *net, const char *json, yajl_val *ret, crisp_error_t **err)
{
    *ret = NULL;
    if (!json || !*json || net->vnum < VERSION(0, 4, 0))
        return 0;
    return result_parse("(previous ADD)", json, ret, err);
}

/* DEL in reverse order, going on past failures; the first is returned. */
static int del_all(const struct cni_op *op, yajl_val prev, crisp_error_t **err)
{
    int r = 0;
    for (size_t i = op->net->n_plugins; i-- > 0;)
        if (plugin_run(op, &op->net->plugins[i], false, prev, NULL, r < 0 ? NULL : err) < 0)
            r = -1;
    /* lo goes away with the namespace and leaves nothing on the host: its DEL may fail freely. */
    plugin_run(op, &op->net->loopback, true, NULL, NULL, NULL);
    return r;
}

/* ADD through the list, each plugin getting the previous one's result; on failure *ret_result is the
 * last good result (or NULL), for the DEL that follows. */
static int add_chain(const struct cni_op *op, yajl_val *ret_result, char **ret_raw, crisp_error_t **err)
{
    for (size_t i = 0; i < op->net->n_plugins; i++) {
        const struct cni_plugin *p = &op->net->plugins[i];
        _cleanup_free_ char *out = NULL;
        yajl_val result;
        if (plugin_run(op, p, false, *ret_result, &out, err) < 0 || result_parse(p->type, out, &result, err) < 0)
            return -1;
        yajl_tree_free(*ret_result);
        *ret_result = result;
        free(*ret_raw);
        *ret_raw = TAKE_PTR(out);
    }
    return 0;
}

static int add_net(const struct cni_op *op, struct rt_cni_result *ret, crisp_error_t **err)
{
    if (plugins_find_all(op->cni, op->net, err) < 0 || plugin_run(op, &op->net->loopback, true, NULL, NULL, err) < 0)
        return -1;
    yajl_val result = NULL;
    _cleanup_free_ char *raw = NULL;
    int r = add_chain(op, &result, &raw, err);
    if (r == 0)
        r = result_ips(result, &ret->ips, err);
    if (r < 0) {
        /* The spec's cleanup after a failed ADD: DEL for every plugin of the list, in reverse. */
        struct cni_op del = *op;
        del.command = "DEL";
        del_all(&del, op->net->vnum >= VERSION(0, 4, 0) ? result : NULL, NULL);
    } else {
        ret->raw_json = TAKE_PTR(raw);
    }
    yajl_tree_free(result);
    return r;
}

int rt_cni_add(struct rt_cni *cni, const struct rt_cni_request *req, struct rt_cni_result *ret,
               crisp_error_t **err)
{
    *ret = (struct rt_cni_result){0};
    struct cni_net *net = NULL;
    if (request_check(req, true, err) < 0 || net_get(cni, &net, err) < 0)
        return -1;
    struct cni_op op = {cni, net, req, "ADD"};
    int r = add_net(&op, ret, err);
    net_put(cni, net);
    return r;
}

static int check_net(const struct cni_op *op, const char *prev_result_json, crisp_error_t **err)
{
    if (op->net->vnum < VERSION(0, 4, 0) || op->net->disable_check)
        return 0;
    if (!prev_result_json || !*prev_result_json)
        return crisp_error_make(err, EINVAL, "CHECK needs the result of ADD");
    yajl_val prev;
    if (prev_parse(op->net, prev_result_json, &prev, err) < 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < op->net->n_plugins && r == 0; i++)
        r = plugin_run(op, &op->net->plugins[i], false, prev, NULL, err);
    yajl_tree_free(prev);
    return r;
}

int rt_cni_check(struct rt_cni *cni, const struct rt_cni_request *req, const char *prev_result_json,
                 crisp_error_t **err)
{
    struct cni_net *net = NULL;
    if (request_check(req, true, err) < 0 || net_get(cni, &net, err) < 0)
        return -1;
    struct cni_op op = {cni, net, req, "CHECK"};
    int r = check_net(&op, prev_result_json, err);
    net_put(cni, net);
    return r;
}

/* The netns may be gone by now: its path is passed anyway, and plugins treat that as done. */
int rt_cni_del(struct rt_cni *cni, const struct rt_cni_request *req, const char *prev_result_json,
               crisp_error_t **err)
{
    struct cni_net *net = NULL;
    if (request_check(req, false, err) < 0 || net_get(cni, &net, err) < 0)
        return -1;
    struct cni_op op = {cni, net, req, "DEL"};
    yajl_val prev = NULL;
    /* A stored result that no longer parses is dropped: DEL must still run. */
    if (prev_parse(net, prev_result_json, &prev, NULL) < 0)
        prev = NULL;
    int r = del_all(&op, prev, err);
    yajl_tree_free(prev);
    net_put(cni, net);
    return r;
}

void rt_cni_result_fini(struct rt_cni_result *r)
{
    if (!r)
        return;
    strv_free(r->ips);
    free(r->raw_json);
    *r = (struct rt_cni_result){0};
}

/* ---- lifetime ---- */

int rt_cni_ready(struct rt_cni *cni, crisp_error_t **err)
{
    struct cni_net *net = NULL;
    if (net_get(cni, &net, err) < 0)
        return -1;
    int r = plugins_find_all(cni, net, err);
    net_put(cni, net);
    return r;
}

static char *strv_join(char *const *v, const char *sep)
{
    size_t len = 1;
    for (char *const *p = v; *p; p++)
        len += strlen(*p) + strlen(sep);
    char *s = calloc(1, len);
    for (char *const *p = v; s && *p; p++) {
        if (p != v)
            strcat(s, sep);
        strcat(s, *p);
    }
    return s;
}

int rt_cni_new(const char *conf_dir, char *const *bin_dirs, struct rt_cni **ret, crisp_error_t **err)
{
    if (!bin_dirs || !bin_dirs[0])
        return crisp_error_make(err, EINVAL, "no CNI plugin directory configured");
    struct rt_cni *cni = calloc(1, sizeof(*cni));
    if (!cni)
        return crisp_error_oom(err);
    pthread_mutex_init(&cni->lock, NULL);
    cni->timeout_ms = RT_CNI_PLUGIN_TIMEOUT_MS;
    cni->conf_dir = strdup(conf_dir);
    cni->bin_dirs = strv_copy(bin_dirs);
    cni->cni_path = cni->bin_dirs ? strv_join(cni->bin_dirs, ":") : NULL;
    if (!cni->conf_dir || !cni->cni_path) {
        rt_cni_free(cni);
        return crisp_error_oom(err);
    }
    *ret = cni;
    return 0;
}

void rt_cni_set_timeout(struct rt_cni *cni, int timeout_ms)
{
    cni->timeout_ms = timeout_ms > 0 ? timeout_ms : RT_CNI_PLUGIN_TIMEOUT_MS;
}

void rt_cni_free(struct rt_cni *cni)
{
    if (!cni)
        return;
    net_free(cni->net);
    free(cni->conf_dir);
    strv_free(cni->bin_dirs);
    free(cni->cni_path);
    pthread_mutex_destroy(&cni->lock);
    free(cni);
}
