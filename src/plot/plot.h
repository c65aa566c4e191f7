/* plot.h — phasewatt's pictures: a self-contained HTML report (inline SVG, a little inline
 * JS, nothing fetched) of one run or several, and the same charts as separate SVG files. */
#ifndef PW_PLOT_H
#define PW_PLOT_H

#include <stdio.h>

#include "analysis/attribute.h"
#include "trace/trace.h"

typedef struct pw_plot_run {
    const char *file;          /* shown as the run's name when its metadata has none */
    const pw_trace *t;
    const pw_attribution *a;
    size_t page_index;         /* set by pw_plot_html: the run's place on the page, so its
                                  charts' element ids differ from the other runs' */
} pw_plot_run;

/* One run: power over time with phase bands and lanes, energy per phase by domain kind, the
 * breakdown of prefill and decode. Several: side by side first, then those charts for each
 * run. Charts cap what they draw (domains, lanes, rows) and the page says what it left out. */
int pw_plot_html(FILE *out, const pw_plot_run *runs, size_t nruns);
/* The same charts, one standalone SVG file each, into dir (which must exist); the files'
 * names are printed to `list` (may be NULL). */
int pw_plot_svg_files(const char *dir, const pw_plot_run *runs, size_t nruns, FILE *list);

#endif
