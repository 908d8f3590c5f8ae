/* The container spec file (runtime/container_spec.md): `<key> <value>` lines, backslash escapes,
 * repeated keys as lists, mount.destination / device.path starting records. Values are unescaped in
 * place, so every string of the spec points into the one buffer holding the file. */
#include "helpers/lib/spec_read.h"
#include "helpers/lib/helper_error.h"
#include "helpers/lib/spec_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPEC_MAX_FILE (1 << 20)
#define SPEC_MAX_LINE (64 << 10)
#define SPEC_MAX_LIST 4096
#define SPEC_MAX_RECORDS 256
#define SPEC_MAX_LAYERS 500 /* overlayfs' own stack limit */

enum key_kind { KEY_SCALAR, KEY_LIST, KEY_MOUNT, KEY_DEVICE };

struct parser {
    struct mon_spec *spec;
    const char *path;
    int line;
    uint64_t seen;        /* scalar keys, by table index */
    uint64_t record_seen; /* fields of the current mount or device record */
};

typedef int (*key_fn)(struct parser *p, char *value);

struct key {
    const char *name;
    enum key_kind kind;
    key_fn set;
};

static int bad(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct parser *p, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return hl_fail(0, "%s: line %d: %s", p->path, p->line, what);
}

static int want_uint(struct parser *p, const char *v, int base, unsigned long max, unsigned long *ret)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, base);
    if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n > max)
        return bad(p, "'%s' is not a number in 0..%lu", v, max);
    *ret = n;
    return 0;
}

static int want_bool(struct parser *p, const char *v, bool *ret)
{
    if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
        return bad(p, "'%s' is not 0 or 1", v);
    *ret = v[0] == '1';
    return 0;
}

static int want_abs(struct parser *p, char *v, char **ret)
{
    if (v[0] != '/')
        return bad(p, "'%s' is not an absolute path", v);
    *ret = v;
    return 0;
}

static int want_abs_or_empty(struct parser *p, char *v, char **ret)
{
    return v[0] == '\0' ? (*ret = v, 0) : want_abs(p, v, ret);
}

static int want_ns(struct parser *p, char *v, char **ret)
{
    return strcmp(v, "host") == 0 ? (*ret = v, 0) : want_abs(p, v, ret);
}

static int push(struct parser *p, void *arrayp, size_t *n, size_t elem, size_t limit, size_t spare)
{
    void **array = arrayp;
    if (*n >= limit)
        return bad(p, "more than %zu entries", limit);
    void *grown = realloc(*array, (*n + 1 + spare) * elem);
    if (grown == NULL)
        return hl_fail(ENOMEM, "%s", p->path);
    *array = grown;
    memset((char *)grown + (*n + 1) * elem, 0, spare * elem); /* keeps argv and env NULL-terminated */
    (*n)++;
    return 0;
}

static int push_string(struct parser *p, char ***array, size_t *n, size_t limit, char *v)
{
    if (push(p, array, n, sizeof(char *), limit, 1) < 0)
        return -1;
    (*array)[*n - 1] = v;
    return 0;
}

static int set_id(struct parser *p, char *v)
{
    if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64)
        return bad(p, "id '%s' is not 64 lowercase hex digits", v);
    p->spec->id = v;
    return 0;
}

static int set_lower(struct parser *p, char *v)
{
    struct mon_spec *s = p->spec;
    if (v[0] != '/')
        return bad(p, "'%s' is not an absolute path", v);
    return push_string(p, &s->lowers, &s->n_lowers, SPEC_MAX_LAYERS, v);
}

