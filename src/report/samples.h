/* samples.h — the classic PowerSample view: one row per interval of the primary series, with
 * the power per kind and the phase open at its middle (CSV in csv.c, C structs in results.c). */
#ifndef PW_REPORT_SAMPLES_H
#define PW_REPORT_SAMPLES_H

#include "analysis/attribute.h"
#include "trace/trace.h"

typedef struct pw_sample_row {
    double timestamp_s;              /* the interval's end, since the primary's first reading */
    double kind_mw[PW_KIND_COUNT];   /* mean power per kind over top-level domains (mW) */
    double total_mw;                 /* over every kind */
    const char *phase;               /* innermost phase at its middle ("" when none), valid
                                        until the next row */
    const double *domain_mw;         /* [ndomains] each domain's power when per domain, else NULL */
} pw_sample_row;

/* A walk over the view; it reads t and a, which must outlive it. */
typedef struct pw_samples pw_samples;
int pw_samples_open(const pw_trace *t, const pw_attribution *a, int per_domain,
                    pw_samples **out);
int pw_samples_next(pw_samples *s, pw_sample_row *row);   /* 1: a row in *row; 0: the end */
void pw_samples_free(pw_samples *s);

#endif
