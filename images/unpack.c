#define _GNU_SOURCE
#include "unpack.h"

#include "common/cleanup.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define UNPACK_MAX_NAME 4096
#define UNPACK_MAX_LINK 4096
#define UNPACK_MAX_XATTRS 128
#define UNPACK_MAX_XATTR_VALUE (64 * 1024)
#define UNPACK_MAX_ENTRIES 1000000
#define UNPACK_MAX_SYMLINKS 40 /* the kernel's MAXSYMLINKS */
#define STREAM_IN_SIZE (64 * 1024)
#define STREAM_OUT_SIZE (128 * 1024)

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_OPAQUE_XATTR "trusted.overlay.opaque"

enum stream_codec { CODEC_PLAIN, CODEC_GZIP, CODEC_ZSTD };

/* The layer blob, decompressed as libarchive pulls it; every byte handed out is hashed, so the diff
 * ID covers exactly the tar stream the reader sees. */
struct layer_stream {
    int fd;
    enum stream_codec codec;
    unsigned char *in, *out;
    size_t in_len, in_pos;
    bool in_eof;
    /* The decoder filled the whole output buffer last time and may still hold output. */
    bool pending;
    z_stream z;
    bool z_ready;
    bool member_end; /* gzip: a member ended; another may follow (concatenated members) */
    ZSTD_DStream *zstd;
    size_t zstd_left; /* last ZSTD_decompressStream result: 0 only at a frame boundary */
    struct img_hasher *hasher;
    crisp_error_t *err; /* why the last read failed, for the caller rather than libarchive */
    uint64_t total;     /* uncompressed bytes handed out */
    uint64_t limit;     /* total may not pass it */
    bool in_trailer;    /* the tar archive has ended: limit is the trailer's */
    struct crisp_cancel *cancel;
};

struct dir_times {
    char *path;
    struct timespec ts[2];
};

struct unpack {
    int rootfd;
    uint64_t max_size;
    struct archive *ar;
    struct layer_stream stream;
    struct dir_times *dirs; /* directories whose times are set last, after their children */
    size_t n_dirs, cap_dirs;
    uint64_t size, entries;
};

/* One tar entry being created: its cleaned path, split at the last slash. */
struct unpack_entry {
    struct archive_entry *ae;
    char *path;       /* "" for the layer root */
    char *parent;     /* "" when the entry sits in the root */
    const char *base; /* last component, inside path */
    int parentfd;
};

/* Hands the stream's own error to the caller (our errors go to err, never to a libarchive string). */
static int stream_take_error(struct layer_stream *s, crisp_error_t **err)
{
    if (err && !*err)
        *err = TAKE_PTR(s->err);
    return -1;
}

static int stream_read_fd(struct layer_stream *s, size_t room)
{
    ssize_t n;
    do
        n = read(s->fd, s->in + s->in_len, room);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return crisp_error_errno(&s->err, "read layer blob");
    s->in_len += (size_t)n;
    s->in_eof = n == 0;
    return 0;
}

/* Refills the input buffer once it is used up. */
static int stream_fill(struct layer_stream *s)
{
    if (s->in_pos < s->in_len || s->in_eof)
        return 0;
    s->in_pos = s->in_len = 0;
    return stream_read_fd(s, STREAM_IN_SIZE);
}

/* Reads the first bytes (the fd may be a pipe: nothing is seeked) and picks the codec. */
static int stream_probe(struct layer_stream *s)
{
    static const unsigned char gzip_magic[] = {0x1f, 0x8b}, zstd_magic[] = {0x28, 0xb5, 0x2f, 0xfd};
    while (s->in_len < sizeof(zstd_magic) && !s->in_eof)
        if (stream_read_fd(s, STREAM_IN_SIZE - s->in_len) < 0)
            return -1;
    if (s->in_len >= sizeof(gzip_magic) && memcmp(s->in, gzip_magic, sizeof(gzip_magic)) == 0)
        s->codec = CODEC_GZIP;
    else if (s->in_len >= sizeof(zstd_magic) && memcmp(s->in, zstd_magic, sizeof(zstd_magic)) == 0)
        s->codec = CODEC_ZSTD;
    else
        s->codec = CODEC_PLAIN;
    return 0;
}

static int stream_init(struct layer_stream *s, int fd, crisp_error_t **err)
{
    s->fd = fd;
    s->zstd_left = 1;
    s->in = malloc(STREAM_IN_SIZE);
    s->out = malloc(STREAM_OUT_SIZE);
    s->hasher = img_hasher_new();
    if (!s->in || !s->out || !s->hasher)
        return crisp_error_oom_in(err, "unpack layer");
    if (stream_probe(s) < 0)
        return stream_take_error(s, err);
    if (s->codec == CODEC_GZIP) {
        /* 16 + MAX_WBITS: gzip framing only, with its CRC and length checked. */
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
            return crisp_error_make(err, ENOMEM, "unpack layer: zlib init failed");
        s->z_ready = true;
    } else if (s->codec == CODEC_ZSTD) {
        s->zstd = ZSTD_createDStream();
        if (!s->zstd || ZSTD_isError(ZSTD_initDStream(s->zstd)))
            return crisp_error_make(err, ENOMEM, "unpack layer: zstd init failed");
    }
    return 0;
}

