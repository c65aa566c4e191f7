/* report.h — renders an attributed trace as a text table, JSON or CSV. */
#ifndef PW_REPORT_H
#define PW_REPORT_H

#include <stdio.h>

#include "analysis/attribute.h"
#include "trace/trace.h"

typedef struct pw_report_opts {
    int depth;       /* deepest phase level shown; 0 = all */
} pw_report_opts;

int pw_report_text(FILE *out, const pw_trace *t, const pw_attribution *a,
                   const pw_report_opts *o);
int pw_report_json(FILE *out, const pw_trace *t, const pw_attribution *a,
                   const pw_report_opts *o);
int pw_report_csv(FILE *out, const pw_trace *t, const pw_attribution *a,
                  const pw_report_opts *o);
/* The seed's view: one row per sample interval, columns timestamp,cpu_power_mw,
 * gpu_power_mw,ane_power_mw,dram_power_mw,total_power_mw,phase; per_domain adds a
 * <domain>_power_mw column for every domain (phasewatt export --format csv). */
int pw_report_samples_csv(FILE *out, const pw_trace *t, const pw_attribution *a,
                          int per_domain);

/* Several runs side by side (phasewatt compare); the first is the baseline. */
typedef struct pw_compare_run {
    const char *file;
    const pw_trace *t;
    const pw_attribution *a;
} pw_compare_run;
int pw_report_compare_text(FILE *out, const pw_compare_run *runs, size_t nruns);
int pw_report_compare_json(FILE *out, const pw_compare_run *runs, size_t nruns);
int pw_report_compare_csv(FILE *out, const pw_compare_run *runs, size_t nruns);

#endif
