/* export.c — what the exporters share: the run's time zero, interval power, track labels. */
#include "export/export.h"

uint64_t pw_export_origin(const pw_trace *t)
{
    uint64_t origin = UINT64_MAX;
    for (size_t s = 0; s < t->nsources; s++)
        if (t->series[s].n && t->series[s].t_ns[0] < origin) origin = t->series[s].t_ns[0];
    for (size_t k = 0; k < t->ntracks; k++)
        if (t->tracks[k].n && t->tracks[k].events[0].t_ns < origin)
            origin = t->tracks[k].events[0].t_ns;
    return origin == UINT64_MAX ? 0 : origin;
}

int pw_export_interval_watts(const pw_trace *t, size_t s, size_t i, double *watts)
{
    const pw_series *se = &t->series[s];
    uint64_t t0 = se->t_ns[i - 1], t1 = se->t_ns[i];
    int gap = (se->flags && (se->flags[i] & PW_SAMPLE_GAP)) || t1 <= t0;
    for (size_t k = 0; k < se->ndomains; k++) {
        const uint64_t *e0 = &se->energy_uj[(i - 1) * se->ndomains];
        const uint64_t *e1 = &se->energy_uj[i * se->ndomains];
        /* cumulative energy never decreases once unwrapped; a reset reads as 0 W */
        watts[k] = gap || e1[k] < e0[k] ? 0.0 : (double)(e1[k] - e0[k]) / (double)(t1 - t0) * 1e3;
    }
    return !gap;
}

void pw_export_track_label(const pw_track *tr, char *out, size_t cap)
{
    if (tr->name && *tr->name) snprintf(out, cap, "%.63s", tr->name);
    else snprintf(out, cap, "pid %u tid %u", tr->pid, tr->tid);
}
