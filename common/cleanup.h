/* Scope-bound cleanup, as systemd and crun do it: a variable declared with one of these attributes is
 * released when it goes out of scope; TAKE_PTR/TAKE_FD hand ownership out and disarm the cleanup. */
#ifndef CRISP_CLEANUP_H
#define CRISP_CLEANUP_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(fn) __attribute__((cleanup(fn)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)
#define _cleanup_closedir_ _cleanup_(cleanup_closedirp)
#define _cleanup_strv_ _cleanup_(strv_freep)

static inline void cleanup_freep(void *p)
{
    free(*(void **)p);
}

static inline void cleanup_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}

/* Closes *fd if it is open and marks it closed, for fds kept in structs. */
static inline void fd_close_reset(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static inline void cleanup_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static inline void cleanup_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

/* A NULL-terminated vector of owned strings. */
static inline void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

static inline void strv_freep(char ***v)
{
    strv_free(*v);
}

#define TAKE_PTR(p)                                                                                          \
    ({                                                                                                       \
        __typeof__(p) _taken = (p);                                                                          \
        (p) = NULL;                                                                                          \
        _taken;                                                                                              \
    })

#define TAKE_FD(fd)                                                                                          \
    ({                                                                                                       \
        int _taken = (fd);                                                                                   \
        (fd) = -1;                                                                                           \
        _taken;                                                                                              \
    })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
