/* disaggregate.c — sub-resolution disaggregation: each phase's mean power from how the mix
 * of phases varies across sample intervals, by non-negative least squares.
 *
 * Model: the energy of an interval i of domain d is ΔE_i = Σ_k P_k · overlap(i, k), where
 * overlap is the time node k was innermost during i (1/n of a piece shared by n tracks) and
 * node 0, the root, stands for untagged time (idle or background power). Equations are
 * summed into normal equations G = AᵀA, h = Aᵀb as the intervals stream by, so memory is
 * O(nodes²) whatever the run's length. An averaged-power sensor gives one equation per
 * update: reading × window = Σ_k P_k · overlap(window, k), with the window's part-time
 * sub-windows and latency taken from the trace's sensor metadata. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/disaggregate.h"
#include "analysis/timeline.h"

#define RIDGE 1e-10         /* added to the unit diagonal: keeps collinear fits solvable */
#define Z95 1.959963984540054
#define SANDWICH_MAX (1u << 22)   /* doubles of the sandwich's middle (nodes² × domains); more: σ² G⁻¹ */
#define LEVERAGE_MAX 0.9          /* an equation that decides its unknown alone is not made 100× louder */

/* Which nodes are innermost in each piece, and with what share (CSR by piece). */
typedef struct design {
    const pw_pieces *pc;
    size_t npieces, nnodes;
    size_t *start;          /* [npieces + 1] */
    uint32_t *node;         /* [start[npieces]] */
    double *share;          /* [start[npieces]] 1 / tracks open */
    double *row;            /* [nnodes] the current equation's overlap (s) */
    uint32_t *touched; size_t ntouched;
    unsigned char *in_row;  /* [nnodes] 1 while the node is in touched */
    size_t at;              /* seek cursor */
} design;

/* The normal equations of one series: G shared by its domains, h and bᵀb per domain. A
 * second pass over the same equations (fit set) keeps each one's residual, in order. */
typedef struct normal {
    size_t k, ndom, n;
    double *G, *h, *bb;
    const pw_disagg_domain *fit;   /* [ndom] the fitted powers: collect residuals */
    double *resid; size_t nresid, cap;   /* [cap * ndom] residuals (J), equation-major */
    double *ginv;   /* [k * k] G⁻¹ over the fitted nodes: the covariance per unit of σ² */
    int have_ginv;  /* ginv was filled (G's Cholesky factor exists) */
    double *meat;   /* [ndom * k * k] Σ (r / (1 - h))² a aᵀ over equations (NULL: too big) */
} normal;

/* ---- the design: pieces to nodes ------------------------------------------------------- */

/* Entries the design needs: every track open in every piece, and the overlap correction. */
static uint64_t design_entries(const pw_pieces *pc)
{
    uint64_t n = 0;
    for (size_t p = 0; p + 1 < pc->ncuts; p++) n += pc->open[p] > 1 ? pc->open[p] + 1u : 1u;
    return n;
}

static int design_build(design *d, const pw_attribution *a, const pw_pieces *pc)
{
    d->pc = pc;
    d->npieces = pc->ncuts ? pc->ncuts - 1 : 0;
    d->nnodes = a->nnodes;
    d->start = calloc(d->npieces + 2, sizeof *d->start);
    d->row = calloc(a->nnodes + 1, sizeof *d->row);
    d->touched = calloc(a->nnodes + 1, sizeof *d->touched);
    d->in_row = calloc(a->nnodes + 1, 1);
    if (!d->start || !d->row || !d->touched || !d->in_row) return PW_ERR_NOMEM;
    /* a shared piece also has a root entry: the additive model's overlap correction */
    for (size_t p = 0; p < d->npieces; p++) d->start[p + 1] = pc->open[p] > 1 ? pc->open[p] + 1 : 1;
    for (size_t p = 0; p < d->npieces; p++) d->start[p + 1] += d->start[p];
    size_t total = d->start[d->npieces];
    d->node = calloc(total + 1, sizeof *d->node);
    d->share = calloc(total + 1, sizeof *d->share);
    size_t *fill = calloc(d->npieces + 1, sizeof *fill);
    int rc = d->node && d->share && fill ? PW_OK : PW_ERR_NOMEM;
    /* The additive model: a piece where n tracks run draws each one's power alone less the
     * untagged power counted n - 1 times too often, so each track's node gets the whole time
     * and the root (node 0, the untagged power) -(n - 1) of it. */
    for (size_t p = 0; rc == PW_OK && p < d->npieces; p++) {
        if (pc->open[p] == 0) d->share[d->start[p]] = 1.0;   /* node 0: untagged */
        if (pc->open[p] > 1) d->share[d->start[p] + fill[p]++] = -(double)(pc->open[p] - 1);
    }
    for (size_t i = 0; rc == PW_OK && i < a->nsegments; i++)
        for (size_t p = pc->seg_cut[2 * i]; p < pc->seg_cut[2 * i + 1]; p++) {
            size_t slot = d->start[p] + fill[p]++;
            d->node[slot] = a->segments[i].node;
            d->share[slot] = 1.0;
        }
    free(fill);
    return rc;
}

