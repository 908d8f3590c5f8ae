/* The files every container of a pod shares: /etc/hostname, /etc/hosts and /etc/resolv.conf. */
#ifndef CRISP_RUNTIME_POD_FILES_H
#define CRISP_RUNTIME_POD_FILES_H

#include "common/error.h"

/* Kubernetes' limits on the search list (MaxDNSSearchPaths, MaxDNSSearchListChars). */
#define RT_POD_DNS_SEARCH_MAX 32
#define RT_POD_DNS_SEARCH_CHARS_MAX 2048
#define RT_POD_HOST_RESOLV_CONF_MAX (64 * 1024)
/* The kernel's UTS name length (HOST_NAME_MAX). */
#define RT_POD_HOSTNAME_MAX 64

/* CRI's DNSConfig; each list NULL-terminated or NULL. All empty: the pod uses the host's file. */
struct rt_pod_dns {
    char *const *servers;
    char *const *searches;
    char *const *options;
};

/* Checks what rt_pod_files_write would refuse, before anything is made: the hostname ("" or NULL:
 * the host's) and the DNS settings. */
int rt_pod_files_check(const char *hostname, const struct rt_pod_dns *dns, crisp_error_t **err);

/* Writes dir/hostname, dir/hosts (kubelet's managed format, with a line for each pod IP) and
 * dir/resolv.conf, each atomically. dns may be NULL; ips may be NULL. Bad values fail with EINVAL. */
int rt_pod_files_write(const char *dir, const char *hostname, const struct rt_pod_dns *dns,
                       const char *host_resolv_conf, char *const *ips, crisp_error_t **err);

#endif
