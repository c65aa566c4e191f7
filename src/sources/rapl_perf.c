/* rapl_perf.c — RAPL energy counters read through the Linux perf "power" PMU
 * (/sys/bus/event_source/devices/power): one counter per event and package. */
#include "sources/rapl_perf.h"
#include "sources/rapl_planes.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "platform/platform.h"
#include "sources/counter.h"
#include "sources/source.h"
#include "sources/sysfs.h"

#define PMU_DIR "/sys/bus/event_source/devices/power"
#define CPU_DIR "/sys/devices/system/cpu"
#define PARANOID "/sys/kernel/perf_event_paranoid"
#define RAPL_PERIOD_NS 976563u           /* the hardware refreshes its counters every 2^-10 s */
#define PATH_ROOM 64                     /* longest name the probe appends to the PMU path */
#define TAG_MAX 24                       /* a package's part of a domain name: "1", "0-die-1" */
#define MAX_CPUS PW_SOURCE_MAX_DOMAINS   /* each CPU of cpumask gives at least one domain */

/* ---- the kernel calls --------------------------------------------------------------------- */

/* Counting (no sampling) on one CPU for every process, as the RAPL PMU requires. */
static int real_open(uint32_t type, uint64_t config, int cpu)
{
    return pw_perf_event_open(type, config, cpu);
}

static int real_read(int fd, uint64_t *count)
{
    ssize_t n = read(fd, count, sizeof *count);
    if (n == (ssize_t)sizeof *count) return 0;
    if (n >= 0) errno = EIO;             /* a short read is not a count */
    return -1;
}

static const pw_perf_hooks real_hooks = {real_open, real_read};
static pw_perf_hooks hooks = {real_open, real_read};

void pw_rapl_perf_set_hooks(const pw_perf_hooks *h)
{
    hooks = h ? *h : real_hooks;
}

/* ---- what the PMU offers ------------------------------------------------------------------ */

/* The kernel's RAPL events, one per plane (rapl_planes.h gives names and kinds). */
enum { EV_PSYS = PW_RAPL_PSYS, EV_PKG = PW_RAPL_PKG, EV_CORES = PW_RAPL_CORES,
       EV_GPU = PW_RAPL_UNCORE, EV_RAM = PW_RAPL_DRAM, NEVENTS = PW_RAPL_NPLANES };

static const struct event_def {
    const char *file;                    /* under events/ */
} events[NEVENTS] = {
    [EV_PSYS] = {"energy-psys"}, [EV_PKG] = {"energy-pkg"},   [EV_CORES] = {"energy-cores"},
    [EV_GPU] = {"energy-gpu"},   [EV_RAM] = {"energy-ram"},
};

/* Joules per count. The kernel shifts every unit to 2^-32 J, which converts exactly in
 * integers; any other scale goes through long double. Both convert the cumulative count,
 * rounded to the nearest µJ, so no error builds up however long the run. */
typedef struct energy_scale {
    int shift;                           /* scale = 2^-shift J with shift in 7..50; else -1 */
    long double uj_per_count;
    char text[48];                       /* as the kernel wrote it */
} energy_scale;

typedef struct event_info {
    int usable;
    uint64_t config;
    energy_scale scale;
} event_info;

typedef struct perf_domain {
    int fd;
    int cpu;
    int event;
    pw_counter counter;                  /* in counts; 64 bits do not wrap (4.3 GJ) */
    char name[PW_DOMAIN_NAME_MAX];
} perf_domain;

typedef struct rapl_perf {
    pw_perf_hooks hooks;                 /* the ones it was probed with */
    uint32_t type;
    event_info ev[NEVENTS];
    size_t n;
    perf_domain d[PW_SOURCE_MAX_DOMAINS];
    char skipped[PW_WHY_MAX];            /* events left out at probe, and why */
    int skip_rc;                         /* the error that left out the first one */
} rapl_perf;

