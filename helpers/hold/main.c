/* crisp-hold: the first process of a container's systemd scope (runtime/cgroup/cgroup_systemd.c says
 * why one is needed). It detaches from crispd, prints the pid of the process that stays on stdout,
 * and sleeps until the container's processes are killed with it. One that crispd never placed in a
 * scope (crispd died in between) notices its cgroup unchanged after a while and exits. Links only
 * libc: one of these lives per container. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* Longer than crispd waits for systemd's job (cgroup_systemd.c JOB_TIMEOUT_MS). */
#define PLACEMENT_TIMEOUT_S 60

static int read_cgroup(char *buf, size_t size)
{
    int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

static void close_all_but_stdio(void)
{
    if (close_range(3, ~0U, 0) == 0)
        return;
    for (int fd = 3; fd < 1024; fd++)
        close(fd);
}

int main(void)
{
    static char before[4096], now[4096];
    /* Read before the fork: systemd may move the child before it gets to run. */
    if (read_cgroup(before, sizeof(before)) < 0)
        return 1;
    close_all_but_stdio();
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child > 0) {
        printf("%d\n", (int)child);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 1);
        dup2(null, 2);
    }
    prctl(PR_SET_NAME, "crisp-hold", 0, 0, 0);
    /* Out of the OOM killer's reach, also when the container asks for memory.oom.group=1 (kubelet does
     * on cgroup v2): the kernel's group kill spares a task at -1000, so the scope outlives the OOM
     * kill and crisp-monitor can still read memory.events. Needs CAP_SYS_RESOURCE; without it the
     * scope may end with the kill, as it does anyway once the container is stopped. */
    int adj = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (adj >= 0) {
        if (write(adj, "-1000", 5) < 0) {
            /* not permitted: see above */
        }
        close(adj);
    }
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    struct timespec t = {PLACEMENT_TIMEOUT_S, 0};
    while (nanosleep(&t, &t) < 0)
        ;
    if (read_cgroup(now, sizeof(now)) < 0 || strcmp(before, now) == 0)
        return 0;
    for (;;)
        pause();
}
