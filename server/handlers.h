/* Every RPC handler crisp implements, and the table that names them. */
#ifndef CRISP_SERVER_HANDLERS_H
#define CRISP_SERVER_HANDLERS_H

#include "server/dispatch.h"

extern const struct srv_handler srv_handlers[];
extern const size_t srv_n_handlers;

int srv_runtime_version(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                        crisp_error_t **err);
int srv_runtime_status(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err);
int srv_runtime_config(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err);
int srv_runtime_update_config(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                              crisp_error_t **err);
int srv_image_pull(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                   crisp_error_t **err);
int srv_image_status(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                     crisp_error_t **err);
int srv_image_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                   crisp_error_t **err);
int srv_image_remove(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                     crisp_error_t **err);
int srv_image_fs_info(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                      crisp_error_t **err);
int srv_pod_run(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                crisp_error_t **err);
int srv_pod_stop(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                 crisp_error_t **err);
int srv_pod_remove(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                   crisp_error_t **err);
int srv_pod_status(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                   crisp_error_t **err);
int srv_pod_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                 crisp_error_t **err);
int srv_container_create(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err);
int srv_container_start(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                        crisp_error_t **err);
int srv_container_stop(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err);
int srv_container_remove(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err);
int srv_container_status(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err);
int srv_container_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err);
int srv_container_exec_sync(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                            crisp_error_t **err);
int srv_container_update(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err);
int srv_container_reopen_log(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                             crisp_error_t **err);
/* streaming_rpc.c */
int srv_container_exec(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err);
int srv_container_attach(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err);
int srv_pod_port_forward(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err);
int srv_container_events_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err);
int srv_pod_update_resources(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                             crisp_error_t **err);
/* stats.c */
int srv_container_stats(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                        crisp_error_t **err);
int srv_container_stats_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                             crisp_error_t **err);
int srv_container_stats_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err);
int srv_pod_stats(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                  crisp_error_t **err);
int srv_pod_stats_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                       crisp_error_t **err);
int srv_pod_stats_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err);
/* pod_metrics.c */
int srv_metric_descriptors_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                                crisp_error_t **err);
int srv_pod_metrics_list(struct srv_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                         crisp_error_t **err);
int srv_pod_metrics_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err);
/* stream_lists.c */
int srv_pod_list_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err);
int srv_container_list_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err);
int srv_image_list_stream(struct srv_ctx *ctx, const ProtobufCMessage *req, crisp_error_t **err);

#endif
