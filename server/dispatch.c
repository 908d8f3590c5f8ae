#define _GNU_SOURCE
#include "server/dispatch.h"

#include "api.pb-c.h"
#include "common/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct srv_method *methods;
static size_t n_methods;

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct srv_method *)a)->path, ((const struct srv_method *)b)->path);
}

static int add_service(const ProtobufCServiceDescriptor *svc, size_t *pos, crisp_error_t **err)
{
    for (unsigned i = 0; i < svc->n_methods; i++) {
        struct srv_method *m = &methods[(*pos)++];
        int n = snprintf(m->path, sizeof(m->path), "/%s/%s", svc->name, svc->methods[i].name);
        if (n < 0 || (size_t)n >= sizeof(m->path))
            return crisp_error_make(err, ENAMETOOLONG, "method path too long: %s", svc->methods[i].name);
        m->input = svc->methods[i].input;
        m->output = svc->methods[i].output;
    }
    return 0;
}

static int attach_handler(const struct srv_handler *h, crisp_error_t **err)
{
    char path[SRV_METHOD_PATH_MAX];
    snprintf(path, sizeof(path), "/%s/%s", h->service, h->method);
    struct srv_method *m = (struct srv_method *)srv_dispatch_find(path, strlen(path));
    if (!m)
        return crisp_error_make(err, ENOENT, "handler for %s: no such method in api.proto", path);
    m->unary = h->unary;
    m->stream = h->stream;
    return 0;
}

int srv_dispatch_init(const struct srv_handler *handlers, size_t n_handlers, crisp_error_t **err)
{
    const ProtobufCServiceDescriptor *services[] = {&runtime__v1__runtime_service__descriptor,
                                                    &runtime__v1__image_service__descriptor};
    size_t total = 0;
    for (size_t i = 0; i < ARRAY_SIZE(services); i++)
        total += services[i]->n_methods;
    methods = calloc(total, sizeof(*methods));
    if (!methods)
        return crisp_error_oom_in(err, "dispatch table");
    size_t pos = 0;
    for (size_t i = 0; i < ARRAY_SIZE(services); i++)
        if (add_service(services[i], &pos, err) < 0)
            return -1;
    n_methods = total;
    qsort(methods, n_methods, sizeof(*methods), by_path);
    for (size_t i = 0; i < n_handlers; i++)
        if (attach_handler(&handlers[i], err) < 0)
            return -1;
    return 0;
}

void srv_dispatch_fini(void)
{
    free(methods);
    methods = NULL;
    n_methods = 0;
}

const struct srv_method *srv_dispatch_find(const char *path, size_t len)
{
    char key[SRV_METHOD_PATH_MAX];
    if (len >= sizeof(key))
        return NULL;
    memcpy(key, path, len);
    key[len] = '\0';
    size_t lo = 0, hi = n_methods;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(key, methods[mid].path);
        if (c == 0)
            return &methods[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const struct srv_method *srv_dispatch_methods(size_t *ret_n)
{
    *ret_n = n_methods;
    return methods;
}
