/* test_merge.c — `phasewatt merge`: two simulated hosts as one trace, whose per-phase energy
 * is exactly the sum of the hosts', aligned on their wall-clock offsets; errors; and the
 * other commands reading the merged trace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "tf.h"
#include "trace/merge.h"
#include "trace/trace.h"

/* Host a: one GPU, long phases. Host b: a CPU package read every 2 ms by a quantised
 * counter, with nested phases short enough that report disaggregates them, and a phase
 * ("mlp") host a never runs. */
static const char *const scenario_a =
    "sample every=1ms\n"
    "domain name=gpu-0 kind=gpu\n"
    "background 5W\n"
    "phase prefill 40ms 300W\n"
    "repeat 5 {\n"
    "  phase decode 10ms 200W\n"
    "}\n";
static const char *const scenario_b =
    "sensor period=1ms quantum=15.3uJ bits=32\n"
    "sample every=2ms\n"
    "domain name=package-0 kind=cpu\n"
    "background 8W\n"
    "lead 3ms\n"
    "phase prefill 25ms 90W\n"
    "repeat 6 {\n"
    "  phase decode {\n"
    "    phase attention 1ms 40W\n"
    "    phase mlp 1.5ms 55W\n"
    "  }\n"
    "}\n";

#define WALL_A 1700000000000000000ll   /* CLOCK_REALTIME - CLOCK_MONOTONIC of host a */

static int run_cli(const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"$PW\" %s", args);
    return tf_run(cmd, out, err);
}

static void run_ok(const char *args)
{
    char *err = NULL;
    int rc = run_cli(args, NULL, &err);
    CHECK_MSG(rc == 0, "'%s' exited %d: %s", args, rc, err ? err : "");
    free(err);
}

/* Simulates a scenario into NAME.pwt and gives it a wall-clock offset. */
static void simulate(const char *name, const char *scenario, long long offset_ns)
{
    char scn[64], pwt[64], args[256];
    snprintf(scn, sizeof scn, "%s.scn", name);
    snprintf(pwt, sizeof pwt, "%s.pwt", name);
    CHECK_INT(tf_write_file(tf_path(scn), scenario, strlen(scenario)), 0);
    snprintf(args, sizeof args, "simulate --scenario %s -o %s", scn, pwt);
    run_ok(args);
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path(pwt), &t), PW_OK);
    t->realtime_offset_ns = offset_ns;
    CHECK_INT(pw_trace_write(t, tf_path(pwt)), PW_OK);
    pw_trace_close(t);
}

static pw_trace *open_trace(const char *name, pw_attribution **a)
{
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path(name), &t), PW_OK);
    CHECK_INT(pw_attribute(t, a), PW_OK);
    return t;
}

/* A phase's inclusive (or self) energy over every domain; 0 when the run lacks the phase. */
static double phase_j(const pw_trace *t, const pw_attribution *a, const char *path, int self)
{
    int k = pw_attribution_find(a, path);
    if (k < 0) return 0;
    return pw_energy_total(t, self ? a->nodes[k].self_j : a->nodes[k].incl_j);
}

static const pw_truth *truth_of(const pw_trace *t, const char *path)
{
    for (size_t i = 0; i < t->ntruth; i++)
        if (!strcmp(t->truth[i].path, path)) return &t->truth[i];
    return NULL;
}

/* The "total" of a phase's energy_j in `report --format json`, or -1. */
static double json_phase_j(const char *json, const char *path)
{
    char needle[128];
    snprintf(needle, sizeof needle, "{\"path\":\"%s\",", path);
    const char *p = strstr(json, needle);
    p = p ? strstr(p, "\"energy_j\":{\"total\":") : NULL;
    return p ? strtod(p + strlen("\"energy_j\":{\"total\":"), NULL) : -1;
}

static const char *const paths[] = {"", "prefill", "decode", "decode/attention", "decode/mlp"};
#define NPATHS (sizeof paths / sizeof paths[0])

