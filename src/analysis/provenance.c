/* provenance.c — chooses how each figure is made (interval-exact, or disaggregated where
 * phases are shorter than the sensor resolves or the sensor only gives averaged power) and
 * labels every node with its provenance and uncertainty. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "analysis/disaggregate.h"
#include "trace/merge.h"

static const char *const provenance_names[PW_PROV_COUNT] = {
    "measured", "split", "disaggregated", "allocated", "unresolved", "estimated", "not observed"};

const char *pw_provenance_name(pw_provenance p)
{
    return (unsigned)p < PW_PROV_COUNT ? provenance_names[p] : "measured";
}

const char *pw_provenance_detail(const pw_phase_node *n, char *buf, size_t len)
{
    uint8_t any = n->marks;
    switch (n->provenance) {
    case PW_PROV_UNRESOLVED: snprintf(buf, len, "unresolved: split by time"); break;
    case PW_PROV_ESTIMATED: snprintf(buf, len, "estimated, split by time"); break;
    case PW_PROV_ALLOCATED:
        snprintf(buf, len, "allocated: %s among up to %u tracks",
                 any & PW_FIG_EQUAL ? "equal shares" : "additive model", n->concurrency);
        break;
    default: snprintf(buf, len, "%s", pw_provenance_name(n->provenance));
    }
    return buf;
}

static const char *const method_names[] = {"auto", "exact", "disaggregate", "naive", "windows"};

const char *pw_method_name(pw_method m)
{
    return (size_t)m < sizeof method_names / sizeof method_names[0] ? method_names[m] : "?";
}

int pw_method_parse(const char *name, pw_method *out)
{
    for (size_t i = 0; name && i < sizeof method_names / sizeof method_names[0]; i++)
        if (!strcmp(name, method_names[i])) {
            *out = (pw_method)i;
            return PW_OK;
        }
    return PW_ERR_NOT_FOUND;
}

/* The finest time a domain's readings resolve: its sensor's update period or the mean
 * sample interval, whichever is longer. */
static double resolution_s(const pw_trace *t, size_t d)
{
    uint32_t src = t->domains[d].source;
    if (src >= t->nsources) return 0;
    const pw_series *se = &t->series[src];
    double interval = se->n >= 2 ? (double)(se->t_ns[se->n - 1] - se->t_ns[0]) * 1e-9 /
                                       (double)(se->n - 1) : 0;
    double period = (double)t->sources[src].period_ns * 1e-9;
    return period > interval ? period : interval;
}

/* Each node's typical stretch of self time (s): its segments' mean length, touching segments
 * of one track merged. A composite phase's self time comes in the gaps between its
 * children, which may be short even when its calls are long. */
static double *self_stretch_s(const pw_attribution *a)
{
    double *len = calloc(2 * a->nnodes + 1, sizeof *len);
    if (!len) return NULL;
    double *count = len + a->nnodes;
    for (size_t i = 0; i < a->nsegments; i++) {
        const pw_segment *g = &a->segments[i], *prev = i ? g - 1 : NULL;
        len[g->node] += (double)(g->t1_ns - g->t0_ns) * 1e-9;
        if (!prev || prev->node != g->node || prev->track != g->track || prev->t1_ns != g->t0_ns)
            count[g->node]++;
    }
    for (size_t k = 0; k < a->nnodes; k++) len[k] = count[k] > 0 ? len[k] / count[k] : INFINITY;
    return len;
}

/* 1 when node's calls, or its stretches of self time, last on average less than
 * PW_SHORT_PERIODS of the domain's resolution. */
static int is_short(const pw_attribution *a, const double *stretch_s, size_t node, double res_s)
{
    const pw_phase_node *n = &a->nodes[node];
    double limit = PW_SHORT_PERIODS * res_s;
    return node > 0 && n->calls > 0 &&
           (n->duration_s / (double)n->calls < limit || stretch_s[node] < limit);
}

