/* export.h — streaming exporters of a recorded run for other tools: Chrome/Perfetto trace
 * events and JSON lines. */
#ifndef PW_EXPORT_H
#define PW_EXPORT_H

#include <stdio.h>

#include "analysis/attribute.h"
#include "trace/trace.h"

/* Chrome trace-event JSON (Perfetto UI, chrome://tracing): phases as nested complete
 * slices per track, marks as instants, counters (tokens) and each domain's power (W, held
 * over each sample interval, 0 in gaps) as counter tracks; µs since the run's start. */
int pw_export_perfetto(FILE *out, const pw_trace *t, const pw_attribution *a);
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

#endif
