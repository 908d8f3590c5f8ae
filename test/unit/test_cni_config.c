#define _GNU_SOURCE
#include "common/cleanup.h"
#include "runtime/cni/cni_config.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>

static char dir[] = "/tmp/crisp-unit-cni-XXXXXX";

static void put(const char *name, const char *text)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static char *find(char **ret_msg)
{
    char *path = NULL;
    crisp_error_t *err = NULL;
    *ret_msg = NULL;
    if (rt_cni_config_find(dir, &path, &err) < 0) {
        *ret_msg = strdup(err->msg);
        crisp_error_free(err);
    }
    return path;
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    _cleanup_free_ char *msg = NULL;
    CHECK(find(&msg) == NULL);
    CHECK_CONTAINS(msg, "no network config found in");
    free(TAKE_PTR(msg));
    put("README", "not a config");
    put(".hidden.conf", "{}");
    CHECK(find(&msg) == NULL);
    free(TAKE_PTR(msg));
    put("20-b.conf", "{\"cniVersion\": \"0.4.0\", \"name\": \"b\", \"type\": \"bridge\"}");
    put("10-a.conflist", "{\"cniVersion\": \"1.0.0\", \"name\": \"a\", \"plugins\": [{\"name\": \"x\"}]}");
    CHECK(find(&msg) == NULL);
    CHECK_CONTAINS(msg, "10-a.conflist: plugin 0 has no \"type\"");
    free(TAKE_PTR(msg));
    put("10-a.conflist",
        "{\"cniVersion\": \"1.0.0\", \"name\": \"a\", \"plugins\": [{\"type\": \"bridge\"}]}");
    _cleanup_free_ char *path = find(&msg);
    CHECK_CONTAINS(path, "/10-a.conflist");
    put("05-broken.json", "{\"cniVersion\": ");
    free(find(&msg));
    CHECK_CONTAINS(msg, "05-broken.json: invalid JSON");
    free(TAKE_PTR(msg));
    put("05-broken.json", "{\"name\": \"n\", \"type\": \"bridge\"}");
    free(find(&msg));
    CHECK_CONTAINS(msg, "no \"cniVersion\"");
    _cleanup_free_ char *cmd = NULL;
    CHECK(asprintf(&cmd, "rm -rf %s", dir) > 0 && system(cmd) == 0);
    return unit_report("test_cni_config");
}
