/* crisp's RuntimeDefault profile: in effect the default profile of Docker (moby's
 * profiles/seccomp/default.json) and containerd: deny with EPERM, allow the syscalls ordinary programs
 * use, and allow the privileged ones only to containers granted the capability that guards them. */
#define _GNU_SOURCE
#include "runtime/seccomp/seccomp_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define CAP(c) (1ULL << (c))
#define ALLOW_WITH_CAP(c, ...)                                                                               \
    {                                                                                                        \
        .names = NAMES(__VA_ARGS__), .action = SCMP_ACT_ALLOW, .caps_all = CAP(c)                            \
    }
#define ALLOW_ON_ARCH(arch_names, ...)                                                                       \
    {                                                                                                        \
        .names = NAMES(__VA_ARGS__), .action = SCMP_ACT_ALLOW, .arches = arch_names                          \
    }
#define ARG_EQ(v)                                                                                            \
    {                                                                                                        \
        .arg = 0, .op = SCMP_CMP_EQ, .datum_a = (v)                                                          \
    }

/* The namespace flags of clone(2): creating namespaces needs CAP_SYS_ADMIN. */
#define CLONE_NS_FLAGS                                                                                       \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |               \
     CLONE_NEWCGROUP)

/* The tables keep several names to a line, as Docker's profile lists them; clang-format would put
 * each on its own. */
/* clang-format off */
static const char *const allowed[] = {
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir", "chmod",
    "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
    "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
    "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
    "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat",
    "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
    "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
    "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
    "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32",
    "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
    "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek",
    "lsetxattr", "lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore",
    "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat",
    "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
    "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead",
    "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq",
    "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
    "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto",
    "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32",
    "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt",
    "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat", "shmctl", "shmdt",
    "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall",
    "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete",
    "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64",
    "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
    "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
    "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
    /* Safe since Linux 4.8, when ptrace stopped being a way around seccomp; crisp needs newer kernels. */
    "process_vm_readv", "process_vm_writev", "ptrace",
    NULL,
};