static void design_free(design *d)
{
    free(d->start);
    free(d->node);
    free(d->share);
    free(d->row);
    free(d->touched);
    free(d->in_row);
}

static void touch(design *d, uint32_t node, double s)
{
    if (s == 0) return;
    if (!d->in_row[node]) d->touched[d->ntouched++] = node, d->in_row[node] = 1;
    d->row[node] += s;   /* may come back to 0: the root's overlap correction is negative */
}

static void row_clear(design *d)
{
    for (size_t i = 0; i < d->ntouched; i++) d->row[d->touched[i]] = 0, d->in_row[d->touched[i]] = 0;
    d->ntouched = 0;
}

/* Adds each node's time in [t0, t1) to the current row; time outside every piece is the
 * root's. */
static void add_span(design *d, uint64_t t0, uint64_t t1)
{
    if (t1 <= t0) return;
    const uint64_t *cut = d->pc->cut;
    if (d->npieces == 0 || t1 <= cut[0] || t0 >= cut[d->npieces]) {
        touch(d, 0, (double)(t1 - t0) * 1e-9);
        return;
    }
    if (t0 < cut[0]) touch(d, 0, (double)(cut[0] - t0) * 1e-9);
    if (t1 > cut[d->npieces]) touch(d, 0, (double)(t1 - cut[d->npieces]) * 1e-9);
    for (size_t p = pw_pieces_seek(d->pc, &d->at, t0); p < d->npieces && cut[p] < t1; p++) {
        uint64_t lo = t0 > cut[p] ? t0 : cut[p], hi = t1 < cut[p + 1] ? t1 : cut[p + 1];
        if (hi <= lo) continue;
        double s = (double)(hi - lo) * 1e-9;
        for (size_t j = d->start[p]; j < d->start[p + 1]; j++)
            touch(d, d->node[j], s * d->share[j]);
    }
}

/* ---- normal equations ------------------------------------------------------------------- */

static int normal_init(normal *ne, size_t k, size_t ndom)
{
    *ne = (normal){.k = k, .ndom = ndom};
    ne->G = calloc(k * k + 1, sizeof *ne->G);
    ne->h = calloc(k * ndom + 1, sizeof *ne->h);
    ne->bb = calloc(ndom + 1, sizeof *ne->bb);
    ne->ginv = calloc(k * k + 1, sizeof *ne->ginv);
    if (k * k * ndom <= SANDWICH_MAX) ne->meat = calloc(k * k * ndom + 1, sizeof *ne->meat);
    return ne->G && ne->h && ne->bb && ne->ginv ? PW_OK : PW_ERR_NOMEM;
}

static void normal_free(normal *ne)
{
    free(ne->G);
    free(ne->h);
    free(ne->bb);
    free(ne->resid);
    free(ne->ginv);
    free(ne->meat);
}

/* An equation's leverage h = aᵀ G⁻¹ a: the share of its own residual the fit took away. */
static double leverage(const normal *ne, const design *d)
{
    double h = 0;
    for (size_t i = 0; i < d->ntouched; i++)
        for (size_t j = 0; j < d->ntouched; j++)
            h += d->row[d->touched[i]] * ne->ginv[d->touched[i] * ne->k + d->touched[j]] * d->row[d->touched[j]];
    return h;
}

/* The sandwich's middle: each equation's residual, scaled up by its leverage (HC3), squared,
 * times its row's outer product. */
static void add_meat(normal *ne, const design *d, size_t m, double r, double h)
{
    double w = r / (1 - (h < LEVERAGE_MAX ? h : LEVERAGE_MAX)), *M = ne->meat + m * ne->k * ne->k;
    for (size_t i = 0; i < d->ntouched; i++)
        for (size_t j = 0; j < d->ntouched; j++)
            M[d->touched[i] * ne->k + d->touched[j]] += w * w * d->row[d->touched[i]] * d->row[d->touched[j]];
}

/* The residual pass: b - row . P per domain, kept in order (nothing kept when out of memory,
 * and then no correction is made). */
