#define _GNU_SOURCE
#include "runtime/container_internal.h"

#include "common/cleanup.h"
#include "common/json.h"
#include "common/strv.h"
#include "runtime/sandbox_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void gen_groups(yajl_gen g, const struct rt_container_info *i)
{
    json_gen_str(g, "groups");
    yajl_gen_array_open(g);
    for (size_t k = 0; k < i->n_groups; k++)
        yajl_gen_integer(g, i->groups[k]);
    yajl_gen_array_close(g);
}

static void gen_mounts(yajl_gen g, const struct rt_container_info *i)
{
    json_gen_str(g, "mounts");
    yajl_gen_array_open(g);
    for (size_t m = 0; m < i->n_mounts; m++) {
        yajl_gen_map_open(g);
        json_gen_kv_str(g, "container_path", i->mounts[m].container_path);
        json_gen_kv_str(g, "host_path", i->mounts[m].host_path);
        json_gen_kv_int(g, "readonly", i->mounts[m].readonly);
        json_gen_kv_int(g, "propagation", i->mounts[m].propagation);
        if (i->mounts[m].image) { /* what keeps the image in use, and what status reports */
            json_gen_kv_str(g, "image", i->mounts[m].image);
            json_gen_kv_str(g, "image_id", i->mounts[m].image_id);
            json_gen_kv_str(g, "image_sub_path", i->mounts[m].image_sub_path);
        }
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
}

/* Environment values are bytes (CRI's KeyValue.value), but a JSON parser refuses what is not
 * UTF-8: the record keeps them hex-encoded ("env_hex"). Records written before read "env". */
static char **strv_map(char *const *v, char *(*fn)(const char *s))
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = fn(v[i]))) {
            strv_free(out);
            return NULL;
        }
    return out;
}

static char *hex_encode(const char *s)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = strlen(s);
    char *out = malloc(2 * n + 1);
    for (size_t i = 0; out && i < n; i++) {
        out[2 * i] = digits[(unsigned char)s[i] >> 4];
        out[2 * i + 1] = digits[(unsigned char)s[i] & 15];
    }
    if (out)
        out[2 * n] = '\0';
    return out;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* NULL for odd lengths, bad digits and NUL bytes: the record is damaged. */
static char *hex_decode(const char *s)
{
    size_t n = strlen(s);
    char *out = n % 2 ? NULL : malloc(n / 2 + 1);
    for (size_t i = 0; out && i < n / 2; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            free(out);
            return NULL;
        }
        out[i] = (char)(hi << 4 | lo);
    }
    if (out)
        out[n / 2] = '\0';
    return out;
}

static void gen_env(yajl_gen g, char *const *env)
{
    _cleanup_strv_ char **hex = strv_map(env, hex_encode);
    if (hex)
        json_gen_kv_strv(g, "env_hex", hex);
    else /* out of memory: as before, which loses only values that are not UTF-8 */
        json_gen_kv_strv(g, "env", env);
}

static char **load_env(yajl_val root)
{
    const char *path[] = {"env_hex", NULL};
    if (!yajl_tree_get(root, path, yajl_t_array))
        return json_get_strv(root, "env");
    _cleanup_strv_ char **hex = json_get_strv(root, "env_hex");
    return hex ? strv_map(hex, hex_decode) : NULL;
}

/* Intents (container_internal.h): written only while one is under way, but start_seq always. */
static void gen_intents(yajl_gen g, const struct rt_container *c)
{
    json_gen_kv_int(g, "start_seq", c->start_seq);
    if (c->starting)
        json_gen_kv_int(g, "starting", 1);
    if (c->creating) {
        json_gen_kv_int(g, "creating", 1);
        json_gen_kv_str(g, "creating_log_dir", c->log_dir_made ? c->log_dir_made : "");
    }
    if (c->removing)
        json_gen_kv_int(g, "removing", 1);
}

static int load_intents(yajl_val root, struct rt_container *c)
{
    c->start_seq = (uint32_t)json_get_int(root, "start_seq");
    c->starting = json_get_int(root, "starting") != 0;
    c->creating = json_get_int(root, "creating") != 0;
    c->removing = json_get_int(root, "removing") != 0;
    const char *log_dir = json_get_str(root, "creating_log_dir");
    if (c->creating && log_dir && *log_dir && !(c->log_dir_made = strdup(log_dir)))
        return -1;
    return 0;
}

