#include "server/handlers.h"

#include "common/cleanup.h"

#define RUNTIME "runtime.v1.RuntimeService"

const struct srv_handler srv_handlers[] = {
    {RUNTIME, "Version", srv_runtime_version, NULL},
    {RUNTIME, "Status", srv_runtime_status, NULL},
    {RUNTIME, "RuntimeConfig", srv_runtime_config, NULL},
    {RUNTIME, "UpdateRuntimeConfig", srv_runtime_update_config, NULL},
    {RUNTIME, "GetContainerEvents", NULL, srv_container_events_stream},
};

const size_t srv_n_handlers = ARRAY_SIZE(srv_handlers);
