/* Named crash points: places inside multi-step operations (RunPodSandbox, CreateContainer,
 * StartContainer, removals, pulls) where the fault-injection suite kills crispd, to prove that
 * start-up finishes or rolls back whatever a crash left half-done.
 *
 * The production crispd never sets the hook: a crash point costs one load and a predicted branch.
 * The test build (build/crispd-test, server/test_hooks.c) sets it when CRISP_TEST_HOOKS=1 and
 * CRISP_CRASH_AT names a point; crispd then dies with SIGKILL the Nth time it passes that point. */
#ifndef CRISP_COMMON_CRASH_POINT_H
#define CRISP_COMMON_CRASH_POINT_H

extern void (*crisp_crash_point_hook)(const char *name);

/* name: "<operation>.<step>", e.g. "pod.after_cni_add"; test/e2e lists the ones it covers. */
static inline void crisp_crash_point(const char *name)
{
    if (__builtin_expect(crisp_crash_point_hook != 0, 0))
        crisp_crash_point_hook(name);
}

#endif
