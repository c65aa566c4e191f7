/* charts.h — the charts of the report, each one <svg> element (or standalone SVG file). */
#ifndef PW_PLOT_CHARTS_H
#define PW_PLOT_CHARTS_H

#include <stdio.h>

#include "plot/svg.h"

int pw_chart_timeline(FILE *out, const pw_plot_run *run, int standalone);   /* timeline.c */
int pw_chart_energy(FILE *out, const pw_plot_run *run, int standalone);     /* breakdown.c */
int pw_chart_icicle(FILE *out, const pw_plot_run *run, int standalone);
int pw_chart_compare(FILE *out, const pw_plot_run *runs, size_t nruns, int standalone);

#endif