/* Which (node, domain) figures come from the fit: use[node * nd + d]. -1: out of memory. */
static int choose(const pw_trace *t, const pw_attribution *a, pw_method m, unsigned char *use)
{
    double *stretch = self_stretch_s(a);
    if (!stretch) return -1;
    int any = 0;
    for (size_t d = 0; d < a->ndomains; d++) {
        if (pw_domain_estimated(t, d)) continue;   /* a model is split by time, never fitted */
        int whole = m == PW_METHOD_DISAGGREGATE || pw_domain_averaged(t, d);
        double res = resolution_s(t, d);
        for (size_t k = 1; k < a->nnodes; k++) {
            use[k * a->ndomains + d] = whole || is_short(a, stretch, k, res);
            any |= use[k * a->ndomains + d];
        }
    }
    free(stretch);
    return any;
}

/* Power hints for the short phases of counter domains: the fit's power, then its standard
 * deviation (pw_attribute_exact's two halves). */
static double *hints(const pw_attribution *a, const pw_disaggregation *g, const unsigned char *use)
{
    size_t nd = a->ndomains, nh = a->nnodes * nd, K = g->nnodes;
    double *h = malloc(2 * nh * sizeof *h + 1);
    if (!h) return NULL;
    for (size_t k = 0; k < a->nnodes; k++)
        for (size_t d = 0; d < nd; d++) {
            int on = use[k * nd + d] && k < K;
            h[k * nd + d] = on ? g->domains[d].power_w[k] : NAN;
            h[nh + k * nd + d] = on && g->domains[d].cov ? sqrt(fmax(g->domains[d].cov[k * K + k], 0)) : NAN;
        }
    return h;
}

/* Domains whose every figure is the fit's: each node's self energy is its power times its
 * self time; the root keeps the rest of the measured total, so totals stay measured. */
static void fitted_energies(const pw_trace *t, pw_attribution *a, const pw_disaggregation *g,
                            pw_method m)
{
    for (size_t d = 0; d < a->ndomains; d++) {
        if (!(m == PW_METHOD_DISAGGREGATE || pw_domain_averaged(t, d)) || !g->domains[d].fitted)
            continue;
        double phases = 0;
        for (size_t k = 1; k < a->nnodes; k++) {
            pw_phase_node *n = &a->nodes[k];
            double p = g->domains[d].power_w[k];
            /* no self time in any window the sensor saw: not observed, never 0 J */
            double idle = g->domains[d].power_w[0] >= 0 ? g->domains[d].power_w[0] : 0;
            double e = p * g->self_s[k] - idle * g->shared_s[k];
            n->self_j[d] = p >= 0 ? (e > 0 ? e : 0) : g->self_s[k] > 0 ? NAN : 0;
            n->self_var[d] = n->self_tvar[d] = 0;   /* the fit's interval says it all */
            n->split_incl[d] = n->self_alloc[d] = n->self_bt[d] = n->incl_bt[d] = 0;
            n->self_ht[d] = n->incl_ht[d] = 0;
            n->self_mark[d] = 0;
            if (n->self_j[d] >= 0) phases += n->self_j[d];
        }
        a->nodes[0].self_j[d] = a->domain_j[d] - phases;
    }
    pw_attribution_roll_up(a);
}

/* The end (exclusive) of node k's subtree: nodes are depth-first. */
static size_t subtree_end(const pw_attribution *a, size_t k)
{
    size_t e = k + 1;
    while (e < a->nnodes && a->nodes[e].depth > a->nodes[k].depth) e++;
    return e;
}

/* 95% half-widths of one node's fitted figures in domain d. */
static void fitted_ci(pw_attribution *a, const pw_disaggregation *g, const unsigned char *use,
                      size_t k, size_t d, double *tau)
{
    size_t nd = a->ndomains, end = subtree_end(a, k);
    memset(tau, 0, a->nnodes * sizeof *tau);
    tau[k] = use[k * nd + d] ? g->self_s[k] : 0;
    if (tau[k]) tau[0] = -g->shared_s[k];
    a->nodes[k].self_ci_j[d] = tau[k] ? pw_disagg_energy_ci(g, d, tau) : NAN;
    tau[0] = 0;
    if (tau[k]) a->nodes[k].self_mark[d] |= PW_FIG_FITTED;
    int any = tau[k] != 0;
    if (tau[k]) tau[0] = -g->shared_s[k];
    for (size_t j = k + 1; j < end; j++)
        if (use[j * nd + d]) tau[j] = g->self_s[j], tau[0] -= g->shared_s[j], any = 1;
    a->nodes[k].incl_ci_j[d] = any ? pw_disagg_energy_ci(g, d, tau) : NAN;
    if (any) a->nodes[k].incl_mark[d] |= PW_FIG_FITTED;
}

