/* test_session.c — recording sessions end to end: sampler, drained events, trace content. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/attribute.h"
#include "base/clock.h"
#include "core/tap.h"
#include "phasewatt.h"
#include "tf.h"
#include "trace/trace.h"

static void open_synthetic(const char *spec, uint64_t interval_ns, uint32_t ring)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = tf_path("run.pwt");
    o.sources = "synthetic";
    o.synthetic = spec;
    o.interval_ns = interval_ns;
    o.quiet = 1;
    if (ring) o.ring_events = ring;
    CHECK_INT(pw_open(&o), PW_OK);
}

static pw_trace *read_back(void)
{
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path("run.pwt"), &t), PW_OK);
    return t;
}

static void spin_ns(uint64_t ns)
{
    uint64_t end = pw_now_ns() + ns;
    while (pw_now_ns() < end) {}
}

TEST(session_state_errors)
{
    CHECK_INT(pw_close(), PW_ERR_STATE);
    CHECK_INT(pw_set_meta("k", "v"), PW_ERR_STATE);
    open_synthetic("work=10W", 1000000, 0);
    pw_options o;
    pw_options_init(&o);
    CHECK_INT(pw_open(&o), PW_ERR_STATE);
    CHECK_INT(pw_close(), PW_OK);
    CHECK_INT(pw_close(), PW_ERR_STATE);
}

TEST(session_unknown_source_fails_cleanly)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = tf_path("x.pwt");
    o.sources = "no-such-source";
    o.quiet = 1;
    CHECK_INT(pw_open(&o), PW_ERR_NO_SOURCE);
    o.sources = "synthetic";
    o.synthetic = "this is not a spec";
    CHECK(pw_open(&o) != PW_OK);
    o.output_path = "/nonexistent-dir/x.pwt";
    o.synthetic = "a=1W";
    CHECK_INT(pw_open(&o), PW_ERR_IO);
}

TEST(session_records_phases_and_meta)
{
    open_synthetic("work=20W,rest=5W,background=1W", 1000000, 0);
    CHECK_INT(pw_set_meta("model", "test"), PW_OK);
    pw_id work = pw_phase_id("work"), rest = pw_phase_id("rest"), tok = pw_counter_id("tokens");
    for (int i = 0; i < 5; i++) {
        pw_begin(work);
        pw_count(tok, 3);
        spin_ns(20000000);
        pw_end();
        pw_begin(rest);
        spin_ns(10000000);
        pw_end();
    }
    CHECK_INT(pw_close(), PW_OK);
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    CHECK_INT(st.events, 5 * 5);
    CHECK_INT(st.lost_events, 0);
    /* >= 150 ms at 1 ms: each period read or counted missed, however loaded the machine */
    CHECK(st.samples + st.missed_deadlines >= 100);
    pw_trace *t = read_back();
    CHECK_STR(pw_trace_meta(t, "model"), "test");
    CHECK_STR(pw_trace_meta(t, "sources"), "synthetic");
    pw_trace_health h = {.size = sizeof h};
    pw_trace_get_health(t, &h);
    CHECK_INT(h.complete, 1);
    CHECK_INT(h.torn, 0);
    CHECK_INT(t->ntracks, 1);
    CHECK_INT(t->tracks[0].n, 25);
    /* attribution agrees with the synthetic source's own truth (phases >= 10 periods): within
     * 1 % when the sampler kept its period, 15 % when a loaded machine made it skip periods
     * (long intervals across the phases' ends, which the readings pin down less well) */
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    double tol = t->missed_deadlines == 0 ? 0.01 : 0.15;
    for (size_t i = 0; i < t->ntruth; i++) {
        int node = pw_attribution_find(a, t->truth[i].path);
        CHECK_MSG(node >= 0, "no phase '%s' in the attribution", t->truth[i].path);
        double got = pw_energy_total(t, a->nodes[node].incl_j), truth = t->truth[i].energy_j;
        CHECK_MSG(fabs(got - truth) <= tol * truth, "%s: %.6f J, truth %.6f J (%llu missed periods)",
                  t->truth[i].path, got, truth, (unsigned long long)t->missed_deadlines);
    }
    int w = pw_attribution_find(a, "work");
    CHECK(w > 0);
    CHECK_INT(a->nodes[w].calls, 5);
    CHECK_NEAR(a->nodes[w].tokens_incl, 15, 0);
    /* its mean power is the 20 W asked, as closely as the energies above are their truth */
    CHECK_NEAR(pw_energy_total(t, a->nodes[w].incl_j) / a->nodes[w].duration_s, 20.0,
               t->missed_deadlines == 0 ? 0.02 : 0.15);
    pw_attribution_free(a);
    pw_trace_close(t);
}

