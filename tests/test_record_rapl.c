/* test_record_rapl.c — a whole recording session over a fake powercap tree whose counter a
 * writer thread advances every 976.5625 µs at a random grid phase, like real RAPL: phases of
 * 10+ update periods must come out within 0.5 % of the energy the writer published. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "analysis/attribute.h"
#include "base/clock.h"
#include "phasewatt.h"
#include "sysfs_fixture.h"
#include "tf.h"
#include "trace/trace.h"

#define RANGE_UJ 262143328850ull            /* a real max_energy_range_uj */
#define START_UJ (RANGE_UJ - 3000000)       /* wraps ~0.1 s into the run */
#define GRID_NS 976562.5                    /* 2^-10 s */
#define MAX_CHANGES 256
#define PHASES 40
#define MAX_UPDATES 8192
#define ON_TIME_NS 50000                    /* an update this close to its grid instant */

/* The power the "package" draws: piecewise constant, every change logged, so the true energy
 * up to any instant is known exactly, whenever the writer gets to run. */
typedef struct fake_rapl {
    char zone[512];
    pthread_mutex_t lock;                   /* the writer and the power changes */
    uint64_t change_ns[MAX_CHANGES];
    double watts[MAX_CHANGES];
    size_t nchanges;
    uint64_t grid0_ns;                      /* the writer's grid: grid0 + k * GRID_NS */
    uint64_t pub_ns[MAX_UPDATES];           /* when each update was published */
    uint64_t late_ns[MAX_UPDATES];          /* how long after its grid instant */
    size_t published;
    _Atomic int stop;
} fake_rapl;

/* True energy (J) from the first change up to t. */
static double energy_at(const fake_rapl *f, uint64_t t)
{
    double j = 0;
    for (size_t i = 0; i < f->nchanges && f->change_ns[i] < t; i++) {
        uint64_t end = i + 1 < f->nchanges && f->change_ns[i + 1] < t ? f->change_ns[i + 1] : t;
        j += f->watts[i] * (double)(end - f->change_ns[i]) * 1e-9;
    }
    return j;
}

/* energy_uj as a driver writes it: whole µJ, wrapping at the range; written with rename()
 * so a reader never sees a half-written file. */
static void publish(fake_rapl *f, uint64_t t)
{
    char tmp[600], dst[600], text[32];
    snprintf(tmp, sizeof tmp, "%s/.energy_uj", f->zone);
    snprintf(dst, sizeof dst, "%s/energy_uj", f->zone);
    uint64_t v = (START_UJ + (uint64_t)(energy_at(f, t) * 1e6)) % (RANGE_UJ + 1);
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)v);
    if (tf_write_file(tmp, text, (size_t)n) == 0) rename(tmp, dst);
}

/* Updates on the grid's absolute instants; one it wakes too late for is folded into the
 * next (hardware never queues updates). Each value is the true energy at the instant the
 * writer publishes it, so what it published is the truth however late it ran. */
