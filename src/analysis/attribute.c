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
    double *local_est;   /* [npieces * width] est from the readings alone (no fit's hint) */
    double *weight;      /* [npieces + 1] scratch: one straddling interval's parts' weights */
    unsigned char *tier; /* [npieces + 1] scratch: where each weight's power came from */
    unsigned char *by_time;  /* [npieces + 1] scratch: each part split by time */
    unsigned char *own_part; /* [npieces + 1] scratch: each part's power read in its own call */
    unsigned char *own;  /* [npieces * width] the piece has pure intervals: its power (and
                            its ends') is read in the call itself, not the phase's mean */
    /* [2 * npieces * width] per piece and end, the pure interval edge_est came from: its
     * readings (as indices) and how its power moves per ns either reading is off (1/ns,
     * relative, the slope's lever included): the error a part taking that power carries */
    double *edge_ra, *edge_rb, *edge_sens;
    const pw_series *cur_se;   /* the series being swept, and its lag (stamps' sd) */
    double cur_lag;
    size_t *part_end;    /* scratch [npieces + 2]: 1 + the end whose edge_est the part took, 0 none */
    double *group_u;     /* its share of what the parts with a power leave (part_share.u) */
    int split_fallback;  /* the interval had no power in any part: split by time, all alike */
    double *edge_est;    /* [2 * npieces * width] the power of each piece's first and last
                            pure interval (J/ns), NAN if none: a piece's power near its ends,
                            which a ramp within the phase moves away from its mean */
    double *root_est;    /* [width] estimated power of untagged time, NAN if none */
    const double *hint;  /* [nnodes * width] power hints (W), NAN where none; or NULL */
    const double *hint_sd;  /* [nnodes * width] their standard deviations (W), or NULL */
    double *hint_part;   /* [npieces + 1] scratch: each part's hint error in one interval (J) */
    double hint_err;     /* scratch: their sum, what the interval's remainder may be off by */
    double *node_est;    /* [nnodes * width] each node's power from its pure intervals (µJ/ns),
                            NAN if none: the additive model's weights for shared pieces */
    double *var;         /* [npieces * width] variance of each piece's energy (J²) from the
                            split of the intervals straddling it */
    double *tvar;        /* [npieces * width] timing variance of each piece's energy (J²) */
    pw_stamp_acc tpiece; /* [npieces * width] its pending reading (pw_stamp_acc) */
    pw_stamp_acc tnode;  /* [nnodes * width] the same for each node's subtree as a group */
    size_t stamp[2];     /* the current interval's readings (indices in their series) */
    double stamp_sd[2];  /* and the sd of their instants (ns), 0 where exact */
    uint8_t *mark;       /* [npieces * width] PW_FIG_* of what made the piece's energy */
    double *noise_q;     /* [width] the sensor's noise: variance per second of reading (J²/s),
                            a counter's error growing with the time it spans */
    double cv2;          /* squared relative spread of a phase's power between its calls */
    double cvw2;         /* ... within a call: how far a piece's own readings miss its edge */
    double cvb2;         /* ... and between phases: how wrong a split by time can be */
    int64_t *pnode;      /* [npieces] the node of a piece one track has open (0 untagged),
                            -1 shared */
    uint32_t *group;     /* scratch: one straddling interval's ancestor nodes */
    double *group_f, *group_q, *group_b;   /* share, squared error, f² split by time */
    double *group_t;     /* the group's overlap with the interval (ns) */
    double *group_o, *group_h;   /* its share of the remainder, its parts' hint errors (J) */
    uint8_t *group_ends; /* bit 0: it holds the interval's first part, bit 1: its last */
    double *bt;          /* [npieces * width] coherent error of the parts split by time (J) */
    double *ht;          /* [npieces * width] ... and of remainders beside hinted parts (J) */
    uint32_t *drivers;   /* [npieces * width] the open tracks that drive domain d's device
                            (pw_track_devices), or NULL: every open track does */
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

void pw_attribution_free(pw_attribution *a)
{
    if (!a) return;
    pw_names_free(a->names);
    free(a->nodes);
    free(a->node_j);
    free(a->node_marks);
    free(a->domain_j);
    free(a->segments);
    free(a->domain_provenance);
    free(a->noise_q);
    free(a->track_devices);
    pw_disaggregation_free(a->disagg);
    free(a);
}

