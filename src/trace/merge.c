/* merge.c — builds one trace out of several hosts' traces (aligned on wall clock, each host's
 * sources and tracks kept apart under its label) and reads back the host groups it records.
 *
 * Why the hosts stay apart: attribution gives a source's energy to the phases open on the
 * tracks of the same group only (src/analysis/groups.c), so host A's joules never land on
 * host B's phases, and every per-phase figure of the merged trace is the sum of the hosts'. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace.h"
#include "trace/merge.h"

/* The state of one merge. Owns slots and idmap; m is handed to the caller on success. */
typedef struct merger {
    pw_trace *m;
    const pw_trace *const *in;
    size_t n;
    const char *const *labels;
    int64_t *shift;          /* [n] ns added to every time of input i */
    uint32_t **idmap;        /* [n][nnames of input i]: old name id -> merged id, 0 unknown */
    uint32_t *slots;         /* open addressing over merged name ids (id, 0 = empty) */
    size_t nslots;
    uint32_t next_id;        /* the next free merged name id */
    char *why;
    size_t whylen;
} merger;

static int fail(merger *g, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(merger *g, int rc, const char *fmt, ...)
{
    if (g->why && g->whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g->why, g->whylen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- one name table ------------------------------------------------------------------- */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 14695981039346656037ull;   /* FNV-1a */
    while (*s) h = (h ^ (uint8_t)*s++) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint32_t *name_slot(const merger *g, const char *name)
{
    size_t mask = g->nslots - 1, i = hash_name(name) & mask;
    while (g->slots[i] && strcmp(g->m->names[g->slots[i]], name) != 0) i = (i + 1) & mask;
    return &g->slots[i];
}

/* Keeps the table at most half full. */
static int grow_slots(merger *g)
{
    size_t n = g->nslots ? g->nslots * 2 : 256;
    uint32_t *old = g->slots;
    g->slots = calloc(n, sizeof *g->slots);
    if (!g->slots) {
        g->slots = old;
        return PW_ERR_NOMEM;
    }
    g->nslots = n;
    for (uint32_t id = 1; id < g->next_id; id++) *name_slot(g, g->m->names[id]) = id;
    free(old);
    return PW_OK;
}

/* The merged id of name: the same name gets the same id whichever host it comes from. */
static int intern(merger *g, const char *name, uint32_t *id)
{
    if (2 * ((size_t)g->next_id + 1) > g->nslots && grow_slots(g) != PW_OK) return PW_ERR_NOMEM;
    uint32_t *slot = name_slot(g, name);
    if (*slot) {
        *id = *slot;
        return PW_OK;
    }
    if (g->next_id >= PW_TRACE_MAX_NAMES)
        return fail(g, PW_ERR_LIMIT, "more than %u distinct names", PW_TRACE_MAX_NAMES - 1);
    int rc = pw_trace_set_name(g->m, g->next_id, name);
    if (rc != PW_OK) return rc;
    *slot = *id = g->next_id++;
    return PW_OK;
}

/* Maps input i's name id. An id the input never named becomes the name "#ID" (how reports
 * show it), so it stays recognisable and the same raw id still merges across hosts. */
static int map_id(merger *g, size_t i, uint32_t old, uint32_t *id)
{
    const pw_trace *t = g->in[i];
    if (old < t->nnames && g->idmap[i][old]) {
        *id = g->idmap[i][old];
        return PW_OK;
    }
    char unknown[24];
    const char *name = pw_trace_name(t, old);
    if (!name) {
        snprintf(unknown, sizeof unknown, "#%" PRIu32, old);
        name = unknown;
    }
    int rc = intern(g, name, id);
    if (rc == PW_OK && old < t->nnames) g->idmap[i][old] = *id;
    return rc;
}

/* ---- one timeline ----------------------------------------------------------------------- */

/* The earliest and latest time anywhere in t: header, samples and events (events need not
 * be sorted). */
static void time_range(const pw_trace *t, uint64_t *lo, uint64_t *hi)
{
    *lo = t->start_ns;
    *hi = t->end_ns > t->start_ns ? t->end_ns : t->start_ns;
    for (size_t s = 0; s < t->nsources; s++) {
        const pw_series *se = &t->series[s];
        if (!se->n) continue;
        if (se->t_ns[0] < *lo) *lo = se->t_ns[0];
        if (se->t_ns[se->n - 1] > *hi) *hi = se->t_ns[se->n - 1];
    }
    for (size_t k = 0; k < t->ntracks; k++)
        for (size_t e = 0; e < t->tracks[k].n; e++) {
            uint64_t v = t->tracks[k].events[e].t_ns;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
        }
}

/* Chooses the common offset R and each input's shift. R is input 0's offset, so input 0's
 * times stay as they were; it is lowered only if some input's earliest time would map below
 * 0 (a run recorded before input 0's host booted). Every shifted time must fit 64 bits. */
static int plan_shifts(merger *g)
{
    size_t n = g->n;
    uint64_t *lo = malloc(2 * n * sizeof *lo), *hi = lo ? lo + n : NULL;
    if (!lo) return PW_ERR_NOMEM;
    int64_t r = g->in[0]->realtime_offset_ns;
    int rc = PW_OK;
    for (size_t i = 0; i < n && rc == PW_OK; i++) {
        time_range(g->in[i], &lo[i], &hi[i]);
        int64_t wall;
        if (lo[i] > INT64_MAX ||
            __builtin_add_overflow(g->in[i]->realtime_offset_ns, (int64_t)lo[i], &wall))
            rc = fail(g, PW_ERR_FORMAT, "input %zu: its times and clock offset overflow", i + 1);
        else if (wall < r)
            r = wall;
    }
    for (size_t i = 0; i < n && rc == PW_OK; i++) {
        int64_t s;
        if (__builtin_sub_overflow(g->in[i]->realtime_offset_ns, r, &s) ||
            (s >= 0 && hi[i] > UINT64_MAX - (uint64_t)s) ||
            /* cppcheck-suppress knownConditionTrueFalse ; for s < 0 the right side is -s > 0 */
            (s < 0 && lo[i] < (uint64_t)0 - (uint64_t)s))
            rc = fail(g, PW_ERR_FORMAT, "input %zu: clock offsets too far apart to align", i + 1);
        else
            g->shift[i] = s;
    }
    if (rc == PW_OK) g->m->realtime_offset_ns = r;
    free(lo);
    return rc;
}

/* Checked by plan_shifts: the sum fits, so unsigned wraparound gives it exactly. */
static uint64_t shifted(const merger *g, size_t i, uint64_t t)
{
    return t + (uint64_t)g->shift[i];
}

/* ---- sources, domains, samples ---------------------------------------------------------- */

static int add_sources(merger *g, size_t i)
{
    const pw_trace *t = g->in[i];
    pw_trace *m = g->m;
    uint32_t src0 = (uint32_t)m->nsources;
    int32_t dom0 = (int32_t)m->ndomains;
    if (m->nsources + t->nsources >= UINT32_MAX || m->ndomains + t->ndomains >= INT32_MAX)
        return fail(g, PW_ERR_LIMIT, "too many sources or domains in all");
    int rc = PW_OK;
    for (size_t s = 0; s < t->nsources && rc == PW_OK; s++) {
        char *name = pw_path_join(g->labels[i], t->sources[s].name);
        rc = name ? pw_trace_add_source(m, name, t->sources[s].period_ns, t->sources[s].flags)
                  : PW_ERR_NOMEM;
        free(name);
    }
    for (size_t d = 0; d < t->ndomains && rc == PW_OK; d++) {
        const pw_domain_desc *dd = &t->domains[d];
        char *name = pw_path_join(g->labels[i], dd->name);
        rc = name ? pw_trace_add_domain(m, src0 + dd->source, name, dd->kind,
                                        dd->parent < 0 ? -1 : dom0 + dd->parent, dd->flags)
                  : PW_ERR_NOMEM;
        free(name);
    }
    for (size_t s = 0; s < t->nsources && rc == PW_OK; s++) {
        const pw_series *se = &t->series[s];
        for (size_t r = 0; r < se->n && rc == PW_OK; r++)
            rc = pw_trace_add_sample(m, src0 + (uint32_t)s, shifted(g, i, se->t_ns[r]),
                                     se->energy_uj + r * se->ndomains,
                                     se->flags ? se->flags[r] : 0);
    }
    return rc;
}

/* ---- tracks and events ------------------------------------------------------------------ */

/* "LABEL/NAME", or "LABEL/tid TID" for a track without a name. */
static char *track_name(const char *label, const pw_track *tr)
{
    char tid[32];
    snprintf(tid, sizeof tid, "tid %" PRIu32, tr->tid);
    return pw_path_join(label, tr->name ? tr->name : tid);
}

/* Tracks are renumbered 1, 2, ... in input order, so each input's ids form one range. */
static int add_tracks(merger *g, size_t i, uint32_t *next_track)
{
    const pw_trace *t = g->in[i];
    int rc = PW_OK;
    for (size_t k = 0; k < t->ntracks && rc == PW_OK; k++) {
        const pw_track *src = &t->tracks[k];
        if (*next_track == UINT32_MAX) return fail(g, PW_ERR_LIMIT, "too many tracks in all");
        uint32_t id = (*next_track)++;
        char *name = track_name(g->labels[i], src);
        pw_track *tr = name ? pw_trace_track(g->m, id) : NULL;
        if (!tr || pw_track_reserve(tr, src->n)) {
            free(name);
            return PW_ERR_NOMEM;
        }
        tr->pid = src->pid;
        tr->tid = src->tid;
        tr->name = name;
        tr->lost = src->lost;
        for (size_t e = 0; e < src->n && rc == PW_OK; e++) {
            pw_event ev = src->events[e];
            ev.t_ns = shifted(g, i, ev.t_ns);
            rc = map_id(g, i, ev.id, &ev.id);
            if (rc == PW_OK) rc = pw_trace_add_event(g->m, id, &ev);
        }
    }
    return rc;
}

/* ---- metadata and truth ------------------------------------------------------------------ */

/* For "sensor.SOURCE.WHAT", the index of input i's source it names, or -1. */
static long sensor_source(const pw_trace *t, const char *key)
{
    if (strncmp(key, "sensor.", 7) != 0) return -1;
    for (size_t s = 0; s < t->nsources; s++) {
        size_t n = strlen(t->sources[s].name);
        if (!strncmp(key + 7, t->sources[s].name, n) && key[7 + n] == '.') return (long)s;
    }
    return -1;
}

/* Per-source sensor keys follow their source's new name: "sensor.LABEL/SOURCE.WHAT". */
static int copy_sensor_meta(merger *g, size_t i)
{
    const pw_trace *t = g->in[i];
    int rc = PW_OK;
    for (size_t k = 0; k < t->nmeta && rc == PW_OK; k++) {
        long s = sensor_source(t, t->meta[k].key);
        if (s < 0) continue;
        char *key = pw_path_join(g->labels[i], t->meta[k].key + 7);   /* "LABEL/SOURCE.WHAT" */
        char *full = key ? malloc(strlen(key) + 8) : NULL;
        if (full) {
            memcpy(full, "sensor.", 7);
            strcpy(full + 7, key);
            rc = pw_trace_set_meta(g->m, full, t->meta[k].value);
        } else {
            rc = PW_ERR_NOMEM;
        }
        free(key);
        free(full);
    }
    return rc;
}

/* Input 0's keys, but not its per-source sensor keys (renamed with every input's) nor an
 * earlier merge's keys: merging a merged trace again flattens its groups into one. */
static int copy_base_meta(merger *g)
{
    const pw_trace *t = g->in[0];
    int rc = PW_OK;
    for (size_t k = 0; k < t->nmeta && rc == PW_OK; k++) {
        const char *key = t->meta[k].key;
        if (sensor_source(t, key) >= 0 || !strncmp(key, "merge.", 6)) continue;
        rc = pw_trace_set_meta(g->m, key, t->meta[k].value);
    }
    return rc;
}

static int set_meta_fmt(pw_trace *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int set_meta_fmt(pw_trace *m, const char *key, const char *fmt, ...)
{
    char value[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return pw_trace_set_meta(m, key, value);
}

/* An inclusive range "FIRST-LAST", or "" when count is 0. */
static int set_range(pw_trace *m, const char *key, uint64_t first, uint64_t count)
{
    if (!count) return pw_trace_set_meta(m, key, "");
    return set_meta_fmt(m, key, "%" PRIu64 "-%" PRIu64, first, first + count - 1);
}

/* merge.I.* for input i (I = i + 1, also its group number). */
static int input_meta(merger *g, size_t i, const char *file, uint32_t src0, uint32_t track0)
{
    const pw_trace *t = g->in[i];
    char key[64];
    int rc = PW_OK;
#define KEY(what) (snprintf(key, sizeof key, "merge.%zu." what, i + 1), key)
    if (file) rc = pw_trace_set_meta(g->m, KEY("file"), file);
    if (rc == PW_OK) rc = pw_trace_set_meta(g->m, KEY("label"), g->labels[i]);
    const char *host = pw_trace_meta(t, "host");
    if (rc == PW_OK && host) rc = pw_trace_set_meta(g->m, KEY("host"), host);
    if (rc == PW_OK)
        rc = set_meta_fmt(g->m, KEY("offset_ns"), "%" PRId64, t->realtime_offset_ns);
    if (rc == PW_OK) rc = set_meta_fmt(g->m, KEY("shift_ns"), "%" PRId64, g->shift[i]);
    if (rc == PW_OK) rc = set_range(g->m, KEY("sources"), src0, t->nsources);
    if (rc == PW_OK) rc = set_range(g->m, KEY("tracks"), track0, t->ntracks);
    if (rc == PW_OK && t->health.torn) rc = pw_trace_set_meta(g->m, KEY("torn"), "1");
#undef KEY
    return rc;
}

/* The merged run's host: every label, comma-separated (input 0's host alone would claim the
 * whole run for one machine). */
static int set_host(merger *g)
{
    size_t len = 1;
    for (size_t i = 0; i < g->n; i++) len += strlen(g->labels[i]) + 1;
    char *host = malloc(len);
    if (!host) return PW_ERR_NOMEM;
    host[0] = '\0';
    for (size_t i = 0; i < g->n; i++) {
        if (i) strcat(host, ",");
        strcat(host, g->labels[i]);
    }
    int rc = pw_trace_set_meta(g->m, "host", host);
    free(host);
    return rc;
}

/* Truth is inclusive energy and time per path; hosts run side by side, so both add up. */
static int add_truth(merger *g, size_t i)
{
    const pw_trace *t = g->in[i];
    pw_trace *m = g->m;
    int rc = PW_OK;
    for (size_t k = 0; k < t->ntruth && rc == PW_OK; k++) {
        const pw_truth *tr = &t->truth[k], *found = pw_trace_find_truth(m, tr->path);
        if (found) {
            pw_truth *sum = &m->truth[found - m->truth];
            sum->energy_j += tr->energy_j;
            sum->duration_s += tr->duration_s;
        } else {
            rc = pw_trace_add_truth(m, tr->path, tr->energy_j, tr->duration_s);
        }
    }
    return rc;
}

/* ---- the whole ---------------------------------------------------------------------------- */

static int merge_input(merger *g, size_t i, const char *file, uint32_t *next_track)
{
    const pw_trace *t = g->in[i];
    uint32_t src0 = (uint32_t)g->m->nsources, track0 = *next_track;
    g->idmap[i] = calloc(t->nnames + 1, sizeof *g->idmap[i]);
    if (!g->idmap[i]) return PW_ERR_NOMEM;
    int rc = add_sources(g, i);
    if (rc == PW_OK) rc = add_tracks(g, i, next_track);
    if (rc == PW_OK) rc = add_truth(g, i);
    if (rc == PW_OK) rc = copy_sensor_meta(g, i);
    if (rc == PW_OK) rc = input_meta(g, i, file, src0, track0);
    if (rc != PW_OK) return rc;
    uint64_t start = shifted(g, i, t->start_ns), end = shifted(g, i, t->end_ns);
    if (i == 0 || start < g->m->start_ns) g->m->start_ns = start;
    if (end > g->m->end_ns) g->m->end_ns = end;
    uint64_t missed = g->m->missed_deadlines + t->missed_deadlines;
    g->m->missed_deadlines = missed < t->missed_deadlines ? UINT64_MAX : missed;
    return PW_OK;
}

static int merge_all(merger *g, const char *const *files)
{
    int rc = plan_shifts(g);
    if (rc == PW_OK) rc = copy_base_meta(g);
    if (rc == PW_OK) rc = set_host(g);
    if (rc == PW_OK) rc = set_meta_fmt(g->m, "merge.inputs", "%zu", g->n);
    uint32_t next_track = 1;
    for (size_t i = 0; i < g->n && rc == PW_OK; i++)
        rc = merge_input(g, i, files ? files[i] : NULL, &next_track);
    return rc;
}

int pw_trace_merge(const pw_trace *const *in, size_t n, const char *const *labels,
                   const char *const *files, pw_trace **out, char *why, size_t whylen)
{
    merger g = {.in = in, .n = n, .labels = labels, .next_id = 1, .why = why, .whylen = whylen};
    if (why && whylen) why[0] = '\0';
    if (!out) return PW_ERR_INVALID;
    *out = NULL;
    if (!in || !labels || n < 2 || n > PW_MERGE_MAX_INPUTS)
        return fail(&g, PW_ERR_INVALID, "wants 2 to %d traces", PW_MERGE_MAX_INPUTS);
    for (size_t i = 0; i < n; i++)
        if (!in[i] || !labels[i] || !labels[i][0])
            return fail(&g, PW_ERR_INVALID, "input %zu has no trace or no label", i + 1);
    g.m = pw_trace_new();
    g.shift = calloc(n, sizeof *g.shift);
    g.idmap = calloc(n, sizeof *g.idmap);
    int rc = g.m && g.shift && g.idmap ? merge_all(&g, files) : PW_ERR_NOMEM;
    if (rc == PW_ERR_NOMEM && why && whylen && !why[0]) fail(&g, rc, "out of memory");
    for (size_t i = 0; g.idmap && i < n; i++) free(g.idmap[i]);
    free(g.idmap);
    free(g.shift);
    free(g.slots);
    if (rc != PW_OK) {
        if (why && whylen && !why[0]) fail(&g, rc, "%s", pw_strerror(rc));
        pw_trace_free(g.m);
        return rc;
    }
    *out = g.m;
    return PW_OK;
}

/* ---- reading the groups back -------------------------------------------------------------- */

/* "" (empty: *count = 0) or "FIRST-LAST" in decimal, FIRST <= LAST. */
static int parse_range(const char *s, uint64_t *first, uint64_t *count)
{
    *first = *count = 0;
    if (!s) return -1;
    if (!*s) return 0;
    char *end;
    if (*s < '0' || *s > '9') return -1;
    uint64_t a = strtoull(s, &end, 10);
    if (*end != '-' || end[1] < '0' || end[1] > '9') return -1;
    uint64_t b = strtoull(end + 1, &end, 10);
    if (*end || b < a || b == UINT64_MAX) return -1;
    *first = a;
    *count = b - a + 1;
    return 0;
}

static int in_range(uint64_t v, uint64_t first, uint64_t count)
{
    return v >= first && v - first < count;
}

/* Marks group k's sources and tracks; -1 when its keys are missing or malformed. */
static int read_group(const pw_trace *t, uint32_t k, pw_groups *g)
{
    char key[48];
    uint64_t first, count;
    snprintf(key, sizeof key, "merge.%" PRIu32 ".sources", k);
    if (parse_range(pw_trace_meta(t, key), &first, &count)) return -1;
    for (size_t s = 0; s < t->nsources; s++)
        if (in_range(s, first, count)) g->source[s] = k;
    snprintf(key, sizeof key, "merge.%" PRIu32 ".tracks", k);
    if (parse_range(pw_trace_meta(t, key), &first, &count)) return -1;
    for (size_t i = 0; i < t->ntracks; i++)
        if (in_range(t->tracks[i].id, first, count)) g->track[i] = k;
    return 0;
}

int pw_trace_groups(const pw_trace *t, pw_groups *out)
{
    *out = (pw_groups){0};
    const char *v = t ? pw_trace_meta(t, "merge.inputs") : NULL;
    char *end;
    unsigned long n = v && *v >= '1' && *v <= '9' ? strtoul(v, &end, 10) : 0;
    if (!n || *end || n > PW_MERGE_MAX_INPUTS) return PW_OK;
    out->source = calloc(t->nsources + 1, sizeof *out->source);
    out->track = calloc(t->ntracks + 1, sizeof *out->track);
    if (!out->source || !out->track) {
        pw_groups_free(out);
        return PW_ERR_NOMEM;
    }
    out->ngroups = (uint32_t)n;
    for (uint32_t k = 1; k <= n; k++)
        if (read_group(t, k, out)) {
            pw_groups_free(out);    /* a damaged description: attribute as one host */
            return PW_OK;
        }
    return PW_OK;
}

void pw_groups_free(pw_groups *g)
{
    free(g->source);
    free(g->track);
    *g = (pw_groups){0};
}