typedef struct package {
    int cpu;                             /* the CPU of cpumask that counts it */
    unsigned id;                         /* physical_package_id, or position in cpumask */
    char tag[TAG_MAX];
} package;

typedef struct scan {                    /* what one probe works with */
    const pw_source_config *cfg;
    char pmu[PW_SYSFS_PATH_MAX];         /* <sysfs_root>/sys/bus/event_source/devices/power */
    char events_dir[PW_SYSFS_PATH_MAX];  /* its events/ */
    size_t npk;
    package pk[MAX_CPUS];
    char *why;
    size_t whylen;
} scan;

/* ---- conversions -------------------------------------------------------------------------- */

static uint64_t counts_to_uj(const energy_scale *s, uint64_t counts)
{
    if (s->shift >= 0) {                 /* counts × 10^6 / 2^k, with 10^6 = 2^6 × 15625 */
        int k = s->shift;
        uint64_t whole = counts >> k, part = counts & ((UINT64_C(1) << k) - 1);
        /* cppcheck-suppress shiftNegative ; parse_scale sets shift only within [7, 50] */
        return whole * 1000000u + ((part * 15625u + (UINT64_C(1) << (k - 7))) >> (k - 6));
    }
    long double uj = roundl((long double)counts * s->uj_per_count);
    return uj < 0x1p64L ? (uint64_t)uj : UINT64_MAX;
}

