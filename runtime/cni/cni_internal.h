/* What the files of runtime/cni share: the loaded network list, one operation over it, and the steps of
 * running a plugin. */
#ifndef CRISP_RUNTIME_CNI_INTERNAL_H
#define CRISP_RUNTIME_CNI_INTERNAL_H

#include "runtime/cni/cni.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <yajl/yajl_tree.h>

#define RT_CNI_MAX_PLUGINS 32
#define RT_CNI_VERSION(a, b, c) ((a)*10000u + (b)*100u + (c))
#define RT_CNI_PLAIN_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

struct rt_cni_plugin {
    yajl_val conf;
    const char *type;
};

/* One loaded network list, shared by the operations using it; freed when the last one lets go. Only
 * refs changes once it is loaded. */
struct rt_cni_net {
    unsigned refs; /* guarded by the rt_cni's lock */
    yajl_val root, lo_root;
    char *path;
    char *text; /* what root was parsed from: saved with a pod so its DEL uses what its ADD used */
    const char *name;
    char version[16];
    unsigned vnum;
    bool disable_check;
    size_t n_plugins;
    struct rt_cni_plugin plugins[RT_CNI_MAX_PLUGINS], loopback;
};

/* What the loaded config was read from; any change means a reload. */
struct rt_cni_stamp {
    struct timespec dir_mtime, file_mtime;
    dev_t dev;
    ino_t ino;
    off_t size;
};

struct rt_cni {
    pthread_mutex_t lock; /* guards net, stamp and net->refs; a leaf, held only to reload or take the list */
    char *conf_dir, **bin_dirs, *cni_path; /* fixed */
    int timeout_ms;         /* set before the object is shared (rt_cni_set_timeout is for tests) */
    struct rt_cni_net *net; /* NULL until a valid config is found */
    struct rt_cni_stamp stamp;
};

/* One ADD, CHECK or DEL over the list, with the environment every plugin of it shares. */
struct rt_cni_op {
    const struct rt_cni *cni;
    const struct rt_cni_net *net;
    const struct rt_cni_request *req;
    const char *command;
};

static inline yajl_val rt_cni_json_member(yajl_val obj, const char *name, yajl_type type)
{
    const char *path[] = {name, NULL};
    return yajl_tree_get(obj, path, type);
}

/* Plugin types name files in bin_dirs, so nothing that could walk out of them. */
static inline bool rt_cni_name_is_plain(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= NAME_MAX && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strspn(s, RT_CNI_PLAIN_NAME_CHARS) == n;
}

/* cni_net.c: the current list, reloaded first if the directory changed; give it back with
 * rt_cni_net_put. */
int rt_cni_net_get(struct rt_cni *cni, struct rt_cni_net **ret, crisp_error_t **err);
void rt_cni_net_put(struct rt_cni *cni, struct rt_cni_net *net);
/* The list parsed from config (a saved text) when it is not NULL or "", else rt_cni_net_get's. */
int rt_cni_net_get_for(struct rt_cni *cni, const char *config, struct rt_cni_net **ret, crisp_error_t **err);
void rt_cni_net_free(struct rt_cni_net *net);

/* cni_stdin.c: the plugin's object with the list's name and version, prevResult and runtimeConfig
 * (CNI spec). */
int rt_cni_stdin_build(const struct rt_cni_op *op, const struct rt_cni_plugin *p, const char *name,
                       yajl_val prev, char **ret, crisp_error_t **err);

/* cni_exec.c: what a plugin run gave back. */
struct rt_cni_exec_result {
    char *out, *err;
    int status; /* as waitpid gives it */
};
void rt_cni_exec_result_fini(struct rt_cni_exec_result *x);
/* Runs path with input on stdin and env as its environment, collecting stdout and stderr (at most
 * RT_CNI_OUTPUT_MAX bytes each); killed with what it started after timeout_ms. */
int rt_cni_exec(const char *path, char *const *env, const char *input, int timeout_ms,
                struct rt_cni_exec_result *ret, crisp_error_t **err);

/* cni_plugin.c: every binary the list needs, checked before anything runs so a missing one changes
 * nothing. */
int rt_cni_plugins_find_all(const struct rt_cni *cni, const struct rt_cni_net *net, crisp_error_t **err);
/* Runs one plugin of the op; its stdout in *ret_out (if not NULL) when it succeeded. */
int rt_cni_plugin_run(const struct rt_cni_op *op, const struct rt_cni_plugin *p, bool loopback, yajl_val prev,
                      char **ret_out, crisp_error_t **err);

/* cni_result.c */
/* A plugin's stdout as a JSON object; type names the plugin in the error. */
int rt_cni_result_parse(const char *type, const char *text, yajl_val *ret, crisp_error_t **err);
/* The pod's addresses from a 0.3.0+ result, IPv4 first. */
int rt_cni_result_ips(yajl_val result, char ***ret, crisp_error_t **err);

#endif