TEST(merge_two_hosts_sums_their_energy_per_phase_exactly)
{
    simulate("a", scenario_a, WALL_A);
    simulate("b", scenario_b, WALL_A - 3500000);   /* b's clock runs 3.5 ms ahead */
    run_ok("merge a.pwt b.pwt -o ab.pwt");
    pw_attribution *aa = NULL, *ab = NULL, *am = NULL;
    pw_trace *ta = open_trace("a.pwt", &aa), *tb = open_trace("b.pwt", &ab);
    pw_trace *tm = open_trace("ab.pwt", &am);
    CHECK_INT(tm->ndomains, ta->ndomains + tb->ndomains);
    CHECK_INT(tm->ntracks, ta->ntracks + tb->ntracks);
    CHECK(pw_attribution_find(ab, "decode/mlp") > 0);
    for (size_t i = 0; i < NPATHS; i++) {
        const char *p = paths[i];
        CHECK_MSG(pw_attribution_find(am, p) >= 0, "merged run lacks '%s'", p);
        double want = phase_j(ta, aa, p, 0) + phase_j(tb, ab, p, 0);
        CHECK_MSG(want > 0, "'%s' has no energy", p);
        CHECK_NEAR(phase_j(tm, am, p, 0), want, 1e-9);
        CHECK_NEAR(phase_j(tm, am, p, 1), phase_j(ta, aa, p, 1) + phase_j(tb, ab, p, 1), 1e-9);
        const pw_truth *x = truth_of(ta, p), *y = truth_of(tb, p), *z = truth_of(tm, p);
        CHECK_MSG(z && (x || y), "truth of '%s' missing", p);
        CHECK_NEAR(z->energy_j, (x ? x->energy_j : 0) + (y ? y->energy_j : 0), 1e-12);
        CHECK_NEAR(z->duration_s, (x ? x->duration_s : 0) + (y ? y->duration_s : 0), 1e-12);
    }
    /* per kind too: the GPU is host a's alone, the CPU host b's */
    int k = pw_attribution_find(am, "prefill");
    CHECK_NEAR(pw_energy_kind(tm, am->nodes[k].incl_j, PW_KIND_GPU), phase_j(ta, aa, "prefill", 0),
               1e-9);
    CHECK_NEAR(pw_energy_kind(tm, am->nodes[k].incl_j, PW_KIND_CPU), phase_j(tb, ab, "prefill", 0),
               1e-9);

    /* the report's JSON says the same (to its 9 significant digits) */
    char *json = NULL;
    CHECK_INT(run_cli("report --format json ab.pwt", &json, NULL), 0);
    CHECK(json && strstr(json, "\"merge.2.label\":\"b\""));
    for (size_t i = 0; i < NPATHS; i++)
        CHECK_NEAR(json_phase_j(json, paths[i]),
                   phase_j(ta, aa, paths[i], 0) + phase_j(tb, ab, paths[i], 0), 1e-8);
    free(json);
    pw_attribution_free(aa);
    pw_attribution_free(ab);
    pw_attribution_free(am);
    pw_trace_close(ta);
    pw_trace_close(tb);
    pw_trace_close(tm);
}

/* The first BEGIN of the track named `name`, or 0. */
static uint64_t first_begin(const pw_trace *t, const char *name)
{
    for (size_t k = 0; k < t->ntracks; k++) {
        const pw_track *tr = &t->tracks[k];
        if (name && (!tr->name || strcmp(tr->name, name))) continue;
        for (size_t i = 0; i < tr->n; i++)
            if (tr->events[i].type == PW_EV_BEGIN) return tr->events[i].t_ns;
    }
    return 0;
}

