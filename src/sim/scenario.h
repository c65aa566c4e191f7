/* scenario.h — inference-shaped workloads described as text: a tree of timed phases with
 * their true power, and the sensor that watches them. Used by `simulate`, by the synthetic
 * source and by the built-in workload that `record` runs. Format: docs/scenario.md. */
#ifndef PW_SCENARIO_H
#define PW_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "sim/sensor.h"
#include "trace/trace.h"

typedef enum pw_step_type {
    PW_STEP_PHASE,    /* a named phase: a leaf (dur_ns, watts) or a body of steps */
    PW_STEP_REPEAT,   /* its body `repeat` times */
    PW_STEP_IDLE,     /* time inside the parent that no child phase covers (dur_ns, watts) */
    PW_STEP_COUNT,    /* adds `count` to counter `name` (e.g. tokens) at this point */
    PW_STEP_TRACK     /* a body run on its own thread, from start_ns (scenario.tracks only) */
} pw_step_type;

typedef struct pw_step {
    pw_step_type type;
    char *name;             /* PHASE: phase name; COUNT: counter name */
    uint64_t dur_ns;        /* PHASE leaf and IDLE; PHASE composite and REPEAT: the whole
                               body's time, repeats included (0 for COUNT) */
    double watts;           /* PHASE leaf and IDLE: true power while it runs */
    uint32_t repeat;        /* REPEAT */
    int64_t count;          /* COUNT */
    struct pw_step *body;   /* PHASE (composite) and REPEAT; NULL for a leaf */
    size_t nbody;
    uint32_t name_ix;       /* PHASE, COUNT: index of name in pw_scenario.names */
    uint32_t path_ix;       /* PHASE: index of its path in pw_scenario.paths */
    uint64_t start_ns;      /* TRACK: when it starts, after the scenario's start */
} pw_step;

typedef struct pw_scenario {
    pw_step *steps; size_t nsteps;   /* the top level, run in order (the main track) */
    pw_step *tracks; size_t ntracks; /* PW_STEP_TRACK bodies, each on its own thread, beside
                                        the main track (simulate only) */
    double vary;                     /* each leaf call's power is drawn uniformly within
                                        ±vary of its stated power (simulate only) */
    double ramp;                     /* within each leaf call power rises linearly by ramp of
                                        its power, mean kept (simulate only) */
    double background_w;             /* power outside every phase (before/after/between) */
    uint64_t lead_ns;                /* untagged time before the first and after the last step */
    uint64_t sample_interval_ns;     /* how often the recorder reads the sensor (default 1 ms) */
    pw_sensor_model sensor;
    char *domain;                    /* domain name, default "synthetic-0" */
    pw_kind kind;                    /* default PW_KIND_CPU */
    char *name;                      /* the `name` line, or NULL */
    /* Interned once by the parser, so walkers index arrays instead of comparing strings. */
    char **names; size_t nnames;     /* distinct phase and counter names */
    char **paths; size_t npaths;     /* distinct phase paths; paths[0] is "" (top level) */
} pw_scenario;

/* pw_scenario_parse, _load, _free and _builtin are public (phasewatt.h). */

/* Total duration of the scenario (steps only, without lead time): the main track's or the
 * longest track's end, whichever is later. */
uint64_t pw_scenario_duration_ns(const pw_scenario *s);

/* The flattened schedule: each span of time with the innermost phase path and its power
 * (a span, not a piece: analysis's pieces are cut by the recorded events). */
typedef struct pw_span {
    uint64_t t0_ns, t1_ns;  /* relative to the scenario start (after lead time) */
    double watts;
    const char *path;       /* innermost phase path ("" outside every phase); owned by the
                               schedule */
} pw_span;

/* The whole scenario as spans in time order (leaves and idle steps, repeats unrolled). */
typedef struct pw_schedule {
    pw_span *spans; size_t nspans;
    char **paths; size_t npaths;     /* the strings spans point to */
} pw_schedule;
int pw_scenario_schedule(const pw_scenario *s, pw_schedule **out);
void pw_schedule_free(pw_schedule *tl);

/* Walks the scenario in time order from t0_ns, repeats unrolled: the simulator, the runner
 * and the timeline are all walks. NULL callbacks are skipped; a nonzero return stops the
 * walk and is returned. A span is a leaf's or an idle step's time, with the path index of
 * the innermost phase (0 outside every phase). The parser bounds how many steps one walk
 * visits (docs/scenario.md). */
typedef struct pw_walk_ops {
    int (*begin)(void *ctx, const pw_step *phase, uint64_t t_ns);
    int (*end)(void *ctx, const pw_step *phase, uint64_t t_ns);
    int (*count)(void *ctx, const pw_step *count, uint64_t t_ns);
    int (*span)(void *ctx, uint64_t t0_ns, uint64_t t1_ns, double watts, uint32_t path_ix);
} pw_walk_ops;
int pw_scenario_walk(const pw_scenario *s, uint64_t t0_ns, const pw_walk_ops *ops, void *ctx);
/* The same for track i (0 <= i < ntracks), from t0_ns plus the track's start. */
int pw_scenario_walk_track(const pw_scenario *s, size_t i, uint64_t t0_ns, const pw_walk_ops *ops,
                           void *ctx);

/* True power of a phase path, for the synthetic source during a real-time run: a leaf's
 * watts, or for a composite phase the watts of its first idle step (the time its children
 * leave uncovered). Returns background_w if the path is not found or has no idle step. */
double pw_scenario_watts(const pw_scenario *s, const char *path);

/* pw_simulate (phasewatt-analysis.h) and pw_scenario_run (phasewatt.h) play it. */

#endif
