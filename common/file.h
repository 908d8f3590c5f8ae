/* File helpers shared by every part of crisp. */
#ifndef CRISP_FILE_H
#define CRISP_FILE_H

#include "error.h"

#include <dirent.h>
#include <stddef.h>
#include <sys/types.h>

/* Reads a whole regular file of at most max bytes into a NUL-terminated buffer. */
int file_read_bounded(const char *path, size_t max, char **ret_data, size_t *ret_len, crisp_error_t **err);

/* "a/b", allocated; NULL when out of memory. */
char *path_join(const char *a, const char *b);

/* write(2) until all of data is written, retrying on EINTR; -1 with errno set on failure. */
int file_write_all(int fd, const void *data, size_t len);

/* Replaces path with data atomically and durably: temp file in the same directory, fsync, rename,
 * fsync dir. For records that must survive a crash of the machine. */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, crisp_error_t **err);

/* Replaces path atomically (readers see the old or the new file, never a part) without waiting for
 * the disk: for files derived from a durable record, which a lost write can't make inconsistent. */
int file_write_replace(const char *path, const void *data, size_t len, mode_t mode, crisp_error_t **err);

/* mkdir -p with mode for each created component. */
int dir_create_all(const char *path, mode_t mode, crisp_error_t **err);

/* rm -rf without following symlinks; a missing path is success. */
int dir_remove_all(const char *path, crisp_error_t **err);

/* Entries of dir accepted by filter, in strcmp order; *ret_names is NULL-terminated. A missing
 * directory gives an empty list. */
int dir_list_sorted(const char *dir, int (*filter)(const struct dirent *), char ***ret_names,
                    crisp_error_t **err);

#endif