TEST(merge_aligns_hosts_on_their_wall_clock_offsets)
{
    simulate("a", scenario_a, WALL_A);
    simulate("b", scenario_b, WALL_A - 3500000);
    run_ok("merge a.pwt b.pwt --label host-a,host-b -o ab.pwt");
    pw_trace *ta = NULL, *tb = NULL, *tm = NULL;
    CHECK_INT(pw_trace_open(tf_path("a.pwt"), &ta), PW_OK);
    CHECK_INT(pw_trace_open(tf_path("b.pwt"), &tb), PW_OK);
    CHECK_INT(pw_trace_open(tf_path("ab.pwt"), &tm), PW_OK);
    CHECK_INT(tm->realtime_offset_ns, WALL_A);
    CHECK(!strcmp(tm->domains[1].name, "host-b/package-0"));
    CHECK(!strcmp(pw_trace_meta(tm, "merge.2.shift_ns"), "-3500000"));
    CHECK(!strcmp(pw_trace_meta(tm, "host"), "host-a,host-b"));
    /* host a's clock is the merged one; host b's events move by the offsets' difference */
    CHECK_INT(first_begin(tm, "host-a/simulated"), first_begin(ta, NULL));
    CHECK_INT(first_begin(tm, "host-b/simulated"), first_begin(tb, NULL) - 3500000);
    CHECK_INT(tm->series[1].t_ns[0], tb->series[0].t_ns[0] - 3500000);
    pw_trace_close(tm);

    /* b recorded long before a's host booted: the common clock moves back so no time is
     * negative, and the hosts stay 1000 s + their monotonic difference apart */
    simulate("old", scenario_b, WALL_A - 1000000000000ll);
    run_ok("merge a.pwt old.pwt -o aold.pwt");
    CHECK_INT(pw_trace_open(tf_path("aold.pwt"), &tm), PW_OK);
    int64_t gap = (int64_t)(first_begin(tm, "a/simulated") - first_begin(tm, "old/simulated"));
    CHECK_INT(gap, (int64_t)(first_begin(ta, NULL) - first_begin(tb, NULL)) + 1000000000000ll);
    CHECK_INT(tm->realtime_offset_ns + (int64_t)first_begin(tm, "old/simulated"),
              WALL_A - 1000000000000ll + (int64_t)first_begin(tb, NULL));
    pw_trace_close(tm);
    pw_trace_close(ta);
    pw_trace_close(tb);
}

static void expect_error(const char *args, int code, const char *needle)
{
    char *err = NULL;
    int rc = run_cli(args, NULL, &err);
    CHECK_MSG(rc == code, "'%s' exited %d, expected %d; stderr: %s", args, rc, code,
              err ? err : "");
    CHECK_MSG(err && strstr(err, needle), "'%s': stderr lacks '%s': %s", args, needle,
              err ? err : "(none)");
    CHECK_MSG(err && strchr(err, '\n') == strrchr(err, '\n'), "more than one line: %s", err);
    free(err);
}

TEST(merge_errors_labels_and_torn_inputs)
{
    simulate("a", scenario_a, WALL_A);
    expect_error("merge a.pwt -o x.pwt", 2, "wants 2 to");
    expect_error("merge a.pwt a.pwt", 2, "-o");
    expect_error("merge a.pwt /no/such/b.pwt -o x.pwt", 1, "/no/such/b.pwt");
    expect_error("merge --bogus a.pwt a.pwt -o x.pwt", 2, "unknown option --bogus");
    expect_error("merge a.pwt a.pwt -o x.pwt --label one", 2, "--label");
    expect_error("merge a.pwt a.pwt -o x.pwt --label x,x", 2, "twice");
    expect_error("merge a.pwt a.pwt -o x.pwt --label x,y,z", 2, "more names");

    /* one file twice: the repeated default label gets a suffix, and the energy doubles */
    char *err = NULL;
    CHECK_INT(run_cli("merge a.pwt a.pwt -o aa.pwt", NULL, &err), 0);
    CHECK_MSG(err && strstr(err, "2 hosts (a +0.000000 s, a-2 +0.000000 s)"), "%s", err);
    free(err);
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(tf_path("aa.pwt"), &t), PW_OK);
    CHECK(!strcmp(t->domains[1].name, "a-2/gpu-0"));
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_NEAR(phase_j(t, a, "decode", 0), 20.0, 1e-9);
    pw_attribution_free(a);
    pw_trace_close(t);

    /* a torn input is merged up to its last whole chunk, with a warning */
    size_t len = 0;
    char *data = tf_read_file(tf_path("a.pwt"), &len);
    CHECK(data && len > 100);
    CHECK_INT(tf_write_file(tf_path("torn.pwt"), data, len - 7), 0);
    free(data);
    err = NULL;
    CHECK_INT(run_cli("merge a.pwt torn.pwt -o at.pwt", NULL, &err), 0);
    CHECK_MSG(err && strstr(err, "warning: torn.pwt is torn"), "%s", err ? err : "");
    free(err);
    CHECK_INT(pw_trace_open(tf_path("at.pwt"), &t), PW_OK);
    CHECK(!strcmp(pw_trace_meta(t, "merge.2.torn"), "1"));
    pw_trace_close(t);
}

