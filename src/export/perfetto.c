/* perfetto.c — a run as Chrome/Perfetto trace-event JSON, written as it is walked. */
#include <stdlib.h>

#include "export/export.h"
#include "report/common.h"

#define POWER_PID 0                /* the pseudo-process that holds the power counters */

typedef struct writer {
    FILE *out;
    const pw_trace *t;
    uint64_t origin;
    int first;                     /* no event written yet: no comma before the next */
} writer;

/* Opens one event object: {"ph":..,"pid":..,"tid":..,"ts":.. — the caller closes it. */
static void open_event(writer *w, char ph, uint32_t pid, uint32_t tid, uint64_t t_ns)
{
    fprintf(w->out, "%s\n{\"ph\":\"%c\",\"pid\":%u,\"tid\":%u,\"ts\":%.3f", w->first ? "" : ",",
            ph, pid, tid, t_ns >= w->origin ? (double)(t_ns - w->origin) * 1e-3 : 0.0);
    w->first = 0;
}

static void name_field(writer *w, const char *name)
{
    fputs(",\"name\":", w->out);
    pw_json_string(w->out, name);
}

static void metadata(writer *w, const char *what, uint32_t pid, uint32_t tid, const char *name)
{
    open_event(w, 'M', pid, tid, w->origin);
    name_field(w, what);
    fputs(",\"args\":{\"name\":", w->out);
    pw_json_string(w->out, name);
    fputs("}}", w->out);
}

/* A track's pid and tid, unique per track even when the trace has none (simulated runs). */
static uint32_t track_pid(const pw_track *tr) { return tr->pid ? tr->pid : 1; }
static uint32_t track_tid(const pw_trace *t, const pw_track *tr)
{
    return tr->tid ? tr->tid : (uint32_t)(tr - t->tracks) + 1;
}

static const char *name_of(const pw_trace *t, uint32_t id)
{
    const char *n = pw_trace_name(t, id);
    return n ? n : "(unknown)";
}

/* ---- phases, marks and counters of one track --------------------------------------- */

typedef struct open_phase {
    uint32_t id;
    uint64_t t0;
} open_phase;

static void slice(writer *w, const pw_track *tr, const open_phase *p, uint64_t t1)
{
    open_event(w, 'X', track_pid(tr), track_tid(w->t, tr), p->t0);
    fprintf(w->out, ",\"dur\":%.3f,\"cat\":\"phase\"", (double)(t1 - p->t0) * 1e-3);
    name_field(w, name_of(w->t, p->id));
    fputc('}', w->out);
}

/* Counters are cumulative per track: the total so far, as Perfetto plots a counter. */
typedef struct counter_total {
    uint32_t id;
    int64_t total;
} counter_total;

static void counter(writer *w, const pw_track *tr, const pw_event *ev, counter_total *totals,
                    size_t *ntotals)
{
    size_t i = 0;
    while (i < *ntotals && totals[i].id != ev->id) i++;
    if (i == *ntotals) totals[(*ntotals)++] = (counter_total){ev->id, 0};
    totals[i].total += ev->value;
    open_event(w, 'C', track_pid(tr), track_tid(w->t, tr), ev->t_ns);
    name_field(w, name_of(w->t, ev->id));
    fputs(",\"args\":{", w->out);
    pw_json_string(w->out, name_of(w->t, ev->id));
    fprintf(w->out, ":%lld}}", (long long)totals[i].total);
}

static void mark(writer *w, const pw_track *tr, const pw_event *ev)
{
    open_event(w, 'i', track_pid(tr), track_tid(w->t, tr), ev->t_ns);
    fputs(",\"s\":\"t\"", w->out);
    name_field(w, name_of(w->t, ev->id));
    fputc('}', w->out);
}

/* Phases nest per track: an END closes the innermost open phase (as attribution reads it);
 * phases still open at the end close at end_ns. */
