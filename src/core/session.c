/* session.c — a recording session: picks the sources, runs the sampler thread on
 * absolute deadlines, and streams samples and drained phase events to the trace writer. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/channel.h"
#include "base/clock.h"
#include "platform/platform.h"
#include "core/core.h"
#include "core/gridlock.h"
#include "core/log.h"
#include "core/tap.h"
#include "sources/source.h"
#include "base/sized.h"

#define DEFAULT_INTERVAL_NS 10000000ull
#define MIN_INTERVAL_NS 50000ull          /* 50 µs: below this the sampler only spins */
#define DEFAULT_READ_LIMIT_MS 1000u       /* a read stuck this long at pw_close is left behind */
#define CLOSE_POLL_NS 20000000ull         /* how often pw_close looks at a read in progress */
#define FLUSH_EVERY_NS 1000000000ull      /* at most ~1 s of data at risk in a crash */
#define MAX_SOURCES 16
#define SPIN_NS 50000ull                  /* waits shorter than this spin (bursts, wake-ups) */
#define WAKE_SLACK_MIN_NS 20000ull        /* how early a sleep ends, at least and at most */
#define WAKE_SLACK_MAX_NS 200000ull
#define READ_SPACING_NS 2000ull           /* the closest two reads of one source may be */
#define CLOCK_PAIR_MAX_NS 100000ull       /* a boot-time/monotonic pair read slower is retried */
#define SLEEP_MIN_NS 50000000ull          /* less is scheduling, not a machine sleep */

typedef struct active_source {
    const pw_source_ops *ops;
    void *state;
    pw_source_info info;
    uint64_t *energy;                     /* [info.ndomains] scratch for reads */
    uint8_t pending_gap;                  /* a read failed since the last row */
    uint64_t *last_energy;                /* [info.ndomains] the last row written */
    uint64_t last_t_ns;                   /* its time; 0 before the first */
    uint64_t read_ns, last_read_ns;       /* when this read and the last row's ended */
    uint64_t *prev_read;                  /* [info.ndomains] the last read, written or not */
    pw_gridlock lock;                     /* when to read it, and each reading's stamp */
    uint64_t hold_until_ns;               /* after a failed read: not before this */
    pw_lock_state noted_state;            /* what the trace's metadata says so far */
    double noted_period_ns;
    int noted;
    _Atomic uint64_t reading_since_ns;    /* when the read in progress began; 0: none */
    int stuck;                            /* its read never returned: left behind at close */
} active_source;

typedef struct session {
    pw_options opts;
    char *output_path, *command, *synthetic;
    pw_writer *w;
    active_source src[MAX_SOURCES];
    size_t nsrc;
    int wants_events;                     /* some source observes phase events */
    pw_event *batch; size_t nbatch, batch_cap;   /* one tick's events, for observers */
    uint32_t *batch_track;
    uint32_t names_written;
    pw_channel *channel;                  /* events of a recorded command, if any */
    uint64_t last_flush_ns;
    uint64_t started_ns;
    pw_sink tap;                          /* an in-process consumer of what is written */
    pw_sink out;                          /* the trace and the tap together (fan_*): what the
                                             session and its backends write goes here */
    uint64_t slept_ns;                    /* boottime - monotonic at the last tick */
    uint64_t wake_slack_ns;               /* the sampler's sleeps end this early */
    uint64_t first_tick_ns;               /* the baseline tick: period k's deadline is k after */
    int estimate_fallback;                /* auto found no sensor: the estimate stands in */
    uint64_t noted_jumps, noted_sleep;    /* what the trace's metadata says so far */
    int write_error;

    pthread_t thread;
    pthread_mutex_t lock;                 /* guards the writer against pw_set_meta */
    pthread_cond_t wake;
    pthread_cond_t exited_cv;             /* the sampler signals its exit (pw_close waits) */
    int exited;                           /* the sampler has left its loop */
    int abandoned;                        /* pw_close left the sampler in a stuck read */
    struct session *next_abandoned;       /* sessions a stuck read still holds (below) */
    _Atomic int stop;                     /* read without the lock while spinning */
    pw_stats stats;
} session;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pw_sink g_next_tap;               /* guarded by g_lock */
static session *g_session;
/* Sessions whose sampler never came back from a read: kept (never freed) because that thread
 * may still return into them; guarded by g_lock. */
static session *g_abandoned;
static pw_stats g_last_stats;
static _Thread_local char g_open_error[PW_WHY_MAX + 128];   /* each caller's own */

/* Remembers the first reason this thread's pw_open() failed; pw_open_error() hands it out. */
static void open_failed(const char *fmt, const char *a, const char *b)
{
    if (!g_open_error[0]) snprintf(g_open_error, sizeof g_open_error, fmt, a, b);
}

const char *pw_open_error(void) { return g_open_error; }

void pw_options_init(pw_options *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
    o->output_path = "phasewatt.pwt";
    o->interval_ns = DEFAULT_INTERVAL_NS;
    o->ring_events = 16384;
    o->read_limit_ms = DEFAULT_READ_LIMIT_MS;
}

/* The first failure to write the trace stops writing (later chunks would follow a torn one)
 * and is said once at once: the run goes on, and the file keeps what was written. */
