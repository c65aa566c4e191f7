/* gridlock.c — the sensor grid locker: learning a counter's update period and phase from the
 * brackets of its changes, the burst schedule that keeps it locked, and the reading stamps. */
#include "core/gridlock.h"

#include <math.h>
#include <string.h>

#define LEARN_READS_PER_PERIOD 64u   /* learning brackets an update to 1/64 of a period */
#define LEARN_UPDATES 24u            /* updates seen before the grid is fitted */
#define LEARN_PERIODS 128u           /* learning gives up after this many nominal periods */
#define CONTINUOUS_MIN_READS 16u
#define MISSES_TO_RELEARN 8u         /* bursts in a row without a change */
#define SLIPS_TO_RELEARN 4u          /* updates in a row off the grid */

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* The period that stands in before one is measured. */
static uint64_t base_period(const pw_gridlock *g)
{
    return g->nominal_ns ? g->nominal_ns : g->interval_ns;
}

static uint64_t learn_spacing(const pw_gridlock *g)
{
    return max_u64(g->spacing_ns, base_period(g) / LEARN_READS_PER_PERIOD);
}

static void start_learning(pw_gridlock *g, uint64_t t_ns)
{
    g->state = PW_LOCK_LEARNING;
    g->phase_start_ns = t_ns;
    g->reads = g->changes = g->quick = 0;
    g->nfit = g->fit_head = 0;
    g->misses = g->slips = 0;
    g->period_ns = g->offset_ns = g->sigma_ns = 0;
}

void pw_gridlock_init(pw_gridlock *g, uint64_t nominal_ns, uint64_t min_spacing_ns,
                      uint64_t interval_ns)
{
    memset(g, 0, sizeof *g);
    g->nominal_ns = nominal_ns;
    g->spacing_ns = min_spacing_ns ? min_spacing_ns : 1000;
    g->interval_ns = interval_ns ? interval_ns : 10000000;
    start_learning(g, 0);
}

void pw_gridlock_set_self_timed(pw_gridlock *g) { g->state = PW_LOCK_SELF_TIMED; }
void pw_gridlock_set_continuous(pw_gridlock *g) { g->state = PW_LOCK_CONTINUOUS; }

pw_lock_state pw_gridlock_state(const pw_gridlock *g) { return g->state; }

const char *pw_gridlock_state_name(pw_lock_state s)
{
    static const char *const names[] = {"learning", "locked", "continuous", "unlockable",
                                        "self-timed"};
    return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}

/* ---- the grid ------------------------------------------------------------------------- */

static double grid_at(const pw_gridlock *g, int64_t k)
{
    return (double)g->anchor_ns + g->offset_ns + (double)k * g->period_ns;
}

static int64_t nearest_k(const pw_gridlock *g, uint64_t t_ns)
{
    return (int64_t)llround(((double)t_ns - (double)g->anchor_ns - g->offset_ns) / g->period_ns);
}

/* The latest grid index at or before t_ns. */
static int64_t floor_k(const pw_gridlock *g, uint64_t t_ns)
{
    return (int64_t)floor(((double)t_ns - (double)g->anchor_ns - g->offset_ns) / g->period_ns);
}

static void fit_push(pw_gridlock *g, uint64_t t_ns, int64_t k)
{
    g->fit[g->fit_head] = (pw_grid_update){t_ns, k};
    g->fit_head = (g->fit_head + 1) % PW_GRIDLOCK_FIT;
    if (g->nfit < PW_GRIDLOCK_FIT) g->nfit++;
}

/* Least squares t = anchor + offset + k * period over the kept updates; 0 when the updates
 * span fewer than two grid indices. */
static int refit(pw_gridlock *g)
{
    double sk = 0, st = 0, skk = 0, skt = 0, n = g->nfit;
    for (unsigned i = 0; i < g->nfit; i++) {
        double k = (double)g->fit[i].k, t = (double)(g->fit[i].t_ns - g->anchor_ns);
        sk += k; st += t; skk += k * k; skt += k * t;
    }
    double den = n * skk - sk * sk;
    if (g->nfit < 2 || den <= 0) return 0;
    g->period_ns = (n * skt - sk * st) / den;
    g->offset_ns = (st - g->period_ns * sk) / n;
    double ss = 0;
    for (unsigned i = 0; i < g->nfit; i++) {
        double r = (double)g->fit[i].t_ns - grid_at(g, g->fit[i].k);
        ss += r * r;
    }
    g->sigma_ns = sqrt(ss / n);
    g->period_se_ns = g->sigma_ns * sqrt(n / den);   /* the slope's standard error */
    g->k_mean = sk / n;
    return g->period_ns > 0;
}

