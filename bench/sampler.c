/* sampler.c — benchmark: CPU time the sampler thread uses at 1 kHz, per source. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "phasewatt.h"

static uint64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The floor: CPU a thread spends only waking up 1000 times a second on this machine
 * (timer interrupt and scheduler cost, large on VMs), with no work at all. */
static double bare_wakeup_us(double seconds)
{
    struct timespec d;
    clock_gettime(CLOCK_MONOTONIC, &d);
    int ticks = (int)(seconds * 1000);
    uint64_t c0 = cpu_ns();
    for (int i = 0; i < ticks; i++) {
        d.tv_nsec += 1000000;
        if (d.tv_nsec >= 1000000000) {
            d.tv_nsec -= 1000000000;
            d.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL);
    }
    return (double)(cpu_ns() - c0) / 1e3 / ticks;
}

static int measure(const char *source, const char *spec, double seconds, double floor_us)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = "/tmp/phasewatt-bench-sampler.pwt";
    o.sources = source;
    o.synthetic = spec;
    o.interval_ns = 1000000;
    o.quiet = 1;
    if (pw_open(&o) != PW_OK) {
        printf("  %-10s unavailable here\n", source);
        return 1;
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    pw_close();
    pw_stats st;
    pw_get_stats(&st);
    remove(o.output_path);
    double cpu = 100.0 * (double)st.sampler_cpu_ns / (double)st.sampler_wall_ns;
    double per_tick = st.samples ? st.sampler_cpu_ns / 1e3 / st.samples : 0.0;
    printf("  %-10s %6.3f%% of a core  (%.1f us CPU per tick; %.1f us above the bare wake-up "
           "= %.3f%% of a core; %llu samples in %.1f s, %llu deadlines missed)\n", source, cpu,
           per_tick, per_tick - floor_us, (per_tick - floor_us) / 10.0,
           (unsigned long long)st.samples, st.sampler_wall_ns / 1e9,
           (unsigned long long)st.missed_deadlines);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    if (!(seconds > 0)) seconds = 5.0;
    printf("sampler CPU use at 1 kHz over %.1f s (target <= 1%% of a core)\n", seconds);
    double floor_us = bare_wakeup_us(seconds < 2 ? seconds : 2);
    printf("  bare 1 kHz wake-up loop on this machine: %.1f us CPU per tick = %.3f%% of a core\n",
           floor_us, floor_us / 10.0);
    measure("synthetic", "x=10W", seconds, floor_us);
    measure("estimate", NULL, seconds, floor_us);
    return 0;
}