typedef struct worker_arg { int iterations; pw_id outer, inner; } worker_arg;

static void *worker(void *p)
{
    const worker_arg *w = p;
    for (int i = 0; i < w->iterations; i++) {
        pw_begin(w->outer);
        pw_begin(w->inner);
        pw_end();
        pw_end();
    }
    return NULL;
}

TEST(session_many_threads_lose_nothing)
{
    enum { THREADS = 16, ITER = 5000 };
    open_synthetic("outer=10W", 1000000, 1 << 17);
    worker_arg arg = {ITER, pw_phase_id("outer"), pw_phase_id("inner")};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, worker, &arg);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    CHECK_INT(pw_close(), PW_OK);
    pw_trace *t = read_back();
    CHECK_INT(t->ntracks, THREADS);
    for (size_t k = 0; k < t->ntracks; k++) {
        const pw_track *tr = &t->tracks[k];
        CHECK_INT(tr->n, 4 * ITER);
        int depth = 0;
        for (size_t i = 0; i < tr->n; i++) {     /* per track: in time order, balanced */
            depth += tr->events[i].type == PW_EV_BEGIN ? 1 : -1;
            CHECK(depth >= 0 && depth <= 2);
            if (i) CHECK(tr->events[i].t_ns >= tr->events[i - 1].t_ns);
        }
        CHECK_INT(depth, 0);
    }
    pw_trace_close(t);
}

TEST(session_overflow_reported_in_trace)
{
    enum { THREADS = 8, ITER = 20000 };
    open_synthetic("outer=10W", 1000000000, 64);   /* 1 s: no drain while they run */
    worker_arg arg = {ITER, pw_phase_id("outer"), pw_phase_id("inner")};
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, worker, &arg);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    CHECK_INT(pw_close(), PW_OK);
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    CHECK(st.lost_events > 0);
    CHECK_INT(st.events + st.lost_events, (uint64_t)THREADS * ITER * 4);
    pw_trace *t = read_back();
    pw_trace_health h = {.size = sizeof h};
    pw_trace_get_health(t, &h);
    CHECK_INT(h.lost_events, st.lost_events);
    uint64_t kept = 0;
    for (size_t k = 0; k < t->ntracks; k++) kept += t->tracks[k].n;
    CHECK_INT(kept, st.events);
    pw_trace_close(t);
}

TEST(session_sampler_keeps_its_period)
{
    open_synthetic("x=1W,background=1W", 2000000, 0);   /* continuous: read per period */
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    CHECK_INT(pw_close(), PW_OK);
    pw_trace *t = read_back();
    const pw_series *s = &t->series[0];
    CHECK(s->n >= 2);
    /* Absolute deadlines: every period is either read or counted as missed (a loaded machine
     * skips periods, never drifts), so readings + missed cover the span however long the
     * sleep lasted. Readings beyond one per period are the locker's first quick reads, which
     * tell a continuous source from a counter (more of them when a loaded machine makes
     * them slow, each stamped), and nothing else. */
    double periods = (double)(s->t_ns[s->n - 1] - s->t_ns[0]) / 2e6;
    double accounted = (double)(s->n - 1) + (double)t->missed_deadlines;
    CHECK_MSG(accounted >= periods - 3 - 0.05 * periods && (double)(s->n - 1) <= 1.1 * periods + 32,
              "%zu readings + %llu missed for %.1f periods", s->n,
              (unsigned long long)t->missed_deadlines, periods);
    for (size_t i = 1; i < s->n; i++) CHECK(s->t_ns[i] > s->t_ns[i - 1]);
    pw_trace_close(t);
}

static void *rename_twice(void *arg)
{
    pw_track_name("first name");
    pw_begin_name("work");
    pw_end();
    pw_track_name(arg);        /* the last name wins */
    return NULL;
}

TEST(session_track_names_are_recorded_and_cut_at_63_bytes)
{
    open_synthetic("work=10W", 1000000, 0);
    CHECK_INT(pw_track_name(""), PW_ERR_INVALID);
    CHECK_INT(pw_track_name(NULL), PW_ERR_INVALID);
    pw_begin_name("main-work");
    pw_end();
    /* 62 ASCII bytes then a 3-byte character: cut before it, not inside it */
    char long_name[80];
    memset(long_name, 'a', 62);
    strcpy(long_name + 62, "\xe2\x82\xac tail");
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, rename_twice, "worker"), 0);
    pthread_join(th, NULL);
    CHECK_INT(pw_track_name(long_name), PW_OK);
    CHECK_INT(pw_close(), PW_OK);
    pw_trace *t = read_back();
    int worker = 0, cut = 0;
    for (size_t i = 0; i < t->ntracks; i++) {
        const char *n = t->tracks[i].name;
        worker += n && !strcmp(n, "worker");
        cut += n && strlen(n) == 62 && n[0] == 'a';
    }
    CHECK_INT(worker, 1);
    CHECK_INT(cut, 1);
    pw_trace_close(t);
}

