/* Localhost seccomp profiles: the JSON of Docker's profiles (moby's default.json is one), which is the
 * OCI runtime-spec's linux.seccomp plus names lists, includes/excludes and archMap. */
#define _GNU_SOURCE
#include "runtime/seccomp/seccomp_internal.h"

#include "common/arena.h"
#include "common/cleanup.h"
#include "common/file.h"
#include "common/json.h"
#include "runtime/caps.h"

#include <ctype.h>
#include <errno.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <yajl/yajl_tree.h>

/* Far beyond real profiles (moby's has ~30 rules, ~400 names), well below what costs crispd much. */
#define MAX_RULES 1024
#define MAX_LIST 1024
#define MAX_NAMES 8192 /* over all rules: each costs libseccomp work per architecture */
#define MAX_JSON_DEPTH 16
/* Sizes of the buffers that name where in the profile an error is: each level's fits the one above. */
#define WHERE_RULE 32
#define WHERE_FIELD 96

struct parser {
    struct arena arena;
    size_t n_names;
    size_t n_arches;
    uint32_t arches[RT_SECCOMP_MAX_ARCHES];
};

static const struct {
    const char *name;
    uint32_t action;
    bool takes_value; /* errnoRet: the errno for ERRNO, the tracer's message for TRACE */
} actions[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL, false},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, false},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, false},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, false},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), true},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), true},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, false},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, false},
};

static const struct {
    const char *name;
    enum scmp_compare op;
} ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static void yajl_tree_freep(yajl_val *v)
{
    yajl_tree_free(*v);
}

/* A member of an object; JSON null counts as absent (Docker writes "subArchitectures": null). */
static yajl_val member(yajl_val obj, const char *key)
{
    for (size_t i = 0; i < obj->u.object.len; i++)
        if (strcmp(obj->u.object.keys[i], key) == 0)
            return YAJL_IS_NULL(obj->u.object.values[i]) ? NULL : obj->u.object.values[i];
    return NULL;
}

static const char *type_name(yajl_type t)
{
    switch (t) {
    case yajl_t_string:
        return "a string";
    case yajl_t_number:
        return "a number";
    case yajl_t_object:
        return "an object";
    case yajl_t_array:
        return "an array";
    default:
        return "a boolean";
    }
}

/* "where.key", or just "key" at the top level. */
static const char *field_path(char *buf, size_t size, const char *where, const char *key)
{
    snprintf(buf, size, "%s%s%s", where, *where ? "." : "", key);
    return buf;
}

/* The member key of obj, which must be of type t when present; *ret is NULL when absent. */
static int get(yajl_val obj, const char *where, const char *key, yajl_type t, yajl_val *ret,
               crisp_error_t **err)
{
    char at[WHERE_FIELD + 32];
    yajl_val v = member(obj, key);
    if (v && v->type != t)
        return crisp_error_make(err, EINVAL, "%s: expected %s", field_path(at, sizeof(at), where, key),
                                type_name(t));
    if (t == yajl_t_array && v && v->u.array.len > MAX_LIST)
        return crisp_error_make(err, EINVAL, "%s: more than %d entries",
                                field_path(at, sizeof(at), where, key), MAX_LIST);
    *ret = v;
    return 0;
}

static int get_str(yajl_val obj, const char *where, const char *key, const char **ret, crisp_error_t **err)
{
    yajl_val v;
    if (get(obj, where, key, yajl_t_string, &v, err) < 0)
        return -1;
    *ret = v ? v->u.string : NULL;
    return 0;
}

/* JSON numbers as uint64: yajl keeps the text, which holds values beyond a long long. */
static int number_u64(yajl_val v, const char *where, uint64_t max, uint64_t *ret, crisp_error_t **err)
{
    const char *s = v->u.number.r;
    char *end = NULL;
    errno = 0;
    unsigned long long n = isdigit((unsigned char)*s) ? strtoull(s, &end, 10) : 0;
    if (!end || *end || errno || n > max)
        return crisp_error_make(err, EINVAL, "%s: %.32s is not an integer in 0..%llu", where, s,
                                (unsigned long long)max);
    *ret = n;
    return 0;
}