static double sq(double x) { return x * x; }

/* The provenance a node's marks in domain d call for (least direct wins). */
static pw_provenance from_marks(uint8_t mark)
{
    if (mark & PW_FIG_BY_TIME) return PW_PROV_UNRESOLVED;
    if (mark & PW_FIG_ALLOCATED) return PW_PROV_ALLOCATED;
    if (mark & PW_FIG_FITTED) return PW_PROV_DISAGGREGATED;
    if (mark & PW_FIG_SPLIT) return PW_PROV_SPLIT;
    return PW_PROV_MEASURED;
}

/* Half-width of a figure from its error budget: the splits' and allocations' variance, the
 * fit's (its own 95% half-width), and the timing variance of the readings' instants
 * (pw_stamp_acc: what each moves across the cuts of the intervals it bounds). */
static double budget_ci(double var, double fit_ci, double tvar)
{
    double fit = isfinite(fit_ci) ? fit_ci / PW_Z95 : 0;
    return PW_Z95 * sqrt(var + fit * fit + tvar);
}

/* The share of each period the domain's sensor sees (sensor.SOURCE.coverage), 1 if unsaid. */
static double sensor_coverage(const pw_trace *t, size_t d)
{
    const char *v = pw_source_meta(t, t->domains[d].source, "coverage");
    double c = v ? strtod(v, NULL) : 1;
    return c > 0 && c <= 1 ? c : 1;
}

/* The update period (s) of domain d's sensor (sensor.SOURCE.period_ns, else the source's). */
static double src_period_s(const pw_trace *t, size_t d)
{
    uint32_t src = t->domains[d].source;
    if (src >= t->nsources) return 0;
    const char *v = pw_source_meta(t, src, "period_ns");
    double p = v ? strtod(v, NULL) : (double)t->sources[src].period_ns;
    return p > 0 ? p * 1e-9 : 0;
}

/* A part-time sensor's fit learns a phase's power from the calls it saw, and the phase's
 * energy extrapolates it to the calls it did not: those differ from call to call, so the
 * figure errs by cv x energy x sqrt((1 - seen) / looks). A look is a call seen or, for calls
 * longer than the sensor's period, a period: each period sees a slice of the phase. */
static void part_time_ci(pw_phase_node *n, size_t d, double seen, double period_s)
{
    double looks = (double)n->calls * seen;
    if (period_s > 0 && n->duration_s / period_s > looks) looks = n->duration_s / period_s;
    double rel = PW_DEFAULT_CV * sqrt((1 - seen) / (looks > 1 ? looks : 1)) * PW_Z95;
    double *ci[2] = {&n->self_ci_j[d], &n->incl_ci_j[d]};
    double e[2] = {n->self_j[d], n->incl_j[d]};
    for (int i = 0; i < 2; i++)
        if (isfinite(*ci[i]) && isfinite(e[i])) *ci[i] = hypot(*ci[i], rel * e[i]);
}

/* One node's label and half-widths in a measured domain d; noise_q (J²/s) is the readings'
 * noise the sweep could not learn (it had no runs of pure intervals), from the fit. */
static void label_measured(pw_attribution *a, size_t k, size_t d, int top, double noise_q,
                           double self_s)
{
    pw_phase_node *n = &a->nodes[k];
    if (isnan(n->incl_j[d])) {
        if (top) n->provenance = PW_PROV_NOT_OBSERVED;
        return;
    }
    if (k > 0 && noise_q > 0) {   /* a counter's noise grows with the time a figure spans */
        n->self_var[d] += noise_q * self_s;
        n->incl_var[d] += noise_q * n->duration_s;
    }
    pw_provenance self = from_marks(n->self_mark[d]), incl = from_marks(n->incl_mark[d]);
    if (k == 0) incl = PW_PROV_MEASURED;   /* the run's total is read, never split */
    n->self_ci_j[d] = self == PW_PROV_MEASURED ? NAN
                          : budget_ci(n->self_var[d] + n->self_alloc[d] + sq(n->self_bt[d] + n->self_ht[d]),
                                      n->self_ci_j[d], n->self_tvar[d]);
    n->incl_ci_j[d] = incl == PW_PROV_MEASURED ? NAN
                          : budget_ci(n->incl_var[d] + sq(n->incl_bt[d] + n->incl_ht[d]), n->incl_ci_j[d],
                                      n->incl_tvar[d]);
    if (top && incl > n->provenance) n->provenance = incl;
    if (top) n->marks |= n->incl_mark[d];
}

