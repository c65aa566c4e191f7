/* stamps.c — how far a reading's time can be from the instant its energy was current: a
 * counter read between two of its updates returns the last one, so unless the recorder locked
 * onto the sensor's update grid, a reading is up to a period older than its time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "analysis/disaggregate.h"

const char *pw_source_meta(const pw_trace *t, uint32_t src, const char *what)
{
    if (src >= t->nsources) return NULL;
    char key[160];
    snprintf(key, sizeof key, "sensor.%s.%s", t->sources[src].name, what);
    return pw_trace_meta(t, key);
}

int pw_series_exact_at_stamp(const pw_trace *t, const pw_series *se)
{
    if (se->source >= t->nsources) return 0;
    const char *lock = pw_source_meta(t, se->source, "lock");
    return lock && (!strcmp(lock, "self-timed") || !strcmp(lock, "continuous"));
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The typical stated uncertainty of a stamped series (its median: the few readings taken while
 * the recorder was still learning the grid are far wider), or -1 when a row states none. */
static double median_err_ns(const pw_series *se)
{
    uint32_t *v = malloc(se->n * sizeof *v);
    if (!v) return -1;
    size_t n = 0;
    for (size_t i = 0; i < se->n; i++)
        if (se->t_err_ns[i] != PW_T_ERR_UNKNOWN) v[n++] = se->t_err_ns[i];
    double m = -1;
    if (n == se->n) {
        qsort(v, n, sizeof *v, cmp_u32);
        size_t mid = n / 2;
        m = (double)v[mid];
    }
    free(v);
    return m;
}

double pw_series_lag_ns(const pw_trace *t, const pw_series *se)
{
    uint32_t src = se->source;
    if (src >= t->nsources || se->n < 2 || (t->sources[src].flags & PW_DOMAIN_ESTIMATED)) return 0;
    if (pw_domain_averaged(t, se->first_domain)) return 0;   /* fitted over its windows */
    if (!strcmp(t->sources[src].name, "powermetrics")) return 0;   /* stamps its own samples */
    if (se->t_err_ns) {   /* stamped: the recorder's own uncertainty, where it says */
        double typical = median_err_ns(se);
        if (typical >= 0) return typical;
    }
    const char *lock = pw_source_meta(t, src, "lock");
    if (lock && (!strcmp(lock, "self-timed") || !strcmp(lock, "continuous"))) return 0;
    const char *grid = pw_source_meta(t, src, "grid_period_ns");
    double period = grid ? strtod(grid, NULL) : (double)t->sources[src].period_ns;
    double interval = (double)(se->t_ns[se->n - 1] - se->t_ns[0]) / (double)(se->n - 1);
    /* a reading that changed since a repeat was updated after the previous read */
    return period < interval ? period : interval;
}

/* The stated uncertainty (ns) of the readings that bracket instant t: the later of the two
 * around it, which is what a boundary there is split by; -1 when they state none. */
static double bracket_err_ns(const pw_series *se, uint64_t t)
{
    size_t lo = 0, hi = se->n;
    while (lo < hi) {   /* the first reading at or after t */
        size_t mid = lo + (hi - lo) / 2;
        if (se->t_ns[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    double e = -1;
    for (size_t i = lo ? lo - 1 : 0; i <= lo && i < se->n; i++)
        if (se->t_err_ns[i] != PW_T_ERR_UNKNOWN && (double)se->t_err_ns[i] > e) e = se->t_err_ns[i];
    return e;
}

int pw_node_lags_ns(const pw_trace *t, const pw_attribution *a, const pw_series *se, double lag_ns,
                    double *out)
{
    for (size_t k = 0; k < a->nnodes; k++) out[k] = lag_ns;
    if (!se->t_err_ns || lag_ns <= 0 || se->n < 2 || pw_series_exact_at_stamp(t, se)) return PW_OK;
    double *sum = calloc(2 * a->nnodes + 1, sizeof *sum), *cnt = sum ? sum + a->nnodes : NULL;
    if (!sum) return PW_ERR_NOMEM;
    for (size_t i = 0; i < a->nsegments; i++) {
        const pw_segment *g = &a->segments[i];
        double e0 = bracket_err_ns(se, g->t0_ns), e1 = bracket_err_ns(se, g->t1_ns);
        for (int64_t k = g->node; k >= 0; k = k ? (int64_t)a->nodes[k].parent : -1)
            for (int end = 0; end < 2; end++) {
                double e = end ? e1 : e0;
                if (e >= 0) sum[k] += e * e, cnt[k] += 1;
            }
    }
    for (size_t k = 0; k < a->nnodes; k++)
        if (cnt[k] > 0) out[k] = sqrt(sum[k] / cnt[k]);
    free(sum);
    return PW_OK;
}
