/* phasewatt.h — the public API of libphasewatt: phase tags, recording sessions, the library's
 * messages and the trace reader (docs/abi.md). The structs begin with `size_t size`, which the
 * caller sets to sizeof the struct it was built with, so that they can grow: a library accepts
 * the sizes of its own and of earlier versions. No function is async-signal-safe. */
#ifndef PHASEWATT_H
#define PHASEWATT_H

#include <stddef.h>
#include <stdint.h>
#ifdef PHASEWATT_DISABLE
#include <string.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; pw_version() says which library the program runs with. The
 * Makefile takes the library's version from these three lines. */
#define PW_VERSION_MAJOR 0
#define PW_VERSION_MINOR 1
#define PW_VERSION_PATCH 0
#define PW_STR2_(x) #x
#define PW_STR_(x) PW_STR2_(x)
#define PW_VERSION_STRING \
    PW_STR_(PW_VERSION_MAJOR) "." PW_STR_(PW_VERSION_MINOR) "." PW_STR_(PW_VERSION_PATCH)
#define PW_VERSION_NUMBER (PW_VERSION_MAJOR * 10000 + PW_VERSION_MINOR * 100 + PW_VERSION_PATCH)

/* PW_API marks what the shared libraries export; everything else in them is hidden. It is
 * empty under PHASEWATT_STATIC (compiling phasewatt's sources into a library of your own,
 * exporting none of them) and for compilers without GCC's attributes. */
#ifndef PW_API
#if defined(PHASEWATT_STATIC) || !defined(__GNUC__)
#define PW_API
#else
#define PW_API __attribute__((visibility("default")))
#endif
#endif

PW_API const char *pw_version(void);   /* the library's "MAJOR.MINOR.PATCH" */
PW_API int pw_version_number(void);    /* the library's PW_VERSION_NUMBER */

/* Every function that can fail returns one of these (0 = success). */
enum pw_error {
    PW_OK = 0,
    PW_ERR_INVALID = -1,     /* a bad argument */
    PW_ERR_NOMEM = -2,       /* out of memory */
    PW_ERR_IO = -3,          /* a read or write failed; errno says why */
    PW_ERR_FORMAT = -4,      /* malformed input (trace, scenario, spec) */
    PW_ERR_UNBALANCED = -5,  /* pw_end() with no open phase on this thread */
    PW_ERR_TOO_DEEP = -6,    /* phases nested deeper than PW_MAX_DEPTH */
    PW_ERR_STATE = -7,       /* session already open, or none open */
    PW_ERR_NO_SOURCE = -8,   /* no usable power source */
    PW_ERR_PERMISSION = -9,  /* a sensor exists but may not be read */
    PW_ERR_LIMIT = -10,      /* a fixed table is full (names, threads) */
    PW_ERR_NOT_FOUND = -11   /* no such file, source or name */
};
PW_API const char *pw_strerror(int err);

/* ---- Phase tags -------------------------------------------------------------------------
 * Intern a name once, then tag with its id: pw_begin/pw_end take no lock, make no system
 * call and allocate nothing (a thread's first call registers its event ring, once).
 * Threads: every call is safe from any thread at any time, with or without a session; each
 * thread has its own phase stack. Not from a signal handler (it would interleave with the
 * interrupted thread's own tags). Fork: a child starts with an empty phase stack and its own
 * ring; under `phasewatt record` its tags are recorded, beside an in-process session not.
 * PHASEWATT_DISABLE, defined before this header, turns these calls, PW_SCOPE, the session
 * calls and pw_set_log into inline no-ops returning PW_OK (ids are 1, names NULL): a program
 * that uses only these references no phasewatt symbol and need not link the library. */
typedef uint32_t pw_id;
#define PW_MAX_DEPTH 64
#define PW_MAX_NAME 4096
#define PW_CAT2_(a, b) a##b
#define PW_CAT_(a, b) PW_CAT2_(a, b)

#ifndef PHASEWATT_DISABLE
PW_API pw_id pw_phase_id(const char *name);   /* 0 on failure (empty, too long, table full) */
PW_API pw_id pw_counter_id(const char *name); /* counters share the name table ("tokens") */
PW_API const char *pw_name(pw_id id);         /* NULL for an unknown id */

PW_API int pw_begin(pw_id phase);             /* opens a phase nested in the thread's current one */
PW_API int pw_end(void);                      /* closes this thread's innermost phase */
PW_API int pw_mark(pw_id name);               /* an instant */
PW_API int pw_count(pw_id counter, int64_t n); /* adds n (tokens) to a counter in the phase */

/* Names the calling thread's track in traces ("worker-3", an NVTX domain); the first 63
 * bytes are kept. Not for the hot path: it may register the thread's ring. */
