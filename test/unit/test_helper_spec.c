/* The container spec file's round trip: crispd's writer (runtime/container_spec.c) against
 * crisp-monitor's reader (helpers/lib/spec_read.c), every field the writer sets read back. */
#define _GNU_SOURCE
#include "helpers/lib/helper_error.h"
#include "helpers/lib/spec_read.h"
#include "runtime/container_spec.h"
#include "unit.h"

#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dir[] = "/tmp/crisp-test-spec-XXXXXX";
static char path[64];

static const struct mon_mount *mount_find(const struct mon_spec *s, const char *dest)
{
    for (size_t i = 0; i < s->n_mounts; i++)
        if (strcmp(s->mounts[i].destination, dest) == 0)
            return &s->mounts[i];
    return NULL;
}

static int write_and_load(const struct rt_spec_context *c, struct mon_spec *ret)
{
    crisp_error_t *err = NULL;
    if (rt_spec_write(path, c, &err) < 0) {
        fprintf(stderr, "rt_spec_write: %s\n", err->msg);
        crisp_error_free(err);
        return -1;
    }
    if (mon_spec_load(path, ret) < 0) {
        fprintf(stderr, "mon_spec_load: %s\n", hl_error());
        return -1;
    }
    return 0;
}

static const struct rt_mount request_mounts[] = {
    {.container_path = "/data",
     .host_path = "/host/data",
     .readonly = true,
     .recursive_readonly = true,
     .propagation = RT_PROPAGATION_HOST_TO_CONTAINER},
    {.container_path = "/shared", .host_path = "/host/shared", .propagation = RT_PROPAGATION_BIDIRECTIONAL},
    {.container_path = "/etc/hostname", .host_path = "/host/hostname", .propagation = RT_PROPAGATION_PRIVATE},
};
static const struct rt_device_node request_devices[] = {{"/dev/fuse", "rwm", 'c', 10, 229, 0640}};
static const gid_t groups[] = {10, 4000000000u};
static const struct rt_cgroup_root cgroup_v2 = {.mount = "/sys/fs/cgroup", .mode = RT_CGROUP_V2};

/* Every field the writer has, set to something other than its default; escapes in the values. */
static struct rt_container_spec full_spec(void)
{
    static char *lowers[] = {"/layers/top", "/layers/bottom", NULL};
    static char *argv[] = {"/bin/sh", "-c", "echo 'a\nb' \\ c", NULL};
    static char *env[] = {"PATH=/bin", "MULTI=line1\nline2", NULL};
    static char *masked[] = {"/proc/kcore", NULL};
    static char *readonly[] = {"/proc/sys", "/proc/bus", NULL};
    return (struct rt_container_spec){.lowerdirs = lowers,
                                      .argv = argv,
                                      .env = env,
                                      .cwd = "/work dir",
                                      .uid = 1000,
                                      .gid = 2000,
                                      .groups = groups,
                                      .n_groups = 2,
                                      .tty = true,
                                      .stdin_open = true,
                                      .stdin_once = true,
                                      .mounts = request_mounts,
                                      .n_mounts = 3,
                                      .n_devices = 1,
                                      .log_path = "/var/log/pods/c.log",
                                      .has_oom_score_adj = true,
                                      .oom_score_adj = -999,
                                      .capabilities = 0x00000000a80425fbULL,
                                      .ambient_capabilities = 0x400,
                                      .no_new_privs = true,
                                      .apparmor_profile = "crisp-default",
                                      .selinux_label = "system_u:system_r:container_t:s0:c1,c2",
                                      .readonly_rootfs = true,
                                      .masked_paths = masked,
                                      .readonly_paths = readonly};
}

static void check_process(const struct mon_spec *s)
{
    CHECK_STR(s->id, ID);
    CHECK(s->n_lowers == 2);
    CHECK_STR(s->lowers[0], "/layers/top");
    CHECK_STR(s->lowers[1], "/layers/bottom");
    CHECK_STR(s->upper, "/rw/upper");
    CHECK_STR(s->work, "/rw/work");
    CHECK_STR(s->mountpoint, "/run/c/rootfs");
    CHECK(s->n_args == 3 && s->args[3] == NULL);
    CHECK_STR(s->args[2], "echo 'a\nb' \\ c");
    CHECK(s->n_env == 2 && s->env[2] == NULL);
    CHECK_STR(s->env[1], "MULTI=line1\nline2");
    CHECK_STR(s->cwd, "/work dir");
    CHECK(s->uid == 1000 && s->gid == 2000);
    CHECK(s->n_groups == 2 && s->groups[0] == 10 && s->groups[1] == 4000000000u);
    CHECK(s->tty && s->stdin_open && s->stdin_once && s->no_new_privs && s->readonly_rootfs);
    CHECK(s->has_capabilities && s->capabilities == 0x00000000a80425fbULL);
    CHECK(s->ambient_capabilities == 0x400);
    CHECK(s->n_masked == 1 && s->n_readonly == 2);
    CHECK_STR(s->masked[0], "/proc/kcore");
    CHECK_STR(s->readonly[1], "/proc/bus");
    CHECK(s->has_oom_score_adj && s->oom_score_adj == -999);
}

