/* live.c — the windows of a long-lived agent: what a session writes is gathered into a small
 * in-memory trace; when it spans the window, it is attributed (pw_attribute, as report does)
 * and its per-phase figures added to running totals; the next window starts from the last
 * readings and the phases still open. Memory: one window, one entry per phase path. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "fleet/live.h"
#include "trace/format.h"

typedef struct track_state {        /* one tagging thread, as the window boundary sees it */
    uint32_t id;                    /* metrics need no thread names: tracks go by id */
    pw_open_stack open;             /* as of the window boundary */
    uint64_t lost_seen;
    int active;                     /* had an event in the window being gathered */
} track_state;

typedef struct phase_total {        /* one phase path's running figures */
    char *path;
    double *energy_j;               /* [ndom] inclusive */
    pw_provenance *prov;            /* [ndom] fixed when the path is first attributed, so
                                       the counter series never changes its labels */
    double seconds, tokens;
    uint64_t calls;
} phase_total;

typedef struct pending_event { uint32_t track; pw_event ev; } pending_event;

struct pw_live {
    pthread_mutex_t lock;
    uint64_t window_ns;
    char *host;
    pw_source_desc *src; size_t nsrc;
    pw_domain_desc *dom; size_t ndom;
    char **names; size_t nnames;
    track_state *tracks; size_t ntracks;
    uint64_t *last_t;               /* [nsrc] each source's last reading, 0 before one */
    uint64_t *last_e;               /* [ndom] */
    double *domain_j, *power_w;     /* [ndom] since the start; over the last interval */
    pw_trace *win;                  /* the window being gathered */
    uint64_t win_start;
    size_t win_samples;
    pending_event *pending; size_t npending, pending_cap;   /* events not yet in a window */
    char **seeded; size_t nseeded;  /* paths reopened at the window's start (not calls) */
    phase_total *totals; size_t ntotals;
    size_t *slots; size_t nslots;   /* hash of totals by path: index + 1, 0 = empty */
    uint64_t lost, windows, failed_windows;
};

/* ---- small helpers -------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static size_t source_first_domain(const pw_live *l, size_t s)
{
    size_t d = 0;
    while (d < l->ndom && l->dom[d].source < s) d++;
    return d;
}

/* ---- the description ------------------------------------------------------------------- */

static void on_domains(void *ctx, const pw_source_desc *src, size_t nsrc, const pw_domain_desc *dom,
                       size_t ndom)
{
    pw_live *l = ctx;
    pthread_mutex_lock(&l->lock);
    l->src = calloc(nsrc + 1, sizeof *l->src);
    l->dom = calloc(ndom + 1, sizeof *l->dom);
    l->last_t = calloc(nsrc + 1, sizeof *l->last_t);
    l->last_e = calloc(ndom + 1, sizeof *l->last_e);
    l->domain_j = calloc(2 * ndom + 1, sizeof *l->domain_j);
    l->power_w = l->domain_j ? l->domain_j + ndom : NULL;
    if (l->src && l->dom && l->last_t && l->last_e && l->domain_j) {
        for (size_t i = 0; i < nsrc; i++) l->src[i] = src[i], l->src[i].name = strdup(src[i].name);
        for (size_t i = 0; i < ndom; i++) l->dom[i] = dom[i], l->dom[i].name = strdup(dom[i].name);
        l->nsrc = nsrc;
        l->ndom = ndom;
    }
    pthread_mutex_unlock(&l->lock);
}

static void on_name(void *ctx, uint32_t id, const char *name)
{
    pw_live *l = ctx;
    pthread_mutex_lock(&l->lock);
    size_t cap = l->nnames;
    if (id >= l->nnames) {
        char **n = realloc(l->names, (id + 1) * sizeof *n);
        if (n) {
            memset(n + cap, 0, (id + 1 - cap) * sizeof *n);
            l->names = n;
            l->nnames = id + 1;
        }
    }
    if (id < l->nnames && !l->names[id]) l->names[id] = strdup(name);
    pthread_mutex_unlock(&l->lock);
}

static track_state *track_of(pw_live *l, uint32_t id)
{
    for (size_t i = 0; i < l->ntracks; i++)
        if (l->tracks[i].id == id) return &l->tracks[i];
    track_state *t = realloc(l->tracks, (l->ntracks + 1) * sizeof *t);
    if (!t) return NULL;
    l->tracks = t;
    t = &l->tracks[l->ntracks++];
    *t = (track_state){.id = id};
    return t;
}

