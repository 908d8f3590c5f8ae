/* server/convert/container_config, resources and kv: a CreateContainerRequest merged with its image
 * (from a real image store on a temporary root) into the runtime's container spec, resources, and
 * the CRI string maps. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/file.h"
#include "common/log.h"
#include "server/convert/container_config.h"
#include "server/convert/kv.h"
#include "server/convert/resources.h"
#include "server/daemon.h"
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static char root[] = "/tmp/crisp-unit-ccfg-XXXXXX";
static struct srv_daemon daemon_;
static struct arena arena;
static char base_chain[IMG_DIGEST_MAX], top_chain[IMG_DIGEST_MAX];

static const char full_config[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\","
    "\"config\":{\"User\":\"app\",\"Entrypoint\":[\"/bin/entry\",\"--flag\"],\"Cmd\":[\"serve\",\"--port=80\"],"
    "\"Env\":[\"PATH=/usr/bin:/bin\",\"HOME=/root\",\"LANG=C\",\"EMPTY=\"],\"WorkingDir\":\"/srv\","
    "\"StopSignal\":\"SIGQUIT\"},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
static const char bare_config[] = "{\"rootfs\":{\"type\":\"layers\"}}";

/* A layer holding the given files (name, text, name, text, ..., NULL). */
static void layer_add(struct img_store *s, const char *seed, char chain[IMG_DIGEST_MAX], ...)
{
    _cleanup_free_ char *dir = NULL, *etc = NULL;
    crisp_error_t *err = NULL;
    CHECK(img_store_tmp_dir(s, &dir, &err) == 0);
    if (!dir || asprintf(&etc, "%s/etc", dir) < 0 || mkdir(etc, 0755) < 0)
        abort();
    va_list ap;
    va_start(ap, chain);
    for (const char *name; (name = va_arg(ap, const char *));) {
        const char *text = va_arg(ap, const char *);
        _cleanup_free_ char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
            abort();
        CHECK(file_write_replace(path, text, strlen(text), 0644, &err) == 0);
    }
    va_end(ap);
    struct img_layer_info info = {.size = 1, .inodes = 1};
    img_digest_buffer(seed, strlen(seed), chain);
    memcpy(info.chain_id, chain, IMG_DIGEST_MAX);
    memcpy(info.diff_id, chain, IMG_DIGEST_MAX);
    CHECK(img_store_layer_commit(s, dir, &info, &err) == 0);
    crisp_error_free(err);
}

/* An image of both layers named tag, whose config is the given text (blob false: none stored). */
static void image_add(const char *tag, const char *config, bool blob)
{
    char *tags[] = {(char *)tag, NULL}, *digests[] = {NULL}, *chains[] = {base_chain, top_chain, NULL};
    struct img_record rec = {.repo_tags = tags, .repo_digests = digests, .chain_ids = chains, .size = 1};
    img_digest_buffer(config, strlen(config), rec.id);
    img_digest_buffer("manifest", 8, rec.manifest_digest);
    crisp_error_t *err = NULL;
    CHECK(img_store_image_commit(daemon_.images, &rec, &err) == 0);
    if (blob)
        CHECK(img_store_blob_put(daemon_.images, rec.id, config, strlen(config), &err) == 0);
    crisp_error_free(err);
}

/* A CreateContainerRequest and the messages it points to. */
struct req {
    Runtime__V1__CreateContainerRequest r;
    Runtime__V1__ContainerConfig c;
    Runtime__V1__ContainerMetadata md;
    Runtime__V1__ImageSpec image;
    Runtime__V1__PodSandboxConfig pod;
    Runtime__V1__LinuxContainerConfig linux_;
    Runtime__V1__LinuxContainerSecurityContext sc;
    Runtime__V1__LinuxContainerResources res;
};

static void req_init(struct req *q, const char *image)
{
    q->r = (Runtime__V1__CreateContainerRequest)RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
    q->c = (Runtime__V1__ContainerConfig)RUNTIME__V1__CONTAINER_CONFIG__INIT;
    q->md = (Runtime__V1__ContainerMetadata)RUNTIME__V1__CONTAINER_METADATA__INIT;
    q->image = (Runtime__V1__ImageSpec)RUNTIME__V1__IMAGE_SPEC__INIT;
    q->pod = (Runtime__V1__PodSandboxConfig)RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    q->linux_ = (Runtime__V1__LinuxContainerConfig)RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    q->sc = (Runtime__V1__LinuxContainerSecurityContext)RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    q->res = (Runtime__V1__LinuxContainerResources)RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    q->r.pod_sandbox_id = "pod-1";
    q->r.config = &q->c;
    q->c.metadata = &q->md;
    q->c.image = &q->image;
    q->md.name = "web";
    q->md.attempt = 2;
    q->image.image = (char *)image;
}

/* The spec borrows from the image until the next call. */
static struct srv_container_image held;

static int spec_from(const struct req *q, struct rt_container_spec *s, crisp_error_t **err)
{
    struct srv_ctx ctx = {.daemon = &daemon_, .arena = &arena, .method = "CreateContainer"};
    srv_container_image_fini(&held);
    held = (struct srv_container_image){0};
    return srv_container_spec_from(&ctx, &q->r, s, &held, err);
}

static void expect_ok(const struct req *q, struct rt_container_spec *s)
{
    crisp_error_t *err = NULL;
    int r = spec_from(q, s, &err);
    if (r < 0)
        fprintf(stderr, "unexpected error: %s\n", err ? err->msg : "(none)");
    CHECK(r == 0);
    crisp_error_free(err);
}