static void stream_fini(struct layer_stream *s)
{
    if (s->z_ready)
        inflateEnd(&s->z);
    ZSTD_freeDStream(s->zstd);
    img_hasher_free(s->hasher);
    crisp_error_free(s->err);
    free(s->in);
    free(s->out);
}

static ssize_t stream_plain_next(struct layer_stream *s, const void **ret_buf)
{
    if (stream_fill(s) < 0)
        return -1;
    size_t n = s->in_len - s->in_pos;
    *ret_buf = s->in + s->in_pos;
    s->in_pos = s->in_len;
    return (ssize_t)n;
}

static ssize_t stream_gzip_next(struct layer_stream *s)
{
    for (;;) {
        if (stream_fill(s) < 0)
            return -1;
        bool starved = s->in_pos == s->in_len; /* and at EOF, after stream_fill */
        if (s->member_end) {
            if (starved)
                return 0;
            if (inflateReset(&s->z) != Z_OK)
                return crisp_error_make(&s->err, EINVAL, "layer gzip stream: reset failed");
            s->member_end = false;
        }
        if (starved && !s->pending)
            return crisp_error_make(&s->err, EINVAL, "layer gzip stream is truncated");
        s->z.next_in = s->in + s->in_pos;
        s->z.avail_in = (uInt)(s->in_len - s->in_pos);
        s->z.next_out = s->out;
        s->z.avail_out = STREAM_OUT_SIZE;
        int r = inflate(&s->z, Z_NO_FLUSH);
        s->in_pos = s->in_len - s->z.avail_in;
        size_t produced = STREAM_OUT_SIZE - s->z.avail_out;
        s->pending = s->z.avail_out == 0;
        if (r == Z_STREAM_END)
            s->member_end = true;
        else if (r != Z_OK && !(r == Z_BUF_ERROR && starved))
            return crisp_error_make(&s->err, EINVAL, "layer gzip stream is corrupt: %s",
                                    s->z.msg ? s->z.msg : "bad data");
        if (produced > 0)
            return (ssize_t)produced;
    }
}

static ssize_t stream_zstd_next(struct layer_stream *s)
{
    for (;;) {
        if (stream_fill(s) < 0)
            return -1;
        if (s->in_pos == s->in_len && !s->pending) {
            if (s->zstd_left != 0)
                return crisp_error_make(&s->err, EINVAL, "layer zstd stream is truncated");
            return 0;
        }
        ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
        ZSTD_outBuffer out = {s->out, STREAM_OUT_SIZE, 0};
        size_t r = ZSTD_decompressStream(s->zstd, &out, &in);
        if (ZSTD_isError(r))
            return crisp_error_make(&s->err, EINVAL, "layer zstd stream is corrupt: %s",
                                    ZSTD_getErrorName(r));
        s->in_pos = in.pos;
        s->zstd_left = r;
        s->pending = out.pos == out.size;
        if (out.pos > 0)
            return (ssize_t)out.pos;
    }
}

/* Next chunk of the tar stream: > 0 bytes, 0 at its end, -1 with s->err filled. */
static ssize_t stream_next(struct layer_stream *s, const void **ret_buf)
{
    ssize_t n;
    *ret_buf = s->out;
    if (s->codec == CODEC_GZIP)
        n = stream_gzip_next(s);
    else if (s->codec == CODEC_ZSTD)
        n = stream_zstd_next(s);
    else
        n = stream_plain_next(s, ret_buf);
    if (n <= 0)
        return n;
    if (crisp_cancel_fired(s->cancel))
        return crisp_cancel_error(s->cancel, "unpack layer", &s->err);
    s->total += (uint64_t)n;
    if (s->total > s->limit && s->in_trailer)
        return crisp_error_make(&s->err, EINVAL,
                                "layer holds more than %llu bytes after its tar archive's end",
                                (unsigned long long)IMG_LAYER_MAX_TRAILER);
    if (s->total > s->limit)
        return crisp_error_make(&s->err, EFBIG, "layer is larger than the limit of %llu bytes uncompressed",
                                (unsigned long long)s->limit);
    img_hasher_update(s->hasher, *ret_buf, (size_t)n);
    return n;
}

static la_ssize_t stream_archive_read(struct archive *a, void *data, const void **ret_buf)
{
    struct layer_stream *s = data;
    ssize_t n = stream_next(s, ret_buf);
    if (n < 0)
        archive_set_error(a, s->err ? s->err->status : EIO, "%s", s->err ? s->err->msg : "read error");
    return n;
}

/* The tar reader stops at the end-of-archive blocks; the padding after them is part of the diff ID,
 * but a layer that goes on for long after them is a bomb, not padding. */
