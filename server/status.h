/* One place that maps crisp's errno-style statuses to gRPC codes. */
#ifndef CRISP_SERVER_STATUS_H
#define CRISP_SERVER_STATUS_H

#include <grpc/status.h>

grpc_status_code srv_status_from_errno(int status);
const char *srv_status_name(grpc_status_code code);

#endif