TEST(merge_output_reads_in_report_plot_compare_and_export)
{
    simulate("a", scenario_a, WALL_A);
    simulate("b", scenario_b, WALL_A + 1200000);
    run_ok("merge a.pwt b.pwt -o ab.pwt");
    char *out = NULL;
    CHECK_INT(run_cli("report ab.pwt", &out, NULL), 0);
    CHECK_MSG(out && strstr(out, "merged       2 hosts: a +0.000 s, b +0.001 s"), "%s",
              out ? out : "");
    free(out);
    run_ok("plot ab.pwt -o ab.html");
    run_ok("plot ab.pwt a.pwt -o both.html");
    run_ok("compare ab.pwt a.pwt b.pwt");
    run_ok("compare --format json ab.pwt a.pwt");
    run_ok("export ab.pwt --format perfetto -o ab.json");
    for (int m = 0; m < 5; m++) {
        char args[96];
        snprintf(args, sizeof args, "report --method %s ab.pwt",
                 pw_method_name((pw_method)m));
        run_ok(args);
    }
}

/* Merging in memory: names re-interned (same name, same id; an unnamed id keeps "#ID"). */
TEST(merge_reinterns_names_across_hosts)
{
    pw_trace *x = pw_trace_new(), *y = pw_trace_new(), *m = NULL;
    CHECK(x && y);
    CHECK_INT(pw_trace_set_name(x, 1, "prefill"), PW_OK);
    CHECK_INT(pw_trace_set_name(y, 1, "decode"), PW_OK);
    CHECK_INT(pw_trace_set_name(y, 2, "prefill"), PW_OK);
    pw_event e = {.t_ns = 10, .id = 1, .type = PW_EV_BEGIN};
    CHECK_INT(pw_trace_add_event(x, 7, &e), PW_OK);
    e.id = 2;
    CHECK_INT(pw_trace_add_event(y, 7, &e), PW_OK);
    e.id = 9;   /* never named */
    CHECK_INT(pw_trace_add_event(y, 7, &e), PW_OK);
    const pw_trace *in[] = {x, y};
    const char *labels[] = {"x", "y"};
    char why[128];
    CHECK_INT(pw_trace_merge(in, 2, labels, NULL, &m, why, sizeof why), PW_OK);
    CHECK_INT(m->ntracks, 2);
    CHECK_INT(m->tracks[0].events[0].id, m->tracks[1].events[0].id);
    CHECK(!strcmp(pw_trace_name(m, m->tracks[1].events[1].id), "#9"));
    CHECK(!strcmp(m->tracks[1].name, "y/tid 0"));
    pw_groups g;
    CHECK_INT(pw_trace_groups(m, &g), PW_OK);
    CHECK_INT(g.ngroups, 2);
    CHECK_INT(g.track[0], 1);
    CHECK_INT(g.track[1], 2);
    pw_groups_free(&g);
    pw_trace_free(m);
    CHECK_INT(pw_trace_merge(in, 1, labels, NULL, &m, why, sizeof why), PW_ERR_INVALID);
    CHECK(!m && strstr(why, "2 to"));
    pw_trace_free(x);
    pw_trace_free(y);
}