/* A positive number of joules per count, at most 1. */
static int parse_scale(const char *text, energy_scale *s)
{
    char *end;
    int e;
    errno = 0;
    long double v = strtold(text, &end);
    if (end == text || *end || errno || !isfinite(v) || v <= 0 || v > 1) return PW_ERR_FORMAT;
    long double m = frexpl(v, &e);       /* v = m × 2^e, 0.5 <= m < 1 */
    /* cppcheck-suppress knownConditionTrueFalse ; e goes down to about -16445 for tiny v */
    s->shift = m == 0.5L && 1 - e >= 7 && 1 - e <= 50 ? 1 - e : -1;
    s->uj_per_count = v * 1e6L;
    snprintf(s->text, sizeof s->text, "%.47s", text);
    return PW_OK;
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "event=0x02" as the kernel writes it (a decimal value is taken too). */
static int parse_event(const char *text, uint64_t *config)
{
    const char *p = text + 6;
    unsigned base = 10;
    uint64_t v = 0;
    if (strncmp(text, "event=", 6)) return PW_ERR_FORMAT;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
    const char *digits = p;
    for (int d; (d = digit_value(*p)) >= 0 && (unsigned)d < base; p++) {
        if (v > (UINT64_MAX - (unsigned)d) / base) return PW_ERR_FORMAT;
        v = v * base + (unsigned)d;
    }
    if (p == digits || *p) return PW_ERR_FORMAT;
    *config = v;
    return PW_OK;
}

static int check_event(const char *text, event_info *e) { return parse_event(text, &e->config); }
static int check_scale(const char *text, event_info *e) { return parse_scale(text, &e->scale); }
static int check_unit(const char *text, event_info *e)
{
    (void)e;
    return strcmp(text, "Joules") ? PW_ERR_FORMAT : PW_OK;
}

/* The three files of an event, and what each must hold. */
static const struct event_part {
    const char *suffix;
    int (*check)(const char *text, event_info *e);
    const char *want;
} parts[] = {
    {"", check_event, "want event=0xNN"},
    {".scale", check_scale, "want joules per count, such as 2.3283064365386962890625e-10"},
    {".unit", check_unit, "want Joules"},
};

/* "0", "0,8", "0-1", "0-3,8-11", ascending: the CPUs that count each package (or die). */
static int parse_cpumask(const char *text, package *pk, size_t *n)
{
    const char *p = text;
    long last = -1;
    *n = 0;
    for (;;) {
        unsigned a, b;
        if (!pw_sysfs_digits(&p, 7, &a) || (long)a <= last) return PW_ERR_FORMAT;
        b = a;
        if (*p == '-' && (p++, !pw_sysfs_digits(&p, 7, &b) || b < a)) return PW_ERR_FORMAT;
        for (unsigned c = a; c <= b; c++) {
            if (*n == MAX_CPUS) return PW_ERR_LIMIT;
            pk[(*n)++].cpu = (int)c;
        }
        last = (long)b;
        if (*p != ',') break;
        p++;
    }
    return *p ? PW_ERR_FORMAT : PW_OK;
}

/* ---- the scan ----------------------------------------------------------------------------- */

/* dir/name. The probe checked at its start that every path it builds fits; were one not
 * to, the empty path would fail to read like a missing file. */
static void join(char *out, const char *dir, const char *name)
{
    if (pw_sysfs_child(out, PW_SYSFS_PATH_MAX, dir, name) != PW_OK) out[0] = '\0';
}

/* Notes why something was left out; the probe goes on without it. */
static int leave_out(rapl_perf *r, const char *reason, int rc)
{
    pw_sysfs_note(r->skipped, sizeof r->skipped, reason);
    if (!r->skip_rc) r->skip_rc = rc;
    return PW_OK;
}

static int read_type(rapl_perf *r, scan *s)
{
    char path[PW_SYSFS_PATH_MAX];
    uint64_t type = 0;
    int err;
    join(path, s->pmu, "type");
    int rc = pw_sysfs_read_u64_at(path, &type, &err);
    if (rc == PW_OK && type > UINT32_MAX) rc = pw_sysfs_error(err = PW_SYSFS_BAD_VALUE);
    if (rc == PW_ERR_NOT_FOUND && access(s->pmu, F_OK) != 0)
        snprintf(s->why, s->whylen, "no RAPL perf PMU (%s not found): kernel lacks "
                 "CONFIG_PERF_EVENTS_INTEL_RAPL or not x86", s->pmu);
    else if (rc != PW_OK)
        pw_sysfs_reason(s->why, s->whylen, path, err);
    r->type = (uint32_t)type;
    return rc;
}

/* Reads events/<event>, its .scale and its .unit. An event the PMU does not list is not
 * offered here; a listed one that cannot be used is left out with a note (permission
 * denied is fatal: it applies to all, with one fix). */
static int read_event(rapl_perf *r, scan *s, int ev)
{
    char path[PW_SYSFS_PATH_MAX], file[64], text[PW_SYSFS_TEXT_MAX + 1];
    char reason[PW_SYSFS_PATH_MAX + 128];
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        int err;
        snprintf(file, sizeof file, "%s%s", events[ev].file, parts[i].suffix);
        join(path, s->events_dir, file);
        int rc = pw_sysfs_read_text_at(path, text, sizeof text, &err);
        if (i == 0 && rc == PW_ERR_NOT_FOUND && err == ENOENT) return PW_OK;
        if (rc == PW_ERR_PERMISSION) {
            pw_sysfs_reason(s->why, s->whylen, path, err);
            return rc;
        }
        if (rc != PW_OK) {
            pw_sysfs_reason(reason, sizeof reason, path, err);
            return leave_out(r, reason, rc);
        }
        if (parts[i].check(text, &r->ev[ev]) != PW_OK) {
            snprintf(reason, sizeof reason, "%s: malformed \"%.40s\" (%s)", path, text,
                     parts[i].want);
            return leave_out(r, reason, PW_ERR_FORMAT);
        }
    }
    r->ev[ev].usable = 1;
    return PW_OK;
}

/* Nothing left to count: the notes if something was left out, else the PMU is empty. */
static int nothing_usable(const rapl_perf *r, scan *s)
{
    if (r->skipped[0]) {
        snprintf(s->why, s->whylen, "no usable RAPL perf event under %s: %s", s->pmu,
                 r->skipped);
        return r->skip_rc;
    }
    snprintf(s->why, s->whylen, "no RAPL energy events under %s (energy-pkg, energy-cores, "
             "energy-ram, energy-gpu, energy-psys)", s->events_dir);
    return PW_ERR_NOT_FOUND;
}