static int set_upper(struct parser *p, char *v)
{
    return want_abs(p, v, &p->spec->upper);
}
static int set_work(struct parser *p, char *v)
{
    return want_abs(p, v, &p->spec->work);
}
static int set_mountpoint(struct parser *p, char *v)
{
    return want_abs(p, v, &p->spec->mountpoint);
}
static int set_cwd(struct parser *p, char *v)
{
    return want_abs(p, v, &p->spec->cwd);
}
static int set_exit_file(struct parser *p, char *v)
{
    return want_abs(p, v, &p->spec->exit_file);
}
static int set_apparmor(struct parser *p, char *v)
{
    p->spec->apparmor_profile = v;
    return 0;
}
static int set_selinux(struct parser *p, char *v)
{
    p->spec->selinux_label = v;
    return 0;
}
static int set_seccomp_path(struct parser *p, char *v)
{
    return want_abs_or_empty(p, v, &p->spec->seccomp_path);
}
static int set_seccomp_flags(struct parser *p, char *v)
{
    unsigned long n;
    if (want_uint(p, v, 10, 0xff, &n) < 0)
        return -1;
    p->spec->seccomp_flags = (unsigned)n;
    return 0;
}
static int set_attach_socket(struct parser *p, char *v)
{
    return want_abs_or_empty(p, v, &p->spec->attach_socket);
}
static int set_log_path(struct parser *p, char *v)
{
    return want_abs_or_empty(p, v, &p->spec->log_path);
}
static int set_oom_v1(struct parser *p, char *v)
{
    return want_abs_or_empty(p, v, &p->spec->oom_v1_control);
}
static int set_oom_v2(struct parser *p, char *v)
{
    return want_abs_or_empty(p, v, &p->spec->oom_v2_events);
}
static int set_ns_net(struct parser *p, char *v)
{
    return want_ns(p, v, &p->spec->ns_net);
}
static int set_ns_ipc(struct parser *p, char *v)
{
    return want_ns(p, v, &p->spec->ns_ipc);
}
static int set_ns_uts(struct parser *p, char *v)
{
    return want_ns(p, v, &p->spec->ns_uts);
}
static int set_tty(struct parser *p, char *v)
{
    return want_bool(p, v, &p->spec->tty);
}
static int set_stdin(struct parser *p, char *v)
{
    return want_bool(p, v, &p->spec->stdin_open);
}
static int set_stdin_once(struct parser *p, char *v)
{
    return want_bool(p, v, &p->spec->stdin_once);
}
static int set_nnp(struct parser *p, char *v)
{
    return want_bool(p, v, &p->spec->no_new_privs);
}

static int set_ns_pid(struct parser *p, char *v)
{
    return strcmp(v, "new") == 0 ? (p->spec->ns_pid = v, 0) : want_ns(p, v, &p->spec->ns_pid);
}

static int set_ns_cgroup(struct parser *p, char *v)
{
    if (strcmp(v, "new") != 0 && strcmp(v, "host") != 0)
        return bad(p, "ns.cgroup '%s' is not new or host", v);
    p->spec->ns_cgroup_new = strcmp(v, "new") == 0;
    return 0;
}

static int set_arg(struct parser *p, char *v)
{
    return push_string(p, &p->spec->args, &p->spec->n_args, SPEC_MAX_LIST, v);
}

static int set_env(struct parser *p, char *v)
{
    if (v[0] == '=' || strchr(v, '=') == NULL)
        return bad(p, "env '%s' is not KEY=VALUE", v);
    return push_string(p, &p->spec->env, &p->spec->n_env, SPEC_MAX_LIST, v);
}

static int set_cgroup_procs(struct parser *p, char *v)
{
    if (v[0] != '/')
        return bad(p, "'%s' is not an absolute path", v);
    return push_string(p, &p->spec->cgroup_procs, &p->spec->n_cgroup_procs, SPEC_MAX_RECORDS, v);
}

static int set_masked(struct parser *p, char *v)
{
    if (v[0] != '/')
        return bad(p, "'%s' is not an absolute path", v);
    return push_string(p, &p->spec->masked, &p->spec->n_masked, SPEC_MAX_RECORDS, v);
}

static int set_readonly(struct parser *p, char *v)
{
    if (v[0] != '/')
        return bad(p, "'%s' is not an absolute path", v);
    return push_string(p, &p->spec->readonly, &p->spec->n_readonly, SPEC_MAX_RECORDS, v);
}

static int set_readonly_rootfs(struct parser *p, char *v)
{
    return want_bool(p, v, &p->spec->readonly_rootfs);
}