static void keep_residual(normal *ne, const design *d, const double *b)
{
    if (ne->nresid == ne->cap) {
        size_t cap = ne->cap ? 2 * ne->cap : 1024;
        double *grown = realloc(ne->resid, cap * ne->ndom * sizeof *grown);
        if (!grown) {
            ne->fit = NULL;
            ne->nresid = 0;
            return;
        }
        ne->resid = grown;
        ne->cap = cap;
    }
    double h = ne->meat ? leverage(ne, d) : 0;
    for (size_t m = 0; m < ne->ndom; m++) {
        double r = b[m];
        for (size_t i = 0; i < d->ntouched; i++) {
            uint32_t p = d->touched[i];
            double w = ne->fit[m].power_w[p];
            if (w > 0) r -= d->row[p] * w;
        }
        ne->resid[ne->nresid * ne->ndom + m] = r;
        if (ne->meat) add_meat(ne, d, m, r, h);
    }
    ne->nresid++;
}

/* One equation: the design's current row against b[ndom] (J); clears the row. */
static void normal_add(normal *ne, design *d, const double *b)
{
    if (ne->fit) {
        keep_residual(ne, d, b);
        row_clear(d);
        return;
    }
    for (size_t i = 0; i < d->ntouched; i++) {
        uint32_t p = d->touched[i];
        double rp = d->row[p];
        for (size_t j = 0; j < d->ntouched; j++) ne->G[p * ne->k + d->touched[j]] += rp * d->row[d->touched[j]];
        for (size_t m = 0; m < ne->ndom; m++) ne->h[m * ne->k + p] += rp * b[m];
    }
    for (size_t m = 0; m < ne->ndom; m++) ne->bb[m] += b[m] * b[m];
    ne->n++;
    row_clear(d);
}

/* ---- equations from a counter series: one per sample interval ---------------------------- */

static void counter_equations(const pw_trace *t, const pw_series *se, design *d, normal *ne,
                              double *b)
{
    size_t nd = se->ndomains;
    d->at = 0;
    for (size_t prev = 0, i; (i = pw_series_next(t, se, prev)) < se->n; prev = i) {
        uint64_t t0 = se->t_ns[prev], t1 = se->t_ns[i];
        if (t1 <= t0 || (se->flags && (se->flags[i] & PW_SAMPLE_GAP))) continue;
        const uint64_t *e0 = se->energy_uj + prev * nd, *e1 = se->energy_uj + i * nd;
        int backwards = 0;
        for (size_t k = 0; k < nd; k++) {
            backwards |= e1[k] < e0[k];
            b[k] = (double)(e1[k] - e0[k]) * 1e-6;
        }
        if (backwards) continue;
        add_span(d, t0, t1);
        normal_add(ne, d, b);
    }
}

/* ---- equations from an averaged-power series: one per sensor update ---------------------- */

typedef struct window_model {
    uint64_t period, window, latency, span;   /* span: the part of a period the sensor sees */
    uint64_t phase;                            /* of the update grid, estimated */
    int have_grid;                             /* 0: the grid could not be found */
} window_model;

static uint64_t meta_u64(const pw_trace *t, const char *source, const char *what)
{
    char key[160];
    snprintf(key, sizeof key, "sensor.%s.%s", source, what);
    const char *v = pw_trace_meta(t, key);
    return v ? strtoull(v, NULL, 10) : 0;
}

static double meta_double(const pw_trace *t, const char *source, const char *what)
{
    char key[160];
    snprintf(key, sizeof key, "sensor.%s.%s", source, what);
    const char *v = pw_trace_meta(t, key);
    return v ? strtod(v, NULL) : NAN;
}

int pw_domain_averaged(const pw_trace *t, size_t d)
{
    if (d >= t->ndomains || t->domains[d].source >= t->nsources) return 0;
    char key[160];
    snprintf(key, sizeof key, "sensor.%s.kind", t->sources[t->domains[d].source].name);
    const char *v = pw_trace_meta(t, key);
    return v && strcmp(v, "average") == 0;
}

/* The reading of interval i (W): the recorder integrated the current reading over it. */
static double reading_w(const pw_series *se, size_t i, size_t k)
{
    size_t nd = se->ndomains;
    double de = (double)se->energy_uj[i * nd + k] - (double)se->energy_uj[(i - 1) * nd + k];
    return de * 1e3 / (double)(se->t_ns[i] - se->t_ns[i - 1]);   /* µJ/ns = 1e3 W */
}

/* The update grid's phase from where readings change: each change puts an update in
 * (t[i-1], t[i]]; their circular mean gives the rough phase, their intersection the exact
 * one. Reads no faster than updates say nothing: then have_grid stays 0. */
