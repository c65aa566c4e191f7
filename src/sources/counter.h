/* counter.h — turning a wrapping hardware energy counter into a cumulative 64-bit one. */
#ifndef PW_COUNTER_H
#define PW_COUNTER_H

#include <stdint.h>

/* State for one counter. modulus = the value at which the raw counter wraps to 0
 * (2^32 for 32-bit MSRs, max_energy_range_uj + 1 for powercap); 0 = never wraps. */
typedef struct pw_counter {
    uint64_t modulus;
    uint64_t last_raw;
    uint64_t total;      /* cumulative raw units since the first reading */
    int started;
} pw_counter;

void pw_counter_init(pw_counter *c, uint64_t modulus);
/* Feeds one raw reading; returns the cumulative count. A reading below the last one is
 * taken as exactly one wrap (the caller must read more often than the wrap period). */
uint64_t pw_counter_update(pw_counter *c, uint64_t raw);

#endif