/* ---- one sink: what the trace gets, the tap gets, backends' metadata and truth included ---- */

typedef struct seen { int meta, truth, version, sources, sensor, samples; } seen;

static int saw_meta(void *ctx, const char *key, const char *value)
{
    seen *s = ctx;
    s->meta++;
    s->version += !strcmp(key, "phasewatt_version") && value[0];
    s->sources += !strcmp(key, "sources") && !strcmp(value, "synthetic");
    s->sensor += !strncmp(key, "sensor.synthetic.", 17);   /* the backend's own, at its finish */
    return PW_OK;
}

static int saw_truth(void *ctx, const char *path, double energy_j, double duration_s)
{
    (void)path, (void)duration_s;
    ((seen *)ctx)->truth += energy_j >= 0;
    return PW_OK;
}

static int saw_sample(void *ctx, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                      const uint64_t *energy_uj, uint8_t flags)
{
    (void)source, (void)t_ns, (void)t_err_ns, (void)energy_uj, (void)flags;
    ((seen *)ctx)->samples++;
    return PW_OK;
}

TEST(session_tap_sees_the_metadata_and_truth_its_backends_write)
{
    static seen s;
    pw_sink tap = {.meta = saw_meta, .truth = saw_truth, .sample = saw_sample, .ctx = &s};
    pw_session_set_tap(&tap);
    open_synthetic("work=10W", 1000000, 0);
    pw_session_set_tap(NULL);
    pw_begin_name("work");
    pw_end();
    CHECK_INT(pw_close(), PW_OK);
    pw_trace *t = read_back();
    CHECK_INT(s.version, 1);
    CHECK_INT(s.sources, 1);
    CHECK(s.sensor >= 5);                      /* kind, period, window, coverage, latency */
    CHECK_INT(s.meta, (int)t->nmeta);          /* every entry the trace holds, no more */
    CHECK_INT(s.truth, (int)t->ntruth);
    CHECK_INT(s.samples, (int)t->series[0].n);
    pw_trace_close(t);
}

static void *say_cpu_only(void *arg)
{
    (void)arg;
    CHECK_INT(pw_track_devices("cpu"), PW_OK);
    pw_begin_name("tokenize");
    pw_end();
    return NULL;
}

/* pw_track_devices reaches the trace as its counter on the thread's own track, and the
 * attribution reads it there; a list it does not know is refused. */
TEST(session_track_devices_are_recorded_on_the_thread_s_track)
{
    open_synthetic("work=10W", 1000000, 0);
    CHECK_INT(pw_track_devices(""), PW_ERR_INVALID);
    CHECK_INT(pw_track_devices(NULL), PW_ERR_INVALID);
    CHECK_INT(pw_track_devices("cpu,tpu"), PW_ERR_INVALID);
    CHECK_INT(pw_track_devices("gpu,cpu"), PW_OK);
    pw_begin_name("decode");
    pw_end();
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, say_cpu_only, NULL), 0);
    pthread_join(th, NULL);
    CHECK_INT(pw_close(), PW_OK);
    pw_trace *t = read_back();
    int said = 0;
    for (size_t i = 0; i < t->ntracks; i++)
        for (size_t k = 0; k < t->tracks[i].n; k++) {
            const pw_event *ev = &t->tracks[i].events[k];
            if (ev->type != PW_EV_COUNT || ev->id >= t->nnames || !t->names[ev->id] ||
                strcmp(t->names[ev->id], PW_DEVICES_COUNTER))
                continue;
            said++;
            CHECK(ev->value == (PW_DEVICE_CPU | PW_DEVICE_GPU) || ev->value == PW_DEVICE_CPU);
        }
    CHECK_INT(said, 2);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    int cpu_only = 0;
    for (size_t i = 0; i < t->ntracks; i++) cpu_only += a->track_devices && a->track_devices[i] == PW_DEVICE_CPU;
    CHECK_INT(cpu_only, 1);
    pw_attribution_free(a);
    pw_trace_close(t);
}

/* ---- the sleep check: scheduling delay between its clock reads is not a sleep ------------ */

static atomic_uint g_boot_calls;
static _Atomic uint64_t g_jump_after_ns;   /* from then on boot time runs 2 s ahead; 0: never */

/* Every third read stalls 3 ms before reading, as a thread descheduled between the check's
 * clock reads would (the old check, one read of each clock, took that for a 3 ms sleep). */
