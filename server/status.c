#include "server/status.h"

#include "common/error.h"

#include <errno.h>

grpc_status_code srv_status_from_errno(int status)
{
    switch (status) {
    case 0:
        return GRPC_STATUS_OK;
    case ENOENT:
    case ESRCH:
        return GRPC_STATUS_NOT_FOUND;
    case EINVAL:
    case ENAMETOOLONG:
    case E2BIG:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case EEXIST:
        return GRPC_STATUS_ALREADY_EXISTS;
    case EPERM:
    case EACCES:
        return GRPC_STATUS_PERMISSION_DENIED;
    case ENOSYS:
    case ENOTSUP:
        return GRPC_STATUS_UNIMPLEMENTED;
    case ETIMEDOUT:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case ECANCELED:
        return GRPC_STATUS_CANCELLED;
    case ENOSPC:
    case EMSGSIZE:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EDQUOT:
    case EFBIG:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case EBUSY:
    case CRISP_E_FAILED_PRECONDITION:
        return GRPC_STATUS_FAILED_PRECONDITION;
    case EAGAIN:
    case ECONNREFUSED:
    case ECONNRESET:
    case CRISP_E_UNAVAILABLE:
        return GRPC_STATUS_UNAVAILABLE;
    case CRISP_E_UNAUTHENTICATED:
        return GRPC_STATUS_UNAUTHENTICATED;
    default:
        return GRPC_STATUS_INTERNAL;
    }
}

const char *srv_status_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK",        "CANCELLED",       "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS",  "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED",   "OUT_OF_RANGE",    "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
        "DATA_LOSS", "UNAUTHENTICATED",
    };
    if ((unsigned)code < sizeof(names) / sizeof(names[0]))
        return names[code];
    return "UNKNOWN";
}
