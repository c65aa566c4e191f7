/* test_simulate.c — the sensor model (quantum, update grid, wraparound, noise) and the
 * virtual-time simulator checked against its own ground truth; the real-time runner. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phasewatt-analysis.h"
#include "base/clock.h"
#include "sim/scenario.h"
#include "sim/sensor.h"
#include "sources/counter.h"
#include "tf.h"

/* ---- the sensor model --------------------------------------------------------------------- */

/* Constant power from t = 0: E(t) = watts * t. */
static double linear_energy(void *ctx, uint64_t t_ns)
{
    return *(const double *)ctx * (double)t_ns * 1e-9;
}

TEST(sensor_quantises_down_to_whole_counts)
{
    pw_sensor_model m;
    pw_sensor_model_default(&m);
    m.quantum_uj = 15.3;
    pw_sensor s;
    pw_sensor_init(&s, &m);
    double watts = 10;
    for (uint64_t t = 0; t < 100000; t += 777) {   /* continuous: exact at each read */
        uint64_t raw = pw_sensor_read_raw(&s, linear_energy, &watts, t);
        CHECK_INT(raw, (uint64_t)floor(linear_energy(&watts, t) * 1e6 / 15.3));
    }
    pw_sensor_model_default(&m);   /* quantum 0 means 1 µJ */
    m.quantum_uj = 0;
    pw_sensor_init(&s, &m);
    CHECK_INT(pw_sensor_read_raw(&s, linear_energy, &watts, 1000000), 10000);
}

TEST(sensor_holds_its_value_between_updates)
{
    pw_sensor_model m;
    pw_sensor_model_default(&m);
    m.period_ns = 1000000;
    m.offset_ns = 250000;
    pw_sensor s;
    pw_sensor_init(&s, &m);
    double watts = 20;
    CHECK_INT(pw_sensor_read_raw(&s, linear_energy, &watts, 100000), 0);   /* before any */
    for (uint64_t t = 250000; t < 20000000; t += 50000) {
        uint64_t update = t - (t - 250000) % 1000000;   /* the last update at or before t */
        uint64_t raw = pw_sensor_read_raw(&s, linear_energy, &watts, t);
        CHECK_INT(raw, (uint64_t)floor(linear_energy(&watts, update) * 1e6));
    }
}

TEST(sensor_wraps_at_its_width)
{
    pw_sensor_model m;
    pw_sensor_model_default(&m);
    m.bits = 8;
    CHECK_INT(pw_sensor_modulus(&m), 256);
    m.bits = 64;
    CHECK_INT(pw_sensor_modulus(&m), 0);
    m.bits = 32;
    CHECK_INT(pw_sensor_modulus(&m), 1ull << 32);
    m.period_ns = 1000000;
    pw_sensor s;
    pw_sensor_init(&s, &m);
    pw_counter c;
    pw_counter_init(&c, pw_sensor_modulus(&m));
    double watts = 5000;   /* 5 J per ms: 2^32 µJ in under a second */
    uint64_t total = 0;
    for (uint64_t t = 0; t <= 10000000000ull; t += 1000000) {
        uint64_t raw = pw_sensor_read_raw(&s, linear_energy, &watts, t);
        CHECK(raw < (1ull << 32));
        total = pw_counter_update(&c, raw);
    }
    CHECK_NEAR((double)total, 5e10, 1e-10);   /* 10 s at 5 kW, through 11 wraps */
}

static uint64_t noisy_read(uint64_t seed, uint64_t t_ns, pw_sensor *s, int init)
{
    pw_sensor_model m;
    pw_sensor_model_default(&m);
    m.period_ns = 1000000;
    m.noise_w = 50;   /* far above the 1 W signal: clamping is exercised */
    m.seed = seed;
    if (init) pw_sensor_init(s, &m);
    double watts = 1;
    return pw_sensor_read_raw(s, linear_energy, &watts, t_ns);
}

TEST(sensor_noise_is_deterministic_and_never_goes_back)
{
    pw_sensor a, b, c;
    int differs = 0;
    uint64_t last = 0;
    for (uint64_t i = 0; i < 2000; i++) {
        uint64_t t = i * 1500000 + (i % 3) * 100000;   /* several updates per read, or none */
        uint64_t ra = noisy_read(7, t, &a, i == 0), rb = noisy_read(7, t, &b, i == 0);
        uint64_t rc = noisy_read(8, t, &c, i == 0);
        CHECK_INT(ra, rb);
        differs |= ra != rc;
        CHECK(ra >= last);
        last = ra;
    }
    CHECK(differs);
    /* Without clamping the noise would be a zero-mean walk; the register tracks the truth
     * (3 J after 3 s) within a few standard deviations of 50 W * 1 ms * sqrt(3000). */
    CHECK(fabs((double)last * 1e-6 - 3.0) < 15);
}

