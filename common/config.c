#define _GNU_SOURCE
#include "config.h"
#include "common/strv.h"

#include "cleanup.h"
#include "file.h"
#include "json.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

enum key_type { KEY_STRING, KEY_PATH, KEY_OPT_PATH, KEY_PATH_LIST, KEY_ENUM, KEY_INT, KEY_LISTEN, KEY_IP };

struct key_spec {
    const char *name;
    enum key_type type;
    size_t offset;
    const char *const *choices; /* KEY_ENUM: NULL-terminated names, index = stored value */
    long min, max;              /* KEY_INT */
};

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_formats[] = {"text", "json", NULL};
static const char *const cgroup_drivers[] = {"cgroupfs", "systemd", NULL};

#define F(field) offsetof(struct crisp_config, field)

static const struct key_spec keys[] = {
    {"listen", KEY_LISTEN, F(listen), NULL, 0, 0},
    {"listen_group", KEY_STRING, F(listen_group), NULL, 0, 0},
    {"root", KEY_PATH, F(root), NULL, 0, 0},
    {"state", KEY_PATH, F(state), NULL, 0, 0},
    {"log_level", KEY_ENUM, F(log_level), log_levels, 0, 0},
    {"log_format", KEY_ENUM, F(log_format), log_formats, 0, 0},
    {"cgroup_driver", KEY_ENUM, F(cgroup_driver), cgroup_drivers, 0, 0},
    {"default_cgroup_parent", KEY_PATH, F(default_cgroup_parent), NULL, 0, 0},
    {"shutdown_timeout", KEY_INT, F(shutdown_timeout), NULL, 0, 3600},
    {"cni.conf_dir", KEY_PATH, F(cni_conf_dir), NULL, 0, 0},
    {"cni.bin_dirs", KEY_PATH_LIST, F(cni_bin_dirs), NULL, 0, 0},
    {"streaming.address", KEY_IP, F(streaming_address), NULL, 0, 0},
    {"streaming.port", KEY_INT, F(streaming_port), NULL, 0, 65535},
    {"streaming.tls_cert", KEY_OPT_PATH, F(streaming_tls_cert), NULL, 0, 0},
    {"streaming.tls_key", KEY_OPT_PATH, F(streaming_tls_key), NULL, 0, 0},
    {"streaming.token_ttl", KEY_INT, F(streaming_token_ttl), NULL, 1, 3600},
    {"streaming.idle_timeout", KEY_INT, F(streaming_idle_timeout), NULL, 0, 7 * 24 * 3600},
    {"image.pull_progress_timeout", KEY_INT, F(image_pull_progress_timeout), NULL, 1, 3600},
    {"image.max_concurrent_downloads", KEY_INT, F(image_max_concurrent_downloads), NULL, 1, 16},
    {"image.max_layer_size", KEY_INT, F(image_max_layer_size), NULL, 1, 1024 * 1024},
    {"image.auth_file", KEY_OPT_PATH, F(image_auth_file), NULL, 0, 0},
    {"metrics.address", KEY_IP, F(metrics_address), NULL, 0, 0},
    {"metrics.port", KEY_INT, F(metrics_port), NULL, 0, 65535},
};

#define MEMBER(cfg, spec, type) ((type *)((char *)(cfg) + (spec)->offset))

static const struct key_spec *key_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* True when some key lives below section (e.g. "cni" for "cni.conf_dir"). */
static bool is_section(const char *section)
{
    size_t n = strlen(section);
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (strncmp(keys[i].name, section, n) == 0 && keys[i].name[n] == '.')
            return true;
    return false;
}