static int set_id_value(struct parser *p, const char *v, uint32_t *ret)
{
    unsigned long n;
    if (want_uint(p, v, 10, UINT32_MAX - 1, &n) < 0) /* (uid_t)-1 means "unchanged" to the kernel */
        return -1;
    *ret = (uint32_t)n;
    return 0;
}

static int set_uid(struct parser *p, char *v)
{
    return set_id_value(p, v, &p->spec->uid);
}
static int set_gid(struct parser *p, char *v)
{
    return set_id_value(p, v, &p->spec->gid);
}

static int set_group(struct parser *p, char *v)
{
    struct mon_spec *s = p->spec;
    uint32_t gid;
    if (set_id_value(p, v, &gid) < 0 || push(p, &s->groups, &s->n_groups, sizeof(gid_t), NGROUPS_MAX, 0) < 0)
        return -1;
    s->groups[s->n_groups - 1] = gid;
    return 0;
}

static int set_ambient(struct parser *p, char *v)
{
    char *end;
    errno = 0;
    unsigned long long mask = strtoull(v, &end, 16);
    if (!v[0] || *end || errno || strlen(v) > 16)
        return bad(p, "capabilities.ambient '%s' is not a hex mask of at most 64 bits", v);
    p->spec->ambient_capabilities = (uint64_t)mask;
    return 0;
}

static int set_capabilities(struct parser *p, char *v)
{
    char *end;
    errno = 0;
    unsigned long long mask = strtoull(v, &end, 16);
    if (v[0] == '\0' || *end != '\0' || errno != 0 || strlen(v) > 16)
        return bad(p, "capabilities '%s' is not a hex mask of at most 64 bits", v);
    p->spec->has_capabilities = true;
    p->spec->capabilities = (uint64_t)mask;
    return 0;
}

static int set_oom_score_adj(struct parser *p, char *v)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (v[0] == '\0' || *end != '\0' || errno != 0 || n < -1000 || n > 1000)
        return bad(p, "oom_score_adj '%s' is not an integer in -1000..1000", v);
    p->spec->has_oom_score_adj = true;
    p->spec->oom_score_adj = (int)n;
    return 0;
}

static int set_max_line(struct parser *p, char *v)
{
    unsigned long n;
    if (want_uint(p, v, 10, 1 << 20, &n) < 0)
        return -1;
    if (n == 0)
        return bad(p, "log.max_line must be at least 1");
    p->spec->log_max_line = n;
    return 0;
}

/* check_placement has made sure a record exists. */
static struct mon_mount *cur_mount(struct parser *p)
{
    return &p->spec->mounts[p->spec->n_mounts - 1];
}

static int set_mount_destination(struct parser *p, char *v)
{
    struct mon_spec *s = p->spec;
    if (v[0] != '/')
        return bad(p, "'%s' is not an absolute path", v);
    if (push(p, &s->mounts, &s->n_mounts, sizeof *s->mounts, SPEC_MAX_RECORDS, 0) < 0)
        return -1;
    s->mounts[s->n_mounts - 1] = (struct mon_mount){.destination = v, .line = p->line};
    return 0;
}

static int set_mount_source(struct parser *p, char *v)
{
    if (v[0] == '\0')
        return bad(p, "empty mount.source");
    cur_mount(p)->source = v;
    return 0;
}

static int set_mount_type(struct parser *p, char *v)
{
    static const char *const types[] = {"bind", "tmpfs", "proc", "sysfs", "mqueue", "devpts"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(v, types[i]) == 0) {
            cur_mount(p)->type = v;
            return 0;
        }
    return bad(p, "mount.type '%s' is not one of bind, tmpfs, proc, sysfs, mqueue, devpts", v);
}

static int set_mount_options(struct parser *p, char *v)
{
    cur_mount(p)->options = v;
    return 0;
}

static int set_mount_propagation(struct parser *p, char *v)
{
    if (strcmp(v, "private") != 0 && strcmp(v, "rslave") != 0 && strcmp(v, "rshared") != 0)
        return bad(p, "mount.propagation '%s' is not private, rslave or rshared", v);
    cur_mount(p)->propagation = v;
    return 0;
}

