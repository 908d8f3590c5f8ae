/* A pod's network counters: the interfaces of its network namespace (all but lo), read from
 * /proc/thread-self/net/dev by a short-lived thread that enters the namespace, and the name of the
 * interface holding the default route. crispd's own threads never change namespace. */
#ifndef CRISP_RUNTIME_STATS_NETDEV_H
#define CRISP_RUNTIME_STATS_NETDEV_H

#include "common/error.h"

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A pod has a handful of interfaces; more (multus fan-out) are counted in n_seen but not kept. */
#define RT_STATS_NETDEV_MAX 32

struct rt_stats_netdev_iface {
    char name[IFNAMSIZ];
    uint64_t rx_bytes, rx_packets, rx_errors, rx_drops;
    uint64_t tx_bytes, tx_packets, tx_errors, tx_drops;
};

struct rt_stats_netdev {
    struct rt_stats_netdev_iface ifaces[RT_STATS_NETDEV_MAX];
    size_t n;                     /* kept in ifaces, in the kernel's order */
    size_t n_seen;                /* listed, lo excluded; > n when some were left out (a /proc/net/dev
                                   * over 64 KiB, ~500 interfaces, is read up to its last whole line) */
    char default_iface[IFNAMSIZ]; /* IPv4 default route's, else IPv6's, else "eth0" as CNI names it */
};

/* Reads the namespace pinned at netns_path ("" reads the calling process's own). */
int rt_stats_netdev_read(const char *netns_path, struct rt_stats_netdev *ret, crisp_error_t **err);

/* The parsers behind it, for tests: text is /proc/net/dev's; route and ipv6_route those of
 * /proc/net/route and /proc/net/ipv6_route (either may be NULL). */
int rt_stats_netdev_parse(const char *text, struct rt_stats_netdev *ret, crisp_error_t **err);
int rt_stats_netdev_default_route(const char *route, const char *ipv6_route, char ret_name[IFNAMSIZ],
                                  crisp_error_t **err);

#endif