static void write_failed(session *s)
{
    if (s->write_error) return;
    s->write_error = 1;
    s->stats.write_errno = pw_writer_errno(s->w) ? pw_writer_errno(s->w) : ENOMEM;
    s->stats.write_stopped_ns = pw_now_ns() - s->started_ns;
    if (!s->opts.quiet)
        pw_log(PW_LOG_ERROR, "writing %s failed after %llu bytes: %s; writing stopped, what "
               "was written stays readable", s->output_path,
               (unsigned long long)pw_writer_written(s->w), strerror(s->stats.write_errno));
}

/* ---- the session's output: its trace, and the tap beside it -------------------------------- */

/* Each part of the stream goes to the tap (what it returns is ignored) and to the trace, whose
 * first failure stops writing (write_failed). */
#define TAPPED(s, call, args) ((s)->tap.call ? (void)(s)->tap.call args : (void)0)

static int wrote(session *s, int rc)
{
    if (rc != PW_OK) write_failed(s);
    return rc;
}

static int fan_domains(void *ctx, const pw_source_desc *src, size_t nsrc, const pw_domain_desc *dom,
                       size_t ndom)
{
    session *s = ctx;
    TAPPED(s, domains, (s->tap.ctx, src, nsrc, dom, ndom));
    return wrote(s, pw_writer_domains(s->w, src, nsrc, dom, ndom));
}

static int fan_name(void *ctx, uint32_t id, const char *name)
{
    session *s = ctx;
    TAPPED(s, name, (s->tap.ctx, id, name));
    return wrote(s, pw_writer_name(s->w, id, name));
}

static int fan_track(void *ctx, uint32_t track, uint32_t pid, uint32_t tid, const char *name,
                     int first)
{
    session *s = ctx;
    TAPPED(s, track, (s->tap.ctx, track, pid, tid, name, first));
    return wrote(s, pw_writer_track(s->w, track, pid, tid, name));
}

static int fan_event(void *ctx, uint32_t track, const pw_event *ev)
{
    session *s = ctx;
    TAPPED(s, event, (s->tap.ctx, track, ev));
    return wrote(s, pw_writer_event(s->w, track, ev));
}

static int fan_loss(void *ctx, uint32_t track, uint64_t lost_total, uint64_t lost_before)
{
    session *s = ctx;
    TAPPED(s, loss, (s->tap.ctx, track, lost_total, lost_before));
    return wrote(s, pw_writer_loss(s->w, track, lost_total));
}

static int fan_sample(void *ctx, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                      const uint64_t *energy_uj, uint8_t flags)
{
    session *s = ctx;
    TAPPED(s, sample, (s->tap.ctx, source, t_ns, t_err_ns, energy_uj, flags));
    return wrote(s, pw_writer_sample_stamped(s->w, source, t_ns, t_err_ns, energy_uj, flags));
}

static int fan_meta(void *ctx, const char *key, const char *value)
{
    session *s = ctx;
    TAPPED(s, meta, (s->tap.ctx, key, value));
    return wrote(s, pw_writer_meta(s->w, key, value));
}

static int fan_truth(void *ctx, const char *path, double energy_j, double duration_s)
{
    session *s = ctx;
    TAPPED(s, truth, (s->tap.ctx, path, energy_j, duration_s));
    return wrote(s, pw_writer_truth(s->w, path, energy_j, duration_s));
}

static int fan_channel_loss(void *ctx, uint64_t lost_total)
{
    session *s = ctx;
    TAPPED(s, channel_loss, (s->tap.ctx, lost_total));
    return PW_OK;   /* the trace says it through the channel's counts at its end */
}

static pw_sink fan_out(session *s)
{
    return (pw_sink){.domains = fan_domains, .name = fan_name, .track = fan_track,
                     .event = fan_event, .loss = fan_loss, .sample = fan_sample,
                     .meta = fan_meta, .truth = fan_truth, .channel_loss = fan_channel_loss,
                     .ctx = s};
}

/* ---- draining the rings ---------------------------------------------------------------- */

static void sync_names(session *s)
{
    uint32_t n = pw_names_count();
    for (; s->names_written < n; s->names_written++) {
        uint32_t id = s->names_written;
        if (id) s->out.name(s->out.ctx, id, pw_name(id));
    }
}

static int batch_push(session *s, uint32_t track, const pw_event *ev)
{
    if (s->nbatch == s->batch_cap) {
        size_t cap = s->batch_cap ? 2 * s->batch_cap : 1024;
        pw_event *b = realloc(s->batch, cap * sizeof *b);
        if (!b) return -1;
        s->batch = b;
        uint32_t *bt = realloc(s->batch_track, cap * sizeof *bt);
        if (!bt) return -1;
        s->batch_track = bt;
        s->batch_cap = cap;
    }
    s->batch[s->nbatch] = *ev;
    s->batch_track[s->nbatch++] = track;
    return 0;
}

/* The three things a drained ring produces, from this process's rings or the channel's. */
/* The three things a drained ring produces, from this process's rings or the channel's (the
 * session's intake sink): counted, then written out. */
static int record_track(void *ctx, uint32_t track, uint32_t pid, uint32_t tid,
                        const char *name, int first)
{
    session *s = ctx;
    if (first) s->stats.tracks++;
    return s->out.track(s->out.ctx, track, pid, tid, name, first);
}

static int record_event(void *ctx, uint32_t track, const pw_event *ev)
{
    session *s = ctx;
    s->stats.events++;
    if (s->wants_events && batch_push(s, track, ev) != 0) write_failed(s);
    return s->out.event(s->out.ctx, track, ev);
}

static int record_loss(void *ctx, uint32_t track, uint64_t lost_total, uint64_t lost_before)
{
    session *s = ctx;
    s->stats.lost_events += lost_total - lost_before;
    return s->out.loss(s->out.ctx, track, lost_total, lost_before);
}

