/* Address syntax checks for values that reach crisp from outside. */
#ifndef CRISP_NETADDR_H
#define CRISP_NETADDR_H

#include <stdbool.h>

/* "10.244.0.0/24" or "fd00::/64": an address and a prefix length valid for its family. */
bool netaddr_cidr_valid(const char *cidr);

/* One or more CIDRs separated by commas (dual-stack pod CIDRs). */
bool netaddr_cidr_list_valid(const char *list);

#endif