/* A counter's reading noise per second from the fit's residuals (their mean square over the
 * mean interval), where the sweep learnt none: 0 where it did, or without a fit. */
static double fit_noise_q(const pw_trace *t, const pw_attribution *a, const pw_disaggregation *g,
                          size_t d)
{
    if (a->noise_q[d] > 0 || !g || !g->domains[d].fitted || !isfinite(g->domains[d].rms_j)) return 0;
    const pw_series *se = &t->series[t->domains[d].source];
    if (se->n < 2) return 0;
    double interval_s = (double)(se->t_ns[se->n - 1] - se->t_ns[0]) * 1e-9 / (double)(se->n - 1);
    return interval_s > 0 ? g->domains[d].rms_j * g->domains[d].rms_j / interval_s : 0;
}

/* Provenance per domain and node, and every half-width (docs/attribution.md, "Labels" and
 * "Intervals"). */
static int label(const pw_trace *t, pw_attribution *a, const pw_disaggregation *g,
                 const unsigned char *use)
{
    size_t nd = a->ndomains;
    double *tau = calloc(a->nnodes + 1, sizeof *tau);
    if (!tau) return PW_ERR_NOMEM;
    for (size_t d = 0; d < nd; d++) {
        int est = pw_domain_estimated(t, d), fit = g && g->domains[d].fitted && use;
        int averaged = pw_domain_averaged(t, d);
        double seen = sensor_coverage(t, d);
        double period_s = src_period_s(t, d);
        int top = pw_trace_domain_is_top(t, d);
        a->domain_provenance[d] = est ? PW_PROV_ESTIMATED
                                      : fit && pw_domain_averaged(t, d) ? PW_PROV_DISAGGREGATED
                                                                        : PW_PROV_MEASURED;
        for (size_t k = 0; k < a->nnodes; k++) {
            pw_phase_node *n = &a->nodes[k];
            if (est) {   /* a model's figures: the assumed bound, never a fit */
                n->self_ci_j[d] = PW_ESTIMATE_REL_CI * fabs(n->self_j[d]);
                n->incl_ci_j[d] = PW_ESTIMATE_REL_CI * fabs(n->incl_j[d]);
                if (top) n->provenance = PW_PROV_ESTIMATED;
                continue;
            }
            if (fit && k > 0) fitted_ci(a, g, use, k, d, tau);
            /* a counter's whole intervals inside the subtree are read, whatever the fit says:
             * its powers move only the time in intervals that cross the subtree's edge */
            if (fit && k > 0 && !averaged && isfinite(n->incl_ci_j[d]) && n->duration_s > 0)
                n->incl_ci_j[d] *= fmin(1.0, n->edge_s[d] / n->duration_s);
            if (fit && k > 0 && averaged) part_time_ci(n, d, seen, period_s);
            label_measured(a, k, d, top, fit && !averaged ? fit_noise_q(t, a, g, d) : 0,
                           g && k < g->nnodes ? g->self_s[k] : 0);
        }
    }
    free(tau);
    return PW_OK;
}

/* A short phase of a counter domain is disaggregated only where the fit can back it: enough
 * equations and a mix that separates it. Whole-domain fits (averaged power, or the pure
 * method) have no alternative and say how sure they are through the CI instead. */
static void keep_trusted(const pw_trace *t, const pw_attribution *a, const pw_disaggregation *g,
                         pw_method m, unsigned char *use)
{
    for (size_t d = 0; d < a->ndomains; d++) {
        int whole = m == PW_METHOD_DISAGGREGATE || pw_domain_averaged(t, d);
        for (size_t k = 1; k < a->nnodes; k++) {
            unsigned char *u = &use[k * a->ndomains + d];
            if (!g->domains[d].fitted || !(g->domains[d].power_w[k] >= 0)) *u = 0;
            else if (!whole && !pw_disagg_usable(g, d, k)) *u = 0;
        }
    }
}