static int stream_drain(struct layer_stream *s, crisp_error_t **err)
{
    const void *buf;
    ssize_t n;
    if (s->limit - s->total > IMG_LAYER_MAX_TRAILER) {
        s->limit = s->total + IMG_LAYER_MAX_TRAILER;
        s->in_trailer = true;
    }
    while ((n = stream_next(s, &buf)) > 0)
        ;
    return n < 0 ? stream_take_error(s, err) : 0;
}

/* Fills err from a libarchive failure, preferring our own stream's error when that was the cause
 * (a broken blob is not the fault of the entry being read). */
static int unpack_archive_error(struct unpack *u, const char *path, crisp_error_t **err)
{
    if (u->stream.err)
        return stream_take_error(&u->stream, err);
    /* libarchive leaves no message for some truncations, inside a pax header for one. */
    const char *msg = archive_error_string(u->ar);
    if (!msg)
        msg = "truncated or corrupt tar stream";
    if (path)
        return crisp_error_make(err, EINVAL, "layer entry \"%s\": tar: %s", path, msg);
    return crisp_error_make(err, EINVAL, "layer tar: %s", msg);
}

/* libarchive's strings come in the locale's charset, NULL when they don't convert (say, a UTF-8 pax
 * name read in the C locale); the UTF-8 form then has the bytes as the layer gave them. */
static const char *entry_pathname(struct archive_entry *ae)
{
    const char *s = archive_entry_pathname(ae);
    return s ? s : archive_entry_pathname_utf8(ae);
}

static const char *entry_symlink_target(struct archive_entry *ae)
{
    const char *s = archive_entry_symlink(ae);
    return s ? s : archive_entry_symlink_utf8(ae);
}

static const char *entry_hardlink_target(struct archive_entry *ae)
{
    const char *s = archive_entry_hardlink(ae);
    return s ? s : archive_entry_hardlink_utf8(ae);
}

static int entry_errno(const struct unpack_entry *e, const char *what, crisp_error_t **err)
{
    return crisp_error_errno(err, "layer entry \"%s\": %s", e->path, what);
}

/* openat2 confined to dirfd: "..", absolute names and symlinks all resolve inside it. */
static int open_in_root(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    int fd;
    /* EAGAIN: a concurrent rename raced a ".." walk; the kernel asks for a retry. */
    for (int tries = 0; tries < 16; tries++) {
        fd = (int)syscall(SYS_openat2, dirfd, *path ? path : ".", &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            break;
    }
    return fd;
}

/* Cleans a layer path as Go's filepath.Clean("/" + name) would, minus the leading slash ("" is the
 * root), except that a ".." climbing above the root fails with EPERM instead of stopping there. */
static int path_clean(const char *name, char **ret)
{
    _cleanup_free_ char *out = malloc(strlen(name) + 1);
    if (!out)
        return -1;
    size_t o = 0;
    for (const char *p = name; *p;) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - start);
        if (n == 0 || (n == 1 && start[0] == '.'))
            continue;
        if (n == 2 && start[0] == '.' && start[1] == '.') {
            if (o == 0) {
                errno = EPERM;
                return -1;
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            o -= o > 0;
            continue;
        }
        if (o > 0)
            out[o++] = '/';
        memcpy(out + o, start, n);
        o += n;
    }
    out[o] = '\0';
    *ret = TAKE_PTR(out);
    return 0;
}

/* Splits a cleaned path into a new parent string and a pointer to the base inside path. */
static int path_split(char *path, char **ret_parent, const char **ret_base)
{
    char *slash = strrchr(path, '/');
    *ret_parent = slash ? strndup(path, (size_t)(slash - path)) : strdup("");
    *ret_base = slash ? slash + 1 : path;
    return *ret_parent ? 0 : -1;
}

/* Creates a root-owned 0755 directory whatever our umask or a setgid parent would make of it. */
static int mkdir_owned(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, 0755) < 0)
        return -1;
    if (fchownat(dirfd, name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 || fchmodat(dirfd, name, 0755, 0) < 0)
        return -1;
    return 0;
}

/* A walk below the root that creates missing directories: cur is the directory reached so far and
 * canon its symlink-free path; rest + pos is what is left to walk. */
struct walk {
    int rootfd, cur;
    char *canon, *rest;
    size_t pos;
    int links;
};

static int walk_reopen(struct walk *w)
{
    int fd = open_in_root(w->rootfd, w->canon, O_PATH | O_DIRECTORY);
    if (fd < 0)
        return -1;
    close(w->cur);
    w->cur = fd;
    return 0;
}

static int walk_up(struct walk *w)
{
    char *slash = strrchr(w->canon, '/');
    *(slash ? slash : w->canon) = '\0';
    return walk_reopen(w);
}

