/* attribute.c — attribution: splits each sample interval's energy over the phases that
 * were innermost during it.
 *
 * Splitting rule: an interval inside one piece of time goes to it whole. An interval that
 * straddles phase changes is split by overlap time x the estimated power of each part,
 * scaled so the interval's energy is kept exactly. A part's power is estimated from the
 * "pure" intervals that lie wholly inside that same piece, else inside other pieces of the
 * same phase path (its repetitions). So the split is exact whenever each phase draws
 * constant power; where some part has no estimate, the split falls back to overlap time
 * alone (exact only when power is constant across the interval).
 *
 * Concurrency rule: time is cut into elementary pieces at every phase change of every track.
 * In a piece where n tracks have a phase open, each track's innermost phase gets an equal
 * 1/n of the piece's energy (concurrent tracks split energy equally). Pieces where no track
 * has a phase open, and time before the first cut or after the last, belong to the root:
 * untagged energy. A counter that steps backwards gives no energy for that interval. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/disaggregate.h"
#include "analysis/timeline.h"

#define PEAK_BLOCK 64   /* pieces per block of the peak range-maximum table */

/* The state of one pass over the sample intervals of every series. */
typedef struct sweep {
    const pw_trace *t;
    pw_attribution *a;
    const pw_pieces *pc;
    size_t npieces;
    size_t width;        /* doubles per row: one per domain */
    double *rows;        /* [ncuts * width] each piece's energy (J); then, by settle(), the
                            running per-track share at each cut */
    double *peak;        /* [npieces] highest total power of a primary-series interval
                            overlapping each piece */
    double *block_peak;  /* [npieces / PEAK_BLOCK rounded up] */
    double *de;          /* [width] the current interval's energy per domain (J) */
    size_t at;           /* cursor: the piece the current interval starts in */
    pw_series_cursor *others;  /* [nsources] for the peaks: the other series at the
                                  primary series' readings */
    double *est;         /* [npieces * width] estimated power of each piece (J/ns), NAN if
                            none: the weights of straddling intervals */
    double *root_est;    /* [width] estimated power of untagged time, NAN if none */
    const double *hint;  /* [nnodes * width] power hints (W), NAN where none; or NULL */
} sweep;

int pw_domain_estimated(const pw_trace *t, size_t domain)
{
    if (domain >= t->ndomains) return 0;
    const pw_domain_desc *d = &t->domains[domain];
    uint32_t flags = d->flags;
    if (d->source < t->nsources) flags |= t->sources[d->source].flags;
    return (flags & PW_DOMAIN_ESTIMATED) != 0;
}

static int is_top(const pw_trace *t, size_t domain)
{
    return t->domains[domain].parent < 0;
}

double pw_energy_total(const pw_trace *t, const double *per_domain_j)
{
    double sum = 0;
    for (size_t d = 0; d < t->ndomains; d++)
        if (is_top(t, d)) sum += per_domain_j[d];
    return sum;
}

double pw_energy_kind(const pw_trace *t, const double *per_domain_j, pw_kind kind)
{
    double sum = 0;
    for (size_t d = 0; d < t->ndomains; d++)
        if (is_top(t, d) && t->domains[d].kind == kind) sum += per_domain_j[d];
    return sum;
}

int pw_attribution_find(const pw_attribution *a, const char *path)
{
    if (!a || !path) return -1;
    for (size_t i = 0; i < a->nnodes; i++)
        if (strcmp(a->nodes[i].path, path) == 0) return (int)i;
    return -1;
}

void pw_attribution_free(pw_attribution *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->nnodes; i++) free(a->nodes[i].path);
    free(a->nodes);
    free(a->node_j);
    free(a->domain_j);
    free(a->segments);
    free(a->domain_provenance);
    pw_disaggregation_free(a->disagg);
    free(a);
}

