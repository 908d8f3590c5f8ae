/* Unpacking a layer blob into a directory usable as an overlayfs lower dir. */
#ifndef CRISP_IMAGES_UNPACK_H
#define CRISP_IMAGES_UNPACK_H

#include "common/cancel.h"
#include "common/error.h"
#include "images/digest.h"
#include "images/manifest.h"

#include <stdint.h>

/* The default of image.max_layer_size, in bytes of uncompressed tar stream. containerd has no limit;
 * one this large refuses no real image (the largest ML and CUDA layers are tens of GiB) while a
 * decompression bomb stops before it fills a node's disk. */
#define IMG_LAYER_MAX_SIZE_DEFAULT (64ULL << 30)
/* What a layer may hold after its tar archive's end-of-archive blocks: tar pads the archive to its
 * record size (10 KiB by default, rarely over 1 MiB), and the padding is part of the diff ID. */
#define IMG_LAYER_MAX_TRAILER (1ULL << 20)

struct img_unpack_limits {
    uint64_t max_size;           /* of the uncompressed tar stream; 0: IMG_LAYER_MAX_SIZE_DEFAULT */
    struct crisp_cancel *cancel; /* checked as the stream is read; NULL: none */
};

struct img_unpack_result {
    char diff_id[IMG_DIGEST_MAX]; /* sha256 of the uncompressed tar stream */
    uint64_t size;                /* bytes of file content written */
    uint64_t entries;
};

/* limits (NULL: the defaults) bound the uncompressed stream: over max_size is EFBIG, and more than
 * IMG_LAYER_MAX_TRAILER after the archive's end is EINVAL, both found as the stream is read, before
 * the diff ID is known. A fired cancel stops the unpack with its error.
 *
 * Reads the (gzip/zstd/plain) tar stream from blob_fd and creates its entries under dest_dir, which
 * must exist and be empty. Compression is detected from the stream's magic bytes. Entries are
 * confined to dest_dir (openat2 RESOLVE_IN_ROOT): a name or hardlink target that climbs out with
 * ".." fails with EPERM naming the entry. OCI whiteouts become overlayfs ones (".wh.x" -> char device
 * 0:0 named x; ".wh..wh..opq" -> xattr trusted.overlay.opaque=y on its directory). Owners, modes,
 * mtimes, xattrs, hardlinks, symlinks, devices and fifos are kept. When expected_diff_id is not NULL
 * the uncompressed stream must hash to it (EINVAL otherwise). On failure dest_dir may hold a partial
 * tree: the caller removes it. */
int img_layer_unpack(int blob_fd, const char *dest_dir, const char *expected_diff_id,
                     const struct img_unpack_limits *limits, struct img_unpack_result *ret,
                     crisp_error_t **err);

#endif