static int config_set_defaults(struct crisp_config *cfg)
{
    static const char *const bin_dirs[] = {"/opt/cni/bin", "/usr/lib/cni", NULL};
    cfg->listen = strdup("/run/crisp/crisp.sock");
    cfg->listen_group = strdup("");
    cfg->root = strdup("/var/lib/crisp");
    cfg->state = strdup("/run/crisp");
    cfg->log_level = LOG_LEVEL_INFO;
    cfg->log_format = LOG_FORMAT_TEXT;
    cfg->cgroup_driver = CGROUP_DRIVER_CGROUPFS;
    cfg->shutdown_timeout = 10;
    cfg->cni_conf_dir = strdup("/etc/cni/net.d");
    cfg->cni_bin_dirs = strv_copy((char *const *)bin_dirs);
    cfg->streaming_address = strdup("127.0.0.1");
    cfg->streaming_port = 0;
    cfg->streaming_tls_cert = strdup("");
    cfg->streaming_tls_key = strdup("");
    cfg->streaming_token_ttl = 60;
    cfg->streaming_idle_timeout = 4 * 3600; /* kubelet's default */
    cfg->image_pull_progress_timeout = 60;
    cfg->image_max_concurrent_downloads = 3;
    cfg->image_max_layer_size = 64 * 1024; /* images/unpack.h: IMG_LAYER_MAX_SIZE_DEFAULT */
    cfg->image_auth_file = strdup("");
    cfg->default_cgroup_parent = strdup("/crisp");
    cfg->metrics_address = strdup("127.0.0.1");
    cfg->metrics_port = 0;
    if (!cfg->metrics_address || !cfg->image_auth_file || !cfg->default_cgroup_parent || !cfg->listen ||
        !cfg->listen_group || !cfg->root || !cfg->state || !cfg->cni_conf_dir || !cfg->cni_bin_dirs ||
        !cfg->streaming_address || !cfg->streaming_tls_cert || !cfg->streaming_tls_key)
        return -1;
    return 0;
}

static int bad_value(const char *origin, const char *key, const char *expected, const char *got,
                     crisp_error_t **err)
{
    return crisp_error_make(err, EINVAL, "%s: key \"%s\": expected %s, got \"%s\"", origin, key, expected,
                            got);
}

static int replace_string(char **slot, const char *value, crisp_error_t **err)
{
    char *copy = strdup(value);
    if (!copy)
        return crisp_error_oom(err);
    free(*slot);
    *slot = copy;
    return 0;
}

static bool is_absolute_clean_path(const char *p)
{
    size_t n = strlen(p);
    if (p[0] != '/' || n >= PATH_MAX || strstr(p, "/../"))
        return false;
    return !(n >= 3 && strcmp(p + n - 3, "/..") == 0);
}

static int apply_enum(struct crisp_config *cfg, const struct key_spec *spec, const char *value,
                      const char *origin, crisp_error_t **err)
{
    for (int i = 0; spec->choices[i]; i++)
        if (strcmp(spec->choices[i], value) == 0) {
            *MEMBER(cfg, spec, int) = i;
            return 0;
        }
    _cleanup_free_ char *expected = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&expected, &len);
    if (!f)
        return crisp_error_oom(err);
    fputs("one of", f);
    for (int i = 0; spec->choices[i]; i++)
        fprintf(f, "%s %s", i ? "," : "", spec->choices[i]);
    fclose(f);
    return bad_value(origin, spec->name, expected, value, err);
}

static int apply_int_text(struct crisp_config *cfg, const struct key_spec *spec, const char *value,
                          const char *origin, crisp_error_t **err)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno || end == value || *end || v < spec->min || v > spec->max) {
        char expected[64];
        snprintf(expected, sizeof(expected), "an integer from %ld to %ld", spec->min, spec->max);
        return bad_value(origin, spec->name, expected, value, err);
    }
    *MEMBER(cfg, spec, int) = (int)v;
    return 0;
}

static int apply_listen(struct crisp_config *cfg, const struct key_spec *spec, const char *value,
                        const char *origin, crisp_error_t **err)
{
    const char *path = strncmp(value, "unix://", 7) == 0 ? value + 7 : value;
    /* sun_path holds 108 bytes including the NUL. */
    if (!is_absolute_clean_path(path) || strlen(path) > 107)
        return bad_value(origin, spec->name,
                         "an absolute unix socket path (optionally unix://) of at most 107 bytes", value,
                         err);
    return replace_string(MEMBER(cfg, spec, char *), path, err);
}

