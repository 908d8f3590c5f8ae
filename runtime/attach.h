/* crispd's end of attach: connects to a running container's attach socket (served by crisp-monitor)
 * and hands the monitor pipes for this client's stdin, stdout and stderr. */
#ifndef CRISP_RUNTIME_ATTACH_H
#define CRISP_RUNTIME_ATTACH_H

#include "common/error.h"

#include <stdbool.h>
#include <stdint.h>

struct rt_attachment {
    int sock;                  /* readable (EOF) once the container has exited */
    int in_fd, out_fd, err_fd; /* our ends, non-blocking and close-on-exec; -1 when not asked */
};

/* Attaches with the streams asked for. ENOENT: the socket is gone (the container has exited). */
int rt_attach_open(const char *socket_path, bool in, bool out, bool err_stream, struct rt_attachment *ret,
                   crisp_error_t **err);

/* The client's terminal is now width x height (only a tty container cares). */
int rt_attach_resize(struct rt_attachment *a, uint16_t width, uint16_t height, crisp_error_t **err);

/* Detaches: closes every fd still open. */
void rt_attach_close(struct rt_attachment *a);

#endif
