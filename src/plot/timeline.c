/* timeline.c — the power-over-time chart: one line per top-level domain (the MAX_LINES with
 * the most energy) and the total, min/max per pixel column, phases as bands behind it and as
 * lanes of nested spans under it. Everything is reduced to pixel columns first, so a 1-hour
 * 1 kHz run draws as fast and as small as a 1-second one, and 10 000 domains as small as 8. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "export/export.h"
#include "plot/charts.h"

#define NCOL (PW_PLOT_WIDTH - PW_PLOT_LEFT - PW_PLOT_RIGHT)
#define POWER_H 220
#define LANE_H 13
#define MAX_LANE_TRACKS 6
#define MAX_LANE_DEPTH 4
#define MAX_LINES 8                /* domains drawn as lines; the total sums every domain */
#define LEGEND_ROW 14
#define LEGEND_NAME_PX 160.0       /* longer domain names are cut in the legend */

typedef struct span_time {
    uint64_t t0, t1;           /* the run's first and last sample */
} span_time;

static double col_x(int c) { return PW_PLOT_LEFT + c; }

/* ---- a lane reduced to pixel columns: the span covering most of each column wins ------- */

typedef struct raster {
    uint32_t id[NCOL];
    double cover[NCOL];
} raster;

static void raster_add(raster *r, const span_time *T, uint64_t a, uint64_t b, uint32_t id)
{
    double w = (double)(T->t1 - T->t0) / NCOL;
    if (b <= T->t0 || a >= T->t1 || b <= a) return;
    double fa = (double)((a > T->t0 ? a : T->t0) - T->t0) / w;
    double fb = (double)((b < T->t1 ? b : T->t1) - T->t0) / w;
    for (int c = (int)fa; c < NCOL && c < fb; c++) {
        double cover = fmin(fb, c + 1) - fmax(fa, c);
        if (cover > r->cover[c]) {
            r->cover[c] = cover;
            r->id[c] = id;
        }
    }
}

/* One rect per run of columns with the same id; name_of gives its tooltip and colour. */
static void raster_draw(FILE *out, const raster *r, int y, int h, const char *opacity,
                        const pw_plot_run *run, uint32_t (*name_of)(const pw_plot_run *, uint32_t),
                        int labelled)
{
    for (int c = 0; c < NCOL;) {
        int e = c + 1;
        while (e < NCOL && r->id[e] == r->id[c]) e++;
        if (r->id[c]) {
            uint32_t name = name_of(run, r->id[c]);
            const char *text = pw_trace_name(run->t, name);
            fprintf(out, "<rect x=\"%.0f\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                    "fill-opacity=\"%s\"><title>", col_x(c), y, e - c, h, pw_plot_colour(name),
                    opacity);
            pw_svg_text(out, text ? text : "?");
            fputs("</title></rect>\n", out);
            if (labelled && e - c > pw_svg_text_px(text ? text : "?", 9) + 6) {
                fprintf(out, "<text class=\"lane-label\" x=\"%.0f\" y=\"%d\" fill=\"#fff\" "
                        "font-size=\"9\">", col_x(c) + 3, y + h - 3);
                pw_svg_text(out, text ? text : "?");
                fputs("</text>\n", out);
            }
        }
        c = e;
    }
}

static uint32_t name_itself(const pw_plot_run *run, uint32_t id) { return id; }
static uint32_t node_name(const pw_plot_run *run, uint32_t node) { return run->a->nodes[node - 1].name_id; }

/* ---- power per column ----------------------------------------------------------------- */

typedef struct power_columns {
    size_t nlines;             /* top-level domains, then the total when there are several */
    size_t *domain;            /* [nlines] domain index, or SIZE_MAX for the total */
    double *mean, *lo, *hi;    /* [nlines * NCOL] W */
    double top;                /* highest value drawn */
} power_columns;

static void columns_free(power_columns *p)
{
    free(p->domain);
    free(p->mean);
    free(p->lo);
    free(p->hi);
}

/* Mean power per column from the cumulative energy at the column edges: exact, whatever
 * the sampling rate. */
static void column_means(const pw_trace *t, const span_time *T, size_t d, double *mean)
{
    const pw_domain_desc *dom = &t->domains[d];
    const pw_series *se = &t->series[dom->source];
    pw_series_cursor cur = {se, 0};
    size_t k = d - se->first_domain;
    double w_s = (double)(T->t1 - T->t0) / NCOL * 1e-9;
    double before = pw_series_energy_at(&cur, k, T->t0);
    for (int c = 0; c < NCOL; c++) {
        uint64_t edge = T->t0 + (uint64_t)((double)(T->t1 - T->t0) * (c + 1) / NCOL);
        double after = pw_series_energy_at(&cur, k, edge);
        mean[c] = (after - before) * 1e-6 / w_s;
        before = after;
    }
}

