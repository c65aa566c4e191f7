/* compare.c — several runs side by side (`phasewatt compare`): per top-level phase and
 * component, time, energy, power, share, J/token and tokens/s, each run against the first. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/common.h"

#define COMPARE_DEPTH 2      /* top-level phases and their direct components */
#define LABEL_W 24
#define COL_MIN 12
#define COL_MAX 22

/* The union of phase paths down to COMPARE_DEPTH, in first-seen order over the runs. */
typedef struct path_set {
    char **path;             /* owned: at most COMPARE_DEPTH names each */
    int *depth;
    size_t n, cap;
} path_set;

static int path_index(const path_set *ps, const char *path)
{
    for (size_t i = 0; i < ps->n; i++)
        if (!strcmp(ps->path[i], path)) return (int)i;
    return -1;
}

static int path_add(path_set *ps, const char *path, int depth)
{
    if (path_index(ps, path) >= 0) return PW_OK;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 16;
        char **p = realloc(ps->path, cap * sizeof *p);
        if (!p) return PW_ERR_NOMEM;
        ps->path = p;
        int *d = realloc(ps->depth, cap * sizeof *d);
        if (!d) return PW_ERR_NOMEM;
        ps->depth = d;
        ps->cap = cap;
    }
    if (!(ps->path[ps->n] = strdup(path))) return PW_ERR_NOMEM;
    ps->depth[ps->n++] = depth;
    return PW_OK;
}

/* Children go right after their parent so each table reads as a tree. */
static int collect_paths(const pw_compare_run *runs, size_t nruns, path_set *ps)
{
    pw_path_buf buf = {0};
    int rc = PW_OK;
    for (size_t r = 0; r < nruns && rc == PW_OK; r++)
        for (size_t i = 0; i < runs[r].a->nnodes && rc == PW_OK; i++) {
            const pw_phase_node *n = &runs[r].a->nodes[i];
            if (n->depth > COMPARE_DEPTH) continue;
            const char *path = pw_node_path(runs[r].a, i, &buf);
            rc = path ? path_add(ps, path, n->depth) : PW_ERR_NOMEM;
        }
    pw_path_buf_free(&buf);
    return rc;
}

static void path_set_free(path_set *ps)
{
    for (size_t i = 0; i < ps->n; i++) free(ps->path[i]);
    free(ps->path);
    free(ps->depth);
}

/* ---- figures --------------------------------------------------------------------------- */

/* The row of a path in one run; 0 when the run has no such phase. */
static int row_of(const pw_compare_run *run, const char *path, pw_row *row)
{
    int node = pw_attribution_find(run->a, path);
    if (node < 0) return 0;
    pw_report_row(run->t, run->a, (size_t)node, row);
    return 1;
}

/* Energy of a component as a share of its parent's. */
static double share_of_parent(const pw_compare_run *run, const pw_row *r)
{
    const pw_phase_node *parent = &run->a->nodes[r->node->parent];
    double pj = pw_energy_total(run->t, parent->incl_j);
    return pj > 0 ? r->energy_j / pj : NAN;
}

/* Every figure, in the order each format lists them. */
typedef enum { M_ENERGY, M_DELTA, M_TIME, M_POWER, M_SHARE, M_JTOK, M_TOKS, M_SPLIT,
               NMETRICS } metric;

static const struct {
    const char *title;       /* the text table's heading */
    const char *key;         /* the JSON key and CSV column */
    int decimals;
} metric_info[NMETRICS] = {
    [M_ENERGY] = {"energy J", "energy_j", 3},
    [M_DELTA] = {"energy vs first run %", "energy_delta_pct", 1},
    [M_TIME] = {"time s", "duration_s", 3},
    [M_POWER] = {"mean power W", "mean_power_w", 2},
    [M_SHARE] = {"share of run energy %", "share_pct", 1},
    [M_JTOK] = {"J/token", "j_per_token", 4},
    [M_TOKS] = {"tokens/s", "tokens_per_s", 1},
    [M_SPLIT] = {"share of parent energy %", "share_of_parent_pct", 1},
};

/* One figure of one path in one run; NAN when it does not exist. */
static double figure(const pw_compare_run *runs, size_t r, const char *path, metric m)
{
    pw_row row, base;
    if (!row_of(&runs[r], path, &row)) return NAN;
    switch (m) {
    case M_ENERGY: return row.energy_j;
    case M_DELTA:
        if (!row_of(&runs[0], path, &base) || !(base.energy_j > 0)) return NAN;
        return 100.0 * (row.energy_j - base.energy_j) / base.energy_j;
    case M_TIME: return row.node->duration_s;
    case M_POWER: return row.mean_w;
    case M_SHARE: return 100.0 * row.share;
    case M_JTOK: return row.j_per_token;
    case M_TOKS: return row.tokens_per_s;
    case M_SPLIT: return row.node->depth >= 2 ? 100.0 * share_of_parent(&runs[r], &row) : NAN;
    case NMETRICS: break;
    }
    return NAN;
}