static uint64_t stalling_boottime(void)
{
    if (atomic_fetch_add(&g_boot_calls, 1) % 3 == 1) spin_ns(3000000);
    uint64_t b = pw_boottime_ns(), jump = atomic_load(&g_jump_after_ns);
    return jump && pw_now_ns() >= jump ? b + 2000000000ull : b;
}

static uint64_t suspended_over_a_run(uint64_t jump_after_ns)
{
    pw_clock_fn real = pw_sleep_check_boottime;
    pw_sleep_check_boottime = stalling_boottime;   /* before the sampler thread exists */
    atomic_store(&g_boot_calls, 0);
    open_synthetic("work=10W", 1000000, 0);
    atomic_store(&g_jump_after_ns, jump_after_ns ? pw_now_ns() + jump_after_ns : 0);
    struct timespec ts = {0, 300000000};
    nanosleep(&ts, NULL);
    CHECK_INT(pw_close(), PW_OK);
    pw_sleep_check_boottime = real;
    atomic_store(&g_jump_after_ns, 0);
    CHECK(atomic_load(&g_boot_calls) > 6);          /* the check ran, stalls and all */
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    return st.suspended_ns;
}

TEST(session_sleep_check_ignores_a_delay_between_its_clock_reads)
{
    CHECK_INT(suspended_over_a_run(0), 0);
}

TEST(session_sleep_check_still_sees_a_real_sleep_through_the_delays)
{
    uint64_t slept = suspended_over_a_run(100000000);
    CHECK_MSG(slept >= 2000000000ull - 100000 && slept <= 2000000000ull + 100000,
              "%llu ns", (unsigned long long)slept);
}

/* ---- stamped samples: the uncertainty of t_ns survives writing and reading ---------------- */

TEST(session_stamped_samples_round_trip_and_old_rows_read_unstamped)
{
    pw_trace *m = pw_trace_new();
    CHECK(m != NULL);
    CHECK_INT(pw_trace_add_source(m, "rapl", 976563, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(m, 0, "package-0", PW_KIND_CPU, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(m, 0, "dram", PW_KIND_DRAM, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_source(m, "old", 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(m, 1, "x", PW_KIND_OTHER, -1, 0), PW_OK);
    uint64_t e[2] = {100, 0};
    CHECK_INT(pw_trace_add_sample(m, 0, 1000, e, 0), PW_OK);     /* unknown, then stamped */
    e[0] = 200;
    CHECK_INT(pw_trace_add_sample_stamped(m, 0, 2000, 1234, e, PW_SAMPLE_GAP), PW_OK);
    e[0] = 300;
    CHECK_INT(pw_trace_add_sample_stamped(m, 0, 2000, 0, e, 0), PW_OK);
    e[0] = 400;
    CHECK_INT(pw_trace_add_sample_stamped(m, 0, 3000, 4000000000u, e, 0), PW_OK);
    e[0] = 500;                                                 /* the same error: stored once */
    CHECK_INT(pw_trace_add_sample_stamped(m, 0, 3500, 4000000000u, e, 0), PW_OK);
    CHECK_INT(pw_trace_add_sample_stamped(m, 0, 2500, 1, e, 0), PW_ERR_INVALID);   /* back */
    CHECK_INT(pw_trace_add_sample(m, 1, 10, e, 0), PW_OK);
    CHECK(m->series[1].t_err_ns == NULL);
    CHECK_INT(pw_trace_write(m, tf_path("stamped.pwt")), PW_OK);
    pw_trace_free(m);

    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path("stamped.pwt"), &t), PW_OK);
    const pw_series *s = &t->series[0];
    CHECK_INT(s->n, 5);
    CHECK(s->t_err_ns[4] == 4000000000u && s->t_ns[4] == 3500 && s->flags[4] == 0);
    CHECK(s->t_err_ns != NULL);
    CHECK_MSG(s->t_err_ns[0] == PW_T_ERR_UNKNOWN && s->t_err_ns[1] == 1234 && s->t_err_ns[2] == 0 &&
          s->t_err_ns[3] == 4000000000u, "%u %u %u %u", s->t_err_ns[0], s->t_err_ns[1],
              s->t_err_ns[2], s->t_err_ns[3]);
    CHECK(s->flags[0] == 0 && s->flags[1] == PW_SAMPLE_GAP && s->flags[2] == 0);
    CHECK(s->t_ns[1] == 2000 && s->t_ns[3] == 3000 && s->energy_uj[3 * 2] == 400);
    CHECK(t->series[1].t_err_ns == NULL);     /* a series of unstamped rows reads as before */
    CHECK_INT(t->series[1].n, 1);
    pw_trace_close(t);
}