/* Re-attributes with the fit's powers weighting the short phases' shared intervals. */
static int refine(const pw_trace *t, pw_attribution **a, const pw_disaggregation *g,
                  const unsigned char *use)
{
    double *h = hints(*a, g, use);
    if (!h) return PW_ERR_NOMEM;
    pw_attribution *b = NULL;
    int rc = pw_attribute_exact(t, h, 2 * (*a)->nnodes * (*a)->ndomains, &b);
    free(h);
    if (rc != PW_OK) return rc;
    pw_attribution_free(*a);
    *a = b;
    return PW_OK;
}

/* Disaggregates where the method or the phases call for it. */
static int disaggregate(const pw_trace *t, pw_attribution **a, pw_method m)
{
    size_t nd = (*a)->ndomains;
    unsigned char *use = calloc((*a)->nnodes * nd + 1, 1);
    if (!use) return PW_ERR_NOMEM;
    pw_disaggregation *g = NULL;
    int rc = PW_OK;
    int chosen = choose(t, *a, m, use);
    if (chosen < 0) rc = PW_ERR_NOMEM;
    if (chosen > 0) {
        rc = pw_disaggregate(t, *a, &g);
        if (rc == PW_ERR_LIMIT) rc = PW_OK;   /* too many phases to fit: interval-exact stays */
    }
    if (rc == PW_OK && g) keep_trusted(t, *a, g, m, use);
    if (rc == PW_OK && g && m == PW_METHOD_AUTO) rc = refine(t, a, g, use);
    if (rc == PW_OK && g) fitted_energies(t, *a, g, m);
    if (rc == PW_OK) rc = label(t, *a, g, g ? use : NULL);
    if (rc == PW_OK) (*a)->disagg = g;
    else pw_disaggregation_free(g);
    free(use);
    return rc;
}

/* A baseline's figures are a simpler tool's rule, not what the data resolve: unresolved,
 * with no interval of phasewatt's (only the run's measured total stands). */
static void label_baseline(pw_attribution *a)
{
    for (size_t k = 1; k < a->nnodes; k++) {
        pw_phase_node *n = &a->nodes[k];
        for (size_t d = 0; d < a->ndomains; d++) n->self_ci_j[d] = n->incl_ci_j[d] = NAN;
        if (n->provenance < PW_PROV_ESTIMATED) n->provenance = PW_PROV_UNRESOLVED;
    }
}

/* A phase shorter than a sample interval can draw more than any interval's mean, so its
 * peak is at least its own mean power: peak W never reads below mean W. */
static void raise_peaks(const pw_trace *t, pw_attribution *a)
{
    for (size_t k = 1; k < a->nnodes; k++) {
        pw_phase_node *n = &a->nodes[k];
        double mean = n->wall_s > 0 ? pw_energy_total(t, n->incl_j) / n->wall_s : 0;
        if (mean > n->peak_w) n->peak_w = mean;
    }
}

int pw_attribute_with(const pw_trace *t, pw_method method, pw_attribution **out)
{
    if (!t || !out) return PW_ERR_INVALID;
    pw_groups groups;
    int rc = pw_trace_groups(t, &groups);
    if (rc != PW_OK) return rc;
    if (groups.ngroups) {
        rc = pw_attribute_grouped(t, &groups, method, out);
        pw_groups_free(&groups);
        if (rc == PW_OK) raise_peaks(t, *out);
        return rc;
    }
    pw_attribution *a = NULL;
    rc = pw_attribute_exact(t, NULL, 0, &a);
    int baseline = method == PW_METHOD_NAIVE || method == PW_METHOD_WINDOWS;
    if (rc == PW_OK && baseline) rc = pw_attribute_baseline(t, method, a);
    if (rc == PW_OK)
        rc = method == PW_METHOD_AUTO || method == PW_METHOD_DISAGGREGATE
                 ? disaggregate(t, &a, method) : label(t, a, NULL, NULL);
    if (rc == PW_OK && baseline) label_baseline(a);
    if (rc != PW_OK) {
        pw_attribution_free(a);
        return rc;
    }
    raise_peaks(t, a);
    *out = a;
    return PW_OK;
}

int pw_attribute(const pw_trace *t, pw_attribution **out)
{
    return pw_attribute_with(t, PW_METHOD_AUTO, out);
}