static void expect_error(const struct req *q, int status, const char *msg, bool exact)
{
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(spec_from(q, &s, &err) < 0);
    CHECK(err && err->status == status);
    if (exact)
        CHECK_STR(err ? err->msg : NULL, msg);
    else
        CHECK_CONTAINS(err ? err->msg : NULL, msg);
    crisp_error_free(err);
}

static void expect_strv(char *const *got, const char *const *want, size_t n_want)
{
    size_t n = 0;
    while (got && got[n])
        n++;
    if (n != n_want)
        fprintf(stderr, "%zu entries, want %zu\n", n, n_want);
    CHECK(n == n_want);
    for (size_t i = 0; i < n && i < n_want; i++)
        CHECK_STR(got[i], want[i]);
}

static void test_fields(void)
{
    struct req q;
    req_init(&q, "localhost/test/full:1");
    q.c.tty = true;
    q.c.stdin = true;
    q.c.stdin_once = true;
    struct rt_container_spec s;
    expect_ok(&q, &s);
    char id[IMG_DIGEST_MAX];
    img_digest_buffer(full_config, strlen(full_config), id);
    CHECK_STR(s.sandbox_id, "pod-1");
    CHECK_STR(s.name, "web");
    CHECK(s.attempt == 2);
    CHECK_STR(s.image, "localhost/test/full:1");
    CHECK_STR(s.image_id, id);
    CHECK(s.tty && s.stdin_open && s.stdin_once);
    CHECK(s.stop_signal == SIGQUIT);
    /* The image's layers, top-most first. */
    _cleanup_free_ char *top = img_store_layer_path(daemon_.images, top_chain);
    _cleanup_free_ char *base = img_store_layer_path(daemon_.images, base_chain);
    expect_strv(s.lowerdirs, (const char *const[]){top, base}, 2);
    /* USER app from the image's own passwd and group. */
    CHECK(s.uid == 1000 && s.gid == 1001);
    CHECK(s.n_groups == 2 && s.groups[0] == 1001 &&
          s.groups[1] == 29); /* the primary gid first, as id -G prints */
    CHECK(s.resources == NULL && !s.has_oom_score_adj);
    CHECK(s.n_mounts == 0 && s.n_devices == 0);
    CHECK_STR(s.log_path, "");
    /* The request's user wins over the image's. */
    Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT;
    uid.value = 0;
    q.sc.run_as_user = &uid;
    q.linux_.security_context = &q.sc;
    q.c.linux = &q.linux_;
    expect_ok(&q, &s);
    CHECK(s.uid == 0 && s.gid == 0);
    CHECK(s.n_groups == 2 && s.groups[0] == 0 && s.groups[1] == 10);
}

static void test_argv(void)
{
    struct req q;
    struct rt_container_spec s;
    char *command[] = {"/bin/sh", "-c"}, *args[] = {"echo hi", "x"};
    req_init(&q, "localhost/test/full:1");
    expect_ok(&q, &s);
    expect_strv(s.argv, (const char *const[]){"/bin/entry", "--flag", "serve", "--port=80"}, 4);
    /* args replace the image's cmd, after its entrypoint. */
    q.c.args = args;
    q.c.n_args = N(args);
    expect_ok(&q, &s);
    expect_strv(s.argv, (const char *const[]){"/bin/entry", "--flag", "echo hi", "x"}, 4);
    /* command replaces the entrypoint, and the image's cmd goes with it. */
    q.c.command = command;
    q.c.n_command = N(command);
    expect_ok(&q, &s);
    expect_strv(s.argv, (const char *const[]){"/bin/sh", "-c", "echo hi", "x"}, 4);
    q.c.n_args = 0;
    expect_ok(&q, &s);
    expect_strv(s.argv, (const char *const[]){"/bin/sh", "-c"}, 2);
    /* An image with nothing to run: an empty argv here, refused by the runtime at create. */
    req_init(&q, "localhost/test/bare:1");
    expect_ok(&q, &s);
    expect_strv(s.argv, NULL, 0);
    q.c.args = args;
    q.c.n_args = 1;
    expect_ok(&q, &s);
    expect_strv(s.argv, (const char *const[]){"echo hi"}, 1);
}

static ProtobufCBinaryData bytes(const char *s)
{
    return (ProtobufCBinaryData){strlen(s), (uint8_t *)s};
}

static void test_env(void)
{
    struct req q;
    struct rt_container_spec s;
    req_init(&q, "localhost/test/full:1");
    expect_ok(&q, &s);
    expect_strv(s.env, (const char *const[]){"PATH=/usr/bin:/bin", "HOME=/root", "LANG=C", "EMPTY="}, 4);
    /* The request's variables come last and replace the image's of the same name (not of a prefix). */
    Runtime__V1__KeyValue e[4] = {RUNTIME__V1__KEY_VALUE__INIT, RUNTIME__V1__KEY_VALUE__INIT,
                                  RUNTIME__V1__KEY_VALUE__INIT, RUNTIME__V1__KEY_VALUE__INIT};
    e[0].key = "HOME", e[0].value = bytes("/home/app");
    e[1].key = "PAT", e[1].value = bytes("x=y");
    e[2].key = "LANG", e[2].value = bytes("");
    e[3].key = "HOME", e[3].value = bytes("/again");
    Runtime__V1__KeyValue *envs[] = {&e[0], &e[1], &e[2], &e[3]};
    q.c.envs = envs;
    q.c.n_envs = N(envs);
    expect_ok(&q, &s);
    expect_strv(s.env,
                (const char *const[]){"PATH=/usr/bin:/bin", "EMPTY=", "HOME=/home/app", "PAT=x=y",
                                      "LANG=", "HOME=/again"},
                6);
    req_init(&q, "localhost/test/bare:1");
    q.c.envs = envs;
    q.c.n_envs = 1;
    expect_ok(&q, &s);
    expect_strv(s.env, (const char *const[]){"HOME=/home/app"}, 1);
}

