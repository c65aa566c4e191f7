/* common.h — what the text, JSON and CSV renderers share: one phase row's figures, the walk
 * over the phase tree down to a depth, the run's warnings, provenance, quoting and numbers. */
#ifndef PW_REPORT_COMMON_H
#define PW_REPORT_COMMON_H

#include <stdio.h>

#include "phasewatt-analysis.h"
#include "report/report.h"

/* The kinds that get a column: those of top-level domains, cpu first, other last. */
typedef struct pw_kinds {
    pw_kind kind[PW_KIND_COUNT];
    size_t n;
} pw_kinds;
void pw_report_kinds(const pw_trace *t, pw_kinds *out);

/* One phase node as every format shows it. NAN marks a figure that does not exist. */
typedef struct pw_row {
    const pw_phase_node *node;
    const char *name;                   /* last path component; "" for the root */
    const char *path;                   /* the node's path, during pw_report_walk's callback
                                           (NULL from pw_report_row: pw_node_path) */
    double energy_j, self_j;            /* totals over top-level domains */
    double kind_j[PW_KIND_COUNT];       /* inclusive energy by kind, indexed by pw_kind */
    double self_kind_j[PW_KIND_COUNT];
    double share;                       /* of the run's total, 0..1; NAN for an empty run */
    double mean_w;                      /* energy / time; NAN without time */
    double j_per_token;                 /* NAN without tokens */
    double tokens_per_s;                /* NAN without tokens or time */
    const char *provenance;             /* "measured", "estimated" or "disaggregated" */
    double ci_j;                        /* 95% half-width of energy_j; NAN where measured */
    int has_truth;                      /* the trace holds ground truth for this path */
    double true_j, err;                 /* err = (energy - true) / true; NAN when true is 0 */
} pw_row;

/* Calls fn for the root and each node down to o->depth (0 = all), parents before children;
 * stops at, and returns, the first non-zero result (PW_ERR_NOMEM when a path cannot be built). */
typedef int (*pw_row_fn)(const pw_row *row, void *ctx);
int pw_report_walk(const pw_trace *t, const pw_attribution *a, const pw_report_opts *o,
                   pw_row_fn fn, void *ctx);

/* Every warning the run deserves (estimates, lost events, torn trace, gaps, unbalanced or
 * unclosed phases), one sentence each. */
typedef void (*pw_warning_fn)(const char *msg, void *ctx);
void pw_report_warnings(const pw_trace *t, const pw_attribution *a, pw_warning_fn fn,
                        void *ctx);

/* "estimated" when a top-level domain (so every total) is modelled, else "measured". */
const char *pw_report_provenance(const pw_trace *t);
int pw_report_has_truth(const pw_trace *t);
int pw_report_finish(FILE *out);     /* PW_ERR_IO if any write to out failed */

void pw_json_string(FILE *out, const char *s);  /* quoted; invalid UTF-8 becomes U+FFFD */
void pw_json_number(FILE *out, double v);       /* %.9g; null when not finite */
void pw_csv_field(FILE *out, const char *s);    /* RFC 4180: quoted only when needed */
void pw_csv_number(FILE *out, double v);        /* %.9g; empty when not finite */

/* Text table cells: display width (one column per code point), a left-aligned label with
 * control characters as '?' and overlong text cut with '~', a right-aligned number with as
 * many of the wanted decimals as fit ("-" when not finite). */
int pw_text_width(const char *s);
void pw_text_cell(FILE *out, const char *s, int width);
void pw_text_num(FILE *out, double v, int width, int decimals);

/* The run's figures and one domain's, as the JSON report and the results API give them
 * (out->size is left as it is). */
void pw_report_run(const pw_trace *t, const pw_attribution *a, pw_run_figures *out);
void pw_report_domain(const pw_trace *t, const pw_attribution *a, size_t d,
                      pw_domain_figures *out);

/* One node's row, as the walk gives it. */
void pw_report_row(const pw_trace *t, const pw_attribution *a, size_t node, pw_row *out);

/* Bytes in the valid UTF-8 sequence at s, or 0 when s does not start one. */
size_t pw_utf8_len(const char *s);

#endif