int pw_track_drives(uint8_t devices, pw_kind k)
{
    if (!devices) return 1;
    switch (k) {
    case PW_KIND_CPU: case PW_KIND_DRAM: return (devices & PW_DEVICE_CPU) != 0;
    case PW_KIND_GPU: return (devices & PW_DEVICE_GPU) != 0;
    case PW_KIND_ANE: return (devices & PW_DEVICE_ANE) != 0;
    default: return 1;
    }
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
    /* a locked recorder's counter reading that did not change saw no update since the last:
     * its energy is still the last update's, so it says nothing about when energy was spent
     * (a self-timed or continuous source's unchanged reading does: no energy was spent) */
    if (se->t_err_ns && !pw_series_exact_at_stamp(t, se)) return 1;
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
    a->noise_q = calloc(nd ? nd : 1, sizeof *a->noise_q);
    a->node_j = calloc(a->nnodes * PW_NODE_ARRAYS * nd + 1, sizeof *a->node_j);
    a->node_marks = calloc(a->nnodes * 2 * nd + 1, 1);
    if (!a->domain_j || !a->domain_provenance || !a->noise_q || !a->node_j || !a->node_marks)
        return PW_ERR_NOMEM;
    for (size_t i = 0; i < a->nnodes; i++) {
        pw_phase_node *n = &a->nodes[i];
        n->self_j = a->node_j + i * PW_NODE_ARRAYS * nd;
        n->incl_j = n->self_j + nd;
        n->self_ci_j = n->incl_j + nd;
        n->incl_ci_j = n->self_ci_j + nd;
        n->self_var = n->incl_ci_j + nd;
        n->incl_var = n->self_var + nd;
        n->self_tvar = n->incl_var + nd;
        n->incl_tvar = n->self_tvar + nd;
        n->split_incl = n->incl_tvar + nd;
        n->self_alloc = n->split_incl + nd;
        n->incl_alloc = n->self_alloc + nd;
        n->self_bt = n->incl_alloc + nd;
        n->incl_bt = n->self_bt + nd;
        n->self_ht = n->incl_bt + nd;
        n->incl_ht = n->self_ht + nd;
        n->edge_s = n->incl_ht + nd;
        n->self_mark = a->node_marks + i * 2 * nd;
        n->incl_mark = n->self_mark + nd;
        for (size_t d = 0; d < 2 * nd; d++) n->self_ci_j[d] = NAN;
    }
    a->nodes[0].duration_s = a->nodes[0].wall_s = a->run_s;
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

/* Adds a part's share and squared error to an ancestor's group in this interval. */
typedef struct part_share {   /* one part, for group_add */
    double f, q, b, t, o, h;
    double u;       /* its share of what the parts with a power of their own leave */
    uint8_t ends;   /* bit 0: the interval's first part, bit 1: its last */
} part_share;

static size_t group_add(sweep *s, size_t n, uint32_t node, const part_share *ps)
{
    size_t g = 0;
    while (g < n && s->group[g] != node) g++;
    if (g == (size_t)PW_MAX_DEPTH * 8) return n;   /* an interval across that many nodes: cut */
    if (g == n) {
        s->group[n++] = node;
        s->group_f[g] = s->group_q[g] = s->group_b[g] = s->group_t[g] = 0;
        s->group_o[g] = s->group_h[g] = s->group_u[g] = 0;
        s->group_ends[g] = 0;
    }
    s->group_f[g] += ps->f;
    s->group_q[g] += ps->q;
    s->group_b[g] += ps->b;
    s->group_t[g] += ps->t;
    s->group_o[g] += ps->o;
    s->group_u[g] += ps->u;
    s->group_h[g] += ps->h;
    s->group_ends[g] |= ps->ends;
    return n;
}

/* The reading's own noise in the share f of a dt-long interval that piece p takes: the
 * piece's variance, and its ancestors' as a group (the interval lies inside their subtree). */
static void add_noise(sweep *s, size_t p, size_t d, double f, uint64_t dt)
{
    double v = f * f * s->noise_q[d] * (double)dt * 1e-9;
    if (!(v > 0)) return;
    s->var[p * s->width + d] += v;
    for (int64_t n = s->pnode[p]; n > 0; n = s->a->nodes[n].parent) s->a->nodes[n].split_incl[d] += v;
}

/* The power of piece p's part of [t0, t1) from the readings alone: the piece's pure interval
 * nearest the part, else its pure intervals' mean, else its phase's; NAN if none. *end: 1 +
 * the end (0 first, 1 last) whose pure interval gave it, 0 otherwise. */
static double part_local(const sweep *s, size_t p, size_t d, uint64_t t0, uint64_t t1, size_t *end)
{
    const uint64_t *cut = s->pc->cut;
    size_t at = p * s->width + d, n = s->npieces * s->width;
    double head = s->edge_est[at], tail = s->edge_est[n + at];
    *end = 0;
    if (cut[p] > t0 && cut[p + 1] >= t1 && head >= 0) return *end = 1, head;   /* it begins here */
    if (cut[p + 1] < t1 && cut[p] <= t0 && tail >= 0) return *end = 2, tail;   /* it ends here */
    return s->local_est[at];
}

/* How far, relatively, the additive model's share of a shared piece can be off: a phase's
 * power varies from call to call (cv2), and the model's own assumption (the background plus
 * each track's power alone) is off on real hardware by at least a third of the spread between
 * phases' powers (memory and frequency shared): 100 % of such figures covered on bench-honest,
 * 88 % with the call-to-call spread alone. */
static double additive_cv2(const sweep *s) { return s->cv2 > s->cvb2 / 9 ? s->cv2 : s->cvb2 / 9; }

/* Where a part's power in a straddling interval's split came from. */
enum { KNOWN, FITTED, OPEN };

/* The standard deviation (W) of the fit's hint for node's power in domain d, 0 if none. */
static double hint_error(const sweep *s, int64_t node, size_t d)
{
    if (!s->hint_sd || node < 0) return 0;
    double sd = s->hint_sd[(size_t)node * s->width + d];
    return sd > 0 ? sd : 0;
}

/* Each part's weight in the split of a straddling interval (energy e, J) into s->weight
 * (root first, then the pieces from `from`); returns their sum. Parts the readings give a
 * power take power x overlap; parts the fit gives one take the fit's power x overlap, and
 * parts with neither what the interval's energy leaves beyond both (the interval's mean would
 * pull them towards their neighbours'). The parts without a reading of their own are then
 * scaled together to what the readings leave, so the interval's energy is kept: the fit holds
 * a phase's power constant, so it only divides what the readings could not. */
static double split_weights(sweep *s, size_t d, double e, uint64_t t0, uint64_t t1, size_t from,
                            uint64_t outside)
{
    const uint64_t *cut = s->pc->cut;
    double mean = e * 1e6 / (double)(t1 - t0), sum[3] = {0, 0, 0}, open_ns = 0;   /* µJ/ns, µJ */
    double *w = s->weight;
    unsigned char *tier = s->tier;
    size_t n = 0;
    if (s->root_est[d] >= 0) tier[n] = KNOWN, w[n] = s->root_est[d] * (double)outside;
    else tier[n] = OPEN, w[n] = (double)outside;
    sum[tier[n]] += w[n], open_ns += tier[n] == OPEN ? w[n] : 0, n++;
    s->hint_part[0] = s->hint_err = 0;
    s->own_part[0] = 0;
    s->part_end[0] = 0;
    for (size_t p = from; p < s->npieces && cut[p] < t1; p++, n++) {
        double ns = (double)overlap(s, p, t0, t1), local = part_local(s, p, d, t0, t1, &s->part_end[n]);
        double fit = s->est[p * s->width + d];   /* the fit's hint where it gave one */
        tier[n] = local >= 0 ? KNOWN : fit >= 0 ? FITTED : OPEN;
        s->own_part[n] = tier[n] == KNOWN && s->own[p * s->width + d];
        w[n] = tier[n] == KNOWN ? local * ns : tier[n] == FITTED ? fit * ns : ns;
        sum[tier[n]] += w[n];
        if (tier[n] == OPEN) open_ns += ns;
        s->hint_part[n] = tier[n] == FITTED ? hint_error(s, s->pnode[p], d) * ns * 1e-9 : 0;
        s->hint_err += s->hint_part[n];
    }
    /* parts with no power of their own are split by time among themselves only when they are
     * of two or more phases: one phase's parts (or the root's) take the whole remainder */
    int64_t first_open = -2;   /* the node of the first part with no power; -1: shared */
    int open_phases = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t node = i == 0 ? 0 : s->pnode[from + i - 1];
        if (tier[i] != OPEN) continue;
        if (first_open == -2) first_open = node, open_phases = 1;
        else if (node != first_open || node < 0) open_phases = 2;
    }
    for (size_t i = 0; i < n; i++) s->by_time[i] = tier[i] == OPEN && open_phases > 1;
    double energy = e * 1e6, beyond = energy - sum[KNOWN] - sum[FITTED];
    double open_w = open_ns > 0 && beyond > 0 ? beyond / open_ns : mean;   /* power of OPEN */
    s->split_fallback = 0;
    double unknown = sum[FITTED] + open_w * open_ns, left = energy - sum[KNOWN];
    double scale = unknown > 0 && left > 0 ? left / unknown : 1, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (tier[i] == OPEN) w[i] *= open_w;
        if (tier[i] != KNOWN) w[i] *= scale;
        total += w[i];
    }
    if (total > 0) return total;
    s->split_fallback = 1;
    w[0] = (double)outside;   /* no power in any part: by time */
    for (size_t p = from, i = 1; i < n; p++, i++) w[i] = (double)overlap(s, p, t0, t1);
    return (double)(t1 - t0);
}

/* How far, relatively, part i's power in the split may be off: a power read in the call
 * itself (the piece's own pure intervals, or its ends') errs by the spread within a call; one
 * that is a phase's mean over calls (or the fit's) by the spread between calls. */
static double part_cv2(const sweep *s, size_t i)
{
    return s->own_part[i] && s->cvw2 < s->cv2 ? s->cvw2 : s->cv2;
}

/* Part i's power (J/ns) in the split of energy e over [t0, t1): part 0 the root's, over the
 * outside ns of the interval that no piece holds; part i >= 1 piece from + i - 1. */
static double part_power(const sweep *s, double e, double total, uint64_t t0, uint64_t t1,
                         size_t from, uint64_t outside, size_t i)
{
    uint64_t ns = i ? overlap(s, from + i - 1, t0, t1) : outside;
    return ns ? e * s->weight[i] / total / (double)ns : 0;
}

/* A straddling interval's first and last parts, where each took the power of its piece's own
 * pure interval beside the cut: that interval's readings, and what the part's energy moves per
 * ns either is off (J/ns; 0: the part took no such power). */
typedef struct edge_terms {
    double joules_per_ns[2];
    size_t ra[2], rb[2];
    double sd_a[2], sd_b[2];
} edge_terms;

/* The figure's part of end part j's estimate error: share = [the part is the figure's] minus
 * the figure's share of what absorbs it. A later reading a shortens the pure interval, so its
 * power and the part's energy rise; a later reading b lowers them. */
