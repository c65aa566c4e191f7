/* gridlock.h — learns a counter sensor's update grid (period and phase) from when its
 * readings change, keeps it locked as it drifts, and says when to read and how to stamp.
 *
 * A counter sensor (RAPL, NVML energy, hwmon energy) publishes a new value on its own grid,
 * so a reading holds the energy up to its last update, not up to the read. The locker is
 * pure: it reads no clock, every time is passed in (monotonic ns), so the sampler drives it
 * in real time and the simulator in virtual time with the same code.
 *
 * Use:
 *   pw_gridlock_init(&g, nominal_period_ns, min_spacing_ns, interval_ns);
 *   loop:  t = pw_gridlock_next_read(&g);      -- read no earlier than this
 *          t0 = now; read the sensor; t1 = now;
 *          st = pw_gridlock_feed(&g, t0, t1, changed);  -- changed: any domain differs
 *          if (st.record) write the reading at st.t_ns ± st.err_ns
 *
 * States (pw_gridlock_state_name):
 *   learning    reading fast (about 64 reads per nominal period, never closer than
 *               min_spacing_ns) until 24 updates are seen;
 *   locked      the updates fall on a regular grid: each read is a short burst that starts
 *               just before the predicted update and ends at the first change; a reading is
 *               stamped at the update instant (the change's bracket, or the grid where the
 *               bracket is wider than the grid's own uncertainty);
 *   continuous  the value changes on (nearly) every fast read: it is current at the read,
 *               stamped at the read's midpoint;
 *   unlockable  updates are not observable (no change for a long while) or irregular:
 *               read per the interval, stamped half a period before the read, ± half a
 *               period; learning is retried every PW_GRIDLOCK_RETRY_NS;
 *   self-timed  the source stamps its own readings (pw_gridlock_set_self_timed): read per
 *               the interval, the source's time kept, uncertainty 0; a repeat of the same
 *               sample (same time, nothing changed) is not recorded.
 * A domain that never changes cannot break locking: the caller passes "any domain changed".
 * In every other state a reading is recorded at least about once per interval, changed
 * or not. */
#ifndef PW_GRIDLOCK_H
#define PW_GRIDLOCK_H

#include <stdint.h>

typedef enum pw_lock_state {
    PW_LOCK_LEARNING = 0,
    PW_LOCK_LOCKED,
    PW_LOCK_CONTINUOUS,
    PW_LOCK_UNLOCKABLE,
    PW_LOCK_SELF_TIMED
} pw_lock_state;

#define PW_GRIDLOCK_FIT 32                      /* recent updates the grid is fitted to */
#define PW_GRIDLOCK_RETRY_NS 10000000000ull     /* unlockable: learn again after 10 s */

/* One observed update: its instant (bracket midpoint) and its grid index. */
typedef struct pw_grid_update { uint64_t t_ns; int64_t k; } pw_grid_update;

typedef struct pw_gridlock {
    /* configuration */
    uint64_t nominal_ns;          /* the sensor's documented period, 0 if unknown */
    uint64_t spacing_ns;          /* the closest two reads may be (a read's cost) */
    uint64_t interval_ns;         /* the sampler's period: a reading at least this often */
    /* state */
    pw_lock_state state;
    uint64_t anchor_ns;           /* grid index 0 (an observed update) */
    double period_ns, offset_ns;  /* the grid: anchor + offset + k * period */
    double sigma_ns;              /* rms distance of observed updates from the grid */
    double period_se_ns;          /* the fitted period's standard error */
    double k_mean;                /* mean grid index of the fitted updates */
    pw_grid_update fit[PW_GRIDLOCK_FIT];
    unsigned nfit, fit_head;      /* ring of the updates the grid is fitted to */
    /* reads */
    int have_prev;
    uint64_t prev_t0, prev_t1;    /* the last read */
    uint64_t phase_start_ns;      /* when learning (or unlockable) began */
    unsigned reads, changes;      /* while learning */
    unsigned quick;               /* changed reads in a row, each right after the last */
    int have_stamp;
    uint64_t last_stamp_ns;       /* the last recorded stamp (stamps never go back) */
    int have_update;              /* learning: a change was seen, at update_ns ± update_err_ns */
    double update_ns, update_err_ns;
    int64_t target_k;             /* locked: the grid index the next burst waits for */
    unsigned misses, slips;       /* locked: bursts without a change, off-grid updates */
    uint64_t updates_seen;        /* every update observed (statistics) */
    uint64_t due_ns;              /* reads per the interval: the next absolute deadline */
} pw_gridlock;

typedef struct pw_grid_stamp {
    int record;                   /* 1: write this reading */
    uint64_t t_ns;                /* the instant its energy was current */
    uint32_t err_ns;              /* half-width of t_ns's uncertainty */
} pw_grid_stamp;

/* nominal_ns 0: unknown (the interval stands in); min_spacing_ns 0: 1 µs. */
void pw_gridlock_init(pw_gridlock *g, uint64_t nominal_ns, uint64_t min_spacing_ns,
                      uint64_t interval_ns);
/* A source that stamps its own readings (powermetrics): never learnt. */
void pw_gridlock_set_self_timed(pw_gridlock *g);
/* A model that is current at the read (the CPU estimate): never learnt. */
void pw_gridlock_set_continuous(pw_gridlock *g);
/* The earliest time the next read is useful; before the first read: 0 (read now). */
uint64_t pw_gridlock_next_read(const pw_gridlock *g);
/* A read that took [t0_ns, t1_ns]; changed: some domain's value differs from the read
 * before (ignored on the first read). Self-timed: t0 = t1 = the source's own time. */
pw_grid_stamp pw_gridlock_feed(pw_gridlock *g, uint64_t t0_ns, uint64_t t1_ns, int changed);

pw_lock_state pw_gridlock_state(const pw_gridlock *g);
const char *pw_gridlock_state_name(pw_lock_state s);  /* "locked", "learning", ... */
/* The grid while locked (0 otherwise): its period, and one grid instant (monotonic ns). */
double pw_gridlock_period_ns(const pw_gridlock *g);
uint64_t pw_gridlock_phase_ns(const pw_gridlock *g);

#endif
