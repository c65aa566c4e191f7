/* trace.h — the in-memory model of a recorded run, and the .pwt writer and reader over it. */
#ifndef PW_TRACE_H
#define PW_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "phasewatt.h"

/* ---- Domains ------------------------------------------------------------------------- */
typedef enum pw_kind {
    PW_KIND_OTHER = 0,
    PW_KIND_CPU,
    PW_KIND_GPU,
    PW_KIND_ANE,
    PW_KIND_DRAM,
    PW_KIND_SOC,
    PW_KIND_SYSTEM,
    PW_KIND_COUNT
} pw_kind;
const char *pw_kind_name(pw_kind kind);      /* "cpu", ... */
pw_kind pw_kind_parse(const char *name);     /* PW_KIND_OTHER for unknown names */

enum {
    PW_DOMAIN_ESTIMATED = 1u << 0,           /* modelled, not measured */
    PW_DOMAIN_SIMULATED = 1u << 1            /* a simulated sensor (the synthetic source, the
                                                simulator): exact by design, not a machine's */
};

typedef struct pw_source_desc {
    char *name;            /* "synthetic", "estimate", "rapl" */
    uint64_t period_ns;    /* sensor update period if known, else 0 */
    uint32_t flags;        /* PW_DOMAIN_* applying to all its domains */
} pw_source_desc;

typedef struct pw_domain_desc {
    char *name;            /* "package-0" */
    uint32_t source;       /* index into pw_trace.sources */
    pw_kind kind;
    int32_t parent;        /* index of the containing domain, or -1 (top level) */
    uint32_t flags;        /* PW_DOMAIN_* */
} pw_domain_desc;

/* ---- Samples: one series per source; its domains are contiguous in pw_trace.domains. -- */
enum { PW_SAMPLE_GAP = 1u << 0 };  /* the interval ending at this row is not attributable */
#define PW_T_ERR_UNKNOWN UINT32_MAX  /* t_err_ns of a row whose uncertainty was not stated */

typedef struct pw_series {
    uint32_t source;
    uint32_t first_domain;
    uint32_t ndomains;
    size_t n, cap;
    uint64_t *t_ns;        /* [n] monotonic ns, non-decreasing: the instant the reading's
                              energy was current (the sensor's update, where it is known) */
    uint32_t *t_err_ns;    /* [n] half-width of t_ns's uncertainty, PW_T_ERR_UNKNOWN where not
                              stated; NULL when no row of the series states one */
    uint64_t *energy_uj;   /* [n * ndomains] cumulative µJ, row-major, wraparound undone */
    uint8_t *flags;        /* [n] PW_SAMPLE_* */
} pw_series;

/* ---- Phase events, one track per thread (or per request / process) -------------------- */
enum pw_event_type { PW_EV_BEGIN = 1, PW_EV_END = 2, PW_EV_MARK = 3, PW_EV_COUNT = 4 };

/* A track's word on which devices it drives (pw_track_devices): a COUNT event of this
 * counter whose value holds PW_DEVICE_* bits; a reader that knows no better sees a counter. */
#define PW_DEVICES_COUNTER "phasewatt.devices"
enum { PW_DEVICE_CPU = 1, PW_DEVICE_GPU = 2, PW_DEVICE_ANE = 4, PW_DEVICE_ALL = 7 };

typedef struct pw_event {
    uint64_t t_ns;
    int64_t value;         /* PW_EV_COUNT: the increment; otherwise 0 */
    uint32_t id;           /* phase or counter name id (END carries the phase it closes) */
    uint32_t type;         /* enum pw_event_type */
} pw_event;

/* A track's open phases as its events unfold: BEGIN pushes (up to PW_MAX_DEPTH; deeper
 * ones are not kept), END pops. Recorders and readers that close what a track left open
 * follow its events with it. */
typedef struct pw_open_stack {
    int depth;
    uint32_t ids[PW_MAX_DEPTH];   /* name ids, outermost first */
} pw_open_stack;
void pw_open_stack_follow(pw_open_stack *s, const pw_event *ev);

typedef struct pw_track {
    uint32_t id;
    uint32_t pid, tid;
    char *name;            /* may be NULL */
    pw_event *events;
    size_t n, cap;
    uint64_t lost;         /* events dropped on this track (ring full) */
} pw_track;

typedef struct pw_truth {  /* ground truth from the simulator or synthetic source */
    char *path;            /* phase path, "decode/attention"; "" = the whole run */
    double energy_j;       /* inclusive true energy */
    double duration_s;     /* inclusive time */
} pw_truth;

typedef struct pw_meta { char *key, *value; } pw_meta;

/* A hash index into one of the model's arrays (slots hold position + 1); builder-private. */
typedef struct pw_index { size_t *slots; size_t cap, count; } pw_index;

struct pw_trace {
    uint32_t version;
    uint64_t start_ns;            /* monotonic ns when recording started */
    int64_t realtime_offset_ns;   /* CLOCK_REALTIME - CLOCK_MONOTONIC at start */
    uint64_t end_ns;              /* from the END chunk, else the last timestamp seen */

    pw_source_desc *sources; size_t nsources;
    pw_domain_desc *domains; size_t ndomains;
    pw_series *series;            /* [nsources], series[i].source == i */
    char **names; size_t nnames;  /* indexed by id; names[0] unused, NULL where unknown */
    pw_track *tracks; size_t ntracks;
    pw_truth *truth; size_t ntruth;
    pw_meta *meta; size_t nmeta;

    uint64_t missed_deadlines;
    pw_trace_health health;
    char **domain_kind_names;     /* cache for the public reader (owned) */

