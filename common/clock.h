/* Time, with the clock in the name: CLOCK_MONOTONIC for durations, deadlines and timeouts (it never
 * jumps), CLOCK_REALTIME only for timestamps that leave the process (CRI times, records, logs).
 * libc only: the helpers link it too. */
#ifndef CRISP_CLOCK_H
#define CRISP_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock time in nanoseconds since the epoch, as CRI timestamps are. */
int64_t clock_realtime_ns(void);

/* Milliseconds on the monotonic clock, for measuring and bounding waits. */
int64_t clock_monotonic_ms(void);

/* Nanoseconds on the monotonic clock, for timing calls that take microseconds. */
int64_t clock_monotonic_ns(void);

/* The absolute time ms milliseconds from now on clock clk, for pthread_cond_timedwait and friends
 * (whose condition variable's clock must be clk). */
struct timespec clock_timespec_after_ms(clockid_t clk, int64_t ms);

#endif
