/* crisp-pinns: creates a pod's namespaces and pins each one by bind-mounting its nsfs file into a
 * directory, so the namespaces live as long as the pins rather than as long as some process. With
 * --pid it also starts the pod's init, PID 1 of a new PID namespace, which outlives this helper.
 * With --userns the pod gets a user namespace with the given id maps, and its network, IPC and UTS
 * namespaces are owned by it, so the containers' root has its capabilities over them.
 *
 * It is a separate single-threaded program because crispd is multi-threaded and must not unshare or
 * mount in a forked child of itself. It links only libc: the init is a fork of it and lives as long
 * as the pod, so its memory is paid once per pod. On success it prints {"init_pid": N} on stdout;
 * on failure it undoes what it did, prints one line on stderr and exits 1. */
#define _GNU_SOURCE
#include "helpers/lib/cgroup_self.h"
#include "helpers/lib/helper_error.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ITEMS 256

enum { NS_NET, NS_IPC, NS_UTS, NS_PID, NS_USER, NS_COUNT };

static const struct {
    const char *name;
    int flag;
} namespaces[NS_COUNT] = {
    [NS_NET] = {"net", CLONE_NEWNET}, [NS_IPC] = {"ipc", CLONE_NEWIPC},    [NS_UTS] = {"uts", CLONE_NEWUTS},
    [NS_PID] = {"pid", CLONE_NEWPID}, [NS_USER] = {"user", CLONE_NEWUSER},
};

struct options {
    const char *dir;
    bool ns[NS_COUNT];
    const char *hostname;
    const char *sysctls[MAX_ITEMS];
    size_t n_sysctls;
    const char *cgroup_procs[MAX_ITEMS];
    size_t n_cgroup_procs;
    const char *uid_map, *gid_map; /* --userns: "CONTAINER_ID HOST_ID LENGTH" */
};

/* What to undo on failure. */
static struct {
    const char *dir;
    bool pinned[NS_COUNT];
    pid_t init_pid;
    pid_t userns_holder; /* the child that made the user namespace, until it is pinned */
} made;

