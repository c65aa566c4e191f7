/* json.c — the report as exactly one JSON object: the run, its domains, the phase tree (root
 * first, as path "") and the warnings. */
#include <math.h>

#include "report/common.h"
#include "report/requests.h"

/* An object being written: commas go between members. */
typedef struct jobj {
    FILE *out;
    int members;
} jobj;

typedef struct json_ctx {
    FILE *out;
    pw_kinds kinds;
    size_t items;        /* items written to the current array */
} json_ctx;

static jobj jopen(FILE *out)
{
    fputc('{', out);
    return (jobj){out, 0};
}

static void jclose(const jobj *o)
{
    fputc('}', o->out);
}

static void jkey(jobj *o, const char *key)
{
    if (o->members++) fputc(',', o->out);
    pw_json_string(o->out, key);
    fputc(':', o->out);
}

static void jnum(jobj *o, const char *key, double v)
{
    jkey(o, key);
    pw_json_number(o->out, v);
}

static void jint(jobj *o, const char *key, unsigned long long v)
{
    jkey(o, key);
    fprintf(o->out, "%llu", v);
}

static void jstr(jobj *o, const char *key, const char *s)
{
    jkey(o, key);
    if (s) pw_json_string(o->out, s);
    else fputs("null", o->out);
}

static void jbool(jobj *o, const char *key, int v)
{
    jkey(o, key);
    fputs(v ? "true" : "false", o->out);
}

/* Starts the next item of an array: a comma after the first, one item per line. */
static void next_item(json_ctx *c)
{
    fputs(c->items++ ? ",\n" : "\n", c->out);
}

/* ---- the run ---------------------------------------------------------------------------- */

static void meta_object(FILE *out, const pw_trace *t)
{
    jobj o = jopen(out);
    for (size_t i = 0; i < t->nmeta; i++) jstr(&o, t->meta[i].key, t->meta[i].value);
    jclose(&o);
}

static void sources_array(FILE *out, const pw_trace *t)
{
    fputc('[', out);
    for (size_t s = 0; s < t->nsources; s++) {
        if (s) fputc(',', out);
        jobj o = jopen(out);
        jstr(&o, "name", t->sources[s].name);
        jint(&o, "period_ns", t->sources[s].period_ns);
        jint(&o, "samples", t->series[s].n);
        jbool(&o, "estimated", (t->sources[s].flags & PW_DOMAIN_ESTIMATED) != 0);
        jclose(&o);
    }
    fputc(']', out);
}

static void trace_object(FILE *out, const pw_trace *t, const pw_attribution *a)
{
    pw_run_figures run = {.size = sizeof run};
    pw_report_run(t, a, &run);
    jobj o = jopen(out);
    jint(&o, "version", t->version);
    jint(&o, "start_ns", t->start_ns);
    jint(&o, "end_ns", t->end_ns);
    jkey(&o, "meta");
    meta_object(out, t);
    jkey(&o, "sources");
    sources_array(out, t);
    jnum(&o, "duration_s", run.duration_s);
    jint(&o, "samples", run.samples);
    jnum(&o, "sample_interval_s", run.sample_interval_s);
    jnum(&o, "energy_j", run.energy_j);
    jnum(&o, "mean_power_w", run.mean_power_w);
    jstr(&o, "provenance", run.provenance);
    jbool(&o, "estimated", run.estimated);
    jbool(&o, "complete", t->health.complete);
    jbool(&o, "torn", t->health.torn);
    jint(&o, "corrupt_chunks", t->health.corrupt_chunks);
    jint(&o, "lost_events", t->health.lost_events);
    jint(&o, "missed_deadlines", run.missed_deadlines);
    jint(&o, "unbalanced_ends", run.unbalanced_ends);
    jint(&o, "unclosed_phases", run.unclosed_phases);
    jint(&o, "gap_intervals", run.gap_intervals);
    jclose(&o);
}

static void domains_array(json_ctx *c, const pw_trace *t, const pw_attribution *a)
{
    fputc('[', c->out);
    c->items = 0;
    for (size_t d = 0; d < t->ndomains; d++) {
        pw_domain_figures dom = {.size = sizeof dom};
        pw_report_domain(t, a, d, &dom);
        next_item(c);
        jobj o = jopen(c->out);
        jstr(&o, "name", dom.name);
        jstr(&o, "kind", dom.kind);
        jstr(&o, "source", dom.source);
        jstr(&o, "parent", dom.parent >= 0 ? t->domains[dom.parent].name : NULL);
        jbool(&o, "estimated", dom.estimated);
        jnum(&o, "energy_j", dom.energy_j);
        jclose(&o);
    }
    fputc(']', c->out);
}

/* ---- phases and warnings ------------------------------------------------------------------ */

static void energy_object(const json_ctx *c, double total, const double *kind_j)
{
    jobj o = jopen(c->out);
    jnum(&o, "total", total);
    for (size_t k = 0; k < c->kinds.n; k++)
        jnum(&o, pw_kind_name(c->kinds.kind[k]), kind_j[c->kinds.kind[k]]);
    jclose(&o);
}

static int phase_object(const pw_row *r, void *ctx)
{
    json_ctx *c = ctx;
    const pw_phase_node *n = r->node;
    next_item(c);
    jobj o = jopen(c->out);
    jstr(&o, "path", r->path);
    jint(&o, "depth", (unsigned long long)n->depth);
    jint(&o, "calls", n->calls);
    jnum(&o, "duration_s", n->duration_s);
    jnum(&o, "wall_s", n->wall_s);
    jkey(&o, "energy_j");
    energy_object(c, r->energy_j, r->kind_j);
    jkey(&o, "self_energy_j");
    energy_object(c, r->self_j, r->self_kind_j);
    jnum(&o, "share", r->share);
    jnum(&o, "mean_power_w", r->mean_w);
    jnum(&o, "peak_power_w", n->peak_w);
    jnum(&o, "tokens", n->tokens_incl);
    jnum(&o, "j_per_token", r->j_per_token);
    jstr(&o, "provenance", r->provenance);
    if (isfinite(r->ci_j)) jnum(&o, "uncertainty_j", r->ci_j);
    if (r->has_truth) jnum(&o, "true_energy_j", r->true_j);
    jclose(&o);
    return 0;
}

static void warning_item(const char *msg, void *ctx)
{
    json_ctx *c = ctx;
    next_item(c);
    pw_json_string(c->out, msg);
}

int pw_report_json(FILE *out, const pw_trace *t, const pw_attribution *a,
                   const pw_report_opts *o)
{
    if (!out || !t || !a || a->nnodes == 0) return PW_ERR_INVALID;
    json_ctx c = {.out = out};
    pw_report_kinds(t, &c.kinds);
    fputs("{\"trace\":", out);
    trace_object(out, t, a);
    fputs(",\n\"domains\":", out);
    domains_array(&c, t, a);
    fputs(",\n\"phases\":[", out);
    c.items = 0;
    pw_report_walk(t, a, o, phase_object, &c);
    fputc(']', out);
    pw_report_requests_json(out, t, a);
    fputs(",\n\"warnings\":[", out);
    c.items = 0;
    pw_report_warnings(t, a, warning_item, &c);
    fputs("]}\n", out);
    return pw_report_finish(out);
}