PW_API int pw_track_name(const char *name);

/* Says which devices the calling thread's phases drive: a comma list of "cpu", "gpu", "ane"
 * ("cpu" covers host memory too). Where tracks overlap, a domain's energy goes only to the
 * tracks that drive its device (a tokenizer thread that says "cpu" takes no GPU energy from
 * the decode beside it), and time that only such tracks had open gives it to the run's
 * untagged share; a thread that says nothing drives every device. Call it while a session
 * records (under `phasewatt record`, at any time); the last call counts for the whole track.
 * PW_ERR_INVALID for an empty list or an unknown word. */
PW_API int pw_track_devices(const char *devices);

PW_API int pw_begin_name(const char *name);   /* conveniences that intern on every call */
PW_API int pw_mark_name(const char *name);
PW_API int pw_count_name(const char *name, int64_t n);

/* PW_SCOPE("attention"); opens a phase that closes when the enclosing block ends. */
static inline void pw_scope_close_(int *begun) { if (*begun == PW_OK) (void)pw_end(); }
#define PW_SCOPE(name)                                                                   \
    static pw_id PW_CAT_(pw_scope_id_, __LINE__);                                        \
    if (!__atomic_load_n(&PW_CAT_(pw_scope_id_, __LINE__), __ATOMIC_RELAXED))            \
        __atomic_store_n(&PW_CAT_(pw_scope_id_, __LINE__), pw_phase_id(name),            \
                         __ATOMIC_RELAXED);                                              \
    int PW_CAT_(pw_scope_, __LINE__) __attribute__((cleanup(pw_scope_close_), unused)) = \
        pw_begin(__atomic_load_n(&PW_CAT_(pw_scope_id_, __LINE__), __ATOMIC_RELAXED))
#else
static inline pw_id pw_phase_id(const char *name) { (void)name; return 1; }
static inline pw_id pw_counter_id(const char *name) { (void)name; return 1; }
static inline const char *pw_name(pw_id id) { (void)id; return NULL; }
static inline int pw_begin(pw_id phase) { (void)phase; return PW_OK; }
static inline int pw_end(void) { return PW_OK; }
static inline int pw_mark(pw_id name) { (void)name; return PW_OK; }
static inline int pw_count(pw_id counter, int64_t n) { (void)counter; (void)n; return PW_OK; }
static inline int pw_track_name(const char *name) { (void)name; return PW_OK; }
static inline int pw_track_devices(const char *devices) { (void)devices; return PW_OK; }
static inline int pw_begin_name(const char *name) { (void)name; return PW_OK; }
static inline int pw_mark_name(const char *name) { (void)name; return PW_OK; }
static inline int pw_count_name(const char *name, int64_t n) { (void)name; (void)n; return PW_OK; }
#define PW_SCOPE(name) ((void)sizeof(name))
#endif

/* ---- Messages -----------------------------------------------------------------------------
 * The library's errors and notes (a write that failed, a counter that jumped, a thread left
 * untagged) go to one callback: by default a "phasewatt: MSG" line on stderr. A session
 * opened with quiet = 1 says nothing while it is open. `msg` is one line without its newline,
 * valid during the call. The callback may be called from any thread (the session's sampler
 * among them), one message at a time; it must not call back into the library. Thread-safe:
 * once pw_set_log returns, the previous callback is not called again. */
enum pw_log_level {
    PW_LOG_ERROR = 0,  /* something the caller asked for failed (the trace stopped growing) */
    PW_LOG_WARN = 1,   /* the figures are affected (estimated, a reading left out) */
    PW_LOG_NOTE = 2    /* worth knowing, figures unaffected */
};
typedef void (*pw_log_fn)(int level, const char *msg, void *ctx);
#ifndef PHASEWATT_DISABLE
PW_API void pw_set_log(pw_log_fn fn, void *ctx);   /* fn NULL: back to stderr */
#else
static inline void pw_set_log(pw_log_fn fn, void *ctx) { (void)fn; (void)ctx; }
#endif

/* ---- Recording sessions -----------------------------------------------------------------
 * One session per process: a sampler thread reads the power sources on absolute deadlines
 * and streams samples and the phase events of every thread into a trace file.
 * Threads: these calls are safe from any thread and serialised by one lock; pw_close waits
 * for the sampler to stop, but no longer than read_limit_ms for a sensor read that does not
 * return (a stuck driver): the trace then ends without that sensor, says so, and the sampler
 * thread is left in the driver (its session's memory is kept for it). A sensor read never
 * holds the lock, so pw_set_meta and pw_get_stats never wait on a driver. The sampler thread starts with the signal mask of the thread
 * that calls pw_open: block signals there first to keep them off it. Fork: the session
 * stays in the parent; a child must not call pw_close, pw_set_meta or pw_get_stats for it
 * (it may pw_open its own after exec). */