static void find_grid(const pw_series *se, window_model *w)
{
    double c = 0, s = 0, tau = 6.283185307179586 / (double)w->period;
    size_t changes = 0;
    for (size_t i = 2; i < se->n; i++) {
        uint64_t dt = se->t_ns[i] - se->t_ns[i - 1];
        if (dt == 0 || se->t_ns[i - 1] <= se->t_ns[i - 2]) continue;
        double tol = 2e3 / (double)dt + 5e-4;   /* 2 µJ of rounding, half a mW */
        if (fabs(reading_w(se, i, 0) - reading_w(se, i - 1, 0)) <= tol) continue;
        double mid = (double)((se->t_ns[i - 1] + dt / 2) % w->period);
        c += cos(tau * mid);
        s += sin(tau * mid);
        changes++;
    }
    if (changes < 2 || hypot(c, s) < 0.5 * (double)changes) return;
    double rough = fmod(atan2(s, c) / tau + (double)w->period, (double)w->period);
    double lo = -(double)w->period, hi = (double)w->period;
    for (size_t i = 2; i < se->n; i++) {
        uint64_t dt = se->t_ns[i] - se->t_ns[i - 1];
        if (dt == 0 || se->t_ns[i - 1] <= se->t_ns[i - 2]) continue;
        double tol = 2e3 / (double)dt + 5e-4;
        if (fabs(reading_w(se, i, 0) - reading_w(se, i - 1, 0)) <= tol) continue;
        double a = remainder((double)se->t_ns[i - 1] - rough, (double)w->period);
        if (a > lo) lo = a;
        if (a + (double)dt < hi) hi = a + (double)dt;
    }
    double phase = rough + (lo < hi ? (lo + hi) / 2 : 0);
    w->phase = (uint64_t)fmod(phase + 2.0 * (double)w->period, (double)w->period);
    w->have_grid = 1;
}

/* The update a read at t reports: the last grid point at or before it, or (no grid) half
 * a period before the read. */
static uint64_t update_of(const window_model *w, uint64_t t)
{
    if (!w->have_grid) return t > w->period / 2 ? t - w->period / 2 : 0;
    if (t < w->phase) return 0;
    return w->phase + (t - w->phase) / w->period * w->period;
}

/* The equation of the update u whose reading is r[ndom] (W): the sub-windows it saw. */
static void window_equation(const window_model *w, design *d, normal *ne, uint64_t u,
                            const double *r, double *b)
{
    uint64_t n = (w->window + w->period / 2) / w->period, seen = 0;
    if (n == 0) n = 1;
    for (uint64_t m = 0; m < n; m++) {
        uint64_t back = w->latency + m * w->period;
        if (u < back + w->span) break;
        add_span(d, u - back - w->span, u - back);
        seen += w->span;
    }
    if (seen == 0) return;
    for (size_t k = 0; k < ne->ndom; k++) b[k] = r[k] * (double)seen * 1e-9;
    normal_add(ne, d, b);
}

/* One equation per update: the reading taken from the read in the middle of those that
 * report it, safely inside the update's period even if the grid is a little off. */
static void window_equations(const pw_trace *t, const pw_series *se, design *d, normal *ne,
                             double *b, double *r)
{
    const char *src = t->sources[se->source].name;
    window_model w = {.period = meta_u64(t, src, "period_ns"),
                      .window = meta_u64(t, src, "window_ns"),
                      .latency = meta_u64(t, src, "latency_ns")};
    double cov = meta_double(t, src, "coverage");
    if (w.period == 0) w.period = w.window;
    if (w.window < w.period) w.window = w.period;
    if (w.period == 0) return;
    w.span = (uint64_t)llround((cov > 0 && cov < 1 ? cov : 1.0) * (double)w.period);
    if (w.span == 0) w.span = 1;
    find_grid(se, &w);
    d->at = 0;
    size_t first = 1;
    for (size_t i = 1; i <= se->n; i++) {
        int ends = i == se->n || update_of(&w, se->t_ns[i]) != update_of(&w, se->t_ns[first]);
        if (!ends) continue;
        size_t mid = (first + i - 1 + 1) / 2;
        if (mid >= 1 && mid < se->n && se->t_ns[mid] > se->t_ns[mid - 1] &&
            !(se->flags && (se->flags[mid] & PW_SAMPLE_GAP))) {
            for (size_t k = 0; k < se->ndomains; k++) r[k] = reading_w(se, mid, k);
            window_equation(&w, d, ne, update_of(&w, se->t_ns[mid]), r, b);
        }
        first = i;
    }
}

/* ---- solving ------------------------------------------------------------------------------ */

/* In-place Cholesky of the n x n matrix M (lower triangle); 0 when not positive definite. */
static int cholesky(double *M, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        double s = M[j * n + j];
        for (size_t k = 0; k < j; k++) s -= M[j * n + k] * M[j * n + k];
        if (!(s > 0)) return 0;
        M[j * n + j] = sqrt(s);
        for (size_t i = j + 1; i < n; i++) {
            double v = M[i * n + j];
            for (size_t k = 0; k < j; k++) v -= M[i * n + k] * M[j * n + k];
            M[i * n + j] = v / M[j * n + j];
        }
    }
    return 1;
}

