/* provenance.c — chooses how each figure is made (interval-exact, or disaggregated where
 * phases are shorter than the sensor resolves or the sensor only gives averaged power) and
 * labels every node with its provenance and uncertainty. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/disaggregate.h"
#include "trace/merge.h"

const char *pw_provenance_name(pw_provenance p)
{
    switch (p) {
    case PW_PROV_ESTIMATED: return "estimated";
    case PW_PROV_DISAGGREGATED: return "disaggregated";
    default: return "measured";
    }
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

/* Power hints for the short phases of counter domains: the fit's power. */
static double *hints(const pw_attribution *a, const pw_disaggregation *g, const unsigned char *use)
{
    size_t nd = a->ndomains;
    double *h = malloc(a->nnodes * nd * sizeof *h + 1);
    if (!h) return NULL;
    for (size_t k = 0; k < a->nnodes; k++)
        for (size_t d = 0; d < nd; d++) {
            h[k * nd + d] = use[k * nd + d] ? g->domains[d].power_w[k] : NAN;
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
            double p = g->domains[d].power_w[k];
            a->nodes[k].self_j[d] = p >= 0 ? p * g->self_s[k] : 0;
            phases += a->nodes[k].self_j[d];
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
    a->nodes[k].self_ci_j[d] = tau[k] ? pw_disagg_energy_ci(g, d, tau) : NAN;
    int any = tau[k] != 0;
    for (size_t j = k + 1; j < end; j++)
        if (use[j * nd + d]) tau[j] = g->self_s[j], any = 1;
    a->nodes[k].incl_ci_j[d] = any ? pw_disagg_energy_ci(g, d, tau) : NAN;
}

/* Provenance per domain and node; uncertainty where a figure is estimated or fitted. */
static int label(const pw_trace *t, pw_attribution *a, const pw_disaggregation *g,
                 const unsigned char *use)
{
    size_t nd = a->ndomains;
    double *tau = calloc(a->nnodes + 1, sizeof *tau);
    if (!tau) return PW_ERR_NOMEM;
    for (size_t d = 0; d < nd; d++) {
        int est = pw_domain_estimated(t, d), fit = g && g->domains[d].fitted;
        a->domain_provenance[d] = est ? PW_PROV_ESTIMATED
                                      : fit && pw_domain_averaged(t, d) ? PW_PROV_DISAGGREGATED
                                                                        : PW_PROV_MEASURED;
        for (size_t k = 0; k < a->nnodes; k++) {
            pw_phase_node *n = &a->nodes[k];
            int top = pw_trace_domain_is_top(t, d);
            if (est) {
                n->self_ci_j[d] = PW_ESTIMATE_REL_CI * fabs(n->self_j[d]);
                n->incl_ci_j[d] = PW_ESTIMATE_REL_CI * fabs(n->incl_j[d]);
                if (top) n->provenance = PW_PROV_ESTIMATED;
            } else if (fit && use && k > 0) {
                fitted_ci(a, g, use, k, d, tau);
                if (top && use[k * nd + d] && n->provenance < PW_PROV_DISAGGREGATED)
                    n->provenance = PW_PROV_DISAGGREGATED;
            }
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
    int rc = pw_attribute_exact(t, h, (*a)->nnodes * (*a)->ndomains, &b);
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

/* A phase shorter than a sample interval can draw more than any interval's mean, so its
 * peak is at least its own mean power: peak W never reads below mean W. */
static void raise_peaks(const pw_trace *t, pw_attribution *a)
{
    for (size_t k = 1; k < a->nnodes; k++) {
        pw_phase_node *n = &a->nodes[k];
        double mean = n->duration_s > 0 ? pw_energy_total(t, n->incl_j) / n->duration_s : 0;
        if (mean > n->peak_w) n->peak_w = mean;
    }
}

int pw_attribute_with(const pw_trace *t, pw_method method, pw_attribution **out)
{
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
    if (rc != PW_OK) return rc;
    if (method == PW_METHOD_NAIVE || method == PW_METHOD_WINDOWS)
        rc = pw_attribute_baseline(t, method, a);
    if (rc == PW_OK)
        rc = method == PW_METHOD_AUTO || method == PW_METHOD_DISAGGREGATE
                 ? disaggregate(t, &a, method) : label(t, a, NULL, NULL);
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
