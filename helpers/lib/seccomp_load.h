/* Loading a filter crispd compiled (runtime/seccomp/seccomp.h) in the libc-only helpers. Read the file
 * while the host's paths are still in reach (before pivot_root), load it last before execve, after
 * prctl(PR_SET_NO_NEW_PRIVS) (or while still holding CAP_SYS_ADMIN): every syscall the helper makes
 * after loading, execve included, meets the container's profile (hl_cred: cred.h does it in that order).
 * Failures go through hl_fail (helper_error.h), with errno left as the failing call set it. */
#ifndef CRISP_HELPERS_SECCOMP_LOAD_H
#define CRISP_HELPERS_SECCOMP_LOAD_H

#include <linux/filter.h>

/* Reads the BPF file into *ret (ret->filter is malloc'd; the caller frees it). EINVAL: the file can't
 * be a filter (empty, not whole instructions, more than the kernel takes, or it changed under us). */
int hl_seccomp_read(const char *path, struct sock_fprog *ret);

/* flags are rt_seccomp_filter.flags (SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_SPEC_ALLOW). */
int hl_seccomp_load(const struct sock_fprog *prog, unsigned int flags);

/* Both at once, for a process that can still see the file right before it execs. */
int hl_seccomp_load_file(const char *path, unsigned int flags);

#endif
