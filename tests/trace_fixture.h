/* trace_fixture.h — hand-built traces for the attribution and report tests: sources with a
 * known piecewise-constant power, and phase events at exact times. Include after tf.h. */
#ifndef PW_TRACE_FIXTURE_H
#define PW_TRACE_FIXTURE_H

#include <math.h>
#include <stdint.h>

#include "tf.h"
#include "trace/trace.h"

#define FX_MS 1000000ull            /* ns in a millisecond */
#define FX_FOREVER UINT64_MAX

/* Power `watts` until `until_ns`; a profile ends with a step until FX_FOREVER. */
typedef struct fx_step {
    uint64_t until_ns;
    double watts;
} fx_step;

/* Energy (J) of the profile from time 0 to t. */
static inline double fx_energy_j(const fx_step *steps, uint64_t t)
{
    double e = 0;
    uint64_t from = 0;
    for (const fx_step *s = steps; from < t; s++) {
        uint64_t to = s->until_ns < t ? s->until_ns : t;
        e += s->watts * (double)(to - from) * 1e-9;
        from = to;
    }
    return e;
}

/* A source with one top-level domain (named like the source) read every period_ns from t0
 * to t1 inclusive; its counter is the profile's energy since time 0. Returns its index. */
static inline uint32_t fx_source(pw_trace *t, const char *name, pw_kind kind, uint32_t flags,
                                 const fx_step *steps, uint64_t t0, uint64_t period_ns,
                                 uint64_t t1)
{
    uint32_t s = (uint32_t)t->nsources;
    /* an ideal sensor, exact at every read: it updates continuously (period 0), so its
     * readings need no placing in time (src/analysis/instants.c) */
    CHECK_INT(pw_trace_add_source(t, name, 0, flags), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, s, name, kind, -1, 0), PW_OK);
    for (uint64_t at = t0; at <= t1; at += period_ns) {
        uint64_t e = (uint64_t)llround(fx_energy_j(steps, at) * 1e6);
        CHECK_INT(pw_trace_add_sample(t, s, at, &e, 0), PW_OK);
    }
    return s;
}

/* The same at constant power. */
static inline uint32_t fx_constant(pw_trace *t, const char *name, pw_kind kind, double watts,
                                   uint64_t t0, uint64_t period_ns, uint64_t t1)
{
    const fx_step steps[] = {{FX_FOREVER, watts}};
    return fx_source(t, name, kind, 0, steps, t0, period_ns, t1);
}

static inline void fx_event(pw_trace *t, uint32_t track, uint64_t at, uint32_t type,
                            uint32_t id, int64_t value)
{
    pw_event ev = {.t_ns = at, .value = value, .id = id, .type = type};
    CHECK_INT(pw_trace_add_event(t, track, &ev), PW_OK);
}

static inline void fx_begin(pw_trace *t, uint32_t track, uint64_t at, uint32_t id)
{
    fx_event(t, track, at, PW_EV_BEGIN, id, 0);
}

static inline void fx_end(pw_trace *t, uint32_t track, uint64_t at, uint32_t id)
{
    fx_event(t, track, at, PW_EV_END, id, 0);
}

static inline void fx_name(pw_trace *t, uint32_t id, const char *name)
{
    CHECK_INT(pw_trace_set_name(t, id, name), PW_OK);
}

#endif
