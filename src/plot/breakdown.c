/* breakdown.c — where the energy went: stacked bars per phase by domain kind, the icicle of
 * prefill's and decode's sub-phases, and several runs side by side. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/charts.h"
#include "report/common.h"

#define LABEL_W 170               /* phase names, left of the bars */
#define FIGURES_W 300             /* J · W · share · J/token, right of the bars */
#define ROW_H 22

static void tooltip_open(FILE *out, const char *path)
{
    fputs("<title>", out);
    pw_svg_text(out, *path ? path : "whole run");
}

/* "12.3 J · 4.56 W · 23.4% · 1.20 mJ/token" */
static void figures_text(const pw_row *r, char *buf, size_t cap)
{
    char j[72], w[32], jt[48] = "";
    pw_si(j, sizeof j, r->energy_j, "J");
    if (isfinite(r->ci_j)) {
        char ci[32];
        pw_si(ci, sizeof ci, r->ci_j, "J");
        size_t n = strlen(j);
        snprintf(j + n, sizeof j - n, " ± %s", ci);
    }
    pw_si(w, sizeof w, r->mean_w, "W");
    if (isfinite(r->j_per_token)) {
        char v[32];
        pw_si(v, sizeof v, r->j_per_token, "J/token");
        snprintf(jt, sizeof jt, " · %s", v);
    }
    snprintf(buf, cap, "%s · %s · %.1f%%%s", j, w, isfinite(r->share) ? r->share * 100 : 0.0, jt);
}

/* ---- energy per phase, stacked by kind ------------------------------------------------- */

typedef struct bar_layout {
    int x0, width;
    double max_j;
    pw_kinds kinds;
} bar_layout;

static void energy_row(FILE *out, const pw_plot_run *run, const bar_layout *L, size_t i, int y)
{
    pw_row r;
    pw_report_row(run->t, run->a, i, &r);
    const pw_phase_node *n = r.node;
    fprintf(out, "<text x=\"%d\" y=\"%d\" fill=\"#222\"%s>", 8 + 12 * (n->depth > 0 ? n->depth - 1 : 0),
            y + 15, n->depth <= 1 ? " font-weight=\"bold\"" : "");
    pw_svg_text(out, n->depth ? r.name : "whole run");
    fputs("</text>\n", out);
    double x = L->x0;
    for (size_t k = 0; k < L->kinds.n; k++) {
        pw_kind kind = L->kinds.kind[k];
        double w = L->max_j > 0 ? r.kind_j[kind] / L->max_j * L->width : 0;
        if (w <= 0) continue;
        char j[32];
        pw_si(j, sizeof j, r.kind_j[kind], "J");
        fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">",
                x, y + 3, w, ROW_H - 6, pw_plot_kind_colour(kind));
        tooltip_open(out, n->path);
        fprintf(out, ": %s %s (%s)</title></rect>\n", pw_kind_name(kind), j, r.provenance);
        x += w;
    }
    char text[160];
    figures_text(&r, text, sizeof text);
    fprintf(out, "<text x=\"%d\" y=\"%d\" fill=\"#333\">%s <tspan fill=\"#888\">%s</tspan></text>\n",
            L->x0 + L->width + 8, y + 15, text, r.provenance);
}

int pw_chart_energy(FILE *out, const pw_plot_run *run, int standalone)
{
    const pw_attribution *a = run->a;
    bar_layout L = {LABEL_W, PW_PLOT_WIDTH - LABEL_W - FIGURES_W, 0, {{0}, 0}};
    pw_report_kinds(run->t, &L.kinds);
    size_t rows = 0;
    for (size_t i = 0; i < a->nnodes; i++)
        if (a->nodes[i].depth <= 2) {
            rows++;
            L.max_j = fmax(L.max_j, pw_energy_total(run->t, a->nodes[i].incl_j));
        }
    int height = 40 + (int)rows * ROW_H + 30;
    pw_svg_open(out, standalone, "energy", height, "Energy per phase, by domain kind");
    int x = L.x0;
    for (size_t k = 0; k < L.kinds.n; k++, x += 90)
        fprintf(out, "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                "<text x=\"%d\" y=\"17\" fill=\"#333\">%s</text>\n", x,
                pw_plot_kind_colour(L.kinds.kind[k]), x + 14, pw_kind_name(L.kinds.kind[k]));
    fprintf(out, "<text x=\"%d\" y=\"17\" fill=\"#555\">energy · mean power · share · J/token</text>\n",
            L.x0 + L.width + 8);
    int y = 28;
    for (size_t i = 0; i < a->nnodes; i++)
        if (a->nodes[i].depth <= 2) {
            energy_row(out, run, &L, i, y);
            y += ROW_H;
        }
    return pw_svg_finish(out, run, height);
}

