/* test_export.c — `phasewatt export`: the Perfetto protobuf trace and its JSON variant checked
 * by an independent Python decoder (wire format, nesting slices, described tracks, counters
 * integrating to the attributed energy, absolute timestamps), counter totals over a million
 * ids, the CSV and JSON lines against the trace they came from, and bad command lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "export/export.h"
#include "phasewatt.h"
#include "tf.h"
#include "trace/trace.h"
#include "trace_fixture.h"

typedef struct run {
    pw_trace *t;
    pw_attribution *a;
} run;

static run load(const char *path)
{
    run r = {0};
    CHECK_INT(pw_trace_open(path, &r.t), PW_OK);
    CHECK_INT(pw_attribute(r.t, &r.a), PW_OK);
    return r;
}

static void unload(run *r)
{
    pw_attribution_free(r->a);
    pw_trace_close(r->t);
}

static char *run_ok(const char *fmt, const char *arg1, const char *arg2)
{
    char cmd[2048], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, fmt, arg1, arg2);
    int rc = tf_run(cmd, &out, &err);
    CHECK_MSG(rc == 0, "`%s` exited %d: %s%s", cmd, rc, err, out);
    free(err);
    return out;
}

/* The value after "KEY NAME " in the checker's output, or -1. */
static double checker_value(const char *out, const char *key, const char *name)
{
    char want[512];
    snprintf(want, sizeof want, *name ? "%s %s " : "%s ", key, name);
    for (const char *line = out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (!strncmp(line, want, strlen(want))) return strtod(line + strlen(want), NULL);
    return -1;
}

/* Exports with `--format OPTIONS` and returns what the independent checker prints. */
static char *check_perfetto(const char *trace, const char *options)
{
    char cmd[1024], script[1024];
    const char *file = tf_path("run.pftrace");
    snprintf(cmd, sizeof cmd, "\"$PW\" export %s --format %s -o %s", trace, options, file);
    free(tf_run_expect(cmd, 0, NULL));
    snprintf(script, sizeof script, "%s/tests/python/check_perfetto.py", PW_SOURCE_DIR);
    return run_ok("python3 %s %s", script, file);
}

/* Every domain's counter integrates to its attributed energy within 0.1 %. */
static void check_energy(const char *out, const run *r)
{
    CHECK(r->t->ndomains > 0);
    for (size_t d = 0; d < r->t->ndomains; d++) {
        double j = checker_value(out, "energy", r->t->domains[d].name);
        CHECK_MSG(j >= 0, "no counter for %s in: %s", r->t->domains[d].name, out);
        CHECK_NEAR(j, r->a->domain_j[d], 0.001);
    }
}

/* Timestamps are CLOCK_REALTIME (clock 1): the first is the run's first sample or event
 * plus the trace's realtime offset, which the file carries. */
static void check_absolute_time(const char *out, const pw_trace *t)
{
    uint64_t first = UINT64_MAX;
    for (size_t s = 0; s < t->nsources; s++)
        if (t->series[s].n && t->series[s].t_ns[0] < first) first = t->series[s].t_ns[0];
    for (size_t k = 0; k < t->ntracks; k++)
        if (t->tracks[k].n && t->tracks[k].events[0].t_ns < first) first = t->tracks[k].events[0].t_ns;
    CHECK_INT(checker_value(out, "clock", ""), 1);
    CHECK_INT(checker_value(out, "realtime_offset_ns", ""), (double)t->realtime_offset_ns);
    char want[64];
    long long real = (long long)first + (long long)t->realtime_offset_ns;
    snprintf(want, sizeof want, "first_ts %lld\n", real);
    CHECK_MSG(strstr(out, want), "wanted %s in: %s", want, out);
}

/* Occurrences of needle in hay, in one pass (strstr in a loop is quadratic under ASan, whose
 * interceptor measures the whole haystack on every call). */
static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0, len = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < len && p[i] == needle[i]) i++;
        if (i == len) n++;
    }
    return n;
}

static void skip_without_python(void)
{
    if (tf_run("command -v python3", NULL, NULL) != 0)
        tf_skip("no python3 to check the JSON independently (tools/install-deps test)");
}