static int get_u64(yajl_val obj, const char *where, const char *key, uint64_t max, uint64_t *ret,
                   crisp_error_t **err)
{
    yajl_val v;
    char at[WHERE_FIELD + 32];
    if (get(obj, where, key, yajl_t_number, &v, err) < 0)
        return -1;
    return v ? number_u64(v, field_path(at, sizeof(at), where, key), max, ret, err) : 0;
}

/* A NULL-terminated vector of the array's strings, borrowed from the tree. */
static int strv_of(struct parser *p, yajl_val arr, const char *where, const char *const **ret,
                   crisp_error_t **err)
{
    const char **v = arena_alloc(&p->arena, (arr->u.array.len + 1) * sizeof(char *));
    if (!v)
        return crisp_error_oom_in(err, "%s", where);
    for (size_t i = 0; i < arr->u.array.len; i++) {
        if (!YAJL_IS_STRING(arr->u.array.values[i]))
            return crisp_error_make(err, EINVAL, "%s[%zu]: expected a string", where, i);
        v[i] = arr->u.array.values[i]->u.string;
    }
    *ret = v;
    return 0;
}

static int parse_action(yajl_val obj, const char *where, const char *key, const char *errno_key,
                        uint32_t *ret, crisp_error_t **err)
{
    const char *name;
    char at[WHERE_FIELD + 32];
    uint64_t value = EPERM;
    bool has_value = member(obj, errno_key) != NULL;
    if (get_str(obj, where, key, &name, err) < 0 || get_u64(obj, where, errno_key, 4095, &value, err) < 0)
        return -1;
    field_path(at, sizeof(at), where, key);
    if (!name)
        return crisp_error_make(err, EINVAL, "%s: missing", at);
    if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
        return crisp_error_make(err, EINVAL, "%s: SCMP_ACT_NOTIFY is not supported", at);
    for (size_t i = 0; i < ARRAY_SIZE(actions); i++) {
        if (strcmp(name, actions[i].name) != 0)
            continue;
        if (has_value && !actions[i].takes_value)
            return crisp_error_make(err, EINVAL, "%s: %s takes no %s",
                                    field_path(at, sizeof(at), where, errno_key), name, errno_key);
        *ret = actions[i].takes_value ? actions[i].action | (uint32_t)value : actions[i].action;
        return 0;
    }
    return crisp_error_make(err, EINVAL, "%s: unknown action \"%.64s\"", at, name);
}

static int parse_op(yajl_val obj, const char *where, enum scmp_compare *ret, crisp_error_t **err)
{
    const char *name;
    if (get_str(obj, where, "op", &name, err) < 0)
        return -1;
    if (!name)
        return crisp_error_make(err, EINVAL, "%s.op: missing", where);
    for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
        if (strcmp(name, ops[i].name) == 0) {
            *ret = ops[i].op;
            return 0;
        }
    return crisp_error_make(err, EINVAL, "%s.op: unknown operator \"%.64s\"", where, name);
}

static int parse_arg(yajl_val v, const char *where, struct scmp_arg_cmp *ret, crisp_error_t **err)
{
    uint64_t index = 0, value = 0, value_two = 0;
    enum scmp_compare op = SCMP_CMP_EQ;
    if (!YAJL_IS_OBJECT(v))
        return crisp_error_make(err, EINVAL, "%s: expected an object", where);
    if (!member(v, "index"))
        return crisp_error_make(err, EINVAL, "%s.index: missing", where);
    if (get_u64(v, where, "index", RT_SECCOMP_MAX_ARGS - 1, &index, err) < 0 ||
        get_u64(v, where, "value", UINT64_MAX, &value, err) < 0 ||
        get_u64(v, where, "valueTwo", UINT64_MAX, &value_two, err) < 0 || parse_op(v, where, &op, err) < 0)
        return -1;
    *ret = (struct scmp_arg_cmp){
        .arg = (unsigned int)index, .op = op, .datum_a = value, .datum_b = value_two};
    return 0;
}