/* ---- icicle: a phase, its children below it, widths by inclusive energy -------------- */

#define ICICLE_ROW 24
#define ICICLE_DEPTH 3

typedef struct icicle {
    FILE *out;
    const pw_plot_run *run;
    double root_j;
    int y0;
} icicle;

static void icicle_node(const icicle *I, size_t i, double x, double w, int level)
{
    const pw_phase_node *n = &I->run->a->nodes[i];
    double j = pw_energy_total(I->run->t, n->incl_j);
    int y = I->y0 + level * ICICLE_ROW;
    const char *slash = strrchr(n->path, '/');
    const char *name = slash ? slash + 1 : n->path;
    char e[32];
    pw_si(e, sizeof e, j, "J");
    fprintf(I->out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
            "stroke=\"#fff\">", x, y, w, ICICLE_ROW - 2, pw_plot_colour(n->name_id));
    tooltip_open(I->out, n->path);
    fprintf(I->out, ": %s, %.1f%% of its top phase</title></rect>\n",
            e, I->root_j > 0 ? j / I->root_j * 100 : 0.0);
    if (w > 60) {
        fprintf(I->out, "<text x=\"%.1f\" y=\"%d\" fill=\"#fff\" font-size=\"10\">", x + 4, y + 15);
        pw_svg_text(I->out, name);
        fprintf(I->out, " %.0f%%</text>\n", I->root_j > 0 ? j / I->root_j * 100 : 0.0);
    }
    if (level + 1 >= ICICLE_DEPTH || j <= 0) return;
    double cx = x;                  /* children left to right; the rest is the phase's self */
    for (size_t c = i + 1; c < I->run->a->nnodes; c++) {
        const pw_phase_node *child = &I->run->a->nodes[c];
        if (child->parent != (int32_t)i) continue;
        double cw = w * pw_energy_total(I->run->t, child->incl_j) / j;
        if (cw >= 0.5) icicle_node(I, c, cx, cw, level + 1);
        cx += cw;
    }
}

/* prefill and decode when the run has them, else every top-level phase (up to four). */
static size_t icicle_roots(const pw_attribution *a, size_t *roots)
{
    size_t n = 0;
    const char *wanted[] = {"prefill", "decode"};
    for (size_t w = 0; w < 2; w++) {
        int i = pw_attribution_find(a, wanted[w]);
        if (i >= 0) roots[n++] = (size_t)i;
    }
    for (size_t i = 1; i < a->nnodes && n == 0; i++)
        if (a->nodes[i].depth == 1)
            for (size_t k = i; k < a->nnodes && n < 4; k++)
                if (a->nodes[k].depth == 1) roots[n++] = k;
    return n;
}

int pw_chart_icicle(FILE *out, const pw_plot_run *run, int standalone)
{
    size_t roots[4];
    size_t n = icicle_roots(run->a, roots);
    int block = 18 + ICICLE_DEPTH * ICICLE_ROW + 10;
    int height = 10 + (int)(n ? n : 1) * block + 24;
    pw_svg_open(out, standalone, "icicle", height, "Sub-phase breakdown (icicle)");
    if (!n) fputs("<text x=\"64\" y=\"30\">No phases were tagged.</text>\n", out);
    for (size_t r = 0; r < n; r++) {
        int y = 10 + (int)r * block;
        icicle I = {out, run, pw_energy_total(run->t, run->a->nodes[roots[r]].incl_j), y + 18};
        pw_row row;
        pw_report_row(run->t, run->a, roots[r], &row);
        char text[160];
        figures_text(&row, text, sizeof text);
        fprintf(out, "<text x=\"8\" y=\"%d\" font-weight=\"bold\" fill=\"#222\">", y + 12);
        pw_svg_text(out, row.node->path);
        fprintf(out, "</text><text x=\"140\" y=\"%d\" fill=\"#555\">%s (%s)</text>\n", y + 12, text,
                row.provenance);
        icicle_node(&I, roots[r], 8, PW_PLOT_WIDTH - 16, 0);
    }
    return pw_svg_finish(out, run, height);
}

/* ---- several runs: energy per top-level phase and J/token, side by side ---------------- */

#define MAX_GROUPS 12

typedef struct groups {
    const char *path[MAX_GROUPS];
    size_t n;
} groups;

/* The union of the runs' top-level phases, in first-seen order, then the whole run. */
static void collect_groups(const pw_plot_run *runs, size_t nruns, groups *g)
{
    g->n = 0;
    for (size_t r = 0; r < nruns; r++)
        for (size_t i = 1; i < runs[r].a->nnodes && g->n < MAX_GROUPS - 1; i++) {
            const pw_phase_node *node = &runs[r].a->nodes[i];
            if (node->depth != 1) continue;
            size_t k = 0;
            while (k < g->n && strcmp(g->path[k], node->path)) k++;
            if (k == g->n) g->path[g->n++] = node->path;
        }
    g->path[g->n++] = "";
}

