/* One upgraded streaming connection: a poll loop that moves bytes between the client's streams
 * (SPDY streams or WebSocket channels, behind struct srv_transport) and file descriptors (behind
 * struct srv_app: an exec/attach, or port-forward sockets). Every buffer is bounded: a stream whose
 * buffer is full stops the reading of the socket, a full send queue stops the reading of the fds. */
#ifndef CRISP_SERVER_STREAMING_SESSION_H
#define CRISP_SERVER_STREAMING_SESSION_H

#include "streaming/io.h"

#define SRV_SESSION_MAX_STREAMS 128
#define SRV_STREAM_BUFFER 65536    /* client data held per stream before the socket is left unread */
#define SRV_SESSION_OUT_HIGH 65536 /* queued output above which no fd is read */
#define SRV_SESSION_CHUNK 16384    /* bytes read from an fd at a time: one frame */

enum srv_role {
    SRV_ROLE_NONE,
    SRV_ROLE_STDIN,
    SRV_ROLE_STDOUT,
    SRV_ROLE_STDERR,
    SRV_ROLE_ERROR,
    SRV_ROLE_RESIZE,
    SRV_ROLE_PF_DATA,
    SRV_ROLE_PF_ERROR,
};

struct srv_stream {
    uint32_t id; /* SPDY stream id, or WebSocket channel */
    enum srv_role role;
    char request_id[64]; /* port-forward pairing */
    uint16_t port;
    int sink_fd;   /* the client's data is written here; -1: kept in `in` for the app */
    int source_fd; /* read and sent to the client; -1 once at EOF */
    bool discard;  /* the client's data goes nowhere */
    struct srv_buf in;
    bool remote_fin; /* the client will send no more (FIN, close message, reset) */
    bool sink_done;  /* ...and all it sent is written: the app was told */
    bool local_fin;  /* we will send no more */
    bool source_eof;
    int64_t send_window;
};

struct srv_session;

struct srv_transport {
    /* Parses the frames in s->in, calling the srv_session_* event functions. -1: the session is over. */
    int (*feed)(struct srv_session *s, crisp_error_t **err);
    /* Queues data on st (n may be 0), and its end when fin. */
    int (*send)(struct srv_session *s, struct srv_stream *st, const void *data, size_t n, bool fin);
    /* n bytes of st's input were consumed: flow-control credit. */
    void (*consumed)(struct srv_session *s, struct srv_stream *st, size_t n);
    /* How much may be sent on st now. */
    size_t (*allowance)(struct srv_session *s, struct srv_stream *st);
    /* Abandons st (SPDY: RST_STREAM). */
    void (*reset)(struct srv_session *s, struct srv_stream *st);
    /* The session's last words (GOAWAY, close frame). */
    void (*finish)(struct srv_session *s);
    void (*fini)(struct srv_session *s);
};

struct srv_app {
    /* The client opened st (SPDY); false refuses it. */
    bool (*opened)(struct srv_session *s, struct srv_stream *st, const struct srv_headers *h);
    /* st, which has no sink, received data into st->in (the app consumes it). */
    void (*input)(struct srv_session *s, struct srv_stream *st);
    /* The client closed its side of st and everything it sent was written to the sink. */
    void (*remote_closed)(struct srv_session *s, struct srv_stream *st);
    /* Each turn of the loop; true when the work is done and the session may close. */
    bool (*step)(struct srv_session *s);
    void (*fini)(struct srv_session *s);
};

struct srv_session {
    struct srv_conn *conn;
    int stop_fd; /* readable when the server is stopping */
    const struct srv_transport *t;
    void *tdata;
    const struct srv_app *app;
    void *adata;
    struct srv_buf in, out;
    struct srv_stream *streams[SRV_SESSION_MAX_STREAMS];
    size_t n_streams;
    bool stalled;     /* the next frame waits for room in a stream's buffer */
    bool peer_closed; /* EOF, reset or a close frame from the client */
    bool closing;     /* the app is done: flush, then close */
    int extra_fd;     /* polled for the app (an exit fd); -1: none */
    int64_t deadline; /* when the app wants a turn even without I/O; 0: none */
    int64_t last_output;
    int64_t idle_timeout_ms; /* 0: none */
    int64_t last_activity;   /* when a byte last moved either way */
};

void srv_session_init(struct srv_session *s, struct srv_conn *conn, int stop_fd);
/* Runs until the app is done, the client leaves or the server stops; then releases the app and the
 * transport. Initial bytes (read past the HTTP head) go in s->in beforehand. */
void srv_session_run(struct srv_session *s);
/* Releases the app, the transport and the streams (srv_session_run does this when it ends). */
void srv_session_fini(struct srv_session *s);

/* For transports and apps. */
struct srv_stream *srv_session_stream_new(struct srv_session *s, uint32_t id);
struct srv_stream *srv_session_stream_find(struct srv_session *s, uint32_t id);
void srv_session_stream_remove(struct srv_session *s, struct srv_stream *st);
/* Client data for st; false when st has no room yet (the transport retries later). */
bool srv_session_deliver(struct srv_session *s, struct srv_stream *st, const void *data, size_t n);
void srv_session_remote_fin(struct srv_session *s, struct srv_stream *st);
/* The client reset st: nothing more goes either way. */
void srv_session_stream_reset(struct srv_session *s, struct srv_stream *st);
/* Sends on st unless it has ended; fin ends it. */
int srv_session_send(struct srv_session *s, struct srv_stream *st, const void *data, size_t n, bool fin);
/* The app consumed n bytes of st->in. */
void srv_session_consume(struct srv_session *s, struct srv_stream *st, size_t n);

#endif