static double max_residual(const pw_gridlock *g)
{
    double worst = 0;
    for (unsigned i = 0; i < g->nfit; i++)
        worst = fmax(worst, fabs((double)g->fit[i].t_ns - grid_at(g, g->fit[i].k)));
    return worst;
}

double pw_gridlock_period_ns(const pw_gridlock *g)
{
    return g->state == PW_LOCK_LOCKED ? g->period_ns : 0;
}

uint64_t pw_gridlock_phase_ns(const pw_gridlock *g)
{
    if (g->state != PW_LOCK_LOCKED) return 0;
    /* the newest fitted update's grid instant: the line is best near its recent points */
    const pw_grid_update *u = &g->fit[(g->fit_head + PW_GRIDLOCK_FIT - 1) % PW_GRIDLOCK_FIT];
    return (uint64_t)llround(grid_at(g, u->k));
}

/* Drops the updates off the first fit by more than an eighth of a period (a read or an
 * update delayed by preemption), at most a third of them; the caller refits. */
static void drop_outliers(pw_gridlock *g)
{
    unsigned kept = 0, limit = g->nfit / 3, dropped = 0;
    for (unsigned i = 0; i < g->nfit; i++) {
        double r = fabs((double)g->fit[i].t_ns - grid_at(g, g->fit[i].k));
        if (r > g->period_ns / 8 && dropped < limit) dropped++;
        else g->fit[kept++] = g->fit[i];
    }
    g->nfit = kept;
    g->fit_head = kept % PW_GRIDLOCK_FIT;
}

/* Readings per grid update: one update about every interval. */
static int64_t stride(const pw_gridlock *g)
{
    int64_t s = (int64_t)llround((double)g->interval_ns / g->period_ns);
    return s < 1 ? 1 : s;
}

/* The learnt updates (in order, every one seen while reading fast) as grid indices from
 * the median spacing, then fitted; regular enough => locked, else unlockable. */
static void try_lock(pw_gridlock *g, uint64_t t_ns)
{
    double gaps[PW_GRIDLOCK_FIT] = {0};
    unsigned n = g->nfit;
    for (unsigned i = 1; i < n; i++) gaps[i - 1] = (double)(g->fit[i].t_ns - g->fit[i - 1].t_ns);
    for (unsigned i = 1; i + 1 < n; i++)   /* insertion sort: at most 31 gaps */
        for (unsigned j = i; j > 0 && gaps[j - 1] > gaps[j]; j--) {
            double x = gaps[j]; gaps[j] = gaps[j - 1]; gaps[j - 1] = x;
        }
    double guess = n > 1 ? gaps[(n - 2) / 2] : 0;   /* the median gap */
    g->anchor_ns = g->fit[0].t_ns;
    for (unsigned i = 0; i < n; i++)
        g->fit[i].k = (int64_t)llround((double)(g->fit[i].t_ns - g->anchor_ns) / guess);
    if (guess > 0 && refit(g)) drop_outliers(g);
    if (guess > 0 && g->nfit >= LEARN_UPDATES / 2 && refit(g) &&
        max_residual(g) <= g->period_ns / 8) {
        g->state = PW_LOCK_LOCKED;
        g->target_k = g->fit[g->nfit - 1].k + stride(g);
        g->misses = g->slips = 0;
        return;
    }
    g->state = PW_LOCK_UNLOCKABLE;
    unsigned m = g->nfit;   /* the mean spacing of what was seen stands in for a period */
    g->period_ns = m > 1 ? (double)(g->fit[m - 1].t_ns - g->fit[0].t_ns) / (m - 1) : 0;
    g->phase_start_ns = t_ns;
}

/* Time an update needs to be expected early: the grid's own scatter and two reads. */
static double guard_ns(const pw_gridlock *g)
{
    return fmax(4 * g->sigma_ns + 2.0 * (double)g->spacing_ns, g->period_ns / 100);
}

/* ---- schedule ------------------------------------------------------------------------- */

uint64_t pw_gridlock_next_read(const pw_gridlock *g)
{
    if (!g->have_prev) return 0;
    switch (g->state) {
    case PW_LOCK_LEARNING:
        return g->prev_t1 + learn_spacing(g);
    case PW_LOCK_LOCKED: {
        double start = grid_at(g, g->target_k) - guard_ns(g);
        if ((double)g->prev_t1 >= start) return g->prev_t1 + g->spacing_ns;   /* in a burst */
        return (uint64_t)start;
    }
    default:
        return g->due_ns;
    }
}

/* ---- stamps --------------------------------------------------------------------------- */

/* An uncertainty rounded up to 1/16 of its power of two (at most 6 % wider, never
 * narrower): readings stamped alike then carry the same value, which the trace stores once. */
