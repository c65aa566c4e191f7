/* test_honest.c — figures that never claim more than the data support (issue 15): labels,
 * intervals that cover the truth as often as they say on random scenarios of real machines'
 * conditions, concurrent tracks under the additive model, unobserved phases, estimated
 * domains, and the begin/end baseline. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phasewatt-analysis.h"
#include "analysis/attribute.h"
#include "analysis/disaggregate.h"
#include "sim/accuracy.h"
#include "sim/scenario.h"
#include "tf.h"
#include "trace_fixture.h"

static pw_trace *simulate_text(const char *text, const char *name)
{
    pw_scenario *s = NULL;
    char err[256] = "";
    CHECK_MSG(pw_scenario_parse(text, &s, err, sizeof err) == PW_OK, "%s", err);
    CHECK_MSG(pw_simulate(s, tf_path(name), err, sizeof err) == PW_OK, "%s", err);
    pw_scenario_free(s);
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path(name), &t), PW_OK);
    return t;
}

static const pw_phase_node *node_of(const pw_attribution *a, const char *path)
{
    int k = pw_attribution_find(a, path);
    CHECK_MSG(k >= 0, "no phase %s", path);
    return &a->nodes[k];
}

static double truth_of(const pw_trace *t, const char *path)
{
    const pw_truth *tr = pw_trace_find_truth(t, path);
    CHECK_MSG(tr != NULL, "no truth for %s", path);
    return tr->energy_j;
}

/* ---- the simulator's physics ---------------------------------------------------------- */

TEST(tracks_add_their_excess_and_share_the_background)
{
    pw_trace *t = simulate_text("sensor period=0ms\nsample every=1ms\nbackground 10W\n"
                                "phase decode 100ms 50W\n"
                                "track tok start=20ms {\n  phase tokenize 40ms 14W\n}\n",
                                "tracks.pwt");
    /* decode alone 60 ms at 50 W, 40 ms beside tokenize: its excess 40 W + half of 10 W */
    CHECK_NEAR(truth_of(t, "decode"), 50.0 * 0.06 + (40.0 + 5.0) * 0.04, 1e-9);
    CHECK_NEAR(truth_of(t, "tokenize"), (4.0 + 5.0) * 0.04, 1e-9);
    CHECK_NEAR(truth_of(t, ""), truth_of(t, "decode") + truth_of(t, "tokenize"), 1e-9);
    CHECK_INT(t->ntracks, 2);
    pw_trace_free(t);
}

TEST(vary_and_ramp_change_calls_but_keep_every_truth_consistent)
{
    pw_trace *t = simulate_text("sensor period=0ms\nsample every=1ms\nvary 15%\nramp 40%\n"
                                "repeat 50 {\n  phase a 2ms 20W\n  phase b 3ms 10W\n}\n",
                                "vary.pwt");
    double a = truth_of(t, "a"), b = truth_of(t, "b");
    CHECK(fabs(a - 2.0) > 1e-6);                    /* calls varied */
    CHECK_NEAR(a, 2.0, 0.15);                       /* ... within their stated share */
    CHECK_NEAR(b, 1.5, 0.15);
    CHECK_NEAR(truth_of(t, ""), a + b, 1e-9);
    pw_attribution *at = NULL;
    CHECK_INT(pw_attribute(t, &at), PW_OK);         /* an exact sensor: within its interval */
    CHECK_NEAR(pw_energy_total(t, node_of(at, "a")->incl_j), a, 0.01);
    pw_attribution_free(at);
    pw_trace_free(t);
}

/* ---- concurrency ----------------------------------------------------------------------- */

