/* simulate.c — runs a scenario through its sensor model in virtual time and streams a
 * normal trace, with the true energy of every phase path, fast enough for hour-long runs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/scenario.h"
#include "sources/counter.h"
#include "trace/format.h"

#define SIM_START_NS 1000000000ull   /* a fixed monotonic start: runs are reproducible */
#define SIM_TRACK 1

/* Where a span starts: the true energy there and the power until the next breakpoint. */
typedef struct breakpoint { uint64_t t_ns; double e_j, w; } breakpoint;
typedef struct open_phase { uint32_t path_ix; uint64_t t_ns; double e_j; } open_phase;

typedef struct sim {
    const pw_scenario *s;
    pw_writer *w;
    pw_meter meter;
    uint64_t next_sample_ns;             /* the sampling thread's next deadline */
    uint64_t next_read_ns;               /* when it actually reads: deadline + jitter */
    double e_j;                          /* true energy from the start to the walk's time */
    breakpoint *hist; size_t head, n, cap;   /* [head, n): spans a sensor read may look into */
    open_phase open[PW_MAX_DEPTH]; int depth;
    double *truth_j, *truth_s;           /* per path index: inclusive energy and time */
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

/* One recorder read: raw register, wraparound undone as for hardware, scaled to µJ (or
 * averaged power integrated). */
static int sample(sim *m, uint64_t t_ns)
{
    uint64_t energy_uj = pw_meter_read_uj(&m->meter, energy_at, m, t_ns);
    forget_before_read(m, t_ns);
    return pw_writer_sample(m->w, 0, t_ns, &energy_uj, 0);
}

/* ---- the walk ------------------------------------------------------------------------------ */

static int on_span(void *ctx, uint64_t t0_ns, uint64_t t1_ns, double watts, uint32_t path_ix)
{
    sim *m = ctx;
    (void)path_ix;   /* phase truth comes from begin/end; spans carry only energy */
    int rc = remember(m, t0_ns, watts);
    /* The sampling thread wakes up late by the jitter; its deadlines stay on the grid. */
    while (rc == PW_OK && m->next_read_ns < t1_ns) {
        rc = sample(m, m->next_read_ns);
        m->next_sample_ns += m->s->sample_interval_ns;
        m->next_read_ns = m->next_sample_ns + pw_sensor_jitter(&m->meter.sensor);
    }
    m->e_j += watts * (double)(t1_ns - t0_ns) * 1e-9;
    return rc;
}

static int event(sim *m, uint32_t type, uint32_t name_ix, int64_t value, uint64_t t_ns)
{
    pw_event ev = {.t_ns = t_ns, .value = value, .id = name_ix + 1, .type = type};
    return pw_writer_event(m->w, SIM_TRACK, &ev);
}

static int on_begin(void *ctx, const pw_step *phase, uint64_t t_ns)
{
    sim *m = ctx;
    if (m->depth == PW_MAX_DEPTH) return PW_ERR_TOO_DEEP;   /* the parser prevents it */
    m->open[m->depth++] = (open_phase){phase->path_ix, t_ns, m->e_j};
    return event(m, PW_EV_BEGIN, phase->name_ix, 0, t_ns);
}

/* Phase truth is inclusive and summed over calls; a path never nests inside itself. */
static int on_end(void *ctx, const pw_step *phase, uint64_t t_ns)
{
    sim *m = ctx;
    const open_phase *o = &m->open[--m->depth];
    m->truth_j[o->path_ix] += m->e_j - o->e_j;
    m->truth_s[o->path_ix] += (double)(t_ns - o->t_ns) * 1e-9;
    return event(m, PW_EV_END, phase->name_ix, 0, t_ns);
}

static int on_count(void *ctx, const pw_step *count, uint64_t t_ns)
{
    return event(ctx, PW_EV_COUNT, count->name_ix, count->count, t_ns);
}

/* ---- the trace ---------------------------------------------------------------------------- */

static int describe(sim *m)
{
    const pw_scenario *s = m->s;
    pw_source_desc src = {(char *)"synthetic", s->sensor.period_ns, 0};
    pw_domain_desc dom = {s->domain, 0, s->kind, -1, 0};
    int rc = pw_writer_domains(m->w, &src, 1, &dom, 1);
    for (size_t i = 0; i < s->nnames && rc == PW_OK; i++)
        rc = pw_writer_name(m->w, (uint32_t)i + 1, s->names[i]);
    return rc == PW_OK ? pw_writer_track(m->w, SIM_TRACK, 0, 0, "simulated") : rc;
}

/* Lead time, the scenario, lead time; samples from the start through the end. */
static int run(sim *m, uint64_t end_ns)
{
    const pw_scenario *s = m->s;
    uint64_t lead = s->lead_ns, t0 = SIM_START_NS + lead, t1 = t0 + pw_scenario_duration_ns(s);
    static const pw_walk_ops ops = {on_begin, on_end, on_count, on_span};
    int rc = lead ? on_span(m, SIM_START_NS, t0, s->background_w, 0) : PW_OK;
    if (rc == PW_OK) rc = pw_scenario_walk(s, t0, &ops, m);
    if (rc == PW_OK && lead) rc = on_span(m, t1, end_ns, s->background_w, 0);
    if (rc == PW_OK) rc = remember(m, end_ns, 0);
    return rc == PW_OK ? sample(m, end_ns) : rc;
}

static int write_truth_and_meta(sim *m, uint64_t end_ns)
{
    const pw_scenario *s = m->s;
    char sensor[256], interval[32];
    pw_sensor_describe(&s->sensor, sensor, sizeof sensor);
    snprintf(interval, sizeof interval, "%llu", (unsigned long long)s->sample_interval_ns);
    int rc = pw_writer_truth(m->w, "", m->e_j, (double)(end_ns - SIM_START_NS) * 1e-9);
    for (size_t ix = 1; ix < s->npaths && rc == PW_OK; ix++)
        rc = pw_writer_truth(m->w, s->paths[ix], m->truth_j[ix], m->truth_s[ix]);
    if (rc == PW_OK) rc = pw_writer_meta(m->w, "source", "synthetic (simulated)");
    if (rc == PW_OK) rc = pw_writer_meta(m->w, "scenario", s->name ? s->name : "unnamed");
    if (rc == PW_OK) rc = pw_writer_meta(m->w, "sensor", sensor);
    if (rc == PW_OK) rc = pw_sensor_write_meta(&s->sensor, "synthetic", m->w);
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
    sim m = {.s = s, .next_sample_ns = SIM_START_NS, .next_read_ns = SIM_START_NS};
    pw_meter_init(&m.meter, &s->sensor);
    m.truth_j = calloc(s->npaths, sizeof *m.truth_j);
    m.truth_s = calloc(s->npaths, sizeof *m.truth_s);
    errno = 0;
    int rc = m.truth_j && m.truth_s ? simulate(&m, out_path) : PW_ERR_NOMEM;
    if (rc == PW_ERR_IO) snprintf(err, errlen, "cannot write: %s", strerror(errno ? errno : EIO));
    else if (rc != PW_OK) snprintf(err, errlen, "%s", pw_strerror(rc));
    free(m.truth_j);
    free(m.truth_s);
    free(m.hist);
    return rc;
}