/* <cpu>/topology/<file> as a small number, or -1 when unreadable. */
static long topology(const scan *s, int cpu, const char *file)
{
    char path[PW_SYSFS_PATH_MAX], rel[128];
    uint64_t v;
    int err;
    snprintf(rel, sizeof rel, CPU_DIR "/cpu%d/topology/%s", cpu, file);
    if (pw_sysfs_path(path, sizeof path, s->cfg->sysfs_root, rel) != PW_OK ||
        pw_sysfs_read_u64_at(path, &v, &err) != PW_OK || v > 65535)
        return -1;
    return (long)v;
}

/* Whether the entries of package id all have readable, distinct die ids. */
static int dies_distinct(const scan *s, const long *die, unsigned id)
{
    for (size_t j = 0; j < s->npk; j++) {
        if (s->pk[j].id != id) continue;
        if (die[j] < 0) return 0;
        for (size_t k = j + 1; k < s->npk; k++)
            if (s->pk[k].id == id && die[k] == die[j]) return 0;
    }
    return 1;
}

/* Packages go by physical_package_id (by position in cpumask if one is unreadable). A
 * package listed more than once is counted per die, named like powercap's: "0-die-1". */
static void name_packages(scan *s)
{
    long id[MAX_CPUS], die[MAX_CPUS];
    int by_position = 0;
    for (size_t i = 0; i < s->npk; i++) {
        id[i] = topology(s, s->pk[i].cpu, "physical_package_id");
        die[i] = topology(s, s->pk[i].cpu, "die_id");
        by_position |= id[i] < 0;
    }
    for (size_t i = 0; i < s->npk; i++) s->pk[i].id = by_position ? (unsigned)i : (unsigned)id[i];
    for (size_t i = 0; i < s->npk; i++) {
        package *p = &s->pk[i];
        long same = 0, ordinal = 0;
        for (size_t j = 0; j < s->npk; j++) {
            same += s->pk[j].id == p->id;
            ordinal += j < i && s->pk[j].id == p->id;
        }
        if (same == 1) snprintf(p->tag, sizeof p->tag, "%u", p->id);
        else snprintf(p->tag, sizeof p->tag, "%u-die-%ld", p->id,
                      dies_distinct(s, die, p->id) ? die[i] : ordinal);
    }
}

static int read_packages(scan *s)
{
    char path[PW_SYSFS_PATH_MAX], text[PW_SYSFS_TEXT_MAX + 1];
    int err;
    join(path, s->pmu, "cpumask");
    int rc = pw_sysfs_read_text_at(path, text, sizeof text, &err);
    if (rc != PW_OK) {
        pw_sysfs_reason(s->why, s->whylen, path, err);
        return rc;
    }
    rc = parse_cpumask(text, s->pk, &s->npk);
    if (rc == PW_ERR_FORMAT)
        snprintf(s->why, s->whylen, "%s: malformed \"%.40s\" (want ascending CPU numbers "
                 "such as 0,8 or 0-1)", path, text);
    else if (rc == PW_ERR_LIMIT)
        snprintf(s->why, s->whylen, "%s: more than %d CPUs (RAPL wants one per package)",
                 path, MAX_CPUS);
    else
        name_packages(s);
    return rc;
}

/* ---- counters ------------------------------------------------------------------------------ */

