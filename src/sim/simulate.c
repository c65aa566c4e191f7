/* simulate.c — runs a scenario through its sensor model in virtual time and streams a
 * normal trace, with the true energy of every phase path, fast enough for hour-long runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/gridlock.h"
#include "phasewatt-analysis.h"
#include "sim/scenario.h"
#include "sources/counter.h"
#include "base/grow.h"
#include "trace/trace.h"

#define SIM_START_NS 1000000000ull   /* a fixed monotonic start: runs are reproducible */
#define SIM_TRACK 1
#define SIM_READ_COST_NS 2000ull     /* virtual time one sensor read takes (the poll spacing) */
#define SIM_SPIN_NS 50000ull         /* the recorder spins through shorter waits, as session.c */

/* Where a span starts: the true energy there and the power until the next breakpoint. */
typedef struct breakpoint { uint64_t t_ns; double e_j, w; } breakpoint;
typedef struct open_phase { uint32_t path_ix; uint64_t t_ns; } open_phase;
/* One stretch of a track at constant power: w is what the machine draws while it runs alone;
 * path is the innermost phase's path index (0: no phase open on the track). */
typedef struct span { uint64_t t0, t1; double w; uint32_t path; } span;

/* One track as its walk unfolds: its open phases, and (several tracks) its spans. */
typedef struct track_run {
    open_phase open[PW_MAX_DEPTH]; int depth;
    int leaf_next;                       /* the next span is a leaf call's */
    span *v; size_t n, cap;
} track_run;

typedef struct sim {
    const pw_scenario *s;
    pw_writer *w;
    pw_meter meter;
    uint64_t next_read_ns;               /* when the recorder reads next */
    pw_gridlock lock;                    /* the recorder's locker, as in session.c */
    uint64_t last_read_uj;               /* the previous read, for "changed" */
    int reads;
    double e_j;                          /* true energy from the start to the walk's time */
    breakpoint *hist; size_t head, n, cap;   /* [head, n): spans a sensor read may look into */
    double *self_j, *truth_s;            /* per path index: true self energy, inclusive time */
    uint32_t *parent_ix;                 /* per path index: the enclosing phase's path */
    track_run *runs; size_t nruns, cur;  /* the main track, then the scenario's tracks */
    int streaming;                       /* one track: spans go to the sensor as they come */
    uint64_t rng;                        /* vary's draws */
} sim;

/* ---- true energy, as the sensor asks for it ---------------------------------------------- */

static int remember(sim *m, uint64_t t_ns, double w)
{
    if (m->n == m->cap && m->head > 0 && 2 * m->head >= m->n) {   /* reuse the forgotten front first */
        memmove(m->hist, m->hist + m->head, (m->n - m->head) * sizeof *m->hist);
        m->n -= m->head;
        m->head = 0;
    }
    breakpoint *h = pw_grow(m->hist, &m->cap, m->n + 1, sizeof *h);
    if (!h) return PW_ERR_NOMEM;
    m->hist = h;
    h[m->n++] = (breakpoint){t_ns, m->e_j, w};
    return PW_OK;
}

/* The sensor asks no further back than its lookback (window, latency, one period) before a
 * read, and reads never go back in time: older breakpoints can go. */
static void forget_before_read(sim *m, uint64_t read_ns)
{
    uint64_t back = pw_sensor_lookback_ns(&m->s->sensor);
    uint64_t oldest = read_ns - (back < read_ns ? back : read_ns);
    while (m->head + 1 < m->n && m->hist[m->head + 1].t_ns <= oldest) m->head++;
}

static double energy_at(void *ctx, uint64_t t_ns)
{
    const sim *m = ctx;
    size_t lo = m->head, hi = m->n;   /* the last breakpoint at or before t_ns */
    if (lo == hi) return m->e_j;
    if (t_ns < m->hist[lo].t_ns) return m->hist[lo].e_j;   /* before the start: nothing yet */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->hist[mid].t_ns <= t_ns) lo = mid;
        else hi = mid;
    }
    const breakpoint *b = &m->hist[lo];
    return b->e_j + b->w * (double)(t_ns - b->t_ns) * 1e-9;
}

/* One recorder read at t_ns: raw register, wraparound undone as for hardware, scaled to µJ
 * (or averaged power integrated), fed to the same grid locker the session uses, and written
 * where it says, at its stamp. The value is the one at t_ns exactly; the read's cost,
 * SIM_READ_COST_NS, only spaces the reads. */