static void check_namespaces(const struct mon_spec *s)
{
    CHECK_STR(s->ns_net, "/run/pod/ns/net");
    CHECK_STR(s->ns_ipc, "/run/pod/ns/ipc");
    CHECK_STR(s->ns_uts, "/run/pod/ns/uts");
    CHECK_STR(s->ns_pid, "/proc/42/ns/pid");
    CHECK_STR(s->ns_user, "/run/pod/ns/user");
    CHECK(s->ns_cgroup_new); /* on cgroup v2, a cgroup namespace of the container's own */
    CHECK(s->userns_uid == 100000 && s->userns_gid == 200000);
}

static void check_files(const struct mon_spec *s)
{
    CHECK(s->n_cgroup_procs == 2);
    CHECK_STR(s->cgroup_procs[1], "/sys/fs/cgroup/memory/pod/c/cgroup.procs");
    CHECK_STR(s->log_path, "/var/log/pods/c.log");
    CHECK(s->log_max_line == MON_DEFAULT_MAX_LINE);
    CHECK_STR(s->exit_file, "/run/c/exit");
    CHECK_STR(s->attach_socket, "/run/c/attach");
    CHECK_STR(s->seccomp_path, "/run/c/seccomp.bpf");
    CHECK(s->seccomp_flags == 3);
    CHECK_STR(s->apparmor_profile, "crisp-default");
    CHECK_STR(s->selinux_label, "system_u:system_r:container_t:s0:c1,c2");
    CHECK_STR(s->oom_v1_control, "/sys/fs/cgroup/memory/pod/c/memory.oom_control");
    CHECK_STR(s->oom_v2_events, "/sys/fs/cgroup/pod/c/memory.events");
}

/* The standard mounts, the container's cgroup, then the request's (its /etc/hostname replaces ours). */
static void check_mounts(const struct mon_spec *s)
{
    CHECK(s->n_mounts == 12);
    const struct mon_mount *m = mount_find(s, "/dev/pts");
    CHECK(m && strcmp(m->type, "devpts") == 0 && (m->flags & MS_NOSUID) && (m->flags & MS_NOEXEC));
    CHECK_STR(m ? m->data : NULL, "newinstance,ptmxmode=0666,mode=0620,gid=200005"); /* tty in the userns */
    CHECK((m = mount_find(s, "/sys")) && (m->flags & MS_RDONLY));
    CHECK((m = mount_find(s, "/dev/shm")) && strcmp(m->source, "/run/pod/shm") == 0 && m->idmap == false);
    CHECK((m = mount_find(s, "/etc/resolv.conf")) && strcmp(m->source, "/run/pod/resolv.conf") == 0);
    CHECK((m = mount_find(s, "/sys/fs/cgroup")) && strcmp(m->source, "/sys/fs/cgroup/pod/c") == 0 &&
          (m->flags & MS_RDONLY) && strcmp(m->propagation, "private") == 0);
    CHECK((m = mount_find(s, "/data")) && strcmp(m->source, "/host/data") == 0 &&
          strcmp(m->type, "bind") == 0 && (m->flags & MS_RDONLY) && m->recursive_ro && m->idmap &&
          strcmp(m->propagation, "rslave") == 0);
    CHECK((m = mount_find(s, "/shared")) && !(m->flags & MS_RDONLY) && !m->recursive_ro &&
          strcmp(m->propagation, "rshared") == 0);
    CHECK((m = mount_find(s, "/etc/hostname")) && strcmp(m->source, "/host/hostname") == 0);
}

