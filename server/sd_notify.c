/* sd_notify(3) by hand: a datagram to the AF_UNIX socket in $NOTIFY_SOCKET, a path or, with a leading
 * '@', an abstract name. The address is read once at startup and the variable unset. */
#define _GNU_SOURCE
#include "server/sd_notify.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define NOTIFY_ENV "NOTIFY_SOCKET"

static struct sockaddr_un notify_addr;
static socklen_t notify_addr_len; /* 0: no socket */

void srv_sd_notify_reset(void)
{
    memset(&notify_addr, 0, sizeof(notify_addr));
    notify_addr_len = 0;
}

bool srv_sd_notify_enabled(void)
{
    return notify_addr_len != 0;
}

/* "/path" or "@abstract", shorter than sun_path (a path needs its NUL; an abstract name has none, but
 * systemd keeps the same bound). systemd's "vsock:" addresses are for VMs and unsupported here. */
static int parse_address(const char *value, crisp_error_t **err)
{
    size_t len = strlen(value);
    if (len < 2 || (value[0] != '/' && value[0] != '@'))
        return crisp_error_make(err, EINVAL,
                                NOTIFY_ENV " \"%.64s\" is neither an absolute path nor @abstract", value);
    if (len >= sizeof(notify_addr.sun_path))
        return crisp_error_make(err, ENAMETOOLONG, NOTIFY_ENV " is longer than %zu bytes",
                                sizeof(notify_addr.sun_path) - 1);
    notify_addr.sun_family = AF_UNIX;
    memcpy(notify_addr.sun_path, value, len);
    if (value[0] == '@') {
        notify_addr.sun_path[0] = '\0';
        notify_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        notify_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    return 0;
}

int srv_sd_notify_init(crisp_error_t **err)
{
    srv_sd_notify_reset();
    const char *value = getenv(NOTIFY_ENV);
    if (!value)
        return 0;
    int r = parse_address(value, err);
    unsetenv(NOTIFY_ENV);
    if (r < 0)
        srv_sd_notify_reset();
    return r;
}

int srv_sd_notify(const char *state, crisp_error_t **err)
{
    if (!notify_addr_len)
        return 0;
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return crisp_error_errno(err, "notify socket");
    size_t len = strlen(state);
    ssize_t n = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&notify_addr, notify_addr_len);
    if (n < 0)
        return crisp_error_errno(err, "sending to " NOTIFY_ENV);
    if ((size_t)n != len)
        return crisp_error_make(err, EIO, "short datagram to " NOTIFY_ENV);
    return 0;
}