static int apply_ip(struct crisp_config *cfg, const struct key_spec *spec, const char *value,
                    const char *origin, crisp_error_t **err)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, value, buf) != 1 && inet_pton(AF_INET6, value, buf) != 1)
        return bad_value(origin, spec->name, "an IPv4 or IPv6 address", value, err);
    return replace_string(MEMBER(cfg, spec, char *), value, err);
}

/* Applies a key given as text: from a flag, or a JSON string. */
static int apply_text(struct crisp_config *cfg, const struct key_spec *spec, const char *value,
                      const char *origin, crisp_error_t **err)
{
    switch (spec->type) {
    case KEY_STRING:
        return replace_string(MEMBER(cfg, spec, char *), value, err);
    case KEY_PATH:
        /* default_cgroup_parent may name a systemd slice ("crisp.slice") for the systemd driver. */
        if (strcmp(spec->name, "default_cgroup_parent") == 0 && !strchr(value, '/') && strlen(value) > 6 &&
            strcmp(value + strlen(value) - 6, ".slice") == 0)
            return replace_string(MEMBER(cfg, spec, char *), value, err);
        if (!is_absolute_clean_path(value))
            return bad_value(origin, spec->name, "an absolute path without \"..\"", value, err);
        return replace_string(MEMBER(cfg, spec, char *), value, err);
    case KEY_OPT_PATH:
        if (*value && !is_absolute_clean_path(value))
            return bad_value(origin, spec->name, "an absolute path without \"..\", or \"\"", value, err);
        return replace_string(MEMBER(cfg, spec, char *), value, err);
    case KEY_ENUM:
        return apply_enum(cfg, spec, value, origin, err);
    case KEY_INT:
        return apply_int_text(cfg, spec, value, origin, err);
    case KEY_LISTEN:
        return apply_listen(cfg, spec, value, origin, err);
    case KEY_IP:
        return apply_ip(cfg, spec, value, origin, err);
    case KEY_PATH_LIST:
        break;
    }
    return crisp_error_make(err, EINVAL, "%s: key \"%s\" cannot be set from text", origin, spec->name);
}

static const char *json_type_name(yajl_val v)
{
    if (YAJL_IS_STRING(v))
        return "a string";
    if (YAJL_IS_NUMBER(v))
        return "a number";
    if (YAJL_IS_OBJECT(v))
        return "an object";
    if (YAJL_IS_ARRAY(v))
        return "a list";
    if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v))
        return "a boolean";
    return "null";
}

static int wrong_type(const char *origin, const char *key, const char *expected, yajl_val v,
                      crisp_error_t **err)
{
    return crisp_error_make(err, EINVAL, "%s: key \"%s\": expected %s, got %s", origin, key, expected,
                            json_type_name(v));
}

/* Parses a JSON list of strings; each checked with valid(), described by what. */
static int parse_string_list(yajl_val v, const char *origin, const char *key, const char *what,
                             bool (*valid)(const char *), char ***ret, crisp_error_t **err)
{
    if (!YAJL_IS_ARRAY(v))
        return wrong_type(origin, key, what, v, err);
    _cleanup_strv_ char **list = calloc(v->u.array.len + 1, sizeof(char *));
    if (!list)
        return crisp_error_oom(err);
    for (size_t i = 0; i < v->u.array.len; i++) {
        yajl_val item = v->u.array.values[i];
        if (!YAJL_IS_STRING(item))
            return wrong_type(origin, key, what, item, err);
        if (!valid(item->u.string))
            return bad_value(origin, key, what, item->u.string, err);
        if (!(list[i] = strdup(item->u.string)))
            return crisp_error_oom(err);
    }
    *ret = TAKE_PTR(list);
    return 0;
}

