/* suspend.c — a fake machine sleep, preloaded by the tests: from the PW_FAKE_SLEEP_AT_READ-th
 * reading of CLOCK_BOOTTIME on, it runs PW_FAKE_SLEEP_MS ahead of CLOCK_MONOTONIC, as it does
 * after a suspend and resume (and not at all before: a machine that never slept). Counting
 * readings, not milliseconds, and giving BOOTTIME as the calling thread's last
 * CLOCK_MONOTONIC reading plus the sleep, a monotonic-then-boottime pair says exactly the
 * sleep, at the same point of the run, however loaded the machine is. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static int64_t ns_of(const struct timespec *ts) { return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec; }

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    static long reads;
    static __thread int64_t last_mono_ns = -1;
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    const char *at = getenv("PW_FAKE_SLEEP_AT_READ"), *len = getenv("PW_FAKE_SLEEP_MS");
    if (rc != 0 || !at || !len) return rc;
    if (id == CLOCK_MONOTONIC) last_mono_ns = ns_of(ts);
    if (id != CLOCK_BOOTTIME) return rc;
    struct timespec mono;
    real(CLOCK_MONOTONIC, &mono);
    int64_t boot_ns = last_mono_ns >= 0 ? last_mono_ns : ns_of(&mono);
    if (__atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED) >= atol(at))
        boot_ns += atoll(len) / 1000 * 1000000000;   /* whole seconds */
    ts->tv_sec = (time_t)(boot_ns / 1000000000);
    ts->tv_nsec = (long)(boot_ns % 1000000000);
    return rc;
}