typedef struct pw_options {
    size_t size;               /* sizeof(pw_options): set by pw_options_init */
    const char *output_path;   /* trace file to write; default "phasewatt.pwt" */
    const char *sources;       /* comma list ("rapl,nvml"); NULL or "auto": every usable
                                  measured source, else "estimate" */
    uint64_t interval_ns;      /* sampling period; default 10 ms */
    uint32_t ring_events;      /* per-thread event ring capacity (rounded up to a power
                                  of two); default 16384 */
    const char *synthetic;     /* the synthetic source's spec: a scenario file, or inline
                                  "phase=W,phase=W,..." (see docs/sources.md) */
    const char *command;       /* recorded as metadata: what ran */
    int quiet;                 /* 1: no messages (pw_set_log) while the session is open */
    uint32_t read_limit_ms;    /* pw_close waits this long for a sensor read in progress
                                  (a stuck driver), then ends the trace without that sensor
                                  and returns; default 1000 */
} pw_options;

typedef struct pw_stats {
    size_t size;               /* set by the caller: sizeof(pw_stats) */
    uint64_t samples;          /* source reads written */
    uint64_t events;           /* phase events written */
    uint64_t lost_events;      /* events dropped because a ring was full */
    uint64_t missed_deadlines; /* sampler periods skipped because it ran late */
    uint64_t sampler_cpu_ns;   /* CPU time the sampler thread used */
    uint64_t sampler_wall_ns;  /* how long the sampler thread ran */
    uint32_t tracks;           /* threads that tagged phases */
    int write_errno;           /* why writing the trace stopped (ENOSPC: disk full), or 0 */
    uint64_t write_stopped_ns; /* when, from the session's start (0 while it has not) */
    uint64_t bytes_written;    /* trace bytes on disk */
    uint64_t counter_jumps;    /* readings left out: a counter stepped by more than any
                                  domain can draw (a reset, a glitch) */
    uint64_t suspended_ns;     /* time the machine slept during the run, left out */
    uint64_t stuck_reads;      /* sensors left behind at close: a read that had not returned
                                  within read_limit_ms */
} pw_stats;

#ifndef PHASEWATT_DISABLE
PW_API void pw_options_init(pw_options *opts);
PW_API int pw_open(const pw_options *opts);  /* PW_ERR_INVALID for a size it does not know */
/* Why the calling thread's last pw_open() failed, in one line with the fix where there is
 * one ("source rapl: permission denied on …"), or "" when it did not fail; the text is the
 * thread's own (thread-local) until its next pw_open. */
PW_API const char *pw_open_error(void);
PW_API int pw_close(void);
/* 1 when this process runs under `phasewatt record`, which records its tags itself (pw_open
 * then refuses: the recorder's session is the one). */
PW_API int pw_channel_child_active(void);
PW_API int pw_set_meta(const char *key, const char *value);  /* while a session is open */

/* While a session is open, or of the last one closed; out->size set by the caller. */
PW_API int pw_get_stats(pw_stats *out);
#else
static inline void pw_options_init(pw_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
}
static inline int pw_open(const pw_options *opts) { (void)opts; return PW_OK; }
static inline const char *pw_open_error(void) { return ""; }
static inline int pw_close(void) { return PW_OK; }
static inline int pw_channel_child_active(void) { return 0; }
static inline int pw_set_meta(const char *key, const char *value)
{
    (void)key; (void)value;
    return PW_OK;
}
static inline int pw_get_stats(pw_stats *out)
{
    size_t size = out->size;
    memset(out, 0, sizeof *out);
    out->size = size;
    return PW_OK;
}
#endif

/* ---- Reading traces -----------------------------------------------------------------------
 * A reader loads a .pwt file whole; a torn tail or a corrupt chunk loses only that chunk.
 * Threads: an open trace is read-only, so any number of threads may read one at once;
 * pw_trace_close must come after the last of them. These are real functions under
 * PHASEWATT_DISABLE too. */
typedef struct pw_trace pw_trace;

PW_API int pw_trace_open(const char *path, pw_trace **out);
PW_API void pw_trace_close(pw_trace *trace);
/* 1 when the file at path begins as a phasewatt trace does (its magic), 0 when it is another
 * kind of file (or empty); PW_ERR_IO with errno set when it cannot be read. What to say when
 * pw_trace_open fails: a damaged trace, or not a trace at all. */
PW_API int pw_trace_probe(const char *path);

/* The power sources this library can read, as pw_options.sources and `--source` name them
 * ("rapl", "nvml", ...), in the order `phasewatt sources` lists them; NULL past the last. */
