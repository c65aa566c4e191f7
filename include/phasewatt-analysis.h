/* phasewatt-analysis.h — the public API of phasewatt's results: a trace's energy attributed to
 * its phases, with intervals and provenance, the run's warnings, and the PowerSample view. */
#ifndef PHASEWATT_ANALYSIS_H
#define PHASEWATT_ANALYSIS_H

#include <stdio.h>

#include "phasewatt.h"

#ifndef PW_API
#define PW_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Results ------------------------------------------------------------------------------
 * A result is a trace attributed once: every figure of `phasewatt report` (docs/api.md). It
 * borrows the trace, which must stay open until the result is freed, and never changes once
 * made, so any number of threads may read one result at once. Strings it returns live as long
 * as the result. Every struct it fills starts with `size`: set it to sizeof the struct before
 * the call; the library fills the fields it knows up to that size, so structs can grow.
 * Errors: PW_ERR_INVALID for NULL, a size too small or an index out of range; PW_ERR_NOT_FOUND
 * for an unknown name. A figure that does not exist is NAN: energy NAN means "not observed"
 * (the sensor never saw the phase), an interval NAN means the figure was read straight off a
 * sensor, J/token NAN means no tokens were counted. */
typedef struct pw_result pw_result;

typedef struct pw_result_options {
    size_t size;           /* set by pw_result_options_init */
    const char *method;    /* how energy is attributed (docs/attribution.md): "auto" (NULL
                              too), "exact", "disaggregate", or the baselines "naive" and
                              "windows", which show what simpler tools would report */
} pw_result_options;
PW_API void pw_result_options_init(pw_result_options *o);

/* Attributes trace t; o may be NULL for the defaults. */
PW_API int pw_result_new(const pw_trace *t, const pw_result_options *o, pw_result **out);
PW_API void pw_result_free(pw_result *r);
PW_API const char *pw_result_method(const pw_result *r);   /* "auto", "exact", ... */

/* The run as a whole. */
typedef struct pw_run_figures {
    size_t size;
    double duration_s;           /* from the first to the last sample */
    uint64_t samples;            /* readings of the primary series (peak power, samples view) */
    double sample_interval_s;    /* its mean interval; 0 without one */
    double energy_j;             /* over top-level domains */
    double mean_power_w;         /* NAN for a run of no duration */
    const char *provenance;      /* of the totals: "measured", "simulated" or "estimated" */
    int estimated;               /* 1 when any domain is modelled rather than measured */
    uint64_t missed_deadlines;   /* sampler periods skipped because it ran late */
    uint64_t unbalanced_ends;    /* END events with no matching BEGIN, ignored */
    uint64_t unclosed_phases;    /* phases still open at the end, closed at the last sample */
    uint64_t gap_intervals;      /* sample intervals left out (failed reads, jumps, sleep) */
} pw_run_figures;
PW_API int pw_result_run(const pw_result *r, pw_run_figures *out);

/* The trace's metadata (model, command, host, ...) in the order it was written. */
PW_API size_t pw_result_meta_count(const pw_result *r);
PW_API int pw_result_meta(const pw_result *r, size_t i, const char **key, const char **value);
/* What the report warns of (estimates, lost events, a torn trace, gaps, unbalanced phases),
 * one sentence each; NULL past the last. */
PW_API size_t pw_result_warning_count(const pw_result *r);
PW_API const char *pw_result_warning(const pw_result *r, size_t i);

/* ---- Phases: the nodes of the phase tree, root first (the whole run, path ""), parents
 * before children, siblings in the order first seen. Inclusive figures cover a phase and
 * everything nested in it; self figures only the time it was the innermost open phase. */
typedef struct pw_phase_figures {
    size_t size;
    const char *path;            /* "decode/attention"; "" for the root; kept by the result */
    const char *name;            /* the last component of path */
    int depth;                   /* 0 for the root, 1 for top-level phases */
    long parent;                 /* the parent's index; -1 for the root */
    uint64_t calls;              /* how many times it began */
    double duration_s;           /* inclusive, summed over calls and tracks */
    double energy_j;             /* inclusive, over top-level domains; NAN: not observed */
    double self_energy_j;        /* the root's: the energy of untagged time */
    double uncertainty_j;        /* 95 % half-width of energy_j; NAN where read off a sensor */
    double share;                /* of the run's energy, 0..1; NAN for an empty run */
    double mean_power_w;         /* energy / wall_s (not summed time: tracks overlap) */
    double peak_power_w;         /* highest total power of a sample interval overlapping it */
    double tokens;               /* the "tokens" counter, inclusive */
    double j_per_token;          /* NAN without tokens */
    double tokens_per_s;         /* NAN without tokens or time */
    const char *provenance;      /* how its figures were made: "measured", "split",
                                    "disaggregated", ... (the least direct of its domains') */
    const char *provenance_detail;  /* the longer phrase: "allocated: equal shares among up
                                       to 3 tracks", else the provenance */
    unsigned concurrency;        /* the most tracks it shared time with (1: never shared) */
    double true_energy_j;        /* the trace's ground truth (simulated runs); NAN without */
    double wall_s;               /* the time at least one of its calls was open: duration_s
                                    where its calls never overlapped (one track) */
} pw_phase_figures;
PW_API size_t pw_result_phase_count(const pw_result *r);
PW_API int pw_result_phase(const pw_result *r, size_t i, pw_phase_figures *out);
PW_API int pw_result_find(const pw_result *r, const char *path, size_t *index);

