/* source.h — the contract every power backend implements (probe/read/close), and the
 * registry that finds them. Adding a backend = one file + one line in registry.c. */
#ifndef PW_SOURCE_H
#define PW_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "trace/sink.h"
#include "trace/trace.h"

#define PW_SOURCE_MAX_DOMAINS 64
#define PW_DOMAIN_NAME_MAX 64
#define PW_WHY_MAX 512

/* Where backends look: every path is configurable so tests drive the real parsing code
 * against fake trees, libraries and commands (environment: docs/sources.md). */
typedef struct pw_source_config {
    const char *sysfs_root;     /* PHASEWATT_SYSFS_ROOT, default "" (= "/"): prefixed to
                                   "/sys/class/powercap/...", "/sys/class/hwmon/..." */
    const char *proc_root;      /* PHASEWATT_PROC_ROOT, default "/proc" */
    const char *dev_root;       /* PHASEWATT_DEV_ROOT, default "/dev" (cpu/N/msr) */
    const char *nvml_library;   /* PHASEWATT_NVML_LIBRARY, default "libnvidia-ml.so.1" */
    const char *powermetrics;   /* PHASEWATT_POWERMETRICS, default "powermetrics" (PATH) */
    const char *ioreport_library;       /* PHASEWATT_IOREPORT_LIBRARY, default
                                           /usr/lib/libIOReport.dylib */
    const char *corefoundation_library; /* PHASEWATT_COREFOUNDATION_LIBRARY, default the
                                           CoreFoundation framework */
    const char *synthetic;      /* the synthetic source's spec (pw_options.synthetic) */
    const char *estimate;       /* PHASEWATT_ESTIMATE: "idle_w=…,active_w=…" per core */
    const char *agent_socket;   /* PHASEWATT_AGENT_SOCKET, default /run/phasewatt/agent.sock */
    uint64_t interval_ns;       /* the sampler's period */
    uint32_t probe_limit_ms;    /* PHASEWATT_PROBE_LIMIT_MS, default 5000: how long a driver's
                                   probe may take (calls_driver) */
} pw_source_config;

void pw_source_config_from_env(pw_source_config *cfg);

typedef struct pw_domain_spec {
    char name[PW_DOMAIN_NAME_MAX];
    pw_kind kind;
    int32_t parent;             /* index among this source's domains, or -1 */
    uint32_t flags;             /* PW_DOMAIN_ESTIMATED */
} pw_domain_spec;

typedef struct pw_source_info {
    size_t ndomains;
    pw_domain_spec domains[PW_SOURCE_MAX_DOMAINS];
    uint64_t period_ns;         /* sensor update period if known, else 0 */
    int current_at_read;        /* 1: a model current when read (no update grid to lock) */
} pw_source_info;

/* Appends a domain to info; returns its index, or -1 when the table is full. */
static inline int pw_source_add_domain(pw_source_info *info, const char *name, pw_kind kind,
                                       int32_t parent)
{
    if (info->ndomains == PW_SOURCE_MAX_DOMAINS) return -1;
    pw_domain_spec *d = &info->domains[info->ndomains];
    size_t n = strlen(name);
    if (n >= sizeof d->name) n = sizeof d->name - 1;
    memcpy(d->name, name, n);
    d->name[n] = '\0';
    d->kind = kind;
    d->parent = parent;
    d->flags = 0;
    return (int)info->ndomains++;
}

typedef struct pw_source_ops {
    const char *name;           /* "rapl", "estimate" */
    const char *summary;        /* one line for `phasewatt sources` */
    int measured;               /* 0: a model (estimate) or a simulation (synthetic) */
    int simulated;              /* 1: a simulation, whose figures are labelled simulated */
    int auto_probe;             /* 1: tried when no source is named */
    const char *group;          /* backends reading the same rails ("rapl" via powercap,
                                   perf or MSR): auto takes the first usable one only */
    int calls_driver;           /* 1: its probe calls a vendor library that may never return
                                   (NVML): probed under a time limit */
    /* Finds the domains. On failure returns an error and writes a one-line reason with
     * the fix to why ("permission denied on …/energy_uj: run as root or …"). */
    int (*probe)(const pw_source_config *cfg, void **state, pw_source_info *info, char *why,
                 size_t whylen);
    /* Cumulative µJ per domain, wraparound undone. *t_ns arrives as the time just before
     * the read; a source that knows its reading's own time may replace it. An error
     * means a gap: the sampler records it and goes on. */
    int (*read)(void *state, uint64_t *t_ns, uint64_t *energy_uj);
    /* Optional: narrows [*t0, *t1], the time around the last read call, to when the sensor
     * itself was read (the agent: its own read, not the socket's round trip). */
    void (*bracket)(void *state, uint64_t *t0_ns, uint64_t *t1_ns);
    /* Optional: writes metadata (device names, limits) at the start, into the session's
     * sink (trace/sink.h: the trace, and serve's live view beside it). */
    void (*describe)(void *state, const pw_sink *out);
    /* Optional: sees every phase event before the reads of the same tick (synthetic). */
    void (*observe)(void *state, uint32_t track, const pw_event *ev);
    /* Optional: writes ground truth and metadata when the session ends. */
    void (*finish)(void *state, const pw_sink *out, uint64_t end_ns);
    void (*close)(void *state);
} pw_source_ops;

extern const pw_source_ops pw_source_rapl;        /* rapl_powercap.c */
extern const pw_source_ops pw_source_rapl_perf;   /* rapl_perf.c */
extern const pw_source_ops pw_source_rapl_msr;    /* rapl_msr.c */
extern const pw_source_ops pw_source_hwmon;       /* hwmon.c */
extern const pw_source_ops pw_source_nvml;        /* nvml.c */
extern const pw_source_ops pw_source_ioreport;    /* ioreport.c */
extern const pw_source_ops pw_source_powermetrics; /* powermetrics.c */
extern const pw_source_ops pw_source_synthetic;   /* sim/synthetic.c */
extern const pw_source_ops pw_source_estimate;    /* estimate.c */
extern const pw_source_ops pw_source_agent;       /* agent.c */

/* Probes ops with a zeroed info: a backend sets only the fields it knows (an unset
 * current_at_read read off the stack made the agent tell every recorder its RAPL counter
 * was a model current when read). A backend that calls_driver is probed on a thread of its
 * own for at most cfg->probe_limit_ms: a driver that never answers leaves it out with a
 * reason (probe.c), not the program hung. */
int pw_source_probe(const pw_source_ops *ops, const pw_source_config *cfg, void **state,
                    pw_source_info *info, char *why, size_t whylen);

size_t pw_source_count(void);
const pw_source_ops *pw_source_at(size_t i);
const pw_source_ops *pw_source_find(const char *name);

#endif
