/* suspend.c — a fake machine sleep, preloaded by the tests: once PW_FAKE_SLEEP_AT_MS of
 * monotonic time have passed since the first clock read, CLOCK_BOOTTIME runs
 * PW_FAKE_SLEEP_MS ahead of CLOCK_MONOTONIC, as it does after a suspend and resume.
 * CLOCK_BOOTTIME is the calling thread's last CLOCK_MONOTONIC reading plus the offset, so
 * however late the process is scheduled between its two reads, the pair says exactly
 * the sleep and nothing more: a loaded machine cannot change what the test sees. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static int64_t ns_of(const struct timespec *ts) { return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec; }

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    static int64_t first_ns = -1, boot_offset_ns = -1;
    static __thread int64_t last_mono_ns = -1;
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    const char *at = getenv("PW_FAKE_SLEEP_AT_MS"), *len = getenv("PW_FAKE_SLEEP_MS");
    if (rc != 0 || !at || !len) return rc;
    if (id == CLOCK_MONOTONIC) last_mono_ns = ns_of(ts);
    if (id != CLOCK_BOOTTIME) return rc;
    struct timespec mono;
    real(CLOCK_MONOTONIC, &mono);
    if (boot_offset_ns < 0) boot_offset_ns = ns_of(ts) - ns_of(&mono);   /* the real one, once */
    int64_t now_ns = last_mono_ns >= 0 ? last_mono_ns : ns_of(&mono);
    if (first_ns < 0) first_ns = now_ns;
    int64_t boot_ns = now_ns + boot_offset_ns;
    if (now_ns - first_ns >= atoll(at) * 1000000) boot_ns += atoll(len) / 1000 * 1000000000;   /* whole seconds */
    ts->tv_sec = (time_t)(boot_ns / 1000000000);
    ts->tv_nsec = (long)(boot_ns % 1000000000);
    return rc;
}
