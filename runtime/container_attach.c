/* Attach to a running container's own stdio, which its monitor serves on a unix socket. */
#define _GNU_SOURCE
#include "common/cleanup.h"
#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"

#include <errno.h>

int rt_container_attach(struct rt_runtime *rt, const char *id, bool in, bool out, bool err_stream,
                        struct rt_attachment *ret, bool *ret_tty, crisp_error_t **err)
{
    struct rt_container *c = rt_container_lock_by_id(rt, id);
    if (!c)
        return crisp_error_make(err, ENOENT, "container %.100s not found", id);
    rt_container_refresh(rt, c);
    bool running = c->info.state == RT_CONTAINER_RUNNING;
    bool tty = c->tty;
    _cleanup_free_ char *path = rt_container_attach_socket(c);
    rt_container_unlock_unref(c);
    if (!running)
        return crisp_error_make(err, CRISP_E_FAILED_PRECONDITION, "container %.12s is not running", id);
    if (!path)
        return crisp_error_oom(err);
    /* With a tty, stdout and stderr are one stream. */
    if (rt_attach_open(path, in, out, err_stream && !tty, ret, err) < 0)
        return crisp_error_wrap(err, "attach to container %.12s", id);
    *ret_tty = tty;
    return 0;
}