char *rt_container_record_to_json(const struct rt_container *c)
{
    const struct rt_container_info *i = &c->info;
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    yajl_gen_map_open(g);
    json_gen_kv_str(g, "id", i->id);
    json_gen_kv_str(g, "sandbox_id", i->sandbox_id);
    json_gen_kv_str(g, "name", i->name);
    json_gen_kv_int(g, "attempt", i->attempt);
    json_gen_kv_int(g, "state", i->state);
    json_gen_kv_int(g, "created_at", i->created_at);
    json_gen_kv_int(g, "started_at", i->started_at);
    json_gen_kv_int(g, "finished_at", i->finished_at);
    json_gen_kv_int(g, "exit_code", i->exit_code);
    json_gen_kv_str(g, "reason", i->reason);
    json_gen_kv_str(g, "message", i->message);
    json_gen_kv_str(g, "image", i->image);
    json_gen_kv_str(g, "image_id", i->image_id);
    rt_kv_gen(g, "labels", i->labels, i->n_labels);
    rt_kv_gen(g, "annotations", i->annotations, i->n_annotations);
    json_gen_kv_str(g, "log_path", i->log_path);
    gen_mounts(g, i);
    json_gen_kv_int(g, "pid", i->pid);
    json_gen_kv_int(g, "pid_start", (long long)c->pid_start);
    json_gen_kv_int(g, "monitor_pid", c->monitor_pid);
    json_gen_kv_int(g, "monitor_start", (long long)c->monitor_start);
    json_gen_kv_int(g, "uid", i->uid);
    json_gen_kv_int(g, "gid", i->gid);
    json_gen_kv_str(g, "cgroup_path", i->cgroup_path);
    json_gen_str(g, "resources");
    yajl_gen_map_open(g);
    json_gen_kv_int(g, "cpu_period", i->resources.cpu_period);
    json_gen_kv_int(g, "cpu_quota", i->resources.cpu_quota);
    json_gen_kv_int(g, "cpu_shares", i->resources.cpu_shares);
    json_gen_kv_int(g, "memory_limit", i->resources.memory_limit);
    json_gen_kv_int(g, "memory_swap_limit", i->resources.memory_swap_limit);
    json_gen_kv_int(g, "oom_score_adj", i->resources.oom_score_adj);
    json_gen_kv_str(g, "cpuset_cpus", i->resources.cpuset_cpus);
    json_gen_kv_str(g, "cpuset_mems", i->resources.cpuset_mems);
    rt_kv_gen(g, "unified", i->resources.unified, i->resources.n_unified);
    yajl_gen_map_close(g);
    json_gen_kv_int(g, "stop_signal", c->stop_signal);
    json_gen_kv_int(g, "capabilities", (long long)c->capabilities);
    json_gen_kv_int(g, "ambient_capabilities", (long long)c->ambient_capabilities);
    gen_groups(g, i);
    json_gen_kv_int(g, "no_new_privs", c->no_new_privs);
    json_gen_kv_int(g, "seccomp", c->has_seccomp ? (long long)c->seccomp_flags : -1);
    json_gen_kv_int(g, "tty", c->tty);
    gen_env(g, c->env);
    json_gen_kv_str(g, "cwd", c->cwd);
    gen_intents(g, c);
    yajl_gen_map_close(g);
    return json_gen_take(g);
}

static char *dup_str(yajl_val root, const char *key)
{
    const char *v = json_get_str(root, key);
    return strdup(v ? v : "");
}

static int load_map(yajl_val root, const char *key, struct rt_kv **ret, size_t *ret_n)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_object);
    size_t n = v ? v->u.object.len : 0;
    struct rt_kv src[n + 1];
    for (size_t k = 0; k < n; k++) {
        yajl_val val = v->u.object.values[k];
        src[k] = (struct rt_kv){(char *)v->u.object.keys[k], YAJL_IS_STRING(val) ? val->u.string : ""};
    }
    *ret_n = n;
    return rt_kv_copy(src, n, ret);
}

static int load_mounts(yajl_val root, struct rt_container_info *i)
{
    const char *path[] = {"mounts", NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_array);
    size_t n = v ? v->u.array.len : 0;
    i->mounts = calloc(n + 1, sizeof(*i->mounts));
    if (!i->mounts)
        return -1;
    for (size_t m = 0; m < n; m++) {
        yajl_val e = v->u.array.values[m];
        struct rt_mount *mt = &i->mounts[i->n_mounts++];
        mt->container_path = dup_str(e, "container_path");
        mt->host_path = dup_str(e, "host_path");
        mt->readonly = json_get_int(e, "readonly") != 0;
        mt->propagation = (enum rt_propagation)json_get_int(e, "propagation");
        if (!mt->container_path || !mt->host_path)
            return -1;
        if (json_get_str(e, "image") &&
            (!(mt->image = dup_str(e, "image")) || !(mt->image_id = dup_str(e, "image_id")) ||
             !(mt->image_sub_path = dup_str(e, "image_sub_path")) || !*mt->image_id))
            return -1;
    }
    return 0;
}

static int load_groups(yajl_val root, struct rt_container_info *i)
{
    const char *path[] = {"groups", NULL};
    yajl_val v = yajl_tree_get(root, path, yajl_t_array);
    size_t n = v ? v->u.array.len : 0;
    i->groups = calloc(n + 1, sizeof(gid_t));
    if (!i->groups)
        return -1;
    for (size_t k = 0; k < n; k++)
        if (YAJL_IS_INTEGER(v->u.array.values[k]))
            i->groups[i->n_groups++] = (gid_t)YAJL_GET_INTEGER(v->u.array.values[k]);
    return 0;
}

static bool copy_id(char dst[RT_ID_LEN + 1], const char *src)
{
    if (!src || strlen(src) != RT_ID_LEN)
        return false;
    memcpy(dst, src, RT_ID_LEN + 1);
    return true;
}

