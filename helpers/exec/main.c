/* crisp-exec: runs a command inside a running container, for ExecSync and Exec. It joins the
 * namespaces of the container's process --pid and the cgroups given, takes the container's user and
 * no_new_privs, and execs the command with its stdio. It exits with the command's status (128+N for
 * a signal); on SIGTERM or SIGINT it kills every process the command started and exits 137.
 *
 * Three processes: this one (the "parent"), which stays in crispd's PID namespace and relays;
 * a "session" forked into the container's PID namespace, a child subreaper that reaps and, on
 * timeout, kills the tree; and the command. The session must live in the container's PID namespace:
 * orphans are reparented to a subreaper only within their own namespace, else to its PID 1.
 *
 * A separate single-threaded program because crispd is multi-threaded and must not setns or change
 * credentials in a forked child of itself. Failures before the command runs are one line
 * "<status> <message>" on --error-fd (stderr if none) and exit status 125; status is an errno value
 * for crispd's error: ENOENT when the container's process is gone, else EIO or EINVAL. */
#define _GNU_SOURCE
#include "helpers/lib/cgroup_self.h"
#include "helpers/lib/cred.h"
#include "helpers/lib/fd_pass.h"
#include "helpers/lib/helper_error.h"
#include "helpers/lib/proc_stat.h"
#include "helpers/lib/seccomp_load.h"

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
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CGROUPS 256
#define MAX_GROUPS 4096
#define MAX_ENV 4096
#define EXIT_SETUP 125
#define EXIT_KILLED 137
/* How long the session keeps killing and reaping a tree that will not go away. */
#define KILL_TIMEOUT_MS 5000