double pw_series_energy_at(pw_series_cursor *c, size_t k, uint64_t t_ns)
{
    const pw_series *se = c->se;
    if (se->n == 0 || k >= se->ndomains) return 0;
    if (c->at >= se->n || se->t_ns[c->at] > t_ns) c->at = 0;   /* asked earlier: start over */
    while (c->at + 1 < se->n && se->t_ns[c->at + 1] <= t_ns) c->at++;
    size_t i = c->at, j = i + 1 < se->n ? i + 1 : i;
    double e0 = (double)se->energy_uj[i * se->ndomains + k];
    if (t_ns <= se->t_ns[i] || se->t_ns[j] <= se->t_ns[i]) return e0;
    double f = (double)(t_ns - se->t_ns[i]) / (double)(se->t_ns[j] - se->t_ns[i]);
    return e0 + f * ((double)se->energy_uj[j * se->ndomains + k] - e0);
}

/* 1 when the series' sensor updates markedly less often than it was read. Only then is an
 * unchanged reading a repeat: otherwise it says the domain drew no power. */
static int reads_repeat(const pw_trace *t, const pw_series *se)
{
    if (se->source >= t->nsources || se->n < 2) return 0;
    double interval = (double)(se->t_ns[se->n - 1] - se->t_ns[0]) / (double)(se->n - 1);
    return (double)t->sources[se->source].period_ns > 1.5 * interval;
}

size_t pw_series_next(const pw_trace *t, const pw_series *se, size_t i)
{
    size_t nd = se->ndomains;
    int merge = reads_repeat(t, se);
    for (size_t j = i + 1; j < se->n; j++) {
        if (!merge || j + 1 == se->n || (se->flags && (se->flags[j] & PW_SAMPLE_GAP))) return j;
        if (memcmp(se->energy_uj + j * nd, se->energy_uj + i * nd, nd * sizeof *se->energy_uj))
            return j;
    }
    return se->n;
}

/* ---- the run as a whole ---------------------------------------------------------------- */

/* Sample range, primary series (the first with an interval), provenance; returns the time
 * phases still open are closed at: the trace's last timestamp. */
static uint64_t describe_run(const pw_trace *t, pw_attribution *a)
{
    a->ndomains = t->ndomains;
    a->primary = -1;
    for (size_t d = 0; d < t->ndomains; d++) a->estimated |= pw_domain_estimated(t, d);
    int any = 0;
    for (size_t s = 0; s < t->nsources; s++) {
        const pw_series *se = &t->series[s];
        if (se->n == 0) continue;
        if (!any || se->t_ns[0] < a->first_ns) a->first_ns = se->t_ns[0];
        if (!any || se->t_ns[se->n - 1] > a->last_ns) a->last_ns = se->t_ns[se->n - 1];
        any = 1;
        if (a->primary < 0 && se->n >= 2) {
            a->primary = (int)s;
            a->sample_interval_s = (double)(se->t_ns[se->n - 1] - se->t_ns[0]) * 1e-9 /
                                   (double)(se->n - 1);
        }
    }
    a->run_s = (double)(a->last_ns - a->first_ns) * 1e-9;
    uint64_t end = t->end_ns > a->last_ns ? t->end_ns : a->last_ns;
    for (size_t i = 0; i < t->ntracks; i++) {
        const pw_track *tr = &t->tracks[i];
        if (tr->n && tr->events[tr->n - 1].t_ns > end) end = tr->events[tr->n - 1].t_ns;
    }
    return end;
}

static int alloc_energy(pw_attribution *a)
{
    size_t nd = a->ndomains;
    a->domain_j = calloc(nd ? nd : 1, sizeof *a->domain_j);
    a->domain_provenance = calloc(nd ? nd : 1, sizeof *a->domain_provenance);
    a->node_j = calloc(a->nnodes * 4 * nd + 1, sizeof *a->node_j);
    if (!a->domain_j || !a->domain_provenance || !a->node_j) return PW_ERR_NOMEM;
    for (size_t i = 0; i < a->nnodes; i++) {
        a->nodes[i].self_j = a->node_j + i * 4 * nd;
        a->nodes[i].incl_j = a->nodes[i].self_j + nd;
        a->nodes[i].self_ci_j = a->nodes[i].incl_j + nd;
        a->nodes[i].incl_ci_j = a->nodes[i].self_ci_j + nd;
        for (size_t d = 0; d < 2 * nd; d++) a->nodes[i].self_ci_j[d] = NAN;
    }
    a->nodes[0].duration_s = a->run_s;
    return PW_OK;
}

