/* common.c — the pieces every report format shares: phase rows and the walk over them,
 * warnings, provenance, JSON and CSV quoting, numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/channel.h"
#include "report/common.h"

/* Column order: the familiar kinds first, the catch-all last. */
static const pw_kind kind_order[] = {PW_KIND_CPU, PW_KIND_GPU, PW_KIND_ANE,   PW_KIND_DRAM,
                                     PW_KIND_SOC, PW_KIND_SYSTEM, PW_KIND_OTHER};

void pw_report_kinds(const pw_trace *t, pw_kinds *out)
{
    out->n = 0;
    for (size_t i = 0; i < sizeof kind_order / sizeof kind_order[0]; i++)
        for (size_t d = 0; d < t->ndomains; d++)
            if (pw_trace_domain_is_top(t, d) && t->domains[d].kind == kind_order[i]) {
                out->kind[out->n++] = kind_order[i];
                break;
            }
}

const char *pw_report_provenance(const pw_trace *t)
{
    int simulated = 0;
    for (size_t d = 0; d < t->ndomains; d++) {
        if (!pw_trace_domain_is_top(t, d)) continue;
        if (pw_domain_estimated(t, d)) return "estimated";
        uint32_t src = t->domains[d].source;
        /* traces written before the flag name their simulated source "synthetic" */
        simulated |= src < t->nsources && ((t->sources[src].flags & PW_DOMAIN_SIMULATED) ||
                                           !strcmp(t->sources[src].name, "synthetic"));
    }
    return simulated ? "simulated" : "measured";
}

int pw_report_has_truth(const pw_trace *t)
{
    return t->ntruth > 0;
}

int pw_report_finish(FILE *out)
{
    return ferror(out) ? PW_ERR_IO : PW_OK;
}

/* ---- rows ------------------------------------------------------------------------------- */

/* The half-widths of the top-level domains add: the domains are fitted or estimated apart, so
 * adding is the bound that assumes nothing about how their errors correlate. */
static double total_ci(const pw_trace *t, const pw_attribution *a, const double *ci_j)
{
    double sum = 0;
    int any = 0;
    for (size_t d = 0; d < a->ndomains; d++)
        if (pw_trace_domain_is_top(t, d) && isfinite(ci_j[d])) sum += ci_j[d], any = 1;
    return any ? sum : NAN;
}

/* The ground truth of node i (only simulated traces have any), or NULL. */
static const pw_truth *find_truth(const pw_trace *t, const pw_attribution *a, size_t i)
{
    if (!t->ntruth) return NULL;
    pw_path_buf buf = {0};
    const char *path = pw_node_path(a, i, &buf);
    const pw_truth *truth = path ? pw_trace_find_truth(t, path) : NULL;
    pw_path_buf_free(&buf);
    return truth;
}

void pw_report_row(const pw_trace *t, const pw_attribution *a, size_t i, pw_row *r)
{
    const pw_phase_node *n = &a->nodes[i];
    double run_j = pw_energy_total(t, a->nodes[0].incl_j);
    *r = (pw_row){.node = n, .name = n->name};
    r->energy_j = pw_energy_total(t, n->incl_j);
    r->self_j = pw_energy_total(t, n->self_j);
    for (int k = 0; k < PW_KIND_COUNT; k++) {
        r->kind_j[k] = pw_energy_kind(t, n->incl_j, (pw_kind)k);
        r->self_kind_j[k] = pw_energy_kind(t, n->self_j, (pw_kind)k);
    }
    r->share = run_j > 0 ? r->energy_j / run_j : NAN;
    /* over wall time: 150 requests decoding at once for 1 s drew their watts for 1 s, not 150 */
    r->mean_w = n->wall_s > 0 ? r->energy_j / n->wall_s : NAN;
    r->j_per_token = n->tokens_incl != 0 ? r->energy_j / n->tokens_incl : NAN;
    r->tokens_per_s = n->tokens_incl > 0 && n->wall_s > 0 ? n->tokens_incl / n->wall_s : NAN;
    r->provenance = pw_provenance_name(n->provenance);
    r->ci_j = total_ci(t, a, n->incl_ci_j);
    const pw_truth *truth = find_truth(t, a, i);
    r->has_truth = truth != NULL;
    r->true_j = truth ? truth->energy_j : NAN;
    r->err = truth && truth->energy_j != 0 ? (r->energy_j - truth->energy_j) / truth->energy_j
                                           : NAN;
}

