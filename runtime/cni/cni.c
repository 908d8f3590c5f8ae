/* The public CNI operations, ADD, CHECK and DEL over the current network list, and the object itself. */
#define _GNU_SOURCE
#include "runtime/cni/cni.h"

#include "common/cleanup.h"
#include "common/strv.h"
#include "runtime/cni/cni_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* CNI_ARGS is ';'-separated key=value pairs: values must not be able to add pairs. */
static bool is_arg_value(const char *s)
{
    return !s || !strpbrk(s, ";=");
}

static bool is_container_id(const char *s)
{
    return s && isalnum((unsigned char)s[0]) && strlen(s) <= 256 && rt_cni_name_is_plain(s);
}

static bool is_ifname(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 16 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && !strpbrk(s, "/: \t\n\r");
}

static int request_check(const struct rt_cni_request *q, bool need_netns, crisp_error_t **err)
{
    if (!is_container_id(q->container_id))
        return crisp_error_make(err, EINVAL, "invalid container id \"%s\"",
                                q->container_id ? q->container_id : "");
    if (q->ifname && *q->ifname && !is_ifname(q->ifname))
        return crisp_error_make(err, EINVAL, "invalid interface name \"%s\"", q->ifname);
    if (need_netns && (!q->netns || !*q->netns))
        return crisp_error_make(err, EINVAL, "no network namespace");
    if (!is_arg_value(q->pod_name) || !is_arg_value(q->pod_namespace) || !is_arg_value(q->pod_uid))
        return crisp_error_make(err, EINVAL, "pod name, namespace and uid must not contain ';' or '='");
    return 0;
}

/* prevResult is passed to CHECK and DEL from 0.4.0 on. */
static int prev_parse(const struct rt_cni_net *net, const char *json, yajl_val *ret, crisp_error_t **err)
{
    *ret = NULL;
    if (!json || !*json || net->vnum < RT_CNI_VERSION(0, 4, 0))
        return 0;
    return rt_cni_result_parse("(previous ADD)", json, ret, err);
}

/* DEL in reverse order, going on past failures; the first is returned. */
static int del_all(const struct rt_cni_op *op, yajl_val prev, crisp_error_t **err)
{
    int r = 0;
    for (size_t i = op->net->n_plugins; i-- > 0;)
        if (rt_cni_plugin_run(op, &op->net->plugins[i], false, prev, NULL, r < 0 ? NULL : err) < 0)
            r = -1;
    /* lo goes away with the namespace and leaves nothing on the host: its DEL may fail freely. */
    rt_cni_plugin_run(op, &op->net->loopback, true, NULL, NULL, NULL);
    return r;
}

/* ADD through the list, each plugin getting the previous one's result; on failure *ret_result is the
 * last good result (or NULL), for the DEL that follows. */
static int add_chain(const struct rt_cni_op *op, yajl_val *ret_result, char **ret_raw, crisp_error_t **err)
{
    for (size_t i = 0; i < op->net->n_plugins; i++) {
        const struct rt_cni_plugin *p = &op->net->plugins[i];
        _cleanup_free_ char *out = NULL;
        yajl_val result;
        if (rt_cni_plugin_run(op, p, false, *ret_result, &out, err) < 0 ||
            rt_cni_result_parse(p->type, out, &result, err) < 0)
            return -1;
        yajl_tree_free(*ret_result);
        *ret_result = result;
        free(*ret_raw);
        *ret_raw = TAKE_PTR(out);
    }
    return 0;
}

static int add_net(const struct rt_cni_op *op, struct rt_cni_result *ret, crisp_error_t **err)
{
    if (rt_cni_plugins_find_all(op->cni, op->net, err) < 0 ||
        rt_cni_plugin_run(op, &op->net->loopback, true, NULL, NULL, err) < 0)
        return -1;
    yajl_val result = NULL;
    _cleanup_free_ char *raw = NULL;
    int r = add_chain(op, &result, &raw, err);
    if (r == 0)
        r = rt_cni_result_ips(result, &ret->ips, err);
    if (r < 0) {
        /* The spec's cleanup after a failed ADD: DEL for every plugin of the list, in reverse. */
        struct rt_cni_op del = *op;
        del.command = "DEL";
        del_all(&del, op->net->vnum >= RT_CNI_VERSION(0, 4, 0) ? result : NULL, NULL);
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
    struct rt_cni_net *net = NULL;
    if (request_check(req, true, err) < 0 || rt_cni_net_get_for(cni, req->config, &net, err) < 0)
        return -1;
    struct rt_cni_op op = {cni, net, req, "ADD"};
    int r = add_net(&op, ret, err);
    rt_cni_net_put(cni, net);
    return r;
}

static int check_net(const struct rt_cni_op *op, const char *prev_result_json, crisp_error_t **err)
{
    if (op->net->vnum < RT_CNI_VERSION(0, 4, 0) || op->net->disable_check)
        return 0;
    if (!prev_result_json || !*prev_result_json)
        return crisp_error_make(err, EINVAL, "CHECK needs the result of ADD");
    yajl_val prev;
    if (prev_parse(op->net, prev_result_json, &prev, err) < 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < op->net->n_plugins && r == 0; i++)
        r = rt_cni_plugin_run(op, &op->net->plugins[i], false, prev, NULL, err);
    yajl_tree_free(prev);
    return r;
}

int rt_cni_check(struct rt_cni *cni, const struct rt_cni_request *req, const char *prev_result_json,
                 crisp_error_t **err)
{
    struct rt_cni_net *net = NULL;
    if (request_check(req, true, err) < 0 || rt_cni_net_get_for(cni, req->config, &net, err) < 0)
        return -1;
    struct rt_cni_op op = {cni, net, req, "CHECK"};
    int r = check_net(&op, prev_result_json, err);
    rt_cni_net_put(cni, net);
    return r;
}

/* The netns may be gone by now: its path is passed anyway, and plugins treat that as done. With the
 * config ADD used (req->config), a list changed or removed since still gets the DEL its ADD needs. */
int rt_cni_del(struct rt_cni *cni, const struct rt_cni_request *req, const char *prev_result_json,
               crisp_error_t **err)
{
    struct rt_cni_net *net = NULL;
    if (request_check(req, false, err) < 0 || rt_cni_net_get_for(cni, req->config, &net, err) < 0)
        return -1;
    struct rt_cni_op op = {cni, net, req, "DEL"};
    yajl_val prev = NULL;
    /* A stored result that no longer parses is dropped: DEL must still run. */
    if (prev_parse(net, prev_result_json, &prev, NULL) < 0)
        prev = NULL;
    int r = del_all(&op, prev, err);
    yajl_tree_free(prev);
    rt_cni_net_put(cni, net);
    return r;
}

int rt_cni_ready(struct rt_cni *cni, crisp_error_t **err)
{
    struct rt_cni_net *net = NULL;
    if (rt_cni_net_get(cni, &net, err) < 0)
        return -1;
    int r = rt_cni_plugins_find_all(cni, net, err);
    rt_cni_net_put(cni, net);
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
    rt_cni_net_free(cni->net);
    free(cni->conf_dir);
    strv_free(cni->bin_dirs);
    free(cni->cni_path);
    pthread_mutex_destroy(&cni->lock);
    free(cni);
}