static const pw_sink *intake(session *s, pw_sink *buf)
{
    *buf = (pw_sink){.track = record_track, .event = record_event, .loss = record_loss, .ctx = s};
    return buf;
}

static void on_event(const pw_ring *r, const pw_event *ev, void *ctx)
{
    record_event(ctx, r->track, ev);
}

static void on_ring(pw_ring *r, void *ctx)
{
    char name[8 * PW_TRACK_LABEL_WORDS];
    int renamed = pw_track_label_read(&r->label, &r->label_seen, name);
    if (!r->announced || renamed)
        record_track(ctx, r->track, r->pid, r->tid, renamed ? name : NULL, !r->announced);
    r->announced = 1;
    pw_ring_drain(r, on_event, ctx);
    uint64_t lost = atomic_load_explicit(&r->lost, memory_order_relaxed);
    if (lost != r->lost_reported) {
        record_loss(ctx, r->track, lost, r->lost_reported);
        r->lost_reported = lost;
    }
}

static void poll_channel(session *s)
{
    pw_sink in;
    if (!s->channel) return;
    pw_channel_poll(s->channel, intake(s, &in));
    s->out.channel_loss(s->out.ctx, pw_channel_lost(s->channel));
}

typedef struct { uint64_t t_ns; size_t index; } timed_index;

static int by_time(const void *a, const void *b)
{
    const timed_index *x = a, *y = b;
    if (x->t_ns != y->t_ns) return (x->t_ns > y->t_ns) - (x->t_ns < y->t_ns);
    return (x->index > y->index) - (x->index < y->index);   /* equal times: drain order */
}

/* Observers (the synthetic source) integrate power over time, so they need one stream
 * ordered across threads. */
static void feed_observers(session *s)
{
    if (!s->nbatch) return;
    timed_index *order = malloc(s->nbatch * sizeof *order);
    if (!order) {
        write_failed(s);
        s->nbatch = 0;
        return;
    }
    for (size_t i = 0; i < s->nbatch; i++) order[i] = (timed_index){s->batch[i].t_ns, i};
    qsort(order, s->nbatch, sizeof *order, by_time);
    for (size_t k = 0; k < s->nsrc; k++) {
        if (!s->src[k].ops->observe) continue;
        for (size_t i = 0; i < s->nbatch; i++) {
            size_t j = order[i].index;
            s->src[k].ops->observe(s->src[k].state, s->batch_track[j], &s->batch[j]);
        }
    }
    free(order);
    s->nbatch = 0;
}

/* ---- reading the sources ------------------------------------------------------------- */

/* Above this, a step of a counter is not energy: no one domain draws 50 kW (a whole
 * 8-GPU server draws ~10 kW), so the step is a reset or a glitch and its interval is left
 * out (a gap) rather than attributed. */
#define PLAUSIBLE_MAX_W 50000.0

/* The domain whose reading jumped implausibly (or went back, which a source's cumulative
 * energy never does) since the last row, or -1. */
static long jumped(const active_source *a, uint64_t t)
{
    if (!a->last_t_ns) return -1;
    /* over the time between the reads where the stamps say less: two stamps made equal (a
     * stamp never goes back) are no licence for any step, nor an instant for a jump */
    uint64_t span = t > a->last_t_ns ? t - a->last_t_ns : 0;
    if (a->read_ns > a->last_read_ns && a->read_ns - a->last_read_ns > span)
        span = a->read_ns - a->last_read_ns;
    if (!span) return -1;
    double dt = (double)span * 1e-9;
    for (size_t d = 0; d < a->info.ndomains; d++)
        if (a->energy[d] < a->last_energy[d] ||
            (double)(a->energy[d] - a->last_energy[d]) * 1e-6 / dt > PLAUSIBLE_MAX_W)
            return (long)d;
    return -1;
}

static void note_jump(session *s, const active_source *a, long d, uint64_t t)
{
    if (s->stats.counter_jumps++ || s->opts.quiet) return;   /* said once */
    pw_log(PW_LOG_WARN, "%s: %s jumped by %.4g J in %.4g ms (a counter reset?): that interval "
           "is left out", a->ops->name, a->info.domains[d].name,
           ((double)a->energy[d] - (double)a->last_energy[d]) * 1e-6,
           (double)(t - a->last_t_ns) * 1e-6);
}

/* Writes one reading at its stamp, a counter jump marking a gap. */
static void write_reading(session *s, active_source *a, pw_grid_stamp st)
{
    long jump = jumped(a, st.t_ns);
    if (jump >= 0) {
        note_jump(s, a, jump, st.t_ns);
        a->pending_gap = 1;
    }
    memcpy(a->last_energy, a->energy, a->info.ndomains * sizeof *a->energy);
    a->last_t_ns = st.t_ns;
    a->last_read_ns = a->read_ns;
    uint32_t index = (uint32_t)(a - s->src);
    uint8_t flags = a->pending_gap ? PW_SAMPLE_GAP : 0;
    s->out.sample(s->out.ctx, index, st.t_ns, st.err_ns, a->energy, flags);
    a->pending_gap = 0;
    s->stats.samples++;
}

/* The calling thread is a sampler that pw_close gave up waiting for: it must touch nothing. */
static int left_behind(const session *s)
{
    return s->abandoned && pthread_equal(pthread_self(), s->thread);
}

/* One read, fed to the source's locker, which says whether and where to write it (a read
 * that changed nothing since the last written one adds nothing, and is not written). */