static int add_item(const char **items, size_t *n, const char *value, const char *what)
{
    if (*n == MAX_ITEMS)
        return hl_fail(0, "too many %s options", what);
    items[(*n)++] = value;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_DIR = 256, OPT_HOSTNAME, OPT_SYSCTL, OPT_CGROUP_PROCS, OPT_UID_MAP, OPT_GID_MAP };
    static const struct option long_options[] = {
        {"dir", required_argument, NULL, OPT_DIR},
        {"net", no_argument, NULL, NS_NET},
        {"ipc", no_argument, NULL, NS_IPC},
        {"uts", no_argument, NULL, NS_UTS},
        {"pid", no_argument, NULL, NS_PID},
        {"hostname", required_argument, NULL, OPT_HOSTNAME},
        {"sysctl", required_argument, NULL, OPT_SYSCTL},
        {"cgroup-procs", required_argument, NULL, OPT_CGROUP_PROCS},
        {"userns", no_argument, NULL, NS_USER},
        {"uid-map", required_argument, NULL, OPT_UID_MAP},
        {"gid-map", required_argument, NULL, OPT_GID_MAP},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c, r = 0;
    while (r == 0 && (c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
        switch (c) {
        case NS_NET:
        case NS_IPC:
        case NS_UTS:
        case NS_PID:
        case NS_USER:
            o->ns[c] = true;
            break;
        case OPT_UID_MAP:
            o->uid_map = optarg;
            break;
        case OPT_GID_MAP:
            o->gid_map = optarg;
            break;
        case OPT_DIR:
            o->dir = optarg;
            break;
        case OPT_HOSTNAME:
            o->hostname = optarg;
            break;
        case OPT_SYSCTL:
            r = add_item(o->sysctls, &o->n_sysctls, optarg, "--sysctl");
            break;
        case OPT_CGROUP_PROCS:
            r = add_item(o->cgroup_procs, &o->n_cgroup_procs, optarg, "--cgroup-procs");
            break;
        default:
            r = hl_fail(0, "unknown or incomplete option %s", argv[optind - 1]);
        }
    }
    if (r < 0)
        return -1;
    if (optind < argc)
        return hl_fail(0, "unexpected argument %s", argv[optind]);
    if (!o->dir)
        return hl_fail(0,
                       "usage: crisp-pinns --dir DIR [--net] [--ipc] [--uts] [--pid] [--hostname NAME] "
                       "[--sysctl KEY=VALUE]... [--cgroup-procs FILE]... [--userns --uid-map M --gid-map M]");
    return 0;
}

static bool has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool components_valid(const char *rel)
{
    for (const char *c = rel;; c++) {
        size_t len = strcspn(c, "/");
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += len;
        if (*c == '\0')
            return true;
    }
}

/* Turns a sysctl key into its path under /proc/sys. Keys use '.' as separator, or '/' when the first
 * separator is one (kubelet's form, where a '.' may be part of a name like "eth0.100"). Only
 * non-empty components of [a-z0-9_.-] other than "." and ".." are accepted, so the path cannot leave
 * /proc/sys. */
static int sysctl_path(const char *key, size_t key_len, char *buf, size_t size)
{
    static const char charset[] = "abcdefghijklmnopqrstuvwxyz0123456789_.-/";
    size_t prefix = strlen("/proc/sys/");
    if (key_len == 0 || key_len > 256 || key_len + prefix >= size || strspn(key, charset) < key_len)
        return hl_fail(0, "sysctl %.*s: invalid name", (int)(key_len > 256 ? 256 : key_len), key);
    size_t first = strcspn(key, "./");
    char sep = first < key_len ? key[first] : '.';
    memcpy(buf, "/proc/sys/", prefix);
    for (size_t i = 0; i < key_len; i++) {
        char ch = key[i];
        buf[prefix + i] = ch == sep ? '/' : ch == '/' ? '.' : ch;
    }
    buf[prefix + key_len] = '\0';
    return components_valid(buf + prefix) ? 0 : hl_fail(0, "sysctl %.*s: invalid name", (int)key_len, key);
}

/* The helper runs as root and writes /proc/sys, so it refuses any key whose namespace it is not
 * creating itself: a slip in crispd must not change the host. The same list as runtime/sysctl.c. */
static int sysctl_allowed(const struct options *o, const char *path, const char *kv)
{
    const char *rel = path + strlen("/proc/sys/");
    if (has_prefix(rel, "net/"))
        return o->ns[NS_NET] ? 0 : hl_fail(0, "sysctl %s: needs a new network namespace", kv);
    if (has_prefix(rel, "kernel/shm") || has_prefix(rel, "kernel/msg") || strcmp(rel, "kernel/sem") == 0 ||
        has_prefix(rel, "fs/mqueue/"))
        return o->ns[NS_IPC] ? 0 : hl_fail(0, "sysctl %s: needs a new IPC namespace", kv);
    return hl_fail(0, "sysctl %s: not a namespaced sysctl", kv);
}

static int sysctl_check(const struct options *o, const char *kv, char *path, size_t size)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return hl_fail(0, "sysctl %s: expected KEY=VALUE", kv);
    if (strchr(eq + 1, '\n') || strlen(eq + 1) > 4096)
        return hl_fail(0, "sysctl %.*s: invalid value", (int)(eq - kv), kv);
    if (sysctl_path(kv, (size_t)(eq - kv), path, size) < 0)
        return -1;
    return sysctl_allowed(o, path, kv);
}

static int sysctl_write(const struct options *o, const char *kv)
{
    char path[PATH_MAX];
    if (sysctl_check(o, kv, path, sizeof(path)) < 0)
        return -1;
    const char *value = strchr(kv, '=') + 1;
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return hl_fail(errno, "sysctl %s", kv);
    ssize_t n = write(fd, value, strlen(value));
    int r = n == (ssize_t)strlen(value) ? 0
            : n < 0                     ? hl_fail(errno, "sysctl %s", kv)
                                        : hl_fail(0, "sysctl %s: short write", kv);
    if (close(fd) < 0 && r == 0)
        r = hl_fail(errno, "sysctl %s", kv);
    return r;
}