/* KeyValue.value is bytes: every byte but NUL reaches the workload as sent; NUL is refused, as execve
 * would cut the value there. */
static void test_env_bytes(void)
{
    struct req q;
    struct rt_container_spec s;
    req_init(&q, "localhost/test/bare:1");
    static const uint8_t odd[] = {0xff, 0xfe, '\n', '\\', '"', 0x01, 0xc3, 0x28, '='};
    Runtime__V1__KeyValue e[2] = {RUNTIME__V1__KEY_VALUE__INIT, RUNTIME__V1__KEY_VALUE__INIT};
    e[0].key = "BIN", e[0].value = (ProtobufCBinaryData){sizeof(odd), (uint8_t *)odd};
    e[1].key = "NONE"; /* an unset value: empty */
    Runtime__V1__KeyValue *envs[] = {&e[0], &e[1]};
    q.c.envs = envs;
    q.c.n_envs = N(envs);
    expect_ok(&q, &s);
    CHECK(s.env[0] && strlen(s.env[0]) == 4 + sizeof(odd) && memcmp(s.env[0], "BIN=", 4) == 0 &&
          memcmp(s.env[0] + 4, odd, sizeof(odd)) == 0);
    CHECK_STR(s.env[1], "NONE=");
    static const uint8_t nul[] = {'a', 'b', 0, 'c'};
    e[1].value = (ProtobufCBinaryData){sizeof(nul), (uint8_t *)nul};
    expect_error(&q, EINVAL, "env NONE: the value has a NUL byte at offset 2", true);
}

static void test_working_dir(void)
{
    struct req q;
    struct rt_container_spec s;
    req_init(&q, "localhost/test/full:1");
    expect_ok(&q, &s);
    CHECK_STR(s.cwd, "/srv");
    q.c.working_dir = "/work";
    expect_ok(&q, &s);
    CHECK_STR(s.cwd, "/work");
    req_init(&q, "localhost/test/bare:1");
    expect_ok(&q, &s);
    CHECK_STR(s.cwd, "/");
    CHECK(s.uid == 0 && s.gid == 0 && s.stop_signal == SIGTERM);
}

/* The image's STOPSIGNAL by name (with or without SIG) or number; anything else is SIGTERM. */
static void test_stop_signal(void)
{
    static const struct {
        const char *value;
        int sig;
    } cases[] = {
        {"SIGQUIT", SIGQUIT}, {"QUIT", SIGQUIT},       {"3", SIGQUIT},      {"9", SIGKILL},
        {"SIGKILL", SIGKILL}, {"SIGINT", SIGINT},      {"HUP", SIGHUP},     {"SIGUSR1", SIGUSR1},
        {"USR2", SIGUSR2},    {"SIGWINCH", SIGWINCH},  {"STOP", SIGSTOP},   {"64", 64},
        {"", SIGTERM},        {"0", SIGTERM},          {"65", SIGTERM},     {"-3", SIGTERM},
        {"sigquit", SIGTERM}, {"SIGRTMIN+3", SIGTERM}, {"SIGPWR", SIGTERM}, {"SIGBOGUS", SIGTERM},
    };
    for (size_t i = 0; i < N(cases); i++) {
        char config[256], tag[64];
        snprintf(config, sizeof(config),
                 "{\"config\":{\"StopSignal\":\"%s\"},\"rootfs\":{\"type\":\"layers\"}}", cases[i].value);
        snprintf(tag, sizeof(tag), "localhost/test/signal%zu:1", i);
        image_add(tag, config, true);
        struct req q;
        struct rt_container_spec s;
        req_init(&q, tag);
        expect_ok(&q, &s);
        if (s.stop_signal != cases[i].sig)
            fprintf(stderr, "StopSignal \"%s\": %d, want %d\n", cases[i].value, s.stop_signal, cases[i].sig);
        CHECK(s.stop_signal == cases[i].sig);
    }
}

static void test_log_path(void)
{
    struct req q;
    struct rt_container_spec s;
    req_init(&q, "localhost/test/bare:1");
    q.c.log_path = "web/2.log";
    expect_ok(&q, &s);
    CHECK_STR(s.log_path, ""); /* no pod log directory */
    q.r.sandbox_config = &q.pod;
    expect_ok(&q, &s);
    CHECK_STR(s.log_path, "");
    q.pod.log_directory = "/var/log/pods/ns_pod_uid";
    expect_ok(&q, &s);
    CHECK_STR(s.log_path, "/var/log/pods/ns_pod_uid/web/2.log");
    q.c.log_path = "./web/./2.log";
    expect_ok(&q, &s);
    CHECK_STR(s.log_path, "/var/log/pods/ns_pod_uid/./web/./2.log");
    q.c.log_path = "";
    expect_ok(&q, &s);
    CHECK_STR(s.log_path, "");
}

