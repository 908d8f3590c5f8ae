#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "runtime/pod_files.h"
#include "runtime/pod_ns.h"
#include "runtime/sysctl.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#define NSFS_MAGIC_VALUE 0x6e736673

static const char *pinns;

/* Frees err and returns a copy of its message (NULL for no error), its status in *ret_status. */
static char *take_error(crisp_error_t *err, int *ret_status)
{
    if (!err)
        return NULL;
    if (ret_status)
        *ret_status = err->status;
    char *msg = strdup(err->msg);
    crisp_error_free(err);
    return msg;
}

static void test_sysctl(void)
{
    static const struct {
        const char *key, *value;
        bool host_network, host_ipc;
        const char *error;
    } cases[] = {
        {"net.ipv4.ip_forward", "1", false, false, NULL},
        {"net/ipv4/conf/eth0.100/forwarding", "1", false, false, NULL},
        {"net.ipv4.conf.eth0/100.forwarding", "1", false, true, NULL},
        {"net.ipv4.ip_forward", "1", true, false,
         "sysctl net.ipv4.ip_forward is not allowed for a pod on the host network"},
        {"kernel.shmmax", "1", true, false, NULL},
        {"kernel.shm_rmid_forced", "1", false, true,
         "sysctl kernel.shm_rmid_forced is not allowed for a pod in the host IPC"},
        {"kernel.msgmnb", "65536", false, false, NULL},
        {"kernel/msgmax", "8192", false, false, NULL},
        {"kernel.sem", "250 32000 32 128", false, false, NULL},
        {"fs.mqueue.msg_max", "10", false, false, NULL},
        {"fs.mqueue.msg_max", "10", false, true, "not allowed for a pod in the host IPC namespace"},
        {"kernel.semx", "1", false, false, "sysctl kernel.semx is not namespaced and cannot be set per pod"},
        {"kernel.hostname", "x", false, false, "is not namespaced"},
        {"vm.swappiness", "1", false, false, "sysctl vm.swappiness is not namespaced"},
        {"net", "1", false, false, "is not namespaced"},
        {"net.", "1", false, false, "invalid sysctl name \"net.\""},
        {"net..ipv4", "1", false, false, "invalid sysctl name"},
        {"Net.ipv4.ip_forward", "1", false, false, "invalid sysctl name"},
        {"net/ipv4/../x", "1", false, false, "invalid sysctl name"},
        {"net.ipv4.x y", "1", false, false, "invalid sysctl name"},
        {"net.ipv4.ip_forward", "1\n", false, false, "value contains a newline"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        crisp_error_t *err = NULL;
        int r = rt_sysctl_check(cases[i].key, cases[i].value, cases[i].host_network, cases[i].host_ipc, &err);
        int status = 0;
        _cleanup_free_ char *msg = take_error(err, &status);
        if (!cases[i].error) {
            CHECK(r == 0 && msg == NULL);
            continue;
        }
        CHECK(r < 0 && status == EINVAL);
        CHECK_CONTAINS(msg, cases[i].error);
    }
    char key[300], value[4200];
    memset(key, 'a', sizeof(key));
    memcpy(key, "net.", 4);
    key[sizeof(key) - 1] = '\0';
    memset(value, '1', sizeof(value));
    value[sizeof(value) - 1] = '\0';
    crisp_error_t *err = NULL;
    CHECK(rt_sysctl_check(key, "1", false, false, &err) < 0);
    _cleanup_free_ char *msg = take_error(err, NULL);
    CHECK_CONTAINS(msg, "longer than 256");
    err = NULL;
    CHECK(rt_sysctl_check("net.core.somaxconn", value, false, false, &err) < 0);
    free(msg);
    msg = take_error(err, NULL);
    CHECK_CONTAINS(msg, "longer than 4096");
}

static char *read_text(const char *dir, const char *name)
{
    _cleanup_free_ char *path = NULL;
    char *text = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0 || file_read_bounded(path, 1 << 20, &text, NULL, NULL) < 0)
        return NULL;
    return text;
}

static char *pod_files(const char *dir, const char *hostname, const struct rt_pod_dns *dns, const char *host,
                       char *const *ips)
{
    crisp_error_t *err = NULL;
    int r = rt_pod_files_write(dir, hostname, dns, host, ips, &err);
    char *msg = take_error(err, NULL);
    CHECK((r < 0) == (msg != NULL));
    return msg;
}

