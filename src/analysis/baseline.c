/* baseline.c — the two simple attributions other tools use, kept so the accuracy benchmark
 * and `report --method` can show how far they are from interval-exact and disaggregated
 * figures: naive tagging and begin/end counter windows. Both start from the interval-exact
 * attribution's phase tree and segments and only replace its energies. */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "analysis/attribute.h"

/* Each track's segments: [first[tr], first[tr + 1]) in the attribution's segment array. */
typedef struct track_index {
    size_t *first;          /* [ntracks + 1] */
    size_t ntracks;
} track_index;

static int index_tracks(const pw_trace *t, const pw_attribution *a, track_index *ix)
{
    ix->ntracks = t->ntracks;
    ix->first = calloc(t->ntracks + 1, sizeof *ix->first);
    if (!ix->first) return PW_ERR_NOMEM;
    for (size_t i = 0; i < a->nsegments; i++) ix->first[a->segments[i].track + 1]++;
    for (size_t tr = 0; tr < t->ntracks; tr++) ix->first[tr + 1] += ix->first[tr];
    return PW_OK;
}

/* The innermost node open on a track at time t, or -1 when none. */
static long innermost_at(const pw_attribution *a, const track_index *ix, size_t tr, uint64_t t)
{
    size_t lo = ix->first[tr], hi = ix->first[tr + 1];
    while (lo < hi) {   /* the first segment that ends after t */
        size_t mid = lo + (hi - lo) / 2;
        if (a->segments[mid].t1_ns <= t) lo = mid + 1;
        else hi = mid;
    }
    if (lo < ix->first[tr + 1] && a->segments[lo].t0_ns <= t) return a->segments[lo].node;
    return -1;
}

/* Clears every energy figure except the domain totals, which stay measured. */
static void clear_energies(pw_attribution *a)
{
    for (size_t k = 0; k < a->nnodes; k++)
        for (size_t d = 0; d < a->ndomains; d++)
            a->nodes[k].self_j[d] = a->nodes[k].incl_j[d] = 0;
}

/* Naive tagging: each sample interval's energy goes to the phase current when its closing
 * sample was taken (split evenly over the tracks with a phase open then). */
static void naive_series(const pw_trace *t, pw_attribution *a, const track_index *ix,
                         const pw_series *se, long *open)
{
    size_t n = se->ndomains, first = se->first_domain;
    if (first + n > a->ndomains) return;
    for (size_t i = 1; i < se->n; i++) {
        if ((se->flags && (se->flags[i] & PW_SAMPLE_GAP)) || se->t_ns[i] < se->t_ns[i - 1]) continue;
        size_t nopen = 0;
        for (size_t tr = 0; tr < ix->ntracks; tr++) {
            long node = innermost_at(a, ix, tr, se->t_ns[i]);
            if (node >= 0) open[nopen++] = node;
        }
        if (nopen == 0) open[nopen++] = 0;
        for (size_t k = 0; k < n; k++) {
            uint64_t e0 = se->energy_uj[(i - 1) * n + k], e1 = se->energy_uj[i * n + k];
            double de = e1 >= e0 ? (double)(e1 - e0) * 1e-6 : 0.0;
            for (size_t o = 0; o < nopen; o++)
                a->nodes[open[o]].self_j[first + k] += de / (double)nopen;
        }
    }
}

/* The update grid a begin/end tool's read at t would see: the recorder's lock on it (the
 * trace's sensor.SOURCE.grid_period_ns/grid_phase_ns). Without one, the trace's readings lag
 * their updates just as that tool's read would, so the readings interpolated at t are what it
 * would get. */
typedef struct grid { uint64_t period, phase; int known; } grid;

