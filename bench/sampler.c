/* sampler.c — benchmark: CPU time the sampler thread uses at 1 kHz, per source. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "phasewatt.h"

static int measure(const char *source, const char *spec, double seconds)
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
    printf("  %-10s %6.3f%% of a core  (%llu samples in %.1f s, %.1f us CPU per tick, "
           "%llu deadlines missed)\n", source, cpu, (unsigned long long)st.samples,
           st.sampler_wall_ns / 1e9, st.samples ? st.sampler_cpu_ns / 1e3 / st.samples : 0.0,
           (unsigned long long)st.missed_deadlines);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 5.0;
    if (!(seconds > 0)) seconds = 5.0;
    printf("sampler CPU use at 1 kHz over %.1f s (target <= 1%% of a core)\n", seconds);
    measure("synthetic", "x=10W", seconds);
    measure("estimate", NULL, seconds);
    return 0;
}