static void test_pod_files_content(const char *dir, const char *host)
{
    char *servers[] = {"10.96.0.10", "fd00::10", NULL};
    char *searches[] = {"default.svc.cluster.local", "svc.cluster.local", NULL};
    char *options[] = {"ndots:5", "edns0", NULL};
    char *ips[] = {"10.244.0.5", "fd00:10:244::5", NULL};
    struct rt_pod_dns dns = {servers, searches, options};
    CHECK(pod_files(dir, "pod-a", &dns, host, ips) == NULL);
    _cleanup_free_ char *hostname = read_text(dir, "hostname");
    _cleanup_free_ char *hosts = read_text(dir, "hosts");
    _cleanup_free_ char *resolv = read_text(dir, "resolv.conf");
    CHECK_STR(hostname, "pod-a\n");
    CHECK_STR(
        hosts,
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        "10.244.0.5\tpod-a\nfd00:10:244::5\tpod-a\n");
    CHECK_STR(
        resolv,
        "nameserver 10.96.0.10\nnameserver fd00::10\nsearch default.svc.cluster.local svc.cluster.local\n"
        "options ndots:5 edns0\n");
    char *none[] = {NULL};
    struct rt_pod_dns empty = {none, none, NULL};
    CHECK(pod_files(dir, "Pod-B.example", &empty, host, NULL) == NULL);
    free(resolv);
    resolv = read_text(dir, "resolv.conf");
    CHECK_STR(resolv, "nameserver 192.0.2.53\nsearch example.org\n");
    free(hosts);
    hosts = read_text(dir, "hosts");
    CHECK(hosts && !strstr(hosts, "pod-a") && strstr(hosts, "ff02::2\tip6-allrouters\n"));
    struct rt_pod_dns only_options = {NULL, NULL, options};
    CHECK(pod_files(dir, "pod-a", &only_options, host, NULL) == NULL);
    free(resolv);
    resolv = read_text(dir, "resolv.conf");
    CHECK_STR(resolv, "options ndots:5 edns0\n");
}

static void check_pod_files_error(const char *dir, const char *hostname, const struct rt_pod_dns *dns,
                                  const char *host, char *const *ips, const char *expected)
{
    _cleanup_free_ char *msg = pod_files(dir, hostname, dns, host, ips);
    CHECK_CONTAINS(msg, expected);
}

static void test_pod_files_errors(const char *dir, const char *host)
{
    char *bad_server[] = {"10.0.0.1", "dns.example", NULL};
    char *bad_search[] = {"ok.example", "bad_domain", NULL};
    char *bad_option[] = {"ndots:5", "a b", NULL};
    char *bad_ip[] = {"300.1.1.1", NULL};
    check_pod_files_error(dir, "pod-a", &(struct rt_pod_dns){bad_server, NULL, NULL}, host, NULL,
                          "invalid DNS server \"dns.example\"");
    check_pod_files_error(dir, "pod-a", &(struct rt_pod_dns){NULL, bad_search, NULL}, host, NULL,
                          "invalid DNS search domain \"bad_domain\"");
    check_pod_files_error(dir, "pod-a", &(struct rt_pod_dns){NULL, NULL, bad_option}, host, NULL,
                          "invalid DNS option \"a b\"");
    check_pod_files_error(dir, "pod-a", NULL, host, bad_ip, "invalid pod IP \"300.1.1.1\"");
    check_pod_files_error(dir, "-pod", NULL, host, NULL, "invalid hostname \"-pod\"");
    check_pod_files_error(dir, "pod..a", NULL, host, NULL, "invalid hostname");
    check_pod_files_error(dir, "pod_a", NULL, host, NULL, "invalid hostname");
    check_pod_files_error(dir, "", NULL, host, NULL, "invalid hostname");
    char label[70];
    memset(label, 'a', 64);
    label[64] = '\0';
    check_pod_files_error(dir, label, NULL, host, NULL, "invalid hostname");
    check_pod_files_error(dir, "pod-a", NULL, "/nonexistent/resolv.conf", NULL,
                          "host resolv.conf: open /nonexistent/resolv.conf: No such file or directory");
    char *many[40], domain[260];
    for (int i = 0; i < 33; i++)
        many[i] = "a.example";
    many[33] = NULL;
    check_pod_files_error(dir, "pod-a", &(struct rt_pod_dns){NULL, many, NULL}, host, NULL,
                          "33 DNS search domains, more than 32");
    memset(domain, 'a', 250);
    domain[250] = '\0';
    for (int i = 0; i < 9; i++)
        many[i] = domain;
    many[9] = NULL;
    check_pod_files_error(dir, "pod-a", &(struct rt_pod_dns){NULL, many, NULL}, host, NULL,
                          "DNS search list is 2258 characters, more than 2048");
}