static int parse_args(yajl_val rule, const char *where, struct rt_seccomp_rule *r, crisp_error_t **err)
{
    yajl_val args;
    if (get(rule, where, "args", yajl_t_array, &args, err) < 0)
        return -1;
    if (!args)
        return 0;
    if (args->u.array.len > RT_SECCOMP_MAX_ARGS)
        return crisp_error_make(err, EINVAL, "%s.args: %zu conditions, at most %d", where, args->u.array.len,
                                RT_SECCOMP_MAX_ARGS);
    for (size_t i = 0; i < args->u.array.len; i++) {
        char at[WHERE_FIELD];
        snprintf(at, sizeof(at), "%s.args[%zu]", where, i);
        if (parse_arg(args->u.array.values[i], at, &r->args[i], err) < 0)
            return -1;
    }
    r->n_args = (unsigned int)args->u.array.len;
    return 0;
}

/* "name" (older profiles) or "names", not both. */
static int parse_names(struct parser *p, yajl_val rule, const char *where, struct rt_seccomp_rule *r,
                       crisp_error_t **err)
{
    yajl_val names, name;
    char at[WHERE_FIELD];
    if (get(rule, where, "names", yajl_t_array, &names, err) < 0 ||
        get(rule, where, "name", yajl_t_string, &name, err) < 0)
        return -1;
    if (names && name)
        return crisp_error_make(err, EINVAL, "%s: both name and names given", where);
    if (!names && !name)
        return crisp_error_make(err, EINVAL, "%s: no names", where);
    p->n_names += names ? names->u.array.len : 1;
    if (p->n_names > MAX_NAMES)
        return crisp_error_make(err, EINVAL, "%s: more than %d syscall names in the profile", where,
                                MAX_NAMES);
    if (name) {
        const char **v = arena_alloc(&p->arena, 2 * sizeof(char *));
        if (!v)
            return crisp_error_oom_in(err, "%s", where);
        v[0] = name->u.string;
        r->names = v;
        return 0;
    }
    snprintf(at, sizeof(at), "%s.names", where);
    return strv_of(p, names, at, &r->names, err);
}

static int parse_caps(yajl_val caps, const char *where, uint64_t *ret, crisp_error_t **err)
{
    for (size_t i = 0; i < caps->u.array.len; i++) {
        yajl_val c = caps->u.array.values[i];
        if (!YAJL_IS_STRING(c))
            return crisp_error_make(err, EINVAL, "%s[%zu]: expected a string", where, i);
        int n = rt_caps_number(c->u.string);
        if (n < 0)
            return crisp_error_make(err, EINVAL, "%s[%zu]: unknown capability \"%.64s\"", where, i,
                                    c->u.string);
        *ret |= 1ULL << n;
    }
    return 0;
}

static int kernel_major, kernel_minor;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

/* The running kernel can't change while crispd runs: read once. */
static void read_kernel_version(void)
{
    struct utsname u;
    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &kernel_major, &kernel_minor) != 2)
        kernel_major = kernel_minor = 0;
}

/* Docker's minKernel, "major.minor" (a patch level after it is ignored), against the running kernel. */
static int kernel_at_least(const char *min, const char *where, bool *ret, crisp_error_t **err)
{
    int want_major, want_minor, end = 0;
    if (sscanf(min, "%d.%d%n", &want_major, &want_minor, &end) != 2 || want_major < 0 || want_minor < 0 ||
        (min[end] && min[end] != '.'))
        return crisp_error_make(err, EINVAL, "%s: \"%.32s\" is not a kernel version such as \"4.8\"", where,
                                min);
    pthread_once(&kernel_once, read_kernel_version);
    *ret = kernel_major > want_major || (kernel_major == want_major && kernel_minor >= want_minor);
    return 0;
}

