/* server/streaming*: HTTP heads, tokens, SPDY frames and header blocks, WebSocket handshake and
 * frames; then the whole server with a fake backend (processes from fork+exec, an echo port),
 * driven by test/e2e/streamclient.py. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "streaming/http.h"
#include "streaming/spdy/spdy.h"
#include "streaming/streaming.h"
#include "streaming/tokens.h"
#include "streaming/ws/ws.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void test_http(void)
{
    const char *good =
        "GET /exec/abc?port=80,81&port=9%30 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n"
        "X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: v3.channel.k8s.io, "
        "channel.k8s.io\r\n\r\nEXTRA";
    CHECK(srv_http_head_length(good, 10, 8192) == 0);
    ssize_t n = srv_http_head_length(good, strlen(good), 8192);
    CHECK(n == (ssize_t)strlen(good) - 5);
    struct srv_http_request r = {0};
    crisp_error_t *err = NULL;
    CHECK(srv_http_parse(good, (size_t)n, &r, &err) == 0);
    CHECK_STR(r.method, "GET");
    CHECK_STR(r.path, "/exec/abc");
    CHECK_STR(srv_headers_get(&r.headers, "host"), "x");
    CHECK(srv_http_header_has_token(&r.headers, "connection", "upgrade"));
    char tok[16][64];
    CHECK(srv_http_header_tokens(&r.headers, "X-Stream-Protocol-Version", tok, 16) == 3);
    CHECK_STR(tok[2], "channel.k8s.io");
    CHECK(srv_http_query_values(r.query, "port", tok, 16) == 2);
    CHECK_STR(tok[0], "80,81");
    CHECK_STR(tok[1], "90");
    srv_http_request_fini(&r);

    const char *bad[] = {"GET /x HTTP/1.1\r\nHost x\r\n\r\n",
                         "GET /x HTTP/2.0\r\n\r\n",
                         "GET x HTTP/1.1\r\n\r\n",
                         "GET /x HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
                         "G(T /x HTTP/1.1\r\n\r\n",
                         "\r\n\r\n",
                         "GET /a b HTTP/1.1\r\n\r\n",
                         "GET /x HTTP/1.1\r\nA: b\x01\r\n\r\n"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        CHECK(srv_http_parse(bad[i], strlen(bad[i]), &r, &err) < 0 && err->status == EINVAL);
        crisp_error_freep(&err);
        srv_http_request_fini(&r);
    }
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 65; i++)
        strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    CHECK(srv_http_parse(many, strlen(many), &r, &err) < 0 && err->status == E2BIG);
    crisp_error_freep(&err);
    srv_http_request_fini(&r);
    char big[9000];
    memset(big, 'a', sizeof(big));
    CHECK(srv_http_head_length(big, sizeof(big), 8192) == -1);
}

static struct srv_streaming_request *request(enum srv_streaming_kind kind, const char *cmd)
{
    struct srv_streaming_request *r = calloc(1, sizeof(*r));
    r->kind = kind;
    r->id = strdup("c1");
    r->out = r->err = true;
    if (cmd) {
        r->cmd = calloc(4, sizeof(char *));
        r->cmd[0] = strdup("/bin/sh");
        r->cmd[1] = strdup("-c");
        r->cmd[2] = strdup(cmd);
    }
    return r;
}

static void test_tokens(void)
{
    struct srv_tokens *t = NULL;
    crisp_error_t *err = NULL;
    CHECK(srv_tokens_new(SRV_TOKEN_TTL_MS, &t, &err) == 0);
    _cleanup_free_ char *a = NULL, *b = NULL;
    CHECK(srv_tokens_add(t, request(SRV_STREAMING_EXEC, "true"), 1000, &a, &err) == 0);
    CHECK(srv_tokens_add(t, request(SRV_STREAMING_ATTACH, NULL), 1000, &b, &err) == 0);
    CHECK(strlen(a) >= 22 && strcmp(a, b) != 0);
    CHECK(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(a));
    CHECK(srv_tokens_take(t, "nope", 1000) == NULL);
    struct srv_streaming_request *r = srv_tokens_take(t, a, 2000);
    CHECK(r && r->kind == SRV_STREAMING_EXEC);
    srv_streaming_request_free(r);
    CHECK(srv_tokens_take(t, a, 2000) == NULL);                    /* single use */
    CHECK(srv_tokens_take(t, b, 1000 + SRV_TOKEN_TTL_MS) == NULL); /* expired */
    srv_tokens_free(t);
}

