/* /proc/net is /proc/self/net, the namespace of the process's main thread; only
 * /proc/thread-self/net follows the reading thread. So, as in netns_dial.c, a short-lived thread
 * enters the pod's namespace, reads the three files there, and dies there. */
#define _GNU_SOURCE
#include "runtime/stats/stats_netdev.h"

#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* About 130 bytes an interface: room for ~500, which no pod has. Longer files are cut at a line. */
#define DEV_MAX 65536
/* 128 bytes a route (ipv6_route's are 150): pods have a few. */
#define ROUTE_MAX 16384

#define RTF_UP_FLAG 0x0001
#define RTF_REJECT_FLAG 0x0200

struct texts {
    char dev[DEV_MAX], route[ROUTE_MAX], route6[ROUTE_MAX];
};

struct reader {
    int nsfd;
    struct texts *t;
    int error;        /* errno of the failed step, 0 if none */
    const char *step; /* what failed */
};

/* Reads path into buf, NUL-terminated, cut after its last whole line when it does not fit. A missing
 * file is an empty text. */
static int read_text(const char *path, char *buf, size_t size)
{
    buf[0] = '\0';
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        len += n;
    }
    buf[len] = '\0';
    if (len == size - 1) {
        char *last = strrchr(buf, '\n');
        if (last)
            last[1] = '\0';
    }
    return 0;
}

static void *reader_run(void *arg)
{
    struct reader *r = arg;
    static const struct {
        const char *path;
        size_t off, size;
    } files[] = {
        {"/proc/thread-self/net/dev", offsetof(struct texts, dev), DEV_MAX},
        {"/proc/thread-self/net/route", offsetof(struct texts, route), ROUTE_MAX},
        {"/proc/thread-self/net/ipv6_route", offsetof(struct texts, route6), ROUTE_MAX},
    };
    if (r->nsfd >= 0 && setns(r->nsfd, CLONE_NEWNET) < 0) {
        r->error = errno;
        r->step = "enter the network namespace";
        return NULL;
    }
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        int e = read_text(files[i].path, (char *)r->t + files[i].off, files[i].size);
        if (e < 0) {
            r->error = -e;
            r->step = files[i].path;
            return NULL;
        }
    }
    return NULL;
}

static int texts_read(const char *netns_path, struct texts *t, crisp_error_t **err)
{
    _cleanup_close_ int nsfd = netns_path[0] ? open(netns_path, O_RDONLY | O_CLOEXEC) : -1;
    if (netns_path[0] && nsfd < 0)
        return crisp_error_make(err, errno == ENOENT ? ENOENT : EIO, "open network namespace %s: %s",
                                netns_path, strerror(errno));
    struct reader r = {.nsfd = nsfd, .t = t};
    pthread_t thread;
    int e = pthread_create(&thread, NULL, reader_run, &r);
    if (e != 0) {
        errno = e;
        return crisp_error_errno(err, "start a thread to read network namespace %s", netns_path);
    }
    pthread_join(thread, NULL);
    if (r.error) {
        errno = r.error;
        return crisp_error_errno(err, "network namespace %s: %s", netns_path, r.step);
    }
    return 0;
}

/* Decimal (base 10) or hex (base 16) digits up to a space, tab or end of line. */
static bool parse_num(const char **p, int base, uint64_t *ret)
{
    const char *s = *p;
    uint64_t v = 0;
    for (; *s && *s != ' ' && *s != '\t' && *s != '\n'; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = *s - 'A' + 10;
        else
            return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (s == *p)
        return false;
    *p = s;
    *ret = v;
    return true;
}

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A word up to a blank or end of line into ret (size bytes with its NUL). */
static bool parse_word(const char **p, char *ret, size_t size)
{
    const char *s = *p;
    size_t n = strcspn(s, " \t\n");
    if (n == 0 || n >= size)
        return false;
    memcpy(ret, s, n);
    ret[n] = '\0';
    *p = s + n;
    return true;
}

/* "  eth0: 1 2 ... 16": the counters follow the colon, with or without a blank. */
static bool parse_dev_line(const char *line, struct rt_stats_netdev_iface *ret)
{
    const char *p = skip_blank(line), *eol = strchrnul(p, '\n');
    const char *colon = memchr(p, ':', eol - p);
    if (!colon || colon == p || (size_t)(colon - p) >= IFNAMSIZ || memchr(p, ' ', colon - p))
        return false;
    uint64_t v[16];
    const char *q = colon + 1;
    for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
        q = skip_blank(q);
        if (!parse_num(&q, 10, &v[i]))
            return false;
    }
    if (skip_blank(q) != eol)
        return false;
    *ret = (struct rt_stats_netdev_iface){.rx_bytes = v[0],
                                          .rx_packets = v[1],
                                          .rx_errors = v[2],
                                          .rx_drops = v[3],
                                          .tx_bytes = v[8],
                                          .tx_packets = v[9],
                                          .tx_errors = v[10],
                                          .tx_drops = v[11]};
    memcpy(ret->name, p, colon - p);
    ret->name[colon - p] = '\0';
    return true;
}

static const char *next_line(const char *p)
{
    const char *eol = strchr(p, '\n');
    return eol ? eol + 1 : p + strlen(p);
}