    /* Capacities of the arrays above, kept by the builders (geometric growth). */
    size_t sources_cap, series_cap, domains_cap, names_cap, tracks_cap, truth_cap, meta_cap;
    /* Tracks by id and meta by key, O(1) even on hostile files. Code that reorders tracks or
     * meta in place (rather than through the builders) must set the index's count to 0. */
    pw_index track_index;
    pw_index meta_index;
    pw_index truth_index;         /* truth by path: the first record of each */
};

/* Building a model (reader, simulator, tests). Strings are copied. */
pw_trace *pw_trace_new(void);
void pw_trace_free(pw_trace *t);
int pw_trace_add_source(pw_trace *t, const char *name, uint64_t period_ns, uint32_t flags);
/* A source's domains are contiguous and come before its first sample; a parent is -1 or
 * an earlier domain (so the containment tree has no cycles). */
int pw_trace_add_domain(pw_trace *t, uint32_t source, const char *name, pw_kind kind,
                        int32_t parent, uint32_t flags);
/* Timestamps of one source never decrease (PW_ERR_INVALID otherwise). */
int pw_trace_add_sample(pw_trace *t, uint32_t source, uint64_t t_ns, const uint64_t *energy_uj,
                        uint8_t flags);
/* The same with t_ns's uncertainty (half-width, ns; PW_T_ERR_UNKNOWN: not stated). */
int pw_trace_add_sample_stamped(pw_trace *t, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                                const uint64_t *energy_uj, uint8_t flags);
/* Gives s a t_err_ns array, once, its first `rows` rows PW_T_ERR_UNKNOWN; for builders. */
int pw_series_stamp_errors(pw_series *s, size_t rows);
#define PW_TRACE_MAX_NAMES (1u << 21)   /* name ids are 1 .. PW_TRACE_MAX_NAMES - 1 */
int pw_trace_set_name(pw_trace *t, uint32_t id, const char *name);  /* replaces */
/* Finds or creates (NULL: out of memory); the pointer lasts until the next track is created. */
pw_track *pw_trace_track(pw_trace *t, uint32_t track_id);
int pw_trace_add_event(pw_trace *t, uint32_t track_id, const pw_event *ev);
int pw_trace_add_truth(pw_trace *t, const char *path, double energy_j, double duration_s);
const pw_truth *pw_trace_find_truth(const pw_trace *t, const char *path);   /* first, or NULL */
int pw_trace_set_meta(pw_trace *t, const char *key, const char *value);  /* replaces */
const char *pw_trace_name(const pw_trace *t, uint32_t id);  /* NULL if unknown */
/* "parent/name" in a new string ("name" when parent is ""), or NULL when out of memory. */
char *pw_path_join(const char *parent, const char *name);
int pw_trace_domain_is_top(const pw_trace *t, size_t domain);  /* parent == -1 */

/* ---- Writer: streams chunks to a file; bounded memory however long the run. ----------- */
typedef struct pw_writer pw_writer;

typedef struct pw_writer_header {
    uint64_t start_ns;
    int64_t realtime_offset_ns;
} pw_writer_header;

int pw_writer_open(const char *path, const pw_writer_header *h, pw_writer **out);
/* Describes every source and domain, once, before any sample. */
int pw_writer_domains(pw_writer *w, const pw_source_desc *sources, size_t nsources,
                      const pw_domain_desc *domains, size_t ndomains);
int pw_writer_name(pw_writer *w, uint32_t id, const char *name);
int pw_writer_track(pw_writer *w, uint32_t track, uint32_t pid, uint32_t tid, const char *name);
int pw_writer_sample(pw_writer *w, uint32_t source, uint64_t t_ns, const uint64_t *energy_uj,
                     uint8_t flags);
/* A reading stamped with the instant its energy was current, ± t_err_ns (PW_T_ERR_UNKNOWN:
 * not stated, as pw_writer_sample). */
int pw_writer_sample_stamped(pw_writer *w, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                             const uint64_t *energy_uj, uint8_t flags);
int pw_writer_event(pw_writer *w, uint32_t track, const pw_event *ev);
int pw_writer_loss(pw_writer *w, uint32_t track, uint64_t lost_total);
int pw_writer_meta(pw_writer *w, const char *key, const char *value);
int pw_writer_truth(pw_writer *w, const char *path, double energy_j, double duration_s);
int pw_writer_flush(pw_writer *w);   /* writes every pending chunk */
/* The errno of the write that failed (ENOSPC: the disk is full), 0 while none has; once one
 * fails the writer stops, and the file keeps every chunk written before (a reader reads up
 * to the last complete one). */
int pw_writer_errno(const pw_writer *w);
uint64_t pw_writer_written(const pw_writer *w);   /* bytes on disk so far */
/* Flushes, writes the END chunk and closes; frees w even on error. */
int pw_writer_close(pw_writer *w, uint64_t end_ns, uint64_t missed_deadlines);
/* pw_trace_write (phasewatt.h) writes a whole model through the writer. */

/* ---- Reader -------------------------------------------------------------------------- */
int pw_trace_read_buffer(const uint8_t *data, size_t len, pw_trace **out);
/* ---- Model internals the reader fills directly (implemented in trace.c) ---------------- */
int pw_series_reserve(pw_series *s, size_t rows);   /* capacity for `rows` rows in all */
int pw_track_reserve(pw_track *tr, size_t events);  /* capacity for `events` in all */
void pw_trace_pop_track(pw_trace *t);               /* drops the newest track (a rollback) */

/* pw_trace_open() (public) reads a file with pw_trace_read_buffer. */

uint32_t pw_crc32c(uint32_t crc, const void *data, size_t len);

#endif