static int set_mount_recursive_ro(struct parser *p, char *v)
{
    return want_bool(p, v, &cur_mount(p)->recursive_ro);
}

static int set_mount_idmap(struct parser *p, char *v)
{
    return want_bool(p, v, &cur_mount(p)->idmap);
}

static int set_ns_user(struct parser *p, char *v)
{
    return want_abs(p, v, &p->spec->ns_user);
}

static int set_userns_id(struct parser *p, char *v, uint32_t *ret)
{
    unsigned long n;
    if (want_uint(p, v, 10, UINT32_MAX - 1, &n) < 0)
        return -1;
    *ret = (uint32_t)n;
    return 0;
}
static int set_userns_uid(struct parser *p, char *v)
{
    return set_userns_id(p, v, &p->spec->userns_uid);
}
static int set_userns_gid(struct parser *p, char *v)
{
    return set_userns_id(p, v, &p->spec->userns_gid);
}

static struct mon_device *cur_device(struct parser *p)
{
    return &p->spec->devices[p->spec->n_devices - 1];
}

static int set_device_path(struct parser *p, char *v)
{
    struct mon_spec *s = p->spec;
    if (strncmp(v, "/dev/", 5) != 0 || v[5] == '\0')
        return bad(p, "device.path '%s' is not under /dev", v);
    if (push(p, &s->devices, &s->n_devices, sizeof *s->devices, SPEC_MAX_RECORDS, 0) < 0)
        return -1;
    s->devices[s->n_devices - 1] = (struct mon_device){
        .path = v, .mode = 0666, .major = UINT_MAX, .minor = UINT_MAX /* "not given" */, .line = p->line};
    return 0;
}

static int set_device_type(struct parser *p, char *v)
{
    if (strcmp(v, "c") != 0 && strcmp(v, "b") != 0)
        return bad(p, "device.type '%s' is not c or b", v);
    cur_device(p)->type = v[0];
    return 0;
}

static int set_device_number(struct parser *p, const char *v, unsigned long max, unsigned *ret)
{
    unsigned long n;
    if (want_uint(p, v, 10, max, &n) < 0)
        return -1;
    *ret = (unsigned)n;
    return 0;
}

static int set_device_major(struct parser *p, char *v)
{
    return set_device_number(p, v, 4095, &cur_device(p)->major);
}
static int set_device_minor(struct parser *p, char *v)
{
    return set_device_number(p, v, (1 << 20) - 1, &cur_device(p)->minor);
}
static int set_device_uid(struct parser *p, char *v)
{
    return set_id_value(p, v, &cur_device(p)->uid);
}
static int set_device_gid(struct parser *p, char *v)
{
    return set_id_value(p, v, &cur_device(p)->gid);
}

static int set_device_mode(struct parser *p, char *v)
{
    unsigned long n;
    if (want_uint(p, v, 8, 07777, &n) < 0)
        return -1;
    cur_device(p)->mode = (mode_t)n;
    return 0;
}

