#define _GNU_SOURCE
#include "runtime/pod_files.h"

#include "common/cleanup.h"
#include "common/file.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

static size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static bool ip_valid(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* RFC 1123: dot-separated labels of letters, digits and inner hyphens, 1..63 bytes each; and no
 * longer than the kernel's UTS name (64 bytes), which the pod's namespace gets. */
static bool hostname_valid(const char *name)
{
    if (strlen(name) == 0 || strlen(name) > RT_POD_HOSTNAME_MAX)
        return false;
    for (const char *label = name;; label++) {
        size_t len = strspn(label, ALNUM "-");
        if (len == 0 || len > 63 || label[0] == '-' || label[len - 1] == '-')
            return false;
        label += len;
        if (*label == '\0')
            return true;
        if (*label != '.')
            return false;
    }
}

static bool word_valid(const char *s, const char *charset, size_t max)
{
    size_t len = strlen(s);
    return len > 0 && len <= max && strspn(s, charset) == len;
}

static int check_searches(char *const *searches, crisp_error_t **err)
{
    size_t n = strv_len(searches), chars = n > 0 ? n - 1 : 0;
    if (n > RT_POD_DNS_SEARCH_MAX)
        return crisp_error_make(err, EINVAL, "%zu DNS search domains, more than %d", n,
                                RT_POD_DNS_SEARCH_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!word_valid(searches[i], ALNUM ".-", 253))
            return crisp_error_make(err, EINVAL, "invalid DNS search domain \"%.80s\"", searches[i]);
        chars += strlen(searches[i]);
    }
    if (chars > RT_POD_DNS_SEARCH_CHARS_MAX)
        return crisp_error_make(err, EINVAL, "DNS search list is %zu characters, more than %d", chars,
                                RT_POD_DNS_SEARCH_CHARS_MAX);
    return 0;
}

static int check_dns(const struct rt_pod_dns *dns, crisp_error_t **err)
{
    for (size_t i = 0; i < strv_len(dns->servers); i++)
        if (!ip_valid(dns->servers[i]))
            return crisp_error_make(err, EINVAL, "invalid DNS server \"%.80s\": not an IP address",
                                    dns->servers[i]);
    for (size_t i = 0; i < strv_len(dns->options); i++)
        if (!word_valid(dns->options[i], ALNUM ":._-", 256))
            return crisp_error_make(err, EINVAL, "invalid DNS option \"%.80s\"", dns->options[i]);
    return check_searches(dns->searches, err);
}

int rt_pod_files_check(const char *hostname, const struct rt_pod_dns *dns, crisp_error_t **err)
{
    if (hostname && *hostname && !hostname_valid(hostname))
        return crisp_error_make(err, EINVAL,
                                "invalid hostname \"%.80s\": at most %d bytes of letters, digits, "
                                "'-' and '.'",
                                hostname, RT_POD_HOSTNAME_MAX);
    return dns ? check_dns(dns, err) : 0;
}

static int check_inputs(const char *hostname, const struct rt_pod_dns *dns, char *const *ips,
                        crisp_error_t **err)
{
    if (!hostname_valid(hostname))
        return crisp_error_make(err, EINVAL, "invalid hostname \"%.80s\"", hostname);
    for (size_t i = 0; i < strv_len(ips); i++)
        if (!ip_valid(ips[i]))
            return crisp_error_make(err, EINVAL, "invalid pod IP \"%s\"", ips[i]);
    return dns ? check_dns(dns, err) : 0;
}

static int write_file(const char *dir, const char *name, const char *text, size_t len, crisp_error_t **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return crisp_error_oom_in(err, "write %s/%s", dir, name);
    /* Derived from the pod record and rewritten by every run: no need to wait for the disk. */
    return file_write_replace(path, text, len, 0644, err);
}

/* Closes a stream from open_memstream(buf, ...) and hands out its text, NULL if any write failed.
 * fclose is what makes *buf final, so it is read only after. */
static char *close_memstream(FILE *f, char **buf)
{
    bool failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        free(*buf);
        return NULL;
    }
    return *buf;
}

static void put_list(FILE *f, const char *keyword, char *const *items)
{
    if (strv_len(items) == 0)
        return;
    fputs(keyword, f);
    for (size_t i = 0; items[i]; i++)
        fprintf(f, " %s", items[i]);
    fputc('\n', f);
}

static int write_resolv_conf(const char *dir, const struct rt_pod_dns *dns, crisp_error_t **err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return crisp_error_errno(err, "resolv.conf");
    for (size_t i = 0; i < strv_len(dns->servers); i++)
        fprintf(f, "nameserver %s\n", dns->servers[i]);
    put_list(f, "search", dns->searches);
    put_list(f, "options", dns->options);
    _cleanup_free_ char *text = close_memstream(f, &buf);
    if (!text)
        return crisp_error_oom_in(err, "resolv.conf");
    return write_file(dir, "resolv.conf", text, len, err);
}

static int copy_host_resolv_conf(const char *dir, const char *host_resolv_conf, crisp_error_t **err)
{
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    if (file_read_bounded(host_resolv_conf, RT_POD_HOST_RESOLV_CONF_MAX, &text, &len, err) < 0)
        return crisp_error_wrap(err, "host resolv.conf");
    return write_file(dir, "resolv.conf", text, len, err);
}

static int write_hosts(const char *dir, const char *hostname, char *const *ips, crisp_error_t **err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return crisp_error_errno(err, "hosts");
    fputs("# Kubernetes-managed hosts file.\n"
          "127.0.0.1\tlocalhost\n"
          "::1\tlocalhost ip6-localhost ip6-loopback\n"
          "fe00::0\tip6-localnet\n"
          "ff00::0\tip6-mcastprefix\n"
          "ff02::1\tip6-allnodes\n"
          "ff02::2\tip6-allrouters\n",
          f);
    for (size_t i = 0; i < strv_len(ips); i++)
        fprintf(f, "%s\t%s\n", ips[i], hostname);
    _cleanup_free_ char *text = close_memstream(f, &buf);
    if (!text)
        return crisp_error_oom_in(err, "hosts");
    return write_file(dir, "hosts", text, len, err);
}

int rt_pod_files_write(const char *dir, const char *hostname, const struct rt_pod_dns *dns,
                       const char *host_resolv_conf, char *const *ips, crisp_error_t **err)
{
    if (check_inputs(hostname, dns, ips, err) < 0)
        return -1;
    _cleanup_free_ char *line = NULL;
    if (asprintf(&line, "%s\n", hostname) < 0)
        return crisp_error_oom_in(err, "hostname");
    if (write_file(dir, "hostname", line, strlen(line), err) < 0 || write_hosts(dir, hostname, ips, err) < 0)
        return -1;
    bool own_dns = dns && (strv_len(dns->servers) || strv_len(dns->searches) || strv_len(dns->options));
    if (own_dns)
        return write_resolv_conf(dir, dns, err);
    return copy_host_resolv_conf(dir, host_resolv_conf, err);
}
