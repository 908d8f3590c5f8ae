/* crispd: the CRI server. Loads the configuration, serves the socket, and stops cleanly on SIGTERM. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "common/config.h"
#include "common/file.h"
#include "common/log.h"
#include "server/daemon.h"
#include "server/dispatch.h"
#include "server/grpc_server.h"
#include "server/handlers.h"
#include "server/metrics_daemon.h"
#include "server/metrics_server.h"
#include "server/sd_notify.h"
#include "server/socket.h"
#include "server/streaming_backend.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_OVERRIDES 8

struct options {
    struct config_sources sources;
    struct config_override overrides[MAX_OVERRIDES];
    bool print_config;
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: crispd [OPTION]...\n"
               "Serve the Kubernetes Container Runtime Interface on a unix socket.\n\n"
               "  --config FILE         configuration file (default " CONFIG_DEFAULT_PATH "),\n"
               "                        then FILE.d/*.json in lexical order\n"
               "  --listen PATH         socket path, optionally unix:// (key: listen)\n"
               "  --root DIR            persistent state: images, layers (key: root)\n"
               "  --state DIR           volatile state: records, socket dir (key: state)\n"
               "  --log-level LEVEL     error, warn, info or debug (key: log_level)\n"
               "  --log-format FORMAT   text or json (key: log_format)\n"
               "  --print-config        print the effective configuration as JSON and exit\n"
               "  --version             print the version and exit\n"
               "  --help                print this help and exit\n");
}

/* Returns 0 to go on, 1 to exit successfully, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"root", required_argument, NULL, 'r'},
        {"state", required_argument, NULL, 's'},
        {"log-level", required_argument, NULL, 'L'},
        {"log-format", required_argument, NULL, 'F'},
        {"print-config", no_argument, NULL, 'p'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        int opt;
        const char *key, *flag;
    } keyed[] = {{'l', "listen", "--listen"},
                 {'r', "root", "--root"},
                 {'s', "state", "--state"},
                 {'L', "log_level", "--log-level"},
                 {'F', "log_format", "--log-format"}};
    size_t n = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o->sources.path = optarg;
            o->sources.path_required = true;
            continue;
        case 'p':
            o->print_config = true;
            continue;
        case 'v':
            printf("crispd %s\n", CRISP_VERSION);
            return 1;
        case 'h':
            usage(stdout);
            return 1;
        case '?':
            usage(stderr);
            return -1;
        }
        for (size_t i = 0; i < ARRAY_SIZE(keyed); i++)
            if (keyed[i].opt == opt && n < MAX_OVERRIDES)
                o->overrides[n++] = (struct config_override){keyed[i].key, optarg, keyed[i].flag};
    }
    if (optind < argc) {
        fprintf(stderr, "crispd: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    o->sources.overrides = o->overrides;
    o->sources.n_overrides = n;
    return 0;
}

static void reload_log_level(const struct config_sources *src)
{
    _cleanup_(config_freep) struct crisp_config *cfg = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    if (config_load(src, &cfg, &err) < 0) {
        log_error("SIGHUP: keeping log level %s: %s", log_level_name(log_get_level()), err->msg);
        return;
    }
    log_set_level((enum log_level)cfg->log_level);
    log_info("SIGHUP: log level is now %s", log_level_name((enum log_level)cfg->log_level));
}

static int make_state_dirs(const struct crisp_config *cfg, crisp_error_t **err)
{
    if (dir_create_all(cfg->state, 0700, err) < 0 || dir_create_all(cfg->root, 0700, err) < 0)
        return -1;
    return 0;
}

/* Binds with a umask that keeps the socket from ever being wider than 0660, then sets owner and mode. */
static int start_serving(struct srv_daemon *d, struct srv_grpc **ret, crisp_error_t **err)
{
    gid_t gid;
    if (srv_socket_prepare(d->cfg, &gid, err) < 0)
        return -1;
    mode_t old = umask(0117);
    int r = srv_grpc_start(d, d->cfg->listen, ret, err);
    umask(old);
    if (r < 0)
        return -1;
    return srv_socket_finish(d->cfg->listen, gid, err);
}