int rt_stats_netdev_parse(const char *text, struct rt_stats_netdev *ret, crisp_error_t **err)
{
    ret->n = ret->n_seen = 0;
    const char *p = text;
    /* Two header lines: "Inter-|   Receive ..." and " face |bytes ...". */
    for (int i = 0; i < 2; i++) {
        const char *eol = strchrnul(p, '\n');
        if (!memchr(p, '|', eol - p))
            return crisp_error_make(err, EINVAL, "/proc/net/dev: unexpected header");
        p = next_line(p);
    }
    for (; *p; p = next_line(p)) {
        struct rt_stats_netdev_iface iface;
        if (!parse_dev_line(p, &iface))
            return crisp_error_make(err, EINVAL, "/proc/net/dev: unexpected line \"%.*s\"",
                                    (int)strcspn(p, "\n"), p);
        if (strcmp(iface.name, "lo") == 0)
            continue;
        if (ret->n < RT_STATS_NETDEV_MAX)
            ret->ifaces[ret->n++] = iface;
        ret->n_seen++;
    }
    return 0;
}

/* /proc/net/route: "Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT", hex
 * addresses. The default route has destination and mask 0. */
static int route4_default(const char *text, char ret_name[IFNAMSIZ], uint64_t *ret_metric,
                          crisp_error_t **err)
{
    if (!text[0])
        return 0;
    int found = 0;
    for (const char *p = next_line(text); *p; p = next_line(p)) {
        char name[IFNAMSIZ];
        uint64_t f[10];
        const char *q = p;
        bool ok = parse_word(&q, name, sizeof(name));
        for (size_t i = 0; ok && i < ARRAY_SIZE(f); i++) {
            q = skip_blank(q);
            ok = parse_num(&q, i <= 2 || i == 6 ? 16 : 10, &f[i]);
        }
        if (!ok)
            return crisp_error_make(err, EINVAL, "/proc/net/route: unexpected line \"%.*s\"",
                                    (int)strcspn(p, "\n"), p);
        /* f: 0 destination, 1 gateway, 2 flags, 3 refcnt, 4 use, 5 metric, 6 mask */
        if (f[0] != 0 || f[6] != 0 || !(f[2] & RTF_UP_FLAG) || (found && f[5] >= *ret_metric))
            continue;
        memcpy(ret_name, name, IFNAMSIZ);
        *ret_metric = f[5];
        found = 1;
    }
    return found;
}

/* /proc/net/ipv6_route: "dest plen src splen nexthop metric refcnt use flags dev", all hex. The
 * unreachable ::/0 of an empty table sits on lo with RTF_REJECT. */
static int route6_default(const char *text, char ret_name[IFNAMSIZ], crisp_error_t **err)
{
    int found = 0;
    uint64_t best = 0;
    for (const char *p = text; *p; p = next_line(p)) {
        char dest[33], src[33], hop[33], name[IFNAMSIZ];
        uint64_t plen, splen, metric, refcnt, use, flags;
        const char *q = p;
        bool ok = parse_word(&q, dest, sizeof(dest)) && (q = skip_blank(q), parse_num(&q, 16, &plen)) &&
                  (q = skip_blank(q), parse_word(&q, src, sizeof(src))) &&
                  (q = skip_blank(q), parse_num(&q, 16, &splen)) &&
                  (q = skip_blank(q), parse_word(&q, hop, sizeof(hop))) &&
                  (q = skip_blank(q), parse_num(&q, 16, &metric)) &&
                  (q = skip_blank(q), parse_num(&q, 16, &refcnt)) &&
                  (q = skip_blank(q), parse_num(&q, 16, &use)) &&
                  (q = skip_blank(q), parse_num(&q, 16, &flags)) &&
                  (q = skip_blank(q), parse_word(&q, name, sizeof(name)));
        if (!ok || strlen(dest) != 32)
            return crisp_error_make(err, EINVAL, "/proc/net/ipv6_route: unexpected line \"%.*s\"",
                                    (int)strcspn(p, "\n"), p);
        if (strspn(dest, "0") != 32 || plen != 0 || !(flags & RTF_UP_FLAG) || (flags & RTF_REJECT_FLAG) ||
            strcmp(name, "lo") == 0 || (found && metric >= best))
            continue;
        memcpy(ret_name, name, IFNAMSIZ);
        best = metric;
        found = 1;
    }
    return found;
}

int rt_stats_netdev_default_route(const char *route, const char *ipv6_route, char ret_name[IFNAMSIZ],
                                  crisp_error_t **err)
{
    uint64_t metric = 0;
    int r = route ? route4_default(route, ret_name, &metric, err) : 0;
    if (r == 0 && ipv6_route)
        r = route6_default(ipv6_route, ret_name, err);
    if (r < 0)
        return -1;
    if (r == 0)
        snprintf(ret_name, IFNAMSIZ, "eth0");
    return 0;
}

int rt_stats_netdev_read(const char *netns_path, struct rt_stats_netdev *ret, crisp_error_t **err)
{
    _cleanup_free_ struct texts *t = malloc(sizeof(*t));
    if (!t)
        return crisp_error_oom(err);
    if (texts_read(netns_path, t, err) < 0)
        return -1;
    if (rt_stats_netdev_parse(t->dev, ret, err) < 0 ||
        rt_stats_netdev_default_route(t->route, t->route6, ret->default_iface, err) < 0)
        return crisp_error_wrap(err, "network namespace %s", netns_path[0] ? netns_path : "of crispd");
    return 0;
}