/* includes (all must hold) or excludes (any excludes the rule); *ret_skip when the host decides it. */
static int parse_condition(struct parser *p, yajl_val rule, const char *where, bool include,
                           struct rt_seccomp_rule *r, bool *ret_skip, crisp_error_t **err)
{
    const char *key = include ? "includes" : "excludes", *min_kernel;
    char at[WHERE_FIELD];
    yajl_val cond, caps, arches;
    bool recent = false;
    if (get(rule, where, key, yajl_t_object, &cond, err) < 0)
        return -1;
    if (!cond)
        return 0;
    snprintf(at, sizeof(at), "%s.%s", where, key);
    if (get(cond, at, "caps", yajl_t_array, &caps, err) < 0 ||
        get(cond, at, "arches", yajl_t_array, &arches, err) < 0 ||
        get_str(cond, at, "minKernel", &min_kernel, err) < 0)
        return -1;
    size_t len = strlen(at);
    snprintf(at + len, sizeof(at) - len, ".caps");
    if (caps && parse_caps(caps, at, include ? &r->caps_all : &r->caps_none, err) < 0)
        return -1;
    snprintf(at + len, sizeof(at) - len, ".arches");
    if (arches && strv_of(p, arches, at, include ? &r->arches : &r->not_arches, err) < 0)
        return -1;
    snprintf(at + len, sizeof(at) - len, ".minKernel");
    if (min_kernel && kernel_at_least(min_kernel, at, &recent, err) < 0)
        return -1;
    *ret_skip |= min_kernel && recent != include;
    return 0;
}

static int parse_rule(struct parser *p, yajl_val rule, size_t i, struct rt_seccomp_rule *r, bool *ret_skip,
                      crisp_error_t **err)
{
    char where[WHERE_RULE];
    snprintf(where, sizeof(where), "syscalls[%zu]", i);
    if (!YAJL_IS_OBJECT(rule))
        return crisp_error_make(err, EINVAL, "%s: expected an object", where);
    *ret_skip = false;
    if (parse_names(p, rule, where, r, err) < 0 ||
        parse_action(rule, where, "action", "errnoRet", &r->action, err) < 0 ||
        parse_args(rule, where, r, err) < 0 || parse_condition(p, rule, where, true, r, ret_skip, err) < 0 ||
        parse_condition(p, rule, where, false, r, ret_skip, err) < 0)
        return -1;
    return 0;
}

static int parse_rules(struct parser *p, yajl_val root, struct rt_seccomp_profile *ret, crisp_error_t **err)
{
    yajl_val list;
    if (get(root, "", "syscalls", yajl_t_array, &list, err) < 0)
        return -1;
    size_t n = list ? list->u.array.len : 0;
    if (n > MAX_RULES)
        return crisp_error_make(err, EINVAL, "syscalls: %zu rules, at most %d", n, MAX_RULES);
    struct rt_seccomp_rule *rules = arena_alloc(&p->arena, (n ? n : 1) * sizeof(*rules));
    if (!rules)
        return crisp_error_oom_in(err, "syscalls");
    for (size_t i = 0; i < n; i++) {
        bool skip;
        if (parse_rule(p, list->u.array.values[i], i, &rules[i], &skip, err) < 0)
            return -1;
        /* A rule this host rules out stays as an empty slot: compile errors keep the profile's indexes. */
        if (skip)
            rules[i] = (struct rt_seccomp_rule){0};
    }
    ret->rules = rules;
    ret->n_rules = n;
    return 0;
}

