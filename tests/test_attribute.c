/* test_attribute.c — interval-exact attribution on hand-built traces with known answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/attribute.h"
#include "report/common.h"
#include "tf.h"
#include "trace/trace.h"
#include "trace_fixture.h"

enum { A = 1, B = 2, C = 3, TOKENS = 4, OTHER = 5 };

static pw_trace *new_trace(void)
{
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    fx_name(t, A, "a");
    fx_name(t, B, "b");
    fx_name(t, C, "c");
    fx_name(t, TOKENS, "tokens");
    fx_name(t, OTHER, "requests");
    return t;
}

static pw_attribution *attribute(const pw_trace *t)
{
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK(a != NULL && a->nnodes >= 1);
    return a;
}

/* The node of a path, failing the test when it is missing. */
static const pw_phase_node *node(const pw_attribution *a, const char *path)
{
    int i = pw_attribution_find(a, path);
    CHECK_MSG(i >= 0, "no phase '%s'", path);
    return &a->nodes[i];
}

static double incl(const pw_trace *t, const pw_attribution *a, const char *path)
{
    return pw_energy_total(t, node(a, path)->incl_j);
}

static double self(const pw_trace *t, const pw_attribution *a, const char *path)
{
    return pw_energy_total(t, node(a, path)->self_j);
}