/* ---- the sweep over sample intervals --------------------------------------------------- */

static void add_scaled(double *acc, const double *v, size_t n, double f)
{
    for (size_t k = 0; k < n; k++) acc[k] += v[k] * f;
}

static size_t seek(sweep *s, uint64_t t) { return pw_pieces_seek(s->pc, &s->at, t); }

/* Energy of two readings at the same instant: it belongs to the piece holding that instant. */
static void spread_instant(sweep *s, uint64_t t0, size_t first, size_t n)
{
    const uint64_t *cut = s->pc->cut;
    int inside = s->npieces && t0 >= cut[0] && t0 < cut[s->npieces];
    double *to = inside ? s->rows + seek(s, t0) * s->width : s->a->nodes[0].self_j;
    add_scaled(to + first, s->de, n, 1.0);
}

/* Overlap of [t0, t1) with piece p, in ns. */
static uint64_t overlap(const sweep *s, size_t p, uint64_t t0, uint64_t t1)
{
    const uint64_t *cut = s->pc->cut;
    uint64_t lo = t0 > cut[p] ? t0 : cut[p], hi = t1 < cut[p + 1] ? t1 : cut[p + 1];
    return hi > lo ? hi - lo : 0;
}

/* A part's weight: overlap x its estimated power; a part with no estimate is taken to draw
 * the interval's mean power, so with no estimates at all the split is by time alone. */
static double part_weight(double est, double mean, uint64_t ns)
{
    return ns ? (double)ns * (est >= 0 ? est : mean) : 0.0;
}

/* Splits one domain's energy e (J) of a straddling interval over its parts. */
static void split_domain(sweep *s, size_t d, double e, uint64_t t0, uint64_t t1, size_t from)
{
    const uint64_t *cut = s->pc->cut;
    double mean = e * 1e6 / (double)(t1 - t0);       /* µJ/ns, the estimates' unit */
    uint64_t outside = (t0 < cut[0] ? cut[0] - t0 : 0) +
                       (t1 > cut[s->npieces] ? t1 - cut[s->npieces] : 0);
    double root_w = part_weight(s->root_est[d], mean, outside), total = root_w;
    for (size_t p = from; p < s->npieces && cut[p] < t1; p++)
        total += part_weight(s->est[p * s->width + d], mean, overlap(s, p, t0, t1));
    if (!(total > 0)) {                                /* no power in any part: by time */
        mean = 1.0;
        root_w = (double)outside;
        total = (double)(t1 - t0);
    }
    s->a->nodes[0].self_j[d] += e * root_w / total;
    for (size_t p = from; p < s->npieces && cut[p] < t1; p++)
        s->rows[p * s->width + d] +=
            e * part_weight(s->est[p * s->width + d], mean, overlap(s, p, t0, t1)) / total;
}

/* Splits s->de (energy of [t0, t1) for domains first..first+n) over the pieces (see the
 * splitting rule above); the part outside every piece is the root's. power >= 0 raises the
 * pieces' peaks. */
static void spread(sweep *s, uint64_t t0, uint64_t t1, size_t first, size_t n, double power)
{
    if (t1 == t0) {
        spread_instant(s, t0, first, n);
        return;
    }
    const uint64_t *cut = s->pc->cut;
    if (s->npieces == 0 || t1 <= cut[0] || t0 >= cut[s->npieces]) {
        add_scaled(s->a->nodes[0].self_j + first, s->de, n, 1.0);
        return;
    }
    size_t from = seek(s, t0);
    if (t0 >= cut[from] && t1 <= cut[from + 1]) {           /* inside one piece: all of it */
        add_scaled(s->rows + from * s->width + first, s->de, n, 1.0);
    } else {
        for (size_t k = 0; k < n; k++) split_domain(s, first + k, s->de[k], t0, t1, from);
    }
    for (size_t p = from; p < s->npieces && cut[p] < t1; p++)
        if (power > s->peak[p]) s->peak[p] = power;
}

/* ---- power estimates from pure intervals ---------------------------------------------- */

