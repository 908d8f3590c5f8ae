/* The network list: the config file cni_config.c finds, checked (name, versions, plugin types) and
 * kept loaded until the directory changes. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/json.h"
#include "runtime/cni/cni_config.h"
#include "runtime/cni/cni_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define NEWEST_VERSION RT_CNI_VERSION(1, 1, 0)

static int version_parse(const char *s, unsigned *ret)
{
    unsigned a, b, c;
    int end = 0;
    if (strspn(s, "0123456789.") != strlen(s) || sscanf(s, "%u.%u.%u%n", &a, &b, &c, &end) != 3 || s[end] ||
        a > 99 || b > 99 || c > 99)
        return -1;
    *ret = RT_CNI_VERSION(a, b, c);
    return 0;
}

/* CNI 1.1 lists may name several versions in "cniVersions"; the newest we speak wins over "cniVersion". */
static const char *version_choose(yajl_val root)
{
    const char *best = json_get_str(root, "cniVersion");
    unsigned best_num = 0;
    yajl_val list = rt_cni_json_member(root, "cniVersions", yajl_t_array);
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

static int net_set_version(struct rt_cni_net *net, crisp_error_t **err)
{
    const char *v = version_choose(net->root);
    if (!v || version_parse(v, &net->vnum) < 0 || strlen(v) >= sizeof(net->version))
        return crisp_error_make(err, EINVAL, "invalid cniVersion \"%s\"", v ? v : "");
    if (net->vnum < RT_CNI_VERSION(0, 3, 0))
        return crisp_error_make(err, EINVAL, "cniVersion %s is not supported (0.3.0 or later)", v);
    strcpy(net->version, v);
    return 0;
}

/* Older lists wrote disableCheck as a string. */
static int net_set_disable_check(struct rt_cni_net *net, crisp_error_t **err)
{
    yajl_val v = rt_cni_json_member(net->root, "disableCheck", yajl_t_any);
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

static int net_set_plugins(struct rt_cni_net *net, crisp_error_t **err)
{
    yajl_val list = rt_cni_json_member(net->root, "plugins", yajl_t_array);
    size_t n = list ? list->u.array.len : 1;
    if (n > RT_CNI_MAX_PLUGINS)
        return crisp_error_make(err, EINVAL, "%zu plugins, at most %d allowed", n, RT_CNI_MAX_PLUGINS);
    for (size_t i = 0; i < n; i++) {
        struct rt_cni_plugin *p = &net->plugins[i];
        p->conf = list ? list->u.array.values[i] : net->root;
        p->type = json_get_str(p->conf, "type");
        if (!p->type || !rt_cni_name_is_plain(p->type))
            return crisp_error_make(err, EINVAL, "invalid plugin type \"%s\"", p->type ? p->type : "");
    }
    net->n_plugins = n;
    return 0;
}

/* lo is brought up by the loopback plugin, run like a one-plugin list of the same version. */
static int net_set_loopback(struct rt_cni_net *net, crisp_error_t **err)
{
    char text[128];
    snprintf(text, sizeof(text),
             "{\"cniVersion\": \"%s\", \"name\": \"cni-loopback\", \"type\": \"loopback\"}", net->version);
    if (!(net->lo_root = yajl_tree_parse(text, NULL, 0)))
        return crisp_error_oom(err);
    net->loopback = (struct rt_cni_plugin){net->lo_root, "loopback"};
    return 0;
}

void rt_cni_net_free(struct rt_cni_net *net)
{
    if (!net)
        return;
    yajl_tree_free(net->root);
    yajl_tree_free(net->lo_root);
    free(net->path);
    free(net->text);
    free(net);
}

static void net_freep(struct rt_cni_net **net)
{
    rt_cni_net_free(*net);
}

static int net_parse(struct rt_cni_net *net, crisp_error_t **err)
{
    net->name = json_get_str(net->root, "name");
    if (!net->name || !isalnum((unsigned char)net->name[0]) || !rt_cni_name_is_plain(net->name))
        return crisp_error_make(err, EINVAL, "invalid network name \"%s\"", net->name ? net->name : "");
    if (net_set_version(net, err) < 0 || net_set_disable_check(net, err) < 0 || net_set_plugins(net, err) < 0)
        return -1;
    return net_set_loopback(net, err);
}

static int net_load(const char *conf_dir, struct stat *ret_st, struct rt_cni_net **ret, crisp_error_t **err)
{
    _cleanup_(net_freep) struct rt_cni_net *net = calloc(1, sizeof(*net));
    if (!net)
        return crisp_error_oom(err);
    if (rt_cni_config_load(conf_dir, &net->path, &net->root, &net->text, ret_st, err) < 0)
        return -1;
    if (net_parse(net, err) < 0)
        return crisp_error_wrap(err, "%s", net->path);
    net->refs = 1;
    *ret = TAKE_PTR(net);
    return 0;
}

/* A list of its own (refs 1, not the rt_cni's current one): rt_cni_net_put frees it like any other. */
static int net_from_text(const char *text, struct rt_cni_net **ret, crisp_error_t **err)
{
    _cleanup_(net_freep) struct rt_cni_net *net = calloc(1, sizeof(*net));
    if (!net || !(net->path = strdup("(saved network config)")) || !(net->text = strdup(text)))
        return crisp_error_oom(err);
    if (rt_cni_config_parse(net->path, text, &net->root, err) < 0 || net_parse(net, err) < 0)
        return crisp_error_wrap(err, "saved network config");
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
    const struct rt_cni_stamp *s = &cni->stamp;
    return same_time(d.st_mtim, s->dir_mtime) && same_time(f.st_mtim, s->file_mtime) && f.st_dev == s->dev &&
           f.st_ino == s->ino && f.st_size == s->size;
}

/* Called with cni->lock held. */
static void net_release_locked(struct rt_cni_net *net)
{
    if (net && --net->refs == 0)
        rt_cni_net_free(net);
}

static int net_reload_locked(struct rt_cni *cni, crisp_error_t **err)
{
    struct stat dir_st = {0}, file_st;
    if (stat(cni->conf_dir, &dir_st) < 0)
        memset(&dir_st, 0, sizeof(dir_st)); /* the load below says what is missing */
    struct rt_cni_net *net = NULL;
    int r = net_load(cni->conf_dir, &file_st, &net, err);
    net_release_locked(cni->net);
    cni->net = net;
    if (r == 0)
        cni->stamp = (struct rt_cni_stamp){dir_st.st_mtim, file_st.st_mtim, file_st.st_dev, file_st.st_ino,
                                           file_st.st_size};
    return r;
}

int rt_cni_net_get(struct rt_cni *cni, struct rt_cni_net **ret, crisp_error_t **err)
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

int rt_cni_net_get_for(struct rt_cni *cni, const char *config, struct rt_cni_net **ret, crisp_error_t **err)
{
    return config && *config ? net_from_text(config, ret, err) : rt_cni_net_get(cni, ret, err);
}

int rt_cni_config_text(struct rt_cni *cni, char **ret_text, crisp_error_t **err)
{
    struct rt_cni_net *net = NULL;
    if (rt_cni_net_get(cni, &net, err) < 0)
        return -1;
    *ret_text = strdup(net->text);
    rt_cni_net_put(cni, net);
    return *ret_text ? 0 : crisp_error_oom(err);
}

void rt_cni_net_put(struct rt_cni *cni, struct rt_cni_net *net)
{
    pthread_mutex_lock(&cni->lock);
    net_release_locked(net);
    pthread_mutex_unlock(&cni->lock);
}