TEST(cpu_only_thread_beside_gpu_decode_is_not_charged_gpu_energy)
{
    pw_trace *t = simulate_text("sensor preset=nvml-energy noise=0W\nsample every=5ms\n"
                                "domain name=gpu-0 kind=gpu\nbackground 60W\nlead 200ms\n"
                                "repeat 20 {\n  phase decode 40ms 260W\n}\n"
                                "track tokenizer start=100ms {\n  repeat 4 {\n"
                                "    phase tokenize 30ms 60W\n    idle 70ms\n  }\n}\n",
                                "tokenizer.pwt");
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    const pw_phase_node *tok = node_of(a, "tokenize");
    double got = pw_energy_total(t, tok->incl_j), truth = truth_of(t, "tokenize");
    double ci = tok->incl_ci_j[0];
    /* its truth is only a share of the idle draw; equal shares would hand it ~4 J of decode */
    CHECK_MSG(fabs(got - truth) <= ci, "tokenize %.3f J ± %.3f, true %.3f", got, ci, truth);
    CHECK_MSG(got < 0.5 * (truth + 0.5 * 200.0 * 0.12), "tokenize charged %.3f J", got);
    CHECK_MSG(tok->marks & PW_FIG_ALLOCATED, "tokenize not marked as an allocation");
    CHECK_MSG(!(tok->marks & PW_FIG_EQUAL), "tokenize shared equally, not by the additive model");
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* ---- labels ---------------------------------------------------------------------------- */

TEST(a_phase_the_part_time_sensor_never_saw_is_not_observed_never_zero)
{
    /* nvml-power sees the last 25 ms of each 100 ms: a 1 ms phase at 30 ms never falls in */
    pw_trace *t = simulate_text("sensor preset=nvml-power offset=aligned noise=0W\n"
                                "sample every=10ms\nbackground 50W\nlead 2s\n"
                                "repeat 30 {\n  phase rest 30ms 80W\n  phase blip 1ms 300W\n"
                                "  phase decode 69ms 200W\n}\n", "blip.pwt");
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    const pw_phase_node *blip = node_of(a, "blip");
    CHECK_STR(pw_provenance_name(blip->provenance), "not observed");
    CHECK(isnan(pw_energy_total(t, blip->incl_j)));
    CHECK_MSG(pw_provenance_name(node_of(a, "decode")->provenance)[0] != 'n', "decode unseen");
    pw_attribution_free(a);
    free(tf_run_expect("\"$PW\" report blip.pwt --format json > blip.json", 0, NULL));
    char *json = tf_read_file(tf_path("blip.json"), NULL);
    const char *b = json ? strstr(json, "\"path\":\"blip\"") : NULL;
    CHECK_MSG(b && strstr(b, "\"provenance\":\"not observed\""), "%s", json ? json : "");
    CHECK_MSG(strstr(b, "\"total\":null"), "%.300s", b);
    free(json);
    pw_trace_free(t);
}

TEST(estimated_domains_are_split_by_time_never_fitted_never_above_the_model)
{
    /* a model's readings: 15 W, read every 10 ms; an 11 us phase and a 2 ms one inside */
    pw_trace *t = pw_trace_new();
    const fx_step steps[] = {{FX_FOREVER, 15.0}};
    fx_source(t, "estimate", PW_KIND_CPU, PW_DOMAIN_ESTIMATED, steps, 0, 10 * FX_MS, 200 * FX_MS);
    fx_name(t, 1, "prefill");
    fx_name(t, 2, "embedding");
    fx_name(t, 3, "attention");
    fx_begin(t, 1, 5 * FX_MS, 1);
    for (int i = 0; i < 10; i++) {
        uint64_t at = 5 * FX_MS + (uint64_t)i * 15 * FX_MS;
        fx_begin(t, 1, at + 100000, 2);
        fx_end(t, 1, at + 111000, 2);
        fx_begin(t, 1, at + 3000000, 3);
        fx_end(t, 1, at + 5000000, 3);
    }
    fx_end(t, 1, 180 * FX_MS, 1);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    for (size_t k = 1; k < a->nnodes; k++) {
        const pw_phase_node *n = &a->nodes[k];
        double j = pw_energy_total(t, n->incl_j), w = j / n->duration_s;
        CHECK_MSG(w <= 15.0 * 1.0001, "%s at %.1f W", n->name, w);
        CHECK_STR(pw_provenance_name(n->provenance), "estimated");
        if (n->duration_s > 1e-3) CHECK_MSG(j > 0, "%s at 0 J", n->name);
    }
    CHECK(a->disagg == NULL || !a->disagg->domains[0].fitted);
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* ---- intervals that mean what they say ------------------------------------------------- */

#define HONEST_SEEDS 60

TEST(stated_intervals_cover_the_truth_on_random_scenarios_of_real_machines)
{
    static pw_coverage cov;
    for (size_t p = 0; pw_sensor_preset_name(p); p++) {
        const char *preset = pw_sensor_preset_name(p);
        memset(&cov, 0, sizeof cov);
        for (int s = 1; s <= HONEST_SEEDS; s++) {
            char text[8192], err[256] = "";
            pw_accuracy *acc = NULL;
            CHECK_INT(pw_accuracy_random_scenario(preset, (uint64_t)s, text, sizeof text), PW_OK);
            CHECK_MSG(pw_accuracy_measure(text, tf_path("honest.pwt"), &acc, err, sizeof err) ==
                          PW_OK, "%s seed %d: %s", preset, s, err);
            pw_accuracy_coverage_add(&cov, acc);
            pw_accuracy_free(acc);
        }
        double coverage = (double)cov.covered / (double)cov.n, median =
            pw_accuracy_coverage_median(&cov);
        CHECK_MSG(cov.n >= 20, "%s: only %zu figures with an interval", preset, cov.n);
        /* Where this stands (docs/attribution.md, "Intervals against the truth"): 97-99 % of
         * figures inside their interval on these seeds, median |error| / half-width 0.16-0.22
         * (the target is >= 90 % and 0.25-0.6: most intervals are still wider than needed). */
        CHECK_MSG(coverage >= 0.92, "%s: %zu of %zu figures inside their interval", preset,
                  cov.covered, cov.n);
        CHECK_MSG(median >= 0.1 && median <= 0.6, "%s: median |error| / half-width %.3f", preset,
                  median);   /* not absurdly wide either */
        CHECK_MSG(cov.worst_measured <= 0.02, "%s: a measured figure off by %.2f%%", preset,
                  100 * cov.worst_measured);
    }
}

/* Coverage can average out: a kind of figure whose intervals are far too narrow hides among
 * the many that are too wide. So per kind (label, and sub-phase or not) over every preset:
 * a remainder beside parts the fit's hints weighted (issue 15: 2 of 28 covered, ±0.2 % for
 * -62 %), and a track's share of a piece another track holds too (80 %), among others. */
static int provenance_of(const char *name)
{
    for (int p = 0; p < PW_PROV_COUNT; p++)
        if (!strcmp(name, pw_provenance_name((pw_provenance)p))) return p;
    return -1;
}

TEST(every_kind_of_figure_covers_the_truth_not_only_all_of_them_together)
{
    enum { SEEDS = 200, KINDS = 2 * PW_PROV_COUNT };
    int n[KINDS] = {0}, in[KINDS] = {0}, col = pw_accuracy_column(PW_METHOD_AUTO);
    for (size_t p = 0; pw_sensor_preset_name(p); p++)
        for (int s = 1; s <= SEEDS; s++) {
            char text[8192], err[256] = "";
            pw_accuracy *acc = NULL;
            CHECK_INT(pw_accuracy_random_scenario(pw_sensor_preset_name(p), (uint64_t)s, text,
                                                  sizeof text), PW_OK);
            CHECK_MSG(pw_accuracy_measure(text, tf_path("kinds.pwt"), &acc, err, sizeof err) == PW_OK,
                      "seed %d: %s", s, err);
            for (size_t i = 0; i < acc->nrows; i++) {
                const pw_accuracy_row *r = &acc->rows[i];
                int prov = provenance_of(r->provenance);
                if (prov < 0 || !(r->ci_j[col] >= 0)) continue;
                int k = 2 * prov + (strchr(r->path, '/') != NULL);
                n[k]++;
                in[k] += fabs(r->err[col] * r->true_j) <= r->ci_j[col];
            }
            pw_accuracy_free(acc);
        }
    int kinds = 0;
    for (int k = 0; k < KINDS; k++) {
        if (n[k] < 8) continue;   /* too few to judge */
        kinds++;
        CHECK_MSG(in[k] >= 0.85 * n[k], "%s %s: %d of %d figures inside their interval",
                  pw_provenance_name((pw_provenance)(k / 2)), k % 2 ? "sub-phases" : "phases", in[k], n[k]);
    }
    CHECK_MSG(kinds >= 6, "only %d kinds of figure with enough cases", kinds);
}

/* Coverage, median |error| / half-width and mean signed error / half-width of the AUTO figure
 * of one phase over seeds 1..n of a scenario whose sensor seed is %d in the text. */
static void coverage_over_seeds(const char *tmpl, const char *path, int n, double *coverage,
                                double *median, double *bias)
{
    static pw_coverage cov;
    memset(&cov, 0, sizeof cov);
    double signed_sum = 0;
    int col = pw_accuracy_column(PW_METHOD_AUTO), rows = 0;
    for (int seed = 1; seed <= n; seed++) {
        char text[2048], err[256] = "";
        snprintf(text, sizeof text, tmpl, seed);
        pw_accuracy *acc = NULL;
        CHECK_MSG(pw_accuracy_measure(text, tf_path("seeds.pwt"), &acc, err, sizeof err) == PW_OK,
                  "seed %d: %s", seed, err);
        for (size_t i = 0; acc && i < acc->nrows; i++) {
            const pw_accuracy_row *r = &acc->rows[i];
            if (strcmp(r->path, path) || !(r->ci_j[col] > 0)) continue;
            signed_sum += r->err[col] * r->true_j / r->ci_j[col];
            rows++;
        }
        pw_accuracy_coverage_add(&cov, acc);
        pw_accuracy_free(acc);
    }
    CHECK_MSG(rows == n, "%s: %d figures with an interval over %d seeds", path, rows, n);
    *coverage = cov.n ? (double)cov.covered / (double)cov.n : 0;
    *median = pw_accuracy_coverage_median(&cov);
    *bias = rows ? signed_sum / rows : NAN;
}

/* 10 000 calls of an op a fifth of a period long on each preset, the cycle out of step with
 * the sensor's grid: the fit's interval shrinks with the calls while the power estimates it
 * leans on must not carry a few readings' noise into every call (issue 15: 0 of 4 before). */
TEST(ten_thousand_repeats_of_a_fifth_of_a_period_are_covered_by_their_intervals)
{
    static const struct { const char *preset, *every, *op, *idle; } cases[] = {
        {"rapl", "976562ns", "195312ns", "781250ns"},
        {"nvml-energy", "10ms", "4ms", "13.7ms"},
        {"nvml-power", "10ms", "20ms", "77.3ms"},
        {"powermetrics", "10ms", "10ms", "33.3ms"},
    };
    int covered = 0, figures = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int seed = 1; seed <= 4; seed++) {
            char tmpl[512], text[600];
            snprintf(tmpl, sizeof tmpl, "sensor preset=%s seed=%%d\nsample every=%s\n"
                     "background 20W\nlead 50ms\nvary 15%%%%\nrepeat 10000 {\n"
                     "  phase op %s 90W\n  idle %s\n}\n", cases[c].preset, cases[c].every,
                     cases[c].op, cases[c].idle);
            snprintf(text, sizeof text, tmpl, seed);
            char err[256] = "";
            pw_accuracy *acc = NULL;
            CHECK_MSG(pw_accuracy_measure(text, tf_path("repeats.pwt"), &acc, err, sizeof err) == PW_OK,
                      "%s seed %d: %s", cases[c].preset, seed, err);
            int col = pw_accuracy_column(PW_METHOD_AUTO);
            for (size_t i = 0; acc && i < acc->nrows; i++) {
                const pw_accuracy_row *r = &acc->rows[i];
                if (strcmp(r->path, "op")) continue;
                figures++;
                covered += fabs(r->err[col] * r->true_j) <= r->ci_j[col];
            }
            pw_accuracy_free(acc);
        }
    /* 15 of 16 now (docs/attribution.md): the one left is the part-time averaged sensor's */
    CHECK_MSG(figures == 16 && covered >= 14, "%d of %d figures inside their interval", covered,
              figures);
}

/* 12-period phases on a noisy RAPL-like counter at random grid phases: the counter's own
 * noise (a random walk) is most of their error, and the interval must know it. */
TEST(long_phases_on_a_noisy_counter_state_the_counters_noise)
{
    const char *tmpl = "sensor preset=rapl seed=%d\nsample every=976562ns\nbackground 25W\n"
                       "lead 9765620ns\nrepeat 4 {\n  phase prefill 11895870ns 150W\n"
                       "  idle 4181739ns\n}\n";
    double coverage, median, bias;
    coverage_over_seeds(tmpl, "prefill", 100, &coverage, &median, &bias);
    CHECK_MSG(coverage >= 0.9 && median >= 0.1 && median <= 0.6,
              "coverage %.2f, median |error| / half-width %.3f", coverage, median);
}

/* Power rising 30 % within each prefill call, a hotter phase after it: a split that weights
 * prefill's end by its mean power would credit it too little, call after call. */
TEST(a_ramp_within_a_phase_does_not_bias_its_boundary_splits)
{
    const char *tmpl = "sensor preset=rapl seed=%d noise=0W\nsample every=976562ns\n"
                       "background 20W\nlead 9765620ns\nramp 30%%\nrepeat 3 {\n"
                       "  phase prefill 7300000ns 100W\n  phase attention 300000ns 160W\n"
                       "  idle 3100000ns\n}\n";
    double coverage, median, bias;
    coverage_over_seeds(tmpl, "prefill", 100, &coverage, &median, &bias);
    CHECK_MSG(fabs(bias) <= 0.25 && coverage >= 0.9,
              "mean error / half-width %+.3f, coverage %.2f", bias, coverage);
}

/* ---- the begin/end baseline ----------------------------------------------------------- */

typedef struct truth_line { const pw_schedule *tl; uint64_t t0; double bg; } truth_line;

/* True cumulative energy at t (J): the background from the trace's start, then the pieces. */
static double true_energy_at(const truth_line *l, uint64_t t)
{
    const uint64_t start = 1000000000ull;   /* the simulator's fixed start */
    double e = l->bg * (double)((t < l->t0 ? t : l->t0) - start) * 1e-9;
    for (size_t i = 0; i < l->tl->nspans && t > l->t0; i++) {
        const pw_span *p = &l->tl->spans[i];
        uint64_t a = l->t0 + p->t0_ns, b = l->t0 + p->t1_ns;
        if (t <= a) break;
        e += p->watts * (double)((t < b ? t : b) - a) * 1e-9;
    }
    return e;
}

TEST(windows_baseline_reads_the_counter_at_every_boundary_like_a_begin_end_tool)
{
    /* RAPL read every 4 updates (a sampler's default interval), the slower counters at the
     * scenario's 10 ms, faster than they update: either way naive tagging and a begin/end tool
     * see different things */
    const char *presets[] = {"rapl", "nvml-energy", "powermetrics"};
    const unsigned long long slower[] = {4, 1, 1};
    for (size_t p = 0; p < sizeof presets / sizeof presets[0]; p++) {
        char text[4096], extra[4200];
        CHECK_INT(pw_accuracy_scenario("long", presets[p], text, sizeof text), PW_OK);
        /* noise off, so the tool's reads are the truth at its last update */
        char *sensor = strstr(text, "sensor preset=");
        CHECK(sensor != NULL);
        char *eol = strchr(sensor, '\n');
        snprintf(extra, sizeof extra, "%.*s noise=0W%s", (int)(eol - text), text, eol);
        char *every = strstr(extra, "sample every=");
        CHECK(every != NULL);
        unsigned long long ns = strtoull(every + 13, NULL, 10);
        char *rest = strchr(every, '\n');
        char tail[4096];
        snprintf(tail, sizeof tail, "%s", rest);
        snprintf(every, sizeof extra - (size_t)(every - extra), "sample every=%lluns%s",
                 slower[p] * ns, tail);
        pw_scenario *s = NULL;
        char err[256] = "";
        CHECK_MSG(pw_scenario_parse(extra, &s, err, sizeof err) == PW_OK, "%s", err);
        pw_schedule *tl = NULL;
        CHECK_INT(pw_scenario_schedule(s, &tl), PW_OK);
        uint64_t period = s->sensor.period_ns, offset = pw_sensor_grid_offset(&s->sensor);
        truth_line line = {tl, 1000000000ull + s->lead_ns, s->background_w};
        CHECK_MSG(pw_simulate(s, tf_path("windows.pwt"), err, sizeof err) == PW_OK, "%s", err);
        pw_trace *t = NULL;
        CHECK_INT(pw_trace_open(tf_path("windows.pwt"), &t), PW_OK);
        pw_attribution *w = NULL, *naive = NULL;
        CHECK_INT(pw_attribute_with(t, PW_METHOD_WINDOWS, &w), PW_OK);
        CHECK_INT(pw_attribute_with(t, PW_METHOD_NAIVE, &naive), PW_OK);
        /* a begin/end tool's read at each top-level boundary: the counter at its last update */
        double tool[2] = {0, 0};
        const pw_track *tr = &t->tracks[0];
        uint64_t begin = 0;
        for (size_t i = 0; i < tr->n; i++) {
            const pw_event *ev = &tr->events[i];
            uint64_t u = ev->t_ns - (ev->t_ns - offset) % period;
            int which = !strcmp(t->names[ev->id], "decode");
            if (ev->type == PW_EV_BEGIN) begin = u;
            if (ev->type == PW_EV_END)
                tool[which] += true_energy_at(&line, u) - true_energy_at(&line, begin);
        }
        const char *paths[2] = {"prefill", "decode"};
        for (int k = 0; k < 2; k++) {
            double got = pw_energy_total(t, node_of(w, paths[k])->incl_j);
            double nv = pw_energy_total(t, node_of(naive, paths[k])->incl_j);
            CHECK_MSG(fabs(got - tool[k]) <= 0.02 * tool[k], "%s %s: windows %.4f J, a begin/end "
                      "tool %.4f J", presets[p], paths[k], got, tool[k]);
            /* where naive tagging misses what the tool reads, windows is not naive relabelled */
            CHECK_MSG(fabs(nv - tool[k]) <= 0.02 * tool[k] || fabs(got - nv) > 1e-9,
                      "%s %s: windows equals naive (%.4f J), the tool reads %.4f J", presets[p],
                      paths[k], nv, tool[k]);
        }
        /* the recorder's lock on the grid, named by its last update (what a session writes
         * as sensor.SOURCE.grid_phase_ns): every boundary before that instant must still read
         * its own last update (they once all read one instant) */
        char key[128], value[32];
        uint64_t last = t->series[0].t_ns[t->series[0].n - 1];
        snprintf(key, sizeof key, "sensor.%s.grid_period_ns", t->sources[0].name);
        snprintf(value, sizeof value, "%llu", (unsigned long long)period);
        CHECK_INT(pw_trace_set_meta(t, key, value), PW_OK);
        snprintf(key, sizeof key, "sensor.%s.grid_phase_ns", t->sources[0].name);
        snprintf(value, sizeof value, "%llu",
                 (unsigned long long)(last - (last - offset) % period));
        CHECK_INT(pw_trace_set_meta(t, key, value), PW_OK);
        pw_attribution *locked = NULL;
        CHECK_INT(pw_attribute_with(t, PW_METHOD_WINDOWS, &locked), PW_OK);
        for (int k = 0; k < 2; k++) {
            double got = pw_energy_total(t, node_of(locked, paths[k])->incl_j);
            CHECK_MSG(fabs(got - tool[k]) <= 0.02 * tool[k], "%s %s: windows on the locked grid "
                      "%.4f J, a begin/end tool %.4f J", presets[p], paths[k], got, tool[k]);
        }
        pw_attribution_free(locked);
        pw_attribution_free(w);
        pw_attribution_free(naive);
        pw_trace_free(t);
        pw_schedule_free(tl);
        pw_scenario_free(s);
    }
}

/* ---- bounded work --------------------------------------------------------------------- */

/* 8 000 tracks open all run long, each with a short phase inside: the additive model would
 * visit every piece of every segment (and the fit hold every track in every piece), so the
 * allocation falls back to equal shares, linear in the pieces, and says so. */
TEST(eight_thousand_overlapping_tracks_fall_back_to_equal_shares_and_say_so)
{
    pw_trace *t = pw_trace_new();
    const fx_step steps[] = {{FX_FOREVER, 20.0}};
    fx_source(t, "rapl", PW_KIND_CPU, 0, steps, 0, FX_MS, 2000 * FX_MS);
    fx_name(t, 1, "op");
    fx_name(t, 2, "long");
    for (uint32_t tr = 1; tr <= 8000; tr++) {
        uint64_t at = FX_MS + (uint64_t)(tr * 237 % 1900) * FX_MS + tr;
        fx_begin(t, tr, tr, 2);
        fx_begin(t, tr, at, 1);
        fx_end(t, tr, at + 20000, 1);
        fx_end(t, tr, 1999 * FX_MS - tr, 2);
    }
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    double phases = pw_energy_total(t, node_of(a, "long")->incl_j);
    CHECK_NEAR(phases + pw_energy_total(t, a->nodes[0].self_j), 40.0, 1e-9);   /* kept whole */
    const pw_phase_node *op = node_of(a, "long/op");
    CHECK(op->marks & PW_FIG_ALLOCATED && op->marks & PW_FIG_EQUAL);
    CHECK(op->provenance >= PW_PROV_ALLOCATED);   /* allocated, or less direct still */
    pw_attribution_free(a);
    pw_trace_free(t);
}