static void test_spdy(void)
{
    struct srv_spdy_zlib client, server;
    crisp_error_t *err = NULL;
    CHECK(srv_spdy_zlib_init(&client, &err) == 0 && srv_spdy_zlib_init(&server, &err) == 0);
    struct srv_buf b = {0};
    for (int round = 0; round < 3; round++) { /* one compression context spans the session */
        struct srv_headers h = {0};
        srv_headers_add(&h, "StreamType", 10, "stdout", 6, &err);
        srv_headers_add(&h, "port", 4, "8080", 4, &err);
        CHECK(srv_spdy_put_syn_stream(&b, &client, 1 + 2 * round, SRV_SPDY_FLAG_FIN, &h, &err) == 0);
        srv_headers_fini(&h);
        struct srv_spdy_frame f;
        ssize_t n = srv_spdy_frame_parse(srv_buf_head(&b), srv_buf_size(&b), 65536, &f, &err);
        CHECK(n == (ssize_t)srv_buf_size(&b));
        CHECK(f.control && f.type == SRV_SPDY_SYN_STREAM && f.flags == SRV_SPDY_FLAG_FIN);
        CHECK(srv_be32(f.payload) == (uint32_t)(1 + 2 * round));
        CHECK(srv_spdy_headers_decode(&server, f.payload + 10, f.len - 10, &h, &err) == 0);
        CHECK_STR(srv_headers_get(&h, "streamtype"), "stdout");
        CHECK_STR(h.name[0], "streamtype"); /* lower-cased on the wire */
        CHECK_STR(srv_headers_get(&h, "port"), "8080");
        srv_headers_fini(&h);
        srv_buf_consume(&b, srv_buf_size(&b));
    }
    CHECK(srv_spdy_put_data(&b, 5, SRV_SPDY_FLAG_FIN, "abc", 3) == 0);
    struct srv_spdy_frame f;
    CHECK(srv_spdy_frame_parse(srv_buf_head(&b), 10, 65536, &f, &err) == 0); /* incomplete */
    CHECK(srv_spdy_frame_parse(srv_buf_head(&b), srv_buf_size(&b), 65536, &f, &err) == 11);
    CHECK(!f.control && f.stream_id == 5 && f.len == 3 && memcmp(f.payload, "abc", 3) == 0);
    CHECK(srv_spdy_frame_parse(srv_buf_head(&b), srv_buf_size(&b), 2, &f, &err) < 0 &&
          err->status == EMSGSIZE);
    crisp_error_freep(&err);
    srv_buf_consume(&b, srv_buf_size(&b));
    uint8_t v2[8] = {0x80, 0x02, 0, 6, 0, 0, 0, 0};
    CHECK(srv_spdy_frame_parse(v2, 8, 100, &f, &err) < 0 && err->status == EPROTO);
    crisp_error_freep(&err);
    /* A header block inflating past the bound is refused. */
    struct srv_headers h = {0};
    char *huge = malloc(20000);
    memset(huge, 'x', 20000);
    srv_headers_add(&h, "a", 1, huge, 20000, &err);
    free(huge);
    CHECK(srv_spdy_headers_encode(&client, &h, &b, &err) == 0);
    srv_headers_fini(&h);
    CHECK(srv_spdy_headers_decode(&server, srv_buf_head(&b), srv_buf_size(&b), &h, &err) < 0 &&
          err->status == EMSGSIZE);
    crisp_error_freep(&err);
    srv_headers_fini(&h);
    srv_buf_fini(&b);
    srv_spdy_zlib_fini(&client);
    srv_spdy_zlib_fini(&server);
}