static int apply_json(struct crisp_config *cfg, const struct key_spec *spec, yajl_val v, const char *origin,
                      crisp_error_t **err)
{
    if (spec->type == KEY_INT) {
        if (!YAJL_IS_INTEGER(v))
            return wrong_type(origin, spec->name, "an integer", v, err);
        char text[32];
        snprintf(text, sizeof(text), "%lld", YAJL_GET_INTEGER(v));
        return apply_int_text(cfg, spec, text, origin, err);
    }
    if (spec->type == KEY_PATH_LIST) {
        char **list = NULL;
        if (parse_string_list(v, origin, spec->name, "a list of absolute paths", is_absolute_clean_path,
                              &list, err) < 0)
            return -1;
        strv_free(*MEMBER(cfg, spec, char **));
        *MEMBER(cfg, spec, char **) = list;
        return 0;
    }
    if (!YAJL_IS_STRING(v))
        return wrong_type(origin, spec->name, "a string", v, err);
    return apply_text(cfg, spec, v->u.string, origin, err);
}

static bool is_registry_host(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 255)
        return false;
    for (const char *p = h; *p; p++)
        if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') ||
              strchr(".-:[]_", *p)))
            return false;
    return true;
}

static bool is_mirror_url(const char *u)
{
    const char *rest = NULL;
    if (strncmp(u, "http://", 7) == 0)
        rest = u + 7;
    else if (strncmp(u, "https://", 8) == 0)
        rest = u + 8;
    if (!rest || strlen(u) > 2048)
        return false;
    size_t host_len = strcspn(rest, "/");
    _cleanup_free_ char *host = strndup(rest, host_len);
    return host && is_registry_host(host) && !strpbrk(rest, " \t\n?#");
}

static struct config_registry *registry_get(struct crisp_config *cfg, const char *host)
{
    for (size_t i = 0; i < cfg->n_registries; i++)
        if (strcmp(cfg->registries[i].host, host) == 0)
            return &cfg->registries[i];
    struct config_registry *grown = realloc(cfg->registries,
                                            (cfg->n_registries + 1) * sizeof(*cfg->registries));
    if (!grown)
        return NULL;
    cfg->registries = grown;
    struct config_registry *r = &grown[cfg->n_registries];
    *r = (struct config_registry){.host = strdup(host), .mirrors = calloc(1, sizeof(char *))};
    if (!r->host || !r->mirrors) {
        free(r->host);
        free(r->mirrors);
        return NULL;
    }
    cfg->n_registries++;
    return r;
}

static int apply_registry(struct crisp_config *cfg, const char *host, yajl_val v, const char *origin,
                          crisp_error_t **err)
{
    _cleanup_free_ char *key = NULL;
    if (asprintf(&key, "registries.%s", host) < 0)
        return crisp_error_oom(err);
    if (!is_registry_host(host))
        return bad_value(origin, key, "a registry host name, optionally with :port", host, err);
    if (!YAJL_IS_OBJECT(v))
        return wrong_type(origin, key, "an object with \"mirrors\" and \"insecure\"", v, err);
    struct config_registry *r = registry_get(cfg, host);
    if (!r)
        return crisp_error_oom(err);
    for (size_t i = 0; i < v->u.object.len; i++) {
        const char *name = v->u.object.keys[i];
        yajl_val item = v->u.object.values[i];
        _cleanup_free_ char *full = NULL;
        if (asprintf(&full, "%s.%s", key, name) < 0)
            return crisp_error_oom(err);
        if (strcmp(name, "insecure") == 0) {
            if (!YAJL_IS_TRUE(item) && !YAJL_IS_FALSE(item))
                return wrong_type(origin, full, "a boolean", item, err);
            r->insecure = YAJL_IS_TRUE(item);
        } else if (strcmp(name, "mirrors") == 0) {
            char **mirrors = NULL;
            if (parse_string_list(item, origin, full, "a list of http:// or https:// URLs", is_mirror_url,
                                  &mirrors, err) < 0)
                return -1;
            strv_free(r->mirrors);
            r->mirrors = mirrors;
        } else {
            return crisp_error_make(err, EINVAL, "%s: unknown key \"%s\" (expected mirrors or insecure)",
                                    origin, full);
        }
    }
    return 0;
}

