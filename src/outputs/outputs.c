/* outputs.c — what the results API writes (include/phasewatt-analysis.h, "Outputs"): the
 * report's tables and the exports of one result, the comparison and the pictures of several,
 * to a stream or atomically to a file, over report/, export/ and plot/. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/safefile.h"
#include "export/export.h"
#include "phasewatt-analysis.h"
#include "plot/plot.h"
#include "report/report.h"
#include "report/results.h"

typedef enum {
    OUT_TEXT, OUT_JSON, OUT_CSV, OUT_SAMPLES, OUT_SAMPLES_DOMAINS, OUT_PERFETTO, OUT_PERFETTO_FULL,
    OUT_PERFETTO_JSON, OUT_JSONL, OUT_NONE
} out_format;

#define LABEL_CAP 32   /* "run N" for any size_t N */

static const char *const format_names[] = {"text", "json", "csv", "samples", "samples-domains",
                                           "perfetto", "perfetto-full", "perfetto-json", "jsonl"};

static out_format parse_format(const char *name)
{
    for (int i = 0; i < OUT_NONE; i++)
        if (!strcmp(name, format_names[i])) return (out_format)i;
    return OUT_NONE;
}

static int write_format(const pw_result *r, FILE *out, out_format f, int depth)
{
    const pw_trace *t = pw_result_trace(r);
    const pw_attribution *a = pw_result_attribution(r);
    pw_report_opts o = {depth};
    switch (f) {
    case OUT_TEXT: return pw_report_text(out, t, a, &o);
    case OUT_JSON: return pw_report_json(out, t, a, &o);
    case OUT_CSV: return pw_report_csv(out, t, a, &o);
    case OUT_SAMPLES: return pw_report_samples_csv(out, t, a, 0);
    case OUT_SAMPLES_DOMAINS: return pw_report_samples_csv(out, t, a, 1);
    case OUT_PERFETTO: return pw_export_perfetto(out, t, a, PW_EXPORT_BUCKET_NS);
    case OUT_PERFETTO_FULL: return pw_export_perfetto(out, t, a, 0);
    case OUT_PERFETTO_JSON: return pw_export_perfetto_json(out, t, a);
    case OUT_JSONL: return pw_export_jsonl(out, t, a);
    default: return PW_ERR_NOT_FOUND;
    }
}

int pw_result_write(const pw_result *r, FILE *out, const char *format, int depth)
{
    if (!r || !out || !format || depth < 0) return PW_ERR_INVALID;
    return write_format(r, out, parse_format(format), depth);
}

/* A writer of one output onto an open stream, for write_file. */
typedef int (*stream_fn)(FILE *out, const void *ctx);

/* Writes through fn on a private name beside path, renamed into place only when every byte
 * reached the file: a failed write leaves what was there. errno says why on PW_ERR_IO. */
static int write_file(const char *path, stream_fn fn, const void *ctx)
{
    if (!path) return PW_ERR_INVALID;
    pw_safefile f;
    FILE *out = pw_safefile_fopen(&f, path);
    if (!out) return PW_ERR_IO;
    int rc = fn(out, ctx), err = errno;
    int done = pw_safefile_finish(&f, out, rc == PW_OK);
    if (rc == PW_OK) return done;
    errno = err;
    return rc;
}

typedef struct one_result { const pw_result *r; out_format f; int depth; } one_result;

static int write_one(FILE *out, const void *ctx)
{
    const one_result *o = ctx;
    return write_format(o->r, out, o->f, o->depth);
}

int pw_result_write_file(const pw_result *r, const char *path, const char *format, int depth)
{
    if (!r || !path || !format || depth < 0) return PW_ERR_INVALID;
    one_result o = {r, parse_format(format), depth};
    if (o.f == OUT_NONE) return PW_ERR_NOT_FOUND;
    return write_file(path, write_one, &o);
}

/* ---- several runs ---------------------------------------------------------------------- */

/* Run i's label where its metadata names no model: names[i], else "run i+1" (in fallback,
 * LABEL_CAP bytes a run). */
static const char *run_name(const char *const *names, size_t i, char (*fallback)[LABEL_CAP])
{
    if (names && names[i]) return names[i];
    snprintf(fallback[i], sizeof fallback[i], "run %zu", i + 1);
    return fallback[i];
}

static int check_runs(const pw_result *const *runs, size_t n)
{
    if (!runs || n == 0) return PW_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        if (!runs[i]) return PW_ERR_INVALID;
    return PW_OK;
}

int pw_results_compare(const pw_result *const *runs, const char *const *names, size_t n, FILE *out,
                       const char *format)
{
    if (check_runs(runs, n) != PW_OK || !out || !format) return PW_ERR_INVALID;
    int (*fn)(FILE *, const pw_compare_run *, size_t) =
        !strcmp(format, "text") ? pw_report_compare_text
        : !strcmp(format, "json") ? pw_report_compare_json
        : !strcmp(format, "csv") ? pw_report_compare_csv : NULL;
    if (!fn) return PW_ERR_NOT_FOUND;
    pw_compare_run *c = calloc(n, sizeof *c);
    char (*fallback)[LABEL_CAP] = calloc(n, sizeof *fallback);
    int rc = c && fallback ? PW_OK : PW_ERR_NOMEM;
    for (size_t i = 0; rc == PW_OK && i < n; i++)
        c[i] = (pw_compare_run){run_name(names, i, fallback), pw_result_trace(runs[i]),
                                pw_result_attribution(runs[i])};
    if (rc == PW_OK) rc = fn(out, c, n);
    free(c);
    free(fallback);
    return rc;
}

/* The plotter's view of the runs, their fallback labels after them in one block (freed with
 * it); NULL when out of memory. */
static pw_plot_run *plot_runs(const pw_result *const *runs, const char *const *names, size_t n)
{
    pw_plot_run *p = calloc(1, n * (sizeof *p + LABEL_CAP));
    char (*fallback)[LABEL_CAP] = p ? (char (*)[LABEL_CAP])(void *)(p + n) : NULL;
    for (size_t i = 0; p && i < n; i++)
        p[i] = (pw_plot_run){.file = run_name(names, i, fallback), .t = pw_result_trace(runs[i]),
                             .a = pw_result_attribution(runs[i])};
    return p;
}

typedef struct plot_job { const pw_result *const *runs; const char *const *names; size_t n; } plot_job;

static int write_plot(FILE *out, const void *ctx)
{
    const plot_job *j = ctx;
    pw_plot_run *p = plot_runs(j->runs, j->names, j->n);
    if (!p) return PW_ERR_NOMEM;
    int rc = pw_plot_html(out, p, j->n);
    free(p);
    return rc;
}

int pw_results_plot(const pw_result *const *runs, const char *const *names, size_t n, FILE *out)
{
    if (check_runs(runs, n) != PW_OK || !out) return PW_ERR_INVALID;
    plot_job j = {runs, names, n};
    return write_plot(out, &j);
}

int pw_results_plot_file(const pw_result *const *runs, const char *const *names, size_t n,
                         const char *path)
{
    if (check_runs(runs, n) != PW_OK || !path) return PW_ERR_INVALID;
    plot_job j = {runs, names, n};
    return write_file(path, write_plot, &j);
}

int pw_results_plot_svg(const pw_result *const *runs, const char *const *names, size_t n,
                        const char *dir, FILE *list)
{
    if (check_runs(runs, n) != PW_OK || !dir) return PW_ERR_INVALID;
    pw_plot_run *p = plot_runs(runs, names, n);
    if (!p) return PW_ERR_NOMEM;
    int rc = pw_plot_svg_files(dir, p, n, list);
    free(p);
    return rc;
}
