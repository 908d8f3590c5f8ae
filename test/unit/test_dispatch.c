#include "server/dispatch.h"
#include "server/handlers.h"
#include "server/status.h"
#include "unit.h"

#include <errno.h>

static void test_every_method_known(void)
{
    crisp_error_t *err = NULL;
    CHECK(srv_dispatch_init(srv_handlers, srv_n_handlers, &err) == 0);
    size_t n = 0;
    const struct srv_method *all = srv_dispatch_methods(&n);
    CHECK(n == 43);
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(all[i - 1].path, all[i].path) < 0);
    for (size_t i = 0; i < n; i++)
        CHECK(srv_dispatch_find(all[i].path, strlen(all[i].path)) == &all[i]);
    const char *v = "/runtime.v1.RuntimeService/Version";
    const struct srv_method *m = srv_dispatch_find(v, strlen(v));
    CHECK(m && m->unary == srv_runtime_version && m->input && m->output);
    const char *events = "/runtime.v1.RuntimeService/GetContainerEvents";
    m = srv_dispatch_find(events, strlen(events));
    CHECK(m && m->stream && !m->unary);
    const char *pull = "/runtime.v1.ImageService/PullImage";
    m = srv_dispatch_find(pull, strlen(pull));
    CHECK(m && m->unary == srv_image_pull);
    const char *run = "/runtime.v1.RuntimeService/CheckpointContainer";
    m = srv_dispatch_find(run, strlen(run));
    CHECK(m && !m->unary && !m->stream);
    CHECK(srv_dispatch_find("/runtime.v1.RuntimeService/Nope", 30) == NULL);
    /* A length bounds the lookup: a prefix of a real path is not that path. */
    CHECK(srv_dispatch_find(v, strlen(v) - 1) == NULL);
    srv_dispatch_fini();
}

static void test_unknown_handler_refused(void)
{
    const struct srv_handler bad[] = {{"runtime.v1.RuntimeService", "Frobnicate", srv_runtime_version, NULL}};
    crisp_error_t *err = NULL;
    CHECK(srv_dispatch_init(bad, 1, &err) < 0);
    CHECK(err && strstr(err->msg, "Frobnicate"));
    crisp_error_free(err);
    srv_dispatch_fini();
}

static void test_status_mapping(void)
{
    CHECK(srv_status_from_errno(ENOENT) == GRPC_STATUS_NOT_FOUND);
    CHECK(srv_status_from_errno(EINVAL) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(srv_status_from_errno(EEXIST) == GRPC_STATUS_ALREADY_EXISTS);
    CHECK(srv_status_from_errno(ENOSYS) == GRPC_STATUS_UNIMPLEMENTED);
    CHECK(srv_status_from_errno(CRISP_E_UNAUTHENTICATED) == GRPC_STATUS_UNAUTHENTICATED);
    CHECK(srv_status_from_errno(CRISP_E_UNAVAILABLE) == GRPC_STATUS_UNAVAILABLE);
    CHECK(srv_status_from_errno(EIO) == GRPC_STATUS_INTERNAL);
    CHECK_STR(srv_status_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
    CHECK_STR(srv_status_name((grpc_status_code)99), "UNKNOWN");
}

int main(void)
{
    test_every_method_known();
    test_unknown_handler_refused();
    test_status_mapping();
    return unit_report("test_dispatch");
}