/* The lowest and highest interval power touching each column. */
static void column_extremes(const pw_trace *t, const span_time *T, size_t d, double *lo,
                            double *hi, double *watts)
{
    const pw_domain_desc *dom = &t->domains[d];
    const pw_series *se = &t->series[dom->source];
    double w = (double)(T->t1 - T->t0) / NCOL;
    for (int c = 0; c < NCOL; c++) {
        lo[c] = INFINITY;
        hi[c] = -INFINITY;
    }
    for (size_t i = 1; i < se->n; i++) {
        if (!pw_export_interval_watts(t, dom->source, i, watts)) continue;
        double v = watts[d - se->first_domain];
        double fa = ((double)se->t_ns[i - 1] - (double)T->t0) / w;
        double fb = ((double)se->t_ns[i] - (double)T->t0) / w;
        for (int c = fa < 0 ? 0 : (int)fa; c < NCOL && c < fb; c++) {
            lo[c] = fmin(lo[c], v);
            hi[c] = fmax(hi[c], v);
        }
    }
}

static double domain_energy(const pw_plot_run *run, size_t d)
{
    double j = d < run->a->ndomains ? run->a->domain_j[d] : NAN;
    return isfinite(j) ? j : -1;
}

/* The top-level domains drawn as lines: the MAX_LINES with the most energy (the earlier on a
 * tie), in trace order. Returns how many; *ntop is how many top-level domains there are. */
static size_t pick_domains(const pw_plot_run *run, size_t *pick, size_t *ntop)
{
    size_t n = 0;
    *ntop = 0;
    for (size_t d = 0; d < run->t->ndomains; d++) {
        if (!pw_trace_domain_is_top(run->t, d)) continue;
        (*ntop)++;
        if (n < MAX_LINES) {
            pick[n++] = d;
            continue;
        }
        size_t weakest = 0;
        for (size_t i = 1; i < n; i++)
            if (domain_energy(run, pick[i]) < domain_energy(run, pick[weakest])) weakest = i;
        if (domain_energy(run, d) > domain_energy(run, pick[weakest])) {
            memmove(pick + weakest, pick + weakest + 1, (n - weakest - 1) * sizeof *pick);
            pick[n - 1] = d;           /* still in trace order: d is the latest */
        }
    }
    return n;
}

static int power_columns_make(const pw_plot_run *run, const span_time *T, power_columns *p)
{
    const pw_trace *t = run->t;
    memset(p, 0, sizeof *p);
    size_t pick[MAX_LINES], ntop, widest = 1;
    size_t npick = pick_domains(run, pick, &ntop);
    for (size_t s = 0; s < t->nsources; s++)
        if (t->series[s].ndomains > widest) widest = t->series[s].ndomains;
    p->nlines = npick + (ntop > 1);
    p->domain = calloc(p->nlines + 1, sizeof *p->domain);
    p->mean = calloc(p->nlines * NCOL + 1, sizeof *p->mean);
    p->lo = calloc(p->nlines * NCOL + 1, sizeof *p->lo);
    p->hi = calloc(p->nlines * NCOL + 1, sizeof *p->hi);
    double *watts = calloc(widest, sizeof *watts), *scratch = calloc(NCOL, sizeof *scratch);
    if (!p->domain || !p->mean || !p->lo || !p->hi || !watts || !scratch) {
        free(watts);
        free(scratch);
        columns_free(p);
        return PW_ERR_NOMEM;
    }
    for (size_t line = 0; line < npick; line++) {
        p->domain[line] = pick[line];
        column_means(t, T, pick[line], p->mean + line * NCOL);
        column_extremes(t, T, pick[line], p->lo + line * NCOL, p->hi + line * NCOL, watts);
    }
    if (ntop > 1) {            /* the total: the sum of every top-level domain's means, no band */
        double *total = p->mean + npick * NCOL;
        p->domain[npick] = SIZE_MAX;
        for (size_t d = 0; d < t->ndomains; d++) {
            if (!pw_trace_domain_is_top(t, d)) continue;
            column_means(t, T, d, scratch);
            for (int c = 0; c < NCOL; c++) total[c] += scratch[c];
        }
    }
    for (size_t i = 0; i < p->nlines * NCOL; i++) {
        p->top = fmax(p->top, p->mean[i]);
        if (isfinite(p->hi[i]) && p->domain[i / NCOL] != SIZE_MAX) p->top = fmax(p->top, p->hi[i]);
    }
    free(watts);
    free(scratch);
    return PW_OK;
}

