/* export.h — streaming exporters of a recorded run for other tools: Chrome/Perfetto trace
 * events and JSON lines. */
#ifndef PW_EXPORT_H
#define PW_EXPORT_H

#include <stdio.h>

#include "analysis/attribute.h"
#include "trace/trace.h"

/* How finely power counters are written: full resolution writes one value per sample
 * interval; otherwise consecutive intervals merge into buckets of at least this long. */
#define PW_EXPORT_BUCKET_NS 10000000ull   /* 10 ms */

/* Perfetto's native protobuf trace (TracePacket / TrackEvent): phases as nested slices on
 * one named track per pw_track, marks as instants, counters (tokens) as counter tracks, each
 * power domain's mean power (W) as a counter track held over each bucket of bucket_ns (0:
 * every sample interval), 0 over gaps and after the last reading, so it integrates to the
 * attributed energy. Timestamps are CLOCK_REALTIME ns (monotonic + realtime_offset_ns). */
int pw_export_perfetto(FILE *out, const pw_trace *t, const pw_attribution *a, uint64_t bucket_ns);
/* The same as Chrome trace-event JSON (legacy; chrome://tracing): µs since the run's start. */
int pw_export_perfetto_json(FILE *out, const pw_trace *t, const pw_attribution *a);
/* One JSON object per line, in time order: each sample reading and each phase event. */
int pw_export_jsonl(FILE *out, const pw_trace *t, const pw_attribution *a);
/* CSV (the seed's PowerSample columns, then <domain>_power_mw for every domain) is
 * pw_report_samples_csv(out, t, a, 1) in report/csv.c, beside the view it extends. */

/* ---- shared by the exporters (export.c) ----------------------------------------------- */
/* The earliest timestamp of the run (first sample or event): the exporters' time zero. */
uint64_t pw_export_origin(const pw_trace *t);
/* Mean power (W) of each of series s's domains over the interval ending at reading i >= 1;
 * returns 0 and writes zeros when that interval is a gap or empty. */
int pw_export_interval_watts(const pw_trace *t, size_t s, size_t i, double *watts);
/* Up to 64 characters naming the track: its name, else "pid P tid T". */
void pw_export_track_label(const pw_track *tr, char *out, size_t cap);
/* The run's last timestamp: the last sample, or a later event. */
uint64_t pw_export_end(const pw_trace *t, const pw_attribution *a);

/* Running totals of one track's counters by name id: open addressing that doubles when half
 * full, so any number of distinct ids costs linear time and memory in the ids seen; totals
 * saturate at the int64 limits instead of overflowing. */
typedef struct pw_counter_slot {
    uint32_t id;
    int used;
    int64_t total;
} pw_counter_slot;
typedef struct pw_counter_table {
    pw_counter_slot *slots;
    size_t mask;                   /* slots - 1; a power of two less one */
    size_t count;                  /* ids held */
} pw_counter_table;
int pw_counter_table_init(pw_counter_table *c);   /* PW_ERR_NOMEM */
/* Adds value to id's total and returns the slot (valid until the next add), or NULL when out
 * of memory; *first is 1 when id was not seen before. */
pw_counter_slot *pw_counter_table_add(pw_counter_table *c, uint32_t id, int64_t value, int *first);
void pw_counter_table_free(pw_counter_table *c);

/* A track's events as the exporters write them. Phases nest as attribution reads them: an
 * END closes the innermost open phase; BEGINs deeper than PW_MAX_DEPTH are skipped with
 * their ENDs; phases still open at the end close at end_ns. Any callback may be NULL. */
typedef struct pw_track_visitor {
    void (*begin)(void *ctx, const pw_event *ev);
    void (*end)(void *ctx, uint32_t id, uint64_t t0_ns, uint64_t t1_ns);
    void (*mark)(void *ctx, const pw_event *ev);
    /* c holds the counter's running total with ev's value added */
    void (*count)(void *ctx, const pw_event *ev, const pw_counter_slot *c, int first);
} pw_track_visitor;
int pw_export_walk_track(const pw_track *tr, uint64_t end_ns, const pw_track_visitor *v,
                         void *ctx);   /* PW_ERR_NOMEM */

#endif