/* "SCMP_ARCH_X86_64" is libseccomp's "x86_64"; *ret is 0 for an architecture libseccomp doesn't know. */
static int arch_token_of(const char *name, const char *where, uint32_t *ret, crisp_error_t **err)
{
    char lower[32];
    size_t len = strlen(name);
    if (strncmp(name, "SCMP_ARCH_", 10) != 0 || len - 10 >= sizeof(lower))
        return crisp_error_make(err, EINVAL, "%s: unknown architecture \"%.64s\"", where, name);
    for (size_t i = 10; i <= len; i++)
        lower[i - 10] = (char)tolower((unsigned char)name[i]);
    *ret = seccomp_arch_resolve_name(lower);
    return 0;
}

/* Architectures libseccomp doesn't know are left out, as unknown syscall names are: profiles list them
 * for every platform. The native one is always in the filter. */
static int add_arch(struct parser *p, const char *name, const char *where, crisp_error_t **err)
{
    uint32_t token;
    if (arch_token_of(name, where, &token, err) < 0)
        return -1;
    if (!token || token == seccomp_arch_native())
        return 0;
    for (size_t i = 0; i < p->n_arches; i++)
        if (p->arches[i] == token)
            return 0;
    if (p->n_arches == RT_SECCOMP_MAX_ARCHES)
        return crisp_error_make(err, EINVAL, "%s: more than %d architectures", where, RT_SECCOMP_MAX_ARCHES);
    p->arches[p->n_arches++] = token;
    return 0;
}

static int add_arch_list(struct parser *p, yajl_val list, const char *where, crisp_error_t **err)
{
    for (size_t i = 0; list && i < list->u.array.len; i++) {
        char at[WHERE_FIELD];
        snprintf(at, sizeof(at), "%s[%zu]", where, i);
        yajl_val v = list->u.array.values[i];
        if (!YAJL_IS_STRING(v))
            return crisp_error_make(err, EINVAL, "%s: expected a string", at);
        if (add_arch(p, v->u.string, at, err) < 0)
            return -1;
    }
    return 0;
}

/* Docker's archMap: the entry for the host's architecture names the compat ABIs to cover too; the
 * other entries are for other hosts. */
static int parse_arch_map(struct parser *p, yajl_val map, crisp_error_t **err)
{
    for (size_t i = 0; i < map->u.array.len; i++) {
        char at[WHERE_FIELD];
        const char *arch;
        uint32_t token;
        yajl_val e = map->u.array.values[i], subs;
        snprintf(at, sizeof(at), "archMap[%zu]", i);
        if (!YAJL_IS_OBJECT(e))
            return crisp_error_make(err, EINVAL, "%s: expected an object", at);
        if (get_str(e, at, "architecture", &arch, err) < 0 ||
            get(e, at, "subArchitectures", yajl_t_array, &subs, err) < 0)
            return -1;
        if (!arch)
            return crisp_error_make(err, EINVAL, "%s.architecture: missing", at);
        if (arch_token_of(arch, at, &token, err) < 0)
            return -1;
        if (token == seccomp_arch_native()) {
            strncat(at, ".subArchitectures", sizeof(at) - strlen(at) - 1);
            return add_arch_list(p, subs, at, err);
        }
    }
    return 0;
}

static int parse_arches(struct parser *p, yajl_val root, crisp_error_t **err)
{
    yajl_val list, map;
    if (get(root, "", "architectures", yajl_t_array, &list, err) < 0 ||
        get(root, "", "archMap", yajl_t_array, &map, err) < 0)
        return -1;
    if (list && map)
        return crisp_error_make(err, EINVAL, "architectures and archMap: give one, not both");
    return map ? parse_arch_map(p, map, err) : add_arch_list(p, list, "architectures", err);
}

