/* sensor.h — models of how a real power sensor turns true energy into readings. */
#ifndef PW_SENSOR_H
#define PW_SENSOR_H

#include <stdint.h>

/* A counter sensor (RAPL-like): the register is refreshed every period_ns with the true
 * cumulative energy, quantised to quantum_uj, kept in `bits` bits (wraps), with optional
 * white power noise of noise_w (standard deviation, per update). */
typedef struct pw_sensor_model {
    uint64_t period_ns;     /* register update period; 0 = continuous (exact at read time) */
    uint64_t offset_ns;     /* phase of the update grid */
    double quantum_uj;      /* energy per count; 0 = 1 µJ */
    unsigned bits;          /* counter width; 0 or 64 = no wrap */
    double noise_w;         /* noise standard deviation in W, applied per update */
    uint64_t seed;          /* for the noise */
} pw_sensor_model;

void pw_sensor_model_default(pw_sensor_model *m);  /* continuous, 1 µJ, 64 bits, no noise */

/* True cumulative energy (J) at time t_ns, for t_ns no later than the read time. */
typedef double (*pw_true_energy_fn)(void *ctx, uint64_t t_ns);

typedef struct pw_sensor {
    pw_sensor_model m;
    uint64_t rng;
    uint64_t last_update;   /* index of the last update applied */
    double noise_j;         /* accumulated noise energy */
    int started;
} pw_sensor;

void pw_sensor_init(pw_sensor *s, const pw_sensor_model *m);
/* The raw counter value (in quanta, masked to bits) a read at t_ns would return. */
uint64_t pw_sensor_read_raw(pw_sensor *s, pw_true_energy_fn fn, void *ctx, uint64_t t_ns);
/* The largest raw value + 1 (the wrap modulus), 0 when the counter does not wrap. */
uint64_t pw_sensor_modulus(const pw_sensor_model *m);

#endif
