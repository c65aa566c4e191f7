/* svg.c — the drawing layer the charts share: escaping, colours, axes, numbers, captions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/svg.h"
#include "report/common.h"

void pw_svg_text(FILE *out, const char *s)
{
    while (s && *s) {
        size_t n = pw_utf8_len(s);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", out);
            s++;
            continue;
        }
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default:
            if ((unsigned char)*s < 0x20) fputc(' ', out);   /* control characters */
            else fwrite(s, 1, n, out);
        }
        s += n;
    }
}

/* Advance of one code point in em: wide for capitals and m/w, full for East Asian scripts. */
static double glyph_em(const char *s, size_t n)
{
    unsigned char c = (unsigned char)*s;
    if (n > 2 && c >= 0xE1) return 1.0;      /* U+1000 and up: CJK, Hangul, symbols */
    if (n > 1) return 0.75;
    if (c == ' ' || c == '.' || c == ',' || c == ':' || c == ';' || c == 'i' || c == 'l' ||
        c == 'j' || c == '|' || c == '\'' || c == '!') return 0.36;
    if (c == 'm' || c == 'w' || c == 'M' || c == 'W' || c == '%' || c == '@') return 1.0;
    if (c >= 'A' && c <= 'Z') return 0.78;
    return 0.66;                             /* digits, lower case, the rest */
}

double pw_svg_text_px(const char *s, double font_px)
{
    double em = 0;
    while (s && *s) {
        size_t n = pw_utf8_len(s);
        em += glyph_em(s, n ? n : 1);
        s += n ? n : 1;
    }
    return em * font_px;
}

void pw_svg_text_fit(FILE *out, const char *s, double max_px, double font_px)
{
    if (!s || pw_svg_text_px(s, font_px) <= max_px) {
        pw_svg_text(out, s);
        return;
    }
    double room = max_px - font_px;          /* the ellipsis */
    size_t keep = 0;
    for (double em = 0; s[keep];) {
        size_t n = pw_utf8_len(s + keep);
        em += glyph_em(s + keep, n ? n : 1);
        if (em * font_px > room) break;
        keep += n ? n : 1;
    }
    char *cut = strndup(s, keep);
    pw_svg_text(out, cut ? cut : "");
    free(cut);
    fputs("…", out);
}

void pw_svg_open(FILE *out, int standalone, const char *id, int height, const char *title)
{
    if (standalone) fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf(out, "<svg %sid=\"%s\" class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"11\">\n<title>",
            standalone ? "xmlns=\"http://www.w3.org/2000/svg\" " : "", id, PW_PLOT_WIDTH, height,
            PW_PLOT_WIDTH, height);
    pw_svg_text(out, title);
    fputs("</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", out);
}

void pw_svg_close(FILE *out) { fputs("</svg>\n", out); }

const char *pw_plot_colour(size_t i)
{
    static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                          "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
                                          "#9c755f", "#bab0ac"};
    return palette[i % (sizeof palette / sizeof palette[0])];
}

const char *pw_plot_kind_colour(int kind)
{
    static const char *const by_kind[PW_KIND_COUNT] = {
        [PW_KIND_OTHER] = "#bab0ac", [PW_KIND_CPU] = "#4e79a7", [PW_KIND_GPU] = "#59a14f",
        [PW_KIND_ANE] = "#b07aa1", [PW_KIND_DRAM] = "#f28e2b", [PW_KIND_SOC] = "#76b7b2",
        [PW_KIND_SYSTEM] = "#9c755f"};
    return kind >= 0 && kind < PW_KIND_COUNT ? by_kind[kind] : by_kind[PW_KIND_OTHER];
}

double pw_nice_step(double lo, double hi, int n)
{
    double span = hi - lo;
    if (!(span > 0) || n < 1) return 1;
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void pw_si(char *buf, size_t cap, double v, const char *unit)
{
    static const struct { double scale; const char *prefix; } si[] = {
        {1e9, "G"}, {1e6, "M"}, {1e3, "k"}, {1, ""}, {1e-3, "m"}, {1e-6, "µ"}, {1e-9, "n"}};
    if (!isfinite(v)) {       /* not observed: no number */
        snprintf(buf, cap, "-");
        return;
    }
    size_t i = 0;
    while (i + 1 < sizeof si / sizeof si[0] && fabs(v) < si[i].scale) i++;
    if (v == 0) i = 3;
    double x = v / si[i].scale;
    snprintf(buf, cap, fabs(x) >= 100 ? "%.0f %s%s" : fabs(x) >= 10 ? "%.1f %s%s" : "%.2f %s%s",
             x, si[i].prefix, unit);
}

void pw_svg_value_axis(FILE *out, double lo, double hi, int x0, int x1, int y0, double scale,
                       const char *unit)
{
    double step = pw_nice_step(lo, hi, 5);
    /* NOLINTNEXTLINE(cert-flp30-c,clang-analyzer-security.FloatLoopCounter): a few ticks; the bound's slack absorbs rounding */
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
        double y = y0 - (v - lo) * scale;
        char label[32];
        pw_si(label, sizeof label, v, unit);
        fprintf(out, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%s</text>\n",
                x0, x1, y, y, x0 - 6, y + 4, label);
    }
}