static void on_loss(void *ctx, uint32_t track, uint64_t lost_total)
{
    pw_live *l = ctx;
    pthread_mutex_lock(&l->lock);
    track_state *t = track_of(l, track);
    if (t && lost_total > t->lost_seen) l->lost += lost_total - t->lost_seen, t->lost_seen = lost_total;
    pthread_mutex_unlock(&l->lock);
}

static void on_event(void *ctx, uint32_t track, const pw_event *ev)
{
    pw_live *l = ctx;
    pthread_mutex_lock(&l->lock);
    pending_event *p = pw_grow(l->pending, &l->pending_cap, l->npending + 1, sizeof *p);
    if (p) {
        l->pending = p;
        p[l->npending++] = (pending_event){track, *ev};
    }
    pthread_mutex_unlock(&l->lock);
}

/* ---- windows ----------------------------------------------------------------------------- */

static int name_into(pw_live *l, pw_trace *t, uint32_t id)
{
    if (id >= l->nnames || !l->names[id]) return PW_OK;   /* attribution shows "#id" */
    if (id < t->nnames && t->names[id]) return PW_OK;
    return pw_trace_set_name(t, id, l->names[id]);
}

/* The path of a thread's depth outermost open phases, named as attribution names them. */
static char *stack_path(const pw_live *l, const track_state *t, int depth)
{
    char *path = strdup(""), unknown[16];
    for (int i = 0; path && i < depth; i++) {
        uint32_t id = t->open.ids[i];
        snprintf(unknown, sizeof unknown, "#%u", id);
        const char *name = id < l->nnames && l->names[id] ? l->names[id] : unknown;
        char *longer = pw_path_join(path, name);
        free(path);
        path = longer;
    }
    return path;
}

static void clear_seeded(pw_live *l)
{
    for (size_t i = 0; i < l->nseeded; i++) free(l->seeded[i]);
    free(l->seeded);
    l->seeded = NULL;
    l->nseeded = 0;
}

/* A new window: the description, each source's last reading, and the phases open now,
 * reopened at t_ns (they are no new calls). */
static int open_window(pw_live *l, uint64_t t_ns)
{
    pw_trace *t = pw_trace_new();
    if (!t) return PW_ERR_NOMEM;
    int rc = PW_OK;
    for (size_t s = 0; s < l->nsrc && rc == PW_OK; s++)
        rc = pw_trace_add_source(t, l->src[s].name, l->src[s].period_ns, l->src[s].flags);
    for (size_t d = 0; d < l->ndom && rc == PW_OK; d++)
        rc = pw_trace_add_domain(t, l->dom[d].source, l->dom[d].name, l->dom[d].kind,
                                 l->dom[d].parent, l->dom[d].flags);
    for (size_t s = 0; s < l->nsrc && rc == PW_OK; s++)
        if (l->last_t[s]) rc = pw_trace_add_sample(t, (uint32_t)s, l->last_t[s],
                                                   l->last_e + source_first_domain(l, s), 0);
    clear_seeded(l);
    for (size_t i = 0; i < l->ntracks && rc == PW_OK; i++) {
        track_state *tr = &l->tracks[i];
        for (int d = 0; d < tr->open.depth && rc == PW_OK; d++) {
            pw_event ev = {.t_ns = t_ns, .id = tr->open.ids[d], .type = PW_EV_BEGIN};
            rc = name_into(l, t, ev.id);
            if (rc == PW_OK) rc = pw_trace_add_event(t, tr->id, &ev);
            char **s = realloc(l->seeded, (l->nseeded + 1) * sizeof *s);
            if (!s) rc = PW_ERR_NOMEM;
            else if (!(s[l->nseeded] = stack_path(l, tr, d + 1))) l->seeded = s, rc = PW_ERR_NOMEM;
            else l->seeded = s, l->nseeded++;
        }
    }
    pw_trace_free(l->win);
    l->win = t;
    l->win_start = t_ns;
    l->win_samples = 0;
    return rc;
}

/* Moves the events up to t_ns into the window (following each thread's stack); later ones
 * wait for the next window. */
static int take_events(pw_live *l, uint64_t t_ns)
{
    size_t keep = 0;
    int rc = PW_OK;
    for (size_t i = 0; i < l->npending; i++) {
        pending_event *p = &l->pending[i];
        if (p->ev.t_ns > t_ns || rc != PW_OK) {
            l->pending[keep++] = *p;
            continue;
        }
        track_state *tr = track_of(l, p->track);
        if (!tr) return PW_ERR_NOMEM;
        pw_open_stack_follow(&tr->open, &p->ev);
        tr->active = 1;
        pw_event ev = p->ev;   /* one published late, after its window closed, lands at the start */
        if (ev.t_ns < l->win_start) ev.t_ns = l->win_start;
        rc = name_into(l, l->win, ev.id);
        if (rc == PW_OK) rc = pw_trace_add_event(l->win, p->track, &ev);
    }
    l->npending = keep;
    return rc;
}

