/* accuracy.c — the accuracy benchmark's engine: period-scaled scenarios, simulated, attributed
 * by every method and compared phase by phase with the simulator's ground truth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/accuracy.h"
#include "phasewatt-analysis.h"
#include "sim/scenario.h"

const pw_method pw_accuracy_methods[PW_ACCURACY_METHODS] = {
    PW_METHOD_NAIVE, PW_METHOD_WINDOWS, PW_METHOD_EXACT, PW_METHOD_DISAGGREGATE, PW_METHOD_AUTO};

int pw_accuracy_column(pw_method m)
{
    for (int i = 0; i < PW_ACCURACY_METHODS; i++)
        if (pw_accuracy_methods[i] == m) return i;
    return -1;
}

/* ---- scenarios ---------------------------------------------------------------------------- */

/* Each body is a printf format whose %llu are durations in ns, all multiples of period/100. */
static const char *const names[] = {"long", "steps", "layers"};

/* Prefill and decode of 15 and 30 periods: long phases, where counters are exact. */
static int long_body(char *b, size_t cap, unsigned long long p)
{
    return snprintf(b, cap,
                    "background 60W\nlead %lluns\nrepeat 3 {\n"
                    "  phase prefill %lluns 350W\n  phase decode %lluns 220W\n  idle %lluns 80W\n}\n",
                    20 * p, 15 * p, 30 * p, 5 * p);
}

/* Requests whose phases last a few periods: prefill 3.7, decode 1.3. */
static int steps_body(char *b, size_t cap, unsigned long long p)
{
    return snprintf(b, cap,
                    "background 10W\nlead %lluns\nrepeat 20 {\n"
                    "  phase prefill %lluns 60W\n  phase decode %lluns 35W\n}\n",
                    5 * p, 37 * p / 10, 13 * p / 10);
}

/* Layers far shorter than a period, in four mixes of attention, MLP and gap time. */
static int layers_body(char *b, size_t cap, unsigned long long p)
{
    /* attention, MLP and the gap between layers, in % of a period: all three shares vary */
    static const unsigned mix[4][3] = {{6, 15, 2}, {10, 10, 8}, {15, 6, 4}, {8, 12, 12}};
    int n = snprintf(b, cap, "background 12W\nlead %lluns\nphase decode {\n", 10 * p);
    for (int m = 0; m < 4 && n > 0 && (size_t)n < cap; m++)
        n += snprintf(b + n, cap - (size_t)n,
                      "  repeat 300 {\n    phase attention %lluns 30W\n"
                      "    phase mlp %lluns 60W\n    idle %lluns 12W\n  }\n",
                      mix[m][0] * p / 100, mix[m][1] * p / 100, mix[m][2] * p / 100);
    if (n > 0 && (size_t)n < cap) n += snprintf(b + n, cap - (size_t)n, "}\n");
    return n;
}

/* ---- random scenarios: the conditions of real machines ------------------------------------ */

static uint64_t mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *x, double lo, double hi)
{
    return lo + (hi - lo) * (double)(mix(x) >> 11) * 0x1p-53;
}

/* An inference-shaped request loop in units of the sensor's period p: prefill of 2-20 periods,
 * a decode loop of layers (attention, MLP) of 0.05-0.5 period with a gap, power varying from
 * call to call and within calls, the grid at the preset's random phase (seeded), sometimes a
 * second track (a tokenizer thread drawing little beside decode). */
