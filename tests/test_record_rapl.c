/* test_record_rapl.c — a whole recording session over a fake powercap tree whose counter a
 * thread advances at known watts: the per-phase energy must come out right. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "analysis/attribute.h"
#include "core/clock.h"
#include "phasewatt.h"
#include "sysfs_fixture.h"
#include "tf.h"
#include "trace/trace.h"

#define RANGE_UJ 262143328850ull            /* a real max_energy_range_uj */

typedef struct fake_rapl {
    char zone[512];
    pthread_mutex_t lock;                   /* the driver thread and phase changes */
    double watts;                           /* the power the "package" draws now */
    uint64_t last_ns;                       /* energy_uj is integrated up to here */
    double energy_uj;                       /* the true cumulative energy */
    _Atomic int stop;
} fake_rapl;

#define START_UJ (RANGE_UJ - 3000000)       /* wraps ~0.1 s into the run */

/* Writes energy_uj the way a driver updates it: whole µJ, wrapping at the range; written
 * with rename() so a reader never sees a half-written file. */
static void publish(fake_rapl *f)
{
    char tmp[600], dst[600], text[32];
    snprintf(tmp, sizeof tmp, "%s/.energy_uj", f->zone);
    snprintf(dst, sizeof dst, "%s/energy_uj", f->zone);
    uint64_t v = (START_UJ + (uint64_t)f->energy_uj) % (RANGE_UJ + 1);
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)v);
    if (tf_write_file(tmp, text, (size_t)n) == 0) rename(tmp, dst);
}

/* Integrates the current power up to now, then (optionally) switches it, and publishes:
 * a power change is published at once, so a late driver tick cannot smear it. */
static void advance(fake_rapl *f, double new_watts)
{
    pthread_mutex_lock(&f->lock);
    uint64_t now = pw_now_ns();
    f->energy_uj += f->watts * (double)(now - f->last_ns) * 1e-3;
    f->last_ns = now;
    if (new_watts >= 0) f->watts = new_watts;
    publish(f);
    pthread_mutex_unlock(&f->lock);
}

/* Between power changes the counter advances every ~1 ms, like RAPL's. */
static void *driver(void *p)
{
    fake_rapl *f = p;
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&f->stop)) {
        nanosleep(&ms, NULL);
        advance(f, -1);
    }
    return NULL;
}

static void run_phase(fake_rapl *f, const char *name, double watts, uint64_t ns)
{
    advance(f, watts);                  /* power changes as the phase begins */
    pw_begin_name(name);
    uint64_t end = pw_now_ns() + ns;
    struct timespec pause = {0, 200000};
    while (pw_now_ns() < end) nanosleep(&pause, NULL);
    pw_end();
}

TEST(record_rapl_fake_powercap_energy_per_phase)
{
    fake_rapl f = {.watts = 5.0, .last_ns = pw_now_ns()};
    pthread_mutex_init(&f.lock, NULL);
    snprintf(f.zone, sizeof f.zone, "%s/sys/class/powercap/intel-rapl:0", tf_tmpdir());
    fx_mkdirs(f.zone);
    fx_write(f.zone, "name", "package-0\n");
    fx_write_u64(f.zone, "max_energy_range_uj", RANGE_UJ);
    publish(&f);
    setenv("PHASEWATT_SYSFS_ROOT", tf_tmpdir(), 1);
    pthread_t th;
    pthread_create(&th, NULL, driver, &f);

    pw_options o;
    pw_options_init(&o);
    o.output_path = tf_path("rapl.pwt");
    o.sources = "rapl";
    o.quiet = 1;
    CHECK_INT(pw_open(&o), PW_OK);
    run_phase(&f, "prefill", 40.0, 500000000);
    run_phase(&f, "decode", 15.0, 600000000);
    run_phase(&f, "prefill", 40.0, 300000000);
    advance(&f, 5.0);
    CHECK_INT(pw_close(), PW_OK);
    atomic_store(&f.stop, 1);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&f.lock);

    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path("rapl.pwt"), &t), PW_OK);
    CHECK_STR(t->domains[0].name, "package-0");
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    int pre = pw_attribution_find(a, "prefill"), dec = pw_attribution_find(a, "decode");
    CHECK(pre > 0 && dec > 0);
    /* watts x the phase's own measured duration: each power change is published as it
     * happens, so only the read's own timing blurs a boundary */
    CHECK_NEAR(pw_energy_total(t, a->nodes[pre].incl_j), 40.0 * a->nodes[pre].duration_s, 0.005);
    CHECK_NEAR(pw_energy_total(t, a->nodes[dec].incl_j), 15.0 * a->nodes[dec].duration_s, 0.005);
    CHECK_INT(a->nodes[pre].calls, 2);
    pw_attribution_free(a);
    pw_trace_close(t);
}
