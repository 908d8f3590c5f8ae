/* Private to runtime/cgroup*.c: the backend table cgroup.c dispatches to, and the file access,
 * directory walks, killing and write journal the backends share. */
#ifndef CRISP_RUNTIME_CGROUP_INTERNAL_H
#define CRISP_RUNTIME_CGROUP_INTERNAL_H

#include "runtime/cgroup/cgroup.h"
#include "runtime/cgroup/cgroup_devices.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define RT_CGROUP_PATH_MAX 4096

/* cgroup_path.c: path is "/" or "/a/b" with no empty, "." or ".." components. */
int rt_cgroup_path_check(const char *path, bool allow_root, crisp_error_t **err);
/* A systemd slice name as systemd accepts it (without escapes), and the path systemd gives it:
 * "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice", "-.slice" -> "/". */
bool rt_cgroup_slice_name_ok(const char *name);
int rt_cgroup_slice_path(const char *name, char **ret_path, crisp_error_t **err);

/* cgroup_fs.c. Interface files report size 0, so they are read until EOF rather than by size. */
char *rt_cgroup_join(const char *dir, const char *name); /* dir + "/" + name, NULL without memory */
char *rt_cgroup_dir(const char *base, const char *path); /* base + path, NULL without memory */
int rt_cgroup_read_file(const char *path, char **ret_text, crisp_error_t **err);
int rt_cgroup_write_file(const char *path, const char *value, crisp_error_t **err);
int rt_cgroup_read_pids(const char *dir, pid_t **ret_pids, size_t *ret_n, crisp_error_t **err);
bool rt_cgroup_has_word(const char *list, const char *word);
/* Child cgroups of dir, sorted; none when dir is missing. */
int rt_cgroup_list_subdirs(const char *dir, char ***ret_names, crisp_error_t **err);

/* Called for each component of a path being created, top down, right after its mkdir. */
typedef int (*rt_cgroup_step_fn)(const char *dir, int depth, bool created, crisp_error_t **err);

/* mkdir base+path component by component; *ret_created counts the trailing components made. On
 * failure what was made is removed again. */
int rt_cgroup_mkdir_walk(const char *base, const char *path, rt_cgroup_step_fn step, int *ret_created,
                         crisp_error_t **err);
/* rmdir base+path, then its parents: n directories at most, never base, stopping at one in use. */
void rt_cgroup_rmdir_up(const char *base, const char *path, int n);
/* Removes base+path with its sub-cgroups, then up to created_depth - 1 empty ancestors. */
int rt_cgroup_remove_at(const char *base, const char *path, int created_depth, crisp_error_t **err);

/* cgroup_kill.c */
int rt_cgroup_signal_tree(const char *dir, size_t *ret_found, crisp_error_t **err);
int rt_cgroup_kill_tree(const char *dir, int timeout_ms, crisp_error_t **err);

/* cgroup_undo.c: writes that remember the old value, so a failed apply can put them back. */
struct rt_cgroup_undo_entry {
    char *path;
    char *old;
};

struct rt_cgroup_undo {
    struct rt_cgroup_undo_entry *entries;
    size_t n;
};

int rt_cgroup_undo_write(struct rt_cgroup_undo *undo, const char *path, const char *value,
                         crisp_error_t **err);
void rt_cgroup_undo_rollback(struct rt_cgroup_undo *undo);
void rt_cgroup_undo_fini(struct rt_cgroup_undo *undo);

/* A backend, as crun's libcrun_cgroup_manager: one table per way of driving cgroups (cgroupfs on
 * v1, cgroupfs on v2; systemd scopes next, in cgroup_systemd.c, which can hand the file writes to
 * the table for root->mode). cgroup.c checks paths and resources before it calls a slot: a backend
 * sees only paths rt_cgroup_path_check accepts (the root "/" only in pids) and valid resources. */
struct rt_cgroup_ops {
    /* Fills ret_created (zeroed by the caller) with every hierarchy it looked at, 0 where nothing was made.
     */
    int (*create)(const struct rt_cgroup_root *root, const char *path, struct rt_cgroup_created *ret_created,
                  crisp_error_t **err);
    /* Writes through undo; the caller rolls it back when this fails. */
    int (*apply)(const struct rt_cgroup_root *root, const char *path, const struct rt_cgroup_resources *res,
                 struct rt_cgroup_undo *undo, crisp_error_t **err);
    /* Allows rt_cgroup_devices_default and extra_rules, nothing else. */
    int (*devices_restrict)(const struct rt_cgroup_root *root, const char *path, char *const *extra_rules,
                            crisp_error_t **err);
    int (*enter)(const struct rt_cgroup_root *root, const char *path, pid_t pid, crisp_error_t **err);
    int (*kill_all)(const struct rt_cgroup_root *root, const char *path, int timeout_ms, crisp_error_t **err);
    int (*remove)(const struct rt_cgroup_root *root, const char *path,
                  const struct rt_cgroup_created *created, crisp_error_t **err);
    int (*pids)(const struct rt_cgroup_root *root, const char *path, pid_t **ret_pids, size_t *ret_n,
                crisp_error_t **err);
    /* Optional (NULL: nothing to do): takes up resources applied by an earlier crispd. */
    int (*keep)(const struct rt_cgroup_root *root, const char *path, const struct rt_cgroup_resources *res,
                crisp_error_t **err);
    /* Next: stats (CPU, memory and pids usage of path), read from the cgroup's files on each call. */
};