static int sample(sim *m, uint64_t t_ns)
{
    if (!m->reads)
        pw_gridlock_init(&m->lock, m->s->sensor.period_ns, SIM_READ_COST_NS,
                         m->s->sample_interval_ns);
    uint64_t energy_uj = pw_meter_read_uj(&m->meter, energy_at, m, t_ns);
    forget_before_read(m, t_ns);
    int changed = m->reads++ && energy_uj != m->last_read_uj;
    m->last_read_uj = energy_uj;
    pw_grid_stamp st = pw_gridlock_feed(&m->lock, t_ns, t_ns, changed);
    return st.record ? pw_writer_sample_stamped(m->w, 0, st.t_ns, st.err_ns, &energy_uj, 0)
                     : PW_OK;
}

/* When the recorder reads next: the locker's time, after the read it just made. A sleep
 * ends late by the jitter, except before a locked sensor's burst, which the session wakes
 * early for and spins to; shorter waits are spun. */
static uint64_t next_read(sim *m, uint64_t read_ns)
{
    uint64_t after = read_ns + SIM_READ_COST_NS, due = pw_gridlock_next_read(&m->lock);
    if (due <= after) return after;
    if (due - after <= SIM_SPIN_NS || pw_gridlock_state(&m->lock) == PW_LOCK_LOCKED) return due;
    return due + pw_sensor_jitter(&m->meter.sensor);
}

/* ---- the walk ------------------------------------------------------------------------------ */

static int on_span(void *ctx, uint64_t t0_ns, uint64_t t1_ns, double watts, uint32_t path_ix)
{
    sim *m = ctx;
    (void)path_ix;   /* phase truth comes from begin/end; spans carry only energy */
    int rc = remember(m, t0_ns, watts);
    while (rc == PW_OK && m->next_read_ns < t1_ns) {
        rc = sample(m, m->next_read_ns);
        m->next_read_ns = next_read(m, m->next_read_ns);
    }
    m->e_j += watts * (double)(t1_ns - t0_ns) * 1e-9;
    return rc;
}

/* ---- tracks ------------------------------------------------------------------------------ */

/* The sensor sees the machine's total power: the background plus, for every track with a
 * span open, that span's excess over the background (a scenario's POWER is what the machine
 * draws while that phase runs alone). Each open phase's truth is its own excess plus an equal
 * share of the background (docs/scenario.md, "Tracks"). */
static int global_span(sim *m, uint64_t t0, uint64_t t1, const span *open, size_t n)
{
    double bg = m->s->background_w, total = bg, dt = (double)(t1 - t0) * 1e-9;
    size_t tagged = 0;
    for (size_t i = 0; i < n; i++) {
        total += open[i].w - bg;
        tagged += open[i].path != 0;
    }
    for (size_t i = 0; i < n; i++)
        m->self_j[open[i].path] += (open[i].w - bg) * dt + (open[i].path ? bg * dt / (double)tagged : 0);
    if (!tagged) m->self_j[0] += bg * dt;
    return t1 > t0 ? on_span(m, t0, t1, total, 0) : PW_OK;
}

/* A uniform draw in [-1, 1) from the scenario's own stream (seeded like the sensor). */
static double unit_draw(sim *m)
{
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-52 - 1.0;
}

static int track_push(sim *m, track_run *r, span sp)
{
    if (m->streaming) return global_span(m, sp.t0, sp.t1, &sp, 1);
    span *v = pw_grow(r->v, &r->cap, r->n + 1, sizeof *v);
    if (!v) return PW_ERR_NOMEM;
    r->v = v;
    v[r->n++] = sp;
    return PW_OK;
}

/* A leaf call's power varies from call to call (vary) and rises within the call (ramp, as
 * RAMP_STEPS steps of equal time whose mean is the call's power). */
#define RAMP_STEPS 8
static int on_track_span(void *ctx, uint64_t t0, uint64_t t1, double watts, uint32_t path_ix)
{
    sim *m = ctx;
    track_run *r = &m->runs[m->cur];
    int leaf = r->leaf_next;
    r->leaf_next = 0;
    if (leaf && m->s->vary > 0) watts *= 1.0 + m->s->vary * unit_draw(m);
    int steps = leaf && m->s->ramp > 0 && t1 - t0 >= RAMP_STEPS ? RAMP_STEPS : 1;
    int rc = PW_OK;
    for (int k = 0; k < steps && rc == PW_OK; k++) {
        uint64_t a = t0 + (t1 - t0) * (uint64_t)k / (uint64_t)steps;
        uint64_t b = t0 + (t1 - t0) * (uint64_t)(k + 1) / (uint64_t)steps;
        double w = steps > 1 ? watts * (1.0 + m->s->ramp * ((k + 0.5) / steps - 0.5)) : watts;
        rc = track_push(m, r, (span){a, b, w, path_ix});
    }
    return rc;
}

