/* sensor.h — models of how a real power sensor turns true energy into readings. */
#ifndef PW_SENSOR_H
#define PW_SENSOR_H

#include <stddef.h>
#include <stdint.h>

/* A counter sensor (RAPL-like): the register is refreshed every period_ns with the true
 * cumulative energy, quantised to quantum_uj, kept in `bits` bits (wraps), with optional
 * white power noise of noise_w (standard deviation, per update). */
typedef struct pw_sensor_model {
    uint64_t period_ns;     /* register update period; 0 = continuous (exact at read time) */
    uint64_t offset_ns;     /* phase of the update grid */
    double quantum_uj;      /* energy per count; 0 = 1 µJ */
    unsigned bits;          /* counter width; 0 or 64 = no wrap */
    double noise_w;         /* noise standard deviation in W, applied per update (none
                               when period_ns is 0: a continuous sensor is exact) */
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
    double reg_j;           /* the register's content (J) after the last update applied */
    int started;
} pw_sensor;

void pw_sensor_init(pw_sensor *s, const pw_sensor_model *m);
/* The raw counter value (in quanta, masked to bits) a read at t_ns returns: the register as
 * of the last update at or before t_ns. Reads come at non-decreasing times; fn is asked only
 * for that last update's instant, which lies less than one period before t_ns. */
uint64_t pw_sensor_read_raw(pw_sensor *s, pw_true_energy_fn fn, void *ctx, uint64_t t_ns);
/* The largest raw value + 1 (the wrap modulus), 0 when the counter does not wrap. */
uint64_t pw_sensor_modulus(const pw_sensor_model *m);
/* One readable line describing the model ("counter: updates every 1 ms, ..."), for metadata. */
void pw_sensor_describe(const pw_sensor_model *m, char *buf, size_t len);

#endif
