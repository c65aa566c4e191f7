/* model.h — what attribution produces and the parts of analysis share: provenance, the
 * phase tree's nodes and segments, methods, and the helpers over them (paths.c, stamps.c,
 * provenance.c, attribute.c); the entry points are attribute.h. */
#ifndef PW_ANALYSIS_MODEL_H
#define PW_ANALYSIS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "trace/trace.h"

/* Where a figure comes from: read off a meter, fitted by disaggregation (phases shorter than
 * a few sensor periods, averaged-power sensors), or modelled by an estimate source. In order
 * of directness: the least direct of several figures is the largest value. */
typedef enum pw_provenance {
    PW_PROV_MEASURED = 0,      /* read off a sensor without a split: no interval */
    PW_PROV_SPLIT,             /* read off a sensor, the intervals straddling its boundaries
                                  divided by the phases' powers: ± */
    PW_PROV_DISAGGREGATED,     /* the fit's powers (phases shorter than the sensor resolves,
                                  averaged-power sensors): ± */
    PW_PROV_ALLOCATED,         /* a domain shared by concurrent tracks, divided by a rule
                                  (the additive model, else equal shares): ± */
    PW_PROV_UNRESOLVED,        /* the data cannot resolve it: split by time, ± as wide as the
                                  straddling intervals allow */
    PW_PROV_ESTIMATED,         /* modelled, not measured (the estimate source): ± assumed */
    PW_PROV_NOT_OBSERVED       /* the sensor never saw it: no number (energy NAN) */
} pw_provenance;
#define PW_PROV_COUNT 7
/* "measured", "split", "disaggregated", "allocated", "unresolved", "estimated", "not observed" */
const char *pw_provenance_name(pw_provenance p);

/* What went into a figure, per node and domain (pw_phase_node.self_mark/incl_mark). */
enum {
    PW_FIG_SPLIT = 1u << 0,     /* an interval straddling one of its boundaries was divided */
    PW_FIG_BY_TIME = 1u << 1,   /* ... by time alone: some part's power was unknown */
    PW_FIG_ALLOCATED = 1u << 2, /* time shared with other tracks was divided between them */
    PW_FIG_EQUAL = 1u << 3,     /* ... in equal shares: the additive model had no powers */
    PW_FIG_FITTED = 1u << 4     /* the fit's powers made it */
};
#define PW_NODE_ARRAYS 16       /* per-domain double arrays per node */

/* One node of the phase tree: a phase such as "attention" in "decode". nodes[0] is the
 * root: the whole run; its self energy is the energy of untagged time. */
typedef struct pw_phase_node {
    uint32_t name_id;       /* 0 for the root */
    int32_t parent;         /* -1 for the root */
    const char *name;       /* its own name, "" for the root, "#id" for an id the trace does not
                               name; its path is built on demand (pw_node_path) */
    int depth;              /* root 0, top-level phases 1 */
    uint64_t calls;         /* how many times it began */
    double duration_s;      /* inclusive time, summed over calls (and tracks) */
    double wall_s;          /* the time at least one of its calls was open: duration_s
                               where no two overlapped (tracks); mean power divides by it */
    double *self_j;         /* [ndomains] energy while it was the innermost phase */
    double *incl_j;         /* [ndomains] self + every descendant */
    double tokens_self, tokens_incl;  /* the "tokens" counter */
    double peak_w;          /* highest total power of a sample interval overlapping it */
    pw_provenance provenance;   /* of its figures: the least direct of its domains' */
    double *self_ci_j;      /* [ndomains] 95% half-width of self_j; NAN where measured */
    double *incl_ci_j;      /* [ndomains] 95% half-width of incl_j; NAN where measured */
    /* The error budget behind the half-widths (docs/attribution.md, "Intervals"): variance of
     * the splits and allocations (J²), and of the timing: the readings' instants err, and
     * move energy across the cuts of the intervals they bound (J², pw_stamp_acc). */
    double *self_var, *incl_var;
    double *self_tvar, *incl_tvar;
    double *split_incl;     /* [ndomains] the splits' variance of the subtree as one group */
    double *self_alloc, *incl_alloc;   /* [ndomains] the allocations' variance (J²) */
    double *self_bt, *incl_bt;  /* [ndomains] the by-time splits' error (J, one standard
                                   deviation): coherent over calls, so added linearly */
    double *self_ht, *incl_ht;  /* [ndomains] what the fit's hints beside its remainder parts
                                   may have taken from them (J, one standard deviation):
                                   coherent over calls; inside a subtree it moves, not leaves */
    double *edge_s;         /* [ndomains] its subtree's time in intervals that cross the
                               subtree's edge: the only time a fit's powers can move */
    uint8_t *self_mark, *incl_mark;   /* [ndomains] PW_FIG_* */
    uint32_t concurrency;   /* the most tracks it shared time with (1: never shared) */
    uint8_t marks;          /* PW_FIG_* of its top-level domains' figures, together */
} pw_phase_node;