static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* In the order they are joined: mnt after the others, since it changes our root and what paths mean;
 * cgroup (the container's own on v2) once its cgroup is joined and while we are the host's root;
 * user (a pod's own) last, as the container's mount and cgroup namespaces belong to the host's. */
static const struct {
    const char *name;
    int flag;
} namespaces[] = {
    {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},       {"net", CLONE_NEWNET},   {"pid", CLONE_NEWPID},
    {"mnt", CLONE_NEWNS},  {"cgroup", CLONE_NEWCGROUP}, {"user", CLONE_NEWUSER},
};
#define NS_COUNT (sizeof(namespaces) / sizeof(namespaces[0]))

struct options {
    pid_t pid;
    unsigned long long start_time;
    bool has_start_time;
    const char *cgroup_procs[MAX_CGROUPS];
    size_t n_cgroup_procs;
    gid_t groups[MAX_GROUPS];
    struct hl_cred cred; /* its seccomp filter read before we leave the host's mount namespace */
    const char *cwd;
    char *env[MAX_ENV + 1];
    size_t n_env;
    bool tty;
    const char *seccomp_path;
    int error_fd;
    char **argv;
};

static __attribute__((noreturn)) void die(const struct options *o)
{
    if (o->error_fd >= 0)
        dprintf(o->error_fd, "%d %s\n", hl_error_status() ? hl_error_status() : EIO, hl_error());
    else
        fprintf(stderr, "crisp-exec: %s\n", hl_error());
    _exit(EXIT_SETUP);
}

static int parse_number(const char *s, unsigned long long max, unsigned long long *ret)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return hl_fail_status(EINVAL, "invalid number \"%s\"", s);
    *ret = v;
    return 0;
}

static int add_item(const char **items, size_t *n, size_t max, const char *value, const char *what)
{
    if (*n == max)
        return hl_fail_status(EINVAL, "too many %s options", what);
    items[(*n)++] = value;
    return 0;
}

static int add_group(struct options *o, const char *value)
{
    unsigned long long v;
    if (o->cred.n_groups == MAX_GROUPS)
        return hl_fail_status(EINVAL, "too many --group options");
    if (parse_number(value, UINT32_MAX - 1, &v) < 0)
        return -1;
    o->groups[o->cred.n_groups++] = (gid_t)v;
    o->cred.groups = o->groups;
    return 0;
}

static int parse_option(struct options *o, int c, const char *arg, const char *name)
{
    unsigned long long v;
    switch (c) {
    case 'p':
        if (parse_number(arg, INT_MAX, &v) < 0 || v == 0)
            return hl_fail_status(EINVAL, "invalid --pid \"%s\"", arg);
        o->pid = (pid_t)v;
        return 0;
    case 't':
        o->has_start_time = true;
        return parse_number(arg, ULLONG_MAX, &o->start_time);
    case 'c':
        return add_item(o->cgroup_procs, &o->n_cgroup_procs, MAX_CGROUPS, arg, "--cgroup-procs");
    case 'u':
        if (parse_number(arg, UINT32_MAX - 1, &v) < 0)
            return -1;
        o->cred.uid = (uid_t)v;
        return 0;
    case 'g':
        if (parse_number(arg, UINT32_MAX - 1, &v) < 0)
            return -1;
        o->cred.gid = (gid_t)v;
        return 0;
    case 'G':
        return add_group(o, arg);
    case 'd':
        o->cwd = arg;
        return 0;
    case 'e':
        if (!strchr(arg, '=') || arg[0] == '=')
            return hl_fail_status(EINVAL, "--env %s: expected KEY=VALUE", arg);
        return add_item((const char **)o->env, &o->n_env, MAX_ENV, arg, "--env");
    case 'n':
        o->cred.no_new_privs = true;
        return 0;
    case 'T':
        o->tty = true;
        return 0;
    case 'S':
        o->seccomp_path = arg;
        return 0;
    case 'A': {
        char *end;
        errno = 0;
        o->cred.ambient = strtoull(arg, &end, 16);
        if (!arg[0] || *end || errno || strlen(arg) > 16)
            return hl_fail_status(EINVAL, "invalid --ambient-caps \"%s\": expected a hex mask", arg);
        return 0;
    }
    case 'F':
        if (parse_number(arg, 0xff, &v) < 0)
            return -1;
        o->cred.seccomp_flags = (unsigned)v;
        return 0;
    case 'C': {
        char *end;
        errno = 0;
        o->cred.caps = strtoull(arg, &end, 16);
        if (!arg[0] || *end || errno || strlen(arg) > 16)
            return hl_fail_status(EINVAL, "invalid --caps \"%s\": expected a hex mask", arg);
        o->cred.has_caps = true;
        return 0;
    }
    case 'f':
        if (parse_number(arg, INT_MAX, &v) < 0 || v < 3)
            return hl_fail_status(EINVAL, "invalid --error-fd \"%s\"", arg);
        o->error_fd = (int)v;
        return 0;
    }
    return hl_fail_status(EINVAL, "unknown or incomplete option %s", name);
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option long_options[] = {
        {"pid", required_argument, NULL, 'p'},          {"start-time", required_argument, NULL, 't'},
        {"cgroup-procs", required_argument, NULL, 'c'}, {"uid", required_argument, NULL, 'u'},
        {"gid", required_argument, NULL, 'g'},          {"group", required_argument, NULL, 'G'},
        {"cwd", required_argument, NULL, 'd'},          {"env", required_argument, NULL, 'e'},
        {"no-new-privs", no_argument, NULL, 'n'},       {"error-fd", required_argument, NULL, 'f'},
        {"caps", required_argument, NULL, 'C'},         {"tty", no_argument, NULL, 'T'},
        {"seccomp", required_argument, NULL, 'S'},      {"seccomp-flags", required_argument, NULL, 'F'},
        {"ambient-caps", required_argument, NULL, 'A'}, {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+", long_options, NULL)) != -1)
        if (parse_option(o, c, optarg, argv[optind - 1]) < 0)
            return -1;
    if (o->pid == 0 || optind >= argc)
        return hl_fail_status(EINVAL,
                              "usage: crisp-exec --pid PID [--start-time T] [--cgroup-procs FILE]... "
                              "[--uid N] [--gid N] [--group N]... [--cwd DIR] [--env K=V]... "
                              "[--no-new-privs] [--caps HEX] [--tty] [--seccomp FILE [--seccomp-flags N]] "
                              "[--error-fd N] -- ARG...");
    o->argv = argv + optind;
    return 0;
}

/* Nothing of crispd's but stdio and the error fd may reach the container. */
static void fds_close_inherited(int keep)
{
    if (keep > 3)
        close_range(3, (unsigned)keep - 1, 0);
    close_range(keep >= 3 ? (unsigned)keep + 1 : 3, ~0U, 0);
    if (keep >= 3)
        fcntl(keep, F_SETFD, FD_CLOEXEC);
}

/* A directory fd of /proc/PID names one process for as long as it is open: files opened through it
 * after the process died fail rather than show whoever got the pid next. */
static int target_open(const struct options *o)
{
    char path[64];
    struct hl_proc_stat st;
    snprintf(path, sizeof(path), "/proc/%d", (int)o->pid);
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0 && errno == ENOENT)
        return hl_fail_status(ENOENT, "container process %d is gone", (int)o->pid);
    if (dir < 0)
        return hl_fail(errno, "open %s", path);
    if (hl_proc_stat_read(dir, "stat", &st) < 0 || st.state == 'Z' || st.state == 'X' ||
        (o->has_start_time && st.start_time != o->start_time)) {
        close(dir);
        return hl_fail_status(ENOENT, "container process %d is gone", (int)o->pid);
    }
    return dir;
}

/* *ret_fd is -1 where we are in the target's namespace already: joining it again is useless, and for
 * mnt it would also move our root. */
static int ns_open(int dir, pid_t pid, const char *name, int *ret_fd)
{
    char path[32], self[32];
    struct stat theirs, ours;
    snprintf(path, sizeof(path), "ns/%s", name);
    snprintf(self, sizeof(self), "/proc/self/ns/%s", name);
    *ret_fd = openat(dir, path, O_RDONLY | O_CLOEXEC);
    if (*ret_fd < 0)
        return errno == ENOENT || errno == ESRCH
                   ? hl_fail_status(ENOENT, "container process %d is gone", (int)pid)
                   : hl_fail(errno, "open namespace %s", name);
    if (fstat(*ret_fd, &theirs) < 0 || stat(self, &ours) < 0)
        return hl_fail(errno, "stat namespace %s", name);
    if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev) {
        close(*ret_fd);
        *ret_fd = -1;
    }
    return 0;
}

/* Opens every namespace first so the target cannot go away halfway, then joins the cgroups (whose
 * paths are the host's) and the namespaces. Children inherit all of it. */
static int container_join(const struct options *o)
{
    int fds[NS_COUNT], r = 0;
    for (size_t i = 0; i < NS_COUNT; i++)
        fds[i] = -1;
    int dir = target_open(o);
    if (dir < 0)
        return -1;
    for (size_t i = 0; r == 0 && i < NS_COUNT; i++)
        r = ns_open(dir, o->pid, namespaces[i].name, &fds[i]);
    close(dir);
    for (size_t i = 0; r == 0 && i < o->n_cgroup_procs; i++)
        r = hl_cgroup_self_join(o->cgroup_procs[i]);
    for (size_t i = 0; r == 0 && i < NS_COUNT; i++)
        if (fds[i] >= 0 && setns(fds[i], namespaces[i].flag) < 0)
            r = hl_fail(errno, "join %s namespace of process %d", namespaces[i].name, (int)o->pid);
    for (size_t i = 0; i < NS_COUNT; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return r;
}

static int exit_code(int status)
{
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static const char *env_path(const struct options *o)
{
    for (size_t i = 0; i < o->n_env; i++)
        if (strncmp(o->env[i], "PATH=", 5) == 0)
            return o->env[i] + 5;
    return default_path;
}

/* The credentials last: chdir needs root, and they end with the seccomp filter (cred.h). */
static int command_setup(const struct options *o)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setsid() < 0)
        return hl_fail(errno, "setsid");
    if (o->tty && ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
        return hl_fail(errno, "make stdin the controlling terminal");
    const char *cwd = o->cwd ? o->cwd : "/";
    if (chdir(cwd) < 0)
        return hl_fail(errno, "chdir %s", cwd);
    return hl_cred_apply(&o->cred);
}

/* execvpe searches the PATH of our own environment, so it gets the one the command will have. */
static __attribute__((noreturn)) void command_run(struct options *o)
{
    if (command_setup(o) < 0 || setenv("PATH", env_path(o), 1) < 0)
        die(o);
    o->env[o->n_env] = NULL;
    execvpe(o->argv[0], o->argv, o->env);
    int saved = errno;
    fprintf(stderr, "exec %s: %s\n", o->argv[0], strerror(saved));
    _exit(saved == ENOENT || saved == ENOTDIR ? 127 : 126);
}

/* Signals TERM, INT and CHLD stay blocked and are taken with sigwaitinfo: none is lost between a
 * check and a wait, and CHLD is queued even though its default action is to ignore it. */
static void signals_block(sigset_t *ret_set)
{
    sigemptyset(ret_set);
    sigaddset(ret_set, SIGTERM);
    sigaddset(ret_set, SIGINT);
    sigaddset(ret_set, SIGCHLD);
    sigprocmask(SIG_BLOCK, ret_set, NULL);
}

/* What we pass on to the child is all we needed stdio for; holding it would keep crispd's pipes open. */
static void stdio_drop(void)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; fd++)
        if (null >= 0)
            dup3(null, fd, 0);
    if (null > 2)
        close(null);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SIGKILLs every child. As the subreaper we also get the orphans of the tree, so killing children
 * until there are none kills it all. The pids cannot be reused before we reap them. */
static void children_kill(void)
{
    FILE *f = fopen("/proc/thread-self/children", "re");
    int pid;
    if (!f)
        return;
    while (fscanf(f, "%d", &pid) == 1)
        kill(pid, SIGKILL);
    fclose(f);
}

/* Kills the command's process group (which needs no /proc) and then every child, and reaps them,
 * until none is left or KILL_TIMEOUT_MS passed. */
static void tree_kill(pid_t leader, const sigset_t *set)
{
    const struct timespec tick = {0, 100 * 1000 * 1000};
    int64_t end = now_ms() + KILL_TIMEOUT_MS;
    kill(-leader, SIGKILL);
    kill(leader, SIGKILL);
    while (now_ms() < end) {
        children_kill();
        pid_t p;
        while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
            ;
        if (p < 0 && errno == ECHILD)
            return;
        sigtimedwait(set, NULL, &tick);
    }
}

/* The command's status once it exits; EXIT_KILLED once its tree is killed on SIGTERM or SIGINT.
 * Orphans that exit meanwhile are reaped; those still running when the command exits are left to the
 * container's init, as after `docker exec`. */
static int session_wait(pid_t leader, const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig == SIGTERM || sig == SIGINT) {
            tree_kill(leader, set);
            return EXIT_KILLED;
        }
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0)
            if (p == leader) {
                while (waitpid(-1, NULL, WNOHANG) > 0)
                    ;
                return exit_code(status);
            }
    }
}

