/* bench.h — what the benchmarks share: timing a tag pair in best-of batches, and finding the
 * directory of the built programs they re-run. */
#ifndef PW_BENCH_H
#define PW_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

typedef void (*pair_fn)(void);

/* ns per call of f: the best of `batches` batches of `pairs` calls, the cost without
 * interference; the pause after each batch lets a recorder drain its ring, so nothing is
 * lost and no batch runs into a full ring. */
static inline double bench_best_ns(pair_fn f, int pairs, int batches)
{
    uint64_t best = UINT64_MAX;
    for (int b = 0; b < batches; b++) {
        uint64_t t0 = pw_now_ns();
        for (int i = 0; i < pairs; i++) f();
        uint64_t dt = pw_now_ns() - t0;
        if (dt < best) best = dt;
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
    return (double)best / pairs;
}

/* The directory this program was started from (build/bin), "." if unknown. */
static inline void bench_bin_dir(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(out, '/');
    if (slash) *slash = '\0';
    else snprintf(out, cap, ".");
}

#endif
