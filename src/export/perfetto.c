/* perfetto.c — a run as Perfetto's native protobuf trace (TracePacket / TrackEvent), written
 * packet by packet as it is walked. Field numbers are those of Perfetto's public protos
 * (protos/perfetto/trace/: trace_packet, clock_snapshot and the track_event protos). */
#include <math.h>
#include <stdlib.h>

#include "export/export.h"
#include "export/protowire.h"
#include "report/common.h"

enum { TRACE_PACKET = 1 };
enum {                             /* TracePacket */
    PKT_CLOCK_SNAPSHOT = 6, PKT_TIMESTAMP = 8, PKT_SEQUENCE_ID = 10, PKT_TRACK_EVENT = 11,
    PKT_CLOCK_ID = 58, PKT_TRACK_DESCRIPTOR = 60
};
enum { SNAP_CLOCKS = 1, SNAP_PRIMARY_CLOCK = 2, CLOCK_ID = 1, CLOCK_TIMESTAMP = 2 };
enum { BUILTIN_REALTIME = 1, BUILTIN_MONOTONIC = 3 };
enum {                             /* TrackEvent */
    EV_DEBUG_ANNOTATION = 4, EV_TYPE = 9, EV_TRACK_UUID = 11, EV_NAME = 23,
    EV_COUNTER_VALUE = 30, EV_DOUBLE_COUNTER_VALUE = 44
};
enum { TYPE_SLICE_BEGIN = 1, TYPE_SLICE_END = 2, TYPE_INSTANT = 3, TYPE_COUNTER = 4 };
enum { ANN_INT = 4, ANN_STRING = 6, ANN_NAME = 10 };                    /* DebugAnnotation */
enum { TD_UUID = 1, TD_NAME = 2, TD_THREAD = 4, TD_PARENT = 5, TD_COUNTER = 8 };  /* TrackDescriptor */
enum { THREAD_PID = 1, THREAD_TID = 2, THREAD_NAME = 5 };               /* ThreadDescriptor */

/* Track uuids, unique by construction: the kind in the low two bits. */
enum { UUID_POWER = 0, UUID_THREAD = 1, UUID_COUNTER = 2 };
static uint64_t uuid(int kind, uint64_t x) { return (x + 1) << 2 | (uint64_t)kind; }
static uint64_t power_root(void) { return uuid(UUID_POWER, 0); }
static uint64_t power_track(size_t domain) { return uuid(UUID_POWER, domain + 1); }
static uint64_t thread_track(size_t k) { return uuid(UUID_THREAD, k); }
/* name ids are below PW_TRACE_MAX_NAMES = 2^21 */
static uint64_t counter_track(size_t k, uint32_t id) { return uuid(UUID_COUNTER, (uint64_t)k << 21 | id); }

typedef struct writer {
    FILE *out;
    const pw_trace *t;
    uint64_t bucket_ns;
    pw_pb packet, msg, sub;        /* reused: a packet, its payload, a message inside that */
    int io_error;
} writer;

/* Packets of one sequence come in time order: one sequence per power series and per track. */
static uint32_t series_sequence(size_t s) { return (uint32_t)(1 + s); }
static uint32_t track_sequence(const writer *w, size_t k) { return (uint32_t)(1 + w->t->nsources + k); }

/* t_ns on CLOCK_REALTIME, clamped to [0, UINT64_MAX] (a crafted trace's times can be any
 * 64-bit value, and its offset any signed one). */
static uint64_t realtime_ns(const pw_trace *t, uint64_t t_ns)
{
    int64_t off = t->realtime_offset_ns;
    if (off >= 0) return t_ns > UINT64_MAX - (uint64_t)off ? UINT64_MAX : t_ns + (uint64_t)off;
    uint64_t back = off == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)-off;
    return t_ns > back ? t_ns - back : 0;
}

/* Wraps msg as field `field` of a TracePacket (timestamped on CLOCK_REALTIME when t_ns is
 * given) and writes it as one `packet` of the Trace. */
