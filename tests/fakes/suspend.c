/* suspend.c — a fake machine sleep, preloaded by the tests: once PW_FAKE_SLEEP_AT_MS of
 * monotonic time have passed since the first clock read, CLOCK_BOOTTIME runs
 * PW_FAKE_SLEEP_MS ahead of CLOCK_MONOTONIC, as it does after a suspend and resume. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    static int64_t first_ms = -1;
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, ts);
    const char *at = getenv("PW_FAKE_SLEEP_AT_MS"), *len = getenv("PW_FAKE_SLEEP_MS");
    if (rc != 0 || id != CLOCK_BOOTTIME || !at || !len) return rc;
    struct timespec mono;
    real(CLOCK_MONOTONIC, &mono);
    int64_t now_ms = (int64_t)mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
    if (first_ms < 0) first_ms = now_ms;
    if (now_ms - first_ms >= atoll(at)) ts->tv_sec += atoll(len) / 1000;   /* whole seconds */
    return rc;
}
