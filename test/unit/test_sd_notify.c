/* server/sd_notify.c: the datagrams systemd's Type=notify waits for, received on sockets bound here. */
#define _GNU_SOURCE
#include "common/error.h"
#include "server/sd_notify.h"
#include "unit.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A datagram socket bound at name ("@..." abstract); returns its fd. */
static int bind_receiver(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(a.sun_path, name, len);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    if (name[0] == '@') {
        a.sun_path[0] = '\0';
        alen--;
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, alen) < 0) {
        perror("bind");
        return -1;
    }
    return fd;
}

/* The next datagram on fd, without blocking, as a string ("" when none). */
static const char *receive(int fd)
{
    static char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void check_round_trip(const char *name)
{
    crisp_error_t *err = NULL;
    int fd = bind_receiver(name);
    CHECK(fd >= 0);
    setenv("NOTIFY_SOCKET", name, 1);
    CHECK(srv_sd_notify_init(&err) == 0 && err == NULL);
    /* Taken out of the environment, so children do not inherit it... */
    CHECK(getenv("NOTIFY_SOCKET") == NULL);
    CHECK(srv_sd_notify_enabled());
    /* ...but still reachable for every later notification. */
    CHECK(srv_sd_notify("READY=1\nSTATUS=serving CRI v1", &err) == 0 && err == NULL);
    CHECK_STR(receive(fd), "READY=1\nSTATUS=serving CRI v1");
    CHECK(srv_sd_notify("STOPPING=1", &err) == 0);
    CHECK_STR(receive(fd), "STOPPING=1");
    CHECK_STR(receive(fd), "");
    close(fd);
    crisp_error_freep(&err);
}

static void test_path_socket(void)
{
    char dir[] = "/tmp/crisp-sd-notify-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/notify", dir);
    check_round_trip(path);
    unlink(path);
    rmdir(dir);
}

static void test_abstract_socket(void)
{
    char name[64];
    snprintf(name, sizeof(name), "@crisp-sd-notify-test-%d", (int)getpid());
    check_round_trip(name);
}

static void test_no_socket(void)
{
    crisp_error_t *err = NULL;
    unsetenv("NOTIFY_SOCKET");
    CHECK(srv_sd_notify_init(&err) == 0 && err == NULL);
    CHECK(!srv_sd_notify_enabled());
    CHECK(srv_sd_notify("READY=1", &err) == 0 && err == NULL);
}

static void check_rejected(const char *value, int status, const char *msg)
{
    crisp_error_t *err = NULL;
    setenv("NOTIFY_SOCKET", value, 1);
    CHECK(srv_sd_notify_init(&err) < 0);
    CHECK(err && err->status == status);
    CHECK_CONTAINS(err ? err->msg : NULL, msg);
    CHECK(getenv("NOTIFY_SOCKET") == NULL);
    CHECK(!srv_sd_notify_enabled());
    crisp_error_freep(&err);
    /* Notifications are off, not sent anywhere. */
    CHECK(srv_sd_notify("READY=1", &err) == 0 && err == NULL);
}

static void test_bad_addresses(void)
{
    check_rejected("relative/path", EINVAL, "neither an absolute path nor @abstract");
    check_rejected("", EINVAL, "neither");
    check_rejected("@", EINVAL, "neither");
    check_rejected("vsock:2:1234", EINVAL, "neither");
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    check_rejected(longpath, ENAMETOOLONG, "longer than 107 bytes");
}

/* A manager that went away: the send fails with the reason, nothing blocks or crashes. */
static void test_receiver_gone(void)
{
    crisp_error_t *err = NULL;
    char name[64];
    snprintf(name, sizeof(name), "@crisp-sd-notify-gone-%d", (int)getpid());
    setenv("NOTIFY_SOCKET", name, 1);
    CHECK(srv_sd_notify_init(&err) == 0);
    CHECK(srv_sd_notify("READY=1", &err) < 0);
    CHECK(err && err->status == ECONNREFUSED);
    CHECK_CONTAINS(err ? err->msg : NULL, "sending to NOTIFY_SOCKET");
    crisp_error_freep(&err);
    srv_sd_notify_reset();
}

int main(void)
{
    test_path_socket();
    test_abstract_socket();
    test_no_socket();
    test_bad_addresses();
    test_receiver_gone();
    return unit_report("test_sd_notify");
}