#define CAPTION_FONT 10
#define CAPTION_X 8

/* The length of the caption line starting at s: as many words as fit the chart's width. */
static size_t caption_line(const char *s)
{
    double max_px = PW_PLOT_WIDTH - CAPTION_X - PW_PLOT_RIGHT, px = 0;
    size_t end = 0, i = 0;
    while (s[i]) {
        size_t n = pw_utf8_len(s + i);
        px += glyph_em(s + i, n ? n : 1) * CAPTION_FONT;
        if (px > max_px) return end ? end : i;   /* a word longer than a line is cut */
        i += n ? n : 1;
        if (s[i] == ' ' || !s[i]) end = i;
    }
    return i;
}

int pw_svg_caption_lines(const char *text)
{
    int lines = 0;
    for (const char *s = text; *s; lines++) {
        s += caption_line(s);
        while (*s == ' ') s++;
    }
    return lines ? lines : 1;
}

void pw_svg_caption(FILE *out, int y, const char *text)
{
    for (const char *s = text; *s; y += PW_CAPTION_LINE) {
        size_t n = caption_line(s);
        char *line = strndup(s, n);
        fprintf(out, "<text class=\"caption\" x=\"%d\" y=\"%d\" fill=\"#666\" font-size=\"%d\">",
                CAPTION_X, y, CAPTION_FONT);
        pw_svg_text(out, line ? line : "");
        fputs("</text>\n", out);
        free(line);
        s += n;
        while (*s == ' ') s++;
    }
}

#define MAX_SOURCES_NAMED 4     /* a caption names a few; the page's metadata has them all */

void pw_plot_provenance(const pw_plot_run *run, char *buf, size_t cap)
{
    const pw_trace *t = run->t;
    size_t n = (size_t)snprintf(buf, cap, "Provenance: %s — source%s ", pw_report_provenance(t),
                                t->nsources == 1 ? "" : "s");
    for (size_t s = 0; s < t->nsources && s < MAX_SOURCES_NAMED && n < cap; s++) {
        char period[32] = "unknown";
        if (t->sources[s].period_ns) pw_si(period, sizeof period, t->sources[s].period_ns * 1e-9, "s");
        n += (size_t)snprintf(buf + n, cap - n, "%s%s (sensor period %s)", s ? ", " : "",
                              t->sources[s].name, period);
    }
    if (n < cap && t->nsources > MAX_SOURCES_NAMED)
        n += (size_t)snprintf(buf + n, cap - n, " and %zu more", t->nsources - MAX_SOURCES_NAMED);
    if (n < cap && run->a->sample_interval_s > 0) {
        char interval[32];
        pw_si(interval, sizeof interval, run->a->sample_interval_s, "s");
        n += (size_t)snprintf(buf + n, cap - n, "; sampled every %s", interval);
    }
    size_t fitted = 0;
    for (size_t i = 1; i < run->a->nnodes; i++)
        fitted += run->a->nodes[i].provenance == PW_PROV_DISAGGREGATED;
    if (n < cap && fitted)
        snprintf(buf + n, cap - n, "; %zu phase%s disaggregated (± is the 95%% interval)", fitted,
                 fitted == 1 ? "" : "s");
}

int pw_plot_caption_room(const pw_plot_run *run)
{
    char caption[1024];
    pw_plot_provenance(run, caption, sizeof caption);
    return 24 + PW_CAPTION_LINE * (pw_svg_caption_lines(caption) - 1);
}

int pw_svg_finish(FILE *out, const pw_plot_run *run, int height)
{
    char caption[1024];
    pw_plot_provenance(run, caption, sizeof caption);
    pw_svg_caption(out, height - pw_plot_caption_room(run) + 17, caption);
    pw_svg_close(out);
    return PW_OK;
}

const char *pw_plot_label(const pw_plot_run *run)
{
    const char *keys[] = {"model.arch", "scenario"};
    for (size_t i = 0; i < 2; i++) {
        const char *v = pw_trace_meta(run->t, keys[i]);
        if (v && *v) return v;
    }
    const char *slash = strrchr(run->file, '/');
    return slash ? slash + 1 : run->file;
}
