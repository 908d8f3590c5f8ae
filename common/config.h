/* crisp's configuration: built-in defaults, then the main JSON file, then its drop-ins
 * (<file>.d/NAME.json, lexical order), then command-line overrides. Every key has a default. */
#ifndef CRISP_CONFIG_H
#define CRISP_CONFIG_H

#include "error.h"
#include "log.h"

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_DEFAULT_PATH "/etc/crisp/crisp.json"
#define CONFIG_MAX_FILE_SIZE (1024 * 1024)

enum cgroup_driver { CGROUP_DRIVER_CGROUPFS, CGROUP_DRIVER_SYSTEMD };

struct config_registry {
    char *host;
    char **mirrors; /* NULL-terminated URLs, tried in order before the host itself */
    bool insecure;
};

struct crisp_config {
    char *listen;       /* unix socket path (a "unix://" prefix is stripped) */
    char *listen_group; /* group owning the socket; empty: root only */
    char *root;
    char *state;
    int log_level;  /* enum log_level */
    int log_format; /* enum log_format */
    int cgroup_driver;
    char *default_cgroup_parent; /* for pods that name no cgroup_parent */
    int shutdown_timeout;        /* seconds in-flight calls get at SIGTERM */
    char *cni_conf_dir;
    char **cni_bin_dirs;
    struct config_registry *registries;
    size_t n_registries;
    char *streaming_address;
    int streaming_port;       /* 0: a free port */
    char *streaming_tls_cert; /* PEM files; both empty: plain HTTP */
    char *streaming_tls_key;
    int streaming_token_ttl;         /* seconds a streaming URL stays valid */
    int streaming_idle_timeout;      /* seconds a streaming session may move nothing; 0: forever */
    int image_pull_progress_timeout; /* seconds without progress before a pull fails */
    int image_max_concurrent_downloads;
    int image_max_layer_size; /* MiB of a layer's uncompressed tar stream */
    char *image_auth_file;    /* docker-style config.json with registry credentials; empty: none */
    char *metrics_address;
    int metrics_port; /* crispd's own Prometheus endpoint; 0: none */
};

/* A command-line setting: key as in the file, its value as text, and the flag it came from. */
struct config_override {
    const char *key;
    const char *value;
    const char *origin;
};

struct config_sources {
    const char *path;   /* main file */
    bool path_required; /* true when named with --config */
    const struct config_override *overrides;
    size_t n_overrides;
};

int config_load(const struct config_sources *src, struct crisp_config **ret_cfg, crisp_error_t **err);
void config_free(struct crisp_config *cfg);
void config_freep(struct crisp_config **cfg);

/* The effective configuration as JSON (pretty when pretty is true); NULL on allocation failure. */
char *config_to_json(const struct crisp_config *cfg, bool pretty);

const struct config_registry *config_registry_find(const struct crisp_config *cfg, const char *host);
const char *cgroup_driver_name(enum cgroup_driver d);

#endif
