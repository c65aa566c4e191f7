/* svg.h — the small drawing layer under the charts: escaped text, colours, axes, numbers. */
#ifndef PW_PLOT_SVG_H
#define PW_PLOT_SVG_H

#include <stdint.h>
#include <stdio.h>

#include "plot/plot.h"

#define PW_PLOT_WIDTH 960          /* every chart's width in px */
#define PW_PLOT_LEFT 64            /* room for the value axis */
#define PW_PLOT_RIGHT 16

void pw_svg_text(FILE *out, const char *s);   /* XML-escaped; invalid UTF-8 becomes U+FFFD */
/* Text is laid out in C, without a browser: these estimate a string's width (px) at a font
 * size from its characters, on the wide side of common sans-serif fonts (DejaVu Sans). */
double pw_svg_text_px(const char *s, double font_px);
/* s escaped, cut to its longest prefix that fits max_px followed by "…". */
void pw_svg_text_fit(FILE *out, const char *s, double max_px, double font_px);
/* <svg ...> with a title element, or with the xmlns and XML header of a file when
 * standalone; closed by pw_svg_close. */
void pw_svg_open(FILE *out, int standalone, const char *id, int height, const char *title);
void pw_svg_close(FILE *out);

const char *pw_plot_colour(size_t i);          /* a palette that stays readable on white */
const char *pw_plot_kind_colour(int kind);     /* one fixed colour per domain kind */

/* Round tick steps: about n ticks over [lo, hi]; returns the step (> 0). */
double pw_nice_step(double lo, double hi, int n);
/* "12.3 J", "4.56 kJ", "780 mJ": three significant digits and an SI prefix. */
void pw_si(char *buf, size_t cap, double v, const char *unit);

/* Horizontal value axis with gridlines at nice steps: y = y0 - (v - lo) * scale. */
void pw_svg_value_axis(FILE *out, double lo, double hi, int x0, int x1, int y0, double scale,
                       const char *unit);
/* A caption under a chart (provenance, sources, sensor period), wrapped at spaces to the
 * chart's width: its first baseline at y, then a line every PW_CAPTION_LINE px. */
#define PW_CAPTION_LINE 13
void pw_svg_caption(FILE *out, int y, const char *text);
int pw_svg_caption_lines(const char *text);

/* The run's provenance sentence: "measured — rapl (1 ms)…" into buf. */
void pw_plot_provenance(const pw_plot_run *run, char *buf, size_t cap);
/* Height (px) a chart keeps at its bottom for the run's provenance caption. */
int pw_plot_caption_room(const pw_plot_run *run);
/* The run's provenance caption in the bottom pw_plot_caption_room() px of a chart of
 * `height`, then </svg>. */
int pw_svg_finish(FILE *out, const pw_plot_run *run, int height);
/* The run's label: model.arch, else the scenario, else the file's base name. */
const char *pw_plot_label(const pw_plot_run *run);

#endif