/* The slot of path's totals, or the empty slot where they would go (nslots > 0). */
static size_t total_slot(const pw_live *l, const char *path)
{
    size_t h = hash_str(path) & (l->nslots - 1);
    while (l->slots[h] && strcmp(l->totals[l->slots[h] - 1].path, path)) h = (h + 1) & (l->nslots - 1);
    return h;
}

/* path's totals, made (zero, *created set) when the path is new; NULL when out of memory. */
static phase_total *total_of(pw_live *l, const char *path, int *created)
{
    *created = 0;
    if (2 * (l->ntotals + 1) > l->nslots) {   /* keep the hash at most half full */
        size_t n = l->nslots ? 2 * l->nslots : 64;
        size_t *slots = calloc(n, sizeof *slots);
        if (!slots) return NULL;
        for (size_t i = 0; i < l->ntotals; i++) {
            size_t h = hash_str(l->totals[i].path) & (n - 1);
            while (slots[h]) h = (h + 1) & (n - 1);
            slots[h] = i + 1;
        }
        free(l->slots);
        l->slots = slots;
        l->nslots = n;
    }
    size_t h = total_slot(l, path);
    if (l->slots[h]) return &l->totals[l->slots[h] - 1];
    phase_total *t = realloc(l->totals, (l->ntotals + 1) * sizeof *t);
    if (!t) return NULL;
    l->totals = t;
    t = &l->totals[l->ntotals];
    *t = (phase_total){.path = strdup(path), .energy_j = calloc(l->ndom + 1, sizeof(double)),
                       .prov = calloc(l->ndom + 1, sizeof(pw_provenance))};
    if (!t->path || !t->energy_j || !t->prov) {
        free(t->path), free(t->energy_j), free(t->prov);
        return NULL;
    }
    l->slots[h] = ++l->ntotals;
    *created = 1;
    return t;
}

static pw_provenance figure_provenance(const pw_trace *t, const pw_phase_node *n, size_t d)
{
    if (pw_domain_estimated(t, d)) return PW_PROV_ESTIMATED;
    return isfinite(n->incl_ci_j[d]) ? PW_PROV_DISAGGREGATED : PW_PROV_MEASURED;
}

static int add_window(pw_live *l, const pw_attribution *a)
{
    for (size_t k = 1; k < a->nnodes; k++) {
        const pw_phase_node *n = &a->nodes[k];
        int fresh;
        phase_total *t = total_of(l, n->path, &fresh);
        if (!t) return PW_ERR_NOMEM;
        for (size_t d = 0; d < l->ndom && d < a->ndomains; d++) {
            t->energy_j[d] += n->incl_j[d];
            if (fresh) t->prov[d] = figure_provenance(l->win, n, d);
        }
        uint64_t reopened = 0;
        for (size_t i = 0; i < l->nseeded; i++) reopened += !strcmp(l->seeded[i], n->path);
        t->calls += n->calls > reopened ? n->calls - reopened : 0;
        t->seconds += n->duration_s;
        t->tokens += n->tokens_incl;
    }
    return PW_OK;
}

/* Attributes the window up to the last readings (t_ns) and opens the next one there. */
static int roll(pw_live *l, uint64_t t_ns)
{
    if (!l->win) return open_window(l, t_ns);
    int rc = take_events(l, t_ns);
    pw_attribution *a = NULL;
    l->win->start_ns = l->win_start;
    l->win->end_ns = t_ns;
    if (rc == PW_OK && l->win_samples > 0) rc = pw_attribute(l->win, &a);
    if (rc == PW_OK && a) rc = add_window(l, a);
    pw_attribution_free(a);
    l->windows++;
    if (rc != PW_OK) l->failed_windows++;
    size_t keep = 0;   /* threads that neither tag nor hold a phase are forgotten */
    for (size_t i = 0; i < l->ntracks; i++) {
        track_state *tr = &l->tracks[i];
        if (tr->open.depth == 0 && !tr->active) continue;
        tr->active = 0;
        l->tracks[keep++] = *tr;
    }
    l->ntracks = keep;
    int rc2 = open_window(l, t_ns);
    return rc != PW_OK ? rc : rc2;
}