extern const struct rt_cgroup_ops rt_cgroup_v1_ops, rt_cgroup_v2_ops, rt_cgroup_systemd_ops;

/* cgroup_v1.c: the v1 controllers crisp creates cgroups in (where mounted), for the backend and for
 * rt_cgroup_create_plan, which must look at the same ones. */
#define RT_CGROUP_V1_CONTROLLERS 9
extern const char *const rt_cgroup_v1_controllers[RT_CGROUP_V1_CONTROLLERS];
/* cgroup_systemd.c: closes the bus; NULL-safe. */
void rt_cgroup_systemd_free(struct rt_cgroup_systemd *s);
/* The cgroupfs backend for root->mode, which the systemd backend hands the file work to. */
const struct rt_cgroup_ops *rt_cgroup_files_ops(const struct rt_cgroup_root *root);

/* cgroup_systemd_unit.c: what the systemd driver asks of systemd, built without a bus (testable). */
enum rt_systemd_unit_kind { RT_SYSTEMD_NONE, RT_SYSTEMD_SLICE, RT_SYSTEMD_SCOPE };

/* The unit a cgroup path is: "x.slice" where systemd puts x.slice (its expansion), or "y.scope" right
 * below such a slice. Anything else is RT_SYSTEMD_NONE, a plain directory. *ret_parent is the slice
 * the unit lives in ("-.slice" at the top). */
int rt_systemd_unit_of(const char *path, enum rt_systemd_unit_kind *ret_kind, char **ret_unit,
                       char **ret_parent, crisp_error_t **err);

enum rt_systemd_prop_type {
    RT_PROP_BOOL,
    RT_PROP_U64,
    RT_PROP_STR,
    RT_PROP_BYTES,
    RT_PROP_PID,
    RT_PROP_PAIRS
};

/* One unit property as StartTransientUnit and SetUnitProperties take it: (sv). */
struct rt_systemd_prop {
    const char *name; /* static */
    enum rt_systemd_prop_type type;
    uint64_t u64; /* BOOL, U64 (UINT64_MAX: "infinity"), PID */
    char *str;
    uint8_t *bytes; /* a CPU or NUMA node bitmask, bit i of byte j = cpu 8j+i */
    size_t n_bytes;
    char **pairs; /* PAIRS, a(ss): NULL-terminated, two strings per entry */
};

#define RT_SYSTEMD_PROPS_MAX 32

struct rt_systemd_props {
    size_t n;
    struct rt_systemd_prop v[RT_SYSTEMD_PROPS_MAX];
};

void rt_systemd_props_fini(struct rt_systemd_props *p);
const struct rt_systemd_prop *rt_systemd_props_find(const struct rt_systemd_props *p, const char *name);
/* A container's scope: Delegate=yes in slice, started with pid as its first process. */
int rt_systemd_props_scope(struct rt_systemd_props *p, const char *slice, const char *description, pid_t pid,
                           crisp_error_t **err);
int rt_systemd_props_slice(struct rt_systemd_props *p, const char *description, crisp_error_t **err);
/* The resources as unit properties, so that systemd writes the same values crisp writes to the files
 * whenever it realizes the unit again (daemon-reload) instead of its defaults. */
int rt_systemd_props_resources(struct rt_systemd_props *p, enum rt_cgroup_mode mode,
                               const struct rt_cgroup_resources *res, crisp_error_t **err);
/* Whether rt_systemd_props_resources turns unified key = value into a property. */
bool rt_systemd_unified_has_property(const char *key, const char *value);
/* A container's device rules on cgroup v1 as DevicePolicy=strict and DeviceAllow=, so that systemd
 * writes the same list (or a narrower one: a rule it can't express is left out) whenever it applies
 * the scope's properties; without them it writes "a *:* rwm", opening every device. proc_devices is
 * /proc/devices' text: "char-pts" names a major whose minors are all allowed. */
int rt_systemd_props_devices(struct rt_systemd_props *p, const struct rt_device_rule *rules, size_t n,
                             const char *proc_devices, crisp_error_t **err);
/* "0-3,8" -> systemd's bitmask (AllowedCPUs=, AllowedMemoryNodes=). */
int rt_systemd_cpuset_mask(const char *list, uint8_t **ret_mask, size_t *ret_n, crisp_error_t **err);

/* cgroup_devices.c: the devices every container gets, as device cgroup v1 rules (NULL-terminated). */
extern const char *const rt_cgroup_devices_default[];
/* The default rules and then extra_rules, parsed, for a backend that enforces them itself (eBPF). */
int rt_cgroup_devices_rules(char *const *extra_rules, struct rt_device_rule **ret_rules, size_t *ret_n,
                            crisp_error_t **err);

/* cpu.shares (2..262144) to cpu.weight (1..10000), as runc and crun map them. */
uint64_t rt_cgroup_shares_to_weight(uint64_t shares);

#endif