static void add_edge(pw_stamp_acc *acc, size_t at, double *var, const edge_terms *et, int j,
                     double share)
{
    double k = et->joules_per_ns[j] * share;
    if (k == 0) return;
    if (et->sd_a[j] > 0) pw_stamp_acc_add(acc, at, et->ra[j], k, et->sd_a[j], var);
    if (et->sd_b[j] > 0) pw_stamp_acc_add(acc, at, et->rb[j], -k, et->sd_b[j], var);
}

/* The timing term of a figure holding share f of a straddling interval: a reading off by dt
 * moves the power at its instant times dt into or out of the interval, which the split hands
 * out by share while it was the end part's alone. ends: the figure holds the interval's first
 * part (bit 0), its last (bit 1); end_power: the first and last parts' powers (J/ns); S: the
 * figure's share of what an end part's own estimate gets wrong (et), in reading order. */
static void add_timing(sweep *s, pw_stamp_acc *acc, size_t at, double *var, double f, double S,
                       uint8_t ends, const double end_power[2], const edge_terms *et)
{
    add_edge(acc, at, var, et, 0, (double)(ends & 1) - S);
    if (s->stamp_sd[0] > 0)
        pw_stamp_acc_add(acc, at, s->stamp[0], end_power[0] * (f - (ends & 1)), s->stamp_sd[0], var);
    if (s->stamp_sd[1] > 0)
        pw_stamp_acc_add(acc, at, s->stamp[1], end_power[1] * (((ends >> 1) & 1) - f), s->stamp_sd[1], var);
    add_edge(acc, at, var, et, 1, (double)((ends >> 1) & 1) - S);
}

/* The edge terms of part i (0: the first, 1: the last) of an interval whose energy e splits
 * by weights w (sum total): set where it is a read part that took its pure interval's power. */
static void edge_term(const sweep *s, edge_terms *et, int j, size_t part, size_t piece, size_t d,
                      double e, double total)
{
    et->joules_per_ns[j] = et->sd_a[j] = et->sd_b[j] = 0;
    et->ra[j] = et->rb[j] = 0;
    if (part == 0 || s->tier[part] != KNOWN || !s->part_end[part] || !s->cur_se) return;
    size_t slot = (s->part_end[part] - 1) * s->npieces * s->width + piece * s->width + d;
    et->ra[j] = (size_t)s->edge_ra[slot], et->rb[j] = (size_t)s->edge_rb[slot];
    if (et->rb[j] >= s->cur_se->n) return;
    et->sd_a[j] = pw_series_stamp_sd_ns(s->cur_se, et->ra[j], s->cur_lag);
    et->sd_b[j] = pw_series_stamp_sd_ns(s->cur_se, et->rb[j], s->cur_lag);
    et->joules_per_ns[j] = e * s->weight[part] / total * s->edge_sens[slot];
}