/* The log stays inside the pod's log directory, which must be absolute. */
static void test_log_path_refused(void)
{
    static const struct {
        const char *dir, *file, *msg;
    } cases[] = {
        {"/var/log/pods/p", "/var/log/pods/x/web/0.log",
         "log_path \"/var/log/pods/x/web/0.log\" must be a relative path"},
        {"", "/abs.log", "log_path \"/abs.log\" must be a relative path"},
        {"/var/log/pods/p", "../../x/y.log", "log_path \"../../x/y.log\" has a \"..\" component"},
        {"/var/log/pods/p", "c/../../../x/y.log", "log_path \"c/../../../x/y.log\" has a \"..\" component"},
        {"/var/log/pods/p", "c/..", "log_path \"c/..\" has a \"..\" component"},
        {"/var/log/pods/p", "..", "log_path \"..\" has a \"..\" component"},
        {"/var/log/pods/p", ".", "log_path \".\" names no file or directory"},
        {"/var/log/pods/p", "c/", "log_path \"c/\" names a directory, not a file"},
        {"logs/p", "c/0.log", "pod log_directory \"logs/p\" is not an absolute path"},
        {"/var/log/../../tmp", "c/0.log", "pod log_directory \"/var/log/../../tmp\" has a \"..\" component"},
    };
    for (size_t i = 0; i < N(cases); i++) {
        struct req q;
        req_init(&q, "localhost/test/bare:1");
        q.r.sandbox_config = &q.pod;
        q.pod.log_directory = (char *)cases[i].dir;
        q.c.log_path = (char *)cases[i].file;
        expect_error(&q, EINVAL, cases[i].msg, true);
    }
    /* The echo of a long path is bounded. */
    static char long_path[70000];
    memset(long_path, 'a', sizeof(long_path) - 1);
    memcpy(long_path, "../", 3);
    struct req q;
    req_init(&q, "localhost/test/bare:1");
    q.r.sandbox_config = &q.pod;
    q.pod.log_directory = "/var/log/pods/p";
    q.c.log_path = long_path;
    struct rt_container_spec s;
    crisp_error_t *err = NULL;
    CHECK(spec_from(&q, &s, &err) < 0 && err && err->status == EINVAL);
    CHECK(err && strlen(err->msg) < 200);
    crisp_error_free(err);
}

/* Devices go below /dev, named plainly; oom_score_adj is the kernel's range. */
static void test_devices_and_oom_refused(void)
{
    static const struct {
        const char *path, *msg;
    } cases[] = {
        {"/dev/../etc/z", "device container_path \"/dev/../etc/z\" has a \"..\" component"},
        {"/etc/z", "device container_path \"/etc/z\" is not below /dev"},
        {"/dev", "device container_path \"/dev\" is not below /dev"},
        {"/dev//", "device container_path \"/dev//\" is not below /dev"},
        {"/devices/x", "device container_path \"/devices/x\" is not below /dev"},
        {"/dev/./x", "device container_path \"/dev/./x\" has a \".\" component"},
        {"dev/x", "device container_path \"dev/x\" is not an absolute path"},
        {"/", "device container_path \"/\" names no file or directory"},
    };
    Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT;
    Runtime__V1__Device *devices[] = {&d};
    d.host_path = "/dev/null", d.permissions = "rw";
    for (size_t i = 0; i < N(cases); i++) {
        struct req q;
        req_init(&q, "localhost/test/bare:1");
        q.c.devices = devices;
        q.c.n_devices = 1;
        d.container_path = (char *)cases[i].path;
        expect_error(&q, EINVAL, cases[i].msg, true);
    }
    struct req q;
    struct rt_container_spec s;
    req_init(&q, "localhost/test/bare:1");
    q.c.devices = devices;
    q.c.n_devices = 1;
    d.container_path = "/dev/net/tun";
    expect_ok(&q, &s);
    q.c.linux = &q.linux_;
    q.linux_.resources = &q.res;
    q.res.oom_score_adj = 5000;
    expect_error(&q, EINVAL, "oom_score_adj 5000 is outside [-1000, 1000]", true);
    q.res.oom_score_adj = -1001;
    expect_error(&q, EINVAL, "oom_score_adj -1001 is outside [-1000, 1000]", true);
    q.res.oom_score_adj = 1000;
    expect_ok(&q, &s);
}

/* What execve would refuse with E2BIG is refused at create: one string over 128 KiB, or over 1 MiB of
 * command and environment together (the image's included). */
static void test_env_size(void)
{
    static char big[128 * 1024 + 1], half[600 * 1024];
    memset(big, 'v', sizeof(big) - 1);
    memset(half, 'v', sizeof(half) - 1);
    Runtime__V1__KeyValue e[2] = {RUNTIME__V1__KEY_VALUE__INIT, RUNTIME__V1__KEY_VALUE__INIT};
    Runtime__V1__KeyValue *envs[] = {&e[0], &e[1]};
    e[0].key = "A", e[1].key = "B";
    struct req q;
    struct rt_container_spec s;
    req_init(&q, "localhost/test/full:1");
    q.c.envs = envs;
    q.c.n_envs = 1;
    e[0].value.data = (uint8_t *)big, e[0].value.len = sizeof(big) - 4; /* "A=" + value + NUL: 128 KiB */
    expect_ok(&q, &s);
    e[0].value.len = sizeof(big) - 3;
    expect_error(&q, EINVAL,
                 "env entry \"A=vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv...\" is 131073 bytes: at most 131072",
                 true);
    e[0].value.data = (uint8_t *)half, e[0].value.len = 100 * 1024;
    e[1].value.data = (uint8_t *)half, e[1].value.len = 100 * 1024;
    q.c.n_envs = 2;
    expect_ok(&q, &s);
    char *args[12];
    for (size_t i = 0; i < N(args); i++)
        args[i] = big + 8; /* 128 KiB - 8 each */
    q.c.args = args;
    q.c.n_args = N(args);
    expect_error(&q, EINVAL, "command and environment (with the image's) take ", false);
    expect_error(&q, EINVAL, "bytes: at most 1048576", false);
}