/* A longer phrase for a node's label, into buf: "split by time", "allocated: equal shares
 * among 3 tracks", or the provenance's name. */
const char *pw_provenance_detail(const pw_phase_node *n, char *buf, size_t len);

/* A stretch of one track during which one phase is its innermost open phase. */
typedef struct pw_segment {
    uint64_t t0_ns, t1_ns;  /* [t0, t1), t0 < t1 */
    uint32_t track;         /* index into pw_trace.tracks */
    uint32_t node;          /* index into pw_attribution.nodes */
} pw_segment;

typedef struct pw_attribution {
    size_t ndomains;
    pw_phase_node *nodes; size_t nnodes;   /* depth-first: parents before children,
                                              siblings in first-seen order */
    double *domain_j;       /* [ndomains] energy over the attributed run */
    double *noise_q;        /* [ndomains] the readings' noise the sweep learnt (J²/s), 0 if none */
    double run_s;           /* from the first to the last sample */
    int estimated;          /* 1 if any domain is estimated */
    uint64_t unbalanced;    /* END events with no matching BEGIN, ignored */
    uint64_t unclosed;      /* phases still open at the end, closed at the last timestamp */
    uint64_t gap_intervals; /* sample intervals skipped because their row is PW_SAMPLE_GAP */
    int primary;            /* series used for peak power and the samples view, or -1 */
    double sample_interval_s;  /* mean interval of the primary series (0 without one) */
    uint64_t first_ns, last_ns;  /* first and last sample time over all series */
    pw_segment *segments; size_t nsegments;  /* grouped by track in trace order, each
                                                track's in time order */
    double *node_j;         /* storage behind every node's energy and uncertainty arrays */
    uint8_t *node_marks;    /* storage behind every node's marks */
    /* The disaggregation behind the DISAGGREGATED figures (per node and domain: fitted power,
     * its CI and separability; src/analysis/disaggregate.h), or NULL when none ran. */
    struct pw_disaggregation *disagg;
    pw_provenance *domain_provenance;   /* [ndomains] how each domain's figures were made */
    struct pw_names *names; /* storage behind every node's name, one copy per name id */
    uint8_t *track_devices; /* [ntracks] the PW_DEVICE_* bits each track said it drives
                               (pw_track_devices); 0: it said nothing, and drives them all */
} pw_attribution;

/* Whether a track whose declared devices are `devices` (0: undeclared) draws on a domain of
 * kind k: cpu covers the cpu and dram kinds, gpu and ane their own; a whole-system or SoC
 * domain is drawn on by every track. */
int pw_track_drives(uint8_t devices, pw_kind k);

/* How figures are made. AUTO (what report uses): interval-exact, with disaggregated powers
 * weighting the phases shorter than PW_SHORT_PERIODS sensor periods, and window-aware
 * disaggregation for averaged-power sensors. EXACT: interval-exact only. DISAGGREGATE: every
 * phase's energy is its fitted power times its time (the benchmark's pure method). */
typedef enum pw_method {
    PW_METHOD_AUTO = 0, PW_METHOD_EXACT, PW_METHOD_DISAGGREGATE,
    /* Baselines, to show what simpler tools would report (src/analysis/baseline.c): NAIVE
     * gives each sample interval to the phase current at its closing sample; WINDOWS reads
     * the counter at each phase's begin and end (the last reading at or before each). */
    PW_METHOD_NAIVE, PW_METHOD_WINDOWS
} pw_method;
const char *pw_method_name(pw_method m);   /* "auto", "exact", "disaggregate", "naive", "windows" */
int pw_method_parse(const char *name, pw_method *out);   /* PW_ERR_NOT_FOUND if unknown */
#define PW_SHORT_PERIODS 3.0
#define PW_Z95 1.959963984540054   /* a normal's 95% two-sided quantile */
#define PW_DEFAULT_CV 0.15         /* a phase's power from call to call, where no data say */
#define PW_ESTIMATE_REL_CI 0.3   /* assumed 95% half-width of an estimate source's figures */

void pw_attribution_free(pw_attribution *a);
/* Recomputes every inclusive figure from the self figures. */
void pw_attribution_roll_up(pw_attribution *a);

/* Sums of a per-domain vector without double counting: only top-level domains count. */
double pw_energy_total(const pw_trace *t, const double *per_domain_j);
double pw_energy_kind(const pw_trace *t, const double *per_domain_j, pw_kind kind);

