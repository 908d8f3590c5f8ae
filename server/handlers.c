#include "server/handlers.h"

#include "common/cleanup.h"

#define RUNTIME "runtime.v1.RuntimeService"
#define IMAGE "runtime.v1.ImageService"

const struct srv_handler srv_handlers[] = {
    {RUNTIME, "Version", srv_runtime_version, NULL},
    {RUNTIME, "Status", srv_runtime_status, NULL},
    {RUNTIME, "RuntimeConfig", srv_runtime_config, NULL},
    {RUNTIME, "UpdateRuntimeConfig", srv_runtime_update_config, NULL},
    {RUNTIME, "GetContainerEvents", NULL, srv_container_events_stream},
    {RUNTIME, "RunPodSandbox", srv_pod_run, NULL},
    {RUNTIME, "StopPodSandbox", srv_pod_stop, NULL},
    {RUNTIME, "RemovePodSandbox", srv_pod_remove, NULL},
    {RUNTIME, "PodSandboxStatus", srv_pod_status, NULL},
    {RUNTIME, "ListPodSandbox", srv_pod_list, NULL},
    {IMAGE, "PullImage", srv_image_pull, NULL},
    {IMAGE, "ImageStatus", srv_image_status, NULL},
    {IMAGE, "ListImages", srv_image_list, NULL},
    {IMAGE, "RemoveImage", srv_image_remove, NULL},
    {IMAGE, "ImageFsInfo", srv_image_fs_info, NULL},
};

const size_t srv_n_handlers = ARRAY_SIZE(srv_handlers);