static void cholesky_solve(const double *L, size_t n, double *x)
{
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        for (size_t k = 0; k < i; k++) v -= L[i * n + k] * x[k];
        x[i] = v / L[i * n + i];
    }
    for (size_t i = n; i-- > 0;) {
        double v = x[i];
        for (size_t k = i + 1; k < n; k++) v -= L[k * n + i] * x[k];
        x[i] = v / L[i * n + i];
    }
}

/* The scaled system of one domain: C = D^-1/2 G D^-1/2 (unit diagonal) over the nodes with
 * time in some equation, g = D^-1/2 h. */
typedef struct scaled {
    size_t n;               /* unknowns used */
    size_t *ix;             /* [n] their node indices */
    double *C, *g, *scale;  /* [n*n], [n], [n]: scale = 1 / sqrt(G_kk) */
    double *L, *x, *z, *rhs;  /* work */
    size_t *sel;
    unsigned char *passive;
} scaled;

static void scaled_free(scaled *s)
{
    free(s->ix);
    free(s->C);
    free(s->g);
    free(s->scale);
    free(s->L);
    free(s->x);
    free(s->z);
    free(s->rhs);
    free(s->sel);
    free(s->passive);
}

static int scaled_init(scaled *s, const normal *ne)
{
    size_t k = ne->k;
    *s = (scaled){0};
    s->ix = calloc(k + 1, sizeof *s->ix);
    s->C = calloc(k * k + 1, sizeof *s->C);
    s->L = calloc(k * k + 1, sizeof *s->L);
    s->g = calloc(k + 1, sizeof *s->g);
    s->scale = calloc(k + 1, sizeof *s->scale);
    s->x = calloc(k + 1, sizeof *s->x);
    s->z = calloc(k + 1, sizeof *s->z);
    s->rhs = calloc(k + 1, sizeof *s->rhs);
    s->sel = calloc(k + 1, sizeof *s->sel);
    s->passive = calloc(k + 1, 1);
    if (!s->ix || !s->C || !s->L || !s->g || !s->scale || !s->x || !s->z || !s->rhs ||
        !s->sel || !s->passive)
        return PW_ERR_NOMEM;
    for (size_t i = 0; i < k; i++)
        if (ne->G[i * k + i] > 0) s->ix[s->n++] = i;
    for (size_t a = 0; a < s->n; a++) s->scale[a] = 1.0 / sqrt(ne->G[s->ix[a] * k + s->ix[a]]);
    for (size_t a = 0; a < s->n; a++)
        for (size_t b = 0; b < s->n; b++)
            s->C[a * s->n + b] = ne->G[s->ix[a] * k + s->ix[b]] * s->scale[a] * s->scale[b];
    return PW_OK;
}

/* Fills L (m x m) with the passive rows and columns of C plus ridge on the diagonal. */
static void passive_matrix(scaled *s, size_t m, double ridge)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < m; j++)
            s->L[i * m + j] = s->C[s->sel[i] * s->n + s->sel[j]] + (i == j ? ridge : 0);
}

/* z = the least-squares solution over the passive set (0 elsewhere), ridge-stabilised. */
static void solve_passive(scaled *s)
{
    size_t n = s->n, m = 0;
    for (size_t a = 0; a < n; a++)
        if (s->passive[a]) s->sel[m++] = a;
    double ridge = RIDGE;
    passive_matrix(s, m, ridge);
    while (!cholesky(s->L, m) && ridge < 1) passive_matrix(s, m, ridge *= 100);
    for (size_t i = 0; i < m; i++) s->rhs[i] = s->g[s->sel[i]];
    cholesky_solve(s->L, m, s->rhs);
    memset(s->z, 0, n * sizeof *s->z);
    for (size_t i = 0; i < m; i++) s->z[s->sel[i]] = s->rhs[i];
}