typedef enum pw_extent { PW_INCLUSIVE = 0, PW_SELF = 1 } pw_extent;

/* The kinds of the run's top-level domains, as the report's columns: "cpu" first, "other"
 * last. A phase's energy of one of them; PW_ERR_NOT_FOUND for a kind the run lacks. */
PW_API size_t pw_result_kind_count(const pw_result *r);
PW_API const char *pw_result_kind(const pw_result *r, size_t k);   /* NULL past the last */
PW_API int pw_result_phase_kind_energy(const pw_result *r, size_t phase, const char *kind,
                                       pw_extent extent, double *joules);

/* Domains, indexed as pw_trace_domain's: each one's energy over the run and how its figures
 * were made; and one phase's energy in one domain with its 95 % half-width (either pointer
 * may be NULL). */
typedef struct pw_domain_figures {
    size_t size;
    const char *name;            /* "package-0", "gpu-0" */
    const char *kind;            /* "cpu", "gpu", "ane", "dram", "soc", "system", "other" */
    const char *source;          /* the backend that read it */
    long parent;                 /* the domain that contains it, or -1 (a top-level domain) */
    int estimated;               /* 1 when modelled rather than measured */
    double energy_j;             /* over the attributed run */
    const char *provenance;      /* "measured", "disaggregated" or "estimated" */
} pw_domain_figures;
PW_API size_t pw_result_domain_count(const pw_result *r);
PW_API int pw_result_domain(const pw_result *r, size_t d, pw_domain_figures *out);
PW_API int pw_result_phase_domain_energy(const pw_result *r, size_t phase, size_t domain,
                                         pw_extent extent, double *joules,
                                         double *uncertainty_j);

/* ---- The classic PowerSample view: one row per interval of the primary series, power by
 * kind in mW, and the innermost phase open at its middle. The iterator reads the result,
 * which must outlive it; one thread at a time uses one iterator. */
typedef struct pw_power_sample {
    size_t size;
    double timestamp;            /* the interval's end, s since the primary's first reading */
    double cpu_power_mw, gpu_power_mw, ane_power_mw, dram_power_mw;
    double total_power_mw;       /* every kind, those above and soc, system, other */
    const char *phase;           /* "" when no phase was open */
} pw_power_sample;
typedef struct pw_sample_iter pw_sample_iter;
PW_API int pw_result_samples(const pw_result *r, pw_sample_iter **out);
/* 1: *out holds the next row; 0: there is none; an error code (< 0) otherwise. */
PW_API int pw_sample_next(pw_sample_iter *it, pw_power_sample *out);
PW_API void pw_sample_iter_free(pw_sample_iter *it);

/* ---- Simulation: a scenario (phasewatt.h) through its sensor model in virtual time, written
 * as a normal trace with the ground truth per phase path and metadata: what `phasewatt
 * simulate` writes. On failure a PW_ERR_* code and a one-line reason in err. */
PW_API int pw_simulate(const pw_scenario *s, const char *out_path, char *err, size_t errlen);
/* Runs the scenario for real in this process: pw_begin/pw_end around busy CPU work of each
 * leaf's duration times time_scale (tags are dropped without a session): what `phasewatt
 * record` runs without a command. */
PW_API int pw_scenario_run(const pw_scenario *s, double time_scale);

/* ---- Outputs: what `phasewatt report`, `export`, `compare` and `plot` write. A stream is
 * written as is; a path is written on a private name beside it and renamed into place only
 * when every byte reached the file (a failed write leaves what was there, and a link at the
 * path is replaced, not followed). PW_ERR_IO when writing failed (errno says why),
 * PW_ERR_NOT_FOUND for an unknown format. They only read the results: any number of threads
 * may write the same results at once.
 *
 * One run. format: the report's "text" (the tables), "json" (one object), "csv" (one row per
 * phase) and "samples" (the PowerSample view as CSV), whose depth is the deepest phase level
 * shown (0: all); or the exports (docs/export.md), which take every phase: "perfetto"
 * (Perfetto's protobuf; power per 10 ms), "perfetto-full" (power per sample interval),
 * "perfetto-json" (Chrome trace events), "jsonl" (one JSON object per reading and event) and
 * "samples-domains" (the PowerSample view and a <domain>_power_mw column per domain). */
PW_API int pw_result_write(const pw_result *r, FILE *out, const char *format, int depth);
PW_API int pw_result_write_file(const pw_result *r, const char *path, const char *format,
                                int depth);

/* Several runs, the first the baseline. names[i] labels run i where its metadata names no
 * model (a file name, say); NULL, or a NULL name, for "run i+1". compare's format: "text",
 * "json" or "csv". plot: one self-contained HTML page (inline SVG, nothing fetched); plot_svg:
 * the same charts, one SVG file each in dir (which must exist), their names listed on list
 * (NULL: not listed). */
PW_API int pw_results_compare(const pw_result *const *runs, const char *const *names, size_t n,
                              FILE *out, const char *format);
PW_API int pw_results_plot(const pw_result *const *runs, const char *const *names, size_t n,
                           FILE *out);
PW_API int pw_results_plot_file(const pw_result *const *runs, const char *const *names, size_t n,
                                const char *path);
PW_API int pw_results_plot_svg(const pw_result *const *runs, const char *const *names, size_t n,
                               const char *dir, FILE *list);

#ifdef __cplusplus
}
#endif
#endif