static void read_source(session *s, active_source *a)
{
    uint64_t t0 = pw_now_ns(), t = t0;
    /* the read runs without the session's lock: a driver that never returns must not hold
     * pw_close, pw_set_meta or pw_get_stats (and so the profiled program) with it */
    atomic_store(&a->reading_since_ns, t0);
    pthread_mutex_unlock(&s->lock);
    int rc = a->ops->read(a->state, &t, a->energy);
    pthread_mutex_lock(&s->lock);
    atomic_store(&a->reading_since_ns, 0);
    uint64_t t1 = pw_now_ns();
    a->read_ns = t1;
    if (left_behind(s)) return;           /* pw_close has finished the trace without us */
    if (rc != PW_OK) {
        a->pending_gap = 1;               /* the gap is marked on the next good row */
        a->hold_until_ns = t1 + s->opts.interval_ns;
        return;
    }
    if (t != t0 && pw_gridlock_state(&a->lock) != PW_LOCK_SELF_TIMED)
        pw_gridlock_set_self_timed(&a->lock);   /* the source knows its reading's time */
    if (pw_gridlock_state(&a->lock) == PW_LOCK_SELF_TIMED) t0 = t1 = t;
    else if (a->ops->bracket) a->ops->bracket(a->state, &t0, &t1);
    size_t bytes = a->info.ndomains * sizeof *a->energy;
    int changed = memcmp(a->energy, a->prev_read, bytes) != 0;   /* any domain: 0 W is fine */
    memcpy(a->prev_read, a->energy, bytes);
    pw_grid_stamp st = pw_gridlock_feed(&a->lock, t0, t1, changed);
    if (st.record) write_reading(s, a, st);
}

/* When a source's next read is due (its locker's schedule, or a retry after a failure). */
static uint64_t source_due(const active_source *a)
{
    uint64_t due = pw_gridlock_next_read(&a->lock);
    return due > a->hold_until_ns ? due : a->hold_until_ns;
}

pw_clock_fn pw_sleep_check_boottime = pw_boottime_ns;

/* Boot time minus monotonic time, from boot-time reads on both sides of the monotonic one:
 * a pair read slowly (the thread was descheduled between them) is read again, so scheduling
 * delay cannot pass for sleep. 0: no pair read fast enough this time. */
static int clock_offset(uint64_t *offset_ns)
{
    for (int tries = 0; tries < 4; tries++) {
        uint64_t b0 = pw_sleep_check_boottime(), m = pw_now_ns(), b1 = pw_sleep_check_boottime();
        if (b1 >= b0 && b1 - b0 <= CLOCK_PAIR_MAX_NS) {
            *offset_ns = b0 + (b1 - b0) / 2 - m;
            return 1;
        }
    }
    return 0;
}

/* A machine that slept between two ticks: the readings across the sleep are left out (a
 * counter may have reset, and monotonic time did not see the sleep). */
static void check_sleep(session *s)
{
    uint64_t slept;
    if (!clock_offset(&slept)) return;    /* the next tick looks again */
    /* the offset may sit a few ns below 0 on a machine that never slept: modular arithmetic */
    int64_t grew = (int64_t)(slept - s->slept_ns);
    if (grew < (int64_t)SLEEP_MIN_NS) return;   /* jitter: the old reference stays */
    uint64_t more = (uint64_t)grew;
    s->slept_ns = slept;
    s->stats.suspended_ns += more;
    for (size_t k = 0; k < s->nsrc; k++) s->src[k].pending_gap = 1;
    if (!s->opts.quiet)
        pw_log(PW_LOG_NOTE, "the machine slept %.3f s: the readings across it are left out",
               (double)more * 1e-9);
}

/* What was left out, for report's warnings: written when it changes, so a run cut short
 * keeps what was said up to its last flush. */
static void note_faults(session *s)
{
    char v[32];
    if (s->stats.counter_jumps == s->noted_jumps && s->stats.suspended_ns == s->noted_sleep)
        return;
    s->noted_jumps = s->stats.counter_jumps;
    s->noted_sleep = s->stats.suspended_ns;
    if (s->stats.counter_jumps) {
        snprintf(v, sizeof v, "%llu", (unsigned long long)s->stats.counter_jumps);
        pw_sink_meta(&s->out, "sampler.counter_jumps", v);
    }
    if (s->stats.suspended_ns) {
        snprintf(v, sizeof v, "%.3f", (double)s->stats.suspended_ns * 1e-9);
        pw_sink_meta(&s->out, "sampler.suspended_s", v);
    }
}

/* The sensor's lock as the trace's metadata (sensor.<source>.lock, .grid_period_ns,
 * .grid_phase_ns), written when the state changes or the period moves by 10 ppm; a source
 * that cannot be locked is said once. */