/* ---- drawing ------------------------------------------------------------------------------ */

static void time_axis(FILE *out, const span_time *T, int y)
{
    double span_s = (double)(T->t1 - T->t0) * 1e-9;
    double step = pw_nice_step(0, span_s, 8);
    fprintf(out, "<g class=\"taxis\" data-y=\"%d\">\n", y);
    /* NOLINTNEXTLINE(cert-flp30-c,clang-analyzer-security.FloatLoopCounter): a few ticks; the bound's slack absorbs rounding */
    for (double v = 0; v <= span_s + step * 1e-9; v += step) {
        char label[32];
        pw_si(label, sizeof label, v, "s");
        double x = PW_PLOT_LEFT + v / span_s * NCOL;
        /* a label centred on the last tick would cross the chart's right edge */
        int at_edge = x + pw_svg_text_px(label, 11) / 2 > PW_PLOT_WIDTH - 2;
        fprintf(out, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#999\"/>"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"%s\" fill=\"#555\">%s</text>\n",
                x, x, y, y + 4, x, y + 15, at_edge ? "end" : "middle", label);
    }
    fputs("</g>\n", out);
}

static double ypos(int y0, double scale, double v) { return y0 - v * scale; }

static void power_lines(FILE *out, const pw_trace *t, const power_columns *p, int y0,
                        double scale)
{
    for (size_t l = 0; l < p->nlines; l++) {
        const double *mean = p->mean + l * NCOL, *lo = p->lo + l * NCOL, *hi = p->hi + l * NCOL;
        int total = p->domain[l] == SIZE_MAX;
        const char *colour = total ? "#222" : pw_plot_colour(l);
        if (!total) {          /* min..max band: what a column's mean hides */
            fprintf(out, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"", colour);
            for (int c = 0; c < NCOL; c++)
                fprintf(out, "%.0f,%.1f ", col_x(c) + 0.5, ypos(y0, scale, isfinite(hi[c]) ? hi[c] : mean[c]));
            for (int c = NCOL - 1; c >= 0; c--)
                fprintf(out, "%.0f,%.1f ", col_x(c) + 0.5, ypos(y0, scale, isfinite(lo[c]) ? lo[c] : mean[c]));
            fputs("\"/>\n", out);
        }
        fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.4\"%s "
                "vector-effect=\"non-scaling-stroke\" points=\"", colour,
                total ? " stroke-dasharray=\"4 2\"" : "");
        for (int c = 0; c < NCOL; c++) fprintf(out, "%.0f,%.1f ", col_x(c) + 0.5, ypos(y0, scale, mean[c]));
        fputs("\"><title>", out);
        pw_svg_text(out, total ? "total" : t->domains[p->domain[l]].name);
        fputs("</title></polyline>\n", out);
    }
}

/* The legend, wrapped into rows across the chart: one entry per line, then what was left
 * out. Draws when out is not NULL; returns the rows it takes. */
static int legend(FILE *out, const pw_plot_run *run, const power_columns *p, size_t ntop, int y)
{
    int x = PW_PLOT_LEFT, rows = 1;
    size_t drawn = p->nlines - (p->domain[p->nlines - 1] == SIZE_MAX);
    for (size_t l = 0; l <= p->nlines; l++) {
        char more[64] = "";
        int total = l < p->nlines && p->domain[l] == SIZE_MAX;
        if (l == p->nlines && ntop > drawn)
            snprintf(more, sizeof more, "+%zu more domains in the total", ntop - drawn);
        else if (l == p->nlines) break;
        const char *name = l == p->nlines ? more : total ? "total" : run->t->domains[p->domain[l]].name;
        double text_w = fmin(pw_svg_text_px(name, 11), LEGEND_NAME_PX + 11);
        int w = 18 + (int)ceil(text_w) + 12;
        if (x > PW_PLOT_LEFT && x + w > PW_PLOT_WIDTH - PW_PLOT_RIGHT) {
            x = PW_PLOT_LEFT;
            y += LEGEND_ROW;
            rows++;
        }
        if (out && *more) {
            fprintf(out, "<text class=\"omitted\" x=\"%d\" y=\"%d\" fill=\"#777\">", x, y);
            pw_svg_text(out, more);
            fputs("</text>\n", out);
        } else if (out) {
            fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                    "<text x=\"%d\" y=\"%d\" fill=\"#333\">", x, y - 4,
                    total ? "#222" : pw_plot_colour(l), x + 18, y);
            pw_svg_text_fit(out, name, LEGEND_NAME_PX, 11);
            fputs("</text>\n", out);
        }
        x += w;
    }
    return rows;
}