static void emit(writer *w, uint32_t sequence, const uint64_t *t_ns, uint32_t field)
{
    pw_pb *p = &w->packet;
    pw_pb_reset(p);
    if (t_ns) {
        pw_pb_varint(p, PKT_TIMESTAMP, realtime_ns(w->t, *t_ns));
        pw_pb_varint(p, PKT_CLOCK_ID, BUILTIN_REALTIME);
    }
    pw_pb_varint(p, PKT_SEQUENCE_ID, sequence);
    pw_pb_message(p, field, &w->msg);
    if (p->nomem) return;
    uint8_t head[11];
    size_t n = pw_pb_put_varint(head + 1, p->n) + 1;
    head[0] = TRACE_PACKET << 3 | 2;
    if (fwrite(head, 1, n, w->out) != n || fwrite(p->p, 1, p->n, w->out) != p->n) w->io_error = 1;
}

static int status(const writer *w)
{
    if (w->packet.nomem || w->msg.nomem || w->sub.nomem) return PW_ERR_NOMEM;
    return w->io_error ? PW_ERR_IO : PW_OK;
}

static const char *name_of(const pw_trace *t, uint32_t id)
{
    const char *n = pw_trace_name(t, id);
    return n ? n : "(unknown)";
}

/* ---- descriptors ------------------------------------------------------------------------ */

static void named_track(writer *w, uint32_t sequence, uint64_t id, uint64_t parent,
                        const char *name, int counter)
{
    pw_pb_reset(&w->msg);
    pw_pb_varint(&w->msg, TD_UUID, id);
    if (parent) pw_pb_varint(&w->msg, TD_PARENT, parent);
    pw_pb_string(&w->msg, TD_NAME, name);
    if (counter) pw_pb_bytes(&w->msg, TD_COUNTER, NULL, 0);   /* marks a counter track */
    emit(w, sequence, NULL, PKT_TRACK_DESCRIPTOR);
}

/* A track's pid and tid, unique per track even when the trace has none (simulated runs). */
static void thread_descriptor(writer *w, size_t k)
{
    const pw_track *tr = &w->t->tracks[k];
    char label[72];
    pw_export_track_label(tr, label, sizeof label);
    pw_pb_reset(&w->sub);
    pw_pb_varint(&w->sub, THREAD_PID, tr->pid ? tr->pid : 1);
    pw_pb_varint(&w->sub, THREAD_TID, tr->tid ? tr->tid : (uint64_t)k + 1);
    pw_pb_string(&w->sub, THREAD_NAME, label);
    pw_pb_reset(&w->msg);
    pw_pb_varint(&w->msg, TD_UUID, thread_track(k));
    pw_pb_message(&w->msg, TD_THREAD, &w->sub);
    emit(w, track_sequence(w, k), NULL, PKT_TRACK_DESCRIPTOR);
}

/* CLOCK_REALTIME is the trace's clock; the snapshot ties it to the monotonic clock phasewatt
 * records on, so tools that align on either can place every event. */
static void clock_snapshot(writer *w)
{
    const uint32_t ids[2] = {BUILTIN_REALTIME, BUILTIN_MONOTONIC};
    const uint64_t at[2] = {realtime_ns(w->t, w->t->start_ns), w->t->start_ns};
    pw_pb_reset(&w->msg);
    for (int i = 0; i < 2; i++) {
        pw_pb_reset(&w->sub);
        pw_pb_varint(&w->sub, CLOCK_ID, ids[i]);
        pw_pb_varint(&w->sub, CLOCK_TIMESTAMP, at[i]);
        pw_pb_message(&w->msg, SNAP_CLOCKS, &w->sub);
    }
    pw_pb_varint(&w->msg, SNAP_PRIMARY_CLOCK, BUILTIN_REALTIME);
    emit(w, series_sequence(0), NULL, PKT_CLOCK_SNAPSHOT);
}

/* ---- events ----------------------------------------------------------------------------- */

static void event_head(writer *w, int type, uint64_t track)
{
    pw_pb_reset(&w->msg);
    pw_pb_varint(&w->msg, EV_TYPE, (uint64_t)type);
    pw_pb_varint(&w->msg, EV_TRACK_UUID, track);
}

