/* Happens-before edges ThreadSanitizer cannot see for itself: an object one thread fills and hands to
 * another through a library that is not instrumented (a gRPC completion queue tag travels through
 * gRPC's lock-free queues). No-ops in every other build. */
#ifndef CRISP_SANITIZER_H
#define CRISP_SANITIZER_H

#if defined(__SANITIZE_THREAD__)
#define CRISP_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CRISP_TSAN 1
#endif
#endif

#ifdef CRISP_TSAN
#include <sanitizer/tsan_interface.h>

/* What this thread wrote before handing p over ... */
static inline void crisp_handoff_release(void *p)
{
    __tsan_release(p);
}

/* ... is visible to the thread that received it. */
static inline void crisp_handoff_acquire(void *p)
{
    __tsan_acquire(p);
}
#else
static inline void crisp_handoff_release(void *p)
{
    (void)p;
}

static inline void crisp_handoff_acquire(void *p)
{
    (void)p;
}
#endif

#endif
