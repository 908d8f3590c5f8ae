/* A single-threaded helper moving itself into a cgroup: crisp-monitor's workload, crisp-exec, crisp-pinns'
 * pod init. On cgroup v1, "0" in a hierarchy's tasks file moves just the calling thread, which for a
 * single-threaded process is the whole of it, and does not take the kernel's global threadgroup lock
 * that writing a pid to cgroup.procs takes: that lock's write side waits an RCU grace period (~10 ms)
 * when it has been idle. cgroup v2 has no tasks file: there "0" goes to cgroup.procs. */
#ifndef CRISP_HELPERS_CGROUP_SELF_H
#define CRISP_HELPERS_CGROUP_SELF_H

/* procs names the cgroup's cgroup.procs. Fails through hl_fail ("join cgroup <procs>"), errno kept. */
int hl_cgroup_self_join(const char *procs);

#endif
