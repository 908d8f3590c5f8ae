/* runtime/propagation.c: the rules of recursive read-only volumes, and the mount_setattr probe. */
#define _GNU_SOURCE
#include "runtime/propagation.h"

#include "unit.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/utsname.h>

static void expect_refused(struct rt_mount m, const char *msg)
{
    crisp_error_t *err = NULL;
    CHECK(rt_mount_rro_check(&m, &err) < 0);
    CHECK(err && err->status == EINVAL);
    CHECK_CONTAINS(err ? err->msg : NULL, msg);
    CHECK_CONTAINS(err ? err->msg : NULL, "mount /mnt:");
    crisp_error_free(err);
}

static bool kernel_at_least(int want_major, int want_minor)
{
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return false;
    return major > want_major || (major == want_major && minor >= want_minor);
}

static void test_rro_rules(void)
{
    struct rt_mount m = {.container_path = "/mnt", .host_path = "/tmp", .readonly = true};
    CHECK(rt_mount_rro_check(&m, NULL) == 0); /* not recursive: nothing to check */
    m.readonly = false;
    CHECK(rt_mount_rro_check(&m, NULL) == 0);

    m = (struct rt_mount){.container_path = "/mnt", .host_path = "/tmp", .recursive_readonly = true};
    expect_refused(m, "recursive_read_only needs readonly");
    m.readonly = true;
    m.propagation = RT_PROPAGATION_HOST_TO_CONTAINER;
    expect_refused(m, "needs PROPAGATION_PRIVATE, not PROPAGATION_HOST_TO_CONTAINER");
    m.propagation = RT_PROPAGATION_BIDIRECTIONAL;
    expect_refused(m, "needs PROPAGATION_PRIVATE, not PROPAGATION_BIDIRECTIONAL");

    m.propagation = RT_PROPAGATION_PRIVATE;
    if (rt_mount_rro_supported())
        CHECK(rt_mount_rro_check(&m, NULL) == 0);
    else
        expect_refused(m, "mount_setattr(2), Linux 5.12");
}

static void test_probe_matches_kernel(void)
{
    CHECK(rt_mount_rro_supported() == kernel_at_least(5, 12));
    CHECK(rt_mount_rro_supported() == rt_mount_rro_supported()); /* probed once, same answer */
}

int main(void)
{
    test_rro_rules();
    test_probe_matches_kernel();
    return unit_report("test_propagation");
}
