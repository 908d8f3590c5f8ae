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
    {RUNTIME, "StreamPodSandboxes", NULL, srv_pod_list_stream},
    {RUNTIME, "UpdatePodSandboxResources", srv_pod_update_resources, NULL},
    {RUNTIME, "CreateContainer", srv_container_create, NULL},
    {RUNTIME, "StartContainer", srv_container_start, NULL},
    {RUNTIME, "StopContainer", srv_container_stop, NULL},
    {RUNTIME, "RemoveContainer", srv_container_remove, NULL},
    {RUNTIME, "ContainerStatus", srv_container_status, NULL},
    {RUNTIME, "ListContainers", srv_container_list, NULL},
    {RUNTIME, "StreamContainers", NULL, srv_container_list_stream},
    {RUNTIME, "ExecSync", srv_container_exec_sync, NULL},
    {RUNTIME, "Exec", srv_container_exec, NULL},
    {RUNTIME, "Attach", srv_container_attach, NULL},
    {RUNTIME, "PortForward", srv_pod_port_forward, NULL},
    {RUNTIME, "UpdateContainerResources", srv_container_update, NULL},
    {RUNTIME, "ReopenContainerLog", srv_container_reopen_log, NULL},
    {RUNTIME, "ContainerStats", srv_container_stats, NULL},
    {RUNTIME, "ListContainerStats", srv_container_stats_list, NULL},
    {RUNTIME, "StreamContainerStats", NULL, srv_container_stats_stream},
    {RUNTIME, "PodSandboxStats", srv_pod_stats, NULL},
    {RUNTIME, "ListPodSandboxStats", srv_pod_stats_list, NULL},
    {RUNTIME, "StreamPodSandboxStats", NULL, srv_pod_stats_stream},
    {RUNTIME, "ListMetricDescriptors", srv_metric_descriptors_list, NULL},
    {RUNTIME, "ListPodSandboxMetrics", srv_pod_metrics_list, NULL},
    {RUNTIME, "StreamPodSandboxMetrics", NULL, srv_pod_metrics_stream},
    {IMAGE, "PullImage", srv_image_pull, NULL},
    {IMAGE, "ImageStatus", srv_image_status, NULL},
    {IMAGE, "ListImages", srv_image_list, NULL},
    {IMAGE, "StreamImages", NULL, srv_image_list_stream},
    {IMAGE, "RemoveImage", srv_image_remove, NULL},
    {IMAGE, "ImageFsInfo", srv_image_fs_info, NULL},
};

const size_t srv_n_handlers = ARRAY_SIZE(srv_handlers);