int pw_report_walk(const pw_trace *t, const pw_attribution *a, const pw_report_opts *o,
                   pw_row_fn fn, void *ctx)
{
    int depth = o ? o->depth : 0, rc = 0;
    pw_path_buf path = {0};
    for (size_t i = 0; i < a->nnodes && !rc; i++) {
        if (depth > 0 && a->nodes[i].depth > depth) continue;
        pw_row row;
        pw_report_row(t, a, i, &row);
        row.path = pw_node_path(a, i, &path);
        rc = row.path ? fn(&row, ctx) : PW_ERR_NOMEM;
    }
    pw_path_buf_free(&path);
    return rc;
}

/* ---- the run and its domains ------------------------------------------------------------ */

void pw_report_run(const pw_trace *t, const pw_attribution *a, pw_run_figures *out)
{
    double total = pw_energy_total(t, a->nodes[0].incl_j);
    *out = (pw_run_figures){
        .size = out->size,
        .duration_s = a->run_s,
        .samples = a->primary >= 0 ? t->series[a->primary].n : 0,
        .sample_interval_s = a->sample_interval_s,
        .energy_j = total,
        .mean_power_w = a->run_s > 0 ? total / a->run_s : NAN,
        .provenance = pw_report_provenance(t),
        .estimated = a->estimated,
        .missed_deadlines = t->missed_deadlines,
        .unbalanced_ends = a->unbalanced,
        .unclosed_phases = a->unclosed,
        .gap_intervals = a->gap_intervals,
    };
}

void pw_report_domain(const pw_trace *t, const pw_attribution *a, size_t d,
                      pw_domain_figures *out)
{
    const pw_domain_desc *dom = &t->domains[d];
    int has_parent = dom->parent >= 0 && (size_t)dom->parent < t->ndomains;
    *out = (pw_domain_figures){
        .size = out->size,
        .name = dom->name,
        .kind = pw_kind_name(dom->kind),
        .source = dom->source < t->nsources ? t->sources[dom->source].name : NULL,
        .parent = has_parent ? dom->parent : -1,
        .estimated = pw_domain_estimated(t, d),
        .energy_j = a->domain_j[d],
        .provenance = pw_provenance_name(a->domain_provenance[d]),
    };
}

/* ---- warnings --------------------------------------------------------------------------- */

static void warn_estimates(const pw_trace *t, pw_warning_fn fn, void *ctx)
{
    char msg[512];
    for (size_t s = 0; s < t->nsources; s++)
        if (t->sources[s].flags & PW_DOMAIN_ESTIMATED) {
            snprintf(msg, sizeof msg, "ESTIMATED: source '%s' is modelled, not measured",
                     t->sources[s].name);
            fn(msg, ctx);
        }
    for (size_t d = 0; d < t->ndomains; d++) {
        const pw_domain_desc *dom = &t->domains[d];
        if (!(dom->flags & PW_DOMAIN_ESTIMATED)) continue;
        if (dom->source < t->nsources && (t->sources[dom->source].flags & PW_DOMAIN_ESTIMATED))
            continue;   /* said once for its whole source */
        snprintf(msg, sizeof msg, "ESTIMATED: domain '%s' is modelled, not measured", dom->name);
        fn(msg, ctx);
    }
}