static int apply_registries(struct crisp_config *cfg, yajl_val v, const char *origin, crisp_error_t **err)
{
    if (!YAJL_IS_OBJECT(v))
        return wrong_type(origin, "registries", "an object keyed by registry host", v, err);
    for (size_t i = 0; i < v->u.object.len; i++)
        if (apply_registry(cfg, v->u.object.keys[i], v->u.object.values[i], origin, err) < 0)
            return -1;
    return 0;
}

static int apply_object(struct crisp_config *cfg, yajl_val obj, const char *prefix, const char *origin,
                        crisp_error_t **err)
{
    for (size_t i = 0; i < obj->u.object.len; i++) {
        yajl_val v = obj->u.object.values[i];
        _cleanup_free_ char *name = NULL;
        if (asprintf(&name, "%s%s%s", prefix, *prefix ? "." : "", obj->u.object.keys[i]) < 0)
            return crisp_error_oom(err);
        const struct key_spec *spec = key_find(name);
        int r;
        if (spec)
            r = apply_json(cfg, spec, v, origin, err);
        else if (strcmp(name, "registries") == 0)
            r = apply_registries(cfg, v, origin, err);
        else if (is_section(name) && YAJL_IS_OBJECT(v))
            r = apply_object(cfg, v, name, origin, err);
        else if (is_section(name))
            r = wrong_type(origin, name, "an object", v, err);
        else
            r = crisp_error_make(err, EINVAL, "%s: unknown key \"%s\"", origin, name);
        if (r < 0)
            return r;
    }
    return 0;
}

static int apply_file(struct crisp_config *cfg, const char *path, bool required, crisp_error_t **err)
{
    _cleanup_free_ char *text = NULL;
    crisp_error_t *read_err = NULL;
    if (file_read_bounded(path, CONFIG_MAX_FILE_SIZE, &text, NULL, &read_err) < 0) {
        if (read_err->status == ENOENT && !required) {
            crisp_error_free(read_err);
            return 0;
        }
        *err = read_err;
        return crisp_error_wrap(err, "config");
    }
    char errbuf[512] = "";
    yajl_val root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    if (!root) {
        errbuf[strcspn(errbuf, "\n")] = '\0';
        return crisp_error_make(err, EINVAL, "%s: invalid JSON: %s", path, errbuf);
    }
    int r = YAJL_IS_OBJECT(root)
                ? apply_object(cfg, root, "", path, err)
                : crisp_error_make(err, EINVAL, "%s: expected a JSON object at the top, got %s", path,
                                   json_type_name(root));
    yajl_tree_free(root);
    return r;
}

static int is_json_dropin(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

static int apply_dropins(struct crisp_config *cfg, const char *main_path, crisp_error_t **err)
{
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s.d", main_path) < 0)
        return crisp_error_oom(err);
    _cleanup_strv_ char **names = NULL;
    if (dir_list_sorted(dir, is_json_dropin, &names, err) < 0)
        return crisp_error_wrap(err, "config");
    for (char **name = names; *name; name++) {
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, *name) < 0)
            return crisp_error_oom(err);
        if (apply_file(cfg, path, true, err) < 0)
            return -1;
    }
    return 0;
}

static int apply_overrides(struct crisp_config *cfg, const struct config_sources *src, crisp_error_t **err)
{
    for (size_t i = 0; i < src->n_overrides; i++) {
        const struct config_override *o = &src->overrides[i];
        const struct key_spec *spec = key_find(o->key);
        if (!spec)
            return crisp_error_make(err, EINVAL, "%s: unknown key \"%s\"", o->origin, o->key);
        if (apply_text(cfg, spec, o->value, o->origin, err) < 0)
            return -1;
    }
    return 0;
}

int config_load(const struct config_sources *src, struct crisp_config **ret_cfg, crisp_error_t **err)
{
    _cleanup_(config_freep) struct crisp_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg || config_set_defaults(cfg) < 0)
        return crisp_error_oom_in(err, "config");
    const char *path = src->path ? src->path : CONFIG_DEFAULT_PATH;
    if (apply_file(cfg, path, src->path_required, err) < 0 || apply_dropins(cfg, path, err) < 0 ||
        apply_overrides(cfg, src, err) < 0)
        return -1;
    *ret_cfg = TAKE_PTR(cfg);
    return 0;
}

