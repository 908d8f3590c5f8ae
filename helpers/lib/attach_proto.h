/* The attach socket's messages, between crispd (runtime/attach.c) and crisp-monitor
 * (helpers/monitor/attach.c); both ends are on one host and one build, so structs go as they are. */
#ifndef CRISP_RUNTIME_ATTACH_PROTO_H
#define CRISP_RUNTIME_ATTACH_PROTO_H

#include <stdint.h>

#define RT_ATTACH_MAX_CLIENTS 16
#define RT_ATTACH_HELLO "ATT1"
#define RT_ATTACH_RESIZE "RSZ1"
#define RT_ATTACH_OK 'A' /* the monitor's one-byte answer once the client is attached */

/* First message; SCM_RIGHTS carries the pipe ends flagged, in this order: the read end of the
 * client's stdin, the write ends of its stdout and stderr. */
struct rt_attach_hello {
    char magic[4];
    uint8_t has_stdin, has_stdout, has_stderr, reserved;
};

struct rt_attach_resize {
    char magic[4];
    uint16_t width, height;
};

#endif