static int track_events(writer *w, const pw_track *tr, uint64_t end_ns)
{
    open_phase stack[PW_MAX_DEPTH];
    counter_total *totals = malloc((tr->n + 1) * sizeof *totals);
    if (!totals) return PW_ERR_NOMEM;
    size_t depth = 0, ntotals = 0;
    for (size_t e = 0; e < tr->n; e++) {
        const pw_event *ev = &tr->events[e];
        if (ev->type == PW_EV_BEGIN && depth < PW_MAX_DEPTH)
            stack[depth++] = (open_phase){ev->id, ev->t_ns};
        else if (ev->type == PW_EV_END && depth > 0)
            slice(w, tr, &stack[--depth], ev->t_ns);
        else if (ev->type == PW_EV_MARK)
            mark(w, tr, ev);
        else if (ev->type == PW_EV_COUNT)
            counter(w, tr, ev, totals, &ntotals);
    }
    while (depth > 0) slice(w, tr, &stack[--depth], end_ns);
    free(totals);
    return PW_OK;
}

/* ---- power ------------------------------------------------------------------------------ */

static void power_value(writer *w, const char *domain, uint64_t t_ns, double watts)
{
    open_event(w, 'C', POWER_PID, 0, t_ns);
    name_field(w, domain);
    fputs(",\"args\":{\"W\":", w->out);
    pw_json_number(w->out, watts);
    fputs("}}", w->out);
}

/* Each domain's power as a step held over each interval; it drops to 0 at the last reading
 * so the counter integrates to the attributed energy. */
static int series_power(writer *w, size_t s)
{
    const pw_series *se = &w->t->series[s];
    if (se->n < 2) return PW_OK;
    double *watts = calloc(se->ndomains + 1, sizeof *watts);
    if (!watts) return PW_ERR_NOMEM;
    for (size_t i = 1; i < se->n; i++) {
        pw_export_interval_watts(w->t, s, i, watts);
        for (size_t k = 0; k < se->ndomains; k++)
            power_value(w, w->t->domains[se->first_domain + k].name, se->t_ns[i - 1], watts[k]);
    }
    for (size_t k = 0; k < se->ndomains; k++)
        power_value(w, w->t->domains[se->first_domain + k].name, se->t_ns[se->n - 1], 0.0);
    free(watts);
    return PW_OK;
}

/* ---- the file ---------------------------------------------------------------------------- */

static void names(writer *w)
{
    metadata(w, "process_name", POWER_PID, 0, "power (W)");
    for (size_t k = 0; k < w->t->ntracks; k++) {
        const pw_track *tr = &w->t->tracks[k];
        char label[72];
        pw_export_track_label(tr, label, sizeof label);
        metadata(w, "thread_name", track_pid(tr), track_tid(w->t, tr), label);
    }
}

static void other_data(writer *w, const pw_attribution *a)
{
    fputs("\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"provenance\":", w->out);
    pw_json_string(w->out, pw_report_provenance(w->t));
    fprintf(w->out, ",\"lost_events\":%llu,\"gap_intervals\":%llu",
            (unsigned long long)w->t->health.lost_events, (unsigned long long)a->gap_intervals);
    for (size_t i = 0; i < w->t->nmeta; i++) {
        fputc(',', w->out);
        pw_json_string(w->out, w->t->meta[i].key);
        fputc(':', w->out);
        pw_json_string(w->out, w->t->meta[i].value);
    }
    fputs("}}\n", w->out);
}

int pw_export_perfetto(FILE *out, const pw_trace *t, const pw_attribution *a)
{
    if (!out || !t || !a) return PW_ERR_INVALID;
    writer w = {out, t, pw_export_origin(t), 1};
    uint64_t end_ns = a->last_ns;
    for (size_t k = 0; k < t->ntracks; k++)
        if (t->tracks[k].n && t->tracks[k].events[t->tracks[k].n - 1].t_ns > end_ns)
            end_ns = t->tracks[k].events[t->tracks[k].n - 1].t_ns;
    fputs("{\"traceEvents\":[", out);
    names(&w);
    int rc = PW_OK;
    for (size_t k = 0; k < t->ntracks && rc == PW_OK; k++)
        rc = track_events(&w, &t->tracks[k], end_ns);
    for (size_t s = 0; s < t->nsources && rc == PW_OK; s++) rc = series_power(&w, s);
    if (rc != PW_OK) return rc;
    other_data(&w, a);
    return pw_report_finish(out);
}