static int event(sim *m, uint32_t type, uint32_t name_ix, int64_t value, uint64_t t_ns)
{
    pw_event ev = {.t_ns = t_ns, .value = value, .id = name_ix + 1, .type = type};
    return pw_writer_event(m->w, SIM_TRACK + (uint32_t)m->cur, &ev);
}

static int on_begin(void *ctx, const pw_step *phase, uint64_t t_ns)
{
    sim *m = ctx;
    track_run *r = &m->runs[m->cur];
    if (r->depth == PW_MAX_DEPTH) return PW_ERR_TOO_DEEP;   /* the parser prevents it */
    m->parent_ix[phase->path_ix] = r->depth ? r->open[r->depth - 1].path_ix : 0;
    r->open[r->depth++] = (open_phase){phase->path_ix, t_ns};
    r->leaf_next = phase->body == NULL;
    return event(m, PW_EV_BEGIN, phase->name_ix, 0, t_ns);
}

/* Inclusive time is summed over calls (and tracks); energy comes from the spans. */
static int on_end(void *ctx, const pw_step *phase, uint64_t t_ns)
{
    sim *m = ctx;
    track_run *r = &m->runs[m->cur];
    const open_phase *o = &r->open[--r->depth];
    m->truth_s[o->path_ix] += (double)(t_ns - o->t_ns) * 1e-9;
    return event(m, PW_EV_END, phase->name_ix, 0, t_ns);
}

static int on_count(void *ctx, const pw_step *count, uint64_t t_ns)
{
    return event(ctx, PW_EV_COUNT, count->name_ix, count->count, t_ns);
}

/* The tracks' spans merged in time: each stretch between two span boundaries of any track is
 * one global span with the tracks open in it. */
static int merge_tracks(sim *m, uint64_t from_ns)
{
    size_t n = m->nruns, *at = calloc(n + 1, sizeof *at);
    span *open = calloc(n + 1, sizeof *open);
    int rc = at && open ? PW_OK : PW_ERR_NOMEM;
    for (uint64_t t = from_ns; rc == PW_OK;) {
        uint64_t next = UINT64_MAX;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            const track_run *r = &m->runs[i];
            while (at[i] < r->n && r->v[at[i]].t1 <= t) at[i]++;
            if (at[i] == r->n) continue;
            const span *sp = &r->v[at[i]];
            if (sp->t0 > t) {
                next = sp->t0 < next ? sp->t0 : next;
                continue;
            }
            open[k++] = *sp;
            next = sp->t1 < next ? sp->t1 : next;
        }
        if (next == UINT64_MAX) break;
        rc = global_span(m, t, next, open, k);
        t = next;
    }
    free(at);
    free(open);
    return rc;
}

static int walk_tracks(sim *m, uint64_t t0)
{
    static const pw_walk_ops ops = {on_begin, on_end, on_count, on_track_span};
    int rc = pw_scenario_walk(m->s, t0, &ops, m);
    for (size_t i = 0; rc == PW_OK && i < m->s->ntracks; i++) {
        m->cur = i + 1;
        rc = pw_scenario_walk_track(m->s, i, t0, &ops, m);
    }
    return rc == PW_OK && !m->streaming ? merge_tracks(m, t0) : rc;
}

/* ---- the trace ---------------------------------------------------------------------------- */

static int describe(sim *m)
{
    const pw_scenario *s = m->s;
    pw_source_desc src = {(char *)"synthetic", s->sensor.period_ns, PW_DOMAIN_SIMULATED};
    pw_domain_desc dom = {s->domain, 0, s->kind, -1, 0};
    int rc = pw_writer_domains(m->w, &src, 1, &dom, 1);
    for (size_t i = 0; i < s->nnames && rc == PW_OK; i++)
        rc = pw_writer_name(m->w, (uint32_t)i + 1, s->names[i]);
    if (rc == PW_OK) rc = pw_writer_track(m->w, SIM_TRACK, 0, 0, "simulated");
    for (size_t i = 0; i < s->ntracks && rc == PW_OK; i++)
        rc = pw_writer_track(m->w, SIM_TRACK + 1 + (uint32_t)i, 0, (uint32_t)i + 1, s->tracks[i].name);
    return rc;
}