/* Lawson-Hanson active-set NNLS on the scaled normal equations. */
static void nnls(scaled *s)
{
    size_t n = s->n;
    double gmax = 0;
    for (size_t a = 0; a < n; a++) gmax = fmax(gmax, fabs(s->g[a]));
    double tol = 1e-12 * (gmax > 0 ? gmax : 1);
    for (size_t iter = 0; iter < 3 * n + 3; iter++) {
        size_t best = n;
        double bw = tol;
        for (size_t a = 0; a < n; a++) {
            if (s->passive[a]) continue;
            double w = s->g[a];
            for (size_t b = 0; b < n; b++) w -= s->C[a * n + b] * s->x[b];
            if (w > bw) bw = w, best = a;
        }
        if (best == n) return;
        s->passive[best] = 1;
        for (size_t inner = 0; inner < 3 * n + 3; inner++) {
            solve_passive(s);
            double alpha = 2;
            for (size_t a = 0; a < n; a++)
                if (s->passive[a] && s->z[a] <= 0) {
                    double f = s->x[a] / (s->x[a] - s->z[a]);
                    if (f < alpha) alpha = f;
                }
            if (alpha > 1) {
                memcpy(s->x, s->z, n * sizeof *s->x);
                break;
            }
            for (size_t a = 0; a < n; a++) {
                s->x[a] += alpha * (s->z[a] - s->x[a]);
                if (s->passive[a] && s->x[a] <= tol * 1e-3) s->passive[a] = 0, s->x[a] = 0;
            }
        }
    }
}

/* ---- one domain's figures ---------------------------------------------------------------- */

/* Covariance (σ² G⁻¹ in the nodes' units), CI and VIF from the ridge-stabilised inverse of C. */
static void uncertainty(scaled *s, normal *ne, size_t m, pw_disagg_domain *dd, size_t k)
{
    size_t n = s->n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) s->L[i * n + j] = s->C[i * n + j] + (i == j ? RIDGE : 0);
    if (!cholesky(s->L, n)) return;
    /* RSS = bᵀb − 2 xᵀh + xᵀGx, in the scaled variables: bᵀb − 2 xᵀg + xᵀCx. */
    double rss = ne->bb[m];
    for (size_t a = 0; a < n; a++) {
        double cx = 0;
        for (size_t b = 0; b < n; b++) cx += s->C[a * n + b] * s->x[b];
        rss += s->x[a] * (cx - 2 * s->g[a]);
    }
    double dof = ne->n > n ? (double)(ne->n - n) : 1.0;
    double sigma2 = rss > 0 ? rss / dof : 0;
    for (size_t b = 0; b < n; b++) {
        memset(s->rhs, 0, n * sizeof *s->rhs);
        s->rhs[b] = 1;
        cholesky_solve(s->L, n, s->rhs);   /* column b of C⁻¹ */
        for (size_t a = 0; a < n; a++) {
            double g = s->rhs[a] * s->scale[a] * s->scale[b];
            ne->ginv[s->ix[a] * k + s->ix[b]] = g;
            dd->cov[s->ix[a] * k + s->ix[b]] = sigma2 * g;
        }
        dd->vif[s->ix[b]] = s->rhs[b];
        if (s->rhs[b] > dd->max_vif) dd->max_vif = s->rhs[b];
    }
    ne->have_ginv = 1;
    for (size_t a = 0; a < n; a++)
        dd->ci_w[s->ix[a]] = Z95 * sqrt(dd->cov[s->ix[a] * k + s->ix[a]]);
    dd->rms_j = ne->n ? sqrt(rss > 0 ? rss / (double)ne->n : 0) : NAN;
}

static int fit_domain(normal *ne, size_t m, pw_disagg_domain *dd, size_t k)
{
    scaled s;
    int rc = scaled_init(&s, ne);
    if (rc == PW_OK && s.n > 0) {
        for (size_t a = 0; a < s.n; a++) s.g[a] = ne->h[m * k + s.ix[a]] * s.scale[a];
        nnls(&s);
        for (size_t a = 0; a < s.n; a++) dd->power_w[s.ix[a]] = s.x[a] * s.scale[a];
        uncertainty(&s, ne, m, dd, k);
        dd->fitted = 1;
        dd->nequations = ne->n;
        dd->nunknowns = s.n;
    }
    scaled_free(&s);
    return rc;
}

/* ---- the whole trace --------------------------------------------------------------------- */

static void self_times(const design *d, const pw_attribution *a, double *self_s, double *shared_s)
{
    const uint64_t *cut = d->pc->cut;
    for (size_t p = 0; p < d->npieces; p++)
        for (size_t j = d->start[p]; j < d->start[p + 1]; j++) {
            double t = (double)(cut[p + 1] - cut[p]) * 1e-9;
            uint32_t open = d->pc->open[p];
            if (d->share[j] < 0) continue;   /* the overlap correction is no one's time */
            self_s[d->node[j]] += t;
            if (open > 1) shared_s[d->node[j]] += t * (1.0 - 1.0 / open);
        }
    if (d->npieces == 0) {
        self_s[0] += a->run_s;
        return;
    }
    if (a->first_ns < cut[0]) self_s[0] += (double)(cut[0] - a->first_ns) * 1e-9;
    if (a->last_ns > cut[d->npieces]) self_s[0] += (double)(a->last_ns - cut[d->npieces]) * 1e-9;
}