static const struct key keys[] = {
    {SPEC_KEY_ID, KEY_SCALAR, set_id},
    {SPEC_KEY_ROOTFS_LOWER, KEY_LIST, set_lower},
    {SPEC_KEY_ROOTFS_UPPER, KEY_SCALAR, set_upper},
    {SPEC_KEY_ROOTFS_WORK, KEY_SCALAR, set_work},
    {SPEC_KEY_ROOTFS_MOUNTPOINT, KEY_SCALAR, set_mountpoint},
    {SPEC_KEY_ARG, KEY_LIST, set_arg},
    {SPEC_KEY_ENV, KEY_LIST, set_env},
    {SPEC_KEY_CWD, KEY_SCALAR, set_cwd},
    {SPEC_KEY_UID, KEY_SCALAR, set_uid},
    {SPEC_KEY_GID, KEY_SCALAR, set_gid},
    {SPEC_KEY_GROUP, KEY_LIST, set_group},
    {SPEC_KEY_TTY, KEY_SCALAR, set_tty},
    {SPEC_KEY_STDIN, KEY_SCALAR, set_stdin},
    {SPEC_KEY_STDIN_ONCE, KEY_SCALAR, set_stdin_once},
    {SPEC_KEY_NS_NET, KEY_SCALAR, set_ns_net},
    {SPEC_KEY_NS_IPC, KEY_SCALAR, set_ns_ipc},
    {SPEC_KEY_NS_UTS, KEY_SCALAR, set_ns_uts},
    {SPEC_KEY_NS_PID, KEY_SCALAR, set_ns_pid},
    {SPEC_KEY_MOUNT_DESTINATION, KEY_LIST, set_mount_destination},
    {SPEC_KEY_MOUNT_SOURCE, KEY_MOUNT, set_mount_source},
    {SPEC_KEY_MOUNT_TYPE, KEY_MOUNT, set_mount_type},
    {SPEC_KEY_MOUNT_OPTIONS, KEY_MOUNT, set_mount_options},
    {SPEC_KEY_MOUNT_PROPAGATION, KEY_MOUNT, set_mount_propagation},
    {SPEC_KEY_MOUNT_RECURSIVE_RO, KEY_MOUNT, set_mount_recursive_ro},
    {SPEC_KEY_MOUNT_IDMAP, KEY_MOUNT, set_mount_idmap},
    {SPEC_KEY_NS_USER, KEY_SCALAR, set_ns_user},
    {SPEC_KEY_NS_CGROUP, KEY_SCALAR, set_ns_cgroup},
    {SPEC_KEY_USERNS_UID, KEY_SCALAR, set_userns_uid},
    {SPEC_KEY_USERNS_GID, KEY_SCALAR, set_userns_gid},
    {SPEC_KEY_DEVICE_PATH, KEY_LIST, set_device_path},
    {SPEC_KEY_DEVICE_TYPE, KEY_DEVICE, set_device_type},
    {SPEC_KEY_DEVICE_MAJOR, KEY_DEVICE, set_device_major},
    {SPEC_KEY_DEVICE_MINOR, KEY_DEVICE, set_device_minor},
    {SPEC_KEY_DEVICE_MODE, KEY_DEVICE, set_device_mode},
    {SPEC_KEY_DEVICE_UID, KEY_DEVICE, set_device_uid},
    {SPEC_KEY_DEVICE_GID, KEY_DEVICE, set_device_gid},
    {SPEC_KEY_CGROUP_PROCS, KEY_LIST, set_cgroup_procs},
    {SPEC_KEY_OOM_SCORE_ADJ, KEY_SCALAR, set_oom_score_adj},
    {SPEC_KEY_NO_NEW_PRIVS, KEY_SCALAR, set_nnp},
    {SPEC_KEY_CAPABILITIES, KEY_SCALAR, set_capabilities},
    {SPEC_KEY_CAPABILITIES_AMBIENT, KEY_SCALAR, set_ambient},
    {SPEC_KEY_MASKED, KEY_LIST, set_masked},
    {SPEC_KEY_READONLY, KEY_LIST, set_readonly},
    {SPEC_KEY_READONLY_ROOTFS, KEY_SCALAR, set_readonly_rootfs},
    {SPEC_KEY_LOG_PATH, KEY_SCALAR, set_log_path},
    {SPEC_KEY_LOG_MAX_LINE, KEY_SCALAR, set_max_line},
    {SPEC_KEY_EXIT_FILE, KEY_SCALAR, set_exit_file},
    {SPEC_KEY_ATTACH_SOCKET, KEY_SCALAR, set_attach_socket},
    {SPEC_KEY_APPARMOR_PROFILE, KEY_SCALAR, set_apparmor},
    {SPEC_KEY_SECCOMP_PATH, KEY_SCALAR, set_seccomp_path},
    {SPEC_KEY_SECCOMP_FLAGS, KEY_SCALAR, set_seccomp_flags},
    {SPEC_KEY_SELINUX_LABEL, KEY_SCALAR, set_selinux},
    {SPEC_KEY_OOM_V1_CONTROL, KEY_SCALAR, set_oom_v1},
    {SPEC_KEY_OOM_V2_EVENTS, KEY_SCALAR, set_oom_v2},
};
_Static_assert(sizeof keys / sizeof *keys <= 64, "struct parser tracks keys in 64-bit masks");