static void *writer(void *p)
{
    fake_rapl *f = p;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);   /* the default 50 µs slack would be all lateness */
    for (uint64_t k = 1; !atomic_load(&f->stop); k++) {
        uint64_t due = f->grid0_ns + (uint64_t)((double)k * GRID_NS), wake = due - 100000;
        struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        while (pw_now_ns() < due) {}             /* the last 100 µs spun, like a clock edge */
        uint64_t now = pw_now_ns();
        while (f->grid0_ns + (uint64_t)((double)(k + 1) * GRID_NS) <= now) k++;
        pthread_mutex_lock(&f->lock);
        uint64_t t = pw_now_ns();
        publish(f, t);
        if (f->published < MAX_UPDATES) {
            f->pub_ns[f->published] = t;
            f->late_ns[f->published++] = t - (f->grid0_ns + (uint64_t)((double)k * GRID_NS));
        }
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

/* The power changes as the phase begins: [*c0, *c1] brackets the BEGIN event's time. */
static void begin_at(fake_rapl *f, const char *name, double watts, uint64_t *c0, uint64_t *c1)
{
    pthread_mutex_lock(&f->lock);
    *c0 = pw_now_ns();
    if (f->nchanges < MAX_CHANGES) {
        f->change_ns[f->nchanges] = *c0;
        f->watts[f->nchanges++] = watts;
    }
    pthread_mutex_unlock(&f->lock);
    pw_begin_name(name);
    *c1 = pw_now_ns();
}

static void wait_ns(uint64_t ns)
{
    uint64_t end = pw_now_ns() + ns;
    struct timespec pause = {0, 100000};
    while (pw_now_ns() < end) nanosleep(&pause, NULL);
}

/* Whether every update within two periods of t was published on time: a boundary the
 * writer itself was late around is not a grid the sampler could lock to. */
static int on_time_near(const fake_rapl *f, uint64_t t)
{
    for (size_t i = 0; i < f->published; i++)
        if (f->pub_ns[i] + 2 * GRID_NS > t && f->pub_ns[i] < t + 2 * GRID_NS &&
            f->late_ns[i] > ON_TIME_NS)
            return 0;
    return 1;
}

/* The power drawn at t. */
static double watts_at(const fake_rapl *f, uint64_t t)
{
    double w = 0;
    for (size_t i = 0; i < f->nchanges && f->change_ns[i] <= t; i++) w = f->watts[i];
    return w;
}

/* The first BEGIN and the last END of a phase name on the trace's one track. */
static int phase_span(const pw_trace *t, const char *name, uint64_t *b, uint64_t *e)
{
    const pw_track *tr = &t->tracks[0];
    int found = 0;
    for (size_t i = 0; i < tr->n; i++) {
        const char *n = pw_trace_name(t, tr->events[i].id);
        if (!n || strcmp(n, name) != 0) continue;
        if (tr->events[i].type == PW_EV_BEGIN) *b = tr->events[i].t_ns, found |= 1;
        if (tr->events[i].type == PW_EV_END) *e = tr->events[i].t_ns, found |= 2;
    }
    return found == 3;
}

TEST(record_rapl_fake_powercap_energy_per_phase)
{
    static fake_rapl f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.lock, NULL);
    uint64_t seed = pw_now_ns();
    srand((unsigned)seed);
    f.grid0_ns = pw_now_ns() + (uint64_t)(GRID_NS * (double)rand() / RAND_MAX);  /* random phase */
    f.change_ns[0] = pw_now_ns();
    f.watts[0] = 5.0;
    f.nchanges = 1;
    snprintf(f.zone, sizeof f.zone, "%s/sys/class/powercap/intel-rapl:0", tf_tmpdir());
    fx_mkdirs(f.zone);
    fx_write(f.zone, "name", "package-0\n");
    fx_write_u64(f.zone, "max_energy_range_uj", RANGE_UJ);
    publish(&f, pw_now_ns());
    setenv("PHASEWATT_SYSFS_ROOT", tf_tmpdir(), 1);
    pthread_t th;
    pthread_create(&th, NULL, writer, &f);

    pw_options o;
    pw_options_init(&o);
    o.output_path = tf_path("rapl.pwt");
    o.sources = "rapl";
    o.interval_ns = 1000000;
    o.quiet = 1;
    CHECK_INT(pw_open(&o), PW_OK);
    wait_ns(100000000);                     /* time to learn the grid */
    static const double watts[] = {40, 15, 25, 8};
    uint64_t c0[PHASES], c1[PHASES], ends[PHASES];
    char names[PHASES][24];
    for (int i = 0; i < PHASES; i++) {
        snprintf(names[i], sizeof names[i], "phase%02d", i);
        begin_at(&f, names[i], watts[(i * 7 + (int)(seed % 4)) % 4], &c0[i], &c1[i]);
        wait_ns((uint64_t)((10 + (i * 5) % 11) * GRID_NS));   /* 10 to 20 periods */
        pw_end();
        ends[i] = pw_now_ns();
    }
    uint64_t c0_end, c1_end;
    begin_at(&f, "tail", 5.0, &c0_end, &c1_end);
    pw_end();
    wait_ns(20000000);
    CHECK_INT(pw_close(), PW_OK);
    atomic_store(&f.stop, 1);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&f.lock);

    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path("rapl.pwt"), &t), PW_OK);
    CHECK_STR(t->domains[0].name, "package-0");
    CHECK(t->series[0].t_err_ns != NULL);   /* the readings carry their stamps' uncertainty */
    /* The lock the trace states must be what it is: locked to the writer's grid, or, where
     * the sampler or the writer could not keep time (a loaded machine), unlockable with
     * stamps that say they are within a period. */
    const char *lock = pw_trace_meta(t, "sensor.rapl.lock");
    CHECK(lock != NULL);
    const pw_series *se = &t->series[0];
    if (strcmp(lock, "locked") != 0) {
        CHECK_STR(lock, "unlockable");
        CHECK(se->n > 10);
        for (size_t i = se->n - 10; i < se->n; i++) CHECK(se->t_err_ns[i] >= GRID_NS / 4);
        pw_trace_close(t);
        return;
    }
    /* The measured period is the writer's where the writer kept its grid (a loaded machine
     * makes it late, and a late writer's updates fall on no grid): 1 ms would be 2.4 % off. */
    double period = atof(pw_trace_meta(t, "sensor.rapl.grid_period_ns"));
    size_t on_time = 0;
    for (size_t i = 0; i < f.published; i++) on_time += f.late_ns[i] <= ON_TIME_NS;
    if (on_time * 10 >= f.published * 9)
        CHECK_MSG(period > GRID_NS * 0.995 && period < GRID_NS * 1.005, "grid period %.1f", period);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    /* Judged: the phases whose power change and BEGIN came together (the thread was not
     * descheduled between them) and around whose boundaries the writer kept its grid. Each is
     * within 0.5 %, inside its interval, or within what readings stamped at their updates
     * leave to interpolation: the power step at each boundary over half an update period.
     * One beyond all three is a straggler (the sampler descheduled at a boundary while the
     * grid moved), tolerated in a quarter of them. */
    int judged = 0, stragglers = 0;
    for (int i = 0; i < PHASES; i++) {
        uint64_t b = 0, e = 0;
        CHECK(phase_span(t, names[i], &b, &e));
        uint64_t next_c0 = i + 1 < PHASES ? c0[i + 1] : c0_end;
        if (c1[i] - c0[i] > 20000 || next_c0 - ends[i] > 20000 || !on_time_near(&f, b) ||
            !on_time_near(&f, e))
            continue;
        int n = pw_attribution_find(a, names[i]);
        CHECK(n > 0);
        double got = pw_energy_total(t, a->nodes[n].incl_j);
        double truth = energy_at(&f, e) - energy_at(&f, b);
        double ci = a->nodes[n].incl_ci_j ? a->nodes[n].incl_ci_j[0] : 0;
        double w = watts_at(&f, b + 1), step = fabs(w - watts_at(&f, b - 1)) +
                                               fabs(watts_at(&f, e + 1) - w);
        double interp = step * GRID_NS / 2 * 1e-9, off = fabs(got - truth);
        judged++;
        stragglers += !(off <= 0.005 * truth || off <= ci || off <= interp);
    }
    CHECK_MSG(4 * stragglers <= judged, "%d of %d phases beyond 0.5 %%, their interval and "
              "half a period of their power steps (seed %llu)", stragglers, judged,
              (unsigned long long)seed);
    pw_attribution_free(a);
    pw_trace_close(t);
}