TEST(sensor_description_is_readable)
{
    pw_sensor_model m;
    pw_sensor_model_default(&m);
    char buf[256];
    pw_sensor_describe(&m, buf, sizeof buf);
    CHECK(strstr(buf, "continuous") && strstr(buf, "no wrap"));
    m.period_ns = 1000000;
    m.quantum_uj = 15.3;
    m.bits = 32;
    pw_sensor_describe(&m, buf, sizeof buf);
    CHECK(strstr(buf, "every 1 ms") && strstr(buf, "15.3 uJ") && strstr(buf, "32-bit"));
}

/* ---- the simulator ----------------------------------------------------------------------- */

static pw_scenario *parse_ok(const char *text)
{
    char err[256] = "";
    pw_scenario *s = NULL;
    int rc = pw_scenario_parse(text, &s, err, sizeof err);
    CHECK_MSG(rc == PW_OK, "parse failed: %s", err);
    return s;
}

static pw_trace *simulate(const pw_scenario *s, const char *name)
{
    char err[256] = "";
    int rc = pw_simulate(s, tf_path(name), err, sizeof err);
    CHECK_MSG(rc == PW_OK, "simulate failed (%d): %s", rc, err);
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path(name), &t), PW_OK);
    return t;
}

static const pw_truth *truth_of(const pw_trace *t, const char *path)
{
    for (size_t i = 0; i < t->ntruth; i++)
        if (strcmp(t->truth[i].path, path) == 0) return &t->truth[i];
    tf_fail(__FILE__, __LINE__, "no truth for '%s'", path);
}

/* The true energy of the scenario's pieces plus the lead time at background power. */
static double timeline_energy(const pw_scenario *s)
{
    pw_schedule *tl = NULL;
    CHECK_INT(pw_scenario_schedule(s, &tl), PW_OK);
    double e = 2 * s->background_w * (double)s->lead_ns * 1e-9;
    for (size_t i = 0; i < tl->nspans; i++)
        e += tl->spans[i].watts * (double)(tl->spans[i].t1_ns - tl->spans[i].t0_ns) * 1e-9;
    pw_schedule_free(tl);
    return e;
}

/* Every path's inclusive truth covers its direct children's. */
static void check_children_within_parents(const pw_trace *t)
{
    for (size_t i = 0; i < t->ntruth; i++) {
        const char *parent = t->truth[i].path;
        size_t len = strlen(parent);
        double children = 0, child_time = 0;
        for (size_t j = 0; j < t->ntruth; j++) {
            const char *q = t->truth[j].path;
            int direct = *parent ? strncmp(q, parent, len) == 0 && q[len] == '/' &&
                                       !strchr(q + len + 1, '/')
                                 : *q && !strchr(q, '/');
            if (!direct) continue;
            children += t->truth[j].energy_j;
            child_time += t->truth[j].duration_s;
        }
        CHECK_MSG(children <= t->truth[i].energy_j * (1 + 1e-12) + 1e-12,
                  "'%s': children %.9g J > %.9g J", parent, children, t->truth[i].energy_j);
        CHECK(child_time <= t->truth[i].duration_s * (1 + 1e-12) + 1e-12);
    }
}