static uint32_t coarse_err(double err_ns)
{
    if (!(err_ns > 0)) return 0;
    if (err_ns >= (double)(UINT32_MAX - (UINT32_MAX >> 4))) return UINT32_MAX - 1;
    uint64_t e = (uint64_t)ceil(err_ns), step = 1;
    while (step * 32 <= e) step <<= 1;             /* e / 32 < step <= e / 16 */
    return (uint32_t)((e + step - 1) / step * step);
}

static pw_grid_stamp stamp(pw_gridlock *g, uint64_t t1_ns, double t_ns, double err_ns)
{
    uint64_t t = t_ns <= 0 ? 0 : (uint64_t)llround(t_ns);
    if (t > t1_ns) t = t1_ns;                       /* never after the read */
    if (g->have_stamp && t < g->last_stamp_ns) {    /* never before the last one */
        err_ns = fmax(err_ns, (double)(g->last_stamp_ns - t));
        t = g->last_stamp_ns;
    }
    g->have_stamp = 1;
    g->last_stamp_ns = t;
    return (pw_grid_stamp){1, t, coarse_err(err_ns)};
}

/* Read at some instant in [t0, t1] and current since the last update: half a period back. */
static pw_grid_stamp stamp_unlocked(pw_gridlock *g, uint64_t t0, uint64_t t1)
{
    double p = g->period_ns > 0 ? g->period_ns : (double)base_period(g);
    double mid = 0.5 * ((double)t0 + (double)t1);
    return stamp(g, t1, mid - p / 2, p / 2 + 0.5 * (double)(t1 - t0));
}

/* The first reading, the energy baseline: at the read, which a sensor current when read
 * gets right, with an uncertainty that covers a counter's last update up to a (nominal
 * period, else interval) before. */
static pw_grid_stamp stamp_first(pw_gridlock *g, uint64_t t0, uint64_t t1)
{
    return stamp(g, t1, 0.5 * ((double)t0 + (double)t1), (double)base_period(g) + 0.5 * (double)(t1 - t0));
}

static const pw_grid_stamp no_record = {0, 0, 0};

static pw_grid_stamp feed_learning(pw_gridlock *g, uint64_t t0, uint64_t t1, int changed,
                                   int due)
{
    g->reads++;
    g->changes += changed != 0;
    uint64_t half = (t1 - g->prev_t0) / 2;
    pw_grid_stamp st = no_record;
    if (changed && half <= base_period(g) / 8) {
        /* the old value was read at or after prev_t0, the new one by t1 */
        if (g->nfit < PW_GRIDLOCK_FIT) fit_push(g, g->prev_t0 + half, 0);   /* k: try_lock */
        g->updates_seen++;
        st = stamp(g, t1, (double)(g->prev_t0 + half), (double)half);
    } else if (changed) {
        /* a wide bracket (the reads were delayed): at the read, which is right for a sensor
         * current when read, with an uncertainty that covers the whole bracket */
        st = stamp(g, t1, 0.5 * ((double)t0 + (double)t1), (double)(t1 - g->prev_t0));
    } else if (due && g->have_update) {
        /* a reading per interval regardless; unchanged, it holds the energy of the last update
         * seen, which a bracket dated: there, not half a period back */
        st = stamp(g, t1, g->update_ns, g->update_err_ns);
    } else if (due) {
        st = stamp_unlocked(g, t0, t1);
    }
    if (changed && st.record) {
        g->have_update = 1;
        g->update_ns = (double)st.t_ns;
        g->update_err_ns = (double)st.err_ns;
    }
    /* 4 changes in a row, each within a 16th of a period of the read before: no counter
     * of that period does that */
    g->quick = changed && half <= base_period(g) / 32 ? g->quick + 1 : 0;
    if (g->quick >= 4) g->state = PW_LOCK_CONTINUOUS;
    if (g->reads < CONTINUOUS_MIN_READS || g->state != PW_LOCK_LEARNING) return st;
    /* nearly every read changed: a model current when read, but only if the reads came
     * faster than a counter of the nominal period updates (a slow path to the sensor, such
     * as a socket to the agent, sees every update change too, and is no model) */
    if (8 * g->changes >= 7 * g->reads && (t1 - g->phase_start_ns) / g->reads <= base_period(g) / 8)
        g->state = PW_LOCK_CONTINUOUS;
    else if (g->nfit >= LEARN_UPDATES)
        try_lock(g, t1);
    else if (t1 - g->phase_start_ns > LEARN_PERIODS * max_u64(base_period(g), g->interval_ns)) {
        if (g->nfit >= 3) try_lock(g, t1);
        else g->state = PW_LOCK_UNLOCKABLE, g->period_ns = 0, g->phase_start_ns = t1;
    }
    return st;
}

