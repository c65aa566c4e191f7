/* breakdown.c — where the energy went: stacked bars per phase by domain kind, the icicle of
 * prefill's and decode's sub-phases, and several runs side by side. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/charts.h"
#include "report/common.h"

#define LABEL_W 170               /* phase names, left of the bars */
#define FIGURES_MIN_W 300         /* J · W · share · J/token, right of the bars: at least this, */
#define FIGURES_MAX_W 520         /* wider when the figures need it, never more than this */
#define ROW_H 22
#define MAX_ROWS 60               /* phases in the energy chart (depth-first, top two levels) */
#define FONT 11

/* Opens node i's tooltip with its path (its name alone if the path cannot be built). */
static void tooltip_open(FILE *out, const pw_attribution *a, size_t i)
{
    pw_path_buf buf = {0};
    const char *path = i ? pw_node_path(a, i, &buf) : "whole run";
    fputs("<title>", out);
    pw_svg_text(out, path ? path : a->nodes[i].name);
    pw_path_buf_free(&buf);
}

/* "12.3 J ± 1.1 J · 4.56 W · 23.4% · 1.20 mJ/token": an energy not observed (NAN) shows
 * no number, and neither do the figures made from it. */
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
    char share[16] = "-";
    if (isfinite(r->share)) snprintf(share, sizeof share, "%.1f%%", r->share * 100);
    snprintf(buf, cap, "%s · %s · %s%s", j, w, share, jt);
}

/* The figures and, in grey, the provenance label of a row: what sits right of a bar. */
static double figures_px(const pw_row *r)
{
    char text[160];
    figures_text(r, text, sizeof text);
    return pw_svg_text_px(text, FONT) + pw_svg_text_px(" ", FONT) + pw_svg_text_px(r->provenance, FONT);
}

static void figures_draw(FILE *out, const pw_row *r, int x, int y, double max_px)
{
    char text[160];
    figures_text(r, text, sizeof text);
    fprintf(out, "<text x=\"%d\" y=\"%d\" fill=\"#333\">", x, y);
    pw_svg_text_fit(out, text, max_px, FONT);
    double left = max_px - pw_svg_text_px(text, FONT) - pw_svg_text_px(" ", FONT);
    if (left > 0) {
        fputs(" <tspan fill=\"#888\">", out);
        pw_svg_text_fit(out, r->provenance, left, FONT);
        fputs("</tspan>", out);
    }
    fputs("</text>\n", out);
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
    int indent = 8 + 12 * (n->depth > 0 ? n->depth - 1 : 0);
    fprintf(out, "<text x=\"%d\" y=\"%d\" fill=\"#222\"%s>", indent, y + 15,
            n->depth <= 1 ? " font-weight=\"bold\"" : "");
    /* bold runs wider than the estimate: keep a margin */
    pw_svg_text_fit(out, n->depth ? r.name : "whole run", (L->x0 - 6 - indent) * 0.9, FONT);
    fputs("</text>\n", out);
    double x = L->x0;
    for (size_t k = 0; k < L->kinds.n; k++) {
        pw_kind kind = L->kinds.kind[k];
        double w = L->max_j > 0 ? r.kind_j[kind] / L->max_j * L->width : 0;
        if (!(w > 0)) continue;              /* nothing, or not observed */
        char j[32];
        pw_si(j, sizeof j, r.kind_j[kind], "J");
        fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">",
                x, y + 3, w, ROW_H - 6, pw_plot_kind_colour(kind));
        tooltip_open(out, run->a, i);
        fprintf(out, ": %s %s (%s)</title></rect>\n", pw_kind_name(kind), j, r.provenance);
        x += w;
    }
    figures_draw(out, &r, L->x0 + L->width + 8, y + 15, PW_PLOT_WIDTH - PW_PLOT_RIGHT - (L->x0 + L->width + 8));
}

/* The nodes the energy chart lists: the top two levels, depth-first, up to MAX_ROWS. */
static int energy_listed(const pw_phase_node *n) { return n->depth <= 2; }