TEST(simulate_builtin_against_its_truth)
{
    pw_scenario *s = parse_ok(pw_scenario_builtin());
    pw_trace *t = simulate(s, "builtin.pwt");

    CHECK_INT(pw_trace_domain_count(t), 1);
    pw_domain_info d = {.size = sizeof d};
    CHECK_INT(pw_trace_domain(t, 0, &d), PW_OK);
    CHECK_STR(d.name, "package-0");
    CHECK_STR(d.kind, "cpu");
    CHECK_STR(d.source, "synthetic");
    CHECK_INT(t->sources[0].period_ns, 1000000);
    CHECK_STR(pw_trace_meta(t, "source"), "synthetic (simulated)");
    CHECK_STR(pw_trace_meta(t, "scenario"), "built-in inference");
    CHECK_STR(pw_trace_meta(t, "sample_interval_ns"), "1000000");
    CHECK(strstr(pw_trace_meta(t, "sensor"), "15.3 uJ") != NULL);
    pw_trace_health h = {.size = sizeof h};
    CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
    CHECK(h.complete && !h.torn && h.corrupt_chunks == 0);

    /* samples: the locked recorder reads after each update, at most one sample interval
     * apart, from the start through the end, lead time included; each stamped */
    uint64_t run_ns = pw_scenario_duration_ns(s) + 2 * s->lead_ns;
    const pw_series *ser = &t->series[0];
    CHECK(ser->n >= run_ns / 1000000 / 2 && ser->n <= run_ns / 1000000 + 2);
    CHECK(ser->t_err_ns != NULL);
    CHECK(ser->t_ns[0] <= t->start_ns + 1000000);
    CHECK(ser->t_ns[ser->n - 1] + 1000000 >= t->start_ns + run_ns);
    for (size_t i = 1; i < ser->n; i++) CHECK(ser->energy_uj[i] >= ser->energy_uj[i - 1]);

    /* truth: the whole run equals the pieces; the last sample is within one quantum of it */
    const pw_truth *run = truth_of(t, "");
    CHECK_NEAR(run->energy_j, timeline_energy(s), 1e-12);
    CHECK_NEAR(run->duration_s, (double)run_ns * 1e-9, 1e-12);
    double measured = (double)ser->energy_uj[ser->n - 1] * 1e-6;
    CHECK_MSG(run->energy_j - measured >= -1e-6 && run->energy_j - measured <= 15.3e-6 + 1e-6,
              "measured %.9f J, truth %.9f J", measured, run->energy_j);
    check_children_within_parents(t);
    const pw_truth *decode = truth_of(t, "decode"), *attn = truth_of(t, "decode/attention");
    CHECK_NEAR(decode->duration_s, 200 * 10.5e-3, 1e-9);
    CHECK_NEAR(attn->duration_s, 200 * 4 * 1e-3, 1e-9);
    CHECK_NEAR(attn->energy_j, 200 * 4 * 1e-3 * 30, 1e-9);
    CHECK_NEAR(truth_of(t, "prefill")->energy_j,
               2e-3 * 20 + 8 * (6e-3 * 55 + 9e-3 * 65) + 4e-3 * 40, 1e-9);

    /* events: balanced, on one track, with the token counts */
    CHECK_INT(t->ntracks, 1);
    const pw_track *tr = &t->tracks[0];
    CHECK_STR(tr->name, "simulated");
    int64_t depth = 0, tokens = 0;
    for (size_t i = 0; i < tr->n; i++) {
        const pw_event *ev = &tr->events[i];
        if (i) CHECK(ev->t_ns >= tr->events[i - 1].t_ns);
        depth += ev->type == PW_EV_BEGIN ? 1 : ev->type == PW_EV_END ? -1 : 0;
        CHECK(depth >= 0);
        if (ev->type == PW_EV_COUNT) {
            CHECK_STR(pw_trace_name(t, ev->id), "tokens");
            tokens += ev->value;
        }
    }
    CHECK_INT(depth, 0);
    CHECK_INT(tokens, 128 + 200);
    CHECK_INT(tr->events[0].type, PW_EV_BEGIN);
    CHECK_STR(pw_trace_name(t, tr->events[0].id), "pre-inference");
    CHECK_INT(tr->events[0].t_ns, t->start_ns + s->lead_ns);

    /* the same bytes through the buffer reader */
    size_t len = 0;
    char *bytes = tf_read_file(tf_path("builtin.pwt"), &len);
    pw_trace *t2 = NULL;
    CHECK_INT(pw_trace_read_buffer((const uint8_t *)bytes, len, &t2), PW_OK);
    CHECK_INT(t2->series[0].n, ser->n);
    CHECK_INT(t2->ntruth, t->ntruth);
    pw_trace_close(t2);
    free(bytes);
    pw_trace_close(t);
    pw_scenario_free(s);
}

/* A counter that wraps many times during the run still adds up to the truth. */
TEST(simulate_unwraps_a_fast_wrapping_counter)
{
    pw_scenario *s = parse_ok("sensor period=1ms quantum=1uJ bits=32\n"
                              "sample every=1ms\n"
                              "phase burn 60s 1kW\n");   /* 6e10 counts: 13 wraps */
    pw_trace *t = simulate(s, "wrap.pwt");
    const pw_series *ser = &t->series[0];
    CHECK_NEAR((double)ser->energy_uj[ser->n - 1], 60000e6, 1e-9);
    CHECK_NEAR(truth_of(t, "burn")->energy_j, 60000, 1e-12);
    pw_trace_close(t);
    pw_scenario_free(s);
}

/* Reads every millisecond of a sensor updated every 10: ten equal readings, then a step. */
TEST(simulate_reads_between_updates_repeat)
{
    pw_scenario *s = parse_ok("sensor period=10ms offset=5ms\n"
                              "sample every=1ms\n"
                              "phase a 100ms 10W\n");
    pw_trace *t = simulate(s, "slow.pwt");
    const pw_series *ser = &t->series[0];
    CHECK_INT(ser->n, 101);
    for (size_t i = 1; i < ser->n; i++) {
        int update = i % 10 == 5;   /* updates at 5, 15, 25 ... ms */
        uint64_t de = ser->energy_uj[i] - ser->energy_uj[i - 1];
        CHECK_MSG(update ? de > 0 : de == 0, "sample %zu: +%llu uJ", i, (unsigned long long)de);
    }
    pw_trace_close(t);
    pw_scenario_free(s);
}