static void test_cpuset_check(void)
{
    static const struct {
        const char *list, *online;
        bool ok;
    } cases[] = {
        {"", "0-1", true},        {"0", "0-1", true},       {"0-1", "0-1", true},
        {"1,0", "0-1", true},     {"0-1000", "0-1", false}, {"2", "0-1", false},
        {"0-3", "0-1,3", false},  {"0-1,3", "0-1,3", true}, {"3", "0-1,3-5", true},
        {"2-5", "0-1,2-5", true}, {"0-1", NULL, true},      {"a", NULL, false},
        {"0-1; rm", NULL, false}, {"1-0", NULL, false},     {"0,", NULL, false},
        {",0", NULL, false},      {"0--1", NULL, false},    {"-1", NULL, false},
        {"0-", NULL, false},      {" 0", NULL, false},      {"99999999999", NULL, false},
        {"65535", NULL, true},    {"65536", NULL, false},
    };
    for (size_t i = 0; i < N(cases); i++) {
        crisp_error_t *err = NULL;
        int r = srv_cpuset_check("cpuset_cpus", cases[i].list, cases[i].online, &err);
        if ((r == 0) != cases[i].ok)
            fprintf(stderr, "cpuset \"%s\" online \"%s\": %s\n", cases[i].list,
                    cases[i].online ? cases[i].online : "(any)", err ? err->msg : "ok");
        CHECK((r == 0) == cases[i].ok);
        CHECK(r == 0 || (err && err->status == EINVAL));
        crisp_error_free(err);
    }
    crisp_error_t *err = NULL;
    CHECK(srv_cpuset_check("cpuset_cpus", "0-1000", "0-1", &err) < 0);
    CHECK_STR(err ? err->msg : NULL, "cpuset_cpus \"0-1000\": 0-1000 is not all online here (online: 0-1)");
    crisp_error_free(err);
    err = NULL;
    CHECK(srv_cpuset_check("cpuset_mems", "x", "0", &err) < 0);
    CHECK_STR(err ? err->msg : NULL, "cpuset_mems \"x\" is not a list of numbers and ranges (as \"0-3,6\")");
    crisp_error_free(err);
    /* Through srv_resources_from, against this machine: CPU 100000 exists nowhere. */
    Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    struct rt_cgroup_resources *res = NULL;
    err = NULL;
    r.cpuset_cpus = "0";
    CHECK(srv_resources_from(&arena, &r, &res, &err) == 0 && res);
    r.cpuset_cpus = "0-60000";
    CHECK(srv_resources_from(&arena, &r, &res, &err) < 0 && err && err->status == EINVAL);
    crisp_error_free(err);
    err = NULL;
    r.cpuset_cpus = "0", r.cpuset_mems = "0-60000";
    CHECK(srv_resources_from(&arena, &r, &res, &err) < 0 && err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "cpuset_mems");
    crisp_error_free(err);
}