static void paranoid_reason(const scan *s, const package *p, int ev)
{
    char path[PW_SYSFS_PATH_MAX] = PARANOID, level[PW_SYSFS_TEXT_MAX + 1];
    const char *proc = s->cfg->proc_root ? s->cfg->proc_root : "/proc";
    int err;
    if (pw_sysfs_path(path, sizeof path, proc, PARANOID) != PW_OK ||
        pw_sysfs_read_text_at(path, level, sizeof level, &err) != PW_OK)
        snprintf(level, sizeof level, "unknown");
    snprintf(s->why, s->whylen, "permission denied opening perf event %s on CPU %d: "
             "perf_event_paranoid is %.20s (%s): run as root, grant CAP_PERFMON, or sysctl "
             "kernel.perf_event_paranoid=0; without root, one command: sudo setcap "
             "cap_perfmon+ep PROGRAM (the recording program; Linux 5.8+) or sudo sysctl -w "
             "kernel.perf_event_paranoid=0 (every user); it exposes package, core, uncore, DRAM "
             "and psys energy (in a container, seccomp must also allow perf_event_open)",
             events[ev].file, p->cpu, level, path);
}

/* Permission is fatal (every counter needs it); an event the CPU lacks is left out. */
static int open_failed(rapl_perf *r, const scan *s, const package *p, int ev, int err)
{
    char reason[PW_WHY_MAX];
    if (err == EACCES || err == EPERM) {
        paranoid_reason(s, p, ev);
        return PW_ERR_PERMISSION;
    }
    if (err == ENOENT || err == EINVAL || err == EOPNOTSUPP) {
        snprintf(reason, sizeof reason, "%s on CPU %d left out: the CPU lacks it "
                 "(perf_event_open: %s)", events[ev].file, p->cpu, strerror(err));
        return leave_out(r, reason, PW_ERR_NOT_FOUND);
    }
    snprintf(s->why, s->whylen, "cannot open perf event %s (PMU type %u, config 0x%llx) on "
             "CPU %d: %s", events[ev].file, r->type, (unsigned long long)r->ev[ev].config,
             p->cpu, strerror(err));
    int rc = pw_sysfs_error(err);
    return rc == PW_OK ? PW_ERR_IO : rc;
}

/* Opens the event's counter on the package's CPU and reads it once; a counter that does
 * not read is left out. */
static int add_domain(rapl_perf *r, scan *s, pw_source_info *info, const package *p, int ev,
                      int32_t parent)
{
    char name[PW_DOMAIN_NAME_MAX];
    char reason[PW_WHY_MAX];
    uint64_t count;
    if (info->ndomains == PW_SOURCE_MAX_DOMAINS) {
        snprintf(s->why, s->whylen, "more than %d RAPL perf domains under %s",
                 PW_SOURCE_MAX_DOMAINS, s->pmu);
        return PW_ERR_LIMIT;
    }
    int fd = r->hooks.open(r->type, r->ev[ev].config, p->cpu);
    if (fd < 0) return open_failed(r, s, p, ev, errno);
    if (r->hooks.read(fd, &count) != 0) {
        snprintf(reason, sizeof reason, "%s on CPU %d left out: cannot read its counter (%s)",
                 events[ev].file, p->cpu, strerror(errno));
        close(fd);
        return leave_out(r, reason, PW_ERR_IO);
    }
    pw_rapl_domain_name((pw_rapl_plane)ev, p->tag, name, sizeof name);
    int k = pw_source_add_domain(info, name, pw_rapl_plane_kind((pw_rapl_plane)ev), parent);
    perf_domain *d = &r->d[k];   /* the table had room: checked above */
    d->fd = fd;
    d->cpu = p->cpu;
    d->event = ev;
    pw_counter_init(&d->counter, 0);
    snprintf(d->name, sizeof d->name, "%s", name);
    r->n = info->ndomains;
    return PW_OK;
}

typedef struct walk {
    rapl_perf *r;
    scan *s;
} walk;

static int add_plane(void *ctx, pw_source_info *info, size_t pkg_index, pw_rapl_plane plane,
                     int32_t parent)
{
    walk *w = ctx;
    return add_domain(w->r, w->s, info, &w->s->pk[pkg_index], (int)plane, parent);
}

static int add_domains(rapl_perf *r, scan *s, pw_source_info *info)
{
    int usable[NEVENTS];
    for (int ev = 0; ev < NEVENTS; ev++) usable[ev] = r->ev[ev].usable;
    walk w = {r, s};
    return pw_rapl_add_planes(info, s->npk, usable, add_plane, &w);
}

