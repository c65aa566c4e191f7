/* perfetto_json.c — a run as Chrome/Perfetto trace-event JSON (the legacy format that
 * chrome://tracing also opens), written as it is walked. */
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

typedef struct track_ctx {
    writer *w;
    const pw_track *tr;
} track_ctx;

static void slice(void *ctx, uint32_t id, uint64_t t0, uint64_t t1)
{
    track_ctx *c = ctx;
    open_event(c->w, 'X', track_pid(c->tr), track_tid(c->w->t, c->tr), t0);
    fprintf(c->w->out, ",\"dur\":%.3f,\"cat\":\"phase\"", (double)(t1 - t0) * 1e-3);
    name_field(c->w, name_of(c->w->t, id));
    fputc('}', c->w->out);
}

/* Counters are cumulative per track: the total so far, as Perfetto plots a counter. */
static void counter(void *ctx, const pw_event *ev, const pw_counter_slot *total, int first)
{
    track_ctx *c = ctx;
    (void)first;
    open_event(c->w, 'C', track_pid(c->tr), track_tid(c->w->t, c->tr), ev->t_ns);
    name_field(c->w, name_of(c->w->t, ev->id));
    fputs(",\"args\":{", c->w->out);
    pw_json_string(c->w->out, name_of(c->w->t, ev->id));
    fprintf(c->w->out, ":%lld}}", (long long)total->total);
}

static void mark(void *ctx, const pw_event *ev)
{
    track_ctx *c = ctx;
    open_event(c->w, 'i', track_pid(c->tr), track_tid(c->w->t, c->tr), ev->t_ns);
    fputs(",\"s\":\"t\"", c->w->out);
    name_field(c->w, name_of(c->w->t, ev->id));
    fputc('}', c->w->out);
}

static int track_events(writer *w, const pw_track *tr, uint64_t end_ns)
{
    static const pw_track_visitor visit = {NULL, slice, mark, counter};
    track_ctx c = {w, tr};
    return pw_export_walk_track(tr, end_ns, &visit, &c);
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

int pw_export_perfetto_json(FILE *out, const pw_trace *t, const pw_attribution *a)
{
    if (!out || !t || !a) return PW_ERR_INVALID;
    writer w = {out, t, pw_export_origin(t), 1};
    uint64_t end_ns = pw_export_end(t, a);
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