TEST(attr_constant_power_split_inside_an_interval)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 10.0, 0, 10 * FX_MS, 100 * FX_MS);
    fx_begin(t, 1, 0, A);
    fx_end(t, 1, 35 * FX_MS, A);              /* the boundary is inside [30, 40) ms */
    fx_begin(t, 1, 35 * FX_MS, B);
    fx_end(t, 1, 100 * FX_MS, B);
    pw_attribution *a = attribute(t);
    CHECK_NEAR(incl(t, a, "a"), 0.35, 1e-9);
    CHECK_NEAR(incl(t, a, "b"), 0.65, 1e-9);
    CHECK_NEAR(self(t, a, ""), 0.0, 1e-9);
    CHECK_NEAR(incl(t, a, ""), 1.0, 1e-9);
    CHECK_NEAR(a->domain_j[0], 1.0, 1e-9);
    CHECK_NEAR(a->run_s, 0.1, 1e-12);
    CHECK_NEAR(a->sample_interval_s, 0.01, 1e-12);
    CHECK_NEAR(node(a, "a")->duration_s, 0.035, 1e-12);
    CHECK_INT(a->unbalanced + a->unclosed + a->gap_intervals, 0);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_phase_shorter_than_one_interval_gets_its_share)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 20.0, 0, 100 * FX_MS, 1000 * FX_MS);
    fx_begin(t, 1, 130 * FX_MS, A);
    fx_end(t, 1, 133 * FX_MS, A);             /* 3 ms inside a 100 ms interval */
    fx_begin(t, 1, 150 * FX_MS + 500, B);     /* and 1 µs, off the millisecond grid */
    fx_end(t, 1, 150 * FX_MS + 1500, B);
    pw_attribution *a = attribute(t);
    CHECK_NEAR(incl(t, a, "a"), 0.060, 1e-9);
    CHECK_NEAR(incl(t, a, "b"), 20e-6, 1e-6);
    CHECK_NEAR(self(t, a, ""), 20.0 - 0.060 - 20e-6, 1e-9);  /* before and after: untagged */
    CHECK_NEAR(node(a, "a")->peak_w, 20.0, 1e-9);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_nesting_inclusive_and_self)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 10.0, 0, 10 * FX_MS, 100 * FX_MS);
    for (int i = 0; i < 2; i++) {             /* a twice, each with b and c inside */
        uint64_t o = (uint64_t)i * 50 * FX_MS;
        fx_begin(t, 1, o, A);
        fx_begin(t, 1, o + 5 * FX_MS, B);
        fx_end(t, 1, o + 20 * FX_MS, B);
        fx_begin(t, 1, o + 20 * FX_MS, C);
        fx_begin(t, 1, o + 22 * FX_MS, B);    /* a/c/b: same name, another place */
        fx_end(t, 1, o + 24 * FX_MS, B);
        fx_end(t, 1, o + 30 * FX_MS, C);
        fx_end(t, 1, o + 50 * FX_MS, A);
    }
    pw_attribution *a = attribute(t);
    CHECK_INT(a->nnodes, 5);
    const char *order[] = {"", "a", "a/b", "a/c", "a/c/b"};   /* depth-first, first seen */
    pw_path_buf path = {0};
    for (int i = 0; i < 5; i++) CHECK_STR(pw_node_path(a, (size_t)i, &path), order[i]);
    pw_path_buf_free(&path);
    CHECK(a->nodes[2].name == a->nodes[4].name);   /* "b", stored once for both places */
    CHECK_INT(a->nodes[4].parent, 3);
    CHECK_INT(a->nodes[4].depth, 3);
    CHECK_INT(node(a, "a")->calls, 2);
    CHECK_INT(node(a, "a/c/b")->calls, 2);
    CHECK_NEAR(node(a, "a")->duration_s, 0.1, 1e-12);
    CHECK_NEAR(incl(t, a, "a"), 1.0, 1e-9);
    CHECK_NEAR(self(t, a, "a"), 2 * 0.25, 1e-9);
    CHECK_NEAR(incl(t, a, "a/b"), 2 * 0.15, 1e-9);
    CHECK_NEAR(incl(t, a, "a/c"), 2 * 0.10, 1e-9);
    CHECK_NEAR(self(t, a, "a/c"), 2 * 0.08, 1e-9);
    CHECK_NEAR(incl(t, a, "a/c/b"), 2 * 0.02, 1e-9);
    CHECK_NEAR(self(t, a, ""), 0.0, 1e-9);
    CHECK_INT(pw_attribution_find(a, "b"), -1);
    CHECK_INT(pw_attribution_find(a, NULL), -1);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_unbalanced_end_ignored_and_counted)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 10.0, 0, 10 * FX_MS, 100 * FX_MS);
    fx_end(t, 1, 5 * FX_MS, C);               /* began before recording: nothing to close */
    fx_begin(t, 1, 10 * FX_MS, A);
    fx_end(t, 1, 15 * FX_MS, B);              /* b is not open: ignored */
    fx_begin(t, 1, 20 * FX_MS, B);
    fx_end(t, 1, 40 * FX_MS, A);              /* closes b with a */
    fx_event(t, 1, 45 * FX_MS, PW_EV_MARK, C, 0);
    pw_attribution *a = attribute(t);
    CHECK_INT(a->unbalanced, 2);
    CHECK_INT(a->unclosed, 0);
    CHECK_NEAR(incl(t, a, "a"), 0.3, 1e-9);
    CHECK_NEAR(self(t, a, "a"), 0.1, 1e-9);
    CHECK_NEAR(incl(t, a, "a/b"), 0.2, 1e-9);
    CHECK_NEAR(node(a, "a/b")->duration_s, 0.02, 1e-12);
    CHECK_NEAR(self(t, a, ""), 0.7, 1e-9);
    CHECK_INT(pw_attribution_find(a, "c"), -1);   /* a mark is not a phase */
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_unclosed_phase_closed_at_the_end)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 10.0, 0, 10 * FX_MS, 100 * FX_MS);
    fx_begin(t, 1, 50 * FX_MS, A);
    fx_begin(t, 1, 60 * FX_MS, B);
    pw_attribution *a = attribute(t);
    CHECK_INT(a->unclosed, 2);
    CHECK_NEAR(node(a, "a")->duration_s, 0.05, 1e-12);
    CHECK_NEAR(node(a, "a/b")->duration_s, 0.04, 1e-12);
    CHECK_NEAR(incl(t, a, "a"), 0.5, 1e-9);
    CHECK_NEAR(incl(t, a, "a/b"), 0.4, 1e-9);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_concurrent_tracks_split_equally)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 10.0, 0, 10 * FX_MS, 100 * FX_MS);
    fx_begin(t, 1, 0, A);
    fx_end(t, 1, 100 * FX_MS, A);
    fx_begin(t, 2, 50 * FX_MS, B);
    fx_begin(t, 2, 60 * FX_MS, C);
    fx_end(t, 2, 70 * FX_MS, C);
    fx_end(t, 2, 100 * FX_MS, B);
    fx_begin(t, 3, 75 * FX_MS, A);            /* a third track, in a as well */
    fx_end(t, 3, 85 * FX_MS, A);
    pw_attribution *a = attribute(t);
    /* 0-50 a alone; 50-75 and 85-100 a|b or a|b/c; 75-85 a|b|a */
    CHECK_NEAR(incl(t, a, "a"), 0.5 + 0.4 / 2 + 0.1 * 2 / 3, 1e-9);
    CHECK_NEAR(incl(t, a, "b"), 0.4 / 2 + 0.1 / 3, 1e-9);
    CHECK_NEAR(incl(t, a, "b/c"), 0.1 / 2, 1e-9);
    CHECK_NEAR(incl(t, a, ""), 1.0, 1e-9);
    CHECK_NEAR(node(a, "a")->duration_s, 0.11, 1e-12);
    CHECK_NEAR(node(a, "a")->wall_s, 0.10, 1e-12);   /* track 3's call lies inside track 1's */
    CHECK_NEAR(node(a, "b")->wall_s, 0.05, 1e-12);
    CHECK_NEAR(node(a, "b/c")->wall_s, node(a, "b/c")->duration_s, 0);
    CHECK_INT(node(a, "a")->calls, 2);
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* Issue 15: a CPU-only tokenizer beside GPU decode was charged half the GPU's energy. Said
 * with pw_track_devices, the GPU's energy goes to the decode alone, read not shared; the CPU's
 * is shared as before; time only the tokenizer had open gives its GPU energy to nobody's
 * phase (untagged). A track that said nothing still drives everything. */
