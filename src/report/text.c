/* text.c — the report for people: a header about the run, then the phase tree as two tables
 * (time and power; energy by kind and per token), each readable in 100 columns. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/common.h"
#include "report/requests.h"

#define PHASE_MIN 11     /* "(whole run)" */
#define PHASE_MAX 29     /* longer indented names are cut, keeping the tables narrow */

typedef struct text_ctx {
    FILE *out;
    int phase_w;         /* width of the phase column */
    pw_kinds kinds;
    int truth;           /* show true J and err % */
} text_ctx;

/* ---- cells ------------------------------------------------------------------------------ */

/* The root's label, or the name indented under it by depth. */
static int phase_label(const pw_row *r, char *buf, size_t len)
{
    if (r->node->depth == 0) return snprintf(buf, len, "(whole run)");
    return snprintf(buf, len, "%*s%s", 2 * r->node->depth, "", r->name);
}


/* ---- the header --------------------------------------------------------------------------- */

static void print_field(FILE *out, const char *key, const char *value)
{
    fprintf(out, "  %-12s ", key);
    pw_text_cell(out, value, pw_text_width(value));
    fputc('\n', out);
}

/* Appends an item to a header line, wrapping onto an indented line past 100 columns. */
static void wrap_item(FILE *out, int *col, const char *item)
{
    int w = pw_text_width(item);
    if (*col + 1 + w > 100 && *col > 14) {
        fprintf(out, "\n%14s", "");
        *col = 14;
    }
    fprintf(out, " %s", item);
    *col += 1 + w;
}

/* "core-0 (cpu, within package-0)" and a comma unless it is the source's last domain. */
static void domain_item(const pw_trace *t, size_t d, int source_estimated, int last,
                        char *item, size_t len)
{
    const pw_domain_desc *dom = &t->domains[d];
    int has_parent = dom->parent >= 0 && (size_t)dom->parent < t->ndomains;
    snprintf(item, len, "%s (%s%s%s%s)%s", dom->name, pw_kind_name(dom->kind),
             has_parent ? ", within " : "", has_parent ? t->domains[dom->parent].name : "",
             !source_estimated && pw_domain_estimated(t, d) ? ", ESTIMATED" : "",
             last ? "" : ",");
}

static void print_sources(FILE *out, const pw_trace *t)
{
    char item[512];
    for (size_t s = 0; s < t->nsources; s++) {
        const pw_series *se = &t->series[s];
        int estimated = (t->sources[s].flags & PW_DOMAIN_ESTIMATED) != 0, col = 14;
        fprintf(out, "  %-12s", "source");
        snprintf(item, sizeof item, "%s:", t->sources[s].name);
        wrap_item(out, &col, item);
        for (size_t k = 0; k < se->ndomains && se->first_domain + k < t->ndomains; k++) {
            domain_item(t, se->first_domain + k, estimated, k + 1 == se->ndomains, item,
                        sizeof item);
            wrap_item(out, &col, item);
        }
        if (estimated) fprintf(out, "\n%14s ** ESTIMATED: modelled, not measured **", "");
        fputc('\n', out);
    }
}

static void format_interval(char *buf, size_t len, double s)
{
    if (s >= 1) snprintf(buf, len, "%.3f s", s);
    else if (s >= 1e-3) snprintf(buf, len, "%.3f ms", s * 1e3);
    else snprintf(buf, len, "%.3f us", s * 1e6);
}

static void print_samples(FILE *out, const pw_trace *t)
{
    char item[512];
    int col = 14;
    fprintf(out, "  %-12s", "samples");
    for (size_t s = 0; s < t->nsources; s++) {
        const pw_series *se = &t->series[s];
        int n = snprintf(item, sizeof item, "%s %zu", t->sources[s].name, se->n);
        if (se->n >= 2 && n < (int)sizeof item) {
            double every = (double)(se->t_ns[se->n - 1] - se->t_ns[0]) * 1e-9 /
                           (double)(se->n - 1);
            n += snprintf(item + n, sizeof item - (size_t)n, " every ");
            if (n < (int)sizeof item) format_interval(item + n, sizeof item - (size_t)n, every);
        }
        if (s + 1 < t->nsources && strlen(item) + 1 < sizeof item) strcat(item, ";");
        wrap_item(out, &col, item);
    }
    fputc('\n', out);
}

static void print_warning(const char *msg, void *ctx)
{
    print_field(ctx, "warning", msg);
}

/* A merged trace's hosts on one line: each label and the shift that aligned its clock. */
static void print_merged(FILE *out, const pw_trace *t)
{
    const char *n = pw_trace_meta(t, "merge.inputs");
    unsigned long count = n ? strtoul(n, NULL, 10) : 0;
    if (!count) return;
    fprintf(out, "  %-12s %lu hosts:", "merged", count);
    for (unsigned long i = 1; i <= count; i++) {
        char key[48];
        snprintf(key, sizeof key, "merge.%lu.label", i);
        const char *label = pw_trace_meta(t, key);
        snprintf(key, sizeof key, "merge.%lu.shift_ns", i);
        const char *shift = pw_trace_meta(t, key);
        fprintf(out, "%s %s %+.3f s", i > 1 ? "," : "", label ? label : "?",
                shift ? (double)strtoll(shift, NULL, 10) * 1e-9 : 0.0);
    }
    fputc('\n', out);
}