static void test_pod_files(void)
{
    char dir[] = "/tmp/crisp-unit-podfiles-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    _cleanup_free_ char *host = NULL;
    CHECK(asprintf(&host, "%s/host-resolv.conf", dir) > 0);
    const char *text = "nameserver 192.0.2.53\nsearch example.org\n";
    CHECK(file_write_atomic(host, text, strlen(text), 0644, NULL) == 0);
    test_pod_files_content(dir, host);
    test_pod_files_errors(dir, host);
    CHECK(dir_remove_all(dir, NULL) == 0);
}

static int count_mounts_under(const char *dir)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mounts", "re");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, dir))
            n++;
    return n;
}

/* Processes named crisp-pod-init whose parent is us (we are a subreaper, so orphaned inits land here). */
static int count_our_inits(void)
{
    _cleanup_closedir_ DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) {
        char path[300];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/status", e->d_name);
        FILE *f = fopen(path, "re");
        char line[256], name[64] = "";
        int ppid = 0;
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "Name: %63s", name) != 1)
                sscanf(line, "PPid: %d", &ppid);
        if (f)
            fclose(f);
        n += strcmp(name, "crisp-pod-init") == 0 && ppid == getpid();
    }
    return n;
}

static bool is_pin(const char *dir, const char *ns)
{
    char pin[512], host[64];
    snprintf(pin, sizeof(pin), "%s/%s", dir, ns);
    snprintf(host, sizeof(host), "/proc/self/ns/%s", ns);
    struct statfs sfs;
    struct stat a, b;
    return statfs(pin, &sfs) == 0 && sfs.f_type == NSFS_MAGIC_VALUE && stat(pin, &a) == 0 &&
           stat(host, &b) == 0 && a.st_ino != b.st_ino;
}

static char *file_text(const char *fmt, pid_t pid)
{
    char path[64], *text = NULL;
    snprintf(path, sizeof(path), fmt, (int)pid);
    FILE *f = fopen(path, "re");
    size_t len = 0;
    if (f && getdelim(&text, &len, '\0', f) < 0) {
        free(text);
        text = NULL;
    }
    if (f)
        fclose(f);
    return text;
}

static char *command_output(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    char *text = calloc(1, 4096);
    size_t n = p ? fread(text, 1, 4095, p) : 0;
    text[n] = '\0';
    if (p)
        pclose(p);
    return text;
}

static pid_t create(const char *dir, bool pid, char *const *sysctls, char *const *cgroups, char **ret_msg)
{
    struct rt_pod_ns_options o = {
        .helper = pinns,
        .dir = dir,
        .net = true,
        .ipc = true,
        .uts = true,
        .pid = pid,
        .hostname = "pod-a",
        .sysctls = sysctls,
        .cgroup_procs = cgroups,
    };
    crisp_error_t *err = NULL;
    pid_t init_pid = -1;
    int r = rt_pod_ns_create(&o, &init_pid, &err);
    *ret_msg = take_error(err, NULL);
    CHECK((r < 0) == (*ret_msg != NULL));
    return r < 0 ? -1 : init_pid;
}

static void check_pod(const char *dir, pid_t init)
{
    static const char *const ns[] = {"net", "ipc", "uts", "pid"};
    for (size_t i = 0; i < ARRAY_SIZE(ns); i++)
        CHECK(is_pin(dir, ns[i]));
    CHECK(count_mounts_under(dir) == 4);
    CHECK(init > 0 && kill(init, 0) == 0);
    _cleanup_free_ char *comm = file_text("/proc/%d/comm", init);
    CHECK_STR(comm, "crisp-pod-init\n");
    _cleanup_free_ char *status = file_text("/proc/%d/status", init);
    char nspid[64];
    snprintf(nspid, sizeof(nspid), "NSpid:\t%d\t1\n", (int)init);
    CHECK_CONTAINS(status, nspid);
    _cleanup_free_ char *cmd = NULL;
    CHECK(asprintf(&cmd,
                   "nsenter --net=%s/net --uts=%s/uts --ipc=%s/ipc sh -c 'hostname; "
                   "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; cat /proc/sys/kernel/shmmax'",
                   dir, dir, dir) > 0);
    _cleanup_free_ char *out = command_output(cmd);
    CHECK_STR(out, "pod-a\n80\n12345\n");
}

static void destroy(const char *dir, pid_t init, uint64_t start)
{
    crisp_error_t *err = NULL;
    CHECK(rt_pod_ns_destroy(dir, init, start, &err) == 0);
    _cleanup_free_ char *msg = take_error(err, NULL);
    CHECK(msg == NULL);
    if (msg)
        fprintf(stderr, "destroy: %s\n", msg);
}

