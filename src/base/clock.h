/* clock.h — the one clock every phasewatt timestamp comes from: PW_CLOCK_AWAKE in ns
 * (CLOCK_MONOTONIC on Linux; platform/platform.h). */
#ifndef PW_CLOCK_H
#define PW_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "platform/platform.h"

/* vDSO-backed on Linux: no system call, ~20-30 ns. */
static inline uint64_t pw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(PW_CLOCK_AWAKE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* PW_CLOCK_WITH_SLEEP counts a suspended machine's sleep, PW_CLOCK_AWAKE does not: their
 * difference grows by exactly the time slept. */
static inline uint64_t pw_boottime_ns(void)
{
    struct timespec ts;
    clock_gettime(PW_CLOCK_WITH_SLEEP, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The boot-time clock the session's sleep check reads: tests swap it to put a delay between
 * the check's clock reads (session.c; never on the tagging hot path). */
typedef uint64_t (*pw_clock_fn)(void);
extern pw_clock_fn pw_sleep_check_boottime;

static inline uint64_t pw_realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