static void test_ws(void)
{
    char accept[29];
    CHECK(srv_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept) == 0);
    CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455, section 1.3 */
    CHECK(srv_ws_accept_key("short", accept) < 0);
    uint8_t mask[4] = {1, 2, 3, 4};
    struct srv_buf b = {0};
    srv_ws_put_frame(&b, SRV_WS_BINARY, false, "\x01hel", 4, mask);
    srv_ws_put_frame(&b, SRV_WS_PING, true, "p", 1, mask);
    srv_ws_put_frame(&b, SRV_WS_CONT, true, "lo", 2, mask);
    crisp_error_t *err = NULL;
    struct srv_ws_frame f;
    uint8_t *p = b.data;
    size_t left = srv_buf_size(&b);
    CHECK(srv_ws_frame_parse(p, 1, 1024, &f, &err) == 0);
    ssize_t n = srv_ws_frame_parse(p, left, 1024, &f, &err);
    CHECK(n == 10 && !f.fin && f.opcode == SRV_WS_BINARY && f.len == 4 &&
          memcmp(f.payload, "\x01hel", 4) == 0);
    p += n, left -= (size_t)n;
    n = srv_ws_frame_parse(p, left, 1024, &f, &err);
    CHECK(n == 7 && f.fin && f.opcode == SRV_WS_PING && f.payload[0] == 'p');
    p += n, left -= (size_t)n;
    n = srv_ws_frame_parse(p, left, 1024, &f, &err);
    CHECK(n == 8 && f.fin && f.opcode == SRV_WS_CONT && memcmp(f.payload, "lo", 2) == 0);
    srv_buf_consume(&b, srv_buf_size(&b));
    srv_ws_put_frame(&b, SRV_WS_BINARY, true, "x", 1, NULL); /* unmasked: servers only */
    CHECK(srv_ws_frame_parse(b.data, srv_buf_size(&b), 1024, &f, &err) < 0 && err->status == EPROTO);
    crisp_error_freep(&err);
    srv_buf_consume(&b, srv_buf_size(&b));
    char big[70000] = {0};
    srv_ws_put_frame(&b, SRV_WS_BINARY, true, big, sizeof(big), mask);
    CHECK(srv_ws_frame_parse(b.data, 14, 65536, &f, &err) < 0 && err->status == EMSGSIZE);
    crisp_error_freep(&err);
    CHECK(srv_ws_frame_parse(b.data, srv_buf_size(&b), 1 << 20, &f, &err) == 14 + (ssize_t)sizeof(big));
    srv_buf_consume(&b, srv_buf_size(&b));
    srv_ws_put_frame(&b, SRV_WS_PING, false, "x", 1, mask); /* fragmented control frame */
    CHECK(srv_ws_frame_parse(b.data, srv_buf_size(&b), 1024, &f, &err) < 0 && err->status == EPROTO);
    crisp_error_freep(&err);
    srv_buf_fini(&b);
    _cleanup_free_ char *enc = srv_base64_encode("\xff\xfe\x01", 3, false);
    CHECK_STR(enc, "//4B");
    uint8_t dec[8];
    CHECK(srv_base64_decode("aGk", 3, dec) == 2 && memcmp(dec, "hi", 2) == 0);
    CHECK(srv_base64_decode("a$==", 4, dec) < 0);
}

/* The fake backend: exec runs cmd with pipes (or a terminal), attach too but without an exit fd. */
struct fake_proc {
    pid_t pid;
    bool reaped;
    int status;
};

static atomic_int fake_starts, fake_releases, fake_resizes;
/* Written on the connection's thread, read on the test's: the socket orders them, but nothing a
 * thread checker can see does. */
static pthread_mutex_t fake_size_lock = PTHREAD_MUTEX_INITIALIZER;
static char fake_last_size[32];

static const char *fake_last_size_get(char buf[32])
{
    pthread_mutex_lock(&fake_size_lock);
    memcpy(buf, fake_last_size, 32);
    pthread_mutex_unlock(&fake_size_lock);
    return buf;
}

static int set_nonblock(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static pid_t spawn(char **cmd, int in, int out, int err, bool tty)
{
    pid_t pid = fork();
    if (pid == 0) {
        setsid(); /* its own group: release kills the shell and what it started */
        if (tty)
            ioctl(in, TIOCSCTTY, 0);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(cmd[0], cmd);
        _exit(127);
    }
    return pid;
}

static int fake_start_tty(const struct srv_streaming_request *req, struct srv_streaming_proc *ret, pid_t *pid)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
        return -1;
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    *pid = spawn(req->cmd, slave, slave, slave, true);
    close(slave);
    set_nonblock(master);
    ret->out_fd = master;
    ret->in_fd = req->in ? fcntl(master, F_DUPFD_CLOEXEC, 0) : -1;
    return 0;
}