static void annotation_int(writer *w, const char *name, int64_t v)
{
    pw_pb_reset(&w->sub);
    pw_pb_string(&w->sub, ANN_NAME, name);
    pw_pb_int64(&w->sub, ANN_INT, v);
    pw_pb_message(&w->msg, EV_DEBUG_ANNOTATION, &w->sub);
}

static void annotation_string(writer *w, const char *name, const char *v)
{
    pw_pb_reset(&w->sub);
    pw_pb_string(&w->sub, ANN_NAME, name);
    pw_pb_string(&w->sub, ANN_STRING, v);
    pw_pb_message(&w->msg, EV_DEBUG_ANNOTATION, &w->sub);
}

/* One instant at the run's start carrying what the run says about itself: the clock, the
 * realtime offset, provenance, losses and every metadata key. */
static void run_metadata(writer *w, const pw_attribution *a)
{
    const pw_trace *t = w->t;
    event_head(w, TYPE_INSTANT, power_root());
    pw_pb_string(&w->msg, EV_NAME, "phasewatt run");
    annotation_string(w, "clock", "realtime");
    annotation_int(w, "realtime_offset_ns", t->realtime_offset_ns);
    annotation_string(w, "provenance", pw_report_provenance(t));
    annotation_int(w, "lost_events", (int64_t)t->health.lost_events);
    annotation_int(w, "gap_intervals", (int64_t)a->gap_intervals);
    for (size_t i = 0; i < t->nmeta; i++) annotation_string(w, t->meta[i].key, t->meta[i].value);
    uint64_t origin = pw_export_origin(t);
    emit(w, series_sequence(0), &origin, PKT_TRACK_EVENT);
}

typedef struct track_ctx {
    writer *w;
    size_t k;
} track_ctx;

static void slice_begin(void *ctx, const pw_event *ev)
{
    track_ctx *c = ctx;
    event_head(c->w, TYPE_SLICE_BEGIN, thread_track(c->k));
    pw_pb_string(&c->w->msg, EV_NAME, name_of(c->w->t, ev->id));
    emit(c->w, track_sequence(c->w, c->k), &ev->t_ns, PKT_TRACK_EVENT);
}

static void slice_end(void *ctx, uint32_t id, uint64_t t0, uint64_t t1)
{
    track_ctx *c = ctx;
    (void)id;
    (void)t0;
    event_head(c->w, TYPE_SLICE_END, thread_track(c->k));
    emit(c->w, track_sequence(c->w, c->k), &t1, PKT_TRACK_EVENT);
}

static void instant(void *ctx, const pw_event *ev)
{
    track_ctx *c = ctx;
    event_head(c->w, TYPE_INSTANT, thread_track(c->k));
    pw_pb_string(&c->w->msg, EV_NAME, name_of(c->w->t, ev->id));
    emit(c->w, track_sequence(c->w, c->k), &ev->t_ns, PKT_TRACK_EVENT);
}

/* Counters are cumulative per track (the total so far); a counter's track is described the
 * first time it counts. */
static void counter(void *ctx, const pw_event *ev, const pw_counter_slot *total, int first)
{
    track_ctx *c = ctx;
    uint32_t sequence = track_sequence(c->w, c->k);
    if (first)
        named_track(c->w, sequence, counter_track(c->k, ev->id), thread_track(c->k),
                    name_of(c->w->t, ev->id), 1);
    event_head(c->w, TYPE_COUNTER, counter_track(c->k, ev->id));
    pw_pb_int64(&c->w->msg, EV_COUNTER_VALUE, total->total);
    emit(c->w, sequence, &ev->t_ns, PKT_TRACK_EVENT);
}

static int track_events(writer *w, size_t k, uint64_t end_ns)
{
    static const pw_track_visitor visit = {slice_begin, slice_end, instant, counter};
    thread_descriptor(w, k);
    track_ctx c = {w, k};
    int rc = pw_export_walk_track(&w->t->tracks[k], end_ns, &visit, &c);
    return rc != PW_OK ? rc : status(w);
}

/* ---- power ------------------------------------------------------------------------------ */

typedef struct bucket {
    uint64_t t0;                   /* start of the intervals merged so far */
    double *joules;                /* [ndomains] energy over them */
    double *last_w;                /* [ndomains] the value each counter holds */
} bucket;