static int streaming_start(struct srv_daemon *d, const struct srv_streaming_backend *backend,
                           crisp_error_t **err)
{
    if (!d->cfg->streaming_tls_cert[0] != !d->cfg->streaming_tls_key[0])
        return crisp_error_make(err, EINVAL, "streaming.tls_cert and streaming.tls_key must be set together");
    const struct srv_streaming_config sc = {d->cfg->streaming_address,   d->cfg->streaming_port,
                                            d->cfg->streaming_tls_cert,  d->cfg->streaming_tls_key,
                                            d->cfg->streaming_token_ttl, d->cfg->streaming_idle_timeout};
    if (srv_streaming_start(&sc, backend, &d->streaming, err) < 0)
        return crisp_error_wrap(err, "streaming server on %s", d->cfg->streaming_address);
    return 0;
}

static int wait_for_stop(const sigset_t *signals, const struct config_sources *src)
{
    for (;;) {
        int sig = 0;
        if (sigwait(signals, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload_log_level(src);
            continue;
        }
        return sig;
    }
}

/* Tells systemd (Type=notify) about a state change; a failure costs only the notification. */
static void notify(const char *state)
{
    _cleanup_error_ crisp_error_t *err = NULL;
    if (srv_sd_notify(state, &err) < 0)
        log_warn("systemd notification: %s", err->msg);
}

static int run(const struct crisp_config *cfg, const struct config_sources *src, const sigset_t *signals)
{
    _cleanup_error_ crisp_error_t *err = NULL;
    struct srv_daemon daemon;
    struct srv_grpc *server = NULL;
    struct srv_metrics_server *metrics = NULL;
    if (make_state_dirs(cfg, &err) < 0 || srv_daemon_init(&daemon, cfg, &err) < 0 ||
        srv_dispatch_init(srv_handlers, srv_n_handlers, &err) < 0) {
        log_error("cannot start: %s", err->msg);
        return EXIT_FAILURE;
    }
    grpc_init();
    int status = EXIT_SUCCESS;
    struct srv_streaming_backend backend;
    srv_streaming_backend_init(&backend, &daemon);
    if (streaming_start(&daemon, &backend, &err) < 0 ||
        srv_metrics_daemon_start(&daemon, &metrics, &err) < 0 || start_serving(&daemon, &server, &err) < 0) {
        log_error("cannot start: %s", err->msg);
        status = EXIT_FAILURE;
    } else {
        log_info("crispd %s serving CRI v1 on %s", CRISP_VERSION, cfg->listen);
        if (metrics)
            log_info("metrics on http://%s%s%s:%d/metrics", strchr(cfg->metrics_address, ':') ? "[" : "",
                     cfg->metrics_address, strchr(cfg->metrics_address, ':') ? "]" : "",
                     srv_metrics_server_port(metrics));
        notify("READY=1\nSTATUS=serving CRI v1");
        int sig = wait_for_stop(signals, src);
        notify("STOPPING=1\nSTATUS=stopping");
        log_info("%s: stopping; in-flight calls get %d s", strsignal(sig), cfg->shutdown_timeout);
        srv_event_bus_close(daemon.events);
        if (!srv_grpc_stop(server, cfg->shutdown_timeout)) {
            /* Records on disk are complete at every step, so leaving a cancelled call mid-way is safe. */
            unlink(cfg->listen);
            log_warn("stopped with calls still unwinding after their cancellation");
            _exit(EXIT_SUCCESS);
        }
        unlink(cfg->listen);
        log_info("stopped");
    }
    srv_streaming_stop(daemon.streaming);
    srv_metrics_daemon_stop(metrics);
    grpc_shutdown();
    srv_dispatch_fini();
    srv_daemon_fini(&daemon);
    return status;
}

int main(int argc, char **argv)
{
    struct options opts = {0};
    int r = parse_args(argc, argv, &opts);
    if (r != 0)
        return r > 0 ? EXIT_SUCCESS : 2;
    _cleanup_(config_freep) struct crisp_config *cfg = NULL;
    _cleanup_error_ crisp_error_t *err = NULL;
    if (config_load(&opts.sources, &cfg, &err) < 0) {
        fprintf(stderr, "crispd: %s\n", err->msg);
        return EXIT_FAILURE;
    }
    if (opts.print_config) {
        _cleanup_free_ char *json = config_to_json(cfg, true);
        printf("%s\n", json ? json : "");
        return json ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    log_set_level((enum log_level)cfg->log_level);
    log_set_format((enum log_format)cfg->log_format);
    /* Blocked before any thread exists (gRPC starts its own), so only sigwait sees them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (srv_sd_notify_init(&err) < 0)
        log_warn("not notifying systemd: %s", err->msg);
    return run(cfg, &opts.sources, &signals);
}
