/* Unpacking a layer blob into a directory usable as an overlayfs lower dir. */
#ifndef CRISP_IMAGES_UNPACK_H
#define CRISP_IMAGES_UNPACK_H

#include "common/error.h"
#include "images/digest.h"
#include "images/manifest.h"

#include <stdint.h>

struct img_unpack_result {
    char diff_id[IMG_DIGEST_MAX]; /* sha256 of the uncompressed tar stream */
    uint64_t size;                /* bytes of file content written */
    uint64_t entries;
};

/* Reads the (gzip/zstd/plain) tar stream from blob_fd and creates its entries under dest_dir, which
 * must exist and be empty. Compression is detected from the stream's magic bytes. Entries are
 * confined to dest_dir (openat2 RESOLVE_IN_ROOT): a name or hardlink target that climbs out with
 * ".." fails with EPERM naming the entry. OCI whiteouts become overlayfs ones (".wh.x" -> char device
 * 0:0 named x; ".wh..wh..opq" -> xattr trusted.overlay.opaque=y on its directory). Owners, modes,
 * mtimes, xattrs, hardlinks, symlinks, devices and fifos are kept. When expected_diff_id is not NULL
 * the uncompressed stream must hash to it (EINVAL otherwise). On failure dest_dir may hold a partial
 * tree: the caller removes it. */
int img_layer_unpack(int blob_fd, const char *dest_dir, const char *expected_diff_id,
                     struct img_unpack_result *ret, crisp_error_t **err);

#endif
