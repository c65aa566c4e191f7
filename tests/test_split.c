/* test_split.c — how attribution splits a sample interval that straddles phase changes:
 * by overlap x each part's power estimated from pure intervals, exact for phases of
 * constant power, and by time alone when there is nothing to estimate from. */
#include "analysis/attribute.h"
#include "tf.h"
#include "trace_fixture.h"

enum { LO = 1, HI = 2 };

static double phase_j(const pw_trace *t, const pw_attribution *a, const char *path)
{
    int n = pw_attribution_find(a, path);
    CHECK_MSG(n >= 0, "no phase %s", path);
    return pw_energy_total(t, a->nodes[n].incl_j);
}

/* 10 W until 25.3 ms, then 50 W until 60.7 ms, then 10 W; samples every 1 ms, so both
 * boundaries fall inside an interval and each phase has many pure intervals. */
TEST(split_straddling_interval_is_exact_for_constant_phase_power)
{
    pw_trace *t = pw_trace_new();
    const fx_step steps[] = {{25300000, 10.0}, {60700000, 50.0}, {FX_FOREVER, 10.0}};
    fx_source(t, "rapl", PW_KIND_CPU, 0, steps, 0, FX_MS, 90 * FX_MS);
    fx_name(t, LO, "lo");
    fx_name(t, HI, "hi");
    fx_begin(t, 1, 0, LO);
    fx_end(t, 1, 25300000, LO);
    fx_begin(t, 1, 25300000, HI);
    fx_end(t, 1, 60700000, HI);
    fx_begin(t, 1, 60700000, LO);
    fx_end(t, 1, 90 * FX_MS, LO);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_NEAR(phase_j(t, a, "hi"), 50.0 * 0.0354, 1e-6);
    CHECK_NEAR(phase_j(t, a, "lo"), 10.0 * (0.0253 + 0.0293), 1e-6);
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* A phase shorter than an interval never has a pure interval of its own: its power comes
 * from the pure intervals of the same path elsewhere (its repetitions). */
TEST(split_short_phase_uses_its_repetitions)
{
    pw_trace *t = pw_trace_new();
    /* "hi" runs 5 times: once for 3 ms (pure intervals at 40 W) and 4 times for 0.4 ms */
    fx_step steps[16];
    size_t n = 0;
    uint64_t starts[] = {10 * FX_MS, 20300000, 30300000, 40300000, 50300000};
    uint64_t lens[] = {3 * FX_MS, 400000, 400000, 400000, 400000};
    fx_name(t, LO, "lo");
    fx_name(t, HI, "hi");
    uint64_t at = 0;
    for (int i = 0; i < 5; i++) {
        steps[n++] = (fx_step){starts[i], 8.0};
        steps[n++] = (fx_step){starts[i] + lens[i], 40.0};
        fx_begin(t, 1, at, LO);
        fx_end(t, 1, starts[i], LO);
        fx_begin(t, 1, starts[i], HI);
        fx_end(t, 1, starts[i] + lens[i], HI);
        at = starts[i] + lens[i];
    }
    fx_begin(t, 1, at, LO);
    fx_end(t, 1, 60 * FX_MS, LO);
    steps[n++] = (fx_step){FX_FOREVER, 8.0};
    fx_source(t, "rapl", PW_KIND_CPU, 0, steps, 0, FX_MS, 60 * FX_MS);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_NEAR(phase_j(t, a, "hi"), 40.0 * (0.003 + 4 * 0.0004), 1e-6);
    CHECK_NEAR(phase_j(t, a, "lo"), 8.0 * (0.060 - 0.003 - 4 * 0.0004), 1e-6);
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* Phases that never fill an interval have no estimate: the split is by time alone, which
 * keeps the interval's energy and is exact only where power was constant. */
TEST(split_without_estimates_falls_back_to_time)
{
    pw_trace *t = pw_trace_new();
    const fx_step steps[] = {{400000, 10.0}, {FX_FOREVER, 30.0}};
    fx_source(t, "rapl", PW_KIND_CPU, 0, steps, 0, FX_MS, FX_MS);   /* one interval */
    fx_name(t, LO, "lo");
    fx_name(t, HI, "hi");
    fx_begin(t, 1, 0, LO);
    fx_end(t, 1, 400000, LO);
    fx_begin(t, 1, 400000, HI);
    fx_end(t, 1, FX_MS, HI);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    double total = 10.0 * 0.0004 + 30.0 * 0.0006;
    CHECK_NEAR(phase_j(t, a, "lo"), total * 0.4, 1e-6);
    CHECK_NEAR(phase_j(t, a, "hi"), total * 0.6, 1e-6);
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* However the split goes, no energy is made or lost: the phases and the untagged root add
 * up to the measured total, here with two tracks overlapping and unaligned boundaries. */
TEST(split_conserves_energy_with_concurrent_tracks)
{
    pw_trace *t = pw_trace_new();
    const fx_step steps[] = {{7300000, 12.0}, {19100000, 44.0}, {33700000, 21.0},
                             {FX_FOREVER, 9.0}};
    fx_source(t, "rapl", PW_KIND_CPU, 0, steps, 0, FX_MS, 50 * FX_MS);
    fx_name(t, LO, "lo");
    fx_name(t, HI, "hi");
    fx_begin(t, 1, 2100000, LO);
    fx_end(t, 1, 30500000, LO);
    fx_begin(t, 2, 7300000, HI);
    fx_end(t, 2, 19100000, HI);
    fx_begin(t, 2, 33700000, HI);
    fx_end(t, 2, 41900000, HI);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    double sum = 0;
    for (size_t i = 0; i < a->nnodes; i++) sum += pw_energy_total(t, a->nodes[i].self_j);
    CHECK_NEAR(sum, fx_energy_j(steps, 50 * FX_MS), 1e-9);
    CHECK_NEAR(pw_energy_total(t, a->nodes[0].incl_j), fx_energy_j(steps, 50 * FX_MS), 1e-9);
    pw_attribution_free(a);
    pw_trace_free(t);
}
