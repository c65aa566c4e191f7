/* test_gridlock.c — the grid locker driven in virtual time against simulated counters: random
 * grid phases, 976.5625 µs against a 1 ms nominal, drift, update jitter, late wake-ups, a
 * 0 W domain, a sensor that stops and one that changes on every read; many seeds. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/gridlock.h"
#include "tf.h"

typedef struct rng { uint64_t s; } rng;

static double uniform(rng *r)   /* [0, 1), splitmix64 */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}

/* A counter that publishes on its own grid: update j at phase + j * period (the period
 * drifting by drift_ppm per second), each one late or early by up to jitter_ns. */
typedef struct counter {
    double phase_ns, period_ns, drift_ppm, jitter_ns;
    uint64_t stop_ns;              /* no update after this (0: never) */
    double watts;                  /* domain 0; domain 1 draws 0 W */
    rng r;
    int64_t j;                     /* the latest update published so far */
    double u;                      /* its instant */
    double next_u;                 /* the next one's */
} counter;

static double grid_instant(const counter *c, int64_t j)
{
    double t = c->phase_ns + (double)j * c->period_ns;
    return t + c->drift_ppm * 1e-6 * t * t * 0.5e-9;   /* the period grows with time */
}

static void counter_init(counter *c, uint64_t seed, double period_ns)
{
    *c = (counter){.period_ns = period_ns, .watts = 12.5, .r = {seed}, .j = -1};
    c->phase_ns = uniform(&c->r) * period_ns;           /* a random grid phase */
    c->next_u = grid_instant(c, 0);
}

/* Publishes every update due by t; returns the instant of the value a read at t sees. */
static double counter_at(counter *c, double t)
{
    while (c->next_u <= t && !(c->stop_ns && c->next_u > (double)c->stop_ns)) {
        c->u = c->next_u;
        c->j++;
        c->next_u = grid_instant(c, c->j + 1) + (uniform(&c->r) - 0.5) * 2 * c->jitter_ns;
        if (c->next_u <= c->u) c->next_u = c->u + 1;
    }
    return c->j < 0 ? 0 : c->u;
}

typedef struct run_cfg {
    uint64_t nominal_ns, interval_ns, cost_ns, run_ns;
    double late_ns;                /* wake-ups up to this late; 1 in 200 a whole 3 ms */
} run_cfg;

typedef struct run_out {
    uint64_t reads, records, covered, tight;   /* tight: err <= 10 µs */
    uint64_t max_gap_ns;                       /* longest read-time gap between records */
    double miss_t, miss_u, miss_read;          /* the first stamp that missed its update */
    uint32_t miss_err;
    int monotonic;
    pw_gridlock g;
} run_out;

/* Drives the locker as the sampler does: sleep to the next read (maybe late), read, feed.
 * The value read is the one current at the read's midpoint; a record covers the truth when
 * the instant that value was published lies within its stamp's uncertainty (the baseline
 * and readings from before the first update have no such instant). */