static void note_lock(session *s, active_source *a)
{
    pw_lock_state st = pw_gridlock_state(&a->lock);
    double period = pw_gridlock_period_ns(&a->lock);
    if (a->noted && st == a->noted_state &&
        fabs(period - a->noted_period_ns) <= 1e-5 * a->noted_period_ns)
        return;
    if (st == PW_LOCK_UNLOCKABLE && !s->opts.quiet &&
        (!a->noted || a->noted_state != PW_LOCK_UNLOCKABLE))
        pw_log(PW_LOG_NOTE, "%s: its updates are not observable or not regular: read every "
               "%.3g ms, each reading stamped half a period before the read, +- half a period",
               a->ops->name, (double)s->opts.interval_ns * 1e-6);
    a->noted = 1;
    a->noted_state = st;
    a->noted_period_ns = period;
    char key[96], v[40];
    snprintf(key, sizeof key, "sensor.%s.lock", a->ops->name);
    pw_sink_meta(&s->out, key, pw_gridlock_state_name(st));
    if (st != PW_LOCK_LOCKED) return;
    snprintf(key, sizeof key, "sensor.%s.grid_period_ns", a->ops->name);
    snprintf(v, sizeof v, "%.1f", period);
    pw_sink_meta(&s->out, key, v);
    snprintf(key, sizeof key, "sensor.%s.grid_phase_ns", a->ops->name);
    snprintf(v, sizeof v, "%llu", (unsigned long long)pw_gridlock_phase_ns(&a->lock));
    pw_sink_meta(&s->out, key, v);
}

/* Phase events drained from every ring and the channel, names first; observers (the
 * synthetic source) see them before their next read. */
static void drain(session *s)
{
    sync_names(s);
    pw_rings_visit(on_ring, s);
    poll_channel(s);
    sync_names(s);                        /* names interned just before their first use */
    feed_observers(s);
}

/* The sampler period's duties besides reading: the sleep check, draining, flushing. */
static void duties(session *s)
{
    check_sleep(s);
    drain(s);
    uint64_t now = pw_now_ns();
    if (now - s->last_flush_ns >= FLUSH_EVERY_NS) {
        note_faults(s);
        for (size_t k = 0; k < s->nsrc; k++) note_lock(s, &s->src[k]);
        if (pw_writer_flush(s->w) != PW_OK) write_failed(s);
        s->last_flush_ns = now;
    }
}

/* Reads every source whose locker says it is due by now (all of them when all is set). */
static void read_due(session *s, uint64_t now, int all)
{
    int drained = 0;
    for (size_t k = 0; k < s->nsrc; k++) {
        active_source *a = &s->src[k];
        if (!all && source_due(a) > now) continue;
        if (a->stuck || left_behind(s)) continue;
        if (a->ops->observe && !drained++) drain(s);
        read_source(s, a);
    }
}

