#include "helpers/lib/seccomp_load.h"
#include "helpers/lib/helper_error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Closes fd and fails with error e (0: keep errno as it is). */
static int seccomp_read_fail(const char *path, int fd, char *buf, int e)
{
    int saved = e ? e : errno;
    close(fd);
    free(buf);
    errno = saved;
    return hl_fail(saved, "read seccomp filter %s", path);
}

static int seccomp_read_all(const char *path, int fd, char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return seccomp_read_fail(path, fd, buf, 0);
        if (n == 0)
            return seccomp_read_fail(path, fd, buf, EINVAL);
        done += (size_t)n;
    }
    return 0;
}

int hl_seccomp_read(const char *path, struct sock_fprog *ret)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return hl_fail(errno, "read seccomp filter %s", path);
    if (fstat(fd, &st) < 0)
        return seccomp_read_fail(path, fd, NULL, 0);
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
        st.st_size > BPF_MAXINSNS * (off_t)sizeof(struct sock_filter))
        return seccomp_read_fail(path, fd, NULL, EINVAL);
    size_t len = (size_t)st.st_size;
    char *buf = malloc(len);
    if (!buf)
        return seccomp_read_fail(path, fd, NULL, ENOMEM);
    if (seccomp_read_all(path, fd, buf, len) < 0)
        return -1;
    close(fd);
    *ret = (struct sock_fprog){.len = (unsigned short)(len / sizeof(struct sock_filter)),
                               .filter = (void *)buf};
    return 0;
}

/* Kernels before seccomp(2) (3.17) have only prctl, which takes no flags. */
int hl_seccomp_load(const struct sock_fprog *prog, unsigned int flags)
{
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, prog) == 0)
        return 0;
    if (errno == ENOSYS && !flags && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0, 0) == 0)
        return 0;
    return hl_fail(errno, "load the seccomp filter");
}

int hl_seccomp_load_file(const char *path, unsigned int flags)
{
    struct sock_fprog prog;
    if (hl_seccomp_read(path, &prog) < 0)
        return -1;
    int r = hl_seccomp_load(&prog, flags);
    int saved = errno;
    free(prog.filter); /* the kernel keeps its own copy */
    errno = saved;
    return r;
}
