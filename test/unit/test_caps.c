/* runtime/caps: capability names in every accepted form (libcap's table), the default set, add/drop
 * with ALL, privileged, ambient, and the host's bounding set, read here from /proc as a second
 * opinion on what libcap reports. */
#define _GNU_SOURCE
#include "runtime/caps.h"
#include "unit.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>

#define BIT(c) (1ULL << (c))
#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t host_bounding(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    uint64_t mask = ~0ULL;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "CapBnd:", 7) == 0)
            mask = strtoull(line + 7, NULL, 16);
    if (f)
        fclose(f);
    return mask;
}

static int last_cap(void)
{
    FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    int last = CAP_LAST_CAP;
    if (f) {
        if (fscanf(f, "%d", &last) != 1)
            last = CAP_LAST_CAP;
        fclose(f);
    }
    return last;
}

static void test_names(void)
{
    CHECK(rt_caps_number("NET_ADMIN") == CAP_NET_ADMIN);
    CHECK(rt_caps_number("CAP_NET_ADMIN") == CAP_NET_ADMIN);
    CHECK(rt_caps_number("cap_net_admin") == CAP_NET_ADMIN);
    CHECK(rt_caps_number("Cap_Net_Admin") == CAP_NET_ADMIN);
    CHECK(rt_caps_number("net_admin") == CAP_NET_ADMIN);
    CHECK(rt_caps_number("CHOWN") == CAP_CHOWN);
    CHECK(rt_caps_number("CAP_SYS_ADMIN") == CAP_SYS_ADMIN);
    CHECK(rt_caps_number("AUDIT_READ") == CAP_AUDIT_READ);
    /* The newest ones, which libcap names whether or not this kernel has them. */
    CHECK(rt_caps_number("CAP_PERFMON") == 38);
    CHECK(rt_caps_number("BPF") == 39);
    CHECK(rt_caps_number("CAP_CHECKPOINT_RESTORE") == 40);
}

static void test_unknown_names(void)
{
    static const char *const bad[] = {
        "",
        "CAP_",
        "cap_",
        "ALL",
        "CAP_ALL",
        "12",
        "0",
        "0x3",
        "CAP_12",
        "cap_41",
        "CAP_SYS_WIZARD",
        "NETADMIN",
        "CAP_CAP_NET_ADMIN",
        "CAPNET_ADMIN",
        "NET_ADMIN ",
        " NET_ADMIN",
        "NET_ADMIN\n",
        "cap_net_admin123",
        "CAP_NET_ADMIN,CAP_CHOWN",
        "CAP_NET_ADMIN_",
        "NET-ADMIN",
        "CAP_A_VERY_LONG_NAME_THAT_NO_CAPABILITY_HAS_EVER_HAD_IN_ANY_KERNEL_SO_FAR",
    };
    for (size_t i = 0; i < N(bad); i++) {
        int n = rt_caps_number(bad[i]);
        if (n != -1)
            fprintf(stderr, "\"%s\" is capability %d\n", bad[i], n);
        CHECK(n == -1);
    }
}

static uint64_t mask_of(char **add, size_t n_add, char **drop, size_t n_drop, bool privileged)
{
    uint64_t mask = 0xdead;
    crisp_error_t *err = NULL;
    CHECK(rt_caps_mask(add, n_add, drop, n_drop, privileged, &mask, &err) == 0);
    crisp_error_free(err);
    return mask;
}

static void test_default_set(void)
{
    uint64_t want = BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) |
                    BIT(CAP_MKNOD) | BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETFCAP) |
                    BIT(CAP_SETPCAP) | BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) |
                    BIT(CAP_AUDIT_WRITE);
    CHECK(mask_of(NULL, 0, NULL, 0, false) == (want & host_bounding()));
}