/* 1 when the domain, or the source that reads it, is flagged PW_DOMAIN_ESTIMATED. */
int pw_domain_estimated(const pw_trace *t, size_t domain);

/* Reads a series' cumulative energy at any time: linear between readings, flat before the
 * first and after the last. Cheapest when asked in time order. */
typedef struct pw_series_cursor {
    const pw_series *se;
    size_t at;              /* the reading at or before the last time asked */
} pw_series_cursor;
double pw_series_energy_at(pw_series_cursor *c, size_t k, uint64_t t_ns);  /* µJ, domain k */

/* The next reading after i that carries news (se->n when i is the last). A sensor read more
 * often than it updates (its period over 1.5 sample intervals) repeats itself, and the
 * repeats say nothing about when energy was spent: for such a series this is the first later
 * reading whose energy differs in some domain or that opens a gap, else the last; for any
 * other series simply i + 1. Attribution and disaggregation walk intervals with it. */
size_t pw_series_next(const pw_trace *t, const pw_series *se, size_t i);

/* How late a series' readings can be against the instants their energy was current (ns): a
 * counter the recorder did not lock onto returns its last update, up to a period (or, read
 * faster than it updates, a read interval) before the read; 0 for sensors whose times are
 * exact (continuous, self-timed, averaged power fitted over its windows, models). Attribution
 * widens its intervals by what this lag moves across each figure's cuts (stamps.c). */
double pw_series_lag_ns(const pw_trace *t, const pw_series *se);
/* The sensor description's value sensor.SOURCE.WHAT of source src, NULL if unsaid. */
const char *pw_source_meta(const pw_trace *t, uint32_t src, const char *what);
/* One standard deviation (ns) of reading i's instant: its stated uncertainty (a sensor-locked
 * stamp's), else the series' lag (pw_series_lag_ns), either a bound of a uniform error; 0
 * where lag_ns is (times exact). */
double pw_series_stamp_sd_ns(const pw_series *se, size_t i, double lag_ns);
/* A figure's timing variance, reading by reading: an instant off by dt moves coef x dt of
 * energy into the figure, and one reading bounds two intervals, so its coefficients from both
 * add before they are squared. Per figure i: add each interval's coefficient (J/ns) for its
 * reading (the index in its series) in time order; flush adds the last one's. */
typedef struct pw_stamp_acc {
    double *coef, *sd;   /* [n] the pending reading's coefficient and its instant's sd (ns) */
    size_t *at;          /* [n] that reading's index + 1, 0 if none */
    size_t n;
} pw_stamp_acc;
int pw_stamp_acc_init(pw_stamp_acc *acc, size_t n);
void pw_stamp_acc_add(pw_stamp_acc *acc, size_t i, size_t reading, double coef, double sd_ns,
                      double *var);
void pw_stamp_acc_flush(pw_stamp_acc *acc, size_t i, double *var);
void pw_stamp_acc_free(pw_stamp_acc *acc);
/* 1 when the series' readings are current at their stamps (a self-timed or continuous source,
 * per the trace's sensor.SOURCE.lock): an unchanged reading then means no energy was spent. */
int pw_series_exact_at_stamp(const pw_trace *t, const pw_series *se);

/* The node index of the phase path, or -1. */
int pw_attribution_find(const pw_attribution *a, const char *path);

/* ---- paths.c: node names and paths ---- */
/* A node's path, "decode/attention" ("" for the root), built from its parent links into buf,
 * which grows as needed and is the caller's (pw_path_buf_free); NULL when out of memory. */
typedef struct pw_path_buf {
    char *s;
    size_t cap;
} pw_path_buf;
const char *pw_node_path(const pw_attribution *a, size_t k, pw_path_buf *buf);
void pw_path_buf_free(pw_path_buf *buf);
/* The name id's name, stored once in a->names however many nodes bear it; NULL when out of
 * memory. */
typedef struct pw_names pw_names;
const char *pw_names_intern(pw_attribution *a, const pw_trace *t, uint32_t id);
void pw_names_free(pw_names *names);
/* Nodes sorted by (parent, name id), to find a node of one attribution in another of the same
 * names (a view of the same trace) without building paths. */
typedef struct pw_node_key {
    int32_t parent;
    uint32_t name_id, node;
} pw_node_key;
typedef struct pw_node_index {
    pw_node_key *key;
    size_t n;
} pw_node_index;
int pw_node_index_build(const pw_attribution *a, pw_node_index *ix);
int pw_node_index_child(const pw_node_index *ix, size_t parent, uint32_t name_id);   /* or -1 */
void pw_node_index_free(pw_node_index *ix);

#endif