TEST(export_perfetto_counters_integrate_to_the_attributed_energy)
{
    skip_without_python();
    const char *trace = tf_path("sim.pwt");
    free(run_ok("\"$PW\" simulate -o %s%s", trace, ""));
    char *out = check_perfetto(trace, "perfetto");
    run r = load(trace);
    check_energy(out, &r);
    check_absolute_time(out, r.t);
    /* every call of every phase is one slice */
    for (size_t i = 1; i < r.a->nnodes; i++) {
        const char *name = pw_trace_name(r.t, r.a->nodes[i].name_id);
        uint64_t calls = 0;
        for (size_t k = 1; k < r.a->nnodes; k++)
            if (r.a->nodes[k].name_id == r.a->nodes[i].name_id) calls += r.a->nodes[k].calls;
        CHECK_INT(checker_value(out, "slices", name), calls);
    }
    unload(&r);
    free(out);
}

TEST(export_perfetto_tracks_of_a_recorded_program_nest_and_keep_their_names)
{
    skip_without_python();
    const char *trace = tf_path("rec.pwt");
    char prog[1024];
    snprintf(prog, sizeof prog, "%s/progs/tagger", PW_BUILD_DIR);   /* exits 3 */
    free(run_ok("\"$PW\" record -o %s --no-report --quiet --source synthetic --synthetic "
                "prefill=30W,decode=10W --interval 1 -- %s; test $? = 3", trace, prog));
    char *out = check_perfetto(trace, "perfetto");
    CHECK_INT(checker_value(out, "slices", "prefill"), 1);
    CHECK_INT(checker_value(out, "slices", "decode"), 10);
    CHECK_INT(checker_value(out, "slices", "attention"), 10);
    CHECK_MSG(strstr(out, "thread decoder-0\n") && strstr(out, "thread decoder-1\n"),
              "track names missing: %s", out);
    run r = load(trace);
    int root = pw_attribution_find(r.a, "");
    CHECK_MSG(strstr(out, "tokens 17\n"), "tokens: %s", out);     /* 7 prefill + 2 x 5 */
    CHECK_INT(r.a->nodes[root].tokens_incl, 17);
    /* a recorded run sits on the wall clock: after 2020 */
    check_absolute_time(out, r.t);
    CHECK(checker_value(out, "first_ts", "") > 1.58e18);
    unload(&r);
    free(out);
}

/* The acceptance shape: bench/report.c's hour at 1 kHz (3.6 M readings, 35 950 decode steps of
 * two sub-phases) exports to at most 30 MB and still integrates to the attributed energy. */
TEST(export_perfetto_an_hour_at_1_khz_fits_in_30_mb)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* 3.6 M readings through a sanitized simulate, read and export near the test timeout */
    tf_skip("the hour is checked by the plain build; the smaller exports run sanitized");
#endif
    skip_without_python();
    static const char hour[] =
        "sensor period=1ms quantum=15.3uJ bits=32\nsample every=1ms\nbackground 5W\n"
        "phase prefill {\n  phase attention 2s 60W\n  phase mlp 3s 70W\n}\n"
        "repeat 35950 {\n  phase decode {\n    count tokens 1\n    phase attention 40ms 30W\n"
        "    phase mlp 60ms 36W\n  }\n}\n";
    const char *scenario = tf_path("hour.scenario"), *trace = tf_path("hour.pwt");
    CHECK_INT(tf_write_file(scenario, hour, sizeof hour - 1), 0);
    free(run_ok("\"$PW\" simulate --scenario %s -o %s", scenario, trace));
    char *out = check_perfetto(trace, "perfetto");
    size_t bytes = 0;
    free(tf_read_file(tf_path("run.pftrace"), &bytes));
    CHECK_MSG(bytes <= 30 * 1000 * 1000, "an hour at 1 kHz is %zu bytes", bytes);
    run r = load(trace);
    check_energy(out, &r);
    CHECK_INT(checker_value(out, "slices", "decode"), 35950);
    CHECK_INT(checker_value(out, "tokens", ""), 35950);
    unload(&r);
    free(out);
}