void config_free(struct crisp_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        if (keys[i].type == KEY_PATH_LIST)
            strv_free(*MEMBER(cfg, &keys[i], char **));
        else if (keys[i].type != KEY_ENUM && keys[i].type != KEY_INT)
            free(*MEMBER(cfg, &keys[i], char *));
    }
    for (size_t i = 0; i < cfg->n_registries; i++) {
        free(cfg->registries[i].host);
        strv_free(cfg->registries[i].mirrors);
    }
    free(cfg->registries);
    free(cfg);
}

void config_freep(struct crisp_config **cfg)
{
    config_free(*cfg);
}

const struct config_registry *config_registry_find(const struct crisp_config *cfg, const char *host)
{
    for (size_t i = 0; i < cfg->n_registries; i++)
        if (strcmp(cfg->registries[i].host, host) == 0)
            return &cfg->registries[i];
    return NULL;
}

const char *cgroup_driver_name(enum cgroup_driver d)
{
    return cgroup_drivers[d];
}

static void gen_strv(yajl_gen g, char *const *v)
{
    yajl_gen_array_open(g);
    for (; v && *v; v++)
        json_gen_str(g, *v);
    yajl_gen_array_close(g);
}

static void gen_key_value(yajl_gen g, const struct crisp_config *cfg, const struct key_spec *spec,
                          const char *leaf)
{
    json_gen_str(g, leaf);
    switch (spec->type) {
    case KEY_ENUM:
        json_gen_str(g, spec->choices[*MEMBER(cfg, spec, int)]);
        break;
    case KEY_INT:
        yajl_gen_integer(g, *MEMBER(cfg, spec, int));
        break;
    case KEY_PATH_LIST:
        gen_strv(g, *MEMBER(cfg, spec, char **));
        break;
    default:
        json_gen_str(g, *MEMBER(cfg, spec, char *));
    }
}

static void gen_registries(yajl_gen g, const struct crisp_config *cfg)
{
    json_gen_str(g, "registries");
    yajl_gen_map_open(g);
    for (size_t i = 0; i < cfg->n_registries; i++) {
        json_gen_str(g, cfg->registries[i].host);
        yajl_gen_map_open(g);
        json_gen_str(g, "mirrors");
        gen_strv(g, cfg->registries[i].mirrors);
        json_gen_str(g, "insecure");
        yajl_gen_bool(g, cfg->registries[i].insecure);
        yajl_gen_map_close(g);
    }
    yajl_gen_map_close(g);
}

/* Keys of one section are adjacent in the table, so nesting needs only the previous key's section. */
static void gen_keys(yajl_gen g, const struct crisp_config *cfg)
{
    const char *open_section = NULL;
    size_t open_len = 0;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *dot = strchr(keys[i].name, '.');
        size_t sec_len = dot ? (size_t)(dot - keys[i].name) : 0;
        bool same = open_section && sec_len == open_len && strncmp(open_section, keys[i].name, sec_len) == 0;
        if (open_section && !same) {
            yajl_gen_map_close(g);
            open_section = NULL;
        }
        if (dot && !open_section) {
            yajl_gen_string(g, (const unsigned char *)keys[i].name, sec_len);
            yajl_gen_map_open(g);
            open_section = keys[i].name;
            open_len = sec_len;
        }
        gen_key_value(g, cfg, &keys[i], dot ? dot + 1 : keys[i].name);
    }
    if (open_section)
        yajl_gen_map_close(g);
}

char *config_to_json(const struct crisp_config *cfg, bool pretty)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (!g)
        return NULL;
    yajl_gen_config(g, yajl_gen_beautify, pretty ? 1 : 0);
    yajl_gen_map_open(g);
    gen_keys(g, cfg);
    gen_registries(g, cfg);
    yajl_gen_map_close(g);
    return json_gen_take(g);
}
