/* sensor.h — models of how a real power sensor turns true energy into readings. */
#ifndef PW_SENSOR_H
#define PW_SENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "phasewatt.h"
#include "sources/counter.h"
#include "trace/sink.h"
#include "trace/trace.h"

/* What the sensor hands out: a cumulative energy register, or a boxcar-averaged power. */
typedef enum pw_sensor_kind {
    PW_SENSOR_COUNTER = 0,  /* RAPL, NVML total energy: cumulative energy in quanta */
    PW_SENSOR_AVERAGE = 1   /* NVML power on Ampere+: mean power over the last window */
} pw_sensor_kind;

/* A sensor model. A counter (RAPL-like) is refreshed every period_ns with the cumulative
 * energy, quantised to quantum_uj, kept in `bits` bits (wraps), with optional white power
 * noise of noise_w (standard deviation, per update). An averaged-power sensor publishes,
 * every period_ns, the mean power of the last window_ns, quantised to quantum_mw. Either
 * may see only the last `coverage` of each period (part-time sampling), report what
 * happened latency_ns ago, and be read by a sampling thread that wakes up to jitter_ns
 * late (simulated runs only: in real time the jitter is real). */
typedef struct pw_sensor_model {
    pw_sensor_kind kind;
    uint64_t period_ns;     /* register update period; 0 = continuous (exact at read time) */
    uint64_t offset_ns;     /* phase of the update grid */
    int offset_random;      /* 1: the grid's phase is drawn from the seed at init (what real
                               sensors do: their grid is never aligned with the sampler) */
    double quantum_uj;      /* energy per count; 0 = 1 µJ */
    unsigned bits;          /* counter width; 0 or 64 = no wrap */
    double noise_w;         /* noise standard deviation in W, applied per update (none
                               when period_ns is 0: a continuous sensor is exact) */
    uint64_t seed;          /* for the noise */
    uint64_t window_ns;     /* AVERAGE: boxcar length; 0 = one period */
    double quantum_mw;      /* AVERAGE: power resolution; 0 = 1 mW */
    double coverage;        /* fraction of each period the sensor sees, (0, 1]; 0 = 1 */
    uint64_t latency_ns;    /* readings describe the time latency_ns before the update */
    uint64_t jitter_ns;     /* simulated reads come late by uniform [0, jitter_ns) */
} pw_sensor_model;

void pw_sensor_model_default(pw_sensor_model *m);  /* continuous, 1 µJ, 64 bits, no noise */

/* Named presets that mimic real sensors (docs/attribution.md gives their sources):
 * "rapl", "nvml-energy", "nvml-power", "powermetrics". PW_ERR_NOT_FOUND for another name.
 * Presets put the update grid at a random phase (offset_random) and RAPL at 976.5625 us, as
 * on real machines; a scenario's `offset=aligned` (or an explicit offset) overrides. */
int pw_sensor_preset(const char *name, pw_sensor_model *m);
const char *pw_sensor_preset_name(size_t i);   /* the i-th preset's name, NULL past the end */

/* How far back in time a read may ask for true energy (window, latency, one period). */
uint64_t pw_sensor_lookback_ns(const pw_sensor_model *m);
/* The effective coverage, in (0, 1]. */
double pw_sensor_coverage(const pw_sensor_model *m);

/* True cumulative energy (J) at time t_ns, for t_ns no later than the read time. */
typedef double (*pw_true_energy_fn)(void *ctx, uint64_t t_ns);

typedef struct pw_sensor {
    pw_sensor_model m;
    uint64_t rng;
    uint64_t last_update;   /* index of the last update applied */
    double noise_j;         /* accumulated noise energy */
    double reg_j;           /* the register's content (J) after the last update applied */
    double power_w;         /* AVERAGE: the published power after the last update */
    double seen_j;          /* part-time counter: the energy the sensor has seen so far */
    int started;
} pw_sensor;

/* Copies the model; a random offset is drawn here, from the seed, so a run is reproducible. */
void pw_sensor_init(pw_sensor *s, const pw_sensor_model *m);
/* The grid phase a model resolves to (offset_random drawn from the seed), in [0, period). */
uint64_t pw_sensor_grid_offset(const pw_sensor_model *m);
/* The raw counter value (in quanta, masked to bits) a read at t_ns returns: the register as
 * of the last update at or before t_ns. Reads come at non-decreasing times; fn is asked only
 * for that last update's instant, which lies less than one period before t_ns. */
uint64_t pw_sensor_read_raw(pw_sensor *s, pw_true_energy_fn fn, void *ctx, uint64_t t_ns);
/* The largest raw value + 1 (the wrap modulus), 0 when the counter does not wrap. */
uint64_t pw_sensor_modulus(const pw_sensor_model *m);
/* AVERAGE: the power (W) a read at t_ns returns, as of the last update at or before it. */
double pw_sensor_read_power(pw_sensor *s, pw_true_energy_fn fn, void *ctx, uint64_t t_ns);
/* A draw of the sampling thread's lateness, in [0, jitter_ns). */
uint64_t pw_sensor_jitter(pw_sensor *s);

/* A sensor with what a recorder does to its readings: counters unwrapped, averaged power
 * integrated (E += reading x time since the last read, so reading = dE/dt is recoverable).
 * Gives the cumulative µJ a trace stores; the simulator and the synthetic source share it. */
typedef struct pw_meter {
    pw_sensor sensor;
    pw_counter counter;                  /* counter unwrapping */
    double integrated_uj;                /* averaged power integrated */
    uint64_t last_t_ns;
    int started;
} pw_meter;
void pw_meter_init(pw_meter *m, const pw_sensor_model *model);
uint64_t pw_meter_read_uj(pw_meter *m, pw_true_energy_fn fn, void *ctx, uint64_t t_ns);
/* Trace metadata that lets attribution model the sensor (docs/attribution.md):
 * sensor.<source>.kind/period_ns/window_ns/coverage/latency_ns. */
int pw_sensor_write_meta(const pw_sensor_model *m, const char *source, const pw_sink *out);

/* One readable line describing the model ("counter: updates every 1 ms, ..."), for metadata. */
void pw_sensor_describe(const pw_sensor_model *m, char *buf, size_t len);

#endif
