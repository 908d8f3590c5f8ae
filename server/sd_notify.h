/* systemd's service notification protocol (sd_notify(3)) without libsystemd: crispd tells the service
 * manager when the CRI socket serves (READY=1, what Type=notify waits for) and when shutdown begins
 * (STOPPING=1). One datagram per message to the socket named by $NOTIFY_SOCKET. */
#ifndef CRISP_SERVER_SD_NOTIFY_H
#define CRISP_SERVER_SD_NOTIFY_H

#include "common/error.h"

#include <stdbool.h>

/* Takes $NOTIFY_SOCKET out of the environment (so no child - monitors, CNI plugins, hooks - inherits
 * it and speaks for crispd) and keeps its address for srv_sd_notify. Call before any thread starts:
 * unsetenv is not thread-safe. Without the variable notifications are no-ops; a malformed one is an
 * error (and notifications stay off). */
int srv_sd_notify_init(crisp_error_t **err);

/* Whether srv_sd_notify_init found a socket. */
bool srv_sd_notify_enabled(void);

/* Sends state, newline-separated KEY=VALUE assignments such as "READY=1\nSTATUS=serving". 0 when
 * sent or when there is no socket. */
int srv_sd_notify(const char *state, crisp_error_t **err);

/* Forgets the address (tests). */
void srv_sd_notify_reset(void);

#endif
