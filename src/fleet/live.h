/* live.h — running per-phase energy for a long-lived agent (phasewatt serve): the session's
 * stream is queued off the sampler thread, cut into windows on the agent's own thread, each
 * attributed the way `report` attributes a trace, and the figures added up, with every kind
 * of memory bounded by a budget however long the agent runs and whatever the writers send. */
#ifndef PW_LIVE_H
#define PW_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "core/tap.h"

typedef struct pw_live pw_live;

/* Zero fields take the defaults (docs/fleet.md states the budget they make). */
typedef struct pw_live_config {
    uint64_t window_ns;      /* run per attribution (5 s): the metrics lag by up to that */
    const char *host;        /* the value of every series' host label */
    size_t max_events;       /* events held at once, queued or in a window (131 072) */
    size_t window_events;    /* a window holding this many closes at the next reading (32 768,
                                or a quarter of max_events where that is less) */
    size_t max_series;       /* distinct phase paths with figures (4 096) */
    size_t max_names;        /* name ids kept (65 536, and 4 MB of text); past it, #ID */
    size_t max_tracks;       /* threads followed at once (4 096) */
    uint64_t skew_ns;        /* a BEGIN this far outside the readings is rejected (1 s) */
    uint64_t idle_windows;   /* a phase path untouched this many windows is pruned (1 h) */
    int manual;              /* no thread: only pw_live_flush attributes (tests) */
} pw_live_config;

pw_live *pw_live_new(const pw_live_config *cfg);
/* Asks the live thread to stop and waits up to wait_ns: what is queued is dropped, but a
 * window's attribution is not left midway. 0 once it has stopped (pw_live_free is then
 * prompt); -1 while it still attributes. */
int pw_live_stop(pw_live *l, uint64_t wait_ns);
/* After a pw_live_stop that timed out, when the process must end anyway (SIGTERM within its
 * bound): the live thread is detached, so its end is no leak; l stays allocated (the thread
 * may still use it) until the process exits. */
void pw_live_abandon(pw_live *l);
void pw_live_free(pw_live *l);   /* waits for the live thread */

/* The callbacks a session feeds it through (pw_session_set_tap). They only copy what
 * arrives into a bounded queue: attribution runs on the live view's own thread. */
void pw_live_tap(pw_live *l, pw_sink *out);

/* Attributes everything queued and gathered up to the last reading now, rather than when the
 * window is full (before a last scrape, and in tests). */
int pw_live_flush(pw_live *l);

/* Why events were dropped; each is a `reason` of phasewatt_lost_events_total. */
typedef enum pw_live_loss {
    PW_LIVE_LOST_RING,       /* a tagging thread's ring was full */
    PW_LIVE_LOST_CHANNEL,    /* the channel had no ring free, or a name no room */
    PW_LIVE_LOST_QUEUE,      /* the budget of held events was spent */
    PW_LIVE_LOST_TIMESTAMP,  /* stamped far outside the readings */
    PW_LIVE_LOST_DEPTH,      /* nested deeper than PW_MAX_DEPTH */
    PW_LIVE_LOST_TRACKS,     /* more threads at once than max_tracks */
    PW_LIVE_LOST_NAMES,      /* names past max_names (counts names, not events) */
    PW_LIVE_LOST_SERIES,     /* phase paths past max_series (counts a window's figures) */
    PW_LIVE_LOST_COUNT
} pw_live_loss;
const char *pw_live_loss_reason(pw_live_loss why);   /* "ring_full", "depth", ... */
uint64_t pw_live_lost(pw_live *l, pw_live_loss why);  /* since the start; lock-free */

/* The last rendered /metrics page (Prometheus text format 0.0.4): a reference that a scrape
 * holds while it sends, so attribution never waits for a client nor a client for it. */
typedef struct pw_live_page pw_live_page;
pw_live_page *pw_live_page_get(pw_live *l);
const char *pw_live_page_text(const pw_live_page *p, size_t *len);
void pw_live_page_release(pw_live_page *p);

/* A malloc'd, NUL-terminated copy of the last page; NULL when out of memory. */
char *pw_live_metrics(pw_live *l, size_t *len);

/* One phase path's running totals over the top-level domains (for tests and tools); returns
 * PW_ERR_NOT_FOUND when the path has not been attributed yet. */
typedef struct pw_live_phase {
    double energy_j, seconds, tokens;
    uint64_t calls;
    const char *provenance;
    double ci_j;            /* 95 % half-width of energy_j (0 where measured) */
} pw_live_phase;
int pw_live_phase_totals(pw_live *l, const char *path, pw_live_phase *out);
size_t pw_live_series(pw_live *l);   /* phase paths with figures now */

#endif