static void test_pod_ns_lifecycle(char *dir)
{
    char *sysctls[] = {"net.ipv4.ip_unprivileged_port_start=80", "kernel.shmmax=12345", NULL};
    _cleanup_free_ char *msg = NULL;
    pid_t init = create(dir, true, sysctls, NULL, &msg);
    CHECK(msg == NULL);
    if (msg)
        fprintf(stderr, "create: %s\n", msg);
    uint64_t start = 0;
    CHECK(init > 0 && rt_proc_start_time(init, &start, NULL) == 0 && start > 0);
    if (init <= 0)
        return;
    check_pod(dir, init);
    destroy(dir, init, start);
    CHECK(waitpid(init, NULL, 0) == init);
    CHECK(kill(init, 0) < 0 && errno == ESRCH);
    CHECK(count_mounts_under(dir) == 0);
    CHECK(access(dir, F_OK) < 0 && errno == ENOENT);
    destroy(dir, init, start);
}

/* A start time that does not match means the pid is someone else's now: destroy must not kill it. */
static void test_pod_ns_pid_reuse_guard(char *dir)
{
    CHECK(mkdir(dir, 0700) == 0);
    _cleanup_free_ char *msg = NULL;
    pid_t init = create(dir, true, NULL, NULL, &msg);
    uint64_t start = 0;
    CHECK(init > 0 && rt_proc_start_time(init, &start, NULL) == 0);
    if (init <= 0)
        return;
    destroy(dir, init, start + 1);
    CHECK(kill(init, 0) == 0);
    CHECK(count_mounts_under(dir) == 0 && access(dir, F_OK) < 0);
    kill(init, SIGKILL);
    CHECK(waitpid(init, NULL, 0) == init);
}

static void check_create_fails(const char *dir, char *const *sysctls, char *const *cgroups,
                               const char *expected)
{
    _cleanup_free_ char *msg = NULL;
    CHECK(create(dir, true, sysctls, cgroups, &msg) < 0);
    CHECK_CONTAINS(msg, expected);
    _cleanup_strv_ char **left = NULL;
    CHECK(dir_list_sorted(dir, NULL, &left, NULL) == 0);
    CHECK(left && left[0] && strcmp(left[0], ".") == 0 && strcmp(left[1], "..") == 0 && !left[2]);
    CHECK(count_mounts_under(dir) == 0);
    CHECK(count_our_inits() == 0);
}

static void test_pod_ns_errors(char *dir)
{
    CHECK(mkdir(dir, 0700) == 0);
    char *bad_value[] = {"net.ipv4.ip_unprivileged_port_start=notanumber", NULL};
    check_create_fails(dir, bad_value, NULL,
                       "sysctl net.ipv4.ip_unprivileged_port_start=notanumber: Invalid argument");
    char *host_sysctl[] = {"vm.swappiness=1", NULL};
    check_create_fails(dir, host_sysctl, NULL, "sysctl vm.swappiness=1: not a namespaced sysctl");
    char *bad_cgroup[] = {"/nonexistent/cgroup.procs", NULL};
    check_create_fails(dir, NULL, bad_cgroup,
                       "join cgroup /nonexistent/cgroup.procs: No such file or directory");
    CHECK(rmdir(dir) == 0);
    struct rt_pod_ns_options o = {.helper = "/nonexistent/crisp-pinns", .dir = dir, .net = true};
    crisp_error_t *err = NULL;
    pid_t pid;
    CHECK(rt_pod_ns_create(&o, &pid, &err) < 0);
    _cleanup_free_ char *msg = take_error(err, NULL);
    CHECK_CONTAINS(msg, "spawn /nonexistent/crisp-pinns: No such file or directory");
    CHECK(access(dir, F_OK) < 0);
}

static void test_proc_start_time(void)
{
    uint64_t a = 0, b = 0;
    CHECK(rt_proc_start_time(getpid(), &a, NULL) == 0 && a > 0);
    CHECK(rt_proc_start_time(getpid(), &b, NULL) == 0 && a == b);
    crisp_error_t *err = NULL;
    int status = 0;
    CHECK(rt_proc_start_time(0x3ffffff0, &a, &err) < 0);
    _cleanup_free_ char *msg = take_error(err, &status);
    CHECK(status == ENOENT);
}

int main(void)
{
    pinns = getenv("CRISP_PINNS") ? getenv("CRISP_PINNS") : "build/crisp-pinns";
    test_sysctl();
    test_pod_files();
    test_proc_start_time();
    /* Inits outlive the helper and would go to PID 1; as subreaper we can reap them and leave nothing. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    char dir[] = "/tmp/crisp-unit-pinns-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    test_pod_ns_lifecycle(dir);
    test_pod_ns_pid_reuse_guard(dir);
    test_pod_ns_errors(dir);
    rmdir(dir);
    return unit_report("test_pod_runtime");
}