/* `\\` and `\n` are the only escapes; the result is never longer, so it is written in place. */
static int unescape(struct parser *p, char *v)
{
    char *w = v;
    for (const char *r = v; *r != '\0'; r++) {
        if (*r != '\\') {
            *w++ = *r;
            continue;
        }
        r++;
        if (*r == '\\')
            *w++ = '\\';
        else if (*r == 'n')
            *w++ = '\n';
        else
            return bad(p, "bad escape '\\%c' (only \\\\ and \\n)", *r != '\0' ? *r : ' ');
    }
    *w = '\0';
    return 0;
}

/* Scalars may appear once; record fields once per record and only inside one. */
static int check_placement(struct parser *p, size_t index, const char *key)
{
    uint64_t bit = (uint64_t)1 << index;
    enum key_kind kind = keys[index].kind;
    if (kind == KEY_SCALAR && (p->seen & bit))
        return bad(p, "%s given twice", key);
    if (kind == KEY_MOUNT && p->spec->n_mounts == 0)
        return bad(p, "%s before any mount.destination", key);
    if (kind == KEY_DEVICE && p->spec->n_devices == 0)
        return bad(p, "%s before any device.path", key);
    if ((kind == KEY_MOUNT || kind == KEY_DEVICE) && (p->record_seen & bit))
        return bad(p, "%s given twice in one record", key);
    if (strcmp(key, SPEC_KEY_MOUNT_DESTINATION) == 0 || strcmp(key, SPEC_KEY_DEVICE_PATH) == 0)
        p->record_seen = 0;
    p->seen |= bit;
    p->record_seen |= bit;
    return 0;
}

static int parse_line(struct parser *p, char *line)
{
    char *space = strchr(line, ' ');
    if (space == NULL)
        return bad(p, "expected '<key> <value>'");
    *space = '\0';
    char *value = space + 1;
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        if (strcmp(line, keys[i].name) != 0)
            continue;
        if (check_placement(p, i, line) < 0 || unescape(p, value) < 0)
            return -1;
        return keys[i].set(p, value);
    }
    return bad(p, "unknown key '%s'", line);
}

static int parse_lines(struct parser *p, char *text, size_t len)
{
    if (memchr(text, '\0', len) != NULL)
        return hl_fail(0, "%s: contains a NUL byte", p->path);
    char *line = text;
    while (line < text + len) {
        p->line++;
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        if (nl == NULL)
            return bad(p, "no newline at the end (truncated file?)");
        if (nl - line > SPEC_MAX_LINE)
            return bad(p, "longer than %d bytes", SPEC_MAX_LINE);
        *nl = '\0';
        if (parse_line(p, line) < 0)
            return -1;
        line = nl + 1;
    }
    return 0;
}

static int check_mount(struct parser *p, struct mon_mount *m)
{
    static char no_options[] = "";
    p->line = m->line;
    if (m->type == NULL)
        return bad(p, "mount %s has no mount.type", m->destination);
    if (m->source == NULL && strcmp(m->type, "bind") == 0)
        return bad(p, "bind mount %s has no mount.source", m->destination);
    if (m->source == NULL)
        m->source = m->type;
    if (strcmp(m->type, "bind") == 0 && m->source[0] != '/')
        return bad(p, "bind mount source '%s' is not an absolute path", m->source);
    if (m->options == NULL)
        m->options = no_options;
    if (mon_mount_options_parse(m) < 0)
        return bad(p, "mount %s: %s", m->destination, hl_error());
    return 0;
}

static int check_device(struct parser *p, const struct mon_device *d)
{
    p->line = d->line;
    if (d->type == 0)
        return bad(p, "device %s has no device.type", d->path);
    if (d->major == UINT_MAX || d->minor == UINT_MAX)
        return bad(p, "device %s needs device.major and device.minor", d->path);
    return 0;
}

