/* runner.c — runs a scenario for real in the calling thread: phase tags around busy CPU work,
 * each leaf ending on an absolute deadline so the run keeps the scenario's total time. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "platform/platform.h"
#include "phasewatt-analysis.h"
#include "sim/scenario.h"

typedef struct runner {
    pw_id *ids;          /* per scenario name, interned once */
    uint64_t base_ns;    /* the real time of the scenario's virtual 0 */
    double scale;
    int open;            /* phases this run began and has not ended */
    double work;         /* the floating-point work's running value */
} runner;

static volatile double sink;   /* where the work's result goes, so it is never optimised out */

static uint64_t real_time(const runner *r, uint64_t virtual_ns)
{
    return r->base_ns + (uint64_t)llround((double)virtual_ns * r->scale);
}

static void sleep_until(uint64_t t_ns)
{
    pw_sleep_until(t_ns);
}

/* Keeps the core busy with dependent multiply-adds until the deadline; the chain converges,
 * so its value stays finite however long it runs. */
static void spin_until(runner *r, uint64_t t_ns)
{
    double x = r->work;
    while (pw_now_ns() < t_ns)
        for (int i = 0; i < 256; i++) x = x * 0.9999999 + 1e-7;
    r->work = x;
}

static int on_begin(void *ctx, const pw_step *phase, uint64_t t_ns)
{
    runner *r = ctx;
    (void)t_ns;
    int rc = pw_begin(r->ids[phase->name_ix]);
    r->open += rc == PW_OK;
    return rc;
}

static int on_end(void *ctx, const pw_step *phase, uint64_t t_ns)
{
    runner *r = ctx;
    (void)phase, (void)t_ns;   /* pw_end closes this thread's innermost phase: this one */
    int rc = pw_end();
    r->open -= rc == PW_OK;
    return rc;
}

static int on_count(void *ctx, const pw_step *count, uint64_t t_ns)
{
    const runner *r = ctx;
    (void)t_ns;
    return pw_count(r->ids[count->name_ix], count->count);
}

static int on_span(void *ctx, uint64_t t0_ns, uint64_t t1_ns, double watts, uint32_t path_ix)
{
    runner *r = ctx;
    (void)t0_ns, (void)watts, (void)path_ix;   /* the power is the CPU's own, not modelled */
    spin_until(r, real_time(r, t1_ns));
    return PW_OK;
}

int pw_scenario_run(const pw_scenario *s, double time_scale)
{
    if (!s || !(time_scale > 0)) return PW_ERR_INVALID;
    uint64_t dur = pw_scenario_duration_ns(s);
    if (!((double)(dur + 2 * s->lead_ns) * time_scale < 0x1p62)) return PW_ERR_INVALID;
    runner r = {.scale = time_scale, .work = 1.0};
    if (!(r.ids = calloc(s->nnames ? s->nnames : 1, sizeof *r.ids))) return PW_ERR_NOMEM;
    int rc = PW_OK;
    for (size_t i = 0; i < s->nnames && rc == PW_OK; i++)   /* counters share the name table */
        if (!(r.ids[i] = pw_phase_id(s->names[i]))) rc = PW_ERR_LIMIT;
    uint64_t lead = (uint64_t)llround((double)s->lead_ns * time_scale);
    r.base_ns = pw_now_ns() + lead;
    if (rc == PW_OK) {
        sleep_until(r.base_ns);   /* untagged lead time */
        static const pw_walk_ops ops = {on_begin, on_end, on_count, on_span};
        rc = pw_scenario_walk(s, 0, &ops, &r);
    }
    for (; r.open > 0; r.open--) (void)pw_end();   /* a failed run leaves no phase open */
    if (rc == PW_OK) sleep_until(real_time(&r, dur) + lead);
    sink = r.work;
    free(r.ids);
    return rc;
}