/* Lead time, the scenario, lead time; samples from the start through the end. */
static int run(sim *m, uint64_t end_ns)
{
    const pw_scenario *s = m->s;
    uint64_t lead = s->lead_ns, t0 = SIM_START_NS + lead, t1 = t0 + pw_scenario_duration_ns(s);
    int rc = lead ? global_span(m, SIM_START_NS, t0, NULL, 0) : PW_OK;
    if (rc == PW_OK) rc = walk_tracks(m, t0);
    if (rc == PW_OK && lead) rc = global_span(m, t1, end_ns, NULL, 0);
    if (rc == PW_OK) rc = remember(m, end_ns, 0);
    return rc == PW_OK ? sample(m, end_ns) : rc;
}

static int write_truth_and_meta(sim *m, uint64_t end_ns)
{
    const pw_scenario *s = m->s;
    char sensor[256], interval[32];
    pw_sensor_describe(&s->sensor, sensor, sizeof sensor);
    snprintf(interval, sizeof interval, "%llu", (unsigned long long)s->sample_interval_ns);
    /* inclusive energy: a child's path is interned after its parent's, so one backward pass */
    for (size_t ix = s->npaths; ix-- > 1;) m->self_j[m->parent_ix[ix]] += m->self_j[ix];
    int rc = pw_writer_truth(m->w, "", m->e_j, (double)(end_ns - SIM_START_NS) * 1e-9);
    for (size_t ix = 1; ix < s->npaths && rc == PW_OK; ix++)
        rc = pw_writer_truth(m->w, s->paths[ix], m->self_j[ix], m->truth_s[ix]);
    if (rc == PW_OK) rc = pw_writer_meta(m->w, "source", "synthetic (simulated)");
    if (rc == PW_OK) rc = pw_writer_meta(m->w, "scenario", s->name ? s->name : "unnamed");
    if (rc == PW_OK) rc = pw_writer_meta(m->w, "sensor", sensor);
    pw_sink file = pw_writer_sink(m->w);
    if (rc == PW_OK) rc = pw_sensor_write_meta(&s->sensor, "synthetic", &file);
    return rc == PW_OK ? pw_writer_meta(m->w, "sample_interval_ns", interval) : rc;
}

static int simulate(sim *m, const char *out_path)
{
    const pw_scenario *s = m->s;
    uint64_t end_ns = SIM_START_NS + 2 * s->lead_ns + pw_scenario_duration_ns(s);
    int rc = pw_writer_open(out_path, &(pw_writer_header){SIM_START_NS, 0}, &m->w);
    if (rc != PW_OK) return rc;
    rc = describe(m);
    if (rc == PW_OK) rc = run(m, end_ns);
    if (rc == PW_OK) rc = write_truth_and_meta(m, end_ns);
    int e = errno;
    int rc_close = pw_writer_close(m->w, end_ns, 0);   /* frees the writer either way */
    if (rc != PW_OK) errno = e;
    return rc != PW_OK ? rc : rc_close;
}

int pw_simulate(const pw_scenario *s, const char *out_path, char *err, size_t errlen)
{
    char none[1];
    if (!err || !errlen) err = none, errlen = sizeof none;
    err[0] = '\0';
    if (!s || !out_path || !s->sample_interval_ns || s->npaths == 0) return PW_ERR_INVALID;
    sim m = {.s = s, .next_read_ns = SIM_START_NS,
             .nruns = 1 + s->ntracks, .streaming = s->ntracks == 0,
             .rng = s->sensor.seed ^ 0xbb67ae8584caa73bull};
    pw_meter_init(&m.meter, &s->sensor);
    m.self_j = calloc(s->npaths, sizeof *m.self_j);
    m.truth_s = calloc(s->npaths, sizeof *m.truth_s);
    m.parent_ix = calloc(s->npaths, sizeof *m.parent_ix);
    m.runs = calloc(m.nruns, sizeof *m.runs);
    errno = 0;
    int rc = m.self_j && m.truth_s && m.parent_ix && m.runs ? simulate(&m, out_path) : PW_ERR_NOMEM;
    if (rc == PW_ERR_IO) snprintf(err, errlen, "cannot write: %s", strerror(errno ? errno : EIO));
    else if (rc != PW_OK) snprintf(err, errlen, "%s", pw_strerror(rc));
    for (size_t i = 0; m.runs && i < m.nruns; i++) free(m.runs[i].v);
    free(m.runs);
    free(m.self_j);
    free(m.truth_s);
    free(m.parent_ix);
    free(m.hist);
    return rc;
}