typedef double (*run_metric)(const pw_plot_run *run, const char *path);

static double metric_energy(const pw_plot_run *run, const char *path)
{
    int i = pw_attribution_find(run->a, path);
    return i < 0 ? NAN : pw_energy_total(run->t, run->a->nodes[i].incl_j);
}

static double metric_j_per_token(const pw_plot_run *run, const char *path)
{
    int i = pw_attribution_find(run->a, path);
    if (i < 0 || run->a->nodes[i].tokens_incl <= 0) return NAN;
    return pw_energy_total(run->t, run->a->nodes[i].incl_j) / run->a->nodes[i].tokens_incl;
}

/* One group of vertical bars per phase, one bar per run, over a shared value axis. */
static void grouped_bars(FILE *out, const pw_plot_run *runs, size_t nruns, const groups *g,
                         run_metric metric, const char *unit, const char *per, int y_top, int h)
{
    double max = 0;
    for (size_t p = 0; p < g->n; p++)
        for (size_t r = 0; r < nruns; r++) {
            double v = metric(&runs[r], g->path[p]);
            if (isfinite(v)) max = fmax(max, v);
        }
    double scale = h / (max > 0 ? max * 1.1 : 1);
    int y0 = y_top + h, plot_w = PW_PLOT_WIDTH - PW_PLOT_LEFT - PW_PLOT_RIGHT;
    pw_svg_value_axis(out, 0, max > 0 ? max * 1.1 : 1, PW_PLOT_LEFT, PW_PLOT_WIDTH - PW_PLOT_RIGHT,
                      y0, scale, unit);
    double group_w = (double)plot_w / (double)g->n, bar_w = fmin(40, group_w * 0.8 / (double)nruns);
    for (size_t p = 0; p < g->n; p++) {
        double gx = PW_PLOT_LEFT + group_w * (double)p + (group_w - bar_w * (double)nruns) / 2;
        for (size_t r = 0; r < nruns; r++) {
            double v = metric(&runs[r], g->path[p]);
            if (!isfinite(v)) continue;
            char label[32];
            pw_si(label, sizeof label, v, unit);
            fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>", gx + bar_w * (double)r, y0 - v * scale, bar_w - 2, v * scale,
                    pw_plot_colour(r));
            pw_svg_text(out, pw_plot_label(&runs[r]));
            fputs(" — ", out);
            pw_svg_text(out, *g->path[p] ? g->path[p] : "whole run");
            fprintf(out, ": %s%s (%s)</title></rect>\n", label, per, pw_report_provenance(runs[r].t));
        }
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#222\">",
                PW_PLOT_LEFT + group_w * ((double)p + 0.5), y0 + 14);
        pw_svg_text(out, *g->path[p] ? g->path[p] : "whole run");
        fputs("</text>\n", out);
    }
}

int pw_chart_compare(FILE *out, const pw_plot_run *runs, size_t nruns, int standalone)
{
    groups g;
    collect_groups(runs, nruns, &g);
    int height = 36 + 200 + 40 + 24 + 160 + 40 + 14 * (int)nruns + 10;
    pw_svg_open(out, standalone, "compare", height, "Runs side by side");
    int x = PW_PLOT_LEFT;
    for (size_t r = 0; r < nruns; r++) {
        const char *label = pw_plot_label(&runs[r]);
        fprintf(out, "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                "<text x=\"%d\" y=\"17\" fill=\"#333\">", x, pw_plot_colour(r), x + 14);
        pw_svg_text(out, label);
        fputs("</text>\n", out);
        x += 40 + 7 * (int)strlen(label);
    }
    fputs("<text x=\"8\" y=\"40\" font-weight=\"bold\">Energy per phase</text>\n", out);
    grouped_bars(out, runs, nruns, &g, metric_energy, "J", "", 50, 200);
    int y = 50 + 200 + 40;
    fprintf(out, "<text x=\"8\" y=\"%d\" font-weight=\"bold\">Energy per token (J/token)</text>\n", y);
    grouped_bars(out, runs, nruns, &g, metric_j_per_token, "J", "/token", y + 10, 160);
    y += 10 + 160 + 36;
    for (size_t r = 0; r < nruns; r++, y += 14) {
        char caption[1024], line[1100];
        pw_plot_provenance(&runs[r], caption, sizeof caption);
        snprintf(line, sizeof line, "%s: %s", pw_plot_label(&runs[r]), caption);
        pw_svg_caption(out, y, line);
    }
    pw_svg_close(out);
    return PW_OK;
}
