/* A container's capability set, as crisp-monitor gives it to the workload and crisp-exec to every exec
 * (in that order, through hl_cred_drop: cred.h). The set is a 64-bit mask of capability numbers. After
 * setuid a root workload gets exactly the set as effective and permitted, a non-root one keeps none
 * (the kernel clears them on the uid change), as Docker does, except the ambient ones asked for: those
 * a non-root workload keeps across exec too. Failures go through hl_fail (helper_error.h). */
#ifndef CRISP_HELPERS_CAPS_APPLY_H
#define CRISP_HELPERS_CAPS_APPLY_H

#include <stdbool.h>
#include <stdint.h>

/* Drops every capability outside mask from the bounding set; needs CAP_SETPCAP, so before setuid. */
int hl_caps_bounding_apply(uint64_t mask);

/* Before setuid: with ambient capabilities to keep, the permitted set must survive the uid change. */
int hl_caps_keep_across_setuid(uint64_t ambient);

/* After setuid: effective and permitted become mask for root (what the bounding set allows), or the
 * ambient set for others; the ambient set is inheritable and raised. */
int hl_caps_process_apply(uint64_t mask, bool is_root, uint64_t ambient);

#endif
