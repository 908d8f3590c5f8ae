/* runtime/image_volume.c: the sub path rules, the table of images in use, and image volumes in the
 * container's record. */
#define _GNU_SOURCE
#include "runtime/image_volume.h"

#include "runtime/container_internal.h"
#include "runtime/runtime_internal.h"
#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void expect_sub_path(const char *path, int status, const char *msg)
{
    crisp_error_t *err = NULL;
    int r = rt_image_sub_path_check(path, &err);
    CHECK(status ? r < 0 : r == 0);
    if (status) {
        CHECK(err && err->status == status);
        CHECK_CONTAINS(err ? err->msg : NULL, msg);
    }
    crisp_error_free(err);
}

static void test_sub_path(void)
{
    expect_sub_path("", 0, NULL); /* the whole image */
    expect_sub_path("data", 0, NULL);
    expect_sub_path("a/b/c/", 0, NULL);
    expect_sub_path("./a", 0, NULL);
    expect_sub_path("a..b/..c", 0, NULL); /* dots inside names are names */
    expect_sub_path("/etc", EINVAL, "must be a relative path");
    expect_sub_path("..", EINVAL, "has a \"..\" component");
    expect_sub_path("../x", EINVAL, "has a \"..\" component");
    expect_sub_path("a/../../x", EINVAL, "has a \"..\" component");
    expect_sub_path("a/..", EINVAL, "has a \"..\" component");
    char *long_path = malloc(RT_IMAGE_SUB_PATH_MAX + 2);
    memset(long_path, 'a', RT_IMAGE_SUB_PATH_MAX + 1);
    long_path[RT_IMAGE_SUB_PATH_MAX + 1] = '\0';
    expect_sub_path(long_path, EINVAL, "at most");
    long_path[RT_IMAGE_SUB_PATH_MAX] = '\0';
    expect_sub_path(long_path, 0, NULL);
    free(long_path);
}

static int status_of(int r, crisp_error_t **err)
{
    int s = r == 0 ? 0 : (*err ? (*err)->status : -1);
    crisp_error_free(*err);
    *err = NULL;
    return s;
}

static void test_uses(void)
{
    struct rt_runtime rt = {0};
    rt_index_init(&rt.containers);
    rt_image_uses_init(&rt.image_uses);
    struct rt_mount mounts[] = {
        {.container_path = "/a", .image = "img", .image_id = "sha256:aa"},
        {.container_path = "/b", .host_path = "/tmp"}, /* a bind mount: not counted */
        {.container_path = "/c", .image = "img", .image_id = "sha256:aa"},
        {.container_path = "/d", .image = "other", .image_id = "sha256:bb"},
    };
    crisp_error_t *err = NULL;

    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:aa", &err), &err) == 0); /* unused */
    /* While a remove runs, no volume starts to use the image, and nothing is held by a failed hold. */
    CHECK(status_of(rt_container_images_hold(&rt, NULL, mounts, 4, &err), &err) == ENOENT);
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:bb", &err), &err) == 0);
    rt_image_remove_end(&rt, "sha256:bb");
    rt_image_remove_end(&rt, "sha256:aa");
    CHECK(rt.image_uses.n == 0);

    CHECK(status_of(rt_container_images_hold(&rt, NULL, mounts, 4, &err), &err) == 0);
    CHECK(rt_image_remove_begin(&rt, "sha256:aa", &err) < 0);
    CHECK(err && err->status == CRISP_E_FAILED_PRECONDITION);
    CHECK_CONTAINS(err ? err->msg : NULL, "image sha256:aa is in use by container");
    crisp_error_free(err);
    err = NULL;
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:bb", &err), &err) == CRISP_E_FAILED_PRECONDITION);
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:cc", &err), &err) == 0);
    rt_image_remove_end(&rt, "sha256:cc");

    /* A second container with the same image: both must go before the image may. */
    CHECK(status_of(rt_container_images_hold(&rt, NULL, mounts, 1, &err), &err) == 0);
    rt_container_images_release(&rt, NULL, mounts, 4);
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:aa", &err), &err) == CRISP_E_FAILED_PRECONDITION);
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:bb", &err), &err) == 0);
    rt_image_remove_end(&rt, "sha256:bb");
    rt_container_images_release(&rt, NULL, mounts, 1);
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:aa", &err), &err) == 0);
    rt_image_remove_end(&rt, "sha256:aa");
    CHECK(rt.image_uses.n == 0);

    /* A container's own image is held the same way: its rootfs overlay stands on the layers. */
    CHECK(status_of(rt_container_images_hold(&rt, "sha256:ee", mounts, 1, &err), &err) == 0);
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:ee", &err), &err) == CRISP_E_FAILED_PRECONDITION);
    rt_container_images_release(&rt, "sha256:ee", mounts, 1);
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:ee", &err), &err) == 0);
    /* ... and a create of a container of an image being removed is refused, holding nothing. */
    CHECK(status_of(rt_container_images_hold(&rt, "sha256:ee", mounts, 1, &err), &err) == ENOENT);
    rt_image_remove_end(&rt, "sha256:ee");
    CHECK(status_of(rt_image_remove_begin(&rt, "sha256:aa", &err), &err) == 0);
    rt_image_remove_end(&rt, "sha256:aa");
    CHECK(rt.image_uses.n == 0);

    rt_image_uses_fini(&rt.image_uses);
    rt_index_fini(&rt.containers);
}

