#define _GNU_SOURCE
#include "images/unpack.h"

#include "common/cleanup.h"
#include "test/unit/unit.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <zlib.h>
#include <zstd.h>

#define TAR_CAP (32 * 1024 * 1024)
#define BIG_SIZE (3 * 1024 * 1024)

static char base_dir[] = "/tmp/crisp-unit-unpack-XXXXXX";

/* A tar stream built in memory with libarchive's writer. */
struct tarb {
    struct archive *a;
    char *buf;
    size_t used;
};

static void tar_begin(struct tarb *t)
{
    t->buf = malloc(TAR_CAP);
    t->used = 0;
    t->a = archive_write_new();
    archive_write_set_format_pax_restricted(t->a);
    /* Pad like tar(1) does, so bytes follow the end-of-archive blocks. */
    archive_write_set_bytes_in_last_block(t->a, 10240);
    archive_write_open_memory(t->a, t->buf, TAR_CAP, &t->used);
}

static void tar_end(struct tarb *t)
{
    archive_write_close(t->a);
    archive_write_free(t->a);
}

static struct archive_entry *tar_entry(const char *name, mode_t type, mode_t perm)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_mtime(e, 1600000000, 0);
    return e;
}

static void tar_put(struct tarb *t, struct archive_entry *e, const void *data, size_t len)
{
    archive_entry_set_size(e, (la_int64_t)len);
    if (archive_write_header(t->a, e) != ARCHIVE_OK)
        fprintf(stderr, "tar header %s: %s\n", archive_entry_pathname(e), archive_error_string(t->a));
    if (len)
        archive_write_data(t->a, data, len);
    archive_entry_free(e);
}

static void tar_file(struct tarb *t, const char *name, const char *content, mode_t perm)
{
    tar_put(t, tar_entry(name, AE_IFREG, perm), content, strlen(content));
}

static void tar_dir(struct tarb *t, const char *name, mode_t perm)
{
    tar_put(t, tar_entry(name, AE_IFDIR, perm), NULL, 0);
}

static void tar_symlink(struct tarb *t, const char *name, const char *target)
{
    struct archive_entry *e = tar_entry(name, AE_IFLNK, 0777);
    archive_entry_set_symlink(e, target);
    tar_put(t, e, NULL, 0);
}

static void tar_hardlink(struct tarb *t, const char *name, const char *target)
{
    struct archive_entry *e = tar_entry(name, AE_IFREG, 0644);
    archive_entry_set_hardlink(e, target);
    tar_put(t, e, NULL, 0);
}

static char *gzip_buf(const void *in, size_t len, size_t *ret_len)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, len);
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    *ret_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static char *zstd_buf(const void *in, size_t len, size_t *ret_len)
{
    size_t cap = ZSTD_compressBound(len);
    char *out = malloc(cap);
    *ret_len = ZSTD_compress(out, cap, in, len, 3);
    return out;
}

/* Two gzip members back to back, split in the middle of the tar. */
static char *gzip_two_members(const char *in, size_t len, size_t *ret_len)
{
    size_t l1, l2;
    _cleanup_free_ char *a = gzip_buf(in, len / 2, &l1);
    _cleanup_free_ char *b = gzip_buf(in + len / 2, len - len / 2, &l2);
    char *out = malloc(l1 + l2);
    memcpy(out, a, l1);
    memcpy(out + l1, b, l2);
    *ret_len = l1 + l2;
    return out;
}

static int blob_fd(const void *data, size_t len)
{
    int fd = memfd_create("blob", MFD_CLOEXEC);
    if (write(fd, data, len) != (ssize_t)len)
        fprintf(stderr, "memfd write failed\n");
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static char *new_dest(const char *name)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", base_dir, name) < 0 || mkdir(path, 0755) < 0)
        abort();
    return path;
}

