/* jsonl.c — a run as JSON lines: every sample reading and phase event, merged in time order,
 * one object per line (pandas.read_json(lines=True), jq). */
#include <stdlib.h>

#include "export/export.h"
#include "report/common.h"

typedef struct cursor {
    size_t at;                   /* next reading or event */
} cursor;

static double seconds(uint64_t t_ns, uint64_t origin)
{
    return t_ns >= origin ? (double)(t_ns - origin) * 1e-9 : 0.0;
}

/* {"type":"sample","t":s,"source":..,"energy_j":{domain:J,..},"power_w":{domain:W,..}}
 * power is the mean over the interval this reading closes (absent for the first). */
static void sample_line(FILE *out, const pw_trace *t, size_t s, size_t i, uint64_t origin,
                        double *watts)
{
    const pw_series *se = &t->series[s];
    fprintf(out, "{\"type\":\"sample\",\"t\":%.9f,\"source\":", seconds(se->t_ns[i], origin));
    pw_json_string(out, t->sources[s].name);
    int has_power = i > 0 && pw_export_interval_watts(t, s, i, watts);
    for (int part = 0; part < 1 + has_power; part++) {
        fputs(part ? "},\"power_w\":{" : ",\"energy_j\":{", out);
        for (size_t k = 0; k < se->ndomains; k++) {
            if (k) fputc(',', out);
            pw_json_string(out, t->domains[se->first_domain + k].name);
            fputc(':', out);
            pw_json_number(out, part ? watts[k]
                                     : (double)se->energy_uj[i * se->ndomains + k] * 1e-6);
        }
    }
    fputs("}}\n", out);
}

static const char *const event_types[] = {"", "begin", "end", "mark", "count"};

/* {"type":"begin","t":s,"track":n,"pid":..,"tid":..,"name":..[,"value":n]} */
static void event_line(FILE *out, const pw_trace *t, size_t k, size_t e, uint64_t origin)
{
    const pw_track *tr = &t->tracks[k];
    const pw_event *ev = &tr->events[e];
    const char *name = pw_trace_name(t, ev->id);
    fprintf(out, "{\"type\":\"%s\",\"t\":%.9f,\"track\":%u,\"pid\":%u,\"tid\":%u,\"name\":",
            ev->type <= PW_EV_COUNT ? event_types[ev->type] : "unknown",
            seconds(ev->t_ns, origin), tr->id, tr->pid, tr->tid);
    pw_json_string(out, name ? name : "(unknown)");
    if (ev->type == PW_EV_COUNT) fprintf(out, ",\"value\":%lld", (long long)ev->value);
    fputs("}\n", out);
}

/* The stream whose next item is earliest: series first, then tracks; -1 when all are done. */
static long earliest(const pw_trace *t, const cursor *c)
{
    long best = -1;
    uint64_t best_t = UINT64_MAX;
    for (size_t s = 0; s < t->nsources; s++)
        if (c[s].at < t->series[s].n && t->series[s].t_ns[c[s].at] < best_t) {
            best_t = t->series[s].t_ns[c[s].at];
            best = (long)s;
        }
    for (size_t k = 0; k < t->ntracks; k++) {
        const cursor *ck = &c[t->nsources + k];
        if (ck->at < t->tracks[k].n && t->tracks[k].events[ck->at].t_ns < best_t) {
            best_t = t->tracks[k].events[ck->at].t_ns;
            best = (long)(t->nsources + k);
        }
    }
    return best;
}

static size_t widest_series(const pw_trace *t)
{
    size_t n = 1;
    for (size_t s = 0; s < t->nsources; s++)
        if (t->series[s].ndomains > n) n = t->series[s].ndomains;
    return n;
}

int pw_export_jsonl(FILE *out, const pw_trace *t, const pw_attribution *a)
{
    if (!out || !t || !a) return PW_ERR_INVALID;
    cursor *c = calloc(t->nsources + t->ntracks + 1, sizeof *c);
    double *watts = calloc(widest_series(t), sizeof *watts);
    if (!c || !watts) {
        free(c);
        free(watts);
        return PW_ERR_NOMEM;
    }
    uint64_t origin = pw_export_origin(t);
    for (long i; (i = earliest(t, c)) >= 0;) {
        size_t at = c[i].at++;
        if ((size_t)i < t->nsources) sample_line(out, t, (size_t)i, at, origin, watts);
        else event_line(out, t, (size_t)i - t->nsources, at, origin);
    }
    free(c);
    free(watts);
    return pw_report_finish(out);
}