/* The first and the closing tick: every duty and every source read. */
static void tick(session *s)
{
    pthread_mutex_lock(&s->lock);
    duties(s);
    read_due(s, 0, 1);
    pthread_mutex_unlock(&s->lock);
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits until the absolute deadline or until pw_close() asks to stop. A precise deadline (a
 * locked sensor's burst) is slept to early by how late wake-ups have recently been, then
 * spun to, so the burst starts before the update it waits for; others are slept to. */
static int wait_until(session *s, uint64_t deadline_ns, int precise)
{
    uint64_t now = pw_now_ns(), slack = precise ? s->wake_slack_ns : 0;
    if (deadline_ns > now + SPIN_NS + slack) {
        uint64_t wake = deadline_ns - slack;
        pthread_mutex_lock(&s->lock);
        while (!s->stop && pw_now_ns() < wake)
            if (pw_cond_wait_until(&s->wake, &s->lock, wake) == ETIMEDOUT) break;
        pthread_mutex_unlock(&s->lock);
        /* the slack follows lateness up fast and down slowly, within bounds */
        now = pw_now_ns();
        uint64_t late = now > wake ? now - wake : 0;
        slack = s->wake_slack_ns;
        slack = late > slack ? slack + (late - slack) / 4 : slack - (slack - late) / 16;
        s->wake_slack_ns = slack < WAKE_SLACK_MIN_NS ? WAKE_SLACK_MIN_NS
                         : slack > WAKE_SLACK_MAX_NS ? WAKE_SLACK_MAX_NS : slack;
    }
    while (pw_now_ns() < deadline_ns && !atomic_load_explicit(&s->stop, memory_order_relaxed)) {}
    return !atomic_load_explicit(&s->stop, memory_order_relaxed);
}

/* The period's duties keep their cadence (late by whole periods: skipped, not burst); the
 * sources are read when their lockers say, each on its own grid. */
static void *sampler_main(void *arg)
{
    session *s = arg;
    uint64_t interval = s->opts.interval_ns, start = pw_now_ns();
    uint64_t next = s->first_tick_ns + interval;
    uint64_t cpu0 = thread_cpu_ns();
    for (;;) {
        uint64_t due = next;
        int precise = 0;
        for (size_t k = 0; k < s->nsrc; k++) {
            uint64_t d = source_due(&s->src[k]);
            if (d > due) continue;
            due = d;
            precise = pw_gridlock_state(&s->src[k].lock) == PW_LOCK_LOCKED;
        }
        if (!wait_until(s, due, precise)) break;
        uint64_t now = pw_now_ns();
        pthread_mutex_lock(&s->lock);
        if (now >= next) {
            duties(s);
            next += interval;
            now = pw_now_ns();
            if (now >= next) {
                uint64_t missed = (now - next) / interval + 1;
                next += missed * interval;
                s->stats.missed_deadlines += missed;
            }
        }
        read_due(s, now, 0);
        int gone = s->abandoned;
        pthread_mutex_unlock(&s->lock);
        if (gone) return NULL;            /* the session is pw_close's no more, nor ours */
    }
    pthread_mutex_lock(&s->lock);
    s->stats.sampler_cpu_ns = thread_cpu_ns() - cpu0;
    s->stats.sampler_wall_ns = pw_now_ns() - start;
    s->exited = 1;
    pthread_cond_signal(&s->exited_cv);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- choosing sources ----------------------------------------------------------------- */

static int add_source(session *s, const pw_source_ops *ops, const pw_source_config *cfg,
                      int named)
{
    if (s->nsrc == MAX_SOURCES) return PW_ERR_LIMIT;
    active_source *a = &s->src[s->nsrc];
    char why[PW_WHY_MAX] = "";
    memset(a, 0, sizeof *a);
    int rc = pw_source_probe(ops, cfg, &a->state, &a->info, why, sizeof why);
    if (rc == PW_OK && a->info.ndomains == 0) {
        ops->close(a->state);
        snprintf(why, sizeof why, "no power domains found");
        rc = PW_ERR_NOT_FOUND;
    }
    if (rc != PW_OK) {
        if (named) open_failed("source %s: %s", ops->name, why);
        return rc;
    }
    a->ops = ops;
    /* one block: energy, last_energy, prev_read */
    a->energy = calloc(3 * a->info.ndomains, sizeof *a->energy);
    a->last_energy = a->energy ? a->energy + a->info.ndomains : NULL;
    a->prev_read = a->energy ? a->energy + 2 * a->info.ndomains : NULL;
    if (!a->energy) {
        ops->close(a->state);
        return PW_ERR_NOMEM;
    }
    if (ops->observe) s->wants_events = 1;
    pw_gridlock_init(&a->lock, a->info.period_ns, READ_SPACING_NS, cfg->interval_ns);
    if (a->info.current_at_read) pw_gridlock_set_continuous(&a->lock);
    s->nsrc++;
    return PW_OK;
}

static int add_named_sources(session *s, const char *list, const pw_source_config *cfg)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy) return PW_ERR_NOMEM;
    int rc = PW_OK;
    for (char *name = strtok_r(copy, ",", &save); name && rc == PW_OK;
         name = strtok_r(NULL, ",", &save)) {
        const pw_source_ops *ops = pw_source_find(name);
        if (!ops) {
            open_failed("unknown source '%s'%s (see `phasewatt sources`)", name, "");
            rc = PW_ERR_NOT_FOUND;
        } else {
            rc = add_source(s, ops, cfg, 1);
        }
    }
    free(copy);
    return rc;
}

static int group_taken(const session *s, const char *group)
{
    for (size_t k = 0; group && k < s->nsrc; k++)
        if (s->src[k].ops->group && strcmp(s->src[k].ops->group, group) == 0) return 1;
    return 0;
}

/* auto: every usable measured source; the estimate only when none is usable. */
static int add_auto_sources(session *s, const pw_source_config *cfg)
{
    for (size_t i = 0; i < pw_source_count(); i++) {
        const pw_source_ops *ops = pw_source_at(i);
        if (ops->auto_probe && ops->measured && !group_taken(s, ops->group))
            (void)add_source(s, ops, cfg, 0);
    }
    if (s->nsrc) return PW_OK;
    s->estimate_fallback = 1;             /* said once the recording has started */
    return add_source(s, &pw_source_estimate, cfg, 1);
}

static int choose_sources(session *s)
{
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    cfg.synthetic = s->synthetic;
    cfg.interval_ns = s->opts.interval_ns;
    const char *list = s->opts.sources;
    if (!list || !*list || strcmp(list, "auto") == 0) return add_auto_sources(s, &cfg);
    return add_named_sources(s, list, &cfg);
}

/* ---- the trace's description ------------------------------------------------------------ */

static int write_domains(session *s)
{
    pw_source_desc srcs[MAX_SOURCES];
    pw_domain_desc doms[MAX_SOURCES * PW_SOURCE_MAX_DOMAINS];
    size_t nd = 0;
    for (size_t k = 0; k < s->nsrc; k++) {
        const active_source *a = &s->src[k];
        uint32_t src_flags = a->ops->simulated ? PW_DOMAIN_SIMULATED
                             : a->ops->measured ? 0 : PW_DOMAIN_ESTIMATED;
        srcs[k] = (pw_source_desc){(char *)a->ops->name, a->info.period_ns, src_flags};
        size_t base = nd;
        for (size_t d = 0; d < a->info.ndomains; d++, nd++) {
            const pw_domain_spec *sp = &a->info.domains[d];
            doms[nd] = (pw_domain_desc){(char *)sp->name, (uint32_t)k, sp->kind,
                                        sp->parent < 0 ? -1 : (int32_t)(base + sp->parent),
                                        sp->flags | src_flags};
        }
    }
    return s->out.domains(s->out.ctx, srcs, s->nsrc, doms, nd);
}

void pw_session_set_tap(const pw_sink *tap)
{
    pthread_mutex_lock(&g_lock);
    g_next_tap = tap ? *tap : (pw_sink){0};
    pthread_mutex_unlock(&g_lock);
}

static void write_run_meta(session *s)
{
    char host[256] = "", buf[64];
    gethostname(host, sizeof host - 1);
    char list[256] = "";
    for (size_t k = 0; k < s->nsrc; k++) {
        if (k) strncat(list, ",", sizeof list - strlen(list) - 1);
        strncat(list, s->src[k].ops->name, sizeof list - strlen(list) - 1);
    }
    pw_sink_meta(&s->out, "phasewatt_version", PW_VERSION_STRING);
    pw_sink_meta(&s->out, "host", host);
    pw_sink_meta(&s->out, "sources", list);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)s->opts.interval_ns);
    pw_sink_meta(&s->out, "sample_interval_ns", buf);
    snprintf(buf, sizeof buf, "%d", (int)getpid());
    pw_sink_meta(&s->out, "pid", buf);
    if (s->command) pw_sink_meta(&s->out, "command", s->command);
}