static int parse_flags(yajl_val root, unsigned int *ret, crisp_error_t **err)
{
    yajl_val list;
    if (get(root, "", "flags", yajl_t_array, &list, err) < 0)
        return -1;
    for (size_t i = 0; list && i < list->u.array.len; i++) {
        yajl_val v = list->u.array.values[i];
        const char *f = YAJL_IS_STRING(v) ? v->u.string : "";
        if (strcmp(f, "SECCOMP_FILTER_FLAG_LOG") == 0)
            *ret |= SECCOMP_FILTER_FLAG_LOG;
        else if (strcmp(f, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") == 0)
            *ret |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
        else if (strcmp(f, "SECCOMP_FILTER_FLAG_TSYNC") == 0)
            continue; /* the helpers load the filter while single-threaded */
        else if (!YAJL_IS_STRING(v))
            return crisp_error_make(err, EINVAL, "flags[%zu]: expected a string", i);
        else
            return crisp_error_make(err, EINVAL, "flags[%zu]: unsupported flag \"%.64s\"", i, f);
    }
    return 0;
}

static int parse_profile(struct parser *p, yajl_val root, struct rt_seccomp_profile *ret, crisp_error_t **err)
{
    const char *listener;
    if (!YAJL_IS_OBJECT(root))
        return crisp_error_make(err, EINVAL, "expected a JSON object");
    *ret = (struct rt_seccomp_profile){0};
    if (get_str(root, "", "listenerPath", &listener, err) < 0)
        return -1;
    if (listener && *listener)
        return crisp_error_make(err, EINVAL, "listenerPath: seccomp notify listeners are not supported");
    if (parse_action(root, "", "defaultAction", "defaultErrnoRet", &ret->default_action, err) < 0 ||
        parse_flags(root, &ret->flags, err) < 0 || parse_arches(p, root, err) < 0 ||
        parse_rules(p, root, ret, err) < 0)
        return -1;
    memcpy(ret->arches, p->arches, sizeof(p->arches));
    ret->n_arches = p->n_arches;
    return 0;
}

static void parser_fini(struct parser *p)
{
    arena_fini(&p->arena);
}

static int parse_text(const char *text, yajl_val *ret_root, crisp_error_t **err)
{
    char errbuf[256] = "";
    if (!json_nesting_ok(text, MAX_JSON_DEPTH))
        return crisp_error_make(err, EINVAL, "JSON nested deeper than %d levels", MAX_JSON_DEPTH);
    *ret_root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
    if (!*ret_root) {
        errbuf[strcspn(errbuf, "\n")] = '\0';
        return crisp_error_make(err, EINVAL, "invalid JSON: %s", errbuf);
    }
    return 0;
}

int rt_seccomp_compile_json(const char *json, size_t len, uint64_t caps, struct rt_seccomp_filter *ret,
                            crisp_error_t **err)
{
    if (len > RT_SECCOMP_PROFILE_MAX_SIZE)
        return crisp_error_make(err, EFBIG, "seccomp profile is larger than %d bytes",
                                RT_SECCOMP_PROFILE_MAX_SIZE);
    if (memchr(json, '\0', len))
        return crisp_error_make(err, EINVAL, "invalid JSON: a NUL byte");
    _cleanup_free_ char *text = strndup(json, len);
    _cleanup_(yajl_tree_freep) yajl_val root = NULL;
    _cleanup_(parser_fini) struct parser p = {0};
    struct rt_seccomp_profile profile;
    if (!text)
        return crisp_error_oom_in(err, "seccomp profile");
    if (parse_text(text, &root, err) < 0 || parse_profile(&p, root, &profile, err) < 0)
        return -1;
    return rt_seccomp_profile_compile(&profile, caps, ret, err);
}

int rt_seccomp_compile_file(const char *path, uint64_t caps, struct rt_seccomp_filter *ret,
                            crisp_error_t **err)
{
    _cleanup_free_ char *data = NULL;
    size_t len;
    if (file_read_bounded(path, RT_SECCOMP_PROFILE_MAX_SIZE, &data, &len, err) < 0)
        return crisp_error_wrap(err, "seccomp profile");
    if (rt_seccomp_compile_json(data, len, caps, ret, err) < 0)
        return crisp_error_wrap(err, "seccomp profile %s", path);
    return 0;
}