/* The node each piece belongs to when exactly one track is in it (the root when none), or
 * -1 for pieces shared by several tracks. */
static int64_t *piece_nodes(const sweep *s)
{
    int64_t *node = malloc((s->npieces + 1) * sizeof *node);
    if (!node) return NULL;
    for (size_t p = 0; p < s->npieces; p++) node[p] = s->pc->open[p] == 0 ? 0 : -1;
    for (size_t i = 0; i < s->a->nsegments; i++)
        for (size_t p = s->pc->seg_cut[2 * i]; p < s->pc->seg_cut[2 * i + 1]; p++)
            if (s->pc->open[p] == 1) node[p] = s->a->segments[i].node;
    return node;
}

typedef struct purity { double *piece_e, *piece_t, *node_e, *node_t; } purity;

/* Adds one series' pure intervals (wholly inside one piece, or wholly untagged outside
 * every piece) to the energy and time of that piece and of its node. */
static void add_pure(sweep *s, const pw_series *se, const int64_t *node, purity *pu)
{
    const uint64_t *cut = s->pc->cut;
    size_t n = se->ndomains, first = se->first_domain, w = s->width;
    s->at = 0;
    for (size_t prev = 0, i; (i = pw_series_next(s->t, se, prev)) < se->n; prev = i) {
        uint64_t t0 = se->t_ns[prev], t1 = se->t_ns[i];
        if (t1 <= t0 || (se->flags && (se->flags[i] & PW_SAMPLE_GAP))) continue;
        int64_t nd = -1;
        size_t p = 0;
        int in_piece = 0;
        if (s->npieces == 0 || t1 <= cut[0] || t0 >= cut[s->npieces]) {
            nd = 0;
        } else {
            p = seek(s, t0);
            in_piece = t0 >= cut[p] && t1 <= cut[p + 1];
            if (!in_piece) continue;
            nd = node[p];
        }
        const uint64_t *e0 = se->energy_uj + prev * n, *e1 = se->energy_uj + i * n;
        for (size_t k = 0; k < n; k++) {
            double e = e1[k] >= e0[k] ? (double)(e1[k] - e0[k]) : 0.0, dt = (double)(t1 - t0);
            if (in_piece) {
                pu->piece_e[p * w + first + k] += e;
                pu->piece_t[p * w + first + k] += dt;
            }
            if (nd >= 0) {
                pu->node_e[(size_t)nd * w + first + k] += e;
                pu->node_t[(size_t)nd * w + first + k] += dt;
            }
        }
    }
}

static double ratio_or_nan(double e, double t) { return t > 0 ? e / t : NAN; }

/* A hint, where there is one, replaces the estimate from pure intervals (W -> µJ/ns). */
static double hinted(const sweep *s, int64_t node, size_t d, double est)
{
    if (!s->hint || node < 0) return est;
    double w = s->hint[(size_t)node * s->width + d];
    return w >= 0 ? w * 1e-3 : est;
}

static int estimate_powers(sweep *s)
{
    size_t w = s->width, np = s->npieces, nn = s->a->nnodes;
    purity pu = {calloc(np * w + 1, sizeof(double)), calloc(np * w + 1, sizeof(double)),
                 calloc(nn * w + 1, sizeof(double)), calloc(nn * w + 1, sizeof(double))};
    int64_t *node = piece_nodes(s);
    int rc = pu.piece_e && pu.piece_t && pu.node_e && pu.node_t && node ? PW_OK : PW_ERR_NOMEM;
    if (rc == PW_OK) {
        for (size_t si = 0; si < s->t->nsources; si++) {
            const pw_series *se = &s->t->series[si];
            if (se->ndomains && se->first_domain + se->ndomains <= w) add_pure(s, se, node, &pu);
        }
        for (size_t p = 0; p < np; p++)
            for (size_t d = 0; d < w; d++) {
                double e = ratio_or_nan(pu.piece_e[p * w + d], pu.piece_t[p * w + d]);
                if (!(e >= 0) && node[p] >= 0)
                    e = ratio_or_nan(pu.node_e[node[p] * w + d], pu.node_t[node[p] * w + d]);
                s->est[p * w + d] = hinted(s, node[p], d, e);
            }
        for (size_t d = 0; d < w; d++)
            s->root_est[d] = hinted(s, 0, d, ratio_or_nan(pu.node_e[d], pu.node_t[d]));
    }
    free(pu.piece_e);
    free(pu.piece_t);
    free(pu.node_e);
    free(pu.node_t);
    free(node);
    return rc;
}

