/* crispd's streaming server: Exec, Attach and PortForward return a single-use URL on it, and the
 * client (kubelet proxying kubectl, or crictl) connects there and upgrades to SPDY/3.1 or WebSocket.
 * The server speaks the protocols; a backend (server/streaming_backend.c) runs the processes and
 * dials the ports, so the protocol code knows nothing of containers. */
#ifndef CRISP_SERVER_STREAMING_H
#define CRISP_SERVER_STREAMING_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct srv_streaming;

enum srv_streaming_kind { SRV_STREAMING_EXEC, SRV_STREAMING_ATTACH, SRV_STREAMING_PORTFORWARD };

/* What one Exec, Attach or PortForward call asked for. */
struct srv_streaming_request {
    enum srv_streaming_kind kind;
    char *id;   /* container id (exec, attach) or pod sandbox id (port-forward) */
    char **cmd; /* exec: NULL-terminated, at least one */
    bool tty, in, out, err;
    int32_t *ports; /* port-forward: the ports the call named (may be none: the client names them) */
    size_t n_ports;
};

void srv_streaming_request_free(struct srv_streaming_request *r);

/* A running exec, or an attachment to a container's stdio, that the server pumps streams to. */
struct srv_streaming_proc {
    int in_fd;   /* write end of its stdin; -1 when stdin was not asked for */
    int out_fd;  /* read end of its stdout (with tty: the terminal's output); -1 when not asked */
    int err_fd;  /* read end of its stderr; -1 with tty or when not asked */
    int exit_fd; /* readable once it has ended (a pidfd for exec); -1: ended when out and err are at EOF */
    void *priv;  /* the backend's */
};

struct srv_streaming_backend {
    void *data;
    /* Starts the exec or attaches; every fd in ret is non-blocking and close-on-exec. */
    int (*start)(void *data, const struct srv_streaming_request *req, struct srv_streaming_proc *ret,
                 crisp_error_t **err);
    /* With tty: the client's terminal size changed. */
    int (*resize)(void *data, struct srv_streaming_proc *p, uint16_t width, uint16_t height,
                  crisp_error_t **err);
    /* Once exit_fd is readable (or out and err are at EOF): the exit code, 0 for an attach whose
     * container is still running. An error (e.g. the exec could not start the command) is reported
     * to the client as a failure status with err's message. */
    int (*wait)(void *data, struct srv_streaming_proc *p, int *ret_exit_code, crisp_error_t **err);
    /* Exactly once per successful start: kills an exec still running and reaps it, detaches an attach;
     * closes every fd of p that is still open (the server sets the ones it closed to -1). */
    void (*fini)(void *data, struct srv_streaming_proc *p);
    /* Port-forward: a connected, non-blocking stream socket to localhost:port in the pod's network
     * namespace. ECONNREFUSED and the like come back as errors to report on the port's error stream. */
    int (*dial)(void *data, const struct srv_streaming_request *req, uint16_t port, int *ret_fd,
                crisp_error_t **err);
};

struct srv_streaming_config {
    const char *address;            /* IP to listen on */
    int port;                       /* 0: a free port */
    const char *tls_cert, *tls_key; /* PEM files; NULL or "": plain HTTP */
    int token_ttl_s;                /* how long a URL stays valid; 0: a minute */
    int idle_timeout_s;             /* a session where nothing moves that long ends; 0: never */
};

/* Listens and serves until srv_streaming_stop. The backend must outlive the server. */
int srv_streaming_start(const struct srv_streaming_config *cfg, const struct srv_streaming_backend *backend,
                        struct srv_streaming **ret, crisp_error_t **err);

/* Closes the listener, ends every session (releasing its proc), joins every thread, frees. NULL: no-op. */
void srv_streaming_stop(struct srv_streaming *s);

/* Registers the request under a new random single-use token that expires after token_ttl_s, and
 * returns its URL ("http://127.0.0.1:PORT/exec/TOKEN" or https). Takes ownership of req, even on error. */
int srv_streaming_url(struct srv_streaming *s, struct srv_streaming_request *req, char **ret_url,
                      crisp_error_t **err);

#endif