static int alloc_result(pw_disaggregation *g, size_t nd, size_t k)
{
    g->ndomains = nd;
    g->nnodes = k;
    g->domains = calloc(nd + 1, sizeof *g->domains);
    g->self_s = calloc(2 * k + 1, sizeof *g->self_s);
    g->shared_s = g->self_s + k;
    size_t per = 3 * k + k * k;
    g->storage = calloc(nd * per + 1, sizeof *g->storage);
    if (!g->domains || !g->self_s || !g->storage) return PW_ERR_NOMEM;
    for (size_t d = 0; d < nd; d++) {
        pw_disagg_domain *dd = &g->domains[d];
        dd->power_w = g->storage + d * per;
        dd->ci_w = dd->power_w + k;
        dd->vif = dd->ci_w + k;
        dd->cov = dd->vif + k;
        for (size_t i = 0; i < 3 * k; i++) dd->power_w[i] = NAN;
        dd->rms_j = NAN;
    }
    return PW_OK;
}

/* Builds the normal equations of one series and fits each of its domains. */
/* How many updates one averaged reading's window spans beyond its own: the lag up to which
 * consecutive equations share time, and so their residuals. */
static size_t window_lag(const pw_trace *t, const pw_series *se)
{
    const char *src = t->sources[se->source].name;
    uint64_t period = meta_u64(t, src, "period_ns"), window = meta_u64(t, src, "window_ns");
    if (period == 0 || window <= period) return 0;
    uint64_t n = (window + period / 2) / period;
    return n > 1 ? (size_t)(n - 1) : 0;
}

/* Overlapping windows' residuals are correlated, which sigma^2 (A'A)^-1 takes as independent:
 * the covariance grows by the long-run variance over the residuals' own variance (Bartlett
 * weights up to the overlap, as Newey and West; never below 1, and at most the overlap + 1,
 * the number of windows an instant is in). */
static void overlap_inflate(const normal *ne, size_t m, size_t lag, pw_disagg_domain *dd, size_t k)
{
    size_t n = ne->nresid, nd = ne->ndom;
    if (lag == 0 || n < 4 * (lag + 1) || !dd->fitted) return;
    double mean = 0, g0 = 0, lr = 0;
    for (size_t i = 0; i < n; i++) mean += ne->resid[i * nd + m] / (double)n;
    for (size_t i = 0; i < n; i++) {
        double e = ne->resid[i * nd + m] - mean;
        g0 += e * e;
    }
    if (!(g0 > 0)) return;
    lr = g0;
    for (size_t l = 1; l <= lag; l++) {
        double gl = 0;
        for (size_t i = l; i < n; i++)
            gl += (ne->resid[i * nd + m] - mean) * (ne->resid[(i - l) * nd + m] - mean);
        lr += 2.0 * (1.0 - (double)l / (double)(lag + 1)) * gl;
    }
    double f = lr / g0;
    if (!(f > 1)) return;
    if (f > (double)(lag + 1)) f = (double)(lag + 1);
    for (size_t i = 0; i < k * k; i++) dd->cov[i] *= f;
    for (size_t i = 0; i < k; i++) dd->ci_w[i] *= sqrt(f);
}

/* The covariance G⁻¹ (Σ (r/(1-h))² a aᵀ) G⁻¹ (White's, as HC3): σ² G⁻¹ pools every
 * equation's residuals, so a phase seen only in quiet intervals took the spread of the loud
 * ones (a long prefill's ramp), and one seen in loud ones the quiet ones'. */
static void sandwich(const normal *ne, size_t m, pw_disagg_domain *dd, size_t k)
{
    if (!ne->meat || !ne->have_ginv || !dd->fitted || ne->nresid <= dd->nunknowns) return;
    const double *M = ne->meat + m * k * k, *G = ne->ginv;
    size_t *on = calloc(k + 1, sizeof *on), n = 0;   /* the fitted nodes: G⁻¹ is 0 elsewhere */
    double *tmp = calloc(k * k + 1, sizeof *tmp);    /* M G⁻¹ */
    for (size_t a = 0; on && a < k; a++)
        if (G[a * k + a] != 0) on[n++] = a;
    for (size_t i = 0; on && tmp && i < n; i++)
        for (size_t l = 0; l < n; l++) {
            double x = M[on[i] * k + on[l]];
            if (x != 0)
                for (size_t j = 0; j < n; j++) tmp[on[i] * k + on[j]] += x * G[on[l] * k + on[j]];
        }
    for (size_t a = 0; on && tmp && a < n; a++)
        for (size_t b = 0; b < n; b++) {
            double v = 0;
            for (size_t i = 0; i < n; i++) v += G[on[a] * k + on[i]] * tmp[on[i] * k + on[b]];
            dd->cov[on[a] * k + on[b]] = v;
        }
    for (size_t a = 0; on && tmp && a < k; a++)
        if (isfinite(dd->ci_w[a])) dd->ci_w[a] = Z95 * sqrt(dd->cov[a * k + a] > 0 ? dd->cov[a * k + a] : 0);
    free(on);
    free(tmp);
}

