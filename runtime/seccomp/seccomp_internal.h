/* A seccomp profile as the compiler sees it, whether it came from crisp's built-in table or from a
 * Localhost JSON file: strings are borrowed (static data, or the parsed JSON tree). */
#ifndef CRISP_RUNTIME_SECCOMP_INTERNAL_H
#define CRISP_RUNTIME_SECCOMP_INTERNAL_H

#include "runtime/seccomp/seccomp.h"

#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>

#define RT_SECCOMP_MAX_ARGS 6
#define RT_SECCOMP_MAX_ARCHES 16

struct rt_seccomp_rule {
    const char *const *names; /* NULL-terminated; names libseccomp doesn't know are skipped */
    uint32_t action;          /* libseccomp action, errno or trace value included */
    unsigned int n_args;
    struct scmp_arg_cmp args[RT_SECCOMP_MAX_ARGS]; /* all must hold (but see the compiler on repeats) */
    /* Docker's includes/excludes: the rule applies only when the container holds every capability of
     * caps_all and none of caps_none, and the host's architecture is in arches (NULL: any) and not in
     * not_arches. Architectures by Docker's names ("amd64", "arm64", "x32") or libseccomp's. */
    uint64_t caps_all, caps_none;
    const char *const *arches, *const *not_arches;
};

struct rt_seccomp_profile {
    uint32_t default_action;
    unsigned int flags; /* SECCOMP_FILTER_FLAG_* */
    size_t n_arches;    /* besides the native one, which is always in the filter */
    uint32_t arches[RT_SECCOMP_MAX_ARCHES];
    size_t n_rules;
    const struct rt_seccomp_rule *rules;
};

/* Compiles p for a container holding caps into BPF. Errors name the rule as syscalls[i]. */
int rt_seccomp_profile_compile(const struct rt_seccomp_profile *p, uint64_t caps,
                               struct rt_seccomp_filter *ret, crisp_error_t **err);

/* Whether the host's architecture is one of the NULL-terminated names. */
bool rt_seccomp_arch_native_in(const char *const *names);

#endif
