/* charts.h — the charts of the report, each one <svg> element (or standalone SVG file). */
#ifndef PW_PLOT_CHARTS_H
#define PW_PLOT_CHARTS_H

#include <stdio.h>

#include "plot/svg.h"

int pw_chart_timeline(FILE *out, const pw_plot_run *run, int standalone);   /* timeline.c */
int pw_chart_energy(FILE *out, const pw_plot_run *run, int standalone);     /* breakdown.c */
int pw_chart_icicle(FILE *out, const pw_plot_run *run, int standalone);
int pw_chart_compare(FILE *out, const pw_plot_run *runs, size_t nruns, int standalone);

/* What the charts leave out of a run past their caps, one sentence each through fn. */
typedef void (*pw_plot_note_fn)(const char *msg, void *ctx);
void pw_timeline_omissions(const pw_plot_run *run, pw_plot_note_fn fn, void *ctx);
void pw_breakdown_omissions(const pw_plot_run *run, pw_plot_note_fn fn, void *ctx);
void pw_compare_omissions(const pw_plot_run *runs, size_t nruns, pw_plot_note_fn fn, void *ctx);
/* A chart element's id: base for the page's first run, base-N for the N-th. */
void pw_plot_id(const pw_plot_run *run, const char *base, char *buf, size_t cap);

#endif
