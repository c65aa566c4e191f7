/* accuracy.h — how close each attribution method comes to the truth: a scenario run through
 * the simulator, attributed by every method, each phase's energy compared with the ground
 * truth. Shared by bench/accuracy and the accuracy tests, so both measure the same thing. */
#ifndef PW_ACCURACY_H
#define PW_ACCURACY_H

#include <stddef.h>

#include "analysis/attribute.h"

#define PW_ACCURACY_METHODS 5   /* naive, windows, exact, disaggregate, auto */
extern const pw_method pw_accuracy_methods[PW_ACCURACY_METHODS];

typedef struct pw_accuracy_row {
    char *path;                          /* phase path */
    double true_j, duration_s;           /* from the simulator's ground truth */
    double calls;
    double err[PW_ACCURACY_METHODS];     /* (attributed - true) / true, per method */
    double ci_j[PW_ACCURACY_METHODS];    /* the method's stated 95% half-width, NAN if none */
    const char *provenance;              /* what `report` (auto) labels the figure */
} pw_accuracy_row;

typedef struct pw_accuracy {
    pw_accuracy_row *rows; size_t nrows; /* every phase path with truth, in tree order */
    double run_s;
} pw_accuracy;

/* The benchmark's scenarios, written in units of the sensor's update period so every preset
 * sees the same shapes: "long" (prefill/decode of 15 and 30 periods, 3 requests), "steps"
 * (prefill 3.7 and decode 1.3 periods, 20 requests), "layers" (attention and MLP of about
 * 0.1 period, 1200 times each in four mixes). Writes the scenario text for a preset. */
const char *pw_accuracy_scenario_name(size_t i);   /* NULL past the end */
int pw_accuracy_scenario(const char *name, const char *preset, char *buf, size_t cap);

/* A random scenario of the conditions of real machines for a preset (docs/attribution.md,
 * "Accuracy"): its grid at a random phase, power varying from call to call (15 %) and within
 * calls, layers far shorter than a period, sometimes a second track. Same seed, same text. */
int pw_accuracy_random_scenario(const char *preset, uint64_t seed, char *buf, size_t cap);

/* How stated intervals fare against the truth over many figures: coverage and the ratio of
 * each figure's error to its half-width (calibrated intervals have a median near 0.34). */
#define PW_COVERAGE_MAX 65536
typedef struct pw_coverage {
    size_t n, covered;            /* figures with an interval, and those inside it */
    double ratio[PW_COVERAGE_MAX];   /* |error| / half-width */
    size_t measured;              /* figures labelled measured */
    double worst_measured;        /* their largest |relative error| */
} pw_coverage;
void pw_accuracy_coverage_add(pw_coverage *c, const pw_accuracy *acc);
double pw_accuracy_coverage_median(pw_coverage *c);   /* sorts the ratios */

/* Simulates scenario text into trace_path (overwritten) and measures every method. On error
 * writes a reason to err. */
int pw_accuracy_measure(const char *scenario_text, const char *trace_path, pw_accuracy **out,
                        char *err, size_t errlen);
void pw_accuracy_free(pw_accuracy *acc);
/* The row of a phase path, or NULL. */
const pw_accuracy_row *pw_accuracy_find(const pw_accuracy *acc, const char *path);
/* Method column of pw_method m, or -1. */
int pw_accuracy_column(pw_method m);

#endif