/* Bands: each column takes the top-level phase that covers most of it, on any track. */
static void phase_bands(FILE *out, const pw_plot_run *run, const span_time *T, int y, int h)
{
    raster *r = calloc(1, sizeof *r);
    if (!r) return;
    const pw_attribution *a = run->a;
    for (size_t i = 0; i < a->nsegments; i++) {
        uint32_t n = a->segments[i].node;
        while (n && a->nodes[n].depth > 1) n = (uint32_t)a->nodes[n].parent;
        if (n) raster_add(r, T, a->segments[i].t0_ns, a->segments[i].t1_ns, n + 1);
    }
    raster_draw(out, r, y, h, "0.13", run, node_name, 0);
    free(r);
}

typedef struct lanes {
    raster lane[MAX_LANE_TRACKS][MAX_LANE_DEPTH];
    int depth[MAX_LANE_TRACKS];          /* deepest level seen per track */
    size_t track[MAX_LANE_TRACKS];
    int ntracks;
} lanes;

/* Replays each track's BEGIN/END into one raster per nesting level. */
static void lanes_fill(lanes *L, const pw_plot_run *run, const span_time *T)
{
    const pw_trace *t = run->t;
    for (size_t k = 0; k < t->ntracks && L->ntracks < MAX_LANE_TRACKS; k++) {
        const pw_track *tr = &t->tracks[k];
        uint64_t start[PW_MAX_DEPTH];
        uint32_t id[PW_MAX_DEPTH];
        int depth = 0, lane = L->ntracks;
        for (size_t e = 0; e < tr->n; e++) {
            const pw_event *ev = &tr->events[e];
            if (ev->type == PW_EV_BEGIN && depth < PW_MAX_DEPTH) {
                start[depth] = ev->t_ns;
                id[depth++] = ev->id;
            } else if (ev->type == PW_EV_END && depth > 0 && --depth < MAX_LANE_DEPTH) {
                raster_add(&L->lane[lane][depth], T, start[depth], ev->t_ns, id[depth]);
                if (depth + 1 > L->depth[lane]) L->depth[lane] = depth + 1;
            }
        }
        while (depth > 0)                /* left open: drawn to the end, as attributed */
            if (--depth < MAX_LANE_DEPTH) raster_add(&L->lane[lane][depth], T, start[depth], T->t1, id[depth]);
        if (L->depth[lane] > 0) L->track[L->ntracks++] = k;
    }
}

static int lanes_height(const lanes *L)
{
    int h = 0;
    for (int i = 0; i < L->ntracks; i++) h += 14 + L->depth[i] * LANE_H;
    return h;
}

/* Track names go outside the zoomed group so that zooming does not stretch them. */
static void lanes_draw(FILE *out, const lanes *L, const pw_plot_run *run, int y, int labels)
{
    for (int i = 0; i < L->ntracks; i++) {
        if (labels) {
            char label[80];
            pw_export_track_label(&run->t->tracks[L->track[i]], label, sizeof label);
            fprintf(out, "<text x=\"%d\" y=\"%d\" fill=\"#444\" font-size=\"10\">track: ",
                    PW_PLOT_LEFT, y + 10);
            pw_svg_text(out, label);
            fputs("</text>\n", out);
        }
        y += 14;
        for (int d = 0; d < L->depth[i]; d++, y += LANE_H)
            if (!labels) raster_draw(out, &L->lane[i][d], y, LANE_H - 1, "0.9", run, name_itself, 1);
    }
}

/* Total power per column, for the hover readout. */
static void readout_data(FILE *out, const power_columns *p)
{
    size_t l = p->nlines - 1;              /* the total, or the only domain */
    fputs(" data-power=\"", out);
    for (int c = 0; c < NCOL; c++) fprintf(out, "%s%.4g", c ? "," : "", p->mean[l * NCOL + c]);
    fputc('"', out);
}