/* Splits one domain's energy e (J) of a straddling interval over its parts. */
static void split_domain(sweep *s, size_t d, double e, uint64_t t0, uint64_t t1, size_t from)
{
    const uint64_t *cut = s->pc->cut;
    uint64_t outside = (t0 < cut[0] ? cut[0] - t0 : 0) +
                       (t1 > cut[s->npieces] ? t1 - cut[s->npieces] : 0);
    double total = split_weights(s, d, e, t0, t1, from, outside);
    const double *w = s->weight;
    s->a->nodes[0].self_j[d] += e * w[0] / total;
    /* Each part's power errs relatively by c (the spread of powers between calls where it is
     * known, between phases where it was split by time); a group of parts with share F and
     * sum of f² c² Q_G then errs by e² ((1 - F)² Q_G + F² (Q - Q_G)): the interval's total is
     * kept, so what one part gains the others lose. */
    /* Parts split by time share only what the other parts leave, and err together, call after
     * call (a phase drawing more than its neighbours does so every time): a group holding the
     * share T of them errs by e c_b sqrt((1 - T)² Q_G + T² (Q - Q_G)) over the sums Q of their
     * f², adding linearly over intervals (bt, J); the known parts' spread adds in quadrature. */
    double f0 = w[0] / total, q = s->by_time[0] ? 0 : f0 * f0 * part_cv2(s, 0);
    double qbt = s->by_time[0] ? f0 * f0 : 0, cb = sqrt(s->cvb2);
    for (size_t p = from, i = 1; p < s->npieces && cut[p] < t1; p++, i++) {
        double f = w[i] / total;
        if (!s->by_time[i]) q += f * f * part_cv2(s, i);
        else qbt += f * f;
    }
    /* the parts the readings and hints leave the rest to take what the hints got wrong: the
     * same each time a call recurs (the hint is one power), so it adds linearly too */
    double open_w = s->tier[0] == OPEN ? w[0] : 0, unread_w = s->tier[0] != KNOWN ? w[0] : 0;
    for (size_t p = from, i = 1; p < s->npieces && cut[p] < t1; p++, i++) {
        open_w += s->tier[i] == OPEN ? w[i] : 0;
        unread_w += s->tier[i] != KNOWN ? w[i] : 0;
    }
    /* what a read part's own power gets wrong moves energy only among the parts that share
     * what the read parts leave (u: their share of it); where every part is read, among all */
    int remainder = !s->split_fallback && unread_w > 0;
    size_t ngroup = 0, last = 0, first = t0 < cut[0] ? 0 : 1;
    double open_f = open_w / total;   /* the share of the parts without a power of their own */
    for (size_t p = from, i = 1; p < s->npieces && cut[p] < t1; p++, i++) last = i;
    if (t1 > cut[s->npieces]) last = 0;
    double end_power[2] = {part_power(s, e, total, t0, t1, from, outside, first),
                           part_power(s, e, total, t0, t1, from, outside, last)};
    edge_terms et;
    edge_term(s, &et, 0, first, first ? from : 0, d, e, total);
    edge_term(s, &et, 1, last, last ? from + last - 1 : 0, d, e, total);
    double u0 = !remainder ? f0 : s->tier[0] != KNOWN ? w[0] / unread_w : 0;
    add_timing(s, &s->tnode, d, &s->a->nodes[0].self_tvar[d], f0, u0,
               (uint8_t)((first == 0) | ((last == 0) << 1)), end_power, &et);
    for (size_t p = from, i = 1; p < s->npieces && cut[p] < t1; p++, i++) {
        size_t at = p * s->width + d;
        double f = w[i] / total, o = s->tier[i] == OPEN && open_w > 0 ? w[i] / open_w : 0;
        double u = !remainder ? f : s->tier[i] != KNOWN ? w[i] / unread_w : 0;
        int by_time = s->by_time[i];
        double qp = by_time ? 0 : f * f * part_cv2(s, i), bp = by_time ? f * f : 0;
        s->rows[at] += e * f;
        s->mark[at] |= PW_FIG_SPLIT | (by_time ? PW_FIG_BY_TIME : 0);
        s->var[at] += e * e * ((1 - f) * (1 - f) * qp + f * f * (q - qp)) +
                      f * f * s->noise_q[d] * (double)(t1 - t0) * 1e-9;
        if (by_time)   /* the group of one part: T = o, Q_G = f² = (o open_f)² */
            s->bt[at] += cb * e * open_f * o * sqrt((1 - o) * (1 - o) + qbt / (open_f * open_f) - o * o);
        s->ht[at] += o * s->hint_err;
        uint8_t ends = (uint8_t)((i == first) | ((i == last) << 1));
        part_share ps = {f, qp, bp, (double)overlap(s, p, t0, t1), o, s->hint_part[i], u, ends};
        add_timing(s, &s->tpiece, at, &s->tvar[at], f, u, ends, end_power, &et);
        for (int64_t n = s->pnode[p]; n > 0; n = s->a->nodes[n].parent)   /* its ancestors */
            ngroup = group_add(s, ngroup, (uint32_t)n, &ps);
    }
    for (size_t g = 0; g < ngroup; g++) {
        pw_phase_node *n = &s->a->nodes[s->group[g]];
        double F = s->group_f[g], qg = s->group_q[g], bg = s->group_b[g];
        n->split_incl[d] += e * e * ((1 - F) * (1 - F) * qg + F * F * (q - qg)) +
                            F * F * s->noise_q[d] * (double)(t1 - t0) * 1e-9;
        add_timing(s, &s->tnode, s->group[g] * s->width + d, &n->incl_tvar[d], F, s->group_u[g],
                   s->group_ends[g], end_power, &et);
        double T = s->group_o[g];   /* the group's share of the parts split by time */
        if (bg > 0) n->incl_bt[d] += cb * e * sqrt((1 - T) * (1 - T) * bg + T * T * (qbt - bg));
        /* a subtree with hinted parts of its own has the fit's interval, which knows how the
         * hints err together (the fit's covariance): only a remainder-only one takes this */
        if (!(s->group_h[g] > 0)) n->incl_ht[d] += s->group_o[g] * s->hint_err;
        if (F < 1 - 1e-9) n->edge_s[d] += s->group_t[g] * 1e-9;   /* the interval crosses its edge */
    }
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
        for (size_t k = 0; k < n; k++) add_noise(s, from, first + k, 1.0, t1 - t0);
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

enum { FIRST_E, FIRST_T, FIRST_C, FIRST_RA, FIRST_RB, LAST_E, LAST_T, LAST_C, LAST_RA, LAST_RB,
       SUM_TC, EDGE_ARRAYS };
enum { LINE_N, LINE_P, LINE_PP, LINE_C, LINE_CC, LINE_PC, LINE_SUMS };
typedef struct purity {
    double *piece_e, *piece_t, *node_e, *node_t, *node_pp, *node_n;
    double *line;        /* [LINE_SUMS * npieces * width] per piece, sums over its pure
                            intervals for a straight line through their powers (below) */
    double *edge;        /* [EDGE_ARRAYS * npieces * width] per piece: its first pure
                            interval's e, t, centre and readings, its last's, and sum of
                            t x centre */
} purity;

/* Adds one series' pure intervals (wholly inside one piece, or wholly untagged outside
 * every piece) to the energy and time of that piece and of its node. */
/* The series' mean interval between readings (0 with fewer than two). */
static double typical_interval(const pw_series *se)
{
    return se->n > 1 ? (double)(se->t_ns[se->n - 1] - se->t_ns[0]) / (double)(se->n - 1) : 0;
}

/* Whether the interval prev..i tells a power: not a sliver (a baseline or learning read just
 * before an update, where one count of quantisation is most of the energy) and not so
 * uncertain in its ends that its length is (a first reading stamped within a period). */
static int tells_power(const pw_series *se, size_t prev, size_t i, double typical)
{
    double dt = (double)(se->t_ns[i] - se->t_ns[prev]);
    if (dt < typical / 4) return 0;
    if (!se->t_err_ns) return 1;
    uint32_t a = se->t_err_ns[prev], b = se->t_err_ns[i];
    if (a == PW_T_ERR_UNKNOWN || b == PW_T_ERR_UNKNOWN) return 1;
    return (double)a + (double)b <= dt / 10;
}

static void add_pure(sweep *s, const pw_series *se, const int64_t *node, purity *pu)
{
    const uint64_t *cut = s->pc->cut;
    size_t n = se->ndomains, first = se->first_domain, w = s->width;
    double typical = typical_interval(se);
    s->at = 0;
    for (size_t prev = 0, i; (i = pw_series_next(s->t, se, prev)) < se->n; prev = i) {
        uint64_t t0 = se->t_ns[prev], t1 = se->t_ns[i];
        if (t1 <= t0 || (se->flags && (se->flags[i] & PW_SAMPLE_GAP))) continue;
        if (!tells_power(se, prev, i, typical)) continue;
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
                size_t at = p * w + first + k, np = s->npieces * w;
                pu->piece_e[at] += e;
                pu->piece_t[at] += dt;
                double *g = pu->edge, c = 0.5 * ((double)t0 + (double)t1);
                double *l = pu->line, pw = e / dt, x = c - (double)cut[p];
                l[LINE_N * np + at] += 1, l[LINE_P * np + at] += pw, l[LINE_PP * np + at] += pw * pw;
                l[LINE_C * np + at] += x, l[LINE_CC * np + at] += x * x, l[LINE_PC * np + at] += pw * x;
                if (!(g[FIRST_T * np + at] > 0)) {
                    g[FIRST_E * np + at] = e, g[FIRST_T * np + at] = dt, g[FIRST_C * np + at] = c;
                    g[FIRST_RA * np + at] = (double)prev, g[FIRST_RB * np + at] = (double)i;
                }
                g[LAST_E * np + at] = e, g[LAST_T * np + at] = dt, g[LAST_C * np + at] = c;
                g[LAST_RA * np + at] = (double)prev, g[LAST_RB * np + at] = (double)i;
                g[SUM_TC * np + at] += dt * c;
            }
            if (nd >= 0) {
                pu->node_e[(size_t)nd * w + first + k] += e;
                pu->node_t[(size_t)nd * w + first + k] += dt;
                pu->node_pp[(size_t)nd * w + first + k] += e * e / (dt * dt);
                pu->node_n[(size_t)nd * w + first + k] += 1;
            }
        }
    }
}

static double ratio_or_nan(double e, double t) { return t > 0 ? e / t : NAN; }

/* A phase's power from its pure intervals, for pieces without their own: NAN from fewer than
 * PHASE_MIN_PURE, whose noise would be carried into every piece of the run alike (a power
 * from the lead's two readings, say, given to every idle gap). The fit, or the remainder of
 * each interval, then gives those pieces their power. */
#define PHASE_MIN_PURE 8
static double phase_power(const purity *pu, size_t at)
{
    return pu->node_n[at] >= PHASE_MIN_PURE ? ratio_or_nan(pu->node_e[at], pu->node_t[at]) : NAN;
}

/* How much power differs between the pure intervals of one unit (a node: between its calls;
 * a piece: within one call), relative to its mean, pooled over every unit with at least two
 * (their spread includes the sensor's noise); `none` when no unit has two. */
static double pooled_cv2(const double *e, const double *t, const double *pp, const double *count,
                         size_t n, double none)
{
    double sum = 0, weight = 0;
    for (size_t k = 0; k < n; k++) {
        double m = count[k];
        if (m < 2 || !(e[k] > 0)) continue;
        double mean = e[k] / t[k], mean_sq = pp[k] / m;
        double var = (mean_sq - mean * mean) * m / (m - 1);
        sum += (m - 1) * (var > 0 ? var : 0) / (mean * mean);
        weight += m - 1;
    }
    return weight > 0 ? sum / weight : none;
}

/* How far a piece's power strays, within one call, from a straight line through its pure
 * intervals' powers (relative to its mean), pooled over pieces with three or more: what the
 * power read at a piece's end, carried along its slope to the cut, may miss by (edge_power);
 * NAN where no piece has three. */
static double within_cv2(const double *line, size_t n)
{
    double sum = 0, weight = 0;
    for (size_t k = 0; k < n; k++) {
        double m = line[LINE_N * n + k], p = line[LINE_P * n + k] / m, c = line[LINE_C * n + k] / m;
        if (m < 3 || !(p > 0)) continue;
        double sxx = line[LINE_CC * n + k] - m * c * c, sxy = line[LINE_PC * n + k] - m * p * c;
        double rss = line[LINE_PP * n + k] - m * p * p - (sxx > 0 ? sxy * sxy / sxx : 0);
        sum += (rss > 0 ? rss : 0) / (p * p);
        weight += m - 2;
    }
    return weight > 0 ? sum / weight : NAN;
}