TEST(export_perfetto_full_resolution_and_json_keep_the_energy)
{
    skip_without_python();
    const char *trace = tf_path("sim.pwt");
    free(run_ok("\"$PW\" simulate -o %s%s", trace, ""));
    run r = load(trace);
    char *bucketed = check_perfetto(trace, "perfetto");
    char *full = check_perfetto(trace, "perfetto --full");
    char *json = check_perfetto(trace, "perfetto-json");
    check_energy(full, &r);
    check_energy(json, &r);
    /* downsampling writes fewer packets for the same energy */
    CHECK_MSG(checker_value(bucketed, "packets", "") < checker_value(full, "packets", ""),
              "bucketed: %s\nfull: %s", bucketed, full);
    CHECK_INT(checker_value(json, "slices", "decode"), checker_value(full, "slices", "decode"));
    unload(&r);
    free(bucketed);
    free(full);
    free(json);
}

/* 200 000 distinct counter ids on one track, each counted twice, and one counter pushed past
 * INT64_MAX: totals come from a table (a linear search took minutes here) and saturate
 * instead of wrapping (UBSan builds catch a signed overflow). */
TEST(export_perfetto_many_counter_ids_and_totals_that_saturate)
{
    enum { IDS = 200000 };
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    fx_constant(t, "package-0", PW_KIND_CPU, 10.0, 0, FX_MS, 10 * FX_MS);
    fx_name(t, 1, "huge");
    for (int round = 0; round < 2; round++) {
        for (uint32_t id = 2; id < IDS + 2; id++) fx_event(t, 1, FX_MS, PW_EV_COUNT, id, 3);
        fx_event(t, 1, 2 * FX_MS, PW_EV_COUNT, 1, INT64_MAX);
    }
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    FILE *f = fopen(tf_path("many.pftrace"), "w");
    CHECK(f != NULL);
    CHECK_INT(pw_export_perfetto(f, t, a, PW_EXPORT_BUCKET_NS), PW_OK);
    CHECK_INT(fclose(f), 0);
    f = fopen(tf_path("many.json"), "w");
    CHECK(f != NULL);
    CHECK_INT(pw_export_perfetto_json(f, t, a), PW_OK);
    CHECK_INT(fclose(f), 0);
    size_t len;
    char *json = tf_read_file(tf_path("many.json"), &len);
    CHECK(json != NULL);
    CHECK_MSG(strstr(json, "\"huge\":9223372036854775807}"), "the total did not saturate");
    CHECK_INT(count_of(json, ":6}}"), IDS);        /* every id's second total: 3 + 3 */
    free(json);
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* Times at the far ends of 64 bits with offsets at the far ends of int64 clamp to the clock's
 * range instead of wrapping (UBSan builds catch a signed overflow). */
TEST(export_perfetto_timestamps_at_the_limits_clamp)
{
    skip_without_python();
    const int64_t offsets[] = {INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < 2; i++) {
        pw_trace *t = pw_trace_new();
        CHECK(t != NULL);
        t->realtime_offset_ns = offsets[i];
        fx_constant(t, "package-0", PW_KIND_CPU, 10.0, 0, FX_MS, 4 * FX_MS);
        fx_name(t, 1, "late");
        fx_begin(t, 1, UINT64_MAX - 2, 1);
        fx_end(t, 1, UINT64_MAX - 1, 1);
        pw_attribution *a = NULL;
        CHECK_INT(pw_attribute(t, &a), PW_OK);
        const char *file = tf_path("edge.pftrace");
        FILE *f = fopen(file, "w");
        CHECK(f != NULL);
        CHECK_INT(pw_export_perfetto(f, t, a, PW_EXPORT_BUCKET_NS), PW_OK);
        CHECK_INT(fclose(f), 0);
        char *out = run_ok("python3 %s/tests/python/check_perfetto.py %s", PW_SOURCE_DIR, file);
        CHECK_INT(checker_value(out, "slices", "late"), 1);
        /* the first reading is at 0: INT64_MAX after it, and INT64_MIN clamps it to 0 */
        double first = checker_value(out, "first_ts", "");
        CHECK_MSG(first == (offsets[i] > 0 ? (double)INT64_MAX : 0.0), "first_ts %.0f", first);
        free(out);
        pw_attribution_free(a);
        pw_trace_free(t);
    }
}

/* Integrates a power column (mW) over the data rows: each row covers the time since the
 * previous row's timestamp (the first, since 0: the first reading). */
static double csv_column_energy(const char *csv, int column, size_t *rows)
{
    double sum = 0, prev_s = 0;
    *rows = 0;
    for (const char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        const char *cell = line + 1;
        double ts = strtod(cell, NULL);
        for (int c = 0; c < column && cell; c++) {
            cell = strchr(cell, ',');
            if (cell) cell++;
        }
        CHECK(cell != NULL);
        sum += strtod(cell, NULL) * 1e-3 * (ts - prev_s);
        prev_s = ts;
        (*rows)++;
    }
    return sum;
}

TEST(export_csv_has_the_seed_columns_then_one_per_domain)
{
    const char *trace = tf_path("sim.pwt");
    free(run_ok("\"$PW\" simulate -o %s%s", trace, ""));
    char *csv = run_ok("\"$PW\" export %s --format csv%s", trace, "");
    run r = load(trace);
    const char *seed = "timestamp,cpu_power_mw,gpu_power_mw,ane_power_mw,dram_power_mw,"
                       "total_power_mw,phase,";
    CHECK_MSG(!strncmp(csv, seed, strlen(seed)), "header: %.200s", csv);
    char domain_col[256];
    snprintf(domain_col, sizeof domain_col, ",%s_power_mw\n", r.t->domains[0].name);
    CHECK_MSG(strstr(csv, domain_col), "no column %s", domain_col);
    /* power x interval, row by row, sums to the attributed energy */
    const pw_series *p = &r.t->series[r.a->primary];
    size_t rows;
    double total = csv_column_energy(csv, 5, &rows);
    double domain = csv_column_energy(csv, 7, &rows);
    CHECK_INT(rows, p->n - 1);
    CHECK_NEAR(total, pw_energy_total(r.t, r.a->domain_j), 0.001);
    CHECK_NEAR(domain, r.a->domain_j[0], 0.001);
    unload(&r);
    free(csv);
}

TEST(export_jsonl_has_one_valid_line_per_sample_and_event)
{
    skip_without_python();
    const char *trace = tf_path("sim.pwt");
    const char *lines = tf_path("run.jsonl");
    free(run_ok("\"$PW\" simulate -o %s%s", trace, ""));
    free(run_ok("\"$PW\" export %s --format jsonl -o %s", trace, lines));
    char *out = run_ok("python3 -c 'import json,sys\n"
                       "rows=[json.loads(l) for l in open(sys.argv[1])]\n"
                       "ts=[r[\"t\"] for r in rows]\n"
                       "assert ts==sorted(ts), \"not in time order\"\n"
                       "last=[r for r in rows if r[\"type\"]==\"sample\"][-1]\n"
                       "print(len(rows), sum(r[\"type\"]!=\"sample\" for r in rows), "
                       "sum(last[\"energy_j\"].values()))' %s%s", lines, "");
    run r = load(trace);
    size_t samples = 0, events = 0;
    for (size_t s = 0; s < r.t->nsources; s++) samples += r.t->series[s].n;
    for (size_t k = 0; k < r.t->ntracks; k++) events += r.t->tracks[k].n;
    unsigned long nrows = 0, nevents = 0;
    double last_j = 0;
    CHECK_INT(sscanf(out, "%lu %lu %lf", &nrows, &nevents, &last_j), 3);
    CHECK_INT(nrows, samples + events);
    CHECK_INT(nevents, events);
    const pw_series *se = &r.t->series[0];
    CHECK_NEAR(last_j, (double)se->energy_uj[(se->n - 1) * se->ndomains] * 1e-6, 1e-6);
    unload(&r);
    free(out);
}

TEST(export_bad_command_lines_say_what_is_wrong)
{
    char *err = NULL;
    CHECK_INT(tf_run("\"$PW\" export /nonexistent.pwt --format csv", NULL, &err), 1);
    CHECK_MSG(strstr(err, "cannot read /nonexistent.pwt"), "stderr: %s", err);
    free(err);
    CHECK_INT(tf_run("\"$PW\" export x.pwt --format svg", NULL, &err), 2);
    CHECK_MSG(strstr(err, "unknown format 'svg'"), "stderr: %s", err);
    free(err);
    CHECK_INT(tf_run("\"$PW\" export x.pwt", NULL, &err), 2);
    CHECK_MSG(strstr(err, "wants --format"), "stderr: %s", err);
    free(err);
    /* a failed export leaves no partial file */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "\"$PW\" export /nonexistent.pwt --format jsonl -o %s",
             tf_path("partial.jsonl"));
    CHECK_INT(tf_run(cmd, NULL, NULL), 1);
    CHECK(tf_read_file(tf_path("partial.jsonl"), NULL) == NULL);
}
