/* Finding the node's CNI network configuration: the first .conflist/.conf/.json in lexical order in
 * the configured directory (as kubelet's other runtimes choose it). */
#ifndef CRISP_RUNTIME_CNI_CONFIG_H
#define CRISP_RUNTIME_CNI_CONFIG_H

#include "common/error.h"

#define RT_CNI_CONFIG_MAX_SIZE (1024 * 1024)

/* Finds and checks the network config; on success *ret_path names the chosen file (caller frees). A
 * missing or invalid config is an error whose message says why (shown as NetworkReady's message). */
int rt_cni_config_find(const char *conf_dir, char **ret_path, crisp_error_t **err);

#endif