/* Runs in the container's PID namespace. If the parent is SIGKILLed, the SIGTERM it leaves us kills
 * the tree all the same. */
static __attribute__((noreturn)) void session_run(struct options *o, const sigset_t *set)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        hl_fail(errno, "set child subreaper");
        die(o);
    }
    pid_t pid = fork();
    if (pid < 0) {
        hl_fail(errno, "fork");
        die(o);
    }
    if (pid == 0)
        command_run(o);
    stdio_drop();
    _exit(session_wait(pid, set));
}

/* Relays crispd's SIGTERM or SIGINT to the session and exits as it does. */
static int parent_wait(pid_t session, const sigset_t *set)
{
    for (;;) {
        int sig = sigwaitinfo(set, NULL);
        if (sig == SIGTERM || sig == SIGINT)
            kill(session, SIGTERM);
        int status;
        if (waitpid(session, &status, WNOHANG) == session)
            return exit_code(status);
    }
}

/* With --tty, fd 0 is a socket to crispd: the terminal is opened in the container's own devpts (so
 * the command's tty has a name there), its master sent back, its slave made our stdio. */
static int terminal_open(void)
{
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return hl_fail(errno, "open the container's /dev/ptmx");
    int unlock = 0, slave = -1;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0 ||
        (slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY)) < 0) {
        hl_fail(errno, "set up a terminal");
        close(master);
        return -1;
    }
    int r = fd_pass_send(STDIN_FILENO, "t", 1, &master, 1) == 1
                ? 0
                : hl_fail(errno, "send the terminal to crispd");
    close(master);
    for (int fd = 0; r == 0 && fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            r = hl_fail(errno, "make the terminal our stdio");
    close(slave);
    return r;
}

int main(int argc, char **argv)
{
    static struct options o = {.error_fd = -1};
    sigset_t set;
    signals_block(&set);
    if (parse_args(argc, argv, &o) < 0)
        die(&o);
    fds_close_inherited(o.error_fd);
    if (o.seccomp_path && hl_seccomp_read(o.seccomp_path, &o.cred.seccomp) < 0)
        die(&o);
    /* Not dumpable: processes in the container may not ptrace us or open /proc/<pid>/exe. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (container_join(&o) < 0 || (o.tty && terminal_open() < 0))
        die(&o);
    pid_t pid = fork();
    if (pid < 0) {
        hl_fail(errno, "fork");
        die(&o);
    }
    if (pid == 0)
        session_run(&o, &set);
    stdio_drop();
    return parent_wait(pid, &set);
}