/* Energy (J) of the top-level domains of every series but the primary, at t: what the
 * primary series' intervals add to reach the run's total power. */
static double others_j(sweep *s, uint64_t t)
{
    double j = 0;
    for (size_t si = 0; si < s->t->nsources; si++) {
        const pw_series *se = &s->t->series[si];
        if ((int)si == s->a->primary) continue;
        for (size_t k = 0; k < se->ndomains; k++)
            if (se->first_domain + k < s->width && is_top(s->t, se->first_domain + k))
                j += pw_series_energy_at(&s->others[si], k, t) * 1e-6;
    }
    return j;
}

/* Splits every interval of series si. The primary series also sets the peaks: the run's
 * total power over each of its intervals, other series interpolated at its readings. */
static void sweep_series(sweep *s, size_t si)
{
    const pw_series *se = &s->t->series[si];
    size_t n = se->ndomains, first = se->first_domain;
    if (n == 0 || se->n == 0 || first + n > s->width) return;
    pw_phase_node *root = &s->a->nodes[0];
    int primary = (int)si == s->a->primary;
    double others_before = primary ? others_j(s, se->t_ns[0]) : 0;
    s->at = 0;
    for (size_t prev = 0, i; (i = pw_series_next(s->t, se, prev)) < se->n; prev = i) {
        uint64_t t0 = se->t_ns[prev], t1 = se->t_ns[i];
        double others = primary ? others_j(s, t1) : 0, others_de = others - others_before;
        others_before = others;
        if (se->flags && (se->flags[i] & PW_SAMPLE_GAP)) {
            s->a->gap_intervals++;
            continue;
        }
        if (t1 < t0) continue;
        const uint64_t *e0 = se->energy_uj + prev * n, *e1 = se->energy_uj + i * n;
        double top = others_de > 0 ? others_de : 0;
        for (size_t k = 0; k < n; k++) {
            s->de[k] = e1[k] >= e0[k] ? (double)(e1[k] - e0[k]) * 1e-6 : 0.0;
            s->a->domain_j[first + k] += s->de[k];
            if (is_top(s->t, first + k)) top += s->de[k];
        }
        double power = primary && t1 > t0 ? top / ((double)(t1 - t0) * 1e-9) : -1.0;
        if (power > root->peak_w) root->peak_w = power;
        spread(s, t0, t1, first, n, power);
    }
}

/* ---- from pieces to phases -------------------------------------------------------------- */

static double range_max(const sweep *s, size_t from, size_t to)
{
    double m = 0;
    for (; from < to && from % PEAK_BLOCK; from++)
        if (s->peak[from] > m) m = s->peak[from];
    for (; from + PEAK_BLOCK <= to; from += PEAK_BLOCK)
        if (s->block_peak[from / PEAK_BLOCK] > m) m = s->block_peak[from / PEAK_BLOCK];
    for (; from < to; from++)
        if (s->peak[from] > m) m = s->peak[from];
    return m;
}

/* Turns each row into the running sum, up to its cut, of one open track's share; then a
 * segment's energy is the difference of two rows, whatever else overlapped it. Untagged
 * pieces go to the root. */