static int scan_pmu(rapl_perf *r, scan *s, pw_source_info *info)
{
    int rc = read_type(r, s), any = 0;
    for (int ev = 0; ev < NEVENTS && rc == PW_OK; ev++) {
        rc = read_event(r, s, ev);
        any |= r->ev[ev].usable;
    }
    if (rc == PW_OK && !any) rc = nothing_usable(r, s);
    if (rc == PW_OK) rc = read_packages(s);
    if (rc == PW_OK) rc = add_domains(r, s, info);
    if (rc == PW_OK && info->ndomains == 0) rc = nothing_usable(r, s);
    return rc;
}

/* ---- the ops ------------------------------------------------------------------------------ */

static void perf_close(void *state)
{
    rapl_perf *r = state;
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) close(r->d[i].fd);
    free(r);
}

static int perf_probe(const pw_source_config *cfg, void **state, pw_source_info *info,
                      char *why, size_t whylen)
{
    scan s = {.cfg = cfg, .why = why, .whylen = whylen};
    if (pw_sysfs_path(s.pmu, sizeof s.pmu, cfg->sysfs_root, PMU_DIR) != PW_OK ||
        strlen(s.pmu) + PATH_ROOM >= sizeof s.pmu) {
        snprintf(why, whylen, "PHASEWATT_SYSFS_ROOT is too long");
        return PW_ERR_LIMIT;
    }
    join(s.events_dir, s.pmu, "events");
    rapl_perf *r = calloc(1, sizeof *r);
    if (!r) return PW_ERR_NOMEM;
    r->hooks = hooks;
    info->ndomains = 0;
    int rc = scan_pmu(r, &s, info);
    if (rc != PW_OK) {
        perf_close(r);
        info->ndomains = 0;
        return rc;
    }
    info->period_ns = RAPL_PERIOD_NS;
    *state = r;
    return PW_OK;
}

/* Every counter is read even after one fails; a failed one keeps its state, so its next
 * good reading continues the cumulative count (the kernel kept counting meanwhile). */
static int perf_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    rapl_perf *r = state;
    int rc = PW_OK;
    (void)t_ns;                          /* perf gives no time of its own for these */
    for (size_t i = 0; i < r->n; i++) {
        perf_domain *d = &r->d[i];
        uint64_t count = 0;
        if (r->hooks.read(d->fd, &count) != 0) {
            int e = pw_sysfs_error(errno);
            if (rc == PW_OK) rc = e == PW_OK ? PW_ERR_IO : e;
            continue;
        }
        energy_uj[i] = counts_to_uj(&r->ev[d->event].scale, pw_counter_update(&d->counter, count));
    }
    return rc;
}

static void perf_describe(void *state, const pw_sink *out)
{
    const rapl_perf *r = state;
    char key[PW_DOMAIN_NAME_MAX + 16], value[160];
    for (size_t i = 0; i < r->n; i++) {
        const perf_domain *d = &r->d[i];
        const event_info *e = &r->ev[d->event];
        snprintf(key, sizeof key, "rapl-perf.%s", d->name);
        snprintf(value, sizeof value, "%s cpu=%d type=%u config=0x%llx scale=%s J",
                 events[d->event].file, d->cpu, r->type, (unsigned long long)e->config,
                 e->scale.text);
        pw_sink_meta(out, key, value);
    }
    if (r->skipped[0]) pw_sink_meta(out, "rapl-perf.skipped", r->skipped);
}

const pw_source_ops pw_source_rapl_perf = {
    .name = "rapl-perf",
    .summary = "RAPL energy counters via the perf power PMU: CPU packages, cores, uncore, "
               "DRAM, psys",
    .measured = 1,
    .auto_probe = 1,
    .group = "rapl",
    .probe = perf_probe,
    .read = perf_read,
    .describe = perf_describe,
    .close = perf_close,
};