/* A burst that saw the change: the update lies in (prev_t0, t1]. A tight bracket is an
 * observation of the grid; a wide one (a late wake-up) is stamped from the grid. */
static pw_grid_stamp feed_locked_change(pw_gridlock *g, uint64_t t1)
{
    uint64_t lo = g->prev_t0, half = (t1 - lo) / 2;
    double mid = (double)(lo + half);
    int64_t k = nearest_k(g, lo + half);
    double t = mid, err = (double)half;
    g->updates_seen++;
    if ((double)half <= g->period_ns / 8) {
        if (fabs(mid - grid_at(g, k)) <= g->period_ns / 4) {
            fit_push(g, lo + half, k);
            refit(g);
            g->slips = 0;
        } else if (++g->slips >= SLIPS_TO_RELEARN) {
            start_learning(g, t1);
            return stamp(g, t1, t, err);
        }
    } else {
        /* the latest grid instant by the read, allowing for the grid's own error: its
         * scatter, and its period's error times the distance from the fitted updates */
        double far = ((double)t1 - grid_at(g, 0)) / g->period_ns - g->k_mean;
        double grid_err = 3 * hypot(g->sigma_ns, far * g->period_se_ns) + (double)g->spacing_ns;
        int64_t kg = floor_k(g, t1 + (uint64_t)grid_err);
        double gk = grid_at(g, kg);
        if (gk > (double)lo && grid_err < err) t = gk, err = grid_err, k = kg;
    }
    g->misses = 0;
    int64_t next = k + stride(g);
    if (next > g->target_k) g->target_k = next;
    return stamp(g, t1, t, err);
}

static pw_grid_stamp feed_locked(pw_gridlock *g, uint64_t t0, uint64_t t1, int changed)
{
    if (changed) return feed_locked_change(g, t1);
    double due = grid_at(g, g->target_k);
    if ((double)t1 <= due + guard_ns(g) + g->period_ns / 4) return no_record;   /* spin on */
    /* no update where one was due: a domain-wide 0 W, a late or a stopped sensor; the
     * reading is recorded anyway, as current at the grid instant that passed */
    g->target_k = floor_k(g, t1) + stride(g);
    if (++g->misses >= MISSES_TO_RELEARN) start_learning(g, t1);
    return stamp(g, t1, due, g->period_ns / 2);
}

/* Readings per the interval keep absolute deadlines (a late one skips whole intervals);
 * 1 when this read reached the deadline. */
static int advance_due(pw_gridlock *g, uint64_t t0_ns)
{
    if (!g->due_ns) g->due_ns = t0_ns;
    if (t0_ns < g->due_ns) return 0;
    g->due_ns += g->interval_ns * (1 + (t0_ns - g->due_ns) / g->interval_ns);
    return 1;
}

pw_grid_stamp pw_gridlock_feed(pw_gridlock *g, uint64_t t0_ns, uint64_t t1_ns, int changed)
{
    if (t1_ns < t0_ns) t1_ns = t0_ns;
    int due = advance_due(g, t0_ns);
    pw_grid_stamp st = no_record;
    if (!g->have_prev) {                            /* the baseline reading */
        g->phase_start_ns = t0_ns;
        st = g->state == PW_LOCK_SELF_TIMED ? stamp(g, t1_ns, (double)t0_ns, 0)
           : g->state == PW_LOCK_CONTINUOUS ? stamp(g, t1_ns, 0.5 * ((double)t0_ns + (double)t1_ns),
                                                   0.5 * (double)(t1_ns - t0_ns))
           : stamp_first(g, t0_ns, t1_ns);
    } else {
        switch (g->state) {
        case PW_LOCK_LEARNING: st = feed_learning(g, t0_ns, t1_ns, changed, due); break;
        case PW_LOCK_LOCKED: st = feed_locked(g, t0_ns, t1_ns, changed); break;
        case PW_LOCK_CONTINUOUS:
            st = stamp(g, t1_ns, 0.5 * ((double)t0_ns + (double)t1_ns), 0.5 * (double)(t1_ns - t0_ns));
            break;
        case PW_LOCK_SELF_TIMED:   /* a repeat of the source's last sample adds nothing */
            if (changed || t0_ns > g->last_stamp_ns) st = stamp(g, t1_ns, (double)t0_ns, 0);
            break;
        case PW_LOCK_UNLOCKABLE:
            st = stamp_unlocked(g, t0_ns, t1_ns);
            if (t1_ns - g->phase_start_ns >= PW_GRIDLOCK_RETRY_NS) start_learning(g, t1_ns);
            break;
        }
    }
    g->have_prev = 1;
    g->prev_t0 = t0_ns;
    g->prev_t1 = t1_ns;
    return st;
}