/* A hint, where there is one, replaces the estimate from pure intervals (W -> µJ/ns). */
static double hinted(const sweep *s, int64_t node, size_t d, double est)
{
    if (!s->hint || node < 0) return est;
    double w = s->hint[(size_t)node * s->width + d];
    return w >= 0 ? w * 1e-3 : est;
}

/* How much phases' powers differ from one another, relative to their mean (time-weighted over
 * every node with pure intervals): what splitting by time alone can get wrong; 0.5² when fewer
 * than two nodes say. */
static double between_cv2(const purity *pu, size_t n)
{
    double e = 0, t = 0, sq = 0;
    size_t nodes = 0;
    for (size_t k = 0; k < n; k++)
        if (pu->node_t[k] > 0) e += pu->node_e[k], t += pu->node_t[k], nodes++;
    if (nodes < 2 || !(e > 0)) return 0.25;
    double mean = e / t;
    for (size_t k = 0; k < n; k++)
        if (pu->node_t[k] > 0) {
            double p = pu->node_e[k] / pu->node_t[k] - mean;
            sq += pu->node_t[k] * p * p;
        }
    return sq / t / (mean * mean);
}

/* A reading's noise, per second it spans (J²/s), from each run of three pure intervals inside
 * one piece: their powers' second difference cancels the call's level and a steady ramp, and
 * its variance is q (1/dt0 + 4/dt1 + 1/dt2) if the counter errs like a random walk. The median
 * (of a chi-square with one degree: 0.455 q) shrugs off the steps a ramp or a burst puts in. */
#define NOISE_MIN_RUNS 8

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The update period (ns) of a counter whose readings each hold a whole number of updates (a
 * sensor with a known period, read on or after its updates), 0 for one that is current at its
 * read or has no known period. */
static double update_grid_ns(const pw_trace *t, const pw_series *se)
{
    if (se->source >= t->nsources || pw_series_exact_at_stamp(t, se)) return 0;
    const char *grid = pw_source_meta(t, se->source, "grid_period_ns");
    return grid ? strtod(grid, NULL) : (double)t->sources[se->source].period_ns;
}

/* The time an interval of dt ns between readings really spans on a grid of period g: the
 * whole updates it holds, where dt says how many beyond doubt; the stamps' jitter would
 * otherwise pass for a noise proportional to the power. */
static double on_grid(double dt, double g)
{
    if (!(g > 0)) return dt;
    double n = floor(dt / g + 0.5);
    return n >= 1 && fabs(dt - n * g) < g / 4 ? n * g : dt;
}

static void estimate_noise(sweep *s, const pw_series *se, double *scratch, size_t cap)
{
    const uint64_t *cut = s->pc->cut;
    double grid_ns = update_grid_ns(s->t, se);
    for (size_t k = 0; k < se->ndomains; k++) {
        size_t m = 0, idx[3] = {0, 0, 0}, from[3] = {0, 0, 0}, have = 0;
        int64_t piece[3] = {-1, -1, -1};
        s->at = 0;   /* seek's cursor */
        for (size_t prev = 0, i; (i = pw_series_next(s->t, se, prev)) < se->n && m < cap; prev = i) {
            uint64_t t0 = se->t_ns[prev], t1 = se->t_ns[i];
            int64_t p = -2;
            if (t1 > t0 && !(se->flags && (se->flags[i] & PW_SAMPLE_GAP)) && s->npieces &&
                t0 >= cut[0] && t1 <= cut[s->npieces]) {
                size_t at = seek(s, t0);
                if (t0 >= cut[at] && t1 <= cut[at + 1]) p = (int64_t)at;
            }
            idx[0] = idx[1], idx[1] = idx[2], idx[2] = i;
            from[0] = from[1], from[1] = from[2], from[2] = prev;
            piece[0] = piece[1], piece[1] = piece[2], piece[2] = p;
            have = p >= 0 && piece[1] == p ? have + 1 : p >= 0;
            /* the first of a run is left out: a lagging reading may hold energy from before the cut */
            if (have < 4 || piece[0] != p) continue;
            double pw[3], dt[3];
            for (int j = 0; j < 3; j++) {
                size_t b = idx[j], a = from[j];
                dt[j] = on_grid((double)(se->t_ns[b] - se->t_ns[a]), grid_ns) * 1e-9;
                uint64_t e0 = se->energy_uj[a * se->ndomains + k], e1 = se->energy_uj[b * se->ndomains + k];
                pw[j] = e1 >= e0 ? (double)(e1 - e0) * 1e-6 / dt[j] : 0;
            }
            double d2 = pw[0] - 2 * pw[1] + pw[2];
            scratch[m++] = d2 * d2 / (1 / dt[0] + 4 / dt[1] + 1 / dt[2]);
        }
        double q = 0;
        if (m >= NOISE_MIN_RUNS) {
            qsort(scratch, m, sizeof *scratch, cmp_double);
            q = scratch[m / 2] / 0.4549;
        }
        s->noise_q[se->first_domain + k] = q;
    }
}

/* Every domain's reading noise (estimate_noise); a model's domain has none to learn. */
static int noise_of_series(sweep *s)
{
    size_t cap = 0;
    for (size_t si = 0; si < s->t->nsources; si++)
        if (s->t->series[si].n > cap) cap = s->t->series[si].n;
    double *scratch = malloc((cap + 1) * sizeof *scratch);
    if (!scratch) return PW_ERR_NOMEM;
    for (size_t si = 0; si < s->t->nsources; si++) {
        const pw_series *se = &s->t->series[si];
        if (se->ndomains && se->first_domain + se->ndomains <= s->width &&
            !pw_domain_estimated(s->t, se->first_domain) && !pw_domain_averaged(s->t, se->first_domain))
            estimate_noise(s, se, scratch, cap);
    }
    free(scratch);
    return PW_OK;
}

/* The power of the part of piece p beyond its first (end 0) or last (end 1) pure interval,
 * between it and the piece's cut: that interval's power, carried on along the slope from the
 * piece's mean (at its pure intervals' centre) to it, so a ramp within the phase is followed
 * to the cut; at most doubled or halved. NAN without a pure interval. */
static double edge_power(sweep *s, const purity *pu, size_t p, size_t d, int end)
{
    size_t np = s->npieces * s->width, at = p * s->width + d, slot = (size_t)end * np + at;
    const double *g = pu->edge;
    double e = g[(end ? LAST_E : FIRST_E) * np + at], t = g[(end ? LAST_T : FIRST_T) * np + at];
    double c = g[(end ? LAST_C : FIRST_C) * np + at];
    if (!(t > 0)) return NAN;
    s->edge_ra[slot] = g[(end ? LAST_RA : FIRST_RA) * np + at];
    s->edge_rb[slot] = g[(end ? LAST_RB : FIRST_RB) * np + at];
    double edge = e / t, mean = pu->piece_e[at] / pu->piece_t[at];
    double centre = g[SUM_TC * np + at] / pu->piece_t[at];
    double cut = (double)s->pc->cut[end ? p + 1 : p], beyond = end ? c + t / 2 : c - t / 2;
    double target = 0.5 * (beyond + cut), lever = 1;
    double v = edge;
    if (fabs(c - centre) > t / 2) {   /* more than one pure interval: follow the slope */
        lever = 1 + (target - c) / (c - centre);
        v = edge + (edge - mean) / (c - centre) * (target - c);
        if (v > 2 * edge || v < edge / 2) v = v > 2 * edge ? 2 * edge : edge / 2, lever = 0;
    }
    /* a reading off by dt moves the interval's e by its power x dt, and so edge by edge/t x
     * dt/t, which the slope carries on by its lever */
    s->edge_sens[slot] = v > 0 ? lever * edge / (t * v) : 0;
    return v;
}