static bool map_valid(const char *m)
{
    unsigned long a, b, c;
    char end;
    return m && sscanf(m, "%lu %lu %lu%c", &a, &b, &c, &end) == 3 && c > 0 && a <= UINT32_MAX &&
           b <= UINT32_MAX && c <= UINT32_MAX;
}

static int check_options(const struct options *o)
{
    char path[PATH_MAX];
    if (o->hostname && !o->ns[NS_UTS])
        return hl_fail(0, "--hostname needs --uts");
    if (o->hostname && (o->hostname[0] == '\0' || strlen(o->hostname) > HOST_NAME_MAX))
        return hl_fail(0, "hostname \"%s\" is empty or longer than %d bytes", o->hostname, HOST_NAME_MAX);
    for (size_t i = 0; i < o->n_sysctls; i++)
        if (sysctl_check(o, o->sysctls[i], path, sizeof(path)) < 0)
            return -1;
    if (o->ns[NS_USER] && (!map_valid(o->uid_map) || !map_valid(o->gid_map)))
        return hl_fail(0, "--userns needs --uid-map and --gid-map \"CONTAINER_ID HOST_ID LENGTH\"");
    return 0;
}

static int pin_ns(int ns, const char *src)
{
    char dst[PATH_MAX];
    if (snprintf(dst, sizeof(dst), "%s/%s", made.dir, namespaces[ns].name) >= (int)sizeof(dst))
        return hl_fail(0, "%s: path too long", made.dir);
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
    if (fd < 0)
        return hl_fail(errno, "create %s", dst);
    close(fd);
    if (mount(src, dst, NULL, MS_BIND, NULL) < 0) {
        hl_fail(errno, "bind mount %s on %s", src, dst);
        unlink(dst);
        return -1;
    }
    made.pinned[ns] = true;
    return 0;
}

static void undo(void)
{
    if (made.init_pid > 0 && kill(made.init_pid, SIGKILL) == 0)
        waitpid(made.init_pid, NULL, 0);
    if (made.userns_holder > 0 && kill(made.userns_holder, SIGKILL) == 0)
        waitpid(made.userns_holder, NULL, 0);
    for (int ns = 0; ns < NS_COUNT; ns++) {
        char dst[PATH_MAX];
        if (!made.pinned[ns])
            continue;
        snprintf(dst, sizeof(dst), "%s/%s", made.dir, namespaces[ns].name);
        umount2(dst, MNT_DETACH | UMOUNT_NOFOLLOW);
        unlink(dst);
    }
}

static void init_on_term(int sig)
{
    (void)sig;
    _exit(0);
}

/* Orphans of the pod are reparented to us; reap them in the handler, as Kubernetes' pause does, so no
 * SIGCHLD can slip in between a last waitpid and pause(). */
static void init_on_child(int sig)
{
    (void)sig;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    errno = saved;
}

/* Keep nothing of the caller's: an inherited pipe would hold crispd's read of our output open. */
static void init_detach(int sync_fd)
{
    if (sync_fd != 3) {
        dup2(sync_fd, 3);
        close(sync_fd);
    }
    if (close_range(4, ~0U, 0) < 0)
        for (int fd = 4; fd < 1024; fd++)
            close(fd);
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; fd++) {
        if (null >= 0)
            dup2(null, fd);
        else
            close(fd);
    }
    if (null > 3)
        close(null);
    setsid();
}