static uint64_t lost_events(const pw_trace *t)
{
    uint64_t lost = 0;
    for (size_t i = 0; i < t->ntracks; i++) lost += t->tracks[i].lost;
    return lost > t->health.lost_events ? lost : t->health.lost_events;
}

/* One warning per count that is not zero; fmt has one %llu. */
static void warn_count(uint64_t n, const char *fmt, pw_warning_fn fn, void *ctx)
{
    char msg[256];
    if (n == 0) return;
    snprintf(msg, sizeof msg, fmt, (unsigned long long)n);
    fn(msg, ctx);
}

/* A recorded command that died: its open phases were closed when it did (cmd_record.c). */
static void warn_command_end(const pw_trace *t, pw_warning_fn fn, void *ctx)
{
    const char *status = pw_trace_meta(t, "command.status");
    const char *closed = pw_trace_meta(t, "command.closed_phases");
    char msg[512];
    if (status && !strncmp(status, "killed", 6)) {
        snprintf(msg, sizeof msg, "the command was %s; the %s phase(s) it left open were "
                 "closed at that moment", status, closed ? closed : "0");
        fn(msg, ctx);
    }
}

/* What the sampler left out and said so in the metadata (src/core/session.c). */
static void warn_sampler_faults(const pw_trace *t, pw_warning_fn fn, void *ctx)
{
    char msg[256];
    const char *jumps = pw_trace_meta(t, "sampler.counter_jumps");
    const char *slept = pw_trace_meta(t, "sampler.suspended_s");
    if (jumps) {
        snprintf(msg, sizeof msg, "%.32s counter jump(s) beyond any plausible power (a reset?) "
                 "left out", jumps);
        fn(msg, ctx);
    }
    if (slept) {
        snprintf(msg, sizeof msg, "the machine slept %.32s s during the run: the readings "
                 "across it are left out", slept);
        fn(msg, ctx);
    }
    for (size_t s = 0; s < t->nsources; s++) {
        const char *stuck = pw_source_meta(t, (uint32_t)s, "stuck_read_s");
        if (!stuck) continue;
        snprintf(msg, sizeof msg, "source '%.64s': a read had not returned after %.32s s when the "
                 "run ended (a stuck driver?): its figures end at its last reading",
                 t->sources[s].name, stuck);
        fn(msg, ctx);
    }
}

#define DEPTH_DIGITS(n) #n
#define DEPTH_TEXT(n) DEPTH_DIGITS(n)   /* the cap's value in a warning's literal */

/* What the phase channel lost, cut or ended, as its counts in the metadata say. */
static void warn_channel(const pw_trace *t, pw_warning_fn fn, void *ctx)
{
    for (int i = 0; i < PW_CH_NCOUNTS; i++) {
        const char *n = pw_trace_meta(t, pw_channel_count_key(i));
        if (n) warn_count(strtoull(n, NULL, 10), pw_channel_count_phrase(i), fn, ctx);
    }
}

void pw_report_warnings(const pw_trace *t, const pw_attribution *a, pw_warning_fn fn,
                        void *ctx)
{
    warn_estimates(t, fn, ctx);
    if (t->health.torn) fn("the trace ends inside a chunk (torn): the run was cut short", ctx);
    warn_count(t->health.corrupt_chunks, "%llu corrupt chunk(s) skipped: their data is missing",
               fn, ctx);
    warn_count(lost_events(t),
               "%llu phase event(s) lost (ring full): phases around them may be misattributed",
               fn, ctx);
    warn_count(t->missed_deadlines, "the sampler missed %llu deadline(s)", fn, ctx);
    warn_count(a->gap_intervals,
               "%llu sample interval(s) skipped after failed reads, counter jumps or sleep: "
               "their energy is not counted", fn, ctx);
    warn_sampler_faults(t, fn, ctx);
    warn_count(a->unbalanced, "%llu END event(s) without a matching BEGIN ignored", fn, ctx);
    warn_count(a->unclosed, "%llu phase(s) still open at the end, closed at the last timestamp",
               fn, ctx);
    warn_count(t->health.deep_phases, "%llu phase(s) nested deeper than " DEPTH_TEXT(PW_MAX_DEPTH)
               " levels dropped with their ENDs", fn, ctx);
    warn_count(t->health.backward_events, "%llu event(s) earlier than the event before them: "
               "taken at that event's time", fn, ctx);
    warn_count(t->health.bad_names, "%llu name(s) repaired (invalid UTF-8, '/' or too long)",
               fn, ctx);
    if (a->primary < 0) fn("no two samples of any source: there is no energy to attribute", ctx);
    warn_command_end(t, fn, ctx);
    warn_channel(t, fn, ctx);
}

