/* live.h — running per-phase energy for a long-lived agent (phasewatt serve): the session's
 * stream is cut into windows, each attributed the way `report` attributes a trace, and the
 * figures added up, so memory stays bounded however long the agent runs. */
#ifndef PW_LIVE_H
#define PW_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tap.h"

typedef struct pw_live pw_live;

/* window_ns: how much run each attribution covers (the metrics lag by up to that much);
 * host: the value of every series' host label. */
pw_live *pw_live_new(uint64_t window_ns, const char *host);
void pw_live_free(pw_live *l);

/* The callbacks a session feeds it through (pw_session_set_tap). */
void pw_live_tap(pw_live *l, pw_session_tap *out);

/* Attributes what has been gathered up to the last sample now, rather than when the window
 * is full (when a tagged command ends, or before a last scrape). */
int pw_live_flush(pw_live *l);

/* Every metric in the Prometheus text exposition format (version 0.0.4), malloc'd and
 * NUL-terminated; NULL when out of memory. Safe from any thread. */
char *pw_live_metrics(pw_live *l, size_t *len);

/* One phase path's running totals over the top-level domains (for tests and tools); returns
 * PW_ERR_NOT_FOUND when the path has not been attributed yet. */
typedef struct pw_live_phase {
    double energy_j, seconds, tokens;
    uint64_t calls;
    const char *provenance;
} pw_live_phase;
int pw_live_phase_totals(pw_live *l, const char *path, pw_live_phase *out);

#endif
