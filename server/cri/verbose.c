/* Verbose status info. A container's "runtimeSpec" is read back from the spec file its monitor was
 * given (what the workload really got, also after a restart of crispd), turned into the OCI shape. */
#define _GNU_SOURCE
#include "server/cri/verbose.h"

#include "common/cleanup.h"
#include "common/file.h"
#include "common/json.h"
#include "helpers/lib/spec_keys.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define SPEC_MAX (1024 * 1024)
#define OCI_VERSION "1.0.2"

struct spec_line {
    const char *key, *value;
};

struct spec {
    char *text;
    struct spec_line *lines;
    size_t n;
};

static void spec_fini(struct spec *s)
{
    free(s->text);
    free(s->lines);
}

/* Undoes the writer's escapes (\\ and \n) in place. */
static void unescape(char *v)
{
    char *w = v;
    for (char *r = v; *r; r++) {
        if (r[0] == '\\' && (r[1] == '\\' || r[1] == 'n')) {
            *w++ = r[1] == 'n' ? '\n' : '\\';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

static int spec_read(const char *path, struct spec *s, crisp_error_t **err)
{
    size_t len = 0;
    if (file_read_bounded(path, SPEC_MAX, &s->text, &len, err) < 0)
        return -1;
    size_t lines = 0;
    for (size_t k = 0; k < len; k++)
        lines += s->text[k] == '\n';
    if (!(s->lines = calloc(lines + 1, sizeof(*s->lines))))
        return crisp_error_oom(err);
    char *save = NULL;
    for (char *l = strtok_r(s->text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(l, ' ');
        if (!sp)
            continue;
        *sp = '\0';
        unescape(sp + 1);
        s->lines[s->n++] = (struct spec_line){l, sp + 1};
    }
    return 0;
}

static const char *spec_get(const struct spec *s, const char *key)
{
    for (size_t k = 0; k < s->n; k++)
        if (strcmp(s->lines[k].key, key) == 0)
            return s->lines[k].value;
    return NULL;
}

/* JSON text must be UTF-8: a byte that is not (an env value may be anything) becomes U+FFFD, as Go's
 * encoding/json, and so containerd, write it. */
static void gen_text(yajl_gen g, const char *s)
{
    s = s ? s : "";
    size_t len = strlen(s), o = 0;
    _cleanup_free_ char *buf = malloc(len * 3 + 1);
    if (!buf) {
        yajl_gen_string(g, (const unsigned char *)"", 0);
        return;
    }
    for (size_t k = 0; k < len;) {
        const unsigned char *p = (const unsigned char *)s + k;
        size_t n = p[0] < 0x80             ? 1
                   : (p[0] & 0xe0) == 0xc0 ? 2
                   : (p[0] & 0xf0) == 0xe0 ? 3
                   : (p[0] & 0xf8) == 0xf0 ? 4
                                           : 0;
        bool ok = n > 0 && k + n <= len && !(n == 2 && p[0] < 0xc2) && !(n == 4 && p[0] > 0xf4);
        for (size_t c = 1; ok && c < n; c++)
            ok = (p[c] & 0xc0) == 0x80;
        ok = ok && !(n == 3 && p[0] == 0xe0 && p[1] < 0xa0) && !(n == 3 && p[0] == 0xed && p[1] >= 0xa0) &&
             !(n == 4 && p[0] == 0xf0 && p[1] < 0x90) && !(n == 4 && p[0] == 0xf4 && p[1] >= 0x90);
        if (ok) {
            memcpy(buf + o, p, n);
            o += n;
            k += n;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            k++;
        }
    }
    yajl_gen_string(g, (const unsigned char *)buf, o);
}

static void gen_key(yajl_gen g, const char *key)
{
    json_gen_str(g, key);
}

static void gen_kv(yajl_gen g, const char *key, const char *value)
{
    gen_key(g, key);
    gen_text(g, value);
}

static void gen_all(yajl_gen g, const char *key, const struct spec *s, const char *spec_key)
{
    gen_key(g, key);
    yajl_gen_array_open(g);
    for (size_t k = 0; k < s->n; k++)
        if (strcmp(s->lines[k].key, spec_key) == 0)
            gen_text(g, s->lines[k].value);
    yajl_gen_array_close(g);
}

/* OCI names ("CAP_CHOWN") of a hex mask of capability numbers. */
static void gen_caps(yajl_gen g, const char *key, const char *hex)
{
    unsigned long long mask = hex ? strtoull(hex, NULL, 16) : 0;
    gen_key(g, key);
    yajl_gen_array_open(g);
    for (unsigned n = 0; n < 64; n++) {
        if (!(mask & (1ULL << n)))
            continue;
        char *name = cap_to_name((cap_value_t)n);
        if (!name)
            continue;
        _cleanup_free_ char *oci = NULL;
        if (asprintf(&oci, "%s%s", strncmp(name, "cap_", 4) == 0 ? "" : "CAP_", name) >= 0) {
            for (char *c = oci; *c; c++)
                *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
            json_gen_str(g, oci);
        }
        cap_free(name);
    }
    yajl_gen_array_close(g);
}

static void gen_process(yajl_gen g, const struct spec *s)
{
    const char *caps = spec_get(s, SPEC_KEY_CAPABILITIES),
               *ambient = spec_get(s, SPEC_KEY_CAPABILITIES_AMBIENT);
    const char *uid = spec_get(s, SPEC_KEY_UID);
    gen_key(g, "process");
    yajl_gen_map_open(g);
    gen_key(g, "terminal");
    yajl_gen_bool(g, (spec_get(s, SPEC_KEY_TTY) ? *spec_get(s, SPEC_KEY_TTY) : '0') == '1');
    gen_key(g, "user");
    yajl_gen_map_open(g);
    json_gen_kv_int(g, "uid", uid ? atoll(uid) : 0);
    json_gen_kv_int(g, "gid", spec_get(s, SPEC_KEY_GID) ? atoll(spec_get(s, SPEC_KEY_GID)) : 0);
    gen_key(g, "additionalGids");
    yajl_gen_array_open(g);
    for (size_t k = 0; k < s->n; k++)
        if (strcmp(s->lines[k].key, SPEC_KEY_GROUP) == 0)
            yajl_gen_integer(g, atoll(s->lines[k].value));
    yajl_gen_array_close(g);
    yajl_gen_map_close(g);
    gen_all(g, "args", s, SPEC_KEY_ARG);
    gen_all(g, "env", s, SPEC_KEY_ENV);
    gen_kv(g, "cwd", spec_get(s, SPEC_KEY_CWD));
    gen_key(g, "capabilities");
    yajl_gen_map_open(g);
    /* The monitor gives root the whole set; another uid keeps only what is ambient. */
    bool root = !uid || strcmp(uid, "0") == 0;
    gen_caps(g, "bounding", caps);
    gen_caps(g, "effective", root ? caps : ambient);
    gen_caps(g, "permitted", root ? caps : ambient);
    gen_caps(g, "inheritable", ambient);
    gen_caps(g, "ambient", ambient);
    yajl_gen_map_close(g);
    gen_key(g, "noNewPrivileges");
    yajl_gen_bool(g, (spec_get(s, SPEC_KEY_NO_NEW_PRIVS) ? *spec_get(s, SPEC_KEY_NO_NEW_PRIVS) : '0') == '1');
    if (spec_get(s, SPEC_KEY_APPARMOR_PROFILE))
        gen_kv(g, "apparmorProfile", spec_get(s, SPEC_KEY_APPARMOR_PROFILE));
    if (spec_get(s, SPEC_KEY_SELINUX_LABEL))
        gen_kv(g, "selinuxLabel", spec_get(s, SPEC_KEY_SELINUX_LABEL));
    if (spec_get(s, SPEC_KEY_OOM_SCORE_ADJ))
        json_gen_kv_int(g, "oomScoreAdj", atoll(spec_get(s, SPEC_KEY_OOM_SCORE_ADJ)));
    yajl_gen_map_close(g);
}

static void gen_options(yajl_gen g, const char *options, const char *propagation, bool rro)
{
    gen_key(g, "options");
    yajl_gen_array_open(g);
    _cleanup_free_ char *copy = strdup(options ? options : "");
    char *save = NULL;
    for (char *o = copy ? strtok_r(copy, ",", &save) : NULL; o; o = strtok_r(NULL, ",", &save))
        gen_text(g, o);
    if (propagation)
        gen_text(g, propagation);
    if (rro)
        gen_text(g, "rro");
    yajl_gen_array_close(g);
}

/* Mount records: a mount.destination line starts one, the mount.* lines after it fill it. */
static void gen_mounts(yajl_gen g, const struct spec *s)
{
    gen_key(g, "mounts");
    yajl_gen_array_open(g);
    for (size_t k = 0; k < s->n; k++) {
        if (strcmp(s->lines[k].key, SPEC_KEY_MOUNT_DESTINATION) != 0)
            continue;
        const char *src = NULL, *type = NULL, *options = NULL, *propagation = NULL;
        bool rro = false;
        for (size_t f = k + 1; f < s->n && strncmp(s->lines[f].key, "mount.", 6) == 0 &&
                               strcmp(s->lines[f].key, SPEC_KEY_MOUNT_DESTINATION) != 0;
             f++) {
            const struct spec_line *l = &s->lines[f];
            if (strcmp(l->key, SPEC_KEY_MOUNT_SOURCE) == 0)
                src = l->value;
            else if (strcmp(l->key, SPEC_KEY_MOUNT_TYPE) == 0)
                type = l->value;
            else if (strcmp(l->key, SPEC_KEY_MOUNT_OPTIONS) == 0)
                options = l->value;
            else if (strcmp(l->key, SPEC_KEY_MOUNT_PROPAGATION) == 0)
                propagation = l->value;
            else if (strcmp(l->key, SPEC_KEY_MOUNT_RECURSIVE_RO) == 0)
                rro = strcmp(l->value, "1") == 0;
        }
        bool bind = type && strcmp(type, "bind") == 0;
        yajl_gen_map_open(g);
        gen_kv(g, "destination", s->lines[k].value);
        gen_kv(g, "type", type);
        gen_kv(g, "source", src);
        gen_options(g, bind && !(options && *options) ? "rw" : options, propagation, rro);
        yajl_gen_map_close(g);
    }
    yajl_gen_array_close(g);
}

static void gen_namespace(yajl_gen g, const char *type, const char *path)
{
    if (!path || strcmp(path, "host") == 0)
        return; /* the host's: OCI lists only the namespaces a container gets or joins */
    yajl_gen_map_open(g);
    gen_kv(g, "type", type);
    if (strcmp(path, "new") != 0)
        gen_kv(g, "path", path);
    yajl_gen_map_close(g);
}

static void gen_namespaces(yajl_gen g, const struct spec *s)
{
    gen_key(g, "namespaces");
    yajl_gen_array_open(g);
    gen_namespace(g, "pid", spec_get(s, SPEC_KEY_NS_PID));
    gen_namespace(g, "ipc", spec_get(s, SPEC_KEY_NS_IPC));
    gen_namespace(g, "uts", spec_get(s, SPEC_KEY_NS_UTS));
    gen_namespace(g, "mount", "new");
    gen_namespace(g, "network", spec_get(s, SPEC_KEY_NS_NET));
    gen_namespace(g, "user", spec_get(s, SPEC_KEY_NS_USER));
    yajl_gen_array_close(g);
}

static void gen_resources(yajl_gen g, const struct rt_container_resources *r)
{
    gen_key(g, "resources");
    yajl_gen_map_open(g);
    gen_key(g, "memory");
    yajl_gen_map_open(g);
    if (r->memory_limit)
        json_gen_kv_int(g, "limit", r->memory_limit);
    if (r->memory_swap_limit)
        json_gen_kv_int(g, "swap", r->memory_swap_limit);
    yajl_gen_map_close(g);
    gen_key(g, "cpu");
    yajl_gen_map_open(g);
    if (r->cpu_shares)
        json_gen_kv_int(g, "shares", r->cpu_shares);
    if (r->cpu_quota)
        json_gen_kv_int(g, "quota", r->cpu_quota);
    if (r->cpu_period)
        json_gen_kv_int(g, "period", r->cpu_period);
    if (r->cpuset_cpus && *r->cpuset_cpus)
        gen_kv(g, "cpus", r->cpuset_cpus);
    if (r->cpuset_mems && *r->cpuset_mems)
        gen_kv(g, "mems", r->cpuset_mems);
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);
}

/* crisp compiles the profile to BPF when the container is made: what is left to show is that a
 * filter applies, and where. */
static void gen_seccomp(yajl_gen g, const struct spec *s)
{
    const char *path = spec_get(s, SPEC_KEY_SECCOMP_PATH);
    if (!path)
        return;
    gen_key(g, "seccomp");
    yajl_gen_map_open(g);
    gen_kv(g, "compiledFilter", path);
    json_gen_kv_int(g, "flags",
                    spec_get(s, SPEC_KEY_SECCOMP_FLAGS) ? atoll(spec_get(s, SPEC_KEY_SECCOMP_FLAGS)) : 0);
    yajl_gen_map_close(g);
}

static void gen_linux(yajl_gen g, const struct rt_container_info *i, const struct spec *s)
{
    gen_key(g, "linux");
    yajl_gen_map_open(g);
    gen_namespaces(g, s);
    gen_kv(g, "cgroupsPath", i->cgroup_path);
    gen_resources(g, &i->resources);
    gen_seccomp(g, s);
    gen_all(g, "maskedPaths", s, SPEC_KEY_MASKED);
    gen_all(g, "readonlyPaths", s, SPEC_KEY_READONLY);
    yajl_gen_map_close(g);
}

static void gen_runtime_spec(yajl_gen g, const struct rt_container_info *i, const struct spec *s,
                             const char *hostname)
{
    gen_key(g, "runtimeSpec");
    yajl_gen_map_open(g);
    gen_kv(g, "ociVersion", OCI_VERSION);
    gen_process(g, s);
    gen_key(g, "root");
    yajl_gen_map_open(g);
    gen_kv(g, "path", spec_get(s, SPEC_KEY_ROOTFS_MOUNTPOINT));
    gen_key(g, "readonly");
    yajl_gen_bool(g, (spec_get(s, SPEC_KEY_READONLY_ROOTFS) ? *spec_get(s, SPEC_KEY_READONLY_ROOTFS) : '0') ==
                         '1');
    yajl_gen_map_close(g);
    if (hostname)
        gen_kv(g, "hostname", hostname);
    gen_mounts(g, s);
    gen_linux(g, i, s);
    yajl_gen_map_close(g);
}

static void gen_map(yajl_gen g, const char *key, const struct rt_kv *kv, size_t n)
{
    gen_key(g, key);
    yajl_gen_map_open(g);
    for (size_t k = 0; k < n; k++)
        gen_kv(g, kv[k].key, kv[k].value);
    yajl_gen_map_close(g);
}

/* The text of the pod's hostname file without its newline, or NULL. */
static char *pod_hostname(const struct rt_sandbox_info *pod)
{
    _cleanup_free_ char *path = NULL;
    char *text = NULL;
    size_t len = 0;
    if (!pod || asprintf(&path, "%s/hostname", pod->dir) < 0 ||
        file_read_bounded(path, 4096, &text, &len, NULL) < 0)
        return NULL;
    text[strcspn(text, "\n")] = '\0';
    return text;
}

/* The generated text, copied to the arena; frees g. */
static char *gen_finish(struct arena *a, yajl_gen g, crisp_error_t **err)
{
    const unsigned char *buf = NULL;
    size_t len = 0;
    char *out = yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok
                    ? arena_strndup(a, (const char *)buf, len)
                    : NULL;
    yajl_gen_free(g);
    if (!out)
        return crisp_error_oom(err), NULL;
    return out;
}

char *srv_verbose_container_info(struct arena *a, const struct rt_container_info *i,
                                 const struct rt_sandbox_info *pod, crisp_error_t **err)
{
    _cleanup_(spec_fini) struct spec s = {0};
    /* A spec that can't be read (a container whose creation a crash cut short) only leaves runtimeSpec out.
     */
    bool have_spec = i->spec_path && spec_read(i->spec_path, &s, NULL) == 0;
    _cleanup_free_ char *hostname = pod_hostname(pod);
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return crisp_error_oom(err), NULL;
    yajl_gen_map_open(g);
    gen_kv(g, "sandboxID", i->sandbox_id);
    json_gen_kv_int(g, "pid", i->pid);
    gen_kv(g, "cgroupPath", i->cgroup_path);
    gen_kv(g, "image", i->image);
    gen_kv(g, "imageID", i->image_id);
    gen_kv(g, "logPath", i->log_path);
    gen_map(g, "labels", i->labels, i->n_labels);
    gen_map(g, "annotations", i->annotations, i->n_annotations);
    if (have_spec)
        gen_runtime_spec(g, i, &s, hostname);
    yajl_gen_map_close(g);
    return gen_finish(a, g, err);
}

/* A yajl tree written back out (the CNI result, which a plugin produced). */
static void gen_tree(yajl_gen g, yajl_val v, int depth)
{
    if (!v || depth > 64) {
        yajl_gen_null(g);
    } else if (YAJL_IS_STRING(v)) {
        gen_text(g, v->u.string);
    } else if (YAJL_IS_INTEGER(v)) {
        yajl_gen_integer(g, YAJL_GET_INTEGER(v));
    } else if (YAJL_IS_DOUBLE(v)) {
        yajl_gen_double(g, YAJL_GET_DOUBLE(v));
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        yajl_gen_bool(g, YAJL_IS_TRUE(v));
    } else if (YAJL_IS_OBJECT(v)) {
        yajl_gen_map_open(g);
        for (size_t k = 0; k < v->u.object.len; k++) {
            gen_text(g, v->u.object.keys[k]);
            gen_tree(g, v->u.object.values[k], depth + 1);
        }
        yajl_gen_map_close(g);
    } else if (YAJL_IS_ARRAY(v)) {
        yajl_gen_array_open(g);
        for (size_t k = 0; k < v->u.array.len; k++)
            gen_tree(g, v->u.array.values[k], depth + 1);
        yajl_gen_array_close(g);
    } else {
        yajl_gen_null(g);
    }
}

static void gen_cni_result(yajl_gen g, const char *text)
{
    gen_key(g, "cniResult");
    yajl_val root = text && *text && json_nesting_ok(text, 64) ? yajl_tree_parse(text, NULL, 0) : NULL;
    gen_tree(g, root, 0);
    yajl_tree_free(root);
}

static void gen_pod_namespaces(yajl_gen g, const struct rt_sandbox_info *i)
{
    _cleanup_free_ char *ipc = NULL, *uts = NULL, *pid = NULL, *user = NULL;
    gen_key(g, "namespaces");
    yajl_gen_array_open(g);
    if (i->pid_mode == RT_NS_POD && i->init_pid > 0 && asprintf(&pid, "%s/ns/pid", i->dir) >= 0)
        gen_namespace(g, "pid", pid);
    if (i->ipc_mode != RT_NS_NODE && asprintf(&ipc, "%s/ns/ipc", i->dir) >= 0)
        gen_namespace(g, "ipc", ipc);
    if (asprintf(&uts, "%s/ns/uts", i->dir) >= 0)
        gen_namespace(g, "uts", uts);
    if (i->net_mode != RT_NS_NODE && i->netns_path && *i->netns_path)
        gen_namespace(g, "network", i->netns_path);
    if (i->userns.enabled && asprintf(&user, "%s/ns/user", i->dir) >= 0)
        gen_namespace(g, "user", user);
    yajl_gen_array_close(g);
}

/* crisp runs no pause process: the pod's spec is its namespaces, cgroup and hostname. */
static void gen_pod_spec(yajl_gen g, const struct rt_sandbox_info *i)
{
    _cleanup_free_ char *hostname = pod_hostname(i);
    gen_key(g, "runtimeSpec");
    yajl_gen_map_open(g);
    gen_kv(g, "ociVersion", OCI_VERSION);
    if (hostname)
        gen_kv(g, "hostname", hostname);
    gen_map(g, "annotations", i->annotations, i->n_annotations);
    gen_key(g, "linux");
    yajl_gen_map_open(g);
    gen_pod_namespaces(g, i);
    gen_kv(g, "cgroupsPath", i->cgroup_path);
    yajl_gen_map_close(g);
    yajl_gen_map_close(g);
}

char *srv_verbose_pod_info(struct arena *a, const struct rt_sandbox_info *i, crisp_error_t **err)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return crisp_error_oom(err), NULL;
    yajl_gen_map_open(g);
    json_gen_kv_int(g, "pid", i->init_pid);
    gen_kv(g, "sandboxID", i->id);
    gen_kv(g, "netnsPath", i->netns_path);
    gen_kv(g, "cgroupPath", i->cgroup_path);
    gen_kv(g, "stateDir", i->dir);
    gen_kv(g, "runtimeHandler", i->runtime_handler);
    gen_key(g, "privileged");
    yajl_gen_bool(g, i->privileged);
    gen_map(g, "labels", i->labels, i->n_labels);
    gen_cni_result(g, i->cni_result);
    gen_pod_spec(g, i);
    yajl_gen_map_close(g);
    return gen_finish(a, g, err);
}