PW_API const char *pw_source_name(size_t i);

typedef struct pw_domain_info {
    size_t size;          /* set by the caller: sizeof(pw_domain_info) */
    const char *name;     /* "package-0", "gpu-0" */
    const char *kind;     /* "cpu", "gpu", "ane", "dram", "soc", "system", "other" */
    const char *source;   /* backend that read it */
    int parent;           /* index of the domain that contains it, or -1 */
    int estimated;        /* 1 when modelled rather than measured */
    size_t samples;       /* readings of it in the trace */
} pw_domain_info;

PW_API size_t pw_trace_domain_count(const pw_trace *trace);
PW_API int pw_trace_domain(const pw_trace *trace, size_t index, pw_domain_info *out);
/* The i-th reading of a domain: monotonic time (ns) and cumulative energy (µJ). */
PW_API int pw_trace_sample(const pw_trace *trace, size_t domain, size_t i, uint64_t *t_ns,
                    uint64_t *energy_uj);
PW_API const char *pw_trace_meta(const pw_trace *trace, const char *key);  /* NULL if absent */

typedef struct pw_trace_health {
    size_t size;             /* set by the caller: sizeof(pw_trace_health) */
    int complete;            /* 1 when the writer closed the file normally */
    int torn;                /* 1 when the file ends inside a chunk */
    size_t corrupt_chunks;   /* chunks skipped for a bad checksum */
    size_t unknown_chunks;   /* chunks of kinds this reader does not know, skipped */
    uint64_t lost_events;    /* events the recorder could not keep */
    uint64_t deep_phases;    /* phases nested deeper than PW_MAX_DEPTH: dropped with their ENDs */
    uint64_t backward_events; /* events stamped before the one before them on their track */
    uint64_t bad_names;      /* names repaired on reading (invalid UTF-8, '/', too long) */
} pw_trace_health;
PW_API int pw_trace_get_health(const pw_trace *trace, pw_trace_health *out);
/* Threads (phase ids) that tagged phases in the trace. */
PW_API size_t pw_trace_track_count(const pw_trace *trace);

/* ---- Scenarios (docs/scenario.md): a workload of phases and powers in a few lines of text,
 * to try a setup without a model (and the synthetic source's power model). Real functions
 * under PHASEWATT_DISABLE too; phasewatt-analysis.h plays them (pw_scenario_run,
 * pw_simulate). */
typedef struct pw_scenario pw_scenario;
/* On a bad scenario PW_ERR_FORMAT and "line N: reason" in err. */
PW_API int pw_scenario_parse(const char *text, pw_scenario **out, char *err, size_t errlen);
PW_API int pw_scenario_load(const char *path, pw_scenario **out, char *err, size_t errlen);
PW_API void pw_scenario_free(pw_scenario *s);
PW_API const char *pw_scenario_builtin(void);   /* the built-in inference-shaped workload */

/* ---- Editing traces: what `phasewatt merge` and `recover` do. A trace being changed is not
 * read by another thread meanwhile. */

/* Writes the whole trace as a complete file (END chunk included), on a private name beside
 * path renamed into place once every byte is there; PW_ERR_IO with errno set on failure. */
PW_API int pw_trace_write(const pw_trace *trace, const char *path);

/* One trace from the traces of several hosts (GPUs, ranks), in[0..n), 2 <= n <=
 * PW_MERGE_MAX_INPUTS, aligned on wall clock; each input's sources, domains and tracks kept
 * apart as "LABEL/name", so attribution keeps each host's energy to its own phases
 * (docs/trace-format.md, "Merged traces"). labels[i]: input i's, non-empty and unique;
 * files[i] (files may be NULL) is recorded as merge.I.file. *out is closed with
 * pw_trace_close; on failure a PW_ERR_* code and a one-line reason in why. */
#define PW_MERGE_MAX_INPUTS 1024
PW_API int pw_trace_merge(const pw_trace *const *in, size_t n, const char *const *labels,
                          const char *const *files, pw_trace **out, char *why, size_t whylen);

/* Makes a torn or damaged trace whole, as read: every phase still open is ended at the
 * trace's last timestamp, and recovered.* metadata (from, torn, corrupt_chunks,
 * closed_phases) says what was done; pw_trace_write then makes it a clean file. */
typedef struct pw_recovery {
    size_t size;               /* set by the caller: sizeof(pw_recovery) */
    uint64_t closed_phases;    /* phases ended at the trace's last timestamp */
    size_t samples, events;    /* what the trace holds */
    double duration_s;         /* from its first timestamp to its last */
} pw_recovery;
PW_API int pw_trace_recover(pw_trace *trace, const char *from, pw_recovery *out);

#ifdef __cplusplus
}
#endif
#endif
