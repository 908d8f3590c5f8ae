#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/config.h"
#include "unit.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

static char dir[] = "/tmp/crisp-unit-config-XXXXXX";

static char *write_file(const char *name, const char *text)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static struct crisp_config *load(const char *path, const struct config_override *o, size_t n, char **ret_err)
{
    struct config_sources src = {.path = path, .path_required = true, .overrides = o, .n_overrides = n};
    struct crisp_config *cfg = NULL;
    crisp_error_t *err = NULL;
    if (config_load(&src, &cfg, &err) < 0) {
        *ret_err = strdup(err->msg);
        crisp_error_free(err);
        return NULL;
    }
    *ret_err = NULL;
    return cfg;
}

static void test_defaults(void)
{
    _cleanup_free_ char *path = write_file("empty.json", "{}");
    _cleanup_free_ char *err = NULL;
    _cleanup_(config_freep) struct crisp_config *cfg = load(path, NULL, 0, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_STR(cfg->listen, "/run/crisp/crisp.sock");
    CHECK_STR(cfg->root, "/var/lib/crisp");
    CHECK_STR(cfg->state, "/run/crisp");
    CHECK(cfg->log_level == LOG_LEVEL_INFO);
    CHECK(cfg->cgroup_driver == CGROUP_DRIVER_CGROUPFS);
    CHECK_STR(cfg->cni_conf_dir, "/etc/cni/net.d");
    CHECK_STR(cfg->cni_bin_dirs[0], "/opt/cni/bin");
    CHECK_STR(cfg->cni_bin_dirs[1], "/usr/lib/cni");
    CHECK(cfg->cni_bin_dirs[2] == NULL);
    CHECK_STR(cfg->streaming_address, "127.0.0.1");
    CHECK(cfg->streaming_port == 0);
    CHECK(cfg->n_registries == 0);
}

static void test_dropins_merge_in_lexical_order(void)
{
    _cleanup_free_ char *path = write_file(
        "main.json", "{ /* comment */ \"registries\": {\"a.io\": {\"mirrors\": "
                     "[\"https://m1\", \"http://127.0.0.1:5000/v\"]}}, \"root\": \"/r\"}");
    char *d = NULL;
    if (asprintf(&d, "%s.d", path) < 0)
        abort();
    mkdir(d, 0700);
    free(write_file("main.json.d/b.json",
                    "{\"registries\": {\"a.io\": {\"insecure\": true}}, \"root\": \"/b\"}"));
    free(write_file("main.json.d/a.json", "{\"root\": \"/a\", \"registries\": {\"b.io:5000\": {}}}"));
    free(d);
    struct config_override o[] = {{"log_level", "debug", "--log-level"}};
    _cleanup_free_ char *err = NULL;
    _cleanup_(config_freep) struct crisp_config *cfg = load(path, o, 1, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK_STR(cfg->root, "/b");
    CHECK(cfg->log_level == LOG_LEVEL_DEBUG);
    const struct config_registry *a = config_registry_find(cfg, "a.io");
    CHECK(a && a->insecure && a->mirrors[0] && a->mirrors[1] && !a->mirrors[2]);
    CHECK(config_registry_find(cfg, "b.io:5000") != NULL);
    CHECK(config_registry_find(cfg, "c.io") == NULL);
}

static void expect_error(const char *text, const char *needle)
{
    _cleanup_free_ char *path = write_file("bad.json", text);
    _cleanup_free_ char *err = NULL;
    struct crisp_config *cfg = load(path, NULL, 0, &err);
    CHECK(cfg == NULL);
    config_free(cfg);
    CHECK_CONTAINS(err, needle);
    CHECK_CONTAINS(err, path);
}

static void test_errors(void)
{
    expect_error("{", "invalid JSON");
    expect_error("\"x\"", "expected a JSON object at the top, got a string");
    expect_error("{\"nope\": 1}", "unknown key \"nope\"");
    expect_error("{\"streaming\": {\"nope\": 1}}", "unknown key \"streaming.nope\"");
    expect_error("{\"log_format\": \"yaml\"}", "expected one of text, json, got \"yaml\"");
    expect_error("{\"streaming\": {\"port\": 1.5}}", "expected an integer, got a number");
    expect_error("{\"streaming\": {\"port\": 99999999999999999999}}", "expected an integer, got a number");
    expect_error("{\"cni\": {\"bin_dirs\": [1]}}", "expected a list of absolute paths, got a number");
    expect_error("{\"listen\": \"/x/../y.sock\"}", "absolute unix socket path");
    expect_error("{\"registries\": {\"h\": {\"mirrors\": [\"http://a b\"]}}}", "registries.h.mirrors");
}

static void test_override_errors(void)
{
    _cleanup_free_ char *path = write_file("ok.json", "{}");
    struct config_override o[] = {{"state", "relative", "--state"}};
    _cleanup_free_ char *err = NULL;
    struct crisp_config *cfg = load(path, o, 1, &err);
    CHECK(cfg == NULL);
    CHECK_CONTAINS(err, "--state: key \"state\": expected an absolute path");
}

static void test_json_round_trip(void)
{
    _cleanup_free_ char *path = write_file("rt.json", "{\"registries\": {\"x.io\": {\"insecure\": true}}}");
    _cleanup_free_ char *err = NULL;
    _cleanup_(config_freep) struct crisp_config *cfg = load(path, NULL, 0, &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    _cleanup_free_ char *json = config_to_json(cfg, false);
    yajl_val root = yajl_tree_parse(json, NULL, 0);
    CHECK(root != NULL);
    const char *port[] = {"streaming", "port", NULL};
    const char *insecure[] = {"registries", "x.io", "insecure", NULL};
    const char *bins[] = {"cni", "bin_dirs", NULL};
    CHECK(YAJL_IS_INTEGER(yajl_tree_get(root, port, yajl_t_number)));
    CHECK(YAJL_IS_TRUE(yajl_tree_get(root, insecure, yajl_t_any)));
    CHECK(YAJL_IS_ARRAY(yajl_tree_get(root, bins, yajl_t_array)));
    yajl_tree_free(root);
    /* The printed config loads back to the same JSON. */
    _cleanup_free_ char *again_path = write_file("again.json", json);
    _cleanup_free_ char *err2 = NULL;
    _cleanup_(config_freep) struct crisp_config *again = load(again_path, NULL, 0, &err2);
    _cleanup_free_ char *json2 = again ? config_to_json(again, false) : NULL;
    CHECK_STR(json2, json);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_defaults();
    test_dropins_merge_in_lexical_order();
    test_errors();
    test_override_errors();
    test_json_round_trip();
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf %s", dir) >= 0 && system(cmd) != 0)
        unit_failed++;
    free(cmd);
    return unit_report("test_config");
}