static void power_value(writer *w, size_t s, size_t domain, uint64_t t_ns, double watts)
{
    event_head(w, TYPE_COUNTER, power_track(domain));
    pw_pb_double(&w->msg, EV_DOUBLE_COUNTER_VALUE, watts);
    emit(w, series_sequence(s), &t_ns, PKT_TRACK_EVENT);
}

/* Writes each domain's mean power over [b->t0, t1) from b->t0, unless the counter already
 * holds that value (a held counter integrates the same), and starts the next bucket at t1. */
static void bucket_flush(writer *w, size_t s, bucket *b, uint64_t t1)
{
    const pw_series *se = &w->t->series[s];
    for (size_t k = 0; k < se->ndomains && t1 > b->t0; k++) {
        double watts = b->joules[k] / ((double)(t1 - b->t0) * 1e-9);
        if (watts != b->last_w[k]) power_value(w, s, se->first_domain + k, b->t0, watts);
        b->last_w[k] = watts;
        b->joules[k] = 0;
    }
    b->t0 = t1;
}

/* Each domain's mean power per bucket: consecutive attributable intervals merge until the
 * bucket spans bucket_ns (every interval alone when 0); a gap reads 0 W over its interval,
 * and every counter drops to 0 at the last reading, so the counters integrate to the energy
 * attribution counts. */
static int series_power(writer *w, size_t s)
{
    const pw_series *se = &w->t->series[s];
    if (se->n < 2) return PW_OK;
    double *watts = calloc(se->ndomains + 1, sizeof *watts);
    bucket b = {se->t_ns[0], calloc(se->ndomains + 1, sizeof *b.joules),
                calloc(se->ndomains + 1, sizeof *b.last_w)};
    if (!watts || !b.joules || !b.last_w) {
        free(watts);
        free(b.joules);
        free(b.last_w);
        return PW_ERR_NOMEM;
    }
    for (size_t k = 0; k < se->ndomains; k++) {
        named_track(w, series_sequence(s), power_track(se->first_domain + k), power_root(),
                    w->t->domains[se->first_domain + k].name, 1);
        b.last_w[k] = NAN;
    }
    for (size_t i = 1; i < se->n && status(w) == PW_OK; i++) {
        uint64_t t0 = se->t_ns[i - 1], t1 = se->t_ns[i];
        if (!pw_export_interval_watts(w->t, s, i, watts)) {
            bucket_flush(w, s, &b, t0);        /* what came before, then 0 W over the gap */
            bucket_flush(w, s, &b, t1);
            continue;
        }
        for (size_t k = 0; k < se->ndomains; k++) b.joules[k] += watts[k] * (double)(t1 - t0) * 1e-9;
        if (t1 - b.t0 >= w->bucket_ns) bucket_flush(w, s, &b, t1);
    }
    bucket_flush(w, s, &b, se->t_ns[se->n - 1]);
    for (size_t k = 0; k < se->ndomains; k++)
        if (b.last_w[k] != 0) power_value(w, s, se->first_domain + k, se->t_ns[se->n - 1], 0.0);
    free(watts);
    free(b.joules);
    free(b.last_w);
    return status(w);
}

/* ---- the file ---------------------------------------------------------------------------- */

int pw_export_perfetto(FILE *out, const pw_trace *t, const pw_attribution *a, uint64_t bucket_ns)
{
    if (!out || !t || !a) return PW_ERR_INVALID;
    writer w = {.out = out, .t = t, .bucket_ns = bucket_ns};
    clock_snapshot(&w);
    named_track(&w, series_sequence(0), power_root(), 0, "power (W)", 0);
    run_metadata(&w, a);
    int rc = status(&w);
    uint64_t end_ns = pw_export_end(t, a);
    for (size_t k = 0; k < t->ntracks && rc == PW_OK; k++) rc = track_events(&w, k, end_ns);
    for (size_t s = 0; s < t->nsources && rc == PW_OK; s++) rc = series_power(&w, s);
    pw_pb_free(&w.packet);
    pw_pb_free(&w.msg);
    pw_pb_free(&w.sub);
    if (rc != PW_OK) return rc;
    return pw_report_finish(out);
}