static void header(FILE *out, const pw_trace *t, const pw_attribution *a)
{
    const pw_phase_node *root = &a->nodes[0];
    double total = pw_energy_total(t, root->incl_j), untagged = pw_energy_total(t, root->self_j);
    fputs("phasewatt report\n", out);
    /* sensor.*: the model's figures, said by "sensor"; merge.*: said by print_merged */
    for (size_t i = 0; i < t->nmeta; i++)
        if (strncmp(t->meta[i].key, "sensor.", 7) && strncmp(t->meta[i].key, "merge.", 6))
            print_field(out, t->meta[i].key, t->meta[i].value);
    print_merged(out, t);
    print_sources(out, t);
    print_samples(out, t);
    fprintf(out, "  %-12s %.3f s\n", "duration", a->run_s);
    fprintf(out, "  %-12s %.3f J, mean %.3f W (%s)\n", "energy", total,
            a->run_s > 0 ? total / a->run_s : 0.0, pw_report_provenance(t));
    fprintf(out, "  %-12s %.3f J (%.1f %%) while no phase was open\n", "untagged", untagged,
            total > 0 ? 100.0 * untagged / total : 0.0);
    pw_report_warnings(t, a, print_warning, out);
}

/* ---- the tables --------------------------------------------------------------------------- */

static int measure_row(const pw_row *r, void *ctx)
{
    text_ctx *c = ctx;
    char label[PW_MAX_NAME + 2 * PW_MAX_DEPTH + 16];
    phase_label(r, label, sizeof label);
    int w = pw_text_width(label);
    if (w > c->phase_w) c->phase_w = w > PHASE_MAX ? PHASE_MAX : w;
    return 0;
}

static void phase_cell(const text_ctx *c, const pw_row *r)
{
    char label[PW_MAX_NAME + 2 * PW_MAX_DEPTH + 16];
    phase_label(r, label, sizeof label);
    pw_text_cell(c->out, label, c->phase_w);
}

static void power_title(const text_ctx *c)
{
    fputc('\n', c->out);
    pw_text_cell(c->out, "phase", c->phase_w);
    fprintf(c->out, "%6s%8s%10s%9s%8s%8s%8s  %s\n", "calls", "time s", "energy J", "± J",
            "share %", "mean W", "peak W", "provenance");
}

static int power_row(const pw_row *r, void *ctx)
{
    const text_ctx *c = ctx;
    phase_cell(c, r);
    pw_text_num(c->out, r->node->depth ? (double)r->node->calls : NAN, 6, 0);
    pw_text_num(c->out, r->node->duration_s, 8, 3);
    pw_text_num(c->out, r->energy_j, 10, 3);
    pw_text_num(c->out, r->ci_j, 8, 3);
    pw_text_num(c->out, 100.0 * r->share, 8, 1);
    pw_text_num(c->out, r->mean_w, 8, 2);
    pw_text_num(c->out, r->node->peak_w, 8, 2);
    fprintf(c->out, "  %s\n", r->provenance);
    return 0;
}

static void energy_title(const text_ctx *c)
{
    fputc('\n', c->out);
    pw_text_cell(c->out, "phase", c->phase_w);
    for (size_t k = 0; k < c->kinds.n; k++)
        fprintf(c->out, "%9s J", pw_kind_name(c->kinds.kind[k]));
    fprintf(c->out, "%9s%10s", "tokens", "J/token");
    if (c->truth) fprintf(c->out, "%11s%8s", "true J", "err %");
    fputc('\n', c->out);
}

static int energy_row(const pw_row *r, void *ctx)
{
    const text_ctx *c = ctx;
    phase_cell(c, r);
    for (size_t k = 0; k < c->kinds.n; k++) pw_text_num(c->out, r->kind_j[c->kinds.kind[k]], 11, 3);
    pw_text_num(c->out, r->node->tokens_incl != 0 ? r->node->tokens_incl : NAN, 9, 0);
    pw_text_num(c->out, r->j_per_token, 10, 4);
    if (c->truth) {
        pw_text_num(c->out, r->true_j, 11, 3);
        pw_text_num(c->out, 100.0 * r->err, 8, 2);
    }
    fputc('\n', c->out);
    return 0;
}

int pw_report_text(FILE *out, const pw_trace *t, const pw_attribution *a,
                   const pw_report_opts *o)
{
    if (!out || !t || !a || a->nnodes == 0) return PW_ERR_INVALID;
    text_ctx c = {.out = out, .phase_w = PHASE_MIN, .truth = pw_report_has_truth(t)};
    pw_report_kinds(t, &c.kinds);
    header(out, t, a);
    pw_report_walk(t, a, o, measure_row, &c);
    power_title(&c);
    pw_report_walk(t, a, o, power_row, &c);
    energy_title(&c);
    pw_report_walk(t, a, o, energy_row, &c);
    pw_report_requests_text(out, t, a);
    return pw_report_finish(out);
}
