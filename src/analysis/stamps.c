/* stamps.c — how far a reading's time can be from the instant its energy was current (a
 * counter read between two of its updates returns the last one, so unless the recorder locked
 * onto the sensor's update grid, a reading is up to a period older than its time), and the
 * timing variance that gives a figure. */
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

double pw_series_stamp_sd_ns(const pw_series *se, size_t i, double lag_ns)
{
    if (!(lag_ns > 0)) return 0;
    double bound = se->t_err_ns && se->t_err_ns[i] != PW_T_ERR_UNKNOWN ? se->t_err_ns[i] : lag_ns;
    return bound / sqrt(3.0);   /* uniform within +- bound */
}

int pw_stamp_acc_init(pw_stamp_acc *acc, size_t n)
{
    acc->n = n;
    acc->coef = calloc(2 * n + 1, sizeof *acc->coef);
    acc->at = calloc(n + 1, sizeof *acc->at);
    acc->sd = acc->coef ? acc->coef + n : NULL;
    return acc->coef && acc->at ? PW_OK : PW_ERR_NOMEM;
}

void pw_stamp_acc_add(pw_stamp_acc *acc, size_t i, size_t reading, double coef, double sd_ns,
                      double *var)
{
    if (acc->at[i] == reading + 1) {   /* the same reading bounds the interval before */
        acc->coef[i] += coef;
        return;
    }
    pw_stamp_acc_flush(acc, i, var);
    acc->coef[i] = coef, acc->sd[i] = sd_ns, acc->at[i] = reading + 1;
}

void pw_stamp_acc_flush(pw_stamp_acc *acc, size_t i, double *var)
{
    double e = acc->coef[i] * acc->sd[i];
    *var += e * e;
    acc->coef[i] = 0, acc->at[i] = 0;
}

void pw_stamp_acc_free(pw_stamp_acc *acc)
{
    free(acc->coef);
    free(acc->at);
    *acc = (pw_stamp_acc){0};
}