static run_out drive(counter *c, const run_cfg *cfg, uint64_t seed, int continuous)
{
    run_out o = {.monotonic = 1};
    rng r = {seed ^ 0x5555};
    pw_gridlock_init(&o.g, cfg->nominal_ns, cfg->cost_ns, cfg->interval_ns);
    uint64_t t = 1000, last_stamp = 0, last_rec = 0;
    double last_u = -1;
    uint64_t last_e[2] = {UINT64_MAX, UINT64_MAX};
    while (t < cfg->run_ns) {
        uint64_t due = pw_gridlock_next_read(&o.g);
        if (due > t) {
            uint64_t wait = due - t;
            t = due;
            if (wait >= 50000 && cfg->late_ns > 0)    /* a sleep, not a spin: may be late */
                t += (uint64_t)(uniform(&r) < 0.005 ? 3e6 : uniform(&r) * cfg->late_ns);
        }
        uint64_t t0 = t, t1 = t + cfg->cost_ns;
        double mid = 0.5 * ((double)t0 + (double)t1);
        double u = continuous ? mid : counter_at(c, mid);
        pw_lock_state before = pw_gridlock_state(&o.g);
        /* judged: what claims an update instant (locked, continuous, a change seen while
         * learning); unlockable stamps only claim "within a period before the read" */
        int judged = before == PW_LOCK_LOCKED || before == PW_LOCK_CONTINUOUS ||
                     (before == PW_LOCK_LEARNING && u != last_u);
        /* the reading: domain 0 at c->watts, domain 1 at 0 W; "changed" is any domain's */
        uint64_t e[2] = {(uint64_t)(c->watts * u * 1e-3), 0};
        int changed = e[0] != last_e[0] || e[1] != last_e[1];
        memcpy(last_e, e, sizeof e);
        pw_grid_stamp st = pw_gridlock_feed(&o.g, t0, t1, changed);
        last_u = u;
        o.reads++;
        t = t1 + 1;
        if (!st.record) continue;
        o.records++;
        if (st.t_ns < last_stamp) o.monotonic = 0;
        last_stamp = st.t_ns;
        if (last_rec && t1 - last_rec > o.max_gap_ns) o.max_gap_ns = t1 - last_rec;
        last_rec = t1;
        if (o.records == 1 || u == 0 || !judged || fabs((double)st.t_ns - u) <= (double)st.err_ns + 1.0) o.covered++;
        else if (!o.miss_read) o.miss_t = (double)st.t_ns, o.miss_u = u, o.miss_read = (double)t0,
                               o.miss_err = st.err_ns;
        if (st.err_ns <= 10000) o.tight++;
    }
    return o;
}

#define SEEDS 40

/* Every case: locked, the measured period within 20 ppm, every stamp covering its update,
 * 90 % of them within 10 µs, and a reading at least every two intervals. */
static void check_locked(double period_ns, uint64_t nominal_ns, double jitter_ns, double late_ns,
                         double drift_ppm)
{
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        counter c;
        counter_init(&c, seed, period_ns);
        c.jitter_ns = jitter_ns;
        c.drift_ppm = drift_ppm;
        run_cfg cfg = {nominal_ns, 1000000, 2000, 2000000000ull, late_ns};
        run_out o = drive(&c, &cfg, seed, 0);
        CHECK_MSG(pw_gridlock_state(&o.g) == PW_LOCK_LOCKED, "seed %llu: %s",
                  (unsigned long long)seed, pw_gridlock_state_name(pw_gridlock_state(&o.g)));
        double truth = drift_ppm ? period_ns * (1 + drift_ppm * 1e-6 * 2.0) : period_ns;
        CHECK_MSG(fabs(pw_gridlock_period_ns(&o.g) - truth) <= 20e-6 * truth + jitter_ns / 100,
                  "seed %llu: period %.1f ns, truth %.1f", (unsigned long long)seed,
                  pw_gridlock_period_ns(&o.g), truth);
        CHECK(o.monotonic);
        CHECK_MSG(o.covered == o.records, "seed %llu: %llu of %llu stamps cover their update; "
                  "read at %.0f stamped %.0f ± %u, update at %.0f", (unsigned long long)seed,
                  (unsigned long long)o.covered, (unsigned long long)o.records, o.miss_read,
                  o.miss_t, o.miss_err, o.miss_u);
        CHECK_MSG(o.tight >= o.records * 90 / 100, "seed %llu: %llu of %llu within 10 µs",
                  (unsigned long long)seed, (unsigned long long)o.tight,
                  (unsigned long long)o.records);
        CHECK(o.records >= 1900 && o.records <= 2100);   /* ~one per 1 ms interval */
        CHECK(o.max_gap_ns <= 2 * cfg.interval_ns + 3000000);
        /* a grid instant: within a few µs of an update instant of the counter */
        double ph = (double)pw_gridlock_phase_ns(&o.g), p = pw_gridlock_period_ns(&o.g);
        double off = fmod(ph - grid_instant(&c, c.j), p);
        if (off < 0) off += p;
        CHECK_MSG(fmin(off, p - off) <= 3 * jitter_ns + 5000, "seed %llu: phase off by %.0f ns",
                  (unsigned long long)seed, fmin(off, p - off));
    }
}

TEST(gridlock_locks_rapl_976us_against_1ms_nominal_at_random_phases)
{
    check_locked(976562.5, 1000000, 0, 0, 0);
}

TEST(gridlock_locks_with_the_exact_nominal_and_late_wakeups)
{
    check_locked(976562.5, 976563, 0, 60000, 0);
}

