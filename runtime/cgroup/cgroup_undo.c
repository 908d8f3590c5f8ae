#define _GNU_SOURCE
#include "runtime/cgroup/cgroup_internal.h"

#include "common/cleanup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rt_cgroup_undo_write(struct rt_cgroup_undo *undo, const char *path, const char *value,
                         crisp_error_t **err)
{
    _cleanup_free_ char *old = NULL;
    if (rt_cgroup_read_file(path, &old, err) < 0)
        return crisp_error_wrap(err, "write \"%s\" to %s", value, path);
    for (size_t n = strlen(old); n > 0 && old[n - 1] == '\n'; n--)
        old[n - 1] = '\0';
    /* Room for the record first, so that nothing is ever written without one. */
    struct rt_cgroup_undo_entry *grown = realloc(undo->entries, (undo->n + 1) * sizeof(*grown));
    if (!grown)
        return crisp_error_oom(err);
    undo->entries = grown;
    _cleanup_free_ char *copy = strdup(path);
    if (!copy)
        return crisp_error_oom(err);
    if (rt_cgroup_write_file(path, value, err) < 0)
        return -1;
    undo->entries[undo->n++] = (struct rt_cgroup_undo_entry){TAKE_PTR(copy), TAKE_PTR(old)};
    return 0;
}

/* Newest first, so values that constrain each other (memory and memsw) come back in a valid order.
 * Best effort: a value that can't be put back has no better fallback. */
void rt_cgroup_undo_rollback(struct rt_cgroup_undo *undo)
{
    for (size_t i = undo->n; i > 0; i--)
        rt_cgroup_write_file(undo->entries[i - 1].path, undo->entries[i - 1].old, NULL);
}

void rt_cgroup_undo_fini(struct rt_cgroup_undo *undo)
{
    for (size_t i = 0; i < undo->n; i++) {
        free(undo->entries[i].path);
        free(undo->entries[i].old);
    }
    free(undo->entries);
    undo->entries = NULL;
    undo->n = 0;
}