static int fit_series(const pw_trace *t, const pw_series *se, design *d, pw_disaggregation *g)
{
    normal ne;
    double *b = calloc(2 * se->ndomains + 2, sizeof *b);
    int rc = normal_init(&ne, g->nnodes, se->ndomains);
    int averaged = pw_domain_averaged(t, se->first_domain);
    if (rc == PW_OK && !b) rc = PW_ERR_NOMEM;
    if (rc == PW_OK) {
        if (averaged) window_equations(t, se, d, &ne, b, b + se->ndomains + 1);
        else counter_equations(t, se, d, &ne, b);
    }
    for (size_t m = 0; rc == PW_OK && m < se->ndomains; m++) {
        pw_disagg_domain *dd = &g->domains[se->first_domain + m];
        dd->window_aware = averaged;
        rc = fit_domain(&ne, m, dd, g->nnodes);
    }
    if (rc == PW_OK) {   /* the residual pass */
        ne.fit = &g->domains[se->first_domain];
        if (averaged) window_equations(t, se, d, &ne, b, b + se->ndomains + 1);
        else counter_equations(t, se, d, &ne, b);
        for (size_t m = 0; ne.fit && m < se->ndomains; m++) {
            sandwich(&ne, m, &g->domains[se->first_domain + m], g->nnodes);
            if (averaged)
                overlap_inflate(&ne, m, window_lag(t, se), &g->domains[se->first_domain + m], g->nnodes);
        }
    }
    normal_free(&ne);
    free(b);
    return rc;
}

int pw_disaggregate(const pw_trace *t, const pw_attribution *a, pw_disaggregation **out)
{
    if (!t || !a || !out) return PW_ERR_INVALID;
    *out = NULL;
    if (a->nnodes > PW_DISAGG_MAX_UNKNOWNS) return PW_ERR_LIMIT;

    pw_disaggregation *g = calloc(1, sizeof *g);
    if (!g) return PW_ERR_NOMEM;
    pw_pieces pc = {0};
    design d = {0};
    int rc = alloc_result(g, t->ndomains, a->nnodes);
    if (rc == PW_OK) rc = pw_pieces_build(a, &pc);
    if (rc == PW_OK && design_entries(&pc) > PW_DISAGG_MAX_ENTRIES) rc = PW_ERR_LIMIT;
    if (rc == PW_OK) rc = design_build(&d, a, &pc);
    if (rc == PW_OK) self_times(&d, a, g->self_s, g->shared_s);
    for (size_t si = 0; rc == PW_OK && si < t->nsources; si++) {
        const pw_series *se = &t->series[si];
        if (se->ndomains && se->n >= 2 && se->first_domain + se->ndomains <= t->ndomains)
            rc = fit_series(t, se, &d, g);
    }
    design_free(&d);
    pw_pieces_free(&pc);
    if (rc != PW_OK) {
        pw_disaggregation_free(g);
        return rc;
    }
    *out = g;
    return PW_OK;
}

void pw_disaggregation_free(pw_disaggregation *g)
{
    if (!g) return;
    free(g->domains);
    free(g->self_s);
    free(g->storage);
    free(g);
}

double pw_disagg_energy_ci(const pw_disaggregation *g, size_t d, const double *tau_s)
{
    if (!g || d >= g->ndomains || !g->domains[d].fitted) return NAN;
    const pw_disagg_domain *dd = &g->domains[d];
    size_t k = g->nnodes;
    double v = 0;
    for (size_t a = 0; a < k; a++) {
        if (tau_s[a] == 0 || isnan(dd->power_w[a])) continue;
        for (size_t b = 0; b < k; b++)
            if (tau_s[b] != 0 && !isnan(dd->power_w[b])) v += tau_s[a] * tau_s[b] * dd->cov[a * k + b];
    }
    return Z95 * sqrt(v > 0 ? v : 0);
}

int pw_disagg_separable(const pw_disaggregation *g, size_t d, size_t node)
{
    if (!g || d >= g->ndomains || node >= g->nnodes || !g->domains[d].fitted) return 0;
    double vif = g->domains[d].vif[node];
    return vif >= 1 - 1e-9 && vif <= PW_DISAGG_MAX_VIF;
}

int pw_disagg_usable(const pw_disaggregation *g, size_t d, size_t node)
{
    return pw_disagg_separable(g, d, node) &&
           g->domains[d].nequations >= PW_DISAGG_MIN_RATIO * g->domains[d].nunknowns;
}