int rt_container_record_from_json(const char *text, struct rt_container *c, crisp_error_t **err)
{
    yajl_val root = yajl_tree_parse(text, NULL, 0);
    struct rt_container_info *i = &c->info;
    int r = root && copy_id(i->id, json_get_str(root, "id")) &&
                    copy_id(i->sandbox_id, json_get_str(root, "sandbox_id"))
                ? 0
                : -1;
    if (r == 0) {
        i->name = dup_str(root, "name");
        i->attempt = (uint32_t)json_get_int(root, "attempt");
        i->state = (enum rt_container_state)json_get_int(root, "state");
        i->created_at = json_get_int(root, "created_at");
        i->started_at = json_get_int(root, "started_at");
        i->finished_at = json_get_int(root, "finished_at");
        i->exit_code = (int)json_get_int(root, "exit_code");
        i->reason = dup_str(root, "reason");
        i->message = dup_str(root, "message");
        i->image = dup_str(root, "image");
        i->image_id = dup_str(root, "image_id");
        i->log_path = dup_str(root, "log_path");
        i->pid = (pid_t)json_get_int(root, "pid");
        i->uid = (uid_t)json_get_int(root, "uid");
        i->gid = (gid_t)json_get_int(root, "gid");
        i->cgroup_path = dup_str(root, "cgroup_path");
        c->pid_start = (uint64_t)json_get_int(root, "pid_start");
        c->monitor_pid = (pid_t)json_get_int(root, "monitor_pid");
        c->monitor_start = (uint64_t)json_get_int(root, "monitor_start"); /* 0 in older records */
        c->stop_signal = (int)json_get_int(root, "stop_signal");
        c->capabilities = (uint64_t)json_get_int(root, "capabilities");
        c->ambient_capabilities = (uint64_t)json_get_int(root, "ambient_capabilities");
        if (load_groups(root, i) < 0)
            r = -1;
        c->no_new_privs = json_get_int(root, "no_new_privs") != 0;
        long long seccomp = json_get_int(root, "seccomp");
        c->has_seccomp = seccomp >= 0;
        c->seccomp_flags = seccomp >= 0 ? (unsigned)seccomp : 0;
        c->tty = json_get_int(root, "tty") != 0;
        c->env = load_env(root);
        c->cwd = dup_str(root, "cwd");
        if (load_intents(root, c) < 0)
            r = -1;
        const char *res_path[] = {"resources", NULL};
        yajl_val res = yajl_tree_get(root, res_path, yajl_t_object);
        struct rt_container_resources *cr = &i->resources;
        cr->cpu_period = res ? json_get_int(res, "cpu_period") : 0;
        cr->cpu_quota = res ? json_get_int(res, "cpu_quota") : 0;
        cr->cpu_shares = res ? json_get_int(res, "cpu_shares") : 0;
        cr->memory_limit = res ? json_get_int(res, "memory_limit") : 0;
        cr->memory_swap_limit = res ? json_get_int(res, "memory_swap_limit") : 0;
        cr->oom_score_adj = res ? json_get_int(res, "oom_score_adj") : 0;
        cr->cpuset_cpus = strdup(res && json_get_str(res, "cpuset_cpus") ? json_get_str(res, "cpuset_cpus")
                                                                         : "");
        cr->cpuset_mems = strdup(res && json_get_str(res, "cpuset_mems") ? json_get_str(res, "cpuset_mems")
                                                                         : "");
        if (!cr->cpuset_cpus || !cr->cpuset_mems ||
            (res && load_map(res, "unified", &cr->unified, &cr->n_unified) < 0))
            r = -1;
        if (!i->name || !i->reason || !i->message || !i->image || !i->image_id || !i->log_path ||
            !i->cgroup_path || !c->env || !c->cwd || load_map(root, "labels", &i->labels, &i->n_labels) < 0 ||
            load_map(root, "annotations", &i->annotations, &i->n_annotations) < 0 || load_mounts(root, i) < 0)
            r = -1;
    }
    yajl_tree_free(root);
    return r < 0 ? crisp_error_make(err, EINVAL, "container record is damaged") : 0;
}

void rt_container_fini(struct rt_container *c)
{
    struct rt_container_info *i = &c->info;
    free(i->name);
    free(i->reason);
    free(i->message);
    free(i->image);
    free(i->image_id);
    rt_kv_free(i->labels, i->n_labels);
    rt_kv_free(i->annotations, i->n_annotations);
    free(i->log_path);
    for (size_t m = 0; m < i->n_mounts; m++)
        rt_mount_fini(&i->mounts[m]);
    free(i->mounts);
    free(i->groups);
    free(i->cgroup_path);
    free(i->upper_dir);
    free(i->resources.cpuset_cpus);
    free(i->resources.cpuset_mems);
    rt_kv_free(i->resources.unified, i->resources.n_unified);
    free(c->dir);
    free(c->rw_dir);
    free(c->log_dir_made);
    strv_free(c->env);
    free(c->cwd);
}