TEST(attr_tracks_that_say_their_devices_take_only_those_domains)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 30.0, 0, 10 * FX_MS, 1000 * FX_MS);
    fx_constant(t, "gpu", PW_KIND_GPU, 200.0, 0, 10 * FX_MS, 1000 * FX_MS);
    fx_name(t, OTHER + 1, PW_DEVICES_COUNTER);
    fx_begin(t, 1, 100 * FX_MS, A);                          /* decode: says nothing */
    fx_end(t, 1, 600 * FX_MS, A);
    fx_event(t, 2, 0, PW_EV_COUNT, OTHER + 1, PW_DEVICE_CPU); /* the tokenizer: cpu only */
    fx_begin(t, 2, 400 * FX_MS, B);
    fx_end(t, 2, 800 * FX_MS, B);
    pw_attribution *a = attribute(t);
    const pw_phase_node *dec = node(a, "a"), *tok = node(a, "b");
    CHECK_NEAR(dec->incl_j[1], 100.0, 1e-6);                 /* all the GPU's 0.5 s */
    CHECK_NEAR(tok->incl_j[1], 0.0, 0);
    CHECK(!(dec->incl_mark[1] & PW_FIG_ALLOCATED));          /* nothing shared on the GPU */
    CHECK(dec->incl_mark[0] & PW_FIG_ALLOCATED);             /* the CPU's 0.2 s together are */
    CHECK_NEAR(dec->incl_j[0] + tok->incl_j[0], 30.0 * 0.7, 1e-6);
    CHECK_NEAR(a->nodes[0].self_j[1], 200.0 * 0.5, 1e-6);    /* the GPU outside decode */
    CHECK_NEAR(incl(t, a, ""), 230.0, 1e-6);
    pw_attribution_free(a);
    /* the same run where the tokenizer says nothing: it takes GPU energy, as an allocation */
    pw_trace *u = new_trace();
    fx_constant(u, "pkg", PW_KIND_CPU, 30.0, 0, 10 * FX_MS, 1000 * FX_MS);
    fx_constant(u, "gpu", PW_KIND_GPU, 200.0, 0, 10 * FX_MS, 1000 * FX_MS);
    fx_begin(u, 1, 100 * FX_MS, A);
    fx_end(u, 1, 600 * FX_MS, A);
    fx_begin(u, 2, 400 * FX_MS, B);
    fx_end(u, 2, 800 * FX_MS, B);
    a = attribute(u);
    CHECK(node(a, "b")->incl_j[1] > 1.0);
    CHECK(node(a, "a")->incl_mark[1] & PW_FIG_ALLOCATED);
    pw_attribution_free(a);
    pw_trace_free(u);
    pw_trace_free(t);
}

/* 150 requests decoding at once for a second on a 10 W machine drew 10 W, not 10 W / 150:
 * a phase's mean power and tokens/s are over the time it was open, not summed thread time. */