static int estimate_powers(sweep *s)
{
    size_t w = s->width, np = s->npieces, nn = s->a->nnodes;
    purity pu = {calloc(np * w + 1, sizeof(double)), calloc(np * w + 1, sizeof(double)),
                 calloc(nn * w + 1, sizeof(double)), calloc(nn * w + 1, sizeof(double)),
                 calloc(nn * w + 1, sizeof(double)), calloc(nn * w + 1, sizeof(double)),
                 .line = calloc(LINE_SUMS * np * w + 1, sizeof(double)),
                 .edge = calloc(EDGE_ARRAYS * np * w + 1, sizeof(double))};
    int64_t *node = s->pnode;
    /* a model's domain is split by time: its pure intervals are model output too, and a piece
     * weighted by one would get powers no model allows (docs/attribution.md) */
    unsigned char *by_time = calloc(w + 1, 1);
    for (size_t d = 0; by_time && d < w; d++) by_time[d] = (unsigned char)pw_domain_estimated(s->t, d);
    int rc = pu.piece_e && pu.piece_t && pu.node_e && pu.node_t && pu.node_pp && pu.node_n && pu.edge && pu.line && node &&
             by_time ? PW_OK : PW_ERR_NOMEM;
    if (rc == PW_OK) {
        for (size_t si = 0; si < s->t->nsources; si++) {
            const pw_series *se = &s->t->series[si];
            if (se->ndomains && se->first_domain + se->ndomains <= w) add_pure(s, se, node, &pu);
        }
        rc = noise_of_series(s);
        for (size_t p = 0; p < np; p++)
            for (size_t d = 0; d < w; d++) {
                double e = ratio_or_nan(pu.piece_e[p * w + d], pu.piece_t[p * w + d]);
                if (!(e >= 0) && node[p] >= 0) e = phase_power(&pu, (size_t)node[p] * w + d);
                s->est[p * w + d] = by_time[d] ? NAN : hinted(s, node[p], d, e);
                s->local_est[p * w + d] = by_time[d] ? NAN : e;
                /* the piece's own ends beat any fit: the fit holds a phase's power constant */
                for (int end = 0; end < 2; end++)
                    s->edge_est[(size_t)end * np * w + p * w + d] = by_time[d] ? NAN
                                                                    : edge_power(s, &pu, p, d, end);
            }
        for (size_t d = 0; d < w; d++)
            s->root_est[d] = by_time[d] ? NAN : hinted(s, 0, d, phase_power(&pu, d));
        for (size_t k = 0; k < nn * w; k++)
            s->node_est[k] = by_time[k % w] ? NAN
                                            : hinted(s, (int64_t)(k / w), k % w,
                                                     ratio_or_nan(pu.node_e[k], pu.node_t[k]));
        s->cv2 = pooled_cv2(pu.node_e, pu.node_t, pu.node_pp, pu.node_n, nn * w,
                            PW_DEFAULT_CV * PW_DEFAULT_CV);
        s->cvw2 = within_cv2(pu.line, np * w);
        for (size_t k = 0; k < np * w; k++) s->own[k] = pu.piece_t[k] > 0;
        s->cvb2 = between_cv2(&pu, nn * w);
    }
    free(by_time);
    free(pu.node_pp);
    free(pu.node_n);
    free(pu.edge);
    free(pu.line);
    free(pu.piece_e);
    free(pu.piece_t);
    free(pu.node_e);
    free(pu.node_t);
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
    double others_before = primary ? others_j(s, se->t_ns[0]) : 0, lag = pw_series_lag_ns(s->t, se);
    s->at = 0;
    for (size_t prev = 0, i; (i = pw_series_next(s->t, se, prev)) < se->n; prev = i) {
        uint64_t t0 = se->t_ns[prev], t1 = se->t_ns[i];
        s->stamp[0] = prev, s->stamp[1] = i;
        s->stamp_sd[0] = pw_series_stamp_sd_ns(se, prev, lag);
        s->stamp_sd[1] = pw_series_stamp_sd_ns(se, i, lag);
        s->cur_se = se, s->cur_lag = lag;
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

/* The additive model's weight of a track in a shared piece of domain d: its phase's own power
 * (its power alone minus the untagged power) plus an equal share of the untagged power; -1
 * when either is unknown, and then the piece is shared equally. */
static double additive_weight(const sweep *s, uint32_t node, size_t d, uint32_t open)
{
    double alone = s->node_est[(size_t)node * s->width + d], idle = s->root_est[d];
    if (!(alone >= 0) || !(idle >= 0)) return -1;
    return (alone > idle ? alone - idle : 0) + idle / open;
}

/* Per shared piece and domain: the sum of the known tracks' weights, how many tracks' are
 * unknown, and the weight the one unknown track takes when the piece's own power is known
 * (what the piece draws beyond the untagged power and the known tracks' own powers: the
 * additive model solved for the one phase that never ran alone). */
typedef struct shares { double *known, *rest; uint32_t *unknown; } shares;

static void shares_free(shares *sh)
{
    free(sh->known);
    free(sh->rest);
    free(sh->unknown);
}

/* Whether segment g's track drives domain d's device (every track does unless it said). */
static int seg_drives(const sweep *s, const pw_segment *g, size_t d)
{
    return !s->a->track_devices || pw_track_drives(s->a->track_devices[g->track], s->t->domains[d].kind);
}

/* How many of piece p's open tracks drive domain d's device. */
static uint32_t drivers_of(const sweep *s, size_t p, size_t d)
{
    return s->drivers ? s->drivers[p * s->width + d] : s->pc->open[p];
}

/* s->drivers from the tracks' declared devices: each segment that drives a domain counts in
 * its pieces (a running sum of +1 at its first piece and -1 past its last). NULL without. */
static int count_drivers(sweep *s)
{
    if (!s->a->track_devices || !s->npieces) return PW_OK;
    size_t w = s->width;
    int64_t *diff = calloc((s->npieces + 1) * w + 1, sizeof *diff);
    s->drivers = calloc(s->npieces * w + 1, sizeof *s->drivers);
    if (!diff || !s->drivers) {
        free(diff);
        return PW_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->a->nsegments; i++)
        for (size_t d = 0; d < w; d++)
            if (seg_drives(s, &s->a->segments[i], d)) {
                diff[s->pc->seg_cut[2 * i] * w + d]++;
                diff[s->pc->seg_cut[2 * i + 1] * w + d]--;
            }
    for (size_t d = 0; d < w; d++)
        for (size_t p = 0, run = 0; p < s->npieces; p++) {
            run += (size_t)diff[p * w + d];
            s->drivers[p * w + d] = (uint32_t)run;
        }
    free(diff);
    return PW_OK;
}

static int piece_weights(const sweep *s, shares *sh)
{
    size_t w = s->width, n = s->npieces * w + 1;
    *sh = (shares){calloc(n, sizeof(double)), calloc(n, sizeof(double)), calloc(n, sizeof(uint32_t))};
    if (!sh->known || !sh->rest || !sh->unknown) return PW_ERR_NOMEM;
    for (size_t i = 0; i < s->a->nsegments; i++) {
        const pw_segment *g = &s->a->segments[i];
        for (size_t p = s->pc->seg_cut[2 * i]; p < s->pc->seg_cut[2 * i + 1]; p++) {
            for (size_t d = 0; d < w; d++) {
                uint32_t nd = drivers_of(s, p, d);
                if (nd < 2 || !seg_drives(s, g, d)) continue;
                double x = additive_weight(s, g->node, d, nd);
                if (x < 0) sh->unknown[p * w + d]++;
                else sh->known[p * w + d] += x;
            }
        }
    }
    for (size_t p = 0; p < s->npieces; p++)
        for (size_t d = 0; d < w; d++) {
            size_t at = p * w + d;
            double piece = s->est[at], idle = s->root_est[d], nd = drivers_of(s, p, d);
            sh->rest[at] = -1;
            if (sh->unknown[at] != 1 || !(piece >= 0) || !(idle >= 0)) continue;
            double own_known = sh->known[at] - idle * (nd - 1) / nd;
            double rest = piece - idle - own_known;
            sh->rest[at] = (rest > 0 ? rest : 0) + idle / nd;
        }
    return PW_OK;
}

/* A track's share of shared piece `at`, and whether a rule rather than powers made it. */
static double track_share(const sweep *s, const shares *sh, uint32_t node, size_t d, size_t at,
                          uint32_t open, int *equal)
{
    double x = additive_weight(s, node, d, open);
    if (x < 0) x = sh->rest[at];
    double total = sh->known[at] + (sh->unknown[at] == 1 ? sh->rest[at] : 0);
    *equal = !(sh->unknown[at] == 0 || sh->rest[at] >= 0) || !(total > 0) || x < 0;
    return *equal ? 1.0 / open : x / total;
}

/* Gives each segment its pieces' energy: all of a piece only it has open; of a shared piece, its
 * additive-model share (equal where the model has no powers), marked as an allocation. */
/* Pieces covered by all segments together: how much sharing by the additive model costs. */
static uint64_t segment_span(const sweep *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->a->nsegments; i++)
        n += s->pc->seg_cut[2 * i + 1] - s->pc->seg_cut[2 * i];
    return n;
}

/* Equal shares in time linear in the pieces, for traces where thousands of tracks overlap
 * (the additive model visits every piece of every segment): each row becomes the running sum,
 * up to its cut, of one open track's share, and a segment takes the difference of two rows. */
static void settle_equal(sweep *s)
{
    size_t w = s->width, ncuts = s->pc->ncuts;
    pw_phase_node *root = &s->a->nodes[0];
    double *run = s->de;
    uint8_t all = PW_FIG_ALLOCATED | PW_FIG_EQUAL;
    memset(run, 0, w * sizeof *run);
    for (size_t p = 0; p < ncuts; p++) {
        for (size_t d = 0; d < w; d++) {
            uint32_t nd = p < s->npieces ? drivers_of(s, p, d) : 0;
            double *row = &s->rows[p * w + d], e = *row;
            if (p < s->npieces) all |= s->mark[p * w + d];
            *row = run[d];
            if (nd) run[d] += e / nd;
            else root->self_j[d] += e;
        }
    }
    for (size_t i = 0; i < s->a->nsegments; i++) {
        pw_phase_node *node = &s->a->nodes[s->a->segments[i].node];
        size_t from = s->pc->seg_cut[2 * i], to = s->pc->seg_cut[2 * i + 1];
        for (size_t d = 0; d < w; d++) {
            if (!seg_drives(s, &s->a->segments[i], d)) continue;
            double e = s->rows[to * w + d] - s->rows[from * w + d];
            node->self_j[d] += e;
            node->self_alloc[d] += e * e / 3.0;   /* a share by rule: anything from none to all */
            node->self_mark[d] |= all;
        }
        if (node->concurrency < 2) node->concurrency = 2;
        double peak = range_max(s, from, to);
        if (peak > node->peak_w) node->peak_w = peak;
    }
}

#define PW_ALLOC_MAX_SPAN (1u << 23)   /* beyond: equal shares, linear in the pieces */

static int settle(sweep *s)
{
    size_t w = s->width;
    pw_phase_node *root = &s->a->nodes[0];
    for (size_t p = 0; p < s->npieces; p++)
        if (s->peak[p] > s->block_peak[p / PEAK_BLOCK]) s->block_peak[p / PEAK_BLOCK] = s->peak[p];
    if (segment_span(s) > PW_ALLOC_MAX_SPAN) {
        settle_equal(s);
        return PW_OK;
    }
    shares sh;
    if (piece_weights(s, &sh) != PW_OK) {
        shares_free(&sh);
        return PW_ERR_NOMEM;
    }
    for (size_t p = 0; p < s->npieces; p++) {
        for (size_t d = 0; d < w; d++) {
            if (drivers_of(s, p, d)) continue;   /* untagged, or only tracks that drive no part of it */
            root->self_j[d] += s->rows[p * w + d];
            root->self_var[d] += s->var[p * w + d];
            root->self_tvar[d] += s->tvar[p * w + d];
            root->self_mark[d] |= s->mark[p * w + d];
        }
    }
    for (size_t i = 0; i < s->a->nsegments; i++) {
        const pw_segment *g = &s->a->segments[i];
        pw_phase_node *node = &s->a->nodes[g->node];
        size_t from = s->pc->seg_cut[2 * i], to = s->pc->seg_cut[2 * i + 1];
        for (size_t p = from; p < to; p++) {
            uint32_t open = s->pc->open[p];
            if (open > node->concurrency) node->concurrency = open;
            for (size_t d = 0; d < w; d++) {
                size_t at = p * w + d;
                int equal = 0;
                uint32_t nd = drivers_of(s, p, d);
                if (!seg_drives(s, g, d)) continue;   /* its share went to the tracks that do */
                double f = nd < 2 ? 1.0 : track_share(s, &sh, g->node, d, at, nd, &equal);
                node->self_j[d] += s->rows[at] * f;
                node->self_var[d] += s->var[at] * f * f;
                node->self_bt[d] += s->bt[at] * f;
                node->self_ht[d] += s->ht[at] * f;
                node->self_tvar[d] += s->tvar[at] * f * f;
                node->self_mark[d] |= s->mark[at];
                if (nd > 1) node->self_mark[d] |= PW_FIG_ALLOCATED | (equal ? PW_FIG_EQUAL : 0);
                /* a share by rule could be anything from none of the piece to all of it; one
                 * by the additive model errs as its powers do. Either errs the same way in every
                 * piece the tracks share, so the error adds linearly (what one track gains
                 * the other loses; an ancestor of both is overstated, never understated) */
                if (nd > 1) {
                    double err = fabs(s->rows[at]) * sqrt(f * (1 - f) / 3.0 * (equal ? 1.0 : additive_cv2(s)));
                    for (int64_t k = g->node; k > 0; k = s->a->nodes[k].parent) {
                        if (k == (int64_t)g->node) s->a->nodes[k].self_ht[d] += err;
                        s->a->nodes[k].incl_ht[d] += err;
                    }
                }
            }
        }
        double peak = range_max(s, from, to);
        if (peak > node->peak_w) node->peak_w = peak;
    }
    shares_free(&sh);
    return PW_OK;
}

/* Adds every figure's last pending reading to its timing variance. */
static void flush_timing(sweep *s)
{
    for (size_t at = 0; at < s->npieces * s->width; at++)
        pw_stamp_acc_flush(&s->tpiece, at, &s->tvar[at]);
    for (size_t k = 0; k < s->a->nnodes; k++)
        for (size_t d = 0; d < s->width; d++)
            pw_stamp_acc_flush(&s->tnode, k * s->width + d,
                               k ? &s->a->nodes[k].incl_tvar[d] : &s->a->nodes[0].self_tvar[d]);
}

static int measure(const pw_trace *t, pw_attribution *a, const pw_pieces *pc,
                   const double *hint, const double *hint_sd)
{
    sweep s = {.t = t, .a = a, .pc = pc, .width = a->ndomains, .hint = hint, .hint_sd = hint_sd};
    s.npieces = pc->ncuts ? pc->ncuts - 1 : 0;
    s.rows = calloc(pc->ncuts * s.width + 1, sizeof *s.rows);
    s.peak = calloc(s.npieces + 1, sizeof *s.peak);
    s.block_peak = calloc(s.npieces / PEAK_BLOCK + 1, sizeof *s.block_peak);
    s.de = calloc(s.width + 1, sizeof *s.de);
    s.others = calloc(t->nsources + 1, sizeof *s.others);
    s.est = calloc(s.npieces * s.width + 1, sizeof *s.est);
    s.edge_est = calloc(2 * s.npieces * s.width + 1, sizeof *s.edge_est);
    s.edge_ra = calloc(6 * s.npieces * s.width + 1, sizeof *s.edge_ra);
    s.edge_rb = s.edge_ra ? s.edge_ra + 2 * s.npieces * s.width : NULL;
    s.edge_sens = s.edge_ra ? s.edge_ra + 4 * s.npieces * s.width : NULL;
    s.part_end = calloc(s.npieces + 2, sizeof *s.part_end);
    s.group_u = calloc((size_t)PW_MAX_DEPTH * 8, sizeof *s.group_u);
    s.local_est = calloc(s.npieces * s.width + 1, sizeof *s.local_est);
    s.weight = calloc(s.npieces + 2, sizeof *s.weight);
    s.tier = calloc(s.npieces + 2, 1);
    s.by_time = calloc(s.npieces + 2, 1);
    s.own_part = calloc(s.npieces + 2, 1);
    s.own = calloc(s.npieces * s.width + 1, 1);
    s.root_est = calloc(s.width + 1, sizeof *s.root_est);
    s.node_est = calloc(a->nnodes * s.width + 1, sizeof *s.node_est);
    s.var = calloc(s.npieces * s.width + 1, sizeof *s.var);
    s.tvar = calloc(s.npieces * s.width + 1, sizeof *s.tvar);
    s.group_ends = calloc((size_t)PW_MAX_DEPTH * 8, 1);
    int acc_rc = pw_stamp_acc_init(&s.tpiece, s.npieces * s.width);
    if (acc_rc == PW_OK) acc_rc = pw_stamp_acc_init(&s.tnode, a->nnodes * s.width);
    s.noise_q = calloc(s.width + 1, sizeof *s.noise_q);
    s.mark = calloc(s.npieces * s.width + 1, 1);
    s.pnode = piece_nodes(&s);
    s.group = calloc((size_t)PW_MAX_DEPTH * 8, sizeof *s.group);
    s.group_f = calloc((size_t)PW_MAX_DEPTH * 16, sizeof *s.group_f);
    s.group_q = s.group_f ? s.group_f + (size_t)PW_MAX_DEPTH * 8 : NULL;
    s.group_b = calloc((size_t)PW_MAX_DEPTH * 8, sizeof *s.group_b);
    s.group_t = calloc((size_t)PW_MAX_DEPTH * 8, sizeof *s.group_t);
    s.group_o = calloc((size_t)PW_MAX_DEPTH * 16, sizeof *s.group_o);
    s.group_h = s.group_o ? s.group_o + (size_t)PW_MAX_DEPTH * 8 : NULL;
    s.hint_part = calloc(s.npieces + 2, sizeof *s.hint_part);
    s.bt = calloc(s.npieces * s.width + 1, sizeof *s.bt);
    s.ht = calloc(s.npieces * s.width + 1, sizeof *s.ht);
    int rc = s.rows && s.peak && s.block_peak && s.de && s.others && s.est && s.edge_est && s.edge_ra &&
             s.part_end && s.group_u && s.local_est && s.weight && s.tier && s.by_time && s.own_part && s.own && s.root_est &&
             s.node_est && s.var && s.tvar && s.group_ends && acc_rc == PW_OK && s.noise_q && s.mark && s.pnode && s.group && s.group_f &&
             s.group_b && s.group_t && s.group_o && s.hint_part && s.bt && s.ht
                 ? PW_OK : PW_ERR_NOMEM;
    if (rc == PW_OK) rc = estimate_powers(&s);
    if (rc == PW_OK) rc = count_drivers(&s);
    if (rc == PW_OK) {
        for (size_t si = 0; si < t->nsources; si++) s.others[si].se = &t->series[si];
        for (size_t si = 0; si < t->nsources; si++) sweep_series(&s, si);
        flush_timing(&s);
        memcpy(a->noise_q, s.noise_q, s.width * sizeof *s.noise_q);
        rc = settle(&s);
    }
    free(s.node_est);
    free(s.pnode);
    free(s.group);
    free(s.group_f);
    free(s.group_b);
    free(s.group_t);
    free(s.group_o);
    free(s.hint_part);
    free(s.bt);
    free(s.ht);
    free(s.drivers);
    free(s.var);
    free(s.tvar);
    free(s.group_ends);
    pw_stamp_acc_free(&s.tpiece);
    pw_stamp_acc_free(&s.tnode);
    free(s.noise_q);
    free(s.mark);
    free(s.est);
    free(s.edge_est);
    free(s.edge_ra);
    free(s.part_end);
    free(s.group_u);
    free(s.local_est);
    free(s.weight);
    free(s.tier);
    free(s.by_time);
    free(s.own_part);
    free(s.own);
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
        pw_phase_node *n = &a->nodes[i];
        memcpy(n->incl_j, n->self_j, nd * sizeof(double));
        memcpy(n->incl_alloc, n->self_alloc, nd * sizeof(double));
        memcpy(n->incl_mark, n->self_mark, nd);
        n->tokens_incl = n->tokens_self;
    }
    for (size_t i = a->nnodes; i-- > 1;) {
        const pw_phase_node *c = &a->nodes[i];
        pw_phase_node *p = &a->nodes[c->parent];
        for (size_t d = 0; d < nd; d++) {
            if (isnan(c->incl_j[d])) p->incl_mark[d] |= PW_FIG_BY_TIME;   /* a part unseen */
            else p->incl_j[d] += c->incl_j[d];
        }
        add_scaled(p->incl_alloc, c->incl_alloc, nd, 1.0);
        for (size_t d = 0; d < nd; d++) p->incl_mark[d] |= c->incl_mark[d];
        p->tokens_incl += c->tokens_incl;
        if (c->peak_w > p->peak_w) p->peak_w = c->peak_w;
    }
    /* a subtree's splits counted as a group (split_incl: the parts of one interval inside it
     * err together); its own self splits where it has no descendants in them */
    for (size_t i = 0; i < a->nnodes; i++)
        for (size_t d = 0; d < nd; d++) {
            pw_phase_node *n = &a->nodes[i];
            double split = n->split_incl[d] > n->self_var[d] ? n->split_incl[d] : n->self_var[d];
            n->incl_var[d] = split + n->incl_alloc[d];
            if (n->self_bt[d] > n->incl_bt[d]) n->incl_bt[d] = n->self_bt[d];
            if (n->self_tvar[d] > n->incl_tvar[d]) n->incl_tvar[d] = n->self_tvar[d];
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
    size_t nh = a->nnodes * a->ndomains;
    if (rc == PW_OK && hint_w && nhints != nh && nhints != 2 * nh) rc = PW_ERR_INVALID;
    if (rc == PW_OK) rc = pw_pieces_build(a, &pc);
    if (rc == PW_OK) rc = measure(t, a, &pc, hint_w, hint_w && nhints == 2 * nh ? hint_w + nh : NULL);
    pw_pieces_free(&pc);
    if (rc != PW_OK) {
        pw_attribution_free(a);
        return rc;
    }
    pw_attribution_roll_up(a);
    *out = a;
    return PW_OK;
}