static void on_sample(void *ctx, uint32_t source, uint64_t t_ns, const uint64_t *energy_uj,
                      uint8_t flags)
{
    pw_live *l = ctx;
    pthread_mutex_lock(&l->lock);
    if (source < l->nsrc) {
        /* a tick reads the sources in order: the first one's reading may close the window */
        if (source == 0 && (!l->win || (l->win_samples && t_ns - l->win_start >= l->window_ns)))
            roll(l, l->last_t[0] ? l->last_t[0] : t_ns);
        size_t first = source_first_domain(l, source);
        for (size_t d = first; d < l->ndom && l->dom[d].source == source; d++) {
            uint64_t e = energy_uj[d - first], prev = l->last_e[d];
            if (l->last_t[source] && !(flags & PW_SAMPLE_GAP) && e >= prev && t_ns > l->last_t[source]) {
                l->domain_j[d] += (double)(e - prev) * 1e-6;
                l->power_w[d] = (double)(e - prev) * 1e3 / (double)(t_ns - l->last_t[source]);
            }
            l->last_e[d] = e;
        }
        if (l->win && pw_trace_add_sample(l->win, source, t_ns, energy_uj, flags) == PW_OK)
            l->win_samples++;
        l->last_t[source] = t_ns;
    }
    pthread_mutex_unlock(&l->lock);
}

int pw_live_flush(pw_live *l)
{
    pthread_mutex_lock(&l->lock);
    int rc = l->win && l->nsrc && l->last_t[0] ? roll(l, l->last_t[0]) : PW_OK;
    pthread_mutex_unlock(&l->lock);
    return rc;
}

/* ---- lifetime ------------------------------------------------------------------------------ */

pw_live *pw_live_new(uint64_t window_ns, const char *host)
{
    pw_live *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->window_ns = window_ns ? window_ns : 5000000000ull;
    l->host = strdup(host ? host : "");
    if (!l->host || pthread_mutex_init(&l->lock, NULL) != 0) {
        free(l->host);
        free(l);
        return NULL;
    }
    return l;
}

void pw_live_free(pw_live *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->nsrc; i++) free(l->src[i].name);
    for (size_t i = 0; i < l->ndom; i++) free(l->dom[i].name);
    for (size_t i = 0; i < l->nnames; i++) free(l->names[i]);
    for (size_t i = 0; i < l->ntotals; i++) {
        free(l->totals[i].path);
        free(l->totals[i].energy_j);
        free(l->totals[i].prov);
    }
    clear_seeded(l);
    free(l->src), free(l->dom), free(l->names), free(l->tracks), free(l->totals), free(l->slots);
    free(l->last_t), free(l->last_e), free(l->domain_j), free(l->pending), free(l->host);
    pw_trace_free(l->win);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void pw_live_tap(pw_live *l, pw_session_tap *out)
{
    *out = (pw_session_tap){on_domains, on_name, NULL, on_event, on_loss, on_sample, l};
}

int pw_live_phase_totals(pw_live *l, const char *path, pw_live_phase *out)
{
    pthread_mutex_lock(&l->lock);
    int rc = PW_ERR_NOT_FOUND;
    size_t slot = l->nslots ? l->slots[total_slot(l, path)] : 0;
    if (slot) {
        const phase_total *t = &l->totals[slot - 1];
        *out = (pw_live_phase){0, t->seconds, t->tokens, t->calls, "measured"};
        pw_provenance worst = PW_PROV_MEASURED;
        for (size_t d = 0; d < l->ndom; d++)
            if (l->dom[d].parent < 0) {
                out->energy_j += t->energy_j[d];
                if (t->prov[d] > worst) worst = t->prov[d];
            }
        out->provenance = pw_provenance_name(worst);
        rc = PW_OK;
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

/* ---- the exposition format ------------------------------------------------------------------ */

typedef struct text { char *p; size_t n, cap; int failed; } text;

static void put(text *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *b, const char *fmt, ...)
{
    for (int pass = 0; pass < 2 && !b->failed; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (n < 0) b->failed = 1;
        else if (b->p && b->n + (size_t)n < b->cap) {
            b->n += (size_t)n;
            return;
        } else {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap <= b->n + (size_t)n) cap *= 2;
            char *q = realloc(b->p, cap);
            if (!q) b->failed = 1;
            else b->p = q, b->cap = cap;
        }
    }
}

/* A label value: backslash, double quote and newline escaped, as the format asks; other
 * control characters become '?' so a scraper's line parser never sees them. */
static void put_label(text *b, const char *key, const char *v, int last)
{
    put(b, "%s=\"", key);
    for (; *v; v++) {
        if (*v == '\\') put(b, "\\\\");
        else if (*v == '"') put(b, "\\\"");
        else if (*v == '\n') put(b, "\\n");
        else if ((unsigned char)*v < 0x20 || *v == 0x7f) put(b, "?");
        else put(b, "%c", *v);
    }
    put(b, "\"%s", last ? "}" : ",");
}

static void put_domain_labels(text *b, const pw_live *l, size_t d)
{
    put(b, "{");
    put_label(b, "host", l->host, 0);
    put_label(b, "domain", l->dom[d].name, 0);
    put_label(b, "kind", pw_kind_name(l->dom[d].kind), 0);
    put_label(b, "parent", l->dom[d].parent >= 0 ? l->dom[l->dom[d].parent].name : "", 0);
    put_label(b, "source", l->src[l->dom[d].source].name, 0);
}

/* One series per domain of a per-domain figure. */
static void put_domain_metric(text *b, const pw_live *l, const char *name, const char *type,
                              const char *help, const double *value)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    for (size_t d = 0; d < l->ndom; d++) {
        put(b, "%s", name);
        put_domain_labels(b, l, d);
        put_label(b, "provenance", l->dom[d].flags & PW_DOMAIN_ESTIMATED ? "estimated" : "measured", 1);
        put(b, " %.9g\n", value[d]);
    }
}

