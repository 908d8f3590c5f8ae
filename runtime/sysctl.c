#define _GNU_SOURCE
#include "runtime/sysctl.h"

#include <errno.h>
#include <string.h>

enum sysctl_ns { SYSCTL_NS_NONE, SYSCTL_NS_NET, SYSCTL_NS_IPC };

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* kubelet accepts "net/ipv4/conf/eth0.100/forwarding": when the first separator is '/', '/' and '.'
 * swap roles, so the dotted form is "net.ipv4.conf.eth0/100.forwarding" (as runc reads it). */
static void normalize(const char *key, char *buf)
{
    size_t first = strcspn(key, "./");
    bool slashes = key[first] == '/';
    size_t i = 0;
    for (; key[i]; i++)
        buf[i] = !slashes ? key[i] : key[i] == '/' ? '.' : key[i] == '.' ? '/' : key[i];
    buf[i] = '\0';
}

/* Non-empty components of [a-z0-9_-] (and '/' inside one, from an interface name), separated by '.'. */
static bool key_syntax_valid(const char *dotted)
{
    static const char charset[] = "abcdefghijklmnopqrstuvwxyz0123456789_-/";
    for (const char *c = dotted;; c++) {
        size_t len = strcspn(c, ".");
        if (len == 0 || strspn(c, charset) < len || c[0] == '/' || c[len - 1] == '/' ||
            memmem(c, len, "//", 2))
            return false;
        c += len;
        if (*c == '\0')
            return true;
    }
}

static enum sysctl_ns namespace_of(const char *dotted)
{
    if (has_prefix(dotted, "net."))
        return SYSCTL_NS_NET;
    if (has_prefix(dotted, "kernel.shm") || has_prefix(dotted, "kernel.msg") ||
        strcmp(dotted, "kernel.sem") == 0 || has_prefix(dotted, "fs.mqueue."))
        return SYSCTL_NS_IPC;
    return SYSCTL_NS_NONE;
}

static int check_syntax(const char *key, const char *value, char *dotted, crisp_error_t **err)
{
    if (strlen(key) > RT_SYSCTL_KEY_MAX)
        return crisp_error_make(err, EINVAL, "sysctl name is longer than %d bytes", RT_SYSCTL_KEY_MAX);
    normalize(key, dotted);
    if (!key_syntax_valid(dotted))
        return crisp_error_make(err, EINVAL, "invalid sysctl name \"%s\"", key);
    if (strlen(value) > RT_SYSCTL_VALUE_MAX)
        return crisp_error_make(err, EINVAL, "sysctl %s: value is longer than %d bytes", key,
                                RT_SYSCTL_VALUE_MAX);
    if (strchr(value, '\n'))
        return crisp_error_make(err, EINVAL, "sysctl %s: value contains a newline", key);
    return 0;
}

int rt_sysctl_check(const char *key, const char *value, bool host_network, bool host_ipc, crisp_error_t **err)
{
    char dotted[RT_SYSCTL_KEY_MAX + 1];
    if (check_syntax(key, value, dotted, err) < 0)
        return -1;
    switch (namespace_of(dotted)) {
    case SYSCTL_NS_NET:
        if (host_network)
            return crisp_error_make(err, EINVAL, "sysctl %s is not allowed for a pod on the host network",
                                    key);
        return 0;
    case SYSCTL_NS_IPC:
        if (host_ipc)
            return crisp_error_make(err, EINVAL,
                                    "sysctl %s is not allowed for a pod in the host IPC namespace", key);
        return 0;
    default:
        return crisp_error_make(err, EINVAL, "sysctl %s is not namespaced and cannot be set per pod", key);
    }
}