static int fake_start(void *data, const struct srv_streaming_request *req, struct srv_streaming_proc *ret,
                      crisp_error_t **err)
{
    (void)data;
    if (!req->cmd || strstr(req->cmd[2], "FAILSTART"))
        return crisp_error_make(err, ENOENT, "no such command");
    struct fake_proc *fp = calloc(1, sizeof(*fp));
    *ret = (struct srv_streaming_proc){.in_fd = -1, .out_fd = -1, .err_fd = -1, .exit_fd = -1, .priv = fp};
    if (req->tty) {
        fake_start_tty(req, ret, &fp->pid);
    } else {
        int in[2], out[2], er[2];
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0)
            return crisp_error_errno(err, "pipe");
        fp->pid = spawn(req->cmd, in[0], out[1], er[1], false);
        close(in[0]), close(out[1]), close(er[1]);
        set_nonblock(in[1]), set_nonblock(out[0]), set_nonblock(er[0]);
        ret->in_fd = in[1];
        ret->out_fd = out[0];
        ret->err_fd = er[0];
    }
    if (req->kind == SRV_STREAMING_EXEC)
        ret->exit_fd = (int)syscall(SYS_pidfd_open, fp->pid, 0);
    fake_starts++;
    return 0;
}

static int fake_resize(void *data, struct srv_streaming_proc *p, uint16_t w, uint16_t h, crisp_error_t **err)
{
    (void)data, (void)err;
    struct winsize ws = {.ws_col = w, .ws_row = h};
    ioctl(p->out_fd, TIOCSWINSZ, &ws);
    pthread_mutex_lock(&fake_size_lock);
    snprintf(fake_last_size, sizeof(fake_last_size), "%ux%u", w, h);
    pthread_mutex_unlock(&fake_size_lock);
    fake_resizes++;
    return 0;
}

static int fake_wait(void *data, struct srv_streaming_proc *p, int *ret_code, crisp_error_t **err)
{
    (void)data, (void)err;
    struct fake_proc *fp = p->priv;
    if (!fp->reaped && waitpid(fp->pid, &fp->status, 0) == fp->pid)
        fp->reaped = true;
    *ret_code = WIFEXITED(fp->status) ? WEXITSTATUS(fp->status) : 128 + WTERMSIG(fp->status);
    return 0;
}

static void fake_fini(void *data, struct srv_streaming_proc *p)
{
    (void)data;
    struct fake_proc *fp = p->priv;
    if (!fp->reaped) {
        kill(-fp->pid, SIGKILL);
        waitpid(fp->pid, NULL, 0);
    }
    int *fds[] = {&p->in_fd, &p->out_fd, &p->err_fd, &p->exit_fd};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (*fds[i] >= 0)
            close(*fds[i]);
    free(fp);
    fake_releases++;
}

static int fake_dial(void *data, const struct srv_streaming_request *req, uint16_t port, int *ret_fd,
                     crisp_error_t **err)
{
    (void)data, (void)req;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return crisp_error_errno(err, "dial 127.0.0.1:%u", port);
    }
    set_nonblock(fd);
    *ret_fd = fd;
    return 0;
}

static const struct srv_streaming_backend fake_backend = {
    .start = fake_start, .resize = fake_resize, .wait = fake_wait, .fini = fake_fini, .dial = fake_dial};

/* An echo port: answers "echo:" and what it read once the client half-closes or sends a newline
 * (a WebSocket client cannot half-close), then closes. */
static int echo_fd;

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) && !memchr(buf, '\n', n) && (r = read(fd, buf + n, sizeof(buf) - n)) > 0)
        n += (size_t)r;
    if (write(fd, "echo:", 5) == 5 && write(fd, buf, n) < 0)
        n = 0;
    close(fd);
    return NULL;
}

