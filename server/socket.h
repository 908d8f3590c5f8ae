/* The listening socket's file: its directory, a stale file left by a crash, owner and mode. */
#ifndef CRISP_SERVER_SOCKET_H
#define CRISP_SERVER_SOCKET_H

#include "common/config.h"
#include "common/error.h"

#include <sys/types.h>

/* Resolves listen_group (-1 when empty), makes the directory, removes a stale socket file, and fails
 * when another process answers on the socket. */
int srv_socket_prepare(const struct crisp_config *cfg, gid_t *ret_gid, crisp_error_t **err);

/* Once bound: mode 0660, group gid when one is set. */
int srv_socket_finish(const char *path, gid_t gid, crisp_error_t **err);

#endif
