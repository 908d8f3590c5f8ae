#define _GNU_SOURCE
#include "runtime/cni/cni_config.h"

#include "common/cleanup.h"
#include "common/file.h"
#include "common/json.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

static int is_cni_file(const struct dirent *d)
{
    return d->d_name[0] != '.' && (has_suffix(d->d_name, ".conflist") || has_suffix(d->d_name, ".conf") ||
                                   has_suffix(d->d_name, ".json"));
}

/* A network list needs a name and at least one plugin with a type; a single network needs a type. */
static int check_network(const char *path, yajl_val root, crisp_error_t **err)
{
    if (!YAJL_IS_OBJECT(root))
        return crisp_error_make(err, EINVAL, "%s: expected a JSON object", path);
    if (!json_get_str(root, "cniVersion"))
        return crisp_error_make(err, EINVAL, "%s: no \"cniVersion\"", path);
    const char *plugins_path[] = {"plugins", NULL};
    yajl_val plugins = yajl_tree_get(root, plugins_path, yajl_t_any);
    if (!plugins)
        return json_get_str(root, "type") ? 0 : crisp_error_make(err, EINVAL, "%s: no \"type\"", path);
    if (!YAJL_IS_ARRAY(plugins) || plugins->u.array.len == 0)
        return crisp_error_make(err, EINVAL, "%s: \"plugins\" must be a non-empty list", path);
    for (size_t i = 0; i < plugins->u.array.len; i++)
        if (!json_get_str(plugins->u.array.values[i], "type"))
            return crisp_error_make(err, EINVAL, "%s: plugin %zu has no \"type\"", path, i);
    return 0;
}

int rt_cni_config_parse(const char *origin, const char *text, yajl_val *ret_root, crisp_error_t **err)
{
    if (strlen(text) > RT_CNI_CONFIG_MAX_SIZE)
        return crisp_error_make(err, EFBIG, "%s: larger than %d bytes", origin, RT_CNI_CONFIG_MAX_SIZE);
    if (!json_nesting_ok(text, RT_CNI_JSON_MAX_DEPTH))
        return crisp_error_make(err, EINVAL, "%s: JSON nested too deeply", origin);
    char errbuf[256] = "";
    yajl_val root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    if (!root) {
        errbuf[strcspn(errbuf, "\n")] = '\0';
        return crisp_error_make(err, EINVAL, "%s: invalid JSON: %s", origin, errbuf);
    }
    if (check_network(origin, root, err) < 0) {
        yajl_tree_free(root);
        return -1;
    }
    *ret_root = root;
    return 0;
}

/* The file is stat()ed before it is read, so a change racing the read shows up as a newer stamp. */
static int load_file(const char *path, yajl_val *ret_root, char **ret_text, struct stat *ret_st,
                     crisp_error_t **err)
{
    if (ret_st && stat(path, ret_st) < 0)
        return crisp_error_errno(err, "stat %s", path);
    _cleanup_free_ char *text = NULL;
    if (file_read_bounded(path, RT_CNI_CONFIG_MAX_SIZE, &text, NULL, err) < 0 ||
        rt_cni_config_parse(path, text, ret_root, err) < 0)
        return -1;
    if (ret_text)
        *ret_text = TAKE_PTR(text);
    return 0;
}

int rt_cni_config_load(const char *conf_dir, char **ret_path, yajl_val *ret_root, char **ret_text,
                       struct stat *ret_st, crisp_error_t **err)
{
    _cleanup_strv_ char **names = NULL;
    if (dir_list_sorted(conf_dir, is_cni_file, &names, err) < 0)
        return crisp_error_wrap(err, "CNI config");
    if (!names[0])
        return crisp_error_make(err, ENOENT, "no network config found in %s", conf_dir);
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", conf_dir, names[0]) < 0)
        return crisp_error_oom(err);
    if (load_file(path, ret_root, ret_text, ret_st, err) < 0)
        return -1;
    *ret_path = TAKE_PTR(path);
    return 0;
}

int rt_cni_config_find(const char *conf_dir, char **ret_path, crisp_error_t **err)
{
    yajl_val root = NULL;
    if (rt_cni_config_load(conf_dir, ret_path, &root, NULL, NULL, err) < 0)
        return -1;
    yajl_tree_free(root);
    return 0;
}