static void test_mounts(void)
{
    struct req q;
    struct rt_container_spec s;
    req_init(&q, "localhost/test/bare:1");
    Runtime__V1__Mount m[2] = {RUNTIME__V1__MOUNT__INIT, RUNTIME__V1__MOUNT__INIT};
    m[0].container_path = "/data", m[0].host_path = "/srv/data", m[0].readonly = true;
    m[0].recursive_read_only = true; /* which needs readonly and private propagation */
    m[1].container_path = "/shared", m[1].host_path = "/srv/shared";
    m[1].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL;
    Runtime__V1__Mount *mounts[] = {&m[0], &m[1]};
    Runtime__V1__Device d = RUNTIME__V1__DEVICE__INIT;
    d.container_path = "/dev/fuse", d.host_path = "/dev/fuse", d.permissions = "rw";
    Runtime__V1__Device *devices[] = {&d};
    q.c.mounts = mounts;
    q.c.n_mounts = N(mounts);
    q.c.devices = devices;
    q.c.n_devices = N(devices);
    expect_ok(&q, &s);
    CHECK(s.n_mounts == 2 && s.n_devices == 1);
    CHECK_STR(s.mounts[0].container_path, "/data");
    CHECK_STR(s.mounts[0].host_path, "/srv/data");
    CHECK(s.mounts[0].readonly && s.mounts[0].recursive_readonly);
    CHECK(s.mounts[0].propagation == RT_PROPAGATION_PRIVATE);
    CHECK_STR(s.mounts[1].container_path, "/shared");
    CHECK(!s.mounts[1].readonly && !s.mounts[1].recursive_readonly);
    CHECK(s.mounts[1].propagation == RT_PROPAGATION_BIDIRECTIONAL);
    m[0].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER;
    expect_error(&q, EINVAL, "mount /data: recursive_read_only needs PROPAGATION_PRIVATE", false);
    m[0].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
    m[0].readonly = false;
    expect_error(&q, EINVAL, "mount /data: recursive_read_only needs readonly", false);
    m[0].readonly = true;
    CHECK_STR(s.devices[0].container_path, "/dev/fuse");
    CHECK_STR(s.devices[0].host_path, "/dev/fuse");
    CHECK_STR(s.devices[0].permissions, "rw");
    CHECK(!s.mounts[0].noexec && !s.mounts[0].nosuid && !s.mounts[0].nodev);
    /* Mount options: the bind flags kubelet may ask for, and nothing else. */
    char *opts[] = {"noexec", "nodev", "nosuid"};
    m[0].mount_options = opts;
    m[0].n_mount_options = 2;
    expect_ok(&q, &s);
    CHECK(s.mounts[0].noexec && s.mounts[0].nodev && !s.mounts[0].nosuid);
    m[0].n_mount_options = 3;
    expect_ok(&q, &s);
    CHECK(s.mounts[0].noexec && s.mounts[0].nodev && s.mounts[0].nosuid);
    CHECK(!s.mounts[1].noexec && !s.mounts[1].nodev && !s.mounts[1].nosuid);
    char *bad[] = {"noexec", "size=1m"};
    m[0].mount_options = bad;
    m[0].n_mount_options = 2;
    expect_error(&q, EINVAL,
                 "mount /data: mount option \"size=1m\" is not supported (only noexec, nosuid and "
                 "nodev are)",
                 true);
    m[0].n_mount_options = 0;
    /* Not supported yet: idmapped mounts. */
    Runtime__V1__IDMapping map = RUNTIME__V1__IDMAPPING__INIT;
    Runtime__V1__IDMapping *maps[] = {&map};
    m[1].uidmappings = maps;
    m[1].n_uidmappings = 1;
    expect_error(&q, EINVAL, "mount /shared: idmapped mounts are not supported yet", true);
    m[1].n_uidmappings = 0;
    m[1].gidmappings = maps;
    m[1].n_gidmappings = 1;
    expect_error(&q, EINVAL, "mount /shared: idmapped mounts are not supported yet", true);
    m[1].n_gidmappings = 0;
    m[1].image_sub_path = "x";
    expect_error(&q, EINVAL, "mount /shared: image_sub_path without an image", true);
    m[1].image_sub_path = "";
    Runtime__V1__ImageSpec volume = RUNTIME__V1__IMAGE_SPEC__INIT;
    m[0].image = &volume;
    expect_ok(&q, &s); /* an empty image spec is no image volume */
    CHECK(s.mounts[0].image == NULL);
    /* An image volume: the image's id and layers (top-most first) for the runtime to mount. */
    volume.image = "localhost/test/full:1";
    expect_error(&q, EINVAL, "mount /data: an image volume takes no host_path", true);
    m[0].host_path = "";
    m[0].image_sub_path = "etc";
    m[0].propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
    expect_ok(&q, &s);
    char full_id[IMG_DIGEST_MAX];
    img_digest_buffer(full_config, strlen(full_config), full_id);
    _cleanup_free_ char *top = img_store_layer_path(daemon_.images, top_chain);
    _cleanup_free_ char *base = img_store_layer_path(daemon_.images, base_chain);
    CHECK_STR(s.mounts[0].image, "localhost/test/full:1");
    CHECK_STR(s.mounts[0].image_id, full_id);
    CHECK_STR(s.mounts[0].image_sub_path, "etc");
    CHECK_STR(s.mounts[0].host_path, "");
    CHECK(s.mounts[0].readonly && s.mounts[0].propagation == RT_PROPAGATION_PRIVATE);
    expect_strv(s.mounts[0].image_layers, (const char *const[]){top, base}, 2);
    CHECK(s.mounts[1].image == NULL);
    m[0].readonly = false;
    m[0].recursive_read_only = false;
    expect_error(&q, EINVAL, "mount /data: an image volume is read-only: set readonly", true);
    m[0].readonly = true;
    m[0].uidmappings = maps;
    m[0].n_uidmappings = 1;
    expect_error(&q, EINVAL, "mount /data: idmapped image volumes are not supported", true);
    m[0].n_uidmappings = 0;
    volume.image = "localhost/test/absent:1"; /* not pulled: NOT_FOUND, as for the container's image */
    expect_error(&q, ENOENT, "mount /data: image volume: image", false);
    m[0].host_path = "/srv/data";
    m[0].image_sub_path = "";
    m[0].image = NULL;
    Runtime__V1__Mount *many[257];
    for (size_t i = 0; i < N(many); i++)
        many[i] = &m[1];
    q.c.mounts = many;
    q.c.n_mounts = 256;
    expect_ok(&q, &s);
    CHECK(s.n_mounts == 256);
    q.c.n_mounts = 257;
    expect_error(&q, EINVAL, "at most 256 mounts and 256 devices", true);
    q.c.n_mounts = 0;
    Runtime__V1__Device *many_devices[257];
    for (size_t i = 0; i < N(many_devices); i++)
        many_devices[i] = &d;
    q.c.devices = many_devices;
    q.c.n_devices = 257;
    expect_error(&q, EINVAL, "at most 256 mounts and 256 devices", true);
}

static int own_oom_score(void)
{
    int own = 0;
    FILE *f = fopen("/proc/self/oom_score_adj", "re");
    if (f) {
        if (fscanf(f, "%d", &own) != 1)
            own = 0;
        fclose(f);
    }
    return own;
}