static void settle(sweep *s)
{
    size_t w = s->width, ncuts = s->pc->ncuts;
    double *run = s->de, *root = s->a->nodes[0].self_j;
    memset(run, 0, w * sizeof *run);
    for (size_t p = 0; p < ncuts; p++) {
        double *row = s->rows + p * w;
        uint32_t open = p < s->npieces ? s->pc->open[p] : 0;
        for (size_t d = 0; d < w; d++) {
            double e = row[d];
            row[d] = run[d];
            if (open) run[d] += e / open;
            else root[d] += e;
        }
    }
    for (size_t p = 0; p < s->npieces; p++)
        if (s->peak[p] > s->block_peak[p / PEAK_BLOCK])
            s->block_peak[p / PEAK_BLOCK] = s->peak[p];
    for (size_t i = 0; i < s->a->nsegments; i++) {
        pw_phase_node *node = &s->a->nodes[s->a->segments[i].node];
        size_t from = s->pc->seg_cut[2 * i], to = s->pc->seg_cut[2 * i + 1];
        const double *at_from = s->rows + from * w, *at_to = s->rows + to * w;
        for (size_t d = 0; d < w; d++) node->self_j[d] += at_to[d] - at_from[d];
        double peak = range_max(s, from, to);
        if (peak > node->peak_w) node->peak_w = peak;
    }
}

static int measure(const pw_trace *t, pw_attribution *a, const pw_pieces *pc,
                   const double *hint)
{
    sweep s = {.t = t, .a = a, .pc = pc, .width = a->ndomains, .hint = hint};
    s.npieces = pc->ncuts ? pc->ncuts - 1 : 0;
    s.rows = calloc(pc->ncuts * s.width + 1, sizeof *s.rows);
    s.peak = calloc(s.npieces + 1, sizeof *s.peak);
    s.block_peak = calloc(s.npieces / PEAK_BLOCK + 1, sizeof *s.block_peak);
    s.de = calloc(s.width + 1, sizeof *s.de);
    s.others = calloc(t->nsources + 1, sizeof *s.others);
    s.est = calloc(s.npieces * s.width + 1, sizeof *s.est);
    s.root_est = calloc(s.width + 1, sizeof *s.root_est);
    int rc = s.rows && s.peak && s.block_peak && s.de && s.others && s.est && s.root_est
                 ? PW_OK : PW_ERR_NOMEM;
    if (rc == PW_OK) rc = estimate_powers(&s);
    if (rc == PW_OK) {
        for (size_t si = 0; si < t->nsources; si++) s.others[si].se = &t->series[si];
        for (size_t si = 0; si < t->nsources; si++) sweep_series(&s, si);
        settle(&s);
    }
    free(s.est);
    free(s.root_est);
    free(s.rows);
    free(s.peak);
    free(s.block_peak);
    free(s.de);
    free(s.others);
    return rc;
}

/* Inclusive figures: children come after their parent, so one backward pass suffices. */
void pw_attribution_roll_up(pw_attribution *a)
{
    size_t nd = a->ndomains;
    for (size_t i = 0; i < a->nnodes; i++) {
        memcpy(a->nodes[i].incl_j, a->nodes[i].self_j, nd * sizeof(double));
        a->nodes[i].tokens_incl = a->nodes[i].tokens_self;
    }
    for (size_t i = a->nnodes; i-- > 1;) {
        const pw_phase_node *c = &a->nodes[i];
        pw_phase_node *p = &a->nodes[c->parent];
        add_scaled(p->incl_j, c->incl_j, nd, 1.0);
        p->tokens_incl += c->tokens_incl;
        if (c->peak_w > p->peak_w) p->peak_w = c->peak_w;
    }
}

int pw_attribute_exact(const pw_trace *t, const double *hint_w, size_t nhints,
                       pw_attribution **out)
{
    if (!t || !out) return PW_ERR_INVALID;
    *out = NULL;
    pw_attribution *a = calloc(1, sizeof *a);
    if (!a) return PW_ERR_NOMEM;
    pw_pieces pc = {0};
    int rc = pw_timeline_tree(t, describe_run(t, a), a);
    if (rc == PW_OK) rc = alloc_energy(a);
    if (rc == PW_OK && hint_w && nhints != a->nnodes * a->ndomains) rc = PW_ERR_INVALID;
    if (rc == PW_OK) rc = pw_pieces_build(a, &pc);
    if (rc == PW_OK) rc = measure(t, a, &pc, hint_w);
    pw_pieces_free(&pc);
    if (rc != PW_OK) {
        pw_attribution_free(a);
        return rc;
    }
    pw_attribution_roll_up(a);
    *out = a;
    return PW_OK;
}
