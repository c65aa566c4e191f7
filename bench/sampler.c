/* sampler.c — benchmark: CPU time the sampler thread uses at 1 kHz, per source: the
 * grid-locked sampler, next to a plain fixed-interval read loop and the bare wake-up floor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "phasewatt.h"
#include "sources/source.h"

static uint64_t cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The floor: CPU a thread spends only waking up 1000 times a second on this machine
 * (timer interrupt and scheduler cost, large on VMs), with no work at all; with a source,
 * each wake-up also reads it once: the fixed-interval sampler before grid locking. */
static double fixed_interval_us(double seconds, const pw_source_ops *ops, void *state,
                                uint64_t *energy)
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
        uint64_t t = pw_now_ns();
        if (ops) (void)ops->read(state, &t, energy);
    }
    return (double)(cpu_ns() - c0) / 1e3 / ticks;
}

/* The fixed-interval loop over the source's own probe and read (the same code record runs). */
static void measure_fixed(const char *source, const char *spec, double seconds, double floor_us)
{
    const pw_source_ops *ops = pw_source_find(source);
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    cfg.synthetic = spec;
    cfg.interval_ns = 1000000;
    static pw_source_info info;
    void *state = NULL;
    char why[PW_WHY_MAX];
    if (!ops || ops->probe(&cfg, &state, &info, why, sizeof why) != PW_OK) return;
    uint64_t energy[PW_SOURCE_MAX_DOMAINS];
    double us = fixed_interval_us(seconds, ops, state, energy);
    ops->close(state);
    printf("    fixed 1 ms reads     %6.3f%% of a core  (%.1f us CPU per tick, %.1f above the "
           "bare wake-up)\n", us / 10.0, us, us - floor_us);
}

static int measure(const char *source, const char *spec, double seconds, double floor_us)
{
    printf("  %s%s%s\n", source, spec ? " " : "", spec ? spec : "");
    pw_options o;
    pw_options_init(&o);
    o.output_path = "/tmp/phasewatt-bench-sampler.pwt";
    o.sources = source;
    o.synthetic = spec;
    o.interval_ns = 1000000;
    o.quiet = 1;
    if (pw_open(&o) != PW_OK) {
        printf("    unavailable here\n");
        return 1;
    }
    struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    pw_close();
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    char key[64];
    snprintf(key, sizeof key, "sensor.%s.lock", source);
    pw_trace *t = NULL;
    const char *lock = "?";
    if (pw_trace_open(o.output_path, &t) == PW_OK && pw_trace_meta(t, key)) lock = pw_trace_meta(t, key);
    double cpu = 100.0 * (double)st.sampler_cpu_ns / (double)st.sampler_wall_ns;
    double ms = (double)st.sampler_wall_ns / 1e6;
    double per_ms = ms > 0 ? st.sampler_cpu_ns / 1e3 / ms : 0.0;
    printf("    grid-locked sampler  %6.3f%% of a core  (%.1f us CPU per ms, %.1f above the bare "
           "wake-up; %s; %llu readings in %.1f s, %llu deadlines missed)\n", cpu, per_ms,
           per_ms - floor_us, lock, (unsigned long long)st.samples, st.sampler_wall_ns / 1e9,
           (unsigned long long)st.missed_deadlines);
    if (t) pw_trace_close(t);
    remove(o.output_path);
    measure_fixed(source, spec, seconds < 2 ? seconds : 2, floor_us);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    if (!(seconds > 0)) seconds = 5.0;
    printf("sampler CPU use at 1 kHz over %.1f s (target <= 1%% of a core)\n", seconds);
    double floor_us = fixed_interval_us(seconds < 2 ? seconds : 2, NULL, NULL, NULL);
    printf("  bare 1 kHz wake-up loop on this machine: %.1f us CPU per tick = %.3f%% of a core\n",
           floor_us, floor_us / 10.0);
    /* a RAPL-like counter (976.5625 us grid) the sampler locks onto; an exact sensor it reads
     * per interval; the CPU estimate; and RAPL itself where this machine has it */
    measure("synthetic", "x=10W,background=10W,period=976562ns", seconds, floor_us);
    measure("synthetic", "x=10W,background=10W", seconds, floor_us);
    measure("estimate", NULL, seconds, floor_us);
    measure("rapl", NULL, seconds, floor_us);
    return 0;
}