/* ---- lifetime ------------------------------------------------------------------------- */

static char *dup_or_null(const char *str) { return str ? strdup(str) : NULL; }

static void session_free(session *s)
{
    for (size_t k = 0; k < s->nsrc; k++) {
        s->src[k].ops->close(s->src[k].state);
        free(s->src[k].energy);
    }
    free(s->batch);
    free(s->batch_track);
    free(s->output_path);
    free(s->command);
    free(s->synthetic);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->exited_cv);
    free(s);
}

/* A session whose sampler is stuck in source `stuck`'s read: every other source is closed, and
 * the session itself is kept on g_abandoned, as that thread may yet return into it. */
static void session_abandon(session *s)
{
    for (size_t k = 0; k < s->nsrc; k++)
        if (!s->src[k].stuck) s->src[k].ops->close(s->src[k].state);
    s->next_abandoned = g_abandoned;
    g_abandoned = s;
}

static int copy_options(session *s, const pw_options *o)
{
    pw_options_init(&s->opts);
    if (o->size < PW_SIZED_MIN(pw_options, quiet)) {   /* fields a newer caller adds: ignored */
        open_failed("pw_options.size is too small: set it with pw_options_init%s%s", "", "");
        return PW_ERR_INVALID;
    }
    memcpy(&s->opts, o, o->size < sizeof s->opts ? o->size : sizeof s->opts);
    s->opts.size = sizeof s->opts;
    if (!s->opts.output_path) s->opts.output_path = "phasewatt.pwt";
    if (!s->opts.interval_ns) s->opts.interval_ns = DEFAULT_INTERVAL_NS;
    if (s->opts.interval_ns < MIN_INTERVAL_NS) return PW_ERR_INVALID;
    s->output_path = strdup(s->opts.output_path);
    s->command = dup_or_null(o->command);
    s->synthetic = dup_or_null(o->synthetic);
    if (!s->output_path || (o->command && !s->command) || (o->synthetic && !s->synthetic))
        return PW_ERR_NOMEM;
    return PW_OK;
}

static void discard_event(const pw_ring *r, const pw_event *ev, void *ctx)
{
    (void)r; (void)ev; (void)ctx;
}

/* Events and losses from before this session belong to no trace. */
static void forget_ring(pw_ring *r, void *ctx)
{
    (void)ctx;
    pw_ring_drain(r, discard_event, NULL);
    r->announced = 0;
    r->lost_reported = atomic_load_explicit(&r->lost, memory_order_relaxed);
}

static int start(session *s)
{
    pw_cond_init(&s->wake);
    pw_cond_init(&s->exited_cv);
    pthread_mutex_init(&s->lock, NULL);
    int rc = choose_sources(s);
    if (rc != PW_OK) return rc == PW_ERR_NOT_FOUND ? PW_ERR_NO_SOURCE : rc;
    uint64_t mono = pw_now_ns();
    pw_writer_header h = {mono, (int64_t)(pw_realtime_ns() - mono)};
    if ((rc = pw_writer_open(s->output_path, &h, &s->w)) != PW_OK) {
        open_failed("cannot write %s: %s", s->output_path, strerror(errno));
        return rc;
    }
    s->out = fan_out(s);
    if (s->estimate_fallback && !s->opts.quiet)   /* a note after any real error, not before */
        pw_log(PW_LOG_WARN, "no power sensor is readable here (see `phasewatt sources`); "
                            "using the CPU-utilisation estimate: figures are ESTIMATED");
    if ((rc = write_domains(s)) != PW_OK) return rc;
    write_run_meta(s);
    for (size_t k = 0; k < s->nsrc; k++)
        if (s->src[k].ops->describe) s->src[k].ops->describe(s->src[k].state, &s->out);
    s->last_flush_ns = s->started_ns = mono;
    if (!clock_offset(&s->slept_ns)) s->slept_ns = pw_sleep_check_boottime() - pw_now_ns();
    pw_rings_set_capacity(s->opts.ring_events);
    pw_rings_visit(forget_ring, NULL);
    atomic_store(&pw_g_recording, 1);
    s->first_tick_ns = pw_now_ns();       /* the periods' grid, which per-interval reads share */
    tick(s);                              /* the first reading is the energy baseline */
    if (pthread_create(&s->thread, NULL, sampler_main, s) != 0) {
        atomic_store(&pw_g_recording, 0);
        return PW_ERR_NOMEM;
    }
    return PW_OK;
}