static void test_add_drop(void)
{
    uint64_t bnd = host_bounding(), def = mask_of(NULL, 0, NULL, 0, false);
    uint64_t all = last_cap() >= 63 ? ~0ULL : BIT(last_cap() + 1) - 1;
    char *add[] = {"NET_ADMIN", "cap_sys_ptrace"}, *drop[] = {"CAP_CHOWN", "MKNOD"};
    CHECK(mask_of(add, 2, drop, 2, false) ==
          ((def | BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_PTRACE)) & ~BIT(CAP_CHOWN) & ~BIT(CAP_MKNOD) & bnd));
    /* A drop wins over the same addition. */
    char *admin[] = {"SYS_ADMIN"};
    CHECK(!(mask_of(admin, 1, admin, 1, false) & BIT(CAP_SYS_ADMIN)));
    char *all_add[] = {"ALL"}, *all_drop[] = {"all"};
    CHECK(mask_of(all_add, 1, NULL, 0, false) == (all & bnd));
    CHECK(mask_of(all_add, 1, drop, 2, false) == (all & bnd & ~BIT(CAP_CHOWN) & ~BIT(CAP_MKNOD)));
    CHECK(mask_of(NULL, 0, all_drop, 1, false) == 0);
    /* ALL in drop goes first, then the named additions. */
    CHECK(mask_of(add, 2, all_drop, 1, false) == ((BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_PTRACE)) & bnd));
    CHECK(mask_of(all_add, 1, all_drop, 1, false) == 0);
    /* Nothing outside the host's bounding set, whatever is asked. */
    CHECK((mask_of(all_add, 1, NULL, 0, false) & ~bnd) == 0);
    /* Some machines lack CAP_SYS_RESOURCE: asking for it then leaves it out rather than failing. */
    char *resource[] = {"CAP_SYS_RESOURCE"};
    CHECK(!!(mask_of(resource, 1, NULL, 0, false) & BIT(CAP_SYS_RESOURCE)) ==
          !!(bnd & BIT(CAP_SYS_RESOURCE)));
}

static void test_privileged(void)
{
    uint64_t bnd = host_bounding();
    CHECK(mask_of(NULL, 0, NULL, 0, true) == bnd);
    char *drop[] = {"ALL"};
    CHECK(mask_of(NULL, 0, drop, 1, true) == bnd);
    /* The lists are not read at all: privileged means the host's set. */
    char *bogus[] = {"CAP_SYS_WIZARD"};
    CHECK(mask_of(bogus, 1, NULL, 0, true) == bnd);
}

static void test_unknown_refused(void)
{
    uint64_t mask = 0x1234;
    crisp_error_t *err = NULL;
    char *add[] = {"NET_ADMIN", "CAP_SYS_WIZARD"};
    CHECK(rt_caps_mask(add, 2, NULL, 0, false, &mask, &err) < 0);
    CHECK(err && err->status == EINVAL);
    CHECK_STR(err ? err->msg : NULL, "unknown capability \"CAP_SYS_WIZARD\"");
    CHECK(mask == 0x1234);
    crisp_error_freep(&err);
    char *drop[] = {"CAP_42"};
    CHECK(rt_caps_mask(NULL, 0, drop, 1, false, &mask, &err) < 0);
    CHECK_STR(err ? err->msg : NULL, "unknown capability \"CAP_42\"");
    crisp_error_freep(&err);
}

static void test_ambient(void)
{
    uint64_t bnd = host_bounding(), mask = 0;
    uint64_t all = last_cap() >= 63 ? ~0ULL : BIT(last_cap() + 1) - 1;
    crisp_error_t *err = NULL;
    char *names[] = {"NET_BIND_SERVICE", "CAP_NET_RAW"};
    CHECK(rt_caps_ambient_mask(names, 2, &mask, &err) == 0);
    CHECK(mask == ((BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_NET_RAW)) & bnd));
    CHECK(rt_caps_ambient_mask(NULL, 0, &mask, &err) == 0 && mask == 0);
    char *all_names[] = {"ALL"};
    CHECK(rt_caps_ambient_mask(all_names, 1, &mask, &err) == 0 && mask == (all & bnd));
    char *bad[] = {"BPF", "WIZARD"};
    CHECK(rt_caps_ambient_mask(bad, 2, &mask, &err) < 0);
    CHECK(err && err->status == EINVAL);
    CHECK_STR(err ? err->msg : NULL, "ambient capabilities: unknown capability \"WIZARD\"");
    crisp_error_free(err);
}

int main(void)
{
    test_names();
    test_unknown_names();
    test_default_set();
    test_add_drop();
    test_privileged();
    test_unknown_refused();
    test_ambient();
    return unit_report("test_caps");
}
