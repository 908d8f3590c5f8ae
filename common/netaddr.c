#define _GNU_SOURCE
#include "netaddr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

bool netaddr_cidr_valid(const char *cidr)
{
    const char *slash = strchr(cidr, '/');
    if (!slash || slash == cidr || slash - cidr >= INET6_ADDRSTRLEN)
        return false;
    char addr[INET6_ADDRSTRLEN];
    memcpy(addr, cidr, (size_t)(slash - cidr));
    addr[slash - cidr] = '\0';
    unsigned char buf[16];
    int max;
    if (inet_pton(AF_INET, addr, buf) == 1)
        max = 32;
    else if (inet_pton(AF_INET6, addr, buf) == 1)
        max = 128;
    else
        return false;
    const char *digits = slash + 1;
    if (*digits == '\0' || strlen(digits) > 3 || strspn(digits, "0123456789") != strlen(digits))
        return false;
    return atoi(digits) <= max;
}

bool netaddr_cidr_list_valid(const char *list)
{
    if (*list == '\0' || strlen(list) > 1024)
        return false;
    char copy[1025];
    strcpy(copy, list);
    char *save = NULL;
    int count = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), count++)
        if (!netaddr_cidr_valid(tok))
            return false;
    /* strtok_r skips empty fields: reject "a,,b", a leading or a trailing comma ourselves. */
    return count > 0 && list[0] != ',' && list[strlen(list) - 1] != ',' && !strstr(list, ",,");
}