int pw_open(const pw_options *opts)
{
    if (!opts) return PW_ERR_INVALID;
    pthread_mutex_lock(&g_lock);
    int rc = PW_ERR_STATE;
    g_open_error[0] = '\0';
    if (pw_channel_child_active()) {
        open_failed("this program runs under `phasewatt record`, which records its phases "
                    "(%s is set)%s", PW_CHANNEL_ENV, "");
    } else if (!g_session) {
        session *s = calloc(1, sizeof *s);
        rc = s ? copy_options(s, opts) : PW_ERR_NOMEM;
        if (rc == PW_OK) s->tap = g_next_tap;
        if (rc == PW_OK) rc = start(s);
        if (rc == PW_OK) {
            g_session = s;
            pw_log_quiet(s->opts.quiet);
        } else if (s) {
            if (s->w) pw_writer_close(s->w, pw_now_ns(), 0);
            session_free(s);
        }
    } else {
        open_failed("a session is already open in this process%s%s", "", "");
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

/* Says that source a's read has not returned, in the log and the trace's metadata. */
static void note_stuck(session *s, active_source *a, uint64_t for_ns)
{
    a->stuck = 1;
    s->stats.stuck_reads++;
    char key[96];
    snprintf(key, sizeof key, "sensor.%s.stuck_read_s", a->ops->name);
    char v[32];
    snprintf(v, sizeof v, "%.3f", (double)for_ns * 1e-9);
    pw_sink_meta(&s->out, key, v);
    if (!s->opts.quiet)
        pw_log(PW_LOG_WARN, "%s: a read has not returned in %.1f s (a stuck driver?): the trace "
               "ends without it, at its last reading", a->ops->name, (double)for_ns * 1e-9);
}

/* With s->lock held and stop set: waits for the sampler to leave its loop, or, when a read of
 * it has been in progress longer than read_limit_ms, marks that source stuck and the session
 * abandoned (1). The limit only counts a read that is in progress: a slow sampler is waited
 * for. */
static int wait_for_sampler(session *s)
{
    uint64_t limit_ns = (uint64_t)(s->opts.read_limit_ms ? s->opts.read_limit_ms : DEFAULT_READ_LIMIT_MS) * 1000000u;
    while (!s->exited) {
        uint64_t now = pw_now_ns();
        for (size_t k = 0; k < s->nsrc; k++) {
            uint64_t since = atomic_load(&s->src[k].reading_since_ns);
            if (since && now > since && now - since >= limit_ns) {
                note_stuck(s, &s->src[k], now - since);
                s->abandoned = 1;
                return 1;
            }
        }
        pw_cond_wait_until(&s->exited_cv, &s->lock, now + CLOSE_POLL_NS);
    }
    return 0;
}

int pw_close(void)
{
    pthread_mutex_lock(&g_lock);
    session *s = g_session;
    if (!s) {
        pthread_mutex_unlock(&g_lock);
        return PW_ERR_STATE;
    }
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    int stuck = wait_for_sampler(s);
    pthread_mutex_unlock(&s->lock);
    if (stuck) pthread_detach(s->thread);
    else pthread_join(s->thread, NULL);
    atomic_store(&pw_g_recording, 0);
    tick(s);                              /* the last events and the closing reading */
    uint64_t end = pw_now_ns();
    for (size_t k = 0; k < s->nsrc; k++)
        if (s->src[k].ops->finish && !s->src[k].stuck) s->src[k].ops->finish(s->src[k].state, &s->out, end);
    note_faults(s);
    for (size_t k = 0; k < s->nsrc; k++) note_lock(s, &s->src[k]);
    if (pw_writer_flush(s->w) != PW_OK) write_failed(s);
    s->stats.bytes_written = pw_writer_written(s->w);
    int rc = pw_writer_close(s->w, end, s->stats.missed_deadlines);
    if (rc == PW_OK && s->write_error) rc = PW_ERR_IO;
    g_last_stats = s->stats;
    g_session = NULL;
    if (stuck) session_abandon(s);
    else session_free(s);
    pw_log_quiet(0);
    pthread_mutex_unlock(&g_lock);
    return rc;
}

int pw_set_meta(const char *key, const char *value)
{
    if (!key || !value) return PW_ERR_INVALID;
    pthread_mutex_lock(&g_lock);
    int rc = PW_ERR_STATE;
    if (g_session) {
        pthread_mutex_lock(&g_session->lock);
        rc = pw_sink_meta(&g_session->out, key, value);
        pthread_mutex_unlock(&g_session->lock);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

int pw_get_stats(pw_stats *out)
{
    if (!out) return PW_ERR_INVALID;
    pthread_mutex_lock(&g_lock);
    pw_stats st = g_last_stats;
    if (g_session) {
        pthread_mutex_lock(&g_session->lock);
        st = g_session->stats;
        pthread_mutex_unlock(&g_session->lock);
    }
    pthread_mutex_unlock(&g_lock);
    st.size = sizeof st;
    return pw_sized_fill(out, &st, sizeof st, PW_SIZED_MIN(pw_stats, suspended_ns));
}

/* ---- a recorded command's channel -------------------------------------------------------- */

int pw_session_attach_channel(pw_channel *ch)
{
    pthread_mutex_lock(&g_lock);
    int rc = g_session ? PW_OK : PW_ERR_STATE;
    if (g_session) {
        pthread_mutex_lock(&g_session->lock);
        g_session->channel = ch;
        pthread_mutex_unlock(&g_session->lock);
    }
    pthread_mutex_unlock(&g_lock);
    return rc;
}

uint64_t pw_session_detach_channel(uint64_t end_ns)
{
    uint64_t closed = 0;
    pthread_mutex_lock(&g_lock);
    session *s = g_session;
    if (s && s->channel) {
        pthread_mutex_lock(&s->lock);
        pw_sink in;
        closed = pw_channel_close_open(s->channel, intake(s, &in), end_ns);
        sync_names(s);
        for (int i = 0; i < PW_CH_NCOUNTS; i++) {   /* each count the channel keeps */
            uint64_t n = pw_channel_count_of(s->channel, i);
            char buf[32];
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
            if (n) pw_sink_meta(&s->out, pw_channel_count_key(i), buf);
        }
        s->channel = NULL;
        pthread_mutex_unlock(&s->lock);
    }
    pthread_mutex_unlock(&g_lock);
    return closed;
}
