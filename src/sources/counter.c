/* counter.c — undoes wraparound of hardware energy counters. */
#include "sources/counter.h"

void pw_counter_init(pw_counter *c, uint64_t modulus)
{
    c->modulus = modulus;
    c->last_raw = 0;
    c->total = 0;
    c->started = 0;
}

uint64_t pw_counter_update(pw_counter *c, uint64_t raw)
{
    if (!c->started) {
        c->started = 1;
        c->last_raw = raw;
        return c->total;
    }
    uint64_t delta;
    int in_range = !c->modulus || (raw < c->modulus && c->last_raw < c->modulus);
    if (raw >= c->last_raw)
        delta = raw - c->last_raw;
    else if (c->modulus && in_range)
        delta = c->modulus - c->last_raw + raw;   /* one wrap */
    else
        delta = 0;   /* a 64-bit counter went back, or a value beyond the range: a reset */
    c->last_raw = raw;
    c->total += delta;
    return c->total;
}