/* ---- quoting and numbers ------------------------------------------------------------------ */

size_t pw_utf8_len(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n;
    uint32_t cp;
    if (u[0] < 0x80) return 1;
    if (u[0] >= 0xC2 && u[0] <= 0xDF) n = 2, cp = u[0] & 0x1F;
    else if (u[0] >= 0xE0 && u[0] <= 0xEF) n = 3, cp = u[0] & 0x0F;
    else if (u[0] >= 0xF0 && u[0] <= 0xF4) n = 4, cp = u[0] & 0x07;
    else return 0;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (u[i] & 0x3F);
    }
    /* overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8 */
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
    return n;
}

void pw_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    while (s && *s) {
        unsigned char c = (unsigned char)*s;
        size_t n = pw_utf8_len(s);
        if (c == '"' || c == '\\') fprintf(out, "\\%c", c);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c < 0x20) fprintf(out, "\\u%04x", c);
        else if (n == 0) fputs("\\ufffd", out);
        else fwrite(s, 1, n, out);
        s += n ? n : 1;
    }
    fputc('"', out);
}

void pw_json_number(FILE *out, double v)
{
    if (isfinite(v)) fprintf(out, "%.9g", v);
    else fputs("null", out);
}

void pw_csv_field(FILE *out, const char *s)
{
    if (!s) s = "";
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

void pw_csv_number(FILE *out, double v)
{
    if (isfinite(v)) fprintf(out, "%.9g", v);
}

/* ---- text cells ------------------------------------------------------------------------ */

/* Display width of a name: one column per code point or invalid byte (names are rarely in
 * wide scripts). */
int pw_text_width(const char *s)
{
    int w = 0;
    while (*s) {
        size_t n = pw_utf8_len(s);
        s += n ? n : 1;
        w++;
    }
    return w;
}

/* Left-aligned text in width columns: control characters shown as '?', invalid UTF-8 as
 * '?', and a label too wide cut with '~'. */
void pw_text_cell(FILE *out, const char *s, int width)
{
    int w = pw_text_width(s), used = 0;
    int room = w > width ? width - 1 : width;
    while (*s && used < room) {
        size_t n = pw_utf8_len(s);
        unsigned char c = (unsigned char)*s;
        if (n == 0 || c < 0x20 || c == 0x7f) fputc('?', out);
        else fwrite(s, 1, n, out);
        s += n ? n : 1;
        used++;
    }
    if (w > width) {
        fputc('~', out);
        used++;
    }
    fprintf(out, "%*s", width - used, "");
}

/* A right-aligned number in width columns (one of them a separating space), with as many
 * of the wanted decimals as fit; "-" when it does not exist. */
void pw_text_num(FILE *out, double v, int width, int decimals)
{
    char buf[64];
    if (!isfinite(v)) {
        fprintf(out, "%*s", width, "-");
        return;
    }
    for (int d = decimals; d >= 0; d--) {
        int n = snprintf(buf, sizeof buf, "%.*f", d, v);
        if (n < width) {
            fprintf(out, "%*s", width, buf);
            return;
        }
    }
    fprintf(out, " %*.*g", width - 1, width > 7 ? width - 7 : 1, v);
}