int pw_chart_timeline(FILE *out, const pw_plot_run *run, int standalone)
{
    const pw_attribution *a = run->a;
    span_time T = {a->first_ns, a->last_ns};
    if (a->primary < 0 || T.t1 <= T.t0) {
        char id[32];
        int height = 40 + pw_plot_caption_room(run);
        pw_plot_id(run, "power", id, sizeof id);
        pw_svg_open(out, standalone, id, height, "Power over time");
        fputs("<text x=\"64\" y=\"30\">No two samples: no power to draw.</text>\n", out);
        return pw_svg_finish(out, run, height);
    }
    power_columns p;
    lanes *L = calloc(1, sizeof *L);
    if (!L || power_columns_make(run, &T, &p) != PW_OK) {
        free(L);
        return PW_ERR_NOMEM;
    }
    lanes_fill(L, run, &T);
    size_t pick[MAX_LINES], ntop;
    pick_domains(run, pick, &ntop);
    int top = 14 + LEGEND_ROW * legend(NULL, run, &p, ntop, 14), y0 = top + POWER_H;
    int lanes_y = y0 + 30, bottom = lanes_y + lanes_height(L);
    int height = bottom + pw_plot_caption_room(run);
    double scale = POWER_H / (p.top > 0 ? p.top * 1.08 : 1);
    char id[32], clip[48];
    pw_plot_id(run, "power", id, sizeof id);
    snprintf(clip, sizeof clip, "clip-%s", id);
    pw_svg_open(out, standalone, id, height, "Power over time, with phases");
    fprintf(out, "<g class=\"timeline\" data-t=\"%.9g\" data-left=\"%d\" data-ncol=\"%d\" "
            "data-top=\"%d\" data-bottom=\"%d\"", (double)(T.t1 - T.t0) * 1e-9, PW_PLOT_LEFT,
            NCOL, top, bottom);
    readout_data(out, &p);
    fputs(">\n", out);
    legend(out, run, &p, ntop, 14);
    pw_svg_value_axis(out, 0, p.top * 1.08, PW_PLOT_LEFT, PW_PLOT_LEFT + NCOL, y0, scale, "W");
    fprintf(out, "<clipPath id=\"%s\"><rect x=\"%d\" y=\"0\" width=\"%d\" height=\"%d\"/>"
            "</clipPath>\n<g clip-path=\"url(#%s)\"><g class=\"zx\">\n", clip, PW_PLOT_LEFT, NCOL,
            height, clip);
    phase_bands(out, run, &T, top, POWER_H);
    power_lines(out, run->t, &p, y0, scale);
    lanes_draw(out, L, run, lanes_y, 0);
    fputs("</g></g>\n", out);
    lanes_draw(out, L, run, lanes_y, 1);
    time_axis(out, &T, y0);
    fprintf(out, "<line class=\"cursor\" x1=\"0\" x2=\"0\" y1=\"%d\" y2=\"%d\" stroke=\"#000\" "
            "stroke-opacity=\"0\"/><text class=\"readout\" x=\"%d\" y=\"%d\" text-anchor=\"end\" "
            "fill=\"#000\"></text>\n</g>\n", top, bottom, PW_PLOT_LEFT + NCOL, 14);
    columns_free(&p);
    free(L);
    return pw_svg_finish(out, run, height);
}

/* ---- what the chart leaves out ---------------------------------------------------------- */

void pw_timeline_omissions(const pw_plot_run *run, pw_plot_note_fn fn, void *ctx)
{
    char msg[256];
    size_t pick[MAX_LINES], ntop, npick = pick_domains(run, pick, &ntop);
    if (ntop > npick) {
        snprintf(msg, sizeof msg, "power over time draws %zu of %zu domains as lines (those with "
                 "the most energy); the total line includes all %zu", npick, ntop, ntop);
        fn(msg, ctx);
    }
    size_t tagged = 0;
    for (size_t k = 0; k < run->t->ntracks; k++)
        for (size_t e = 0; e < run->t->tracks[k].n; e++)
            if (run->t->tracks[k].events[e].type == PW_EV_BEGIN) {
                tagged++;
                break;
            }
    if (tagged > MAX_LANE_TRACKS) {
        snprintf(msg, sizeof msg, "phase lanes are drawn for the first %d of %zu tracks with phases",
                 MAX_LANE_TRACKS, tagged);
        fn(msg, ctx);
    }
    int deepest = 0;
    for (size_t i = 0; i < run->a->nnodes; i++)
        if (run->a->nodes[i].depth > deepest) deepest = run->a->nodes[i].depth;
    if (deepest > MAX_LANE_DEPTH) {
        snprintf(msg, sizeof msg, "phase lanes show %d levels of nesting; phases nest %d deep",
                 MAX_LANE_DEPTH, deepest);
        fn(msg, ctx);
    }
}
