/* /proc/PID/stat as crisp-exec and crispd read it (helpers/lib/proc_stat.h): the command name may hold
 * spaces and parentheses, so fields are counted from its last ')'. */
#define _GNU_SOURCE
#include "helpers/lib/proc_stat.h"
#include "runtime/pod_ns.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* Fields 4 to 21 of a real line, then the start time (22) and a few more. */
#define MIDDLE "1 2 3 4 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0"

static void test_parse(void)
{
    struct hl_proc_stat st = {0};
    CHECK(hl_proc_stat_parse("1234 (plain) S " MIDDLE " 987654 8 9\n", &st) == 0);
    CHECK(st.state == 'S' && st.start_time == 987654);
    /* A name made to look like the end of field 2 and more fields: only its last ')' counts. */
    CHECK(hl_proc_stat_parse("77 (a) R 1 2 (b c) Z " MIDDLE " 5555 0\n", &st) == 0);
    CHECK(st.state == 'Z' && st.start_time == 5555);
    CHECK(hl_proc_stat_parse("8 (x) ) ) X " MIDDLE " 18446744073709551615 1\n", &st) == 0);
    CHECK(st.state == 'X' && st.start_time == 18446744073709551615ULL);
    CHECK(hl_proc_stat_parse("9 (sp ace) D " MIDDLE " 42", &st) == 0);
    CHECK(st.state == 'D' && st.start_time == 42);
}

static void test_parse_bad(void)
{
    struct hl_proc_stat st;
    CHECK(hl_proc_stat_parse("", &st) == -EINVAL);
    CHECK(hl_proc_stat_parse("1 no parenthesis S " MIDDLE " 1\n", &st) == -EINVAL);
    CHECK(hl_proc_stat_parse("1 (short) S 1 2 3\n", &st) == -EINVAL);
    CHECK(hl_proc_stat_parse("1 (cut) S " MIDDLE "\n", &st) == -EINVAL);
    CHECK(hl_proc_stat_parse("1 (word) S " MIDDLE " 12x 0\n", &st) == -EINVAL);
    CHECK(hl_proc_stat_parse("1 (neg) S " MIDDLE " -5 0\n", &st) == -EINVAL);
}

/* The real file, through a /proc/PID directory as crisp-exec opens it and through a path as crispd. */
static void test_read(void)
{
    struct hl_proc_stat a = {0}, b = {0};
    CHECK(hl_proc_stat_read(AT_FDCWD, "/proc/self/stat", &a) == 0);
    CHECK(a.state == 'R' && a.start_time > 0);
    int dir = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dir >= 0 && hl_proc_stat_read(dir, "stat", &b) == 0 && b.start_time == a.start_time);
    if (dir >= 0)
        close(dir);
    uint64_t start = 0;
    CHECK(rt_proc_start_time(getpid(), &start, NULL) == 0 && start == a.start_time);
    CHECK(hl_proc_stat_read(AT_FDCWD, "/proc/1073741808/stat", &b) == -ENOENT);
}

int main(void)
{
    test_parse();
    test_parse_bad();
    test_read();
    return unit_report("test_helper_proc_stat");
}
