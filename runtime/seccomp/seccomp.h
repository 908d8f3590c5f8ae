/* Seccomp profiles compiled once, in crispd, into classic BPF: the container's helpers link only libc, so
 * they load the bytes (helpers/lib/seccomp_load.h) instead of running libseccomp in every container start.
 * Profiles are crisp's built-in RuntimeDefault or Localhost files in the Docker/OCI JSON format. */
#ifndef CRISP_RUNTIME_SECCOMP_H
#define CRISP_RUNTIME_SECCOMP_H

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

/* Localhost profiles larger than this are refused (moby's default profile is about 13 KiB). */
#define RT_SECCOMP_PROFILE_MAX_SIZE (1024 * 1024)

struct rt_seccomp_filter {
    void *bpf;          /* struct sock_filter[len / 8] */
    size_t len;         /* bytes, a multiple of sizeof(struct sock_filter) */
    unsigned int flags; /* SECCOMP_FILTER_FLAG_* for the seccomp(2) call that loads it */
};

/* Each compiles the profile for a container granted the capability mask caps (bit N = capability N):
 * rules that Docker-style profiles tie to capabilities are kept or dropped accordingly. On success the
 * caller owns *ret and releases it with rt_seccomp_filter_fini. */
int rt_seccomp_compile_default(uint64_t caps, struct rt_seccomp_filter *ret, crisp_error_t **err);
int rt_seccomp_compile_json(const char *json, size_t len, uint64_t caps, struct rt_seccomp_filter *ret,
                            crisp_error_t **err);
int rt_seccomp_compile_file(const char *path, uint64_t caps, struct rt_seccomp_filter *ret,
                            crisp_error_t **err);

/* Writes the BPF bytes where the helper will read them (atomically; mode 0600). */
int rt_seccomp_filter_write(const struct rt_seccomp_filter *f, const char *path, crisp_error_t **err);

/* Accepts NULL and a zeroed filter; leaves f zeroed. */
void rt_seccomp_filter_fini(struct rt_seccomp_filter *f);

#endif