int pw_accuracy_random_scenario(const char *preset, uint64_t seed, char *buf, size_t cap)
{
    pw_sensor_model m;
    if (pw_sensor_preset(preset, &m) != PW_OK || m.period_ns == 0) return PW_ERR_INVALID;
    uint64_t x = seed * 0x2545F4914F6CDD1Dull + 1;
    double p = (double)m.period_ns, every = p < 1e7 ? p : 1e7;
    int reqs = 2 + (int)(mix(&x) % 4), layers = 2 + (int)(mix(&x) % 3);
    int tokens = 3 + (int)(mix(&x) % 8), tok = mix(&x) % 3 == 0;
    double bg = uniform(&x, 5, 60), pre = uniform(&x, 2, 20) * p, att = uniform(&x, 0.05, 0.5) * p;
    double mlp = uniform(&x, 0.05, 0.5) * p, gap = uniform(&x, 0.02, 0.2) * p;
    size_t n = (size_t)snprintf(buf, cap,
        "name random %s seed %llu\nsensor preset=%s seed=%llu\nsample every=%.0fns\n"
        "background %.3fW\nlead %.0fns\nvary 15%%\nramp %.0f%%\nrepeat %d {\n"
        "  phase prefill %.0fns %.3fW\n  repeat %d {\n    phase decode {\n      repeat %d {\n"
        "        phase attention %.0fns %.3fW\n        phase mlp %.0fns %.3fW\n"
        "        idle %.0fns %.3fW\n      }\n    }\n  }\n  idle %.0fns\n}\n",
        preset, (unsigned long long)seed, preset, (unsigned long long)seed, every, bg, 10 * p,
        uniform(&x, 0, 30), reqs, pre, bg * uniform(&x, 3, 8), tokens, layers, att,
        bg * uniform(&x, 1.5, 4), mlp, bg * uniform(&x, 2, 6), gap, bg * 1.2,
        uniform(&x, 1, 5) * p);
    if (n < cap && tok)
        n += (size_t)snprintf(buf + n, cap - n,
                              "track tokenizer start=%.0fns {\n  repeat %d {\n"
                              "    phase tokenize %.0fns %.3fW\n    idle %.0fns\n  }\n}\n",
                              pre, reqs * 2, uniform(&x, 1, 4) * p, bg * uniform(&x, 1.0, 1.3),
                              uniform(&x, 2, 6) * p);
    return n < cap ? PW_OK : PW_ERR_LIMIT;
}