static void test_resources(void)
{
    struct req q;
    struct rt_container_spec s;
    req_init(&q, "localhost/test/bare:1");
    q.c.linux = &q.linux_;
    expect_ok(&q, &s);
    CHECK(s.resources == NULL && !s.has_oom_score_adj);
    CHECK(s.capabilities != 0 && s.masked_paths && s.masked_paths[0]); /* no security context: defaults */
    q.linux_.resources = &q.res;
    q.res.cpu_period = 100000, q.res.cpu_quota = 50000, q.res.cpu_shares = 512;
    q.res.memory_limit_in_bytes = 64 << 20, q.res.memory_swap_limit_in_bytes = 128 << 20;
    q.res.cpuset_cpus = "0-1", q.res.cpuset_mems = "0";
    expect_ok(&q, &s);
    CHECK(s.resources && s.resources->cpu_period == 100000 && s.resources->cpu_quota == 50000 &&
          s.resources->cpu_shares == 512);
    CHECK(s.resources && s.resources->memory_limit == 64 << 20 &&
          s.resources->memory_swap_limit == 128 << 20);
    CHECK_STR(s.resources ? s.resources->cpuset_cpus : NULL, "0-1");
    CHECK_STR(s.resources ? s.resources->cpuset_mems : NULL, "0");
    CHECK(!s.has_oom_score_adj); /* 0 is "unset" */
    int own = own_oom_score();
    q.res.oom_score_adj = own + 500 > 1000 ? 1000 : own + 500;
    expect_ok(&q, &s);
    CHECK(s.has_oom_score_adj && s.oom_score_adj == (int)q.res.oom_score_adj);
    /* Below crispd's own score it can't be set here: raised to it. */
    q.res.oom_score_adj = -1000;
    expect_ok(&q, &s);
    CHECK(s.has_oom_score_adj && s.oom_score_adj == (own > -1000 ? own : -1000));
}

static void test_refused(void)
{
    struct req q;
    const char *need = "CreateContainer needs a config with metadata and an image";
    req_init(&q, "localhost/test/full:1");
    q.r.config = NULL;
    expect_error(&q, EINVAL, need, true);
    req_init(&q, "localhost/test/full:1");
    q.c.metadata = NULL;
    expect_error(&q, EINVAL, need, true);
    req_init(&q, "localhost/test/full:1");
    q.c.image = NULL;
    expect_error(&q, EINVAL, need, true);
    req_init(&q, "");
    expect_error(&q, EINVAL, need, true);
    req_init(&q, "localhost/test/full:1");
    static char *many[4097];
    for (size_t i = 0; i < N(many); i++)
        many[i] = "x";
    q.c.command = many;
    q.c.n_command = 4097;
    expect_error(&q, EINVAL, "at most 4096 command, args or env entries", true);
    q.c.n_command = 4096;
    struct rt_container_spec s;
    expect_ok(&q, &s);
    q.c.n_command = 0;
    q.c.args = many;
    q.c.n_args = 4097;
    expect_error(&q, EINVAL, "at most 4096 command, args or env entries", true);
    q.c.n_args = 0;
    static Runtime__V1__KeyValue e = RUNTIME__V1__KEY_VALUE__INIT;
    static Runtime__V1__KeyValue *envs[4097];
    for (size_t i = 0; i < N(envs); i++)
        envs[i] = &e;
    q.c.envs = envs;
    q.c.n_envs = 4097;
    expect_error(&q, EINVAL, "at most 4096 command, args or env entries", true);
    req_init(&q, "localhost/test/absent:1");
    expect_error(&q, ENOENT, "image: ", false);
    /* A record whose config blob is gone. */
    req_init(&q, "localhost/test/noconfig:1");
    char id[IMG_DIGEST_MAX], prefix[128];
    img_digest_buffer("{\"no\":\"blob\"}", 13, id);
    snprintf(prefix, sizeof(prefix), "config of image %s: ", id);
    expect_error(&q, ENOENT, prefix, false);
    /* The security context's refusals come through. */
    req_init(&q, "localhost/test/full:1");
    Runtime__V1__Int64Value gid = RUNTIME__V1__INT64_VALUE__INIT;
    q.sc.run_as_group = &gid;
    q.linux_.security_context = &q.sc;
    q.c.linux = &q.linux_;
    expect_error(&q, EINVAL, "run_as_group is set without run_as_user or run_as_username", true);
    q.sc.run_as_group = NULL;
    q.sc.run_as_username = "ghost";
    expect_error(&q, EINVAL, "is not in the image's", false);
    q.sc.run_as_username = "";
    q.linux_.resources = &q.res;
    static Runtime__V1__HugepageLimit h = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
    static Runtime__V1__HugepageLimit *pages[65];
    for (size_t i = 0; i < N(pages); i++)
        pages[i] = &h;
    q.res.hugepage_limits = pages;
    q.res.n_hugepage_limits = 65;
    expect_error(&q, EINVAL, "at most 64 hugepage limits and unified entries", true);
}

static void test_resources_from(void)
{
    struct rt_cgroup_resources *res = (void *)1;
    crisp_error_t *err = NULL;
    CHECK(srv_resources_from(&arena, NULL, &res, &err) == 0 && res == NULL);
    Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    Runtime__V1__HugepageLimit h[2] = {RUNTIME__V1__HUGEPAGE_LIMIT__INIT, RUNTIME__V1__HUGEPAGE_LIMIT__INIT};
    h[0].page_size = "2MB", h[0].limit = 4 << 20;
    h[1].page_size = "1GB", h[1].limit = 0;
    Runtime__V1__HugepageLimit *pages[] = {&h[0], &h[1]};
    Runtime__V1__LinuxContainerResources__UnifiedEntry u =
        RUNTIME__V1__LINUX_CONTAINER_RESOURCES__UNIFIED_ENTRY__INIT;
    u.key = "memory.high", u.value = "1000000";
    Runtime__V1__LinuxContainerResources__UnifiedEntry *unified[] = {&u};
    r.hugepage_limits = pages;
    r.n_hugepage_limits = N(pages);
    r.unified = unified;
    r.n_unified = N(unified);
    r.cpu_shares = 2;
    CHECK(srv_resources_from(&arena, &r, &res, &err) == 0);
    CHECK(res && res->cpu_shares == 2 && res->cpu_period == 0 && res->memory_limit == 0);
    CHECK(res && res->n_hugepages == 2 && res->n_unified == 1);
    if (res && res->n_hugepages == 2 && res->n_unified == 1) {
        CHECK_STR(res->hugepages[0].page_size, "2MB");
        CHECK(res->hugepages[0].limit == 4 << 20);
        CHECK_STR(res->hugepages[1].page_size, "1GB");
        CHECK_STR(res->unified[0].key, "memory.high");
        CHECK_STR(res->unified[0].value, "1000000");
    }
    Runtime__V1__LinuxContainerResources__UnifiedEntry *many[65];
    for (size_t i = 0; i < N(many); i++)
        many[i] = &u;
    r.unified = many;
    r.n_unified = 64;
    CHECK(srv_resources_from(&arena, &r, &res, &err) == 0 && res && res->n_unified == 64);
    r.n_unified = 65;
    res = (void *)1;
    CHECK(srv_resources_from(&arena, &r, &res, &err) < 0 && res == NULL);
    CHECK(err && err->status == EINVAL);
    CHECK_STR(err ? err->msg : NULL, "at most 64 hugepage limits and unified entries");
    crisp_error_free(err);
}