static const struct rt_seccomp_rule rules[] = {
    {.names = allowed, .action = SCMP_ACT_ALLOW},
    /* AF_VSOCK (40) reaches the hypervisor host, outside the container's network namespace. */
    {.names = NAMES("socket"), .action = SCMP_ACT_ALLOW, .n_args = 1,
     .args = {{.arg = 0, .op = SCMP_CMP_NE, .datum_a = 40}}},
    /* Alternatives, one rule each (see add_syscall): PER_LINUX, PER_LINUX32, UNAME26 with either, and
     * 0xffffffff, which only queries. Other personalities may turn off ASLR. */
    {.names = NAMES("personality"), .action = SCMP_ACT_ALLOW, .n_args = 5,
     .args = {ARG_EQ(0x0), ARG_EQ(0x8), ARG_EQ(0x20000), ARG_EQ(0x20008), ARG_EQ(0xffffffff)}},

    ALLOW_ON_ARCH(NAMES("ppc64le"), "sync_file_range2", "swapcontext"),
    ALLOW_ON_ARCH(NAMES("arm", "arm64"), "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2",
                  "breakpoint", "cacheflush", "set_tls"),
    ALLOW_ON_ARCH(NAMES("amd64", "x32"), "arch_prctl"),
    ALLOW_ON_ARCH(NAMES("amd64", "x32", "x86"), "modify_ldt"),
    ALLOW_ON_ARCH(NAMES("s390", "s390x"), "s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
    ALLOW_ON_ARCH(NAMES("riscv64"), "riscv_flush_icache"),

    ALLOW_WITH_CAP(CAP_DAC_READ_SEARCH, "open_by_handle_at"),
    ALLOW_WITH_CAP(CAP_SYS_ADMIN, "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
                   "fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
                   "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns",
                   "syslog", "umount", "umount2", "unshare"),
    /* Without CAP_SYS_ADMIN, clone only when it creates no namespace; s390 swaps clone's first two
     * arguments. */
    {.names = NAMES("clone"), .action = SCMP_ACT_ALLOW, .caps_none = CAP(CAP_SYS_ADMIN),
     .not_arches = NAMES("s390", "s390x"), .n_args = 1,
     .args = {{.arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = CLONE_NS_FLAGS, .datum_b = 0}}},
    {.names = NAMES("clone"), .action = SCMP_ACT_ALLOW, .caps_none = CAP(CAP_SYS_ADMIN),
     .arches = NAMES("s390", "s390x"), .n_args = 1,
     .args = {{.arg = 1, .op = SCMP_CMP_MASKED_EQ, .datum_a = CLONE_NS_FLAGS, .datum_b = 0}}},
    /* clone3 passes its flags in memory, out of seccomp's sight: ENOSYS makes glibc fall back to clone. */
    {.names = NAMES("clone3"), .action = SCMP_ACT_ERRNO(ENOSYS), .caps_none = CAP(CAP_SYS_ADMIN)},

    ALLOW_WITH_CAP(CAP_SYS_BOOT, "reboot"),
    ALLOW_WITH_CAP(CAP_SYS_CHROOT, "chroot"),
    ALLOW_WITH_CAP(CAP_SYS_MODULE, "delete_module", "init_module", "finit_module"),
    ALLOW_WITH_CAP(CAP_SYS_PACCT, "acct"),
    ALLOW_WITH_CAP(CAP_SYS_PTRACE, "kcmp", "pidfd_getfd", "process_madvise"),
    ALLOW_WITH_CAP(CAP_SYS_RAWIO, "iopl", "ioperm"),
    ALLOW_WITH_CAP(CAP_SYS_TIME, "settimeofday", "stime", "clock_settime", "clock_settime64"),
    ALLOW_WITH_CAP(CAP_SYS_TTY_CONFIG, "vhangup"),
    ALLOW_WITH_CAP(CAP_SYS_NICE, "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
    ALLOW_WITH_CAP(CAP_SYSLOG, "syslog"),
    ALLOW_WITH_CAP(CAP_BPF, "bpf"),
    ALLOW_WITH_CAP(CAP_PERFMON, "perf_event_open"),
};
/* clang-format on */

/* The compat ABIs a host may run besides its own: left out, their syscalls would meet libseccomp's
 * bad-architecture action (kill) instead of the profile. Docker also lists x32 on x86_64; crisp leaves it
 * out, so x32 programs are killed: it doubles the compile time (~7 ms to ~14 ms), and distribution
 * kernels ship x32 off. */
static const uint32_t arch_map[][3] = {
    {SCMP_ARCH_X86_64, SCMP_ARCH_X86},
    {SCMP_ARCH_AARCH64, SCMP_ARCH_ARM},
    {SCMP_ARCH_S390X, SCMP_ARCH_S390},
    {SCMP_ARCH_MIPS64, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64N32},
    {SCMP_ARCH_MIPSEL64, SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64N32},
};

static size_t native_sub_arches(uint32_t *ret)
{
    uint32_t native = seccomp_arch_native();
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(arch_map); i++)
        if (arch_map[i][0] == native)
            for (size_t j = 1; j < ARRAY_SIZE(arch_map[i]) && arch_map[i][j]; j++)
                ret[n++] = arch_map[i][j];
    return n;
}

static int compile(uint64_t caps, struct rt_seccomp_filter *ret, crisp_error_t **err)
{
    struct rt_seccomp_profile p = {
        .default_action = SCMP_ACT_ERRNO(EPERM),
        .rules = rules,
        .n_rules = ARRAY_SIZE(rules),
    };
    p.n_arches = native_sub_arches(p.arches);
    if (rt_seccomp_profile_compile(&p, caps, ret, err) < 0)
        return crisp_error_wrap(err, "RuntimeDefault seccomp profile");
    return 0;
}

/* libseccomp takes milliseconds to generate the BPF, while a node sees few distinct capability sets:
 * the filters are kept, keyed by the capabilities the table looks at, the least recently used making
 * room for a new one. */
#define CACHE_SLOTS 8

static struct {
    uint64_t key, used_at; /* used_at 0: empty slot */
    struct rt_seccomp_filter filter;
} cache[CACHE_SLOTS];
static uint64_t cache_clock;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t cache_key(uint64_t caps)
{
    uint64_t relevant = 0;
    for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
        relevant |= rules[i].caps_all | rules[i].caps_none;
    return caps & relevant;
}

static int filter_copy(const struct rt_seccomp_filter *f, struct rt_seccomp_filter *ret)
{
    void *bpf = malloc(f->len);
    if (!bpf)
        return -1;
    *ret = (struct rt_seccomp_filter){.bpf = memcpy(bpf, f->bpf, f->len), .len = f->len, .flags = f->flags};
    return 0;
}

static bool cache_lookup(uint64_t key, struct rt_seccomp_filter *ret)
{
    bool hit = false;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_SLOTS && !hit; i++)
        if (cache[i].used_at && cache[i].key == key && filter_copy(&cache[i].filter, ret) == 0) {
            cache[i].used_at = ++cache_clock;
            hit = true;
        }
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

/* Two threads may have compiled the same key meanwhile: then the slot is just refreshed. */
static void cache_store(uint64_t key, const struct rt_seccomp_filter *f)
{
    size_t victim = 0;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        if (cache[i].used_at && cache[i].key == key) {
            victim = i;
            break;
        }
        if (cache[i].used_at < cache[victim].used_at)
            victim = i;
    }
    struct rt_seccomp_filter copy;
    if (filter_copy(f, &copy) == 0) {
        rt_seccomp_filter_fini(&cache[victim].filter);
        cache[victim].filter = copy;
        cache[victim].key = key;
        cache[victim].used_at = ++cache_clock;
    }
    pthread_mutex_unlock(&cache_lock);
}

int rt_seccomp_compile_default(uint64_t caps, struct rt_seccomp_filter *ret, crisp_error_t **err)
{
    uint64_t key = cache_key(caps);
    if (cache_lookup(key, ret))
        return 0;
    if (compile(key, ret, err) < 0)
        return -1;
    cache_store(key, ret);
    return 0;
}