static int unpack(const void *blob, size_t len, const char *dest, const char *expect,
                  struct img_unpack_result *res, crisp_error_t **err)
{
    _cleanup_close_ int fd = blob_fd(blob, len);
    return img_layer_unpack(fd, dest, expect, NULL, res, err);
}

static char *at(const char *dest, const char *rel)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf), "%s/%s", dest, rel);
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *read_text(const char *path)
{
    static char buf[256];
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static char *xattr_text(const char *path, const char *key)
{
    static char buf[256];
    ssize_t n = lgetxattr(path, key, buf, sizeof(buf) - 1);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

static void big_content(char *big)
{
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (char)("crisp"[i % 5] + (i / 4096) % 7);
}

/* Every kind of entry, with owners, modes, times and xattrs. */
static void build_basic(struct tarb *t)
{
    tar_begin(t);
    struct archive_entry *e = tar_entry("./", AE_IFDIR, 0755);
    tar_put(t, e, NULL, 0);
    e = tar_entry("etc/", AE_IFDIR, 0750);
    archive_entry_set_uid(e, 1);
    archive_entry_set_gid(e, 2);
    /* An xattr makes pax_restricted write a pax header, with sub-second times and atime. */
    archive_entry_xattr_add_entry(e, "user.dir", "1", 1);
    archive_entry_set_mtime(e, 1000000, 500);
    tar_put(t, e, NULL, 0);
    e = tar_entry("etc/passwd", AE_IFREG, 04755);
    archive_entry_set_uid(e, 1000);
    archive_entry_set_gid(e, 1001);
    archive_entry_set_mtime(e, 1234567, 0);
    archive_entry_xattr_add_entry(e, "user.kept", "after chmod", 11);
    tar_put(t, e, "root:x:0:0", 10);
    e = tar_entry("./etc/shadow", AE_IFREG, 0600);
    archive_entry_xattr_add_entry(e, "user.test", "hello", 5);
    tar_put(t, e, "secret", 6);
    tar_symlink(t, "etc/abs", "/etc/passwd");
    tar_symlink(t, "etc/rel", "passwd");
    tar_hardlink(t, "etc/hl", "etc/passwd");
    tar_put(t, tar_entry("etc/fifo", AE_IFIFO, 0640), NULL, 0);
    e = tar_entry("dev/null", AE_IFCHR, 0666);
    archive_entry_set_rdevmajor(e, 1);
    archive_entry_set_rdevminor(e, 3);
    tar_put(t, e, NULL, 0);
    _cleanup_free_ char *big = malloc(BIG_SIZE);
    big_content(big);
    tar_put(t, tar_entry("big", AE_IFREG, 0644), big, BIG_SIZE);
    tar_end(t);
}

static void check_basic_tree(const char *dest)
{
    struct stat st = {0}, st2 = {0};
    CHECK(lstat(at(dest, "etc"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 07777) == 0750 && st.st_uid == 1 && st.st_gid == 2);
    /* Set after etc's children were created. */
    CHECK(st.st_mtim.tv_sec == 1000000 && st.st_mtim.tv_nsec == 500);
    CHECK_STR(xattr_text(at(dest, "etc"), "user.dir"), "1");
    CHECK(lstat(at(dest, "etc/passwd"), &st) == 0 && S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 04755 && st.st_uid == 1000 && st.st_gid == 1001);
    CHECK(st.st_mtim.tv_sec == 1234567);
    CHECK(st.st_nlink == 2);
    CHECK_STR(xattr_text(at(dest, "etc/passwd"), "user.kept"), "after chmod");
    /* No atime in the header: it takes the mtime. */
    CHECK(lstat(at(dest, "etc/shadow"), &st) == 0 && st.st_atim.tv_sec == 1600000000);
    CHECK_STR(read_text(at(dest, "etc/passwd")), "root:x:0:0");
    CHECK_STR(read_text(at(dest, "etc/shadow")), "secret");
    CHECK(lstat(at(dest, "etc/shadow"), &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK_STR(xattr_text(at(dest, "etc/shadow"), "user.test"), "hello");
    char link[64] = {0};
    CHECK(readlink(at(dest, "etc/abs"), link, sizeof(link) - 1) > 0);
    CHECK_STR(link, "/etc/passwd");
    memset(link, 0, sizeof(link));
    CHECK(readlink(at(dest, "etc/rel"), link, sizeof(link) - 1) > 0);
    CHECK_STR(link, "passwd");
    CHECK(lstat(at(dest, "etc/passwd"), &st) == 0 && lstat(at(dest, "etc/hl"), &st2) == 0);
    CHECK(st.st_ino == st2.st_ino);
    CHECK(lstat(at(dest, "etc/fifo"), &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0640);
    CHECK(lstat(at(dest, "dev/null"), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
    CHECK((st.st_mode & 0777) == 0666);
    /* Made implicitly as the device's parent. */
    CHECK(lstat(at(dest, "dev"), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755);
    CHECK(lstat(at(dest, "big"), &st) == 0 && st.st_size == BIG_SIZE);
}

static void check_big_content(const char *dest)
{
    _cleanup_free_ char *want = malloc(BIG_SIZE), *got = malloc(BIG_SIZE + 1);
    big_content(want);
    _cleanup_close_ int fd = open(at(dest, "big"), O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    ssize_t n;
    while (fd >= 0 && (n = read(fd, got + len, BIG_SIZE + 1 - len)) > 0)
        len += (size_t)n;
    CHECK(len == BIG_SIZE && memcmp(want, got, BIG_SIZE) == 0);
}

static void test_codec(const char *name, const char *tar, size_t tar_len, const char *blob, size_t len)
{
    _cleanup_free_ char *dest = new_dest(name);
    char want[IMG_DIGEST_MAX];
    img_digest_buffer(tar, tar_len, want);
    struct img_unpack_result res = {0};
    _cleanup_error_ crisp_error_t *err = NULL;
    CHECK(unpack(blob, len, dest, want, &res, &err) == 0);
    if (err)
        fprintf(stderr, "%s: %s\n", name, err->msg);
    CHECK_STR(res.diff_id, want);
    CHECK(res.entries == 10);
    CHECK(res.size == 10 + 6 + BIG_SIZE);
    check_basic_tree(dest);
    check_big_content(dest);
}

static void test_codecs(void)
{
    struct tarb t;
    build_basic(&t);
    /* The end-of-archive blocks are followed by padding, which the diff ID must cover. */
    CHECK(t.used % 10240 == 0);
    size_t len;
    test_codec("plain", t.buf, t.used, t.buf, t.used);
    _cleanup_free_ char *gz = gzip_buf(t.buf, t.used, &len);
    test_codec("gzip", t.buf, t.used, gz, len);
    _cleanup_free_ char *gz2 = gzip_two_members(t.buf, t.used, &len);
    test_codec("gzip-members", t.buf, t.used, gz2, len);
    _cleanup_free_ char *zs = zstd_buf(t.buf, t.used, &len);
    test_codec("zstd", t.buf, t.used, zs, len);
    free(t.buf);
}

static void test_diff_id(void)
{
    struct tarb t;
    tar_begin(&t);
    tar_file(&t, "a", "x", 0644);
    tar_end(&t);
    _cleanup_free_ char *dest = new_dest("diffid");
    _cleanup_error_ crisp_error_t *err = NULL;
    const char *wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    CHECK(unpack(t.buf, t.used, dest, wrong, NULL, &err) < 0);
    CHECK(err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "does not match the expected sha256:0000");
    crisp_error_freep(&err);
    _cleanup_free_ char *dest2 = new_dest("diffid-none");
    struct img_unpack_result res = {0};
    char want[IMG_DIGEST_MAX];
    img_digest_buffer(t.buf, t.used, want);
    CHECK(unpack(t.buf, t.used, dest2, NULL, &res, &err) == 0);
    CHECK_STR(res.diff_id, want);
    crisp_error_freep(&err);
    CHECK(unpack(t.buf, t.used, dest2, "sha256:nothex", NULL, &err) < 0 && err->status == EINVAL);
    free(t.buf);
}

static void test_whiteouts(void)
{
    struct tarb t;
    tar_begin(&t);
    tar_dir(&t, "d/", 0755);
    tar_file(&t, "d/keep", "k", 0644);
    tar_file(&t, "d/.wh.gone", "", 0644);
    tar_file(&t, "d/.wh..wh.plnk", "", 0644);
    tar_file(&t, "e/.wh..wh..opq", "", 0644);
    tar_file(&t, ".wh.top", "", 0644);
    /* Whiteout first, then a directory of that name in the same layer: it must hide the lower one. */
    tar_file(&t, ".wh.x", "", 0644);
    tar_dir(&t, "x/", 0755);
    /* And the other way round. */
    tar_dir(&t, "y/", 0755);
    tar_file(&t, ".wh.y", "", 0644);
    tar_end(&t);
    _cleanup_free_ char *dest = new_dest("whiteouts");
    _cleanup_error_ crisp_error_t *err = NULL;
    struct img_unpack_result res = {0};
    CHECK(unpack(t.buf, t.used, dest, NULL, &res, &err) == 0);
    if (err)
        fprintf(stderr, "whiteouts: %s\n", err->msg);
    struct stat st = {0};
    CHECK(lstat(at(dest, "d/gone"), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    CHECK(st.st_uid == 0 && st.st_gid == 0);
    CHECK(lstat(at(dest, "top"), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    CHECK(!exists(at(dest, "d/.wh.gone")) && !exists(at(dest, "d/.wh..wh.plnk")));
    CHECK(!exists(at(dest, ".wh.top")));
    CHECK(!exists(at(dest, "d/plnk")));
    CHECK(exists(at(dest, "d/keep")));
    CHECK(lstat(at(dest, "e"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_STR(xattr_text(at(dest, "e"), "trusted.overlay.opaque"), "y");
    CHECK(!exists(at(dest, "e/.wh..wh..opq")));
    CHECK(lstat(at(dest, "x"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_STR(xattr_text(at(dest, "x"), "trusted.overlay.opaque"), "y");
    CHECK(lstat(at(dest, "y"), &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_STR(xattr_text(at(dest, "y"), "trusted.overlay.opaque"), "y");
    CHECK_STR(xattr_text(at(dest, "d"), "trusted.overlay.opaque"), "");
    CHECK(res.entries == 10);
    free(t.buf);
}

/* Finishes the tar, unpacks it into dest and returns the error, NULL on success. */
static crisp_error_t *unpack_tar(struct tarb *t, const char *dest)
{
    crisp_error_t *err = NULL;
    tar_end(t);
    unpack(t->buf, t->used, dest, NULL, NULL, &err);
    free(t->buf);
    return err;
}

static void test_traversal(void)
{
    const char *names[] = {"../x", "a/../../x", "./../x", "/../x"};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char sub[32];
        snprintf(sub, sizeof(sub), "trav%zu", i);
        _cleanup_free_ char *dest = new_dest(sub);
        struct tarb t;
        tar_begin(&t);
        tar_file(&t, names[i], "bad", 0644);
        _cleanup_error_ crisp_error_t *err = unpack_tar(&t, dest);
        CHECK(err && err->status == EPERM);
        char want[64];
        snprintf(want, sizeof(want), "layer entry \"%s\" escapes the layer root", names[i]);
        CHECK_CONTAINS(err ? err->msg : NULL, want);
    }
    CHECK(!exists(at(base_dir, "x")));
    /* ".." inside the root is fine. */
    _cleanup_free_ char *dest = new_dest("trav-ok");
    struct tarb t;
    tar_begin(&t);
    tar_file(&t, "a/b/../c", "ok", 0644);
    _cleanup_error_ crisp_error_t *err = unpack_tar(&t, dest);
    CHECK(err == NULL);
    CHECK_STR(read_text(at(dest, "a/c")), "ok");
}

static void test_symlink_escape(void)
{
    char outside[] = "/tmp/crisp-unit-unpack-XXXXXX";
    CHECK(mkdtemp(outside) != NULL);
    _cleanup_free_ char *dest = new_dest("symlinks");
    char rel[256];
    snprintf(rel, sizeof(rel), "../../../../../../../..%s", outside);
    struct tarb t;
    tar_begin(&t);
    tar_symlink(&t, "evil", outside);
    tar_file(&t, "evil/pwned", "p", 0644);
    tar_symlink(&t, "up", rel);
    tar_file(&t, "up/pwned2", "p2", 0644);
    tar_symlink(&t, "loop", "loop/x");
    tar_symlink(&t, "file", "/tmp/crisp-unit-unpack-nonexistent");
    tar_file(&t, "file", "replaced", 0600);
    tar_end(&t);
    _cleanup_error_ crisp_error_t *err = NULL;
    CHECK(unpack(t.buf, t.used, dest, NULL, NULL, &err) == 0);
    if (err)
        fprintf(stderr, "symlinks: %s\n", err->msg);
    char inside[512];
    snprintf(inside, sizeof(inside), "%s%s/pwned", dest, outside);
    CHECK_STR(read_text(inside), "p");
    snprintf(inside, sizeof(inside), "%s%s/pwned2", dest, outside);
    CHECK_STR(read_text(inside), "p2");
    CHECK(!exists(at(outside, "pwned")) && !exists(at(outside, "pwned2")));
    CHECK(rmdir(outside) == 0); /* still empty */
    struct stat st = {0};
    CHECK(lstat(at(dest, "file"), &st) == 0 && S_ISREG(st.st_mode));
    CHECK(!exists("/tmp/crisp-unit-unpack-nonexistent"));
    free(t.buf);

    /* A symlink loop fails cleanly, naming the entry. */
    _cleanup_free_ char *dest2 = new_dest("symlink-loop");
    tar_begin(&t);
    tar_symlink(&t, "loop", "loop/x");
    tar_file(&t, "loop/f", "f", 0644);
    crisp_error_freep(&err);
    err = unpack_tar(&t, dest2);
    CHECK(err && err->status == ELOOP);
    CHECK_CONTAINS(err ? err->msg : NULL, "layer entry \"loop/f\"");
}

static void test_hardlink_escape(void)
{
    _cleanup_free_ char *dest = new_dest("hardlinks");
    struct tarb t;
    tar_begin(&t);
    tar_hardlink(&t, "hl", "../outside");
    _cleanup_error_ crisp_error_t *err = unpack_tar(&t, dest);
    CHECK(err && err->status == EPERM);
    CHECK_CONTAINS(err ? err->msg : NULL, "layer entry \"hl\"");
    CHECK_CONTAINS(err ? err->msg : NULL, "escapes the layer root");
    CHECK(!exists(at(dest, "hl")));

    /* Through a symlink to the host's /etc: resolved inside the layer, where nothing is. */
    _cleanup_free_ char *dest2 = new_dest("hardlinks2");
    tar_begin(&t);
    tar_symlink(&t, "s", "/etc");
    tar_hardlink(&t, "h2", "s/passwd");
    crisp_error_freep(&err);
    err = unpack_tar(&t, dest2);
    CHECK(err && err->status == ENOENT);
    CHECK_CONTAINS(err ? err->msg : NULL, "layer entry \"h2\"");
    CHECK(!exists(at(dest2, "h2")));
}

static void test_absolute(void)
{
    _cleanup_free_ char *dest = new_dest("absolute");
    struct tarb t;
    tar_begin(&t);
    tar_file(&t, "/etc/foo", "abs", 0644);
    tar_file(&t, "//usr//./bin/x", "x", 0755);
    _cleanup_error_ crisp_error_t *err = unpack_tar(&t, dest);
    CHECK(err == NULL);
    CHECK_STR(read_text(at(dest, "etc/foo")), "abs");
    CHECK_STR(read_text(at(dest, "usr/bin/x")), "x");
}

static void test_replace(void)
{
    _cleanup_free_ char *dest = new_dest("replace");
    struct tarb t;
    tar_begin(&t);
    tar_file(&t, "a/f", "f", 0644);
    tar_file(&t, "a", "now a file", 0644);
    tar_file(&t, "b/f", "f", 0644);
    tar_dir(&t, "b/", 0700);
    tar_file(&t, "c", "c", 0644);
    tar_symlink(&t, "c", "target");
    tar_dir(&t, "d/", 0755);
    tar_symlink(&t, "d", "/");
    _cleanup_error_ crisp_error_t *err = unpack_tar(&t, dest);
    CHECK(err == NULL);
    if (err)
        fprintf(stderr, "replace: %s\n", err->msg);
    struct stat st = {0};
    CHECK_STR(read_text(at(dest, "a")), "now a file");
    CHECK(lstat(at(dest, "b"), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    CHECK(exists(at(dest, "b/f")));
    CHECK(lstat(at(dest, "c"), &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat(at(dest, "d"), &st) == 0 && S_ISLNK(st.st_mode));
}

static void test_corrupt(void)
{
    struct tarb t;
    build_basic(&t);
    size_t gz_len, zs_len;
    _cleanup_free_ char *gz = gzip_buf(t.buf, t.used, &gz_len);
    _cleanup_free_ char *zs = zstd_buf(t.buf, t.used, &zs_len);
    struct {
        const char *name, *data;
        size_t len;
        const char *msg;
    } cases[] = {
        {"trunc-gzip", gz, gz_len / 2, "gzip stream is truncated"},
        {"trunc-gzip-tail", gz, gz_len - 4, "gzip stream is truncated"},
        {"trunc-zstd", zs, zs_len / 2, "zstd stream is truncated"},
        {"trunc-tar-header", t.buf, 3000, "layer tar: "},
        {"trunc-tar-data", t.buf, t.used / 2, "layer entry \"big\": tar: Truncated tar archive"},
        {"garbage", "this is not a tar stream at all, not even close......", 52, "layer tar"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *dest = new_dest(cases[i].name);
        _cleanup_error_ crisp_error_t *err = NULL;
        CHECK(unpack(cases[i].data, cases[i].len, dest, NULL, NULL, &err) < 0);
        CHECK(err && err->status == EINVAL);
        CHECK_CONTAINS(err ? err->msg : NULL, cases[i].msg);
    }
    /* A flipped byte inside the deflate data, or trailing garbage after the last member. */
    _cleanup_free_ char *dest = new_dest("corrupt-gzip");
    gz[gz_len / 2] ^= 0x55;
    _cleanup_error_ crisp_error_t *err = NULL;
    CHECK(unpack(gz, gz_len, dest, NULL, NULL, &err) < 0 && err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "gzip");
    free(t.buf);
}

static void test_limits(void)
{
    char longname[5000];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    for (size_t i = 100; i < sizeof(longname) - 1; i += 100)
        longname[i] = '/';
    _cleanup_free_ char *dest = new_dest("long-name");
    struct tarb t;
    tar_begin(&t);
    tar_file(&t, longname, "x", 0644);
    _cleanup_error_ crisp_error_t *err = unpack_tar(&t, dest);
    CHECK(err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "longer than 4096");

    _cleanup_free_ char *dest2 = new_dest("many-xattrs");
    tar_begin(&t);
    struct archive_entry *e = tar_entry("f", AE_IFREG, 0644);
    for (int i = 0; i < 129; i++) {
        char key[32];
        snprintf(key, sizeof(key), "user.k%d", i);
        archive_entry_xattr_add_entry(e, key, "v", 1);
    }
    tar_put(&t, e, "x", 1);
    crisp_error_freep(&err);
    err = unpack_tar(&t, dest2);
    CHECK(err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "more than 128 xattrs");
    CHECK(!exists(at(dest2, "f")));

    _cleanup_free_ char *dest3 = new_dest("big-xattr");
    _cleanup_free_ char *value = calloc(1, 70000);
    tar_begin(&t);
    e = tar_entry("f", AE_IFREG, 0644);
    archive_entry_xattr_add_entry(e, "user.big", value, 70000);
    tar_put(&t, e, "x", 1);
    crisp_error_freep(&err);
    err = unpack_tar(&t, dest3);
    CHECK(err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "layer entry \"f\": xattr user.big is larger");
}

static crisp_error_t *unpack_limited(const void *blob, size_t len, const char *dest,
                                     const struct img_unpack_limits *limits)
{
    _cleanup_close_ int fd = blob_fd(blob, len);
    crisp_error_t *err = NULL;
    img_layer_unpack(fd, dest, NULL, limits, NULL, &err);
    return err;
}

/* Issue 12 item 11: a bomb stops at the size limit, and a layer that goes on after its archive's end
 * is refused once the trailer passes IMG_LAYER_MAX_TRAILER, both before the end of the blob. */
static void test_bombs(void)
{
    _cleanup_free_ char *zeros = calloc(1, BIG_SIZE);
    struct tarb t;
    tar_begin(&t);
    tar_put(&t, tar_entry("zeros", AE_IFREG, 0644), zeros, BIG_SIZE);
    tar_end(&t);
    size_t glen;
    _cleanup_free_ char *gz = gzip_buf(t.buf, t.used, &glen);
    _cleanup_free_ char *dest = new_dest("bomb");
    const struct img_unpack_limits small = {.max_size = 1024 * 1024};
    _cleanup_error_ crisp_error_t *err = unpack_limited(gz, glen, dest, &small);
    CHECK(err && err->status == EFBIG);
    CHECK_CONTAINS(err ? err->msg : NULL, "larger than the limit of 1048576 bytes");
    _cleanup_free_ char *dest_ok = new_dest("bomb-allowed");
    crisp_error_freep(&err);
    err = unpack_limited(gz, glen, dest_ok, NULL);
    CHECK(!err);
    free(t.buf);

    /* A small archive, then 4 MiB more of zeros after it: refused, whatever the size limit. */
    tar_begin(&t);
    tar_file(&t, "ok", "ok", 0644);
    tar_end(&t);
    size_t padded = t.used + 4 * 1024 * 1024;
    _cleanup_free_ char *tail = calloc(1, padded);
    memcpy(tail, t.buf, t.used);
    free(t.buf);
    size_t zlen;
    _cleanup_free_ char *zs = zstd_buf(tail, padded, &zlen);
    _cleanup_free_ char *dest2 = new_dest("trailer");
    crisp_error_freep(&err);
    err = unpack_limited(zs, zlen, dest2, NULL);
    CHECK(err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, "after its tar archive's end");

    struct crisp_cancel cancel;
    crisp_cancel_init(&cancel, false, NULL);
    crisp_cancel_fire(&cancel, CRISP_E_UNAVAILABLE);
    const struct img_unpack_limits cancelled = {.cancel = &cancel};
    _cleanup_free_ char *dest3 = new_dest("cancelled");
    crisp_error_freep(&err);
    err = unpack_limited(gz, glen, dest3, &cancelled);
    CHECK(err && err->status == CRISP_E_UNAVAILABLE);
    CHECK_CONTAINS(err ? err->msg : NULL, "shutting down");
    crisp_cancel_fini(&cancel);
}

/* A ustar header by hand, for what libarchive's writer won't produce in the C locale. */
static void raw_header(char *h, const char *name, size_t size, char type)
{
    memset(h, 0, 512);
    snprintf(h, 100, "%s", name);
    snprintf(h + 100, 8, "%07o", 0644);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    snprintf(h + 124, 12, "%011zo", size);
    snprintf(h + 136, 12, "%011o", 1600000000);
    h[156] = type;
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
}

static void test_misc(void)
{
    /* An empty layer: nothing but the end-of-archive blocks. */
    _cleanup_free_ char *dest = new_dest("empty");
    struct tarb t;
    tar_begin(&t);
    tar_end(&t);
    size_t len;
    _cleanup_free_ char *gz = gzip_buf(t.buf, t.used, &len);
    struct img_unpack_result res = {.entries = 99};
    _cleanup_error_ crisp_error_t *err = NULL;
    char want[IMG_DIGEST_MAX];
    img_digest_buffer(t.buf, t.used, want);
    CHECK(unpack(gz, len, dest, want, &res, &err) == 0);
    CHECK(res.entries == 0 && res.size == 0);
    free(t.buf);

    /* A UTF-8 pax path record, as Go's archive/tar writes one, read in the C locale; and an atime. */
    _cleanup_free_ char *dest2 = new_dest("utf8");
    struct archive_entry *e;
    char raw[6 * 512] = {0};
    static const char record[] = "14 path=caf\xc3\xa9\n17 atime=7654321\n";
    raw_header(raw, "PaxHeaders/x", sizeof(record) - 1, 'x');
    memcpy(raw + 512, record, sizeof(record) - 1);
    raw_header(raw + 1024, "x", 1, '0');
    raw[1536] = 'u';
    crisp_error_freep(&err);
    CHECK(unpack(raw, sizeof(raw), dest2, NULL, NULL, &err) == 0);
    if (err)
        fprintf(stderr, "utf8: %s\n", err->msg);
    struct stat st = {0};
    CHECK(lstat(at(dest2, "caf\xc3\xa9"), &st) == 0 && st.st_atim.tv_sec == 7654321);
    CHECK(st.st_mtim.tv_sec == 1600000000);
    CHECK_STR(read_text(at(dest2, "caf\xc3\xa9")), "u");

    _cleanup_free_ char *dest4 = new_dest("blockdev");
    tar_begin(&t);
    e = tar_entry("sda", AE_IFBLK, 0660);
    archive_entry_set_rdevmajor(e, 8);
    archive_entry_set_rdevminor(e, 1);
    archive_entry_set_gid(e, 6);
    tar_put(&t, e, NULL, 0);
    crisp_error_freep(&err);
    err = unpack_tar(&t, dest4);
    CHECK(err == NULL);
    CHECK(lstat(at(dest4, "sda"), &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == makedev(8, 1));
    CHECK((st.st_mode & 07777) == 0660 && st.st_gid == 6);

    _cleanup_free_ char *dest3 = new_dest("not-a-dir");
    tar_begin(&t);
    tar_file(&t, "f", "x", 0644);
    tar_file(&t, "f/g", "x", 0644);
    crisp_error_freep(&err);
    err = unpack_tar(&t, dest3);
    CHECK(err && err->status == ENOTDIR);
    CHECK_CONTAINS(err ? err->msg : NULL, "layer entry \"f/g\": open parent directory");

    crisp_error_freep(&err);
    CHECK(img_layer_unpack(0, "/nonexistent/crisp", NULL, NULL, NULL, &err) < 0 && err &&
          err->status == ENOENT);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    umask(022);
    if (!mkdtemp(base_dir))
        return 1;
    test_codecs();
    test_diff_id();
    test_whiteouts();
    test_traversal();
    test_symlink_escape();
    test_hardlink_escape();
    test_absolute();
    test_replace();
    test_corrupt();
    test_limits();
    test_bombs();
    test_misc();
    CHECK(nftw(base_dir, remove_one, 32, FTW_DEPTH | FTW_PHYS) == 0);
    return unit_report("test_unpack");
}