static void test_kv(void)
{
    Runtime__V1__ContainerConfig__LabelsEntry e[3] = {RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT,
                                                      RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT,
                                                      RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT};
    e[0].key = "app", e[0].value = "web";
    e[1].key = "tier", e[1].value = "";
    e[2].key = "io.kubernetes.pod.name", e[2].value = "p";
    void *entries[] = {&e[0], &e[1], &e[2]};
    const struct rt_kv *kv = NULL;
    size_t n = 0;
    crisp_error_t *err = NULL;
    CHECK(srv_kv_from(&arena, entries, N(entries), &kv, &n, &err) == 0);
    CHECK(n == 3 && kv);
    if (n == 3 && kv) {
        CHECK_STR(kv[0].key, "app");
        CHECK_STR(kv[0].value, "web");
        CHECK_STR(kv[1].value, "");
        CHECK_STR(kv[2].key, "io.kubernetes.pod.name");
    }
    CHECK(srv_kv_from(&arena, NULL, 0, &kv, &n, &err) == 0 && n == 0);
    static void *many[1025];
    for (size_t i = 0; i < N(many); i++)
        many[i] = &e[0];
    CHECK(srv_kv_from(&arena, many, 1024, &kv, &n, &err) == 0 && n == 1024);
    CHECK(srv_kv_from(&arena, many, 1025, &kv, &n, &err) < 0);
    CHECK(err && err->status == EINVAL);
    CHECK_STR(err ? err->msg : NULL, "1025 labels, annotations or sysctls: at most 1024");
    crisp_error_freep(&err);

    /* Back to map entries of another message's type. */
    struct rt_kv back[] = {{"a", "1"}, {"b", ""}};
    void **out = srv_entries_of(&arena, &runtime__v1__container_config__annotations_entry__descriptor, back,
                                2);
    CHECK(out != NULL);
    if (out) {
        Runtime__V1__ContainerConfig__AnnotationsEntry *a = out[0], *b = out[1];
        CHECK(a->base.descriptor == &runtime__v1__container_config__annotations_entry__descriptor);
        CHECK_STR(a->key, "a");
        CHECK_STR(a->value, "1");
        CHECK_STR(b->key, "b");
        CHECK_STR(b->value, "");
        CHECK(a->key != back[0].key); /* copied into the arena */
    }

    /* A selector matches when every key=value of it is among the labels. */
    struct rt_kv labels[] = {{"app", "web"}, {"tier", "front"}};
    CHECK(srv_labels_match(labels, 2, NULL, 0));
    CHECK(srv_labels_match(labels, 2, entries, 1));
    e[1].value = "front";
    void *both[] = {&e[0], &e[1]};
    CHECK(srv_labels_match(labels, 2, both, 2));
    e[1].value = "back";
    CHECK(!srv_labels_match(labels, 2, both, 2));
    CHECK(!srv_labels_match(labels, 2, entries, 3));
    CHECK(!srv_labels_match(NULL, 0, entries, 1));
}

static int setup(void)
{
    crisp_error_t *err = NULL;
    if (!mkdtemp(root) || img_store_open(root, &daemon_.images, &err) < 0) {
        crisp_error_free(err);
        return -1;
    }
    layer_add(daemon_.images, "base", base_chain, "etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:7:7:::\n",
              "etc/group", "wheel:x:10:root\n", NULL);
    layer_add(daemon_.images, "top", top_chain, "etc/passwd",
              "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n", "etc/group",
              "wheel:x:10:root\naudio:x:29:app\n", NULL);
    image_add("localhost/test/full:1", full_config, true);
    image_add("localhost/test/bare:1", bare_config, true);
    image_add("localhost/test/noconfig:1", "{\"no\":\"blob\"}", false);
    return 0;
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR); /* the oom_score_adj clamp warns once */
    if (setup() < 0)
        return 1;
    test_fields();
    test_argv();
    test_env();
    test_env_bytes();
    test_working_dir();
    test_stop_signal();
    test_log_path();
    test_log_path_refused();
    test_devices_and_oom_refused();
    test_env_size();
    test_cpuset_check();
    test_mounts();
    test_resources();
    test_refused();
    test_resources_from();
    test_kv();
    srv_container_image_fini(&held);
    img_store_free(daemon_.images);
    arena_fini(&arena);
    crisp_error_t *err = NULL;
    dir_remove_all(root, &err);
    crisp_error_free(err);
    return unit_report("test_container_config");
}