int pw_chart_energy(FILE *out, const pw_plot_run *run, int standalone)
{
    const pw_attribution *a = run->a;
    bar_layout L = {LABEL_W, 0, 0, {{0}, 0}};
    pw_report_kinds(run->t, &L.kinds);
    size_t rows = 0;
    static const char header[] = "energy · mean power · share · J/token · provenance";
    double figures_w = fmax(FIGURES_MIN_W - 8, pw_svg_text_px(header, FONT));
    for (size_t i = 0; i < a->nnodes && rows < MAX_ROWS; i++)
        if (energy_listed(&a->nodes[i])) {
            pw_row r;
            pw_report_row(run->t, a, i, &r);
            rows++;
            L.max_j = fmax(L.max_j, r.energy_j);
            figures_w = fmax(figures_w, figures_px(&r));
        }
    /* the bars give way to the figures, so no figure runs off the chart */
    L.width = PW_PLOT_WIDTH - LABEL_W - (int)ceil(fmin(figures_w, FIGURES_MAX_W - 8)) - 8 - PW_PLOT_RIGHT;
    int height = 40 + (int)rows * ROW_H + 6 + pw_plot_caption_room(run);
    char id[32];
    pw_plot_id(run, "energy", id, sizeof id);
    pw_svg_open(out, standalone, id, height, "Energy per phase, by domain kind");
    int x = L.x0;
    for (size_t k = 0; k < L.kinds.n; k++, x += 90)
        fprintf(out, "<rect x=\"%d\" y=\"8\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                "<text x=\"%d\" y=\"17\" fill=\"#333\">%s</text>\n", x,
                pw_plot_kind_colour(L.kinds.kind[k]), x + 14, pw_kind_name(L.kinds.kind[k]));
    fprintf(out, "<text x=\"%d\" y=\"17\" fill=\"#555\">", L.x0 + L.width + 8);
    pw_svg_text_fit(out, header, PW_PLOT_WIDTH - PW_PLOT_RIGHT - (L.x0 + L.width + 8), FONT);
    fputs("</text>\n", out);
    int y = 28;
    size_t drawn = 0;
    for (size_t i = 0; i < a->nnodes && drawn < MAX_ROWS; i++)
        if (energy_listed(&a->nodes[i])) {
            energy_row(out, run, &L, i, y);
            y += ROW_H;
            drawn++;
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
    const char *name = n->name;
    pw_row row;
    char figures[160];
    pw_report_row(I->run->t, I->run->a, i, &row);
    figures_text(&row, figures, sizeof figures);
    fprintf(I->out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\" "
            "stroke=\"#fff\">", x, y, w, ICICLE_ROW - 2, pw_plot_colour(n->name_id));
    tooltip_open(I->out, I->run->a, i);
    char share[16] = "-";
    if (I->root_j > 0 && isfinite(j)) snprintf(share, sizeof share, "%.1f%%", j / I->root_j * 100);
    fprintf(I->out, ": %s (%s), %s of its top phase</title></rect>\n", figures, row.provenance, share);
    if (w > 60) {
        char label[160];
        snprintf(label, sizeof label, "%s %s", name, share);
        fprintf(I->out, "<text x=\"%.1f\" y=\"%d\" fill=\"#fff\" font-size=\"10\">", x + 4, y + 15);
        pw_svg_text_fit(I->out, label, w - 8, 10);
        fputs("</text>\n", I->out);
    }
    if (level + 1 >= ICICLE_DEPTH || !(j > 0)) return;
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
    int height = 10 + (int)(n ? n : 1) * block + pw_plot_caption_room(run);
    char id[32];
    pw_plot_id(run, "icicle", id, sizeof id);
    pw_svg_open(out, standalone, id, height, "Sub-phase breakdown (icicle)");
    if (!n) fputs("<text x=\"64\" y=\"30\">No phases were tagged.</text>\n", out);
    for (size_t r = 0; r < n; r++) {
        int y = 10 + (int)r * block;
        icicle I = {out, run, pw_energy_total(run->t, run->a->nodes[roots[r]].incl_j), y + 18};
        pw_row row;
        pw_report_row(run->t, run->a, roots[r], &row);
        fprintf(out, "<text x=\"8\" y=\"%d\" font-weight=\"bold\" fill=\"#222\">", y + 12);
        pw_svg_text_fit(out, row.node->name, 110, FONT);   /* a top-level phase: its path */
        fputs("</text>\n", out);
        figures_draw(out, &row, 140, y + 12, PW_PLOT_WIDTH - PW_PLOT_RIGHT - 140);
        icicle_node(&I, roots[r], 8, PW_PLOT_WIDTH - 16, 0);
    }
    return pw_svg_finish(out, run, height);
}

/* ---- several runs: energy per top-level phase and J/token, side by side ---------------- */

#define MAX_GROUPS 12

typedef struct groups {
    const char *path[MAX_GROUPS];   /* top-level phases: their names, borrowed from the runs */
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
            while (k < g->n && strcmp(g->path[k], node->name)) k++;
            if (k == g->n) g->path[g->n++] = node->name;
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
            pw_row row;
            char figures[160];
            pw_report_row(runs[r].t, runs[r].a, (size_t)pw_attribution_find(runs[r].a, g->path[p]), &row);
            figures_text(&row, figures, sizeof figures);
            fprintf(out, ": %s%s — %s (%s)</title></rect>\n", label, per, figures, row.provenance);
        }
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#222\">",
                PW_PLOT_LEFT + group_w * ((double)p + 0.5), y0 + 14);
        pw_svg_text_fit(out, *g->path[p] ? g->path[p] : "whole run", group_w - 6, FONT);
        fputs("</text>\n", out);
    }
}