static void *echo_main(void *arg)
{
    (void)arg;
    int fd;
    while ((fd = accept4(echo_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        pthread_t t;
        pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static int echo_start(void)
{
    echo_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    bind(echo_fd, (struct sockaddr *)&a, sizeof(a));
    listen(echo_fd, 64);
    getsockname(echo_fd, (struct sockaddr *)&a, &len);
    pthread_t t;
    pthread_create(&t, NULL, echo_main, NULL);
    pthread_detach(t);
    return ntohs(a.sin_port);
}

static char client_dir[PATH_MAX];

/* Runs python code with URL bound (and streamclient importable); returns its stdout. */
static char *py(const char *url, const char *code)
{
    char path[] = "/tmp/crisp-unit-stream-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "import sys\nsys.path.insert(0, %s%s%s)\nfrom streamclient import *\nURL = %s%s%s\n%s\n", "\"",
            client_dir, "\"", "\"", url ? url : "", "\"", code);
    fclose(f);
    _cleanup_free_ char *cmd = NULL;
    if (asprintf(&cmd, "/usr/bin/python3 %s 2>&1", path) < 0)
        return NULL;
    FILE *p = popen(cmd, "r");
    char *out = calloc(1, 1 << 20);
    size_t n = fread(out, 1, (1 << 20) - 1, p);
    out[n] = '\0';
    pclose(p);
    unlink(path);
    return out;
}

static char *url_for(struct srv_streaming *s, struct srv_streaming_request *r)
{
    char *url = NULL;
    crisp_error_t *err = NULL;
    CHECK(srv_streaming_url(s, r, &url, &err) == 0);
    crisp_error_free(err);
    return url;
}

static char *exec_url(struct srv_streaming *s, const char *cmd, bool in, bool tty)
{
    struct srv_streaming_request *r = request(SRV_STREAMING_EXEC, cmd);
    r->in = in;
    r->tty = tty;
    r->err = !tty;
    return url_for(s, r);
}

static void e2e_exec(struct srv_streaming *s)
{
    _cleanup_free_ char *u1 = exec_url(s, "cat; echo bye >&2", true, false);
    _cleanup_free_ char *o1 = py(
        u1, "o,e,s = exec_spdy(URL, stdin=b'hello\\n')\nprint(repr(o), repr(e), exit_code(s), s)");
    CHECK_CONTAINS(o1, "b'hello\\n' b'bye\\n' 0 {'metadata': {}, 'status': 'Success'}");

    _cleanup_free_ char *u2 = exec_url(s, "echo out; exit 3", false, false);
    _cleanup_free_ char *o2 = py(
        u2, "o,e,s = exec_spdy(URL)\nprint(repr(o), exit_code(s), s['reason'], s['message'])");
    CHECK_CONTAINS(o2,
                   "b'out\\n' 3 NonZeroExitCode command terminated with non-zero exit code: error executing "
                   "command [/bin/sh -c echo out; exit 3], exit code 3");

    _cleanup_free_ char *u3 = exec_url(s, "exit 2", false, false);
    _cleanup_free_ char *o3 = py(
        u3, "o,e,s = exec_spdy(URL, protocols=['channel.k8s.io'])\nprint(s['status'], s['message'])");
    CHECK_CONTAINS(o3, "Failure command terminated with non-zero exit code");

    _cleanup_free_ char *u4 = exec_url(s, "FAILSTART", false, false);
    _cleanup_free_ char *o4 = py(u4, "o,e,s = exec_spdy(URL)\nprint(s['reason'], s['code'], s['message'])");
    CHECK_CONTAINS(
        o4,
        "InternalError 500 Internal error occurred: error executing command in container: no such command");

    _cleanup_free_ char *u5 = exec_url(s, "head -c 3000000 /dev/zero", false, false);
    _cleanup_free_ char *o5 = py(u5, "o,e,s = exec_spdy(URL)\nprint(len(o), o.count(0), exit_code(s))");
    CHECK_CONTAINS(o5, "3000000 3000000 0");

    /* PINGs are answered, even before the streams are all there. */
    _cleanup_free_ char *u5a = exec_url(s, "true", false, false);
    _cleanup_free_ char *o5a = py(u5a,
                                  "c = SpdyClient(URL, ['v4.channel.k8s.io'])\nc.ping(7)\n"
                                  "print('pong', c.wait(lambda: c.pings == 1, 5), c.protocol)\nc.close()");
    CHECK_CONTAINS(o5a, "pong True v4.channel.k8s.io");

    /* A client that keeps SPDY windows is held to them. */
    _cleanup_free_ char *u5b = exec_url(s, "head -c 1000000 /dev/zero; echo done >&2", false, false);
    _cleanup_free_ char *o5b = py(
        u5b, "o,e,s = exec_spdy(URL, flow_control=True)\nprint(len(o), e, exit_code(s))");
    CHECK_CONTAINS(o5b, "1000000 b'done\\n' 0");

    _cleanup_free_ char *u6 = exec_url(s, "sleep 0.5; stty size; read x; echo got $x", true, true);
    _cleanup_free_ char *o6 = py(u6, "o,e,s = exec_spdy(URL, stdin=b'line\\n', tty=True, resize=(100, 30), "
                                     "stderr=False)\nprint(repr(o), exit_code(s))");
    CHECK_CONTAINS(o6, "30 100");
    CHECK_CONTAINS(o6, "got line");
    char size[32];
    CHECK_STR(fake_last_size_get(size), "100x30");

    /* Input larger than every buffer on the way, echoed back while it is still being sent. */
    _cleanup_free_ char *u7 = exec_url(s, "cat", true, false);
    _cleanup_free_ char *o7 = py(
        u7, "d = bytes(range(256)) * 8192\no,e,s = exec_spdy(URL, stdin=d)\nprint(o == d, exit_code(s))");
    CHECK_CONTAINS(o7, "True 0");
}

static void e2e_websocket(struct srv_streaming *s)
{
    _cleanup_free_ char *u1 = exec_url(s, "echo hi; echo err >&2; exit 4", false, false);
    _cleanup_free_ char *o1 = py(u1, "o,e,s = exec_ws(URL)\nprint(repr(o), repr(e), exit_code(s))");
    CHECK_CONTAINS(o1, "b'hi\\n' b'err\\n' 4");

    _cleanup_free_ char *u2 = exec_url(s, "echo base", false, false);
    _cleanup_free_ char *o2 = py(
        u2, "o,e,s = exec_ws(URL, protocol='v4.base64.channel.k8s.io')\nprint(repr(o), exit_code(s))");
    CHECK_CONTAINS(o2, "b'base\\n' 0");

    _cleanup_free_ char *u3 = exec_url(s, "cat", true, false);
    _cleanup_free_ char *o3 = py(u3, "o,e,s = exec_ws(URL, stdin=b'x'*100000, protocol='v5.channel.k8s.io')\n"
                                     "print(len(o), exit_code(s))");
    CHECK_CONTAINS(o3, "100000 0");

    _cleanup_free_ char *u4 = exec_url(s, "exit 1", false, false);
    _cleanup_free_ char *o4 = py(u4, "o,e,s = exec_ws(URL, protocol='channel.k8s.io')\nprint(s['status'])");
    CHECK_CONTAINS(o4, "Failure");

    _cleanup_free_ char *u5 = exec_url(s, "sleep 0.5; stty size", false, true);
    _cleanup_free_ char *o5 = py(u5, "o,e,s = exec_ws(URL, tty=True, resize=(81, 25))\nprint(repr(o))");
    CHECK_CONTAINS(o5, "25 81");
}

static void e2e_attach(struct srv_streaming *s)
{
    struct srv_streaming_request *r = request(SRV_STREAMING_ATTACH, "echo attached");
    _cleanup_free_ char *u = url_for(s, r);
    _cleanup_free_ char *o = py(u, "o,e,s = attach_spdy(URL)\nprint(repr(o), exit_code(s))");
    CHECK_CONTAINS(o, "b'attached\\n' 0");
}

static char *pf_url(struct srv_streaming *s, int port)
{
    struct srv_streaming_request *r = request(SRV_STREAMING_PORTFORWARD, NULL);
    free(r->id);
    r->id = strdup("pod1");
    if (port) {
        r->ports = calloc(1, sizeof(int32_t));
        r->ports[0] = port;
        r->n_ports = 1;
    }
    return url_for(s, r);
}

static void e2e_portforward(struct srv_streaming *s, int echo_port)
{
    char code[1024];
    _cleanup_free_ char *u1 = pf_url(s, 0);
    snprintf(code, sizeof(code), "print(portforward_spdy(URL, %d, b'ping'))", echo_port);
    _cleanup_free_ char *o1 = py(u1, code);
    CHECK_CONTAINS(o1, "(b'echo:ping', '')");

    _cleanup_free_ char *u2 = pf_url(s, 0);
    snprintf(code, sizeof(code),
             "r = portforward_spdy_many(URL, [(%d, b'n%%d' %% i * 1000) for i in range(20)])\n"
             "print(all(d == b'echo:' + b'n%%d' %% i * 1000 and e == '' for i, (d, e) in enumerate(r)))",
             echo_port);
    _cleanup_free_ char *o2 = py(u2, code);
    CHECK_CONTAINS(o2, "True");

    _cleanup_free_ char *u3 = pf_url(s, 0);
    _cleanup_free_ char *o3 = py(u3, "print(portforward_spdy(URL, 1, b'x'))");
    CHECK_CONTAINS(o3, "error forwarding port 1 to pod pod1: dial 127.0.0.1:1: Connection refused");

    _cleanup_free_ char *u4 = pf_url(s, echo_port); /* only the request's port may be forwarded */
    _cleanup_free_ char *o4 = py(
        u4,
        "try:\n    print(portforward_spdy(URL, 2, b'x', timeout=3))\nexcept Exception as e:\n    print('refused', e)");
    CHECK_CONTAINS(o4, "(b'', '')");

    _cleanup_free_ char *u5 = pf_url(s, echo_port);
    snprintf(code, sizeof(code), "print(portforward_ws(URL, %d, b'hi\\n'))", echo_port);
    _cleanup_free_ char *o5 = py(u5, code);
    CHECK_CONTAINS(o5, "(b'echo:hi\\n', '')");
}

static void e2e_http_errors(struct srv_streaming *s)
{
    _cleanup_free_ char *u = exec_url(s, "true", false, false);
    _cleanup_free_ char *o = py(
        u, "o,e,s = exec_spdy(URL)\nprint(exit_code(s))\n"
           "print(http_request(URL)[0])\n" /* reused */
           "print(http_request(URL.rsplit('/', 2)[0] + '/nope/x')[0])\n"
           "print(http_request(URL, raw=b'GET /x HTTP/1.1\\r\\nbad\\r\\n\\r\\n')[0])\n"
           "print(http_request(URL, raw=b'GET /' + b'a' * 9000 + b' HTTP/1.1\\r\\n\\r\\n')[0])");
    CHECK_CONTAINS(o, "0\n404\n404\n400\n431\n");
    _cleanup_free_ char *u2 = exec_url(s, "true", false, false);
    _cleanup_free_ char *o2 = py(u2, "print(http_request(URL, method='PUT')[0])");
    CHECK_CONTAINS(o2, "405");
    _cleanup_free_ char *u3 = exec_url(s, "true", false, false);
    _cleanup_free_ char *o3 = py(
        u3, "print(http_request(URL.replace('/exec/', '/attach/'))[0])"); /* wrong kind */
    CHECK_CONTAINS(o3, "404");
    _cleanup_free_ char *u4 = exec_url(s, "true", false, false);
    _cleanup_free_ char *o4 = py(u4,
                                 "print(http_request(URL, method='POST', headers={'Connection': 'Upgrade', "
                                 "'Upgrade': 'SPDY/3.1', 'X-Stream-Protocol-Version': 'v9.nope'})[0])");
    CHECK_CONTAINS(o4, "403");
    _cleanup_free_ char *u5 = exec_url(s, "true", false, false);
    _cleanup_free_ char *o5 = py(u5, "print(http_request(URL)[0])"); /* no upgrade */
    CHECK_CONTAINS(o5, "400");
}

/* A client that goes away ends its session: the process is released at once. */
static void e2e_vanish(struct srv_streaming *s)
{
    _cleanup_free_ char *u = exec_url(s, "sleep 100", false, false);
    int before = fake_releases;
    _cleanup_free_ char *o = py(
        u, "try:\n    exec_spdy(URL, timeout=1)\nexcept StreamError as e:\n    print('gone', e)");
    CHECK_CONTAINS(o, "gone timed out");
    for (int i = 0; i < 100 && fake_releases == before; i++)
        usleep(20000);
    CHECK(fake_releases == before + 1);
}

/* Past 128 connections the server answers 503 instead of starting a thread. */
static void e2e_cap(struct srv_streaming *s, int port)
{
    (void)s;
    int fds[129];
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 129; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK(connect(fds[i], (struct sockaddr *)&a, sizeof(a)) == 0);
        usleep(1000);
    }
    char buf[64] = {0};
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fds[128], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    CHECK(read(fds[128], buf, sizeof(buf) - 1) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 503", 12) == 0);
    for (int i = 0; i < 129; i++)
        close(fds[i]);
}

/* A session still running when the server stops is ended, and its process released. */
static void e2e_stop(struct srv_streaming *s)
{
    _cleanup_free_ char *u = exec_url(s, "sleep 100", false, false);
    _cleanup_free_ char *cmd = NULL;
    CHECK(asprintf(&cmd,
                   "/usr/bin/python3 -c 'import sys; sys.path.insert(0, \"%s\"); from streamclient import *; "
                   "exec_spdy(\"%s\")' >/dev/null 2>&1 &",
                   client_dir, u) > 0);
    CHECK(system(cmd) == 0);
    for (int i = 0; i < 100 && fake_starts == fake_releases; i++)
        usleep(50000);
    CHECK(fake_starts == fake_releases + 1);
    srv_streaming_stop(s);
    CHECK(fake_starts == fake_releases);
}

static void test_server(const char *argv0)
{
    char exe[PATH_MAX];
    if (!realpath(argv0, exe))
        return;
    snprintf(client_dir, sizeof(client_dir), "%s/../../test/e2e", dirname(exe));
    int echo_port = echo_start();
    struct srv_streaming_config cfg = {.address = "127.0.0.1", .port = 0};
    struct srv_streaming *s = NULL;
    crisp_error_t *err = NULL;
    CHECK(srv_streaming_start(&cfg, &fake_backend, &s, &err) == 0);
    if (!s)
        return;
    _cleanup_free_ char *u = exec_url(s, "true", false, false);
    CHECK(strncmp(u, "http://127.0.0.1:", 17) == 0 && strstr(u, "/exec/"));
    e2e_exec(s);
    e2e_websocket(s);
    e2e_attach(s);
    e2e_portforward(s, echo_port);
    e2e_http_errors(s);
    e2e_vanish(s);
    e2e_cap(s, atoi(strrchr(u, ':') + 1));
    e2e_stop(s);

    cfg.address = "::1";
    CHECK(srv_streaming_start(&cfg, &fake_backend, &s, &err) == 0);
    _cleanup_free_ char *u6 = exec_url(s, "echo six", false, false);
    CHECK(strncmp(u6, "http://[::1]:", 13) == 0);
    _cleanup_free_ char *o6 = py(u6, "print(exec_spdy(URL)[0])");
    CHECK_CONTAINS(o6, "b'six\\n'");
    srv_streaming_stop(s);
    crisp_error_free(err);
}

/* The same over TLS, with a certificate made for the test. */
static void test_tls(void)
{
    char dir[] = "/tmp/crisp-unit-tls-XXXXXX";
    if (!mkdtemp(dir))
        return;
    _cleanup_free_ char *cmd = NULL, *cert = NULL, *key = NULL;
    CHECK(asprintf(&cert, "%s/cert.pem", dir) > 0 && asprintf(&key, "%s/key.pem", dir) > 0);
    CHECK(asprintf(&cmd,
                   "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 -keyout %s -out %s "
                   ">/dev/null 2>&1",
                   key, cert) > 0);
    CHECK(system(cmd) == 0);
    struct srv_streaming_config cfg = {.address = "127.0.0.1", .tls_cert = cert, .tls_key = key};
    struct srv_streaming *s = NULL;
    crisp_error_t *err = NULL;
    CHECK(srv_streaming_start(&cfg, &fake_backend, &s, &err) == 0);
    if (s) {
        _cleanup_free_ char *u1 = exec_url(s, "cat", true, false);
        CHECK(strncmp(u1, "https://127.0.0.1:", 18) == 0);
        _cleanup_free_ char *o1 = py(
            u1, "d = b'z' * 300000\no,e,s = exec_spdy(URL, stdin=d)\nprint(o == d, exit_code(s))");
        CHECK_CONTAINS(o1, "True 0");
        _cleanup_free_ char *u2 = exec_url(s, "echo tls", false, false);
        _cleanup_free_ char *o2 = py(u2, "o,e,s = exec_ws(URL)\nprint(repr(o), exit_code(s))");
        CHECK_CONTAINS(o2, "b'tls\\n' 0");
        srv_streaming_stop(s);
    }
    cfg.tls_key = "/nonexistent";
    CHECK(srv_streaming_start(&cfg, &fake_backend, &s, &err) < 0 && err->status == EINVAL);
    crisp_error_freep(&err);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    (void)argc;
    signal(SIGPIPE, SIG_IGN); /* as crispd does */
    test_http();
    test_tokens();
    test_spdy();
    test_ws();
    test_server(argv[0]);
    test_tls();
    return unit_report("test_streaming");
}