static void init_signals(void)
{
    struct sigaction sa = {.sa_handler = init_on_term};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = init_on_child;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The init joins the pod's cgroups itself (helpers/lib/cgroup_self.h) and answers: ok, or which cgroup it
 * could not join and why. */
struct join_answer {
    char ok;
    int error;
    uint32_t index;
};

static struct join_answer cgroups_join_self(const struct options *o)
{
    for (size_t i = 0; i < o->n_cgroup_procs; i++)
        if (hl_cgroup_self_join(o->cgroup_procs[i]) < 0)
            return (struct join_answer){.ok = 0, .error = errno, .index = (uint32_t)i};
    return (struct join_answer){.ok = 1};
}

/* The pod's PID 1. It waits until the helper has pinned its PID namespace, joins the pod's cgroups and
 * says so; if the helper dies first, the socket reads EOF and it leaves. No PR_SET_PDEATHSIG: it must
 * outlive the helper and crispd. */
static __attribute__((noreturn)) void init_run(int sync_fd, const struct options *o)
{
    /* Named before the helper can report it, so whoever looks it up at once sees what it is. */
    prctl(PR_SET_NAME, "crisp-pod-init", 0, 0, 0);
    init_detach(sync_fd);
    char go;
    ssize_t n;
    while ((n = read(3, &go, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(1);
    struct join_answer a = cgroups_join_self(o);
    if (write(3, &a, sizeof(a)) != (ssize_t)sizeof(a) || !a.ok)
        _exit(1);
    close(3);
    if (chdir("/") < 0)
        _exit(1);
    init_signals();
    init_on_child(SIGCHLD);
    for (;;)
        pause();
}

static int init_start(const struct options *o)
{
    int sync_pipe[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_pipe) < 0)
        return hl_fail(errno, "socketpair");
    pid_t pid = fork();
    if (pid < 0) {
        hl_fail(errno, "fork the pod init");
        close(sync_pipe[0]);
        close(sync_pipe[1]);
        return -1;
    }
    if (pid == 0) {
        close(sync_pipe[1]);
        init_run(sync_pipe[0], o);
    }
    close(sync_pipe[0]);
    made.init_pid = pid;
    char src[64];
    snprintf(src, sizeof(src), "/proc/%d/ns/pid", pid);
    int r = pin_ns(NS_PID, src);
    struct join_answer a = {0};
    if (r == 0 && write(sync_pipe[1], "g", 1) != 1)
        r = hl_fail(errno, "start the pod init");
    if (r == 0 && read(sync_pipe[1], &a, sizeof(a)) != (ssize_t)sizeof(a))
        r = hl_fail(0, "the pod init died before it joined the pod's cgroups");
    if (r == 0 && !a.ok)
        r = hl_fail(a.error, "join cgroup %s", a.index < o->n_cgroup_procs ? o->cgroup_procs[a.index] : "?");
    close(sync_pipe[1]);
    return r;
}

static int settings_apply(const struct options *o)
{
    if (o->hostname && sethostname(o->hostname, strlen(o->hostname)) < 0)
        return hl_fail(errno, "sethostname %s", o->hostname);
    for (size_t i = 0; i < o->n_sysctls; i++)
        if (sysctl_write(o, o->sysctls[i]) < 0)
            return -1;
    return 0;
}

static int pins_make(const struct options *o, const char *proc_dir)
{
    for (int ns = NS_NET; ns <= NS_UTS; ns++) {
        char src[64];
        snprintf(src, sizeof(src), "%s/ns/%s", proc_dir, namespaces[ns].name);
        if (o->ns[ns] && pin_ns(ns, src) < 0)
            return -1;
    }
    return 0;
}

static int finish(const struct options *o)
{
    if (o->ns[NS_PID] && (unshare(CLONE_NEWPID) < 0 ? hl_fail(errno, "unshare pid") : init_start(o)) < 0)
        return -1;
    if (printf("{\"init_pid\": %d}\n", made.init_pid > 0 ? made.init_pid : 0) < 0 || fflush(stdout) != 0)
        return hl_fail(errno, "write result");
    return 0;
}

static int shared_flags(const struct options *o)
{
    int flags = 0;
    for (int ns = NS_NET; ns <= NS_UTS; ns++)
        flags |= o->ns[ns] ? namespaces[ns].flag : 0;
    return flags;
}

static int run(const struct options *o)
{
    int flags = shared_flags(o);
    if (flags && unshare(flags) < 0)
        return hl_fail(errno, "unshare");
    if (settings_apply(o) < 0 || pins_make(o, "/proc/self") < 0)
        return -1;
    return finish(o);
}

/* One byte over a pipe, to step the user namespace's holder along; EOF means the other side died. */
static int step_send(int fd, char c)
{
    return write(fd, &c, 1) == 1 ? 0 : hl_fail(errno, "signal the user namespace's holder");
}

static int step_wait(int fd, char want)
{
    char c = 0;
    ssize_t n;
    while ((n = read(fd, &c, 1)) < 0 && errno == EINTR)
        ;
    return n == 1 && c == want ? 0 : hl_fail(0, "the user namespace's holder failed");
}

/* The holder: makes the user namespace, waits for its maps, then (with every capability in it) makes
 * the pod's other namespaces inside it, and waits to be told to go. */
static __attribute__((noreturn)) void holder_run(int flags, int to_parent, int from_parent)
{
    if (unshare(CLONE_NEWUSER) < 0 || write(to_parent, "u", 1) != 1)
        _exit(1);
    char c;
    if (read(from_parent, &c, 1) != 1 || (flags && unshare(flags) < 0) || write(to_parent, "n", 1) != 1)
        _exit(1);
    while (read(from_parent, &c, 1) > 0)
        ;
    _exit(0);
}

static int map_write(pid_t pid, const char *file, const char *map)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return hl_fail(errno, "open %s", path);
    ssize_t n = write(fd, map, strlen(map));
    int r = n == (ssize_t)strlen(map) ? 0 : hl_fail(errno, "write \"%s\" to %s", map, path);
    close(fd);
    return r;
}

/* We stay in the host's user namespace, join the pod's others, and set the hostname and sysctls there
 * as the host's root. */
static int join_pod_namespaces(const struct options *o, pid_t holder)
{
    for (int ns = NS_NET; ns <= NS_UTS; ns++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)holder, namespaces[ns].name);
        int fd = o->ns[ns] ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (o->ns[ns] && (fd < 0 || setns(fd, namespaces[ns].flag) < 0))
            return hl_fail(errno, "join %s", path);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

static int userns_steps(const struct options *o, pid_t holder, int from_holder, int to_holder)
{
    char proc_dir[32], src[64];
    snprintf(proc_dir, sizeof(proc_dir), "/proc/%d", (int)holder);
    snprintf(src, sizeof(src), "%s/ns/user", proc_dir);
    if (step_wait(from_holder, 'u') < 0 || map_write(holder, "uid_map", o->uid_map) < 0 ||
        map_write(holder, "gid_map", o->gid_map) < 0 || pin_ns(NS_USER, src) < 0 ||
        step_send(to_holder, 'g') < 0 || step_wait(from_holder, 'n') < 0 || pins_make(o, proc_dir) < 0 ||
        join_pod_namespaces(o, holder) < 0)
        return -1;
    return settings_apply(o);
}

static int run_userns(const struct options *o)
{
    int up[2], down[2];
    if (pipe2(up, O_CLOEXEC) < 0 || pipe2(down, O_CLOEXEC) < 0)
        return hl_fail(errno, "pipe");
    int flags = shared_flags(o);
    pid_t holder = fork();
    if (holder < 0)
        return hl_fail(errno, "fork");
    if (holder == 0) {
        close(up[0]);
        close(down[1]);
        holder_run(flags, up[1], down[0]);
    }
    made.userns_holder = holder;
    close(up[1]);
    close(down[0]);
    int r = userns_steps(o, holder, up[0], down[1]);
    close(up[0]);
    close(down[1]);
    waitpid(holder, NULL, 0);
    made.userns_holder = 0;
    return r < 0 ? -1 : finish(o);
}

int main(int argc, char **argv)
{
    static struct options o;
    /* A closed stdout or a dead init must come back as errors we can undo, not kill us halfway. */
    signal(SIGPIPE, SIG_IGN);
    if (parse_args(argc, argv, &o) < 0 || check_options(&o) < 0) {
        fprintf(stderr, "%s\n", hl_error());
        return 1;
    }
    made.dir = o.dir;
    if ((o.ns[NS_USER] ? run_userns(&o) : run(&o)) < 0) {
        undo();
        fprintf(stderr, "%s\n", hl_error());
        return 1;
    }
    return 0;
}