static void check_devices(const struct mon_spec *s)
{
    CHECK(s->n_devices == 7);
    const struct mon_device *d = &s->devices[0];
    CHECK_STR(d->path, "/dev/fuse");
    CHECK(d->type == 'c' && d->major == 10 && d->minor == 229 && d->mode == 0640 && d->uid == 0 &&
          d->gid == 0);
    d = &s->devices[6];
    CHECK_STR(d->path, "/dev/tty");
    CHECK(d->type == 'c' && d->major == 5 && d->minor == 0 && d->mode == 0666);
}

static void test_full(void)
{
    static char *procs[] = {"/sys/fs/cgroup/cpu/pod/c/cgroup.procs",
                            "/sys/fs/cgroup/memory/pod/c/cgroup.procs", NULL};
    struct rt_container_spec spec = full_spec();
    struct rt_sandbox_info pod = {.net_mode = RT_NS_POD,
                                  .ipc_mode = RT_NS_POD,
                                  .dir = "/run/pod",
                                  .userns = {.enabled = true, .uid = 100000, .gid = 200000, .size = 65536}};
    struct rt_spec_context c = {.spec = &spec,
                                .pod = &pod,
                                .id = ID,
                                .rootfs = "/run/c/rootfs",
                                .upper = "/rw/upper",
                                .work = "/rw/work",
                                .exit_file = "/run/c/exit",
                                .attach_socket = "/run/c/attach",
                                .cgroup_procs = procs,
                                .oom_v1_control = "/sys/fs/cgroup/memory/pod/c/memory.oom_control",
                                .oom_v2_events = "/sys/fs/cgroup/pod/c/memory.events",
                                .pid_ns = "/proc/42/ns/pid",
                                .cgroups = &cgroup_v2,
                                .cgroup_path = "/pod/c",
                                .devices = request_devices,
                                .seccomp_path = "/run/c/seccomp.bpf",
                                .seccomp_flags = 3};
    struct mon_spec s;
    if (write_and_load(&c, &s) < 0) {
        CHECK(!"full spec round trip");
        return;
    }
    check_process(&s);
    check_namespaces(&s);
    check_files(&s);
    check_mounts(&s);
    check_devices(&s);
    mon_spec_free(&s);
}

/* What the writer leaves out comes back as the reader's defaults. */
static void test_minimal(void)
{
    static char *lowers[] = {"/layers/only", NULL};
    static char *argv[] = {"/pause", NULL};
    static char *none[] = {NULL};
    struct rt_container_spec spec = {
        .lowerdirs = lowers, .argv = argv, .cwd = "/", .log_path = "", .masked_paths = none};
    struct rt_sandbox_info pod = {.net_mode = RT_NS_NODE, .ipc_mode = RT_NS_NODE, .dir = "/run/pod"};
    struct rt_spec_context c = {.spec = &spec,
                                .pod = &pod,
                                .id = ID,
                                .rootfs = "/r",
                                .upper = "/u",
                                .work = "/w",
                                .exit_file = "/e",
                                .attach_socket = "",
                                .cgroup_procs = none,
                                .oom_v1_control = "",
                                .oom_v2_events = "",
                                .pid_ns = "new",
                                .cgroups = &cgroup_v2,
                                .cgroup_path = "/c"};
    struct mon_spec s;
    if (write_and_load(&c, &s) < 0) {
        CHECK(!"minimal spec round trip");
        return;
    }
    CHECK(s.n_args == 1 && s.n_env == 0 && s.env[0] == NULL && s.n_groups == 0);
    CHECK_STR(s.ns_net, "host");
    CHECK_STR(s.ns_uts, "host");
    CHECK_STR(s.ns_pid, "new");
    CHECK_STR(s.ns_user, "");
    CHECK(s.ns_cgroup_new);
    CHECK_STR(s.seccomp_path, "");
    CHECK_STR(s.apparmor_profile, "");
    CHECK_STR(s.attach_socket, "");
    CHECK(s.has_capabilities && s.capabilities == 0 && s.ambient_capabilities == 0);
    CHECK(!s.has_oom_score_adj && !s.tty && !s.no_new_privs && s.n_cgroup_procs == 0);
    const struct mon_mount *m = mount_find(&s, "/dev/shm");
    CHECK(m && strcmp(m->source, "/dev/shm") == 0);
    CHECK((m = mount_find(&s, "/etc/hostname")) && strcmp(m->source, "/run/pod/hostname") == 0);
    mon_spec_free(&s);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/spec", dir);
    test_full();
    test_minimal();
    unlink(path);
    rmdir(dir);
    return unit_report("test_helper_spec");
}