/* Which paths a metric's table lists. */
static int shows(const pw_compare_run *runs, size_t nruns, const path_set *ps, size_t p,
                 metric m)
{
    if (m == M_SPLIT) return ps->depth[p] == 2;
    if (m == M_JTOK || m == M_TOKS) {
        for (size_t r = 0; r < nruns; r++)
            if (isfinite(figure(runs, r, ps->path[p], m))) return 1;
        return 0;
    }
    return m == M_DELTA ? nruns > 1 : 1;
}

/* ---- run labels ------------------------------------------------------------------------ */

static const char *meta_or(const pw_trace *t, const char *key, const char *fallback)
{
    const char *v = pw_trace_meta(t, key);
    return v && *v ? v : fallback;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The architecture when the run says it, else the scenario's name, else the file name. */
static const char *run_label(const pw_compare_run *run)
{
    return meta_or(run->t, "model.arch", meta_or(run->t, "scenario", base_name(run->file)));
}

static double run_params(const pw_compare_run *run)
{
    const char *v = pw_trace_meta(run->t, "model.params");
    return v ? strtod(v, NULL) : NAN;
}

/* ---- text ------------------------------------------------------------------------------ */

typedef struct text_layout {
    FILE *out;
    int col_w;
} text_layout;

static void text_info_row(const text_layout *L, const pw_compare_run *runs, size_t nruns,
                          const char *what, const char *(*value)(const pw_compare_run *))
{
    pw_text_cell(L->out, what, LABEL_W);
    for (size_t r = 0; r < nruns; r++) {
        fputc(' ', L->out);
        pw_text_cell(L->out, value(&runs[r]), L->col_w - 1);
    }
    fputc('\n', L->out);
}

static const char *info_file(const pw_compare_run *r) { return base_name(r->file); }
static const char *info_sources(const pw_compare_run *r)
{
    return meta_or(r->t, "sources", meta_or(r->t, "source", "?"));
}
static const char *info_provenance(const pw_compare_run *r) { return pw_report_provenance(r->t); }

static void text_header(const text_layout *L, const pw_compare_run *runs, size_t nruns)
{
    fprintf(L->out, "phasewatt compare: %zu run%s, differences against the first\n\n", nruns,
            nruns == 1 ? "" : "s");
    text_info_row(L, runs, nruns, "run", run_label);
    text_info_row(L, runs, nruns, "  file", info_file);
    pw_text_cell(L->out, "  parameters (M)", LABEL_W);
    for (size_t r = 0; r < nruns; r++) pw_text_num(L->out, run_params(&runs[r]) / 1e6, L->col_w, 2);
    fputc('\n', L->out);
    text_info_row(L, runs, nruns, "  sources", info_sources);
    text_info_row(L, runs, nruns, "  provenance", info_provenance);
}

static void text_table(const text_layout *L, const pw_compare_run *runs, size_t nruns,
                       const path_set *ps, metric m)
{
    fprintf(L->out, "\n%s\n", metric_info[m].title);
    char label[64];
    for (size_t p = 0; p < ps->n; p++) {
        if (!shows(runs, nruns, ps, p, m)) continue;
        const char *slash = strrchr(ps->path[p], '/');
        if (m == M_SPLIT)   /* components without their parents above: name both */
            snprintf(label, sizeof label, "  %s", ps->path[p]);
        else
            snprintf(label, sizeof label, "%*s%s", 2 * ps->depth[p], "",
                     ps->depth[p] == 0 ? "(whole run)" : slash ? slash + 1 : ps->path[p]);
        pw_text_cell(L->out, label, LABEL_W);
        for (size_t r = 0; r < nruns; r++)
            pw_text_num(L->out, figure(runs, r, ps->path[p], m), L->col_w,
                        metric_info[m].decimals);
        fputc('\n', L->out);
    }
}

static int column_width(const pw_compare_run *runs, size_t nruns)
{
    int w = COL_MIN;
    for (size_t r = 0; r < nruns; r++) {
        int lw = pw_text_width(run_label(&runs[r])) + 2;
        if (lw > w) w = lw;
    }
    return w > COL_MAX ? COL_MAX : w;
}

static void text_estimated_warning(FILE *out, const pw_compare_run *runs, size_t nruns)
{
    int any = 0;
    for (size_t r = 0; r < nruns; r++) {
        if (strcmp(pw_report_provenance(runs[r].t), "estimated")) continue;
        fprintf(out, "%s%s", any ? ", " : "\nwarning: ESTIMATED (modelled, not measured): ",
                run_label(&runs[r]));
        any = 1;
    }
    if (any) fputs(" -- compare their shape, not their joules\n", out);
}


int pw_report_compare_text(FILE *out, const pw_compare_run *runs, size_t nruns)
{
    path_set ps = {0};
    int rc = collect_paths(runs, nruns, &ps);
    if (rc == PW_OK) {
        text_layout L = {out, column_width(runs, nruns)};
        text_header(&L, runs, nruns);
        for (int m = 0; m < NMETRICS; m++) text_table(&L, runs, nruns, &ps, (metric)m);
        text_estimated_warning(out, runs, nruns);
    }
    path_set_free(&ps);
    return rc == PW_OK ? pw_report_finish(out) : rc;
}

/* ---- JSON and CSV ---------------------------------------------------------------------- */


static void json_run(FILE *out, const pw_compare_run *runs, size_t r, const path_set *ps)
{
    fputs("{\"label\":", out);
    pw_json_string(out, run_label(&runs[r]));
    fputs(",\"file\":", out);
    pw_json_string(out, runs[r].file);
    fputs(",\"params\":", out);
    pw_json_number(out, run_params(&runs[r]));
    fputs(",\"sources\":", out);
    pw_json_string(out, info_sources(&runs[r]));
    fputs(",\"provenance\":", out);
    pw_json_string(out, pw_report_provenance(runs[r].t));
    fputs(",\"phases\":[", out);
    int first = 1;
    for (size_t p = 0; p < ps->n; p++) {
        pw_row row;
        if (!row_of(&runs[r], ps->path[p], &row)) continue;
        fputs(first ? "{\"path\":" : ",{\"path\":", out);
        first = 0;
        pw_json_string(out, ps->path[p]);
        fprintf(out, ",\"calls\":%llu,\"provenance\":\"%s\",\"uncertainty_j\":",
                (unsigned long long)row.node->calls, row.provenance);
        pw_json_number(out, row.ci_j);
        fputs(",\"tokens\":", out);
        pw_json_number(out, row.node->tokens_incl);
        for (int m = 0; m < NMETRICS; m++) {
            fprintf(out, ",\"%s\":", metric_info[m].key);
            pw_json_number(out, figure(runs, r, ps->path[p], (metric)m));
        }
        fputc('}', out);
    }
    fputs("]}", out);
}

int pw_report_compare_json(FILE *out, const pw_compare_run *runs, size_t nruns)
{
    path_set ps = {0};
    int rc = collect_paths(runs, nruns, &ps);
    if (rc == PW_OK) {
        fputs("{\"baseline\":0,\"runs\":[", out);
        for (size_t r = 0; r < nruns; r++) {
            if (r) fputc(',', out);
            json_run(out, runs, r, &ps);
        }
        fputs("]}\n", out);
    }
    path_set_free(&ps);
    return rc == PW_OK ? pw_report_finish(out) : rc;
}

/* Long format: one row per run and phase, ready for a data frame. */
int pw_report_compare_csv(FILE *out, const pw_compare_run *runs, size_t nruns)
{
    path_set ps = {0};
    int rc = collect_paths(runs, nruns, &ps);
    if (rc == PW_OK) {
        fputs("run,label,file,params,provenance,path,depth,calls,tokens", out);
        for (int m = 0; m < NMETRICS; m++) fprintf(out, ",%s", metric_info[m].key);
        fputc('\n', out);
    }
    for (size_t r = 0; rc == PW_OK && r < nruns; r++)
        for (size_t p = 0; p < ps.n; p++) {
            pw_row row;
            if (!row_of(&runs[r], ps.path[p], &row)) continue;
            fprintf(out, "%zu,", r);
            pw_csv_field(out, run_label(&runs[r]));
            fputc(',', out);
            pw_csv_field(out, runs[r].file);
            fputc(',', out);
            pw_csv_number(out, run_params(&runs[r]));
            fprintf(out, ",%s,", row.provenance);
            pw_csv_field(out, ps.path[p]);
            fprintf(out, ",%d,%llu,", ps.depth[p], (unsigned long long)row.node->calls);
            pw_csv_number(out, row.node->tokens_incl);
            for (int m = 0; m < NMETRICS; m++) {
                fputc(',', out);
                pw_csv_number(out, figure(runs, r, ps.path[p], (metric)m));
            }
            fputc('\n', out);
        }
    path_set_free(&ps);
    return rc == PW_OK ? pw_report_finish(out) : rc;
}
