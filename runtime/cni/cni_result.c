/* What plugins return: the result object, the pod's addresses in it, and the result handed out. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/json.h"
#include "common/strv.h"
#include "runtime/cni/cni_config.h"
#include "runtime/cni/cni_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int rt_cni_result_parse(const char *type, const char *text, yajl_val *ret, crisp_error_t **err)
{
    char errbuf[128] = "";
    yajl_val root = NULL;
    if (!json_nesting_ok(text, RT_CNI_JSON_MAX_DEPTH))
        snprintf(errbuf, sizeof(errbuf), "nested too deeply");
    else
        root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    if (root && !YAJL_IS_OBJECT(root)) {
        yajl_tree_free(root);
        root = NULL;
        snprintf(errbuf, sizeof(errbuf), "not an object");
    }
    if (!root) {
        errbuf[strcspn(errbuf, "\n")] = '\0';
        return crisp_error_make(err, EIO, "plugin %s returned an invalid result: %s", type, errbuf);
    }
    *ret = root;
    return 0;
}

/* An address whose "interface" names a host-side interface (no "sandbox") is not the pod's. */
static bool ip_in_sandbox(yajl_val ip, yajl_val interfaces)
{
    yajl_val idx = rt_cni_json_member(ip, "interface", yajl_t_number);
    if (!idx || !YAJL_IS_INTEGER(idx) || !interfaces || idx->u.number.i < 0 ||
        (size_t)idx->u.number.i >= interfaces->u.array.len)
        return true;
    const char *sandbox = json_get_str(interfaces->u.array.values[idx->u.number.i], "sandbox");
    return sandbox && *sandbox;
}

/* "10.88.0.5/16" -> "10.88.0.5" if it is an address of family af. */
static char *ip_address(yajl_val ip, int af)
{
    const char *cidr = json_get_str(ip, "address");
    char addr[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    size_t n = cidr ? strcspn(cidr, "/") : 0;
    if (n == 0 || n >= sizeof(addr))
        return NULL;
    memcpy(addr, cidr, n);
    addr[n] = '\0';
    return inet_pton(af, addr, bin) == 1 ? strdup(addr) : NULL;
}

int rt_cni_result_ips(yajl_val result, char ***ret, crisp_error_t **err)
{
    yajl_val ips = rt_cni_json_member(result, "ips", yajl_t_array);
    yajl_val interfaces = rt_cni_json_member(result, "interfaces", yajl_t_array);
    size_t n_ips = ips ? ips->u.array.len : 0, n = 0;
    _cleanup_strv_ char **out = calloc(n_ips + 1, sizeof(char *));
    if (!out)
        return crisp_error_oom(err);
    const int families[] = {AF_INET, AF_INET6};
    for (size_t f = 0; f < ARRAY_SIZE(families); f++)
        for (size_t i = 0; i < n_ips; i++)
            if (ip_in_sandbox(ips->u.array.values[i], interfaces) &&
                (out[n] = ip_address(ips->u.array.values[i], families[f])))
                n++;
    *ret = TAKE_PTR(out);
    return 0;
}

void rt_cni_result_fini(struct rt_cni_result *r)
{
    if (!r)
        return;
    strv_free(r->ips);
    free(r->raw_json);
    *r = (struct rt_cni_result){0};
}