static void put_domains(text *b, const pw_live *l)
{
    put_domain_metric(b, l, "phasewatt_energy_joules_total", "counter",
                      "Energy each power domain used since the agent started (parent names the "
                      "domain that contains it).", l->domain_j);
    put_domain_metric(b, l, "phasewatt_power_watts", "gauge",
                      "Power of each domain over the last sample interval.", l->power_w);
}

static void put_phases(text *b, const pw_live *l)
{
    put(b, "# HELP phasewatt_phase_energy_joules_total Energy attributed to each phase path "
           "(inclusive of its sub-phases) per domain, as phasewatt report attributes it.\n"
           "# TYPE phasewatt_phase_energy_joules_total counter\n");
    for (size_t i = 0; i < l->ntotals; i++)
        for (size_t d = 0; d < l->ndom; d++) {
            put(b, "phasewatt_phase_energy_joules_total");
            put_domain_labels(b, l, d);
            put_label(b, "phase", l->totals[i].path, 0);
            put_label(b, "provenance", pw_provenance_name(l->totals[i].prov[d]), 1);
            put(b, " %.9g\n", l->totals[i].energy_j[d]);
        }
    static const char *const what[3][3] = {
        {"phasewatt_phase_seconds_total", "counter", "Time each phase path was open (summed over threads)."},
        {"phasewatt_phase_tokens_total", "counter", "Tokens counted in each phase path."},
        {"phasewatt_phase_calls_total", "counter", "Times each phase path began."}};
    for (int m = 0; m < 3; m++) {
        put(b, "# HELP %s %s\n# TYPE %s %s\n", what[m][0], what[m][2], what[m][0], what[m][1]);
        for (size_t i = 0; i < l->ntotals; i++) {
            const phase_total *t = &l->totals[i];
            put(b, "%s{", what[m][0]);
            put_label(b, "host", l->host, 0);
            put_label(b, "phase", t->path, 1);
            put(b, " %.9g\n", m == 0 ? t->seconds : m == 1 ? t->tokens : (double)t->calls);
        }
    }
}

char *pw_live_metrics(pw_live *l, size_t *len)
{
    text b = {0};
    pthread_mutex_lock(&l->lock);
    put_domains(&b, l);
    put_phases(&b, l);
    put(&b, "# HELP phasewatt_lost_events_total Phase events dropped because a ring was full.\n"
            "# TYPE phasewatt_lost_events_total counter\nphasewatt_lost_events_total{");
    put_label(&b, "host", l->host, 1);
    put(&b, " %llu\n", (unsigned long long)l->lost);
    put(&b, "# HELP phasewatt_windows_total Windows attributed (failed: out of memory).\n"
            "# TYPE phasewatt_windows_total counter\nphasewatt_windows_total{");
    put_label(&b, "host", l->host, 0);
    put_label(&b, "result", "ok", 1);
    put(&b, " %llu\nphasewatt_windows_total{", (unsigned long long)(l->windows - l->failed_windows));
    put_label(&b, "host", l->host, 0);
    put_label(&b, "result", "failed", 1);
    put(&b, " %llu\n", (unsigned long long)l->failed_windows);
    pthread_mutex_unlock(&l->lock);
    if (b.failed || !b.p) {
        free(b.p);
        return NULL;
    }
    if (len) *len = b.n;
    return b.p;
}