TEST(attr_mean_power_of_concurrent_requests_is_over_wall_time)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 10.0, 0, 10 * FX_MS, 1000 * FX_MS);
    fx_name(t, TOKENS, "tokens");
    for (uint32_t r = 1; r <= 150; r++) {
        fx_begin(t, r, 0, A);
        fx_event(t, r, 500 * FX_MS, PW_EV_COUNT, TOKENS, 2);
        fx_end(t, r, 1000 * FX_MS, A);
    }
    pw_attribution *a = attribute(t);
    int k = pw_attribution_find(a, "a");
    CHECK(k > 0);
    CHECK_NEAR(a->nodes[k].duration_s, 150.0, 1e-6);
    CHECK_NEAR(a->nodes[k].wall_s, 1.0, 1e-12);
    pw_row row;
    pw_report_row(t, a, (size_t)k, &row);
    CHECK_NEAR(row.energy_j, 10.0, 1e-6);
    CHECK_NEAR(row.mean_w, 10.0, 1e-6);
    CHECK_NEAR(row.tokens_per_s, 300.0, 1e-6);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_tokens_counted_where_they_happen)
{
    pw_trace *t = new_trace();
    fx_constant(t, "pkg", PW_KIND_CPU, 10.0, 0, 10 * FX_MS, 100 * FX_MS);
    fx_event(t, 1, 0, PW_EV_COUNT, TOKENS, 1);          /* no phase open: the root's */
    fx_begin(t, 1, 10 * FX_MS, A);
    fx_event(t, 1, 11 * FX_MS, PW_EV_COUNT, TOKENS, 64);
    fx_event(t, 1, 12 * FX_MS, PW_EV_COUNT, OTHER, 1000);  /* not tokens */
    fx_begin(t, 1, 20 * FX_MS, B);
    fx_event(t, 1, 21 * FX_MS, PW_EV_COUNT, TOKENS, 16);
    fx_end(t, 1, 30 * FX_MS, B);
    fx_end(t, 1, 90 * FX_MS, A);
    pw_attribution *a = attribute(t);
    CHECK_NEAR(node(a, "a")->tokens_self, 64, 0);
    CHECK_NEAR(node(a, "a")->tokens_incl, 80, 0);
    CHECK_NEAR(node(a, "a/b")->tokens_incl, 16, 0);
    CHECK_NEAR(node(a, "")->tokens_self, 1, 0);
    CHECK_NEAR(node(a, "")->tokens_incl, 81, 0);
    CHECK_NEAR(incl(t, a, "a") / node(a, "a")->tokens_incl, 0.8 / 80, 1e-9);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_gap_rows_are_skipped)
{
    pw_trace *t = new_trace();
    CHECK_INT(pw_trace_add_source(t, "pkg", 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "pkg", PW_KIND_CPU, -1, 0), PW_OK);
    for (uint64_t i = 0; i <= 10; i++) {      /* 10 W; the read at 50 ms failed */
        uint64_t e = i * 100000;
        if (i == 5) continue;
        CHECK_INT(pw_trace_add_sample(t, 0, i * 10 * FX_MS, &e, i == 6 ? PW_SAMPLE_GAP : 0),
                  PW_OK);
    }
    fx_begin(t, 1, 30 * FX_MS, A);
    fx_end(t, 1, 70 * FX_MS, A);
    pw_attribution *a = attribute(t);
    CHECK_INT(a->gap_intervals, 1);
    CHECK_NEAR(a->domain_j[0], 0.8, 1e-9);    /* [40, 60) ms is not attributable */
    CHECK_NEAR(incl(t, a, "a"), 0.2, 1e-9);
    CHECK_NEAR(self(t, a, ""), 0.6, 1e-9);
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* package 20 W containing core 12 W, and dram 5 W, read together. */
static pw_trace *rapl_trace(void)
{
    pw_trace *t = new_trace();
    CHECK_INT(pw_trace_add_source(t, "rapl", 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "package-0", PW_KIND_CPU, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "core-0", PW_KIND_CPU, 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "dram-0", PW_KIND_DRAM, -1, 0), PW_OK);
    for (uint64_t ms = 0; ms <= 100; ms++) {
        uint64_t e[3] = {ms * 20000, ms * 12000, ms * 5000};
        CHECK_INT(pw_trace_add_sample(t, 0, ms * FX_MS, e, 0), PW_OK);
    }
    return t;
}

TEST(attr_core_within_package_is_not_counted_twice)
{
    pw_trace *t = rapl_trace();
    fx_begin(t, 1, 40 * FX_MS, A);
    fx_end(t, 1, 60 * FX_MS, A);
    pw_attribution *a = attribute(t);
    const pw_phase_node *n = node(a, "a");
    CHECK_NEAR(n->incl_j[0], 0.4, 1e-9);
    CHECK_NEAR(n->incl_j[1], 0.24, 1e-9);
    CHECK_NEAR(n->incl_j[2], 0.1, 1e-9);
    CHECK_NEAR(pw_energy_total(t, n->incl_j), 0.5, 1e-9);
    CHECK_NEAR(pw_energy_kind(t, n->incl_j, PW_KIND_CPU), 0.4, 1e-9);
    CHECK_NEAR(pw_energy_kind(t, n->incl_j, PW_KIND_DRAM), 0.1, 1e-9);
    CHECK_NEAR(pw_energy_kind(t, n->incl_j, PW_KIND_GPU), 0.0, 0);
    CHECK_NEAR(pw_energy_total(t, a->domain_j), 2.5, 1e-9);
    CHECK_NEAR(n->peak_w, 25.0, 1e-9);        /* package + dram, not + core */
    CHECK_INT(a->estimated, 0);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_two_sources_with_their_own_timestamps)
{
    pw_trace *t = new_trace();
    fx_constant(t, "cpu", PW_KIND_CPU, 10.0, 0, 10 * FX_MS, 100 * FX_MS);
    fx_constant(t, "gpu", PW_KIND_GPU, 30.0, 5 * FX_MS, 30 * FX_MS, 95 * FX_MS);
    fx_begin(t, 1, 0, A);
    fx_end(t, 1, 60 * FX_MS, A);
    pw_attribution *a = attribute(t);
    const pw_phase_node *n = node(a, "a");
    CHECK_NEAR(n->incl_j[0], 0.6, 1e-9);
    CHECK_NEAR(n->incl_j[1], 30.0 * 0.055, 1e-9);   /* gpu readings begin at 5 ms */
    CHECK_NEAR(pw_energy_kind(t, n->incl_j, PW_KIND_GPU), 1.65, 1e-9);
    CHECK_NEAR(pw_energy_total(t, a->nodes[0].self_j), 0.4 + 30.0 * 0.035, 1e-9);
    CHECK_NEAR(a->run_s, 0.1, 1e-12);
    CHECK_INT(a->primary, 0);
    CHECK_NEAR(n->peak_w, 40.0, 1e-9);        /* cpu's intervals, gpu interpolated in */
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_peak_power_of_overlapping_intervals)
{
    pw_trace *t = new_trace();
    const fx_step steps[] = {{50 * FX_MS, 10.0}, {FX_FOREVER, 50.0}};
    fx_source(t, "pkg", PW_KIND_CPU, 0, steps, 0, 10 * FX_MS, 100 * FX_MS);
    fx_begin(t, 1, 0, A);
    fx_begin(t, 1, 10 * FX_MS, B);
    fx_end(t, 1, 20 * FX_MS, B);
    fx_end(t, 1, 45 * FX_MS, A);
    fx_begin(t, 1, 55 * FX_MS, C);
    fx_end(t, 1, 56 * FX_MS, C);
    pw_attribution *a = attribute(t);
    CHECK_NEAR(node(a, "a")->peak_w, 10.0, 1e-9);
    CHECK_NEAR(node(a, "a/b")->peak_w, 10.0, 1e-9);
    CHECK_NEAR(node(a, "c")->peak_w, 50.0, 1e-9);
    CHECK_NEAR(node(a, "")->peak_w, 50.0, 1e-9);
    CHECK_NEAR(incl(t, a, "c"), 0.05, 1e-9);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_estimated_source_or_domain_is_flagged)
{
    pw_trace *t = new_trace();
    const fx_step steps[] = {{FX_FOREVER, 5.0}};
    fx_source(t, "estimate", PW_KIND_CPU, PW_DOMAIN_ESTIMATED, steps, 0, FX_MS, 10 * FX_MS);
    pw_attribution *a = attribute(t);
    CHECK_INT(a->estimated, 1);
    CHECK_INT(pw_domain_estimated(t, 0), 1);
    pw_attribution_free(a);
    pw_trace_free(t);

    t = new_trace();
    CHECK_INT(pw_trace_add_source(t, "mixed", 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "measured", PW_KIND_CPU, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "modelled", PW_KIND_GPU, -1, PW_DOMAIN_ESTIMATED),
              PW_OK);
    a = attribute(t);
    CHECK_INT(a->estimated, 1);
    CHECK_INT(pw_domain_estimated(t, 0), 0);
    CHECK_INT(pw_domain_estimated(t, 1), 1);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(attr_empty_and_event_only_traces)
{
    pw_trace *t = new_trace();
    pw_attribution *a = attribute(t);
    CHECK_INT(a->nnodes, 1);
    CHECK_INT(a->primary, -1);
    CHECK_NEAR(a->run_s, 0, 0);
    pw_attribution_free(a);
    fx_begin(t, 1, 10, A);                    /* phases but no power readings */
    fx_end(t, 1, 20, A);
    fx_begin(t, 7, 15, 99);                   /* an id with no name */
    a = attribute(t);
    CHECK_INT(a->nnodes, 3);
    CHECK_NEAR(node(a, "a")->duration_s, 10e-9, 1e-9);
    CHECK(node(a, "#99")->calls == 1);
    CHECK_INT(a->unclosed, 1);
    pw_attribution_free(a);
    pw_trace_free(t);
    CHECK_INT(pw_attribute(NULL, &a), PW_ERR_INVALID);
    pw_attribution_free(NULL);
}

TEST(attr_readings_at_one_instant_and_phases_of_no_length)
{
    pw_trace *t = new_trace();
    CHECK_INT(pw_trace_add_source(t, "pkg", 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "pkg", PW_KIND_CPU, -1, 0), PW_OK);
    uint64_t rows[][2] = {{0, 0}, {10, 1000}, {10, 3000}, {20, 4000}};  /* ms, µJ */
    for (size_t i = 0; i < 4; i++) {
        uint64_t at = rows[i][0] * FX_MS;
        CHECK_INT(pw_trace_add_sample(t, 0, at, &rows[i][1], 0), PW_OK);
    }
    fx_begin(t, 1, 5 * FX_MS, A);
    fx_begin(t, 1, 8 * FX_MS, B);             /* b lasts no time at all */
    fx_end(t, 1, 8 * FX_MS, B);
    fx_end(t, 1, 15 * FX_MS, A);
    pw_attribution *a = attribute(t);
    CHECK_NEAR(incl(t, a, "a"), 0.0005 + 0.002 + 0.0005, 1e-9);   /* the jump at 10 ms too */
    CHECK_NEAR(incl(t, a, "a/b"), 0, 0);
    CHECK_INT(node(a, "a/b")->calls, 1);
    CHECK_INT(a->nsegments, 1);               /* a's time is one stretch around b */
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* An hour at 1 kHz with a phase change every 36 ms comes out exact (bench-report prints how
 * fast; a test only checks what). */
TEST(attr_hour_at_1khz)
{
    pw_trace *t = new_trace();
    CHECK_INT(pw_trace_add_source(t, "pkg", 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "pkg", PW_KIND_CPU, -1, 0), PW_OK);
    const uint64_t n = 3600 * 1000;
    for (uint64_t i = 0; i <= n; i++) {
        uint64_t e = i * 10000;               /* 10 W */
        CHECK(pw_trace_add_sample(t, 0, i * FX_MS, &e, 0) == PW_OK);
    }
    for (uint64_t at = 0; at + 36 * FX_MS <= n * FX_MS; at += 36 * FX_MS) {
        fx_begin(t, 1, at, A);
        fx_begin(t, 1, at + 13 * FX_MS + 1234, B);
        fx_end(t, 1, at + 29 * FX_MS, B);
        fx_end(t, 1, at + 36 * FX_MS, A);
    }
    pw_attribution *a = attribute(t);
    CHECK_NEAR(incl(t, a, ""), 36000.0, 1e-9);
    CHECK_NEAR(incl(t, a, "a/b"), 100000 * 10.0 * (0.016 - 1234e-9), 1e-9);
    pw_attribution_free(a);
    pw_trace_free(t);
}