TEST(gridlock_stays_locked_through_drift_and_update_jitter)
{
    check_locked(976562.5, 1000000, 3000, 40000, 50);
}

TEST(gridlock_locks_a_slow_sensor_with_unknown_period)
{
    for (uint64_t seed = 1; seed <= 10; seed++) {   /* NVML-like: 20 ms, period not given */
        counter c;
        counter_init(&c, seed, 20e6);
        run_cfg cfg = {0, 10000000, 20000, 4000000000ull, 200000};
        run_out o = drive(&c, &cfg, seed, 0);
        CHECK_STR(pw_gridlock_state_name(pw_gridlock_state(&o.g)), "locked");
        CHECK(fabs(pw_gridlock_period_ns(&o.g) - 20e6) < 2000);
        CHECK_MSG(o.covered == o.records, "seed %llu: %llu of %llu; read at %.0f stamped %.0f ± %u,"
                  " update at %.0f", (unsigned long long)seed, (unsigned long long)o.covered,
                  (unsigned long long)o.records, o.miss_read, o.miss_t, o.miss_err, o.miss_u);
        CHECK(o.monotonic);
    }
}

TEST(gridlock_a_sensor_that_stops_is_still_read_and_not_spun_on)
{
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        counter c;
        counter_init(&c, seed, 976562.5);
        c.stop_ns = 1000000000;
        run_cfg cfg = {1000000, 1000000, 2000, 6000000000ull, 0};
        run_out o = drive(&c, &cfg, seed, 0);
        CHECK_STR(pw_gridlock_state_name(pw_gridlock_state(&o.g)), "unlockable");
        CHECK(o.monotonic);
        CHECK(o.max_gap_ns <= 2 * cfg.interval_ns);     /* readings recorded anyway */
        /* after the stop: per the interval, plus a short fast relearn every 10 s */
        CHECK_MSG(o.reads < 1200000, "%llu reads", (unsigned long long)o.reads);
    }
}

TEST(gridlock_irregular_updates_are_unlockable_and_stamped_half_a_period_back)
{
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        counter c;
        counter_init(&c, seed, 976562.5);
        c.jitter_ns = 900000;            /* updates anywhere within ± 0.9 period */
        run_cfg cfg = {1000000, 1000000, 2000, 1000000000ull, 0};
        run_out o = drive(&c, &cfg, seed, 0);
        CHECK_STR(pw_gridlock_state_name(pw_gridlock_state(&o.g)), "unlockable");
        CHECK(o.monotonic && o.max_gap_ns <= 2 * cfg.interval_ns);
        CHECK(pw_gridlock_period_ns(&o.g) == 0);
    }
}

TEST(gridlock_a_sensor_that_changes_on_every_read_is_continuous)
{
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        counter c;
        counter_init(&c, seed, 976562.5);
        run_cfg cfg = {1000000, 1000000, 2000, 500000000ull, 30000};
        run_out o = drive(&c, &cfg, seed, 1);
        CHECK_STR(pw_gridlock_state_name(pw_gridlock_state(&o.g)), "continuous");
        CHECK(o.covered == o.records && o.monotonic);
        CHECK(o.records >= 400 && o.records <= 520);   /* per the interval */
    }
}

TEST(gridlock_self_timed_keeps_the_sources_time)
{
    pw_gridlock g;
    pw_gridlock_init(&g, 0, 0, 100000000);
    pw_gridlock_set_self_timed(&g);
    pw_grid_stamp a = pw_gridlock_feed(&g, 5000, 5000, 1);
    CHECK(a.record && a.t_ns == 5000 && a.err_ns == 0);
    CHECK(pw_gridlock_next_read(&g) == 100005000);
    pw_grid_stamp b = pw_gridlock_feed(&g, 4000, 4000, 1);   /* never back in time */
    CHECK(b.record && b.t_ns == 5000);
    CHECK(!pw_gridlock_feed(&g, 5000, 5000, 0).record);       /* the same sample again */
    pw_grid_stamp c = pw_gridlock_feed(&g, 9000, 9000, 0);   /* a later one, 0 W since */
    CHECK(c.record && c.t_ns == 9000 && c.err_ns == 0);
    CHECK_STR(pw_gridlock_state_name(pw_gridlock_state(&g)), "self-timed");
}
