/* Port-forward's connection: a TCP socket made inside a pod's network namespace, connected to the
 * pod's localhost. */
#ifndef CRISP_RUNTIME_NETNS_DIAL_H
#define CRISP_RUNTIME_NETNS_DIAL_H

#include "common/error.h"

#include <stdint.h>

/* Connects to 127.0.0.1:port, then [::1]:port, in the network namespace pinned at netns_path ("" for
 * the host's). The socket is returned non-blocking and close-on-exec. A refused or failed connection
 * is an error whose message says so (status ECONNREFUSED and the like). */
int rt_netns_dial(const char *netns_path, uint16_t port, int *ret_fd, crisp_error_t **err);

#endif
