/* Running CNI plugins (the CNI spec, versions 0.3.0 to 1.1.0) for a pod's network namespace: the
 * network list from the config directory, ADD/CHECK/DEL through each plugin with prevResult chaining,
 * runtimeConfig capabilities, and the loopback plugin for "lo". Plugins are run with posix_spawn: crispd
 * never does namespace work itself. */
#ifndef CRISP_RUNTIME_CNI_H
#define CRISP_RUNTIME_CNI_H

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

#define RT_CNI_PLUGIN_TIMEOUT_MS 60000
#define RT_CNI_OUTPUT_MAX (1024 * 1024)

struct rt_cni_port_mapping {
    int host_port, container_port;
    const char *protocol; /* "tcp", "udp", "sctp" */
    const char *host_ip;  /* "" for any */
};

struct rt_cni_request {
    /* The network list's text (rt_cni_config_text) to run instead of the config directory's current
     * one; NULL or "": the current one. */
    const char *config;
    const char *container_id; /* the pod sandbox id */
    const char *netns;        /* path of the pinned network namespace */
    const char *ifname;       /* "eth0" */
    const char *pod_name, *pod_namespace, *pod_uid;
    const struct rt_cni_port_mapping *port_mappings;
    size_t n_port_mappings;
    /* runtimeConfig.dns */
    char *const *dns_servers, *const *dns_searches, *const *dns_options;
    const char *cgroup_path;           /* runtimeConfig.cgroupPath */
    int64_t ingress_rate, egress_rate; /* bandwidth, bits/s; 0: none */
};

struct rt_cni_result {
    char **ips;     /* NULL-terminated addresses without prefix, IPv4 first */
    char *raw_json; /* the final plugin's result as given */
};

struct rt_cni;

/* Loads the network list: the first .conflist/.conf/.json of conf_dir in lexical order; plugins are
 * looked up in bin_dirs (NULL-terminated). Re-read when the directory changes (cheap stat check). */
int rt_cni_new(const char *conf_dir, char *const *bin_dirs, struct rt_cni **ret, crisp_error_t **err);
void rt_cni_free(struct rt_cni *cni);
/* Per-plugin timeout (default RT_CNI_PLUGIN_TIMEOUT_MS); for tests. */
void rt_cni_set_timeout(struct rt_cni *cni, int timeout_ms);

/* Whether a valid network config is loaded (re-checking the directory); message says why not. */
int rt_cni_ready(struct rt_cni *cni, crisp_error_t **err);

/* The current network list's text, to save with a pod before its ADD (req->config): its DEL then
 * runs what its ADD ran, even after the directory changed or crispd restarted. */
int rt_cni_config_text(struct rt_cni *cni, char **ret_text, crisp_error_t **err);

/* loopback (lo up) and then the network list's ADD; the plugin's own message on failure. On a failure
 * midway, DEL is run for what was added so nothing is left. */
int rt_cni_add(struct rt_cni *cni, const struct rt_cni_request *req, struct rt_cni_result *ret,
               crisp_error_t **err);
int rt_cni_check(struct rt_cni *cni, const struct rt_cni_request *req, const char *prev_result_json,
                 crisp_error_t **err);
/* DEL in reverse plugin order; a netns or interface that is already gone is fine. prev_result_json
 * (from ADD) may be NULL. */
int rt_cni_del(struct rt_cni *cni, const struct rt_cni_request *req, const char *prev_result_json,
               crisp_error_t **err);
void rt_cni_result_fini(struct rt_cni_result *r);

#endif