static int check_complete(struct parser *p)
{
    struct mon_spec *s = p->spec;
    const char *missing = s->id == NULL           ? SPEC_KEY_ID
                          : s->n_lowers == 0      ? SPEC_KEY_ROOTFS_LOWER
                          : s->upper == NULL      ? SPEC_KEY_ROOTFS_UPPER
                          : s->work == NULL       ? SPEC_KEY_ROOTFS_WORK
                          : s->mountpoint == NULL ? SPEC_KEY_ROOTFS_MOUNTPOINT
                          : s->n_args == 0        ? SPEC_KEY_ARG
                          : s->exit_file == NULL  ? SPEC_KEY_EXIT_FILE
                                                  : NULL;
    if (missing != NULL)
        return hl_fail(0, "%s: missing %s", p->path, missing);
    if (s->args[0][0] == '\0')
        return hl_fail(0, "%s: the first arg is empty", p->path);
    for (size_t i = 0; i < s->n_mounts; i++)
        if (check_mount(p, &s->mounts[i]) < 0)
            return -1;
    for (size_t i = 0; i < s->n_devices; i++)
        if (check_device(p, &s->devices[i]) < 0)
            return -1;
    return 0;
}

static void apply_defaults(struct mon_spec *s)
{
    static char slash[] = "/", host[] = "host", empty[] = "";
    static char *no_env[] = {NULL};
    s->cwd = s->cwd ? s->cwd : slash;
    s->ns_net = s->ns_net ? s->ns_net : host;
    s->ns_ipc = s->ns_ipc ? s->ns_ipc : host;
    s->ns_uts = s->ns_uts ? s->ns_uts : host;
    s->ns_pid = s->ns_pid ? s->ns_pid : host;
    s->ns_user = s->ns_user ? s->ns_user : empty;
    s->log_path = s->log_path ? s->log_path : empty;
    s->attach_socket = s->attach_socket ? s->attach_socket : empty;
    s->apparmor_profile = s->apparmor_profile ? s->apparmor_profile : empty;
    s->selinux_label = s->selinux_label ? s->selinux_label : empty;
    s->seccomp_path = s->seccomp_path ? s->seccomp_path : empty;
    s->oom_v1_control = s->oom_v1_control ? s->oom_v1_control : empty;
    s->oom_v2_events = s->oom_v2_events ? s->oom_v2_events : empty;
    s->log_max_line = s->log_max_line ? s->log_max_line : MON_DEFAULT_MAX_LINE;
    s->env = s->env ? s->env : no_env;
}

static char *read_spec_file(const char *path, size_t *ret_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        hl_fail(errno, "open %s", path);
        goto fail;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > SPEC_MAX_FILE) {
        hl_fail(0, "%s: not a regular file of at most %d bytes", path, SPEC_MAX_FILE);
        goto fail;
    }
    char *text = malloc((size_t)st.st_size + 1);
    ssize_t n = text ? read(fd, text, (size_t)st.st_size + 1) : -1;
    if (n != st.st_size) {
        hl_fail(n < 0 ? errno : 0, "read %s%s", path, n < 0 ? "" : ": size changed while reading");
        free(text);
        goto fail;
    }
    close(fd);
    *ret_len = (size_t)n;
    return text;
fail:
    if (fd >= 0)
        close(fd);
    return NULL;
}

int mon_spec_load(const char *path, struct mon_spec *ret_spec)
{
    struct parser p = {.spec = ret_spec, .path = path};
    size_t len;
    memset(ret_spec, 0, sizeof *ret_spec);
    ret_spec->file = read_spec_file(path, &len);
    if (ret_spec->file == NULL)
        return -1;
    if (parse_lines(&p, ret_spec->file, len) < 0 || check_complete(&p) < 0) {
        mon_spec_free(ret_spec);
        return -1;
    }
    apply_defaults(ret_spec);
    return 0;
}

void mon_spec_free(struct mon_spec *spec)
{
    free(spec->file);
    free(spec->lowers);
    free(spec->args);
    if (spec->n_env > 0)
        free(spec->env);
    free(spec->groups);
    free(spec->mounts);
    free(spec->devices);
    free(spec->cgroup_procs);
    free(spec->masked);
    free(spec->readonly);
    memset(spec, 0, sizeof *spec);
}