static grid grid_of(const pw_trace *t, const pw_series *se)
{
    char key[160];
    grid g = {se->source < t->nsources ? t->sources[se->source].period_ns : 0, 0, 0};
    const char *name = se->source < t->nsources ? t->sources[se->source].name : "";
    snprintf(key, sizeof key, "sensor.%s.grid_period_ns", name);
    const char *p = pw_trace_meta(t, key);
    snprintf(key, sizeof key, "sensor.%s.grid_phase_ns", name);
    const char *ph = pw_trace_meta(t, key);
    if (p && ph && strtoull(p, NULL, 10) > 0) g = (grid){strtoull(p, NULL, 10), strtoull(ph, NULL, 10), 1};
    return g;
}

/* When the value a read at t returns was current: the last update at or before t. A stamped
 * series' readings are themselves updates, so without the recorder's grid the last update is
 * counted on from the last reading at or before t, a period at a time. */
static uint64_t last_update(const grid *g, const pw_series *se, uint64_t t)
{
    if (g->period && !g->known && se->t_err_ns && se->n) {
        size_t lo = 0, hi = se->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (se->t_ns[mid] <= t) lo = mid + 1;
            else hi = mid;
        }
        if (lo == 0) return t;
        uint64_t base = se->t_ns[lo - 1];
        return base + (t - base) / g->period * g->period;
    }
    if (!g->period || !g->known) return t;
    if (t < g->phase) {   /* the grid's reference instant lies later: whole periods back */
        uint64_t back = (g->phase - t + g->period - 1) / g->period * g->period;
        return back <= g->phase ? g->phase - back : 0;
    }
    return g->phase + (t - g->phase) / g->period * g->period;
}

/* Begin/end windows, what Zeus, CodeCarbon or LIKWID's markers see: the counter read at every
 * phase change returns its last update before the change, and the difference goes to the
 * phase that was innermost in between; the counter's value then is interpolated between the
 * trace's readings. Reads at a shared boundary cancel, so
 * a phase's inclusive figure is the counter's difference between its begin and its end.
 * Concurrent tracks each read the whole counter, as a per-thread begin/end tool would. */
static void windows_series(const pw_trace *t, const pw_attribution *a, const pw_series *se)
{
    size_t n = se->ndomains, first = se->first_domain;
    if (first + n > a->ndomains || se->n == 0) return;
    grid g = grid_of(t, se);
    pw_series_cursor c0 = {se, 0}, c1 = {se, 0};   /* each asked in time order per track */
    for (size_t i = 0; i < a->nsegments; i++) {
        const pw_segment *sg = &a->segments[i];
        uint64_t u0 = last_update(&g, se, sg->t0_ns), u1 = last_update(&g, se, sg->t1_ns);
        for (size_t k = 0; k < n; k++) {
            double e1 = pw_series_energy_at(&c1, k, u1), e0 = pw_series_energy_at(&c0, k, u0);
            a->nodes[sg->node].self_j[first + k] += (e1 - e0) * 1e-6;
        }
    }
}

/* Untagged energy: whatever of the measured total the phases did not take. */
static void settle_root(pw_attribution *a)
{
    for (size_t d = 0; d < a->ndomains; d++) {
        double phases = 0;
        for (size_t k = 1; k < a->nnodes; k++) phases += a->nodes[k].self_j[d];
        a->nodes[0].self_j[d] = a->domain_j[d] - phases;
    }
    pw_attribution_roll_up(a);
}

int pw_attribute_baseline(const pw_trace *t, pw_method method, pw_attribution *a)
{
    if (method != PW_METHOD_NAIVE && method != PW_METHOD_WINDOWS) return PW_ERR_INVALID;
    track_index ix = {0};
    long *open = calloc(t->ntracks + 1, sizeof *open);
    int rc = open ? index_tracks(t, a, &ix) : PW_ERR_NOMEM;
    if (rc == PW_OK) {
        clear_energies(a);
        for (size_t s = 0; s < t->nsources; s++) {
            if (method == PW_METHOD_NAIVE) naive_series(t, a, &ix, &t->series[s], open);
            else windows_series(t, a, &t->series[s]);
        }
        settle_root(a);
    }
    free(ix.first);
    free(open);
    return rc;
}
