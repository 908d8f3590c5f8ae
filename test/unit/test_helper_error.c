/* The helpers' one error idiom (helpers/lib/helper_error.h), including crisp-exec's status. */
#include "helpers/lib/helper_error.h"
#include "unit.h"

#include <errno.h>

static void test_messages(void)
{
    CHECK_STR(hl_error(), "");
    CHECK(hl_error_status() == 0);
    errno = EAGAIN;
    CHECK(hl_fail(ENOENT, "open %s", "/x") == -1);
    CHECK(errno == EAGAIN); /* callers may still pass errno on */
    CHECK_STR(hl_error(), "open /x: No such file or directory");
    CHECK(hl_error_status() == EIO);
    CHECK(hl_fail(0, "the pod init died before it joined the pod's cgroups") == -1);
    CHECK_STR(hl_error(), "the pod init died before it joined the pod's cgroups");
    CHECK(hl_fail_status(ENOENT, "container process %d is gone", 42) == -1);
    CHECK_STR(hl_error(), "container process 42 is gone");
    CHECK(hl_error_status() == ENOENT);
}

/* A message that fills the buffer is cut, without a half-written strerror. */
static void test_long(void)
{
    char path[1500];
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    hl_fail(EACCES, "open %s", path);
    CHECK(strlen(hl_error()) == 1023);
    CHECK(strstr(hl_error(), "Permission") == NULL);
}

int main(void)
{
    test_messages();
    test_long();
    return unit_report("test_helper_error");
}
