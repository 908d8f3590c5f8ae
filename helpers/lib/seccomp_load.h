/* Loading a filter crispd compiled (runtime/seccomp/seccomp.h) in the libc-only helpers. Read the file while
 * the host's paths are still in reach (before pivot_root), load it last before execve, after
 * prctl(PR_SET_NO_NEW_PRIVS) (or while still holding CAP_SYS_ADMIN): every syscall the helper makes
 * after loading, execve included, meets the container's profile. Errors: -1 with errno set. */
#ifndef CRISP_RUNTIME_SECCOMP_LOAD_H
#define CRISP_RUNTIME_SECCOMP_LOAD_H

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Closes fd and fails with error e (0: keep errno as it is). */
static inline int rt_seccomp_bpf_fail(int fd, char *buf, int e)
{
    int saved = e ? e : errno;
    close(fd);
    free(buf);
    errno = saved;
    return -1;
}

/* Reads the BPF file into *ret (ret->filter is malloc'd; the caller frees it). EINVAL: the file can't
 * be a filter (empty, not whole instructions, more than the kernel takes, or it changed under us). */
static inline int rt_seccomp_bpf_read(const char *path, struct sock_fprog *ret)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0)
        return rt_seccomp_bpf_fail(fd, NULL, 0);
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
        st.st_size > BPF_MAXINSNS * (off_t)sizeof(struct sock_filter))
        return rt_seccomp_bpf_fail(fd, NULL, EINVAL);
    size_t len = (size_t)st.st_size, done = 0;
    char *buf = malloc(len);
    if (!buf)
        return rt_seccomp_bpf_fail(fd, NULL, ENOMEM);
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rt_seccomp_bpf_fail(fd, buf, 0);
        if (n == 0)
            return rt_seccomp_bpf_fail(fd, buf, EINVAL);
        done += (size_t)n;
    }
    close(fd);
    *ret = (struct sock_fprog){.len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = (void *)buf};
    return 0;
}

/* flags are rt_seccomp_filter.flags (SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW). Kernels
 * before seccomp(2) (3.17) have only prctl, which takes no flags. */
static inline int rt_seccomp_bpf_load(const struct sock_fprog *prog, unsigned int flags)
{
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog) == 0)
        return 0;
    if (errno != ENOSYS || flags)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0);
}

/* Both at once, for a helper that can still see the file right before it execs. */
static inline int rt_seccomp_load_file(const char *path, unsigned int flags)
{
    struct sock_fprog prog;
    if (rt_seccomp_bpf_read(path, &prog) < 0)
        return -1;
    int r = rt_seccomp_bpf_load(&prog, flags);
    int saved = errno;
    free(prog.filter); /* the kernel keeps its own copy */
    errno = saved;
    return r;
}

#endif
