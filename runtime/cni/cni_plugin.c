/* One plugin of an operation: found in the plugin directories, given its stdin and CNI_* environment,
 * run, and its failure turned into an error that quotes what it said. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/json.h"
#include "runtime/cni/cni_config.h"
#include "runtime/cni/cni_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define ERROR_TEXT_MAX 1024 /* plugin stderr quoted in an error */

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

static int plugin_find(const struct rt_cni *cni, const char *type, char **ret_path, crisp_error_t **err)
{
    if (!rt_cni_name_is_plain(type))
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

int rt_cni_plugins_find_all(const struct rt_cni *cni, const struct rt_cni_net *net, crisp_error_t **err)
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

static int env_build(const struct rt_cni_op *op, const char *ifname, char ***ret, crisp_error_t **err)
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
static int plugin_failure(const struct rt_cni_op *op, const char *type, const struct rt_cni_exec_result *x,
                          crisp_error_t **err)
{
    yajl_val root = json_nesting_ok(x->out, RT_CNI_JSON_MAX_DEPTH) ? yajl_tree_parse(x->out, NULL, 0) : NULL;
    const char *msg = root ? json_get_str(root, "msg") : NULL;
    const char *details = root ? json_get_str(root, "details") : NULL;
    yajl_val code = root ? rt_cni_json_member(root, "code", yajl_t_number) : NULL;
    int status = code && YAJL_IS_INTEGER(code) && code->u.number.i == 11 ? EAGAIN : EIO; /* 11: try again */
    _cleanup_free_ char *text = NULL, *full = NULL;
    if (msg && *msg)
        text = (full = details && *details ? fmt("%s: %s", msg, details) : strdup(msg)) ? text_excerpt(full)
                                                                                        : NULL;
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

int rt_cni_plugin_run(const struct rt_cni_op *op, const struct rt_cni_plugin *p, bool loopback, yajl_val prev,
                      char **ret_out, crisp_error_t **err)
{
    const char *ifname = loopback ? "lo" : op->req->ifname && *op->req->ifname ? op->req->ifname : "eth0";
    _cleanup_free_ char *path = NULL, *input = NULL;
    _cleanup_strv_ char **env = NULL;
    if (plugin_find(op->cni, p->type, &path, err) < 0 ||
        rt_cni_stdin_build(op, p, loopback ? "cni-loopback" : op->net->name, prev, &input, err) < 0 ||
        env_build(op, ifname, &env, err) < 0)
        return -1;
    _cleanup_(rt_cni_exec_result_fini) struct rt_cni_exec_result x = {0};
    if (rt_cni_exec(path, env, input, op->cni->timeout_ms, &x, err) < 0)
        return crisp_error_wrap(err, "plugin %s failed (%s)", p->type, op->command);
    if (!WIFEXITED(x.status) || WEXITSTATUS(x.status) != 0)
        return plugin_failure(op, p->type, &x, err);
    if (ret_out)
        *ret_out = TAKE_PTR(x.out);
    return 0;
}