/* Continues the walk at a symlink's target, from the root when it is absolute (as RESOLVE_IN_ROOT). */
static int walk_follow(struct walk *w, int linkfd)
{
    char target[PATH_MAX];
    if (++w->links > UNPACK_MAX_SYMLINKS) {
        errno = ELOOP;
        return -1;
    }
    ssize_t n = readlinkat(linkfd, "", target, sizeof(target));
    if (n < 0)
        return -1;
    if ((size_t)n >= sizeof(target)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    target[n] = '\0';
    char *rest = NULL;
    if (asprintf(&rest, "%s/%s", target, w->rest + w->pos) < 0)
        return -1;
    free(w->rest);
    w->rest = rest;
    w->pos = 0;
    if (target[0] != '/')
        return 0;
    w->canon[0] = '\0';
    return walk_reopen(w);
}

static int walk_down(struct walk *w, const char *name)
{
    _cleanup_close_ int fd = open_in_root(w->cur, name, O_PATH | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        if (mkdir_owned(w->cur, name) < 0 && errno != EEXIST)
            return -1;
        fd = open_in_root(w->cur, name, O_PATH | O_NOFOLLOW);
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -1;
    if (S_ISLNK(st.st_mode))
        return walk_follow(w, fd);
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    char *canon = NULL;
    if (asprintf(&canon, "%s%s%s", w->canon, *w->canon ? "/" : "", name) < 0)
        return -1;
    free(w->canon);
    w->canon = canon;
    close(w->cur);
    w->cur = TAKE_FD(fd);
    return 0;
}

/* Takes the next component off rest into name: 1, or 0 when none is left, or -1. */
static int walk_next(struct walk *w, char name[NAME_MAX + 1])
{
    const char *p = w->rest + w->pos;
    while (*p == '/')
        p++;
    size_t n = strcspn(p, "/");
    w->pos = (size_t)(p + n - w->rest);
    if (n == 0)
        return 0;
    if (n > NAME_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    return 1;
}

static void walk_fini(struct walk *w)
{
    if (w->cur >= 0)
        close(w->cur);
    free(w->canon);
    free(w->rest);
}

/* Opens directory path under rootfd, following symlinks like RESOLVE_IN_ROOT but creating what is
 * missing, the targets of dangling symlinks included, so an entry under a symlink to a missing
 * directory lands inside the root. Each step opens one name without following it. */
static int walk_create(int rootfd, const char *path)
{
    _cleanup_(walk_fini) struct walk w = {
        .rootfd = rootfd, .cur = -1, .canon = strdup(""), .rest = strdup(path)};
    if (!w.canon || !w.rest) {
        errno = ENOMEM;
        return -1;
    }
    if ((w.cur = open_in_root(rootfd, "", O_PATH | O_DIRECTORY)) < 0)
        return -1;
    char name[NAME_MAX + 1];
    int r;
    while ((r = walk_next(&w, name)) > 0) {
        if (strcmp(name, ".") == 0)
            continue;
        if ((strcmp(name, "..") == 0 ? walk_up(&w) : walk_down(&w, name)) < 0)
            return -1;
    }
    return r < 0 ? -1 : TAKE_FD(w.cur);
}

static int entry_open_parent(struct unpack *u, struct unpack_entry *e, crisp_error_t **err)
{
    int fd = open_in_root(u->rootfd, e->parent, O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT)
        fd = walk_create(u->rootfd, e->parent);
    if (fd < 0)
        return entry_errno(e, "open parent directory", err);
    e->parentfd = fd;
    return 0;
}

/* Removes name under dirfd and everything below it, never following a symlink. */
static int remove_tree_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN && fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            is_dir = S_ISDIR(st.st_mode);
        if ((is_dir ? remove_tree_at(fd, de->d_name) : unlinkat(fd, de->d_name, 0)) < 0)
            return -1;
    }
    if (errno != 0)
        return -1;
    return unlinkat(dirfd, name, AT_REMOVEDIR);
}

enum room { ROOM_FREE, ROOM_DIR_KEPT, ROOM_WHITEOUT_REMOVED };

static bool stat_is_whiteout(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

/* Clears the entry's name: a directory replacing a directory is kept with its contents (as Docker
 * and containerd do); anything else already there is removed. */
static int entry_make_room(struct unpack_entry *e, bool is_dir, enum room *ret, crisp_error_t **err)
{
    struct stat st;
    *ret = ROOM_FREE;
    if (fstatat(e->parentfd, e->base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return entry_errno(e, "stat", err);
    }
    if (S_ISDIR(st.st_mode) && is_dir) {
        *ret = ROOM_DIR_KEPT;
        return 0;
    }
    if (S_ISDIR(st.st_mode) ? remove_tree_at(e->parentfd, e->base) : unlinkat(e->parentfd, e->base, 0))
        return entry_errno(e, "remove existing entry", err);
    if (stat_is_whiteout(&st))
        *ret = ROOM_WHITEOUT_REMOVED;
    return 0;
}

/* Sets an xattr on fd when it is open, else on dirfd's child name without following it, or on dirfd
 * itself when name is NULL. The /proc path reaches the child through the already-confined dirfd. */
static int xattr_set_at(int fd, int dirfd, const char *name, const char *key, const void *value, size_t size)
{
    if (fd >= 0)
        return fsetxattr(fd, key, value, size, 0);
    char path[64 + NAME_MAX];
    int n = snprintf(path, sizeof(path), "/proc/self/fd/%d%s%s", dirfd, name ? "/" : "", name ? name : "");
    if (n < 0 || (size_t)n >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return name ? lsetxattr(path, key, value, size, 0) : setxattr(path, key, value, size, 0);
}

static int entry_owner(const struct unpack_entry *e, uid_t *ret_uid, gid_t *ret_gid, crisp_error_t **err)
{
    la_int64_t uid = archive_entry_uid(e->ae), gid = archive_entry_gid(e->ae);
    /* (uid_t)-1 means "unchanged" to chown: not an owner a layer can ask for. */
    if (uid < 0 || uid >= UINT32_MAX || gid < 0 || gid >= UINT32_MAX)
        return crisp_error_make(err, EINVAL, "layer entry \"%s\": owner %lld:%lld is out of range", e->path,
                                (long long)uid, (long long)gid);
    *ret_uid = (uid_t)uid;
    *ret_gid = (gid_t)gid;
    return 0;
}

/* Owner first: chown clears setuid/setgid, so the mode comes after it. */
static int entry_set_owner_mode(struct unpack_entry *e, int fd, crisp_error_t **err)
{
    uid_t uid = 0;
    gid_t gid = 0;
    if (entry_owner(e, &uid, &gid, err) < 0)
        return -1;
    if ((fd >= 0 ? fchown(fd, uid, gid) : fchownat(e->parentfd, e->base, uid, gid, AT_SYMLINK_NOFOLLOW)) < 0)
        return entry_errno(e, "chown", err);
    if (archive_entry_filetype(e->ae) == AE_IFLNK)
        return 0; /* Linux symlinks have no mode of their own */
    mode_t mode = archive_entry_perm(e->ae) & 07777;
    if ((fd >= 0 ? fchmod(fd, mode) : fchmodat(e->parentfd, e->base, mode, AT_SYMLINK_NOFOLLOW)) < 0)
        return entry_errno(e, "chmod", err);
    return 0;
}

/* After chown, which drops security.capability. */
static int entry_set_xattrs(struct unpack_entry *e, int fd, crisp_error_t **err)
{
    const char *key;
    const void *value;
    size_t size;
    archive_entry_xattr_reset(e->ae);
    while (archive_entry_xattr_next(e->ae, &key, &value, &size) == ARCHIVE_OK) {
        if (xattr_set_at(fd, e->parentfd, e->base, key, value, size) == 0)
            continue;
        /* A layer built on an SELinux host carries labels that other hosts' filesystems refuse. */
        if (errno == EOPNOTSUPP && strcmp(key, "security.selinux") == 0)
            continue;
        return crisp_error_errno(err, "layer entry \"%s\": set xattr %s", e->path, key);
    }
    return 0;
}

static void entry_times(struct archive_entry *ae, struct timespec ts[2])
{
    long mnsec = archive_entry_mtime_nsec(ae), ansec = archive_entry_atime_nsec(ae);
    ts[1].tv_sec = archive_entry_mtime(ae);
    ts[1].tv_nsec = mnsec >= 0 && mnsec < 1000000000 ? mnsec : 0;
    ts[0] = ts[1];
    if (archive_entry_atime_is_set(ae)) {
        ts[0].tv_sec = archive_entry_atime(ae);
        ts[0].tv_nsec = ansec >= 0 && ansec < 1000000000 ? ansec : 0;
    }
}

/* Owner, mode, xattrs, then times, which the others would disturb. Directories' times wait. */
static int entry_set_meta(struct unpack_entry *e, int fd, crisp_error_t **err)
{
    if (entry_set_owner_mode(e, fd, err) < 0 || entry_set_xattrs(e, fd, err) < 0)
        return -1;
    if (archive_entry_filetype(e->ae) == AE_IFDIR)
        return 0;
    struct timespec ts[2];
    entry_times(e->ae, ts);
    if ((fd >= 0 ? futimens(fd, ts) : utimensat(e->parentfd, e->base, ts, AT_SYMLINK_NOFOLLOW)) < 0)
        return entry_errno(e, "set times", err);
    return 0;
}

static int pwrite_all(int fd, const char *data, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, data, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* Writes the entry's data blocks at their offsets: sparse files keep their holes. */
static int entry_write_data(struct unpack *u, struct unpack_entry *e, int fd, crisp_error_t **err)
{
    la_int64_t end = 0;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = archive_read_data_block(u->ar, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return unpack_archive_error(u, e->path, err);
        if (off < 0 || (uint64_t)off > INT64_MAX - len)
            return crisp_error_make(err, EINVAL, "layer entry \"%s\": bad data offset", e->path);
        if (pwrite_all(fd, buf, len, off) < 0)
            return entry_errno(e, "write", err);
        u->size += len;
        end = off + (la_int64_t)len > end ? off + (la_int64_t)len : end;
    }
    la_int64_t size = archive_entry_size(e->ae);
    if (size > end && ftruncate(fd, size) < 0)
        return entry_errno(e, "truncate", err);
    return 0;
}

static int entry_file(struct unpack *u, struct unpack_entry *e, crisp_error_t **err)
{
    /* A sparse entry's data may be small and its holes huge: its size is bounded as the layer is. */
    la_int64_t size = archive_entry_size(e->ae);
    if (size > 0 && (uint64_t)size > u->max_size)
        return crisp_error_make(err, EFBIG, "layer entry \"%s\" is larger than the limit of %llu bytes",
                                e->path, (unsigned long long)u->max_size);
    enum room room;
    if (entry_make_room(e, false, &room, err) < 0)
        return -1;
    _cleanup_close_ int fd = openat(e->parentfd, e->base,
                                    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return entry_errno(e, "create", err);
    if (entry_write_data(u, e, fd, err) < 0)
        return -1;
    return entry_set_meta(e, fd, err);
}

static int dirs_record(struct unpack *u, struct unpack_entry *e, crisp_error_t **err)
{
    if (u->n_dirs == u->cap_dirs) {
        size_t cap = u->cap_dirs ? 2 * u->cap_dirs : 64;
        struct dir_times *dirs = reallocarray(u->dirs, cap, sizeof(*dirs));
        if (!dirs)
            return crisp_error_oom_in(err, "unpack layer");
        u->dirs = dirs;
        u->cap_dirs = cap;
    }
    struct dir_times *d = &u->dirs[u->n_dirs];
    if (!(d->path = strdup(e->path)))
        return crisp_error_oom_in(err, "unpack layer");
    entry_times(e->ae, d->ts);
    u->n_dirs++;
    return 0;
}

/* Creating a directory's children changed its mtime: set the layer's times once they all exist. */
static int dirs_apply(struct unpack *u, crisp_error_t **err)
{
    for (size_t i = 0; i < u->n_dirs; i++) {
        struct dir_times *d = &u->dirs[i];
        _cleanup_close_ int fd = open_in_root(u->rootfd, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        /* A later entry of the layer replaced the directory with something else. */
        if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
            continue;
        if (fd < 0 || futimens(fd, d->ts) < 0)
            return crisp_error_errno(err, "layer entry \"%s\": set times", d->path);
    }
    return 0;
}

static int entry_dir(struct unpack *u, struct unpack_entry *e, crisp_error_t **err)
{
    enum room room;
    if (entry_make_room(e, true, &room, err) < 0)
        return -1;
    if (room != ROOM_DIR_KEPT && mkdirat(e->parentfd, e->base, 0700) < 0)
        return entry_errno(e, "mkdir", err);
    if (entry_set_meta(e, -1, err) < 0)
        return -1;
    /* The whiteout it replaces hid a lower directory of that name: keep its contents hidden. */
    if (room == ROOM_WHITEOUT_REMOVED &&
        xattr_set_at(-1, e->parentfd, e->base, OVERLAY_OPAQUE_XATTR, "y", 1) < 0)
        return entry_errno(e, "set opaque xattr", err);
    return dirs_record(u, e, err);
}

static int entry_symlink(struct unpack_entry *e, crisp_error_t **err)
{
    const char *target = entry_symlink_target(e->ae);
    if (!target)
        return crisp_error_make(err, EINVAL, "layer entry \"%s\": symlink without a target", e->path);
    enum room room;
    if (entry_make_room(e, false, &room, err) < 0)
        return -1;
    if (symlinkat(target, e->parentfd, e->base) < 0)
        return entry_errno(e, "symlink", err);
    return entry_set_meta(e, -1, err);
}

static int entry_node(struct unpack_entry *e, crisp_error_t **err)
{
    mode_t type = archive_entry_filetype(e->ae);
    dev_t dev = 0;
    if (type == AE_IFCHR || type == AE_IFBLK)
        dev = makedev(archive_entry_rdevmajor(e->ae), archive_entry_rdevminor(e->ae));
    enum room room;
    if (entry_make_room(e, false, &room, err) < 0)
        return -1;
    if (mknodat(e->parentfd, e->base, type | 0600, dev) < 0)
        return entry_errno(e, "mknod", err);
    return entry_set_meta(e, -1, err);
}

/* A hardlink shares its target's inode, whose metadata came with the target's own entry. */
static int entry_hardlink(struct unpack *u, struct unpack_entry *e, const char *raw_target,
                          crisp_error_t **err)
{
    _cleanup_free_ char *target = NULL, *tparent = NULL;
    const char *tbase;
    if (path_clean(raw_target, &target) < 0 && errno == EPERM)
        return crisp_error_make(err, EPERM,
                                "layer entry \"%s\": hardlink target \"%s\" escapes the layer root", e->path,
                                raw_target);
    if (!target || path_split(target, &tparent, &tbase) < 0)
        return crisp_error_oom_in(err, "unpack layer");
    if (!*target)
        return crisp_error_make(err, EINVAL, "layer entry \"%s\": hardlink to the layer root", e->path);
    if (strcmp(target, e->path) == 0)
        return 0; /* a link to itself: already there */
    _cleanup_close_ int tfd = open_in_root(u->rootfd, tparent, O_PATH | O_DIRECTORY);
    if (tfd < 0)
        return crisp_error_errno(err, "layer entry \"%s\": hardlink target \"%s\"", e->path, target);
    enum room room;
    if (entry_make_room(e, false, &room, err) < 0)
        return -1;
    if (linkat(tfd, tbase, e->parentfd, e->base, 0) < 0)
        return crisp_error_errno(err, "layer entry \"%s\": link to \"%s\"", e->path, target);
    return 0;
}

/* ".wh.<name>" becomes overlayfs's whiteout, a 0:0 character device. */
static int entry_whiteout_name(struct unpack_entry *e, const char *name, crisp_error_t **err)
{
    struct stat st;
    if (fstatat(e->parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        /* The name is this layer's own: it hides the lower one already, but a directory would let
         * the lower directory's contents through. */
        if (S_ISDIR(st.st_mode) && xattr_set_at(-1, e->parentfd, name, OVERLAY_OPAQUE_XATTR, "y", 1) < 0)
            return entry_errno(e, "set opaque xattr", err);
        return 0;
    }
    if (errno != ENOENT)
        return entry_errno(e, "stat", err);
    if (mknodat(e->parentfd, name, S_IFCHR, makedev(0, 0)) < 0)
        return entry_errno(e, "mknod", err);
    /* A setgid parent would have given it its group. */
    if (fchownat(e->parentfd, name, 0, 0, AT_SYMLINK_NOFOLLOW) < 0)
        return entry_errno(e, "chown", err);
    return 0;
}

static int entry_whiteout(struct unpack *u, struct unpack_entry *e, crisp_error_t **err)
{
    const char *name = e->base + strlen(WHITEOUT_PREFIX);
    bool opaque = strcmp(e->base, WHITEOUT_OPAQUE) == 0;
    /* Other ".wh..wh.*" names are AUFS bookkeeping with no overlayfs meaning. */
    if (!opaque && strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
        return 0;
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return crisp_error_make(err, EINVAL, "layer entry \"%s\": invalid whiteout", e->path);
    if (entry_open_parent(u, e, err) < 0)
        return -1;
    if (!opaque)
        return entry_whiteout_name(e, name, err);
    if (xattr_set_at(-1, e->parentfd, NULL, OVERLAY_OPAQUE_XATTR, "y", 1) < 0)
        return entry_errno(e, "set opaque xattr", err);
    return 0;
}

static void entry_fini(struct unpack_entry *e)
{
    free(e->path);
    free(e->parent);
    if (e->parentfd >= 0)
        close(e->parentfd);
}

/* Bounds what a hostile layer can make us hold or create, before anything is created. */
static int entry_check(struct unpack_entry *e, crisp_error_t **err)
{
    const char *link = entry_hardlink_target(e->ae);
    if (!link)
        link = entry_symlink_target(e->ae);
    if (link && strlen(link) > UNPACK_MAX_LINK)
        return crisp_error_make(err, EINVAL, "layer entry \"%s\": link target longer than %d bytes", e->path,
                                UNPACK_MAX_LINK);
    if (archive_entry_xattr_reset(e->ae) > UNPACK_MAX_XATTRS)
        return crisp_error_make(err, EINVAL, "layer entry \"%s\" has more than %d xattrs", e->path,
                                UNPACK_MAX_XATTRS);
    const char *key;
    const void *value;
    size_t size;
    while (archive_entry_xattr_next(e->ae, &key, &value, &size) == ARCHIVE_OK)
        if (size > UNPACK_MAX_XATTR_VALUE)
            return crisp_error_make(err, EINVAL, "layer entry \"%s\": xattr %s is larger than %d bytes",
                                    e->path, key, UNPACK_MAX_XATTR_VALUE);
    return 0;
}

static int entry_init(struct unpack_entry *e, crisp_error_t **err)
{
    const char *raw = entry_pathname(e->ae);
    if (!raw)
        return crisp_error_make(err, EINVAL, "layer entry without a usable name");
    if (strlen(raw) > UNPACK_MAX_NAME)
        return crisp_error_make(err, EINVAL, "layer entry name longer than %d bytes", UNPACK_MAX_NAME);
    if (path_clean(raw, &e->path) < 0) {
        if (errno == EPERM)
            return crisp_error_make(err, EPERM, "layer entry \"%s\" escapes the layer root", raw);
        return crisp_error_oom_in(err, "unpack layer");
    }
    if (path_split(e->path, &e->parent, &e->base) < 0)
        return crisp_error_oom_in(err, "unpack layer");
    return entry_check(e, err);
}

static int unpack_entry(struct unpack *u, struct archive_entry *ae, crisp_error_t **err)
{
    _cleanup_(entry_fini) struct unpack_entry e = {.ae = ae, .parentfd = -1};
    if (entry_init(&e, err) < 0)
        return -1;
    if (strncmp(e.base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
        return entry_whiteout(u, &e, err);
    mode_t type = archive_entry_filetype(ae);
    const char *hardlink = entry_hardlink_target(ae);
    /* dest_dir is the caller's: as in Docker and containerd, "./" entries leave it alone. */
    if (!*e.path && (type != AE_IFDIR || hardlink))
        return crisp_error_make(err, EINVAL, "layer entry \"%s\" is not a directory but names the layer root",
                                entry_pathname(ae));
    if (!*e.path)
        return 0;
    if (entry_open_parent(u, &e, err) < 0)
        return -1;
    if (hardlink)
        return entry_hardlink(u, &e, hardlink, err);
    switch (type) {
    case AE_IFREG:
        return entry_file(u, &e, err);
    case AE_IFDIR:
        return entry_dir(u, &e, err);
    case AE_IFLNK:
        return entry_symlink(&e, err);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
        return entry_node(&e, err);
    default:
        return crisp_error_make(err, EINVAL, "layer entry \"%s\": unsupported type 0%o", e.path,
                                (unsigned)type);
    }
}

static int unpack_entries(struct unpack *u, crisp_error_t **err)
{
    for (;;) {
        struct archive_entry *ae;
        int r = archive_read_next_header(u->ar, &ae);
        if (r == ARCHIVE_EOF)
            return 0;
        /* ARCHIVE_WARN: e.g. a name that does not convert to the locale; the raw one is used. */
        if (r < ARCHIVE_WARN)
            return unpack_archive_error(u, NULL, err);
        if (++u->entries > UNPACK_MAX_ENTRIES)
            return crisp_error_make(err, EINVAL, "layer has more than %d entries", UNPACK_MAX_ENTRIES);
        if (unpack_entry(u, ae, err) < 0)
            return -1;
    }
}

static int unpack_open(struct unpack *u, int blob_fd, const char *dest_dir,
                       const struct img_unpack_limits *limits, crisp_error_t **err)
{
    u->rootfd = open(dest_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (u->rootfd < 0)
        return crisp_error_errno(err, "open %s", dest_dir);
    if (stream_init(&u->stream, blob_fd, err) < 0)
        return -1;
    u->max_size = limits && limits->max_size ? limits->max_size : IMG_LAYER_MAX_SIZE_DEFAULT;
    u->stream.limit = u->max_size;
    u->stream.cancel = limits ? limits->cancel : NULL;
    if (!(u->ar = archive_read_new()))
        return crisp_error_oom_in(err, "unpack layer");
    /* The tar reader covers ustar, pax and GNU tar. No filters: decompression is ours, so that the
     * diff ID hashes exactly what the reader reads. */
    if (archive_read_support_format_tar(u->ar) != ARCHIVE_OK)
        return unpack_archive_error(u, NULL, err);
    if (archive_read_open(u->ar, &u->stream, NULL, stream_archive_read, NULL) != ARCHIVE_OK)
        return unpack_archive_error(u, NULL, err);
    return 0;
}

static void unpack_fini(struct unpack *u)
{
    if (u->ar)
        archive_read_free(u->ar);
    stream_fini(&u->stream);
    for (size_t i = 0; i < u->n_dirs; i++)
        free(u->dirs[i].path);
    free(u->dirs);
    if (u->rootfd >= 0)
        close(u->rootfd);
}

int img_layer_unpack(int blob_fd, const char *dest_dir, const char *expected_diff_id,
                     const struct img_unpack_limits *limits, struct img_unpack_result *ret,
                     crisp_error_t **err)
{
    if (expected_diff_id && !img_digest_valid(expected_diff_id))
        return crisp_error_make(err, EINVAL, "invalid expected layer diff ID \"%s\"", expected_diff_id);
    _cleanup_(unpack_fini) struct unpack u = {.rootfd = -1};
    if (unpack_open(&u, blob_fd, dest_dir, limits, err) < 0 || unpack_entries(&u, err) < 0)
        return -1;
    if (stream_drain(&u.stream, err) < 0 || dirs_apply(&u, err) < 0)
        return -1;
    char diff_id[IMG_DIGEST_MAX];
    img_hasher_final(u.stream.hasher, diff_id);
    if (!diff_id[0])
        return crisp_error_make(err, ENOMEM, "unpack layer: hashing failed");
    if (expected_diff_id && strcmp(diff_id, expected_diff_id) != 0)
        return crisp_error_make(err, EINVAL, "layer diff ID %s does not match the expected %s", diff_id,
                                expected_diff_id);
    if (ret) {
        memcpy(ret->diff_id, diff_id, sizeof(ret->diff_id));
        ret->size = u.size;
        ret->entries = u.entries;
    }
    return 0;
}
