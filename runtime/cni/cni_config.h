/* Finding the node's CNI network configuration: the first .conflist/.conf/.json in lexical order in
 * the configured directory (as kubelet's other runtimes choose it). */
#ifndef CRISP_RUNTIME_CNI_CONFIG_H
#define CRISP_RUNTIME_CNI_CONFIG_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <yajl/yajl_tree.h>

#define RT_CNI_CONFIG_MAX_SIZE (1024 * 1024)
#define RT_CNI_JSON_MAX_DEPTH 64

/* Finds and checks the network config; on success *ret_path names the chosen file (caller frees). A
 * missing or invalid config is an error whose message says why (shown as NetworkReady's message). */
int rt_cni_config_find(const char *conf_dir, char **ret_path, crisp_error_t **err);

/* Like rt_cni_config_find, and also hands out the parsed file (free with yajl_tree_free), if ret_text
 * is not NULL its text, and if ret_st is not NULL the file's stat taken before it was read. */
int rt_cni_config_load(const char *conf_dir, char **ret_path, yajl_val *ret_root, char **ret_text,
                       struct stat *ret_st, crisp_error_t **err);

/* Parses and checks a network config's text (origin names it in errors): the same checks as a file
 * of the directory gets, for a config saved with a pod. */
int rt_cni_config_parse(const char *origin, const char *text, yajl_val *ret_root, crisp_error_t **err);

#endif