static void test_record_keeps_image_volumes(void)
{
    struct rt_container *c = rt_container_new();
    memcpy(c->info.id, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", RT_ID_LEN + 1);
    memcpy(c->info.sandbox_id, c->info.id, RT_ID_LEN + 1);
    c->info.name = strdup("c");
    c->info.reason = strdup("");
    c->info.message = strdup("");
    c->info.image = strdup("busybox");
    c->info.image_id = strdup("sha256:11");
    c->info.log_path = strdup("");
    c->info.cgroup_path = strdup("/x");
    c->cwd = strdup("/");
    c->env = calloc(1, sizeof(char *));
    c->info.mounts = calloc(3, sizeof(struct rt_mount));
    struct rt_mount vol = {.container_path = "/vol",
                           .host_path = "/run/crisp/containers/x/image-volumes/0/sub",
                           .readonly = true,
                           .image = "reg/vol:1",
                           .image_id = "sha256:22",
                           .image_sub_path = "sub"};
    struct rt_mount bind = {.container_path = "/b", .host_path = "/tmp"};
    CHECK(rt_mount_copy(&c->info.mounts[0], &vol));
    CHECK(rt_mount_copy(&c->info.mounts[1], &bind));
    c->info.n_mounts = 2;
    char *json = rt_container_record_to_json(c);
    CHECK(json != NULL);

    struct rt_container *back = rt_container_new();
    CHECK(rt_container_record_from_json(json, back, NULL) == 0);
    CHECK(back->info.n_mounts == 2);
    if (back->info.n_mounts == 2) {
        CHECK_STR(back->info.mounts[0].image, "reg/vol:1");
        CHECK_STR(back->info.mounts[0].image_id, "sha256:22");
        CHECK_STR(back->info.mounts[0].image_sub_path, "sub");
        CHECK_STR(back->info.mounts[0].host_path, vol.host_path);
        CHECK(back->info.mounts[1].image == NULL && back->info.mounts[1].image_id == NULL);
    }
    /* An image volume without its image id is a damaged record: its image would not be kept. */
    char *damaged = strdup(json);
    char *id = strstr(damaged, "\"sha256:22\"");
    if (id) {
        memcpy(id, "\"\"", 2);
        memset(id + 2, ' ', strlen("\"sha256:22\"") - 2);
    }
    struct rt_container *bad = rt_container_new();
    CHECK(id && rt_container_record_from_json(damaged, bad, NULL) < 0);
    free(damaged);
    free(json);
    rt_container_unref(bad);
    rt_container_unref(back);
    rt_container_unref(c);
}

int main(void)
{
    test_sub_path();
    test_uses();
    test_record_keeps_image_volumes();
    return unit_report("test_image_volume");
}