/* The runs' legend, wrapped into rows; draws when out is not NULL; returns the rows. */
static int compare_legend(FILE *out, const pw_plot_run *runs, size_t nruns)
{
    int x = PW_PLOT_LEFT, y = 17, rows = 1;
    for (size_t r = 0; r < nruns; r++) {
        const char *label = pw_plot_label(&runs[r]);
        int w = 14 + (int)ceil(fmin(pw_svg_text_px(label, FONT), 300 + FONT)) + 20;
        if (x > PW_PLOT_LEFT && x + w > PW_PLOT_WIDTH - PW_PLOT_RIGHT) {
            x = PW_PLOT_LEFT;
            y += 14;
            rows++;
        }
        if (out) {
            fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                    "<text x=\"%d\" y=\"%d\" fill=\"#333\">", x, y - 9, pw_plot_colour(r), x + 14, y);
            pw_svg_text_fit(out, label, 300, FONT);
            fputs("</text>\n", out);
        }
        x += w;
    }
    return rows;
}

static void run_caption(const pw_plot_run *run, char *line, size_t cap)
{
    char caption[1024];
    pw_plot_provenance(run, caption, sizeof caption);
    snprintf(line, cap, "%s: %s", pw_plot_label(run), caption);
}

int pw_chart_compare(FILE *out, const pw_plot_run *runs, size_t nruns, int standalone)
{
    groups g;
    collect_groups(runs, nruns, &g);
    int legend_h = 14 * (compare_legend(NULL, runs, nruns) - 1), captions = 0;
    for (size_t r = 0; r < nruns; r++) {
        char line[1100];
        run_caption(&runs[r], line, sizeof line);
        captions += pw_svg_caption_lines(line);
    }
    int height = legend_h + 36 + 200 + 40 + 24 + 160 + 40 + PW_CAPTION_LINE * captions + 10;
    pw_svg_open(out, standalone, "compare", height, "Runs side by side");
    compare_legend(out, runs, nruns);
    int y = legend_h + 40;
    fprintf(out, "<text x=\"8\" y=\"%d\" font-weight=\"bold\">Energy per phase</text>\n", y);
    grouped_bars(out, runs, nruns, &g, metric_energy, "J", "", y + 10, 200);
    y += 10 + 200 + 40;
    fprintf(out, "<text x=\"8\" y=\"%d\" font-weight=\"bold\">Energy per token (J/token)</text>\n", y);
    grouped_bars(out, runs, nruns, &g, metric_j_per_token, "J", "/token", y + 10, 160);
    y += 10 + 160 + 36;
    for (size_t r = 0; r < nruns; r++) {
        char line[1100];
        run_caption(&runs[r], line, sizeof line);
        pw_svg_caption(out, y, line);
        y += PW_CAPTION_LINE * pw_svg_caption_lines(line);
    }
    pw_svg_close(out);
    return PW_OK;
}

/* ---- what the charts leave out ---------------------------------------------------------- */

void pw_breakdown_omissions(const pw_plot_run *run, pw_plot_note_fn fn, void *ctx)
{
    size_t listed = 0;
    for (size_t i = 0; i < run->a->nnodes; i++) listed += energy_listed(&run->a->nodes[i]);
    if (listed <= MAX_ROWS) return;
    char msg[256];
    snprintf(msg, sizeof msg, "energy per phase lists the first %d of %zu phases of the top two "
             "levels (phasewatt report lists them all)", MAX_ROWS, listed);
    fn(msg, ctx);
}

void pw_compare_omissions(const pw_plot_run *runs, size_t nruns, pw_plot_note_fn fn, void *ctx)
{
    groups g;
    collect_groups(runs, nruns, &g);
    size_t left_out = 0;
    for (size_t r = 0; r < nruns; r++)
        for (size_t i = 1; i < runs[r].a->nnodes; i++) {
            if (runs[r].a->nodes[i].depth != 1) continue;
            size_t k = 0;
            while (k < g.n && strcmp(g.path[k], runs[r].a->nodes[i].name)) k++;
            left_out += k == g.n;
        }
    if (!left_out) return;
    char msg[256];
    snprintf(msg, sizeof msg, "runs side by side compare the first %d top-level phases; %zu "
             "more (counted once per run) are left out", MAX_GROUPS - 1, left_out);
    fn(msg, ctx);
}

void pw_plot_id(const pw_plot_run *run, const char *base, char *buf, size_t cap)
{
    if (run->page_index == 0) snprintf(buf, cap, "%s", base);
    else snprintf(buf, cap, "%s-%zu", base, run->page_index + 1);
}
