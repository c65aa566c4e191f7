/* samples.c — the walk over the PowerSample view: each interval of the primary series (gaps
 * skipped), its power per kind and per domain, and the phase open at its middle. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/samples.h"

/* Each track's segments, in the attribution's order, read forward as time advances. */
typedef struct track_cursor {
    size_t next, end;
} track_cursor;

/* Energy by kind and by domain at the two ends of an interval. */
typedef struct interval_energy {
    double kind_before[PW_KIND_COUNT], kind_after[PW_KIND_COUNT];
    double *domain_before, *domain_after;      /* [ndomains] when per domain, else NULL */
} interval_energy;

struct pw_samples {
    const pw_trace *t;
    const pw_attribution *a;
    const pw_series *primary;      /* NULL when the run has none: no rows */
    size_t i;                      /* the primary's reading that ends the next interval */
    pw_series_cursor *cursors;     /* [nsources] */
    track_cursor *tracks;
    size_t ntracks, ndomains;      /* ndomains: 0 unless per domain */
    double *domain;                /* [3 * ndomains]: before, after, power */
    interval_energy e;
    pw_path_buf path;              /* the current row's phase path */
};

static track_cursor *track_cursors(const pw_attribution *a, size_t *n)
{
    track_cursor *c = malloc((a->nsegments + 1) * sizeof *c);
    *n = 0;
    if (!c) return NULL;
    for (size_t i = 0; i < a->nsegments; i++) {
        if (i == 0 || a->segments[i].track != a->segments[i - 1].track)
            c[(*n)++] = (track_cursor){i, i};
        c[*n - 1].end = i + 1;
    }
    return c;
}

/* The innermost phase of the first track with a phase open at t ("" when none), its path
 * built in buf (its own name alone when out of memory). */
static const char *phase_at(const pw_attribution *a, track_cursor *c, size_t n, uint64_t t,
                            pw_path_buf *buf)
{
    for (size_t i = 0; i < n; i++) {
        while (c[i].next < c[i].end && a->segments[c[i].next].t1_ns <= t) c[i].next++;
        if (c[i].next < c[i].end && a->segments[c[i].next].t0_ns <= t) {
            uint32_t k = a->segments[c[i].next].node;
            const char *path = pw_node_path(a, k, buf);
            return path ? path : a->nodes[k].name;
        }
    }
    return "";
}

/* Cumulative energy (J) at time `when`: by kind over every series' top-level domains, and
 * per domain into domain_j when it is not NULL. */
static void energy_at(const pw_trace *t, pw_series_cursor *cursors, uint64_t when,
                      double *kind_j, double *domain_j)
{
    memset(kind_j, 0, PW_KIND_COUNT * sizeof *kind_j);
    for (size_t s = 0; s < t->nsources; s++) {
        const pw_series *se = &t->series[s];
        for (size_t k = 0; k < se->ndomains; k++) {
            size_t d = se->first_domain + k;
            double j = pw_series_energy_at(&cursors[s], k, when) * 1e-6;
            if (domain_j) domain_j[d] = j;
            if (pw_trace_domain_is_top(t, d)) kind_j[t->domains[d].kind] += j;
        }
    }
}

static void advance(const pw_trace *t, pw_series_cursor *cursors, uint64_t when,
                    interval_energy *e)
{
    memcpy(e->kind_before, e->kind_after, sizeof e->kind_before);
    if (e->domain_after) {
        double *swap = e->domain_before;
        e->domain_before = e->domain_after;
        e->domain_after = swap;
    }
    energy_at(t, cursors, when, e->kind_after, e->domain_after);
}

void pw_samples_free(pw_samples *s)
{
    if (!s) return;
    free(s->cursors);
    free(s->tracks);
    free(s->domain);
    pw_path_buf_free(&s->path);
    free(s);
}

int pw_samples_open(const pw_trace *t, const pw_attribution *a, int per_domain,
                    pw_samples **out)
{
    if (!t || !a || !out) return PW_ERR_INVALID;
    *out = NULL;
    pw_samples *s = calloc(1, sizeof *s);
    if (!s) return PW_ERR_NOMEM;
    *s = (pw_samples){.t = t, .a = a, .i = 1, .ndomains = per_domain ? t->ndomains : 0};
    s->cursors = calloc(t->nsources + 1, sizeof *s->cursors);
    s->tracks = track_cursors(a, &s->ntracks);
    s->domain = calloc(3 * s->ndomains + 1, sizeof *s->domain);
    if (!s->cursors || !s->tracks || !s->domain) {
        pw_samples_free(s);
        return PW_ERR_NOMEM;
    }
    for (size_t k = 0; k < t->nsources; k++) s->cursors[k].se = &t->series[k];
    if (s->ndomains) {
        s->e.domain_before = s->domain;
        s->e.domain_after = s->domain + s->ndomains;
    }
    if (a->primary >= 0) {
        s->primary = &t->series[a->primary];
        energy_at(t, s->cursors, s->primary->t_ns[0], s->e.kind_after, s->e.domain_after);
    }
    *out = s;
    return PW_OK;
}

/* Power per kind is the energy difference over the interval, other series interpolated at
 * its ends; the timestamp is the interval's end, in seconds since the primary's first read. */
int pw_samples_next(pw_samples *s, pw_sample_row *row)
{
    const pw_series *p = s->primary;
    for (; p && s->i < p->n; s->i++) {
        advance(s->t, s->cursors, p->t_ns[s->i], &s->e);
        uint64_t t0 = p->t_ns[s->i - 1], t1 = p->t_ns[s->i];
        if ((p->flags && (p->flags[s->i] & PW_SAMPLE_GAP)) || t1 <= t0) continue;
        double dt_s = (double)(t1 - t0) * 1e-9, total = 0, *power = s->domain + 2 * s->ndomains;
        for (int k = 0; k < PW_KIND_COUNT; k++) {
            double de = fmax(s->e.kind_after[k] - s->e.kind_before[k], 0.0);
            total += de;
            row->kind_mw[k] = de / dt_s * 1e3;
        }
        for (size_t d = 0; d < s->ndomains; d++)
            power[d] = fmax(s->e.domain_after[d] - s->e.domain_before[d], 0.0) / dt_s * 1e3;
        row->total_mw = total / dt_s * 1e3;
        row->timestamp_s = (double)(t1 - p->t_ns[0]) * 1e-9;
        row->phase = phase_at(s->a, s->tracks, s->ntracks, t0 + (t1 - t0) / 2, &s->path);
        row->domain_mw = s->ndomains ? power : NULL;
        s->i++;
        return 1;
    }
    return 0;
}