void pw_accuracy_coverage_add(pw_coverage *c, const pw_accuracy *acc)
{
    int col = pw_accuracy_column(PW_METHOD_AUTO);
    for (size_t i = 0; i < acc->nrows; i++) {
        const pw_accuracy_row *r = &acc->rows[i];
        double err_j = r->err[col] * r->true_j, hw = r->ci_j[col];
        if (!isfinite(r->err[col])) continue;
        if (r->provenance && !strcmp(r->provenance, "measured")) {
            c->measured++;
            if (fabs(r->err[col]) > c->worst_measured) c->worst_measured = fabs(r->err[col]);
            continue;
        }
        if (!(hw > 0) || c->n == PW_COVERAGE_MAX) continue;
        c->ratio[c->n++] = fabs(err_j) / hw;
        c->covered += fabs(err_j) <= hw;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pw_accuracy_coverage_median(pw_coverage *c)
{
    if (!c->n) return NAN;
    qsort(c->ratio, c->n, sizeof *c->ratio, cmp_double);
    return c->n % 2 ? c->ratio[c->n / 2] : 0.5 * (c->ratio[c->n / 2 - 1] + c->ratio[c->n / 2]);
}

const char *pw_accuracy_scenario_name(size_t i)
{
    return i < sizeof names / sizeof names[0] ? names[i] : NULL;
}

int pw_accuracy_scenario(const char *name, const char *preset, char *buf, size_t cap)
{
    pw_sensor_model m;
    if (!name || pw_sensor_preset(preset, &m) != PW_OK || m.period_ns == 0) return PW_ERR_INVALID;
    unsigned long long p = m.period_ns, every = p < 10000000 ? p : 10000000;
    int n = snprintf(buf, cap, "name accuracy %s on %s\nsensor preset=%s\nsample every=%lluns\n",
                     name, preset, preset, every);
    if (n < 0 || (size_t)n >= cap) return PW_ERR_LIMIT;
    int body = !strcmp(name, "long")     ? long_body(buf + n, cap - (size_t)n, p)
               : !strcmp(name, "steps")  ? steps_body(buf + n, cap - (size_t)n, p)
               : !strcmp(name, "layers") ? layers_body(buf + n, cap - (size_t)n, p)
                                         : -2;
    if (body == -2) return PW_ERR_INVALID;
    return body < 0 || (size_t)body >= cap - (size_t)n ? PW_ERR_LIMIT : PW_OK;
}

/* ---- measuring -------------------------------------------------------------------------- */

void pw_accuracy_free(pw_accuracy *acc)
{
    if (!acc) return;
    for (size_t i = 0; i < acc->nrows; i++) free(acc->rows[i].path);
    free(acc->rows);
    free(acc);
}

const pw_accuracy_row *pw_accuracy_find(const pw_accuracy *acc, const char *path)
{
    for (size_t i = 0; acc && i < acc->nrows; i++)
        if (!strcmp(acc->rows[i].path, path)) return &acc->rows[i];
    return NULL;
}

/* One row per phase node with truth, in the tree order of the first attribution. */
static int make_rows(const pw_trace *t, const pw_attribution *a, pw_accuracy *acc)
{
    acc->rows = calloc(a->nnodes + 1, sizeof *acc->rows);
    if (!acc->rows) return PW_ERR_NOMEM;
    acc->run_s = a->run_s;
    pw_path_buf buf = {0};
    int rc = PW_OK;
    for (size_t k = 1; k < a->nnodes && rc == PW_OK; k++) {
        const char *path = pw_node_path(a, k, &buf);
        const pw_truth *truth = path ? pw_trace_find_truth(t, path) : NULL;
        if (!path) rc = PW_ERR_NOMEM;
        if (!truth) continue;
        pw_accuracy_row *r = &acc->rows[acc->nrows];
        if (!(r->path = strdup(path))) rc = PW_ERR_NOMEM;
        r->true_j = truth->energy_j;
        r->duration_s = truth->duration_s;
        r->calls = (double)a->nodes[k].calls;
        acc->nrows++;
    }
    pw_path_buf_free(&buf);
    return rc;
}

static double sum_ci(const pw_trace *t, const pw_phase_node *n)
{
    double ci = 0;
    int any = 0;
    for (size_t d = 0; d < t->ndomains; d++)
        if (pw_trace_domain_is_top(t, d) && isfinite(n->incl_ci_j[d])) ci += n->incl_ci_j[d], any = 1;
    return any ? ci : NAN;
}

/* Attributes the trace by method column m and fills each row's error. */
static int measure_method(const pw_trace *t, pw_accuracy *acc, int m)
{
    pw_attribution *a = NULL;
    int rc = pw_attribute_with(t, pw_accuracy_methods[m], &a);
    if (rc == PW_OK && !acc->rows) rc = make_rows(t, a, acc);
    for (size_t i = 0; rc == PW_OK && i < acc->nrows; i++) {
        pw_accuracy_row *r = &acc->rows[i];
        int k = pw_attribution_find(a, r->path);
        double j = k >= 0 ? pw_energy_total(t, a->nodes[k].incl_j) : 0;
        r->err[m] = r->true_j != 0 ? (j - r->true_j) / r->true_j : NAN;
        r->ci_j[m] = k >= 0 ? sum_ci(t, &a->nodes[k]) : NAN;
        if (pw_accuracy_methods[m] == PW_METHOD_AUTO && k >= 0)
            r->provenance = pw_provenance_name(a->nodes[k].provenance);
    }
    pw_attribution_free(a);
    return rc;
}

int pw_accuracy_measure(const char *scenario_text, const char *trace_path, pw_accuracy **out,
                        char *err, size_t errlen)
{
    pw_scenario *s = NULL;
    int rc = pw_scenario_parse(scenario_text, &s, err, errlen);
    if (rc == PW_OK) rc = pw_simulate(s, trace_path, err, errlen);
    pw_scenario_free(s);
    if (rc != PW_OK) return rc;
    pw_trace *t = NULL;
    rc = pw_trace_open(trace_path, &t);
    pw_accuracy *acc = calloc(1, sizeof *acc);
    if (rc == PW_OK && !acc) rc = PW_ERR_NOMEM;
    for (int m = 0; rc == PW_OK && m < PW_ACCURACY_METHODS; m++) rc = measure_method(t, acc, m);
    if (rc != PW_OK) {
        snprintf(err, errlen, "%s: %s", trace_path, pw_strerror(rc));
        pw_accuracy_free(acc);
        acc = NULL;
    }
    pw_trace_free(t);
    *out = acc;
    return rc;
}