TEST(simulate_with_noise_is_reproducible)
{
    pw_scenario *s = parse_ok("sensor period=1ms quantum=15.3uJ bits=32 noise=5W seed=3\n"
                              "lead 5ms\nbackground 2W\nphase a 200ms 10W\n");
    pw_trace *t1 = simulate(s, "n1.pwt"), *t2 = simulate(s, "n2.pwt");
    CHECK_INT(t1->series[0].n, t2->series[0].n);
    for (size_t i = 0; i < t1->series[0].n; i++)
        CHECK_INT(t1->series[0].energy_uj[i], t2->series[0].energy_uj[i]);
    const pw_series *ser = &t1->series[0];
    for (size_t i = 1; i < ser->n; i++) CHECK(ser->energy_uj[i] >= ser->energy_uj[i - 1]);
    CHECK_NEAR(truth_of(t1, "")->energy_j, 2.02, 1e-12);
    pw_trace_close(t1);
    pw_trace_close(t2);
    pw_scenario_free(s);
}

TEST(simulate_reports_write_errors)
{
    pw_scenario *s = parse_ok("phase a 1ms 1W\n");
    char err[256] = "";
    CHECK_INT(pw_simulate(s, "/nonexistent-dir/x.pwt", err, sizeof err), PW_ERR_IO);
    CHECK(strstr(err, "cannot write") != NULL);
    CHECK_INT(pw_simulate(NULL, "x.pwt", err, sizeof err), PW_ERR_INVALID);
    pw_scenario_free(s);
}

/* One hour sampled at 1 kHz: every row is there and the counter ends at the truth.
 * (How fast it runs is bench-report's business, not a test's.) */
TEST(simulate_an_hour_at_1khz)
{
    pw_scenario *s = parse_ok("sensor period=1ms quantum=15.3uJ bits=32\n"
                              "sample every=1ms\n"
                              "background 5W\n"
                              "phase prefill {\n"
                              "  phase attention 2s 60W\n"
                              "  phase mlp 3s 70W\n"
                              "}\n"
                              "repeat 35950 {\n"
                              "  phase decode {\n"
                              "    count tokens 1\n"
                              "    phase attention 40ms 30W\n"
                              "    phase mlp 60ms 36W\n"
                              "  }\n"
                              "}\n");
    char err[256] = "";
    CHECK_INT(pw_simulate(s, tf_path("hour.pwt"), err, sizeof err), PW_OK);
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path("hour.pwt"), &t), PW_OK);
    CHECK_INT(t->series[0].n, 3600001);
    const pw_series *ser = &t->series[0];
    double last = (double)ser->energy_uj[ser->n - 1] * 1e-6;
    CHECK(truth_of(t, "")->energy_j - last <= 15.3e-6 + 1e-6);
    pw_trace_close(t);
    pw_scenario_free(s);
}

/* ---- the real-time runner --------------------------------------------------------------- */

/* Every leaf ends on an absolute deadline, so a run takes at least the scenario's time; how
 * much longer depends on the machine's load, which a test cannot bound. */
TEST(scenario_run_keeps_real_time)
{
    pw_scenario *s = parse_ok("lead 2ms\n"
                              "repeat 5 {\n"
                              "  phase work {\n"
                              "    count items 1\n"
                              "    phase step 3ms 1W\n"
                              "    idle 1ms\n"
                              "  }\n"
                              "}\n");
    uint64_t t0 = pw_now_ns();
    CHECK_INT(pw_scenario_run(s, 1.0), PW_OK);
    double ms = (double)(pw_now_ns() - t0) * 1e-6;
    CHECK_MSG(ms >= 24, "took %.2f ms, less than the scenario's 24 ms", ms);
    t0 = pw_now_ns();
    CHECK_INT(pw_scenario_run(s, 0.5), PW_OK);
    ms = (double)(pw_now_ns() - t0) * 1e-6;
    CHECK_MSG(ms >= 12, "took %.2f ms, less than the scenario's 12 ms at half speed", ms);
    CHECK_INT(pw_end(), PW_ERR_UNBALANCED);   /* every phase it began, it ended */
    CHECK_INT(pw_scenario_run(s, 0), PW_ERR_INVALID);
    CHECK_INT(pw_scenario_run(s, NAN), PW_ERR_INVALID);
    pw_scenario_free(s);
}
