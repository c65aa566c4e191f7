/* live.c — the windows of a long-lived agent. The session's tap (sampler thread, session lock
 * held) only admits what arrives into a bounded queue; the live view's own thread gathers it
 * into a small in-memory trace, attributes each window (pw_attribute, as report does), adds
 * the per-phase figures to running totals and renders the /metrics page that scrapes send.
 * Memory: the held events (max_events), one window, and max_series phase paths. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "platform/platform.h"
#include "analysis/attribute.h"
#include "base/clock.h"
#include "fleet/live.h"
#include "base/grow.h"
#include "trace/trace.h"

#define RENDER_EVERY_NS 100000000ull   /* the page's domain figures are this fresh */
/* A reading joins the windows only once a reading this much newer has arrived: an event
 * stamped before it but published late (its thread descheduled between the stamp and the
 * ring's store, a loaded machine) still lands in its own window rather than at the next
 * window's start, which stretched a phase there by up to that delay (3 % on a loaded run). */
#define LATE_NS 100000000ull
#define LIVE_NAME_BYTES (4u << 20)      /* names kept, as much as the channel's name log */

/* ---- an id -> index hash (tracks on both sides of the queue) ------------------------------ */

typedef struct id_index { size_t *slots; size_t cap; } id_index;   /* index + 1, 0 = empty */

/* The slot of id among entries (each stride bytes, its id the first field), or the empty slot
 * where it would go. */
static size_t id_slot(const id_index *x, const void *entries, size_t stride, uint32_t id)
{
    size_t h = (id * 2654435761u) & (x->cap - 1);
    while (x->slots[h] && *(const uint32_t *)((const char *)entries + (x->slots[h] - 1) * stride) != id)
        h = (h + 1) & (x->cap - 1);
    return h;
}

/* Re-indexes n entries (their id the first field of each stride-sized entry), room for one
 * more at most half full. */
static int id_reindex(id_index *x, const void *entries, size_t stride, size_t n)
{
    size_t cap = 64;
    while (cap < 2 * (n + 1)) cap *= 2;
    if (cap != x->cap) {
        size_t *s = calloc(cap, sizeof *s);
        if (!s) return -1;
        free(x->slots);
        x->slots = s;
        x->cap = cap;
    } else {
        memset(x->slots, 0, cap * sizeof *x->slots);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t id = *(const uint32_t *)((const char *)entries + i * stride);
        x->slots[id_slot(x, entries, stride, id)] = i + 1;
    }
    return 0;
}

/* The entry of id among entries, or NULL. */
static void *id_find(const id_index *x, void *entries, size_t stride, uint32_t id)
{
    size_t slot = x->cap ? x->slots[id_slot(x, entries, stride, id)] : 0;
    return slot ? (char *)entries + (slot - 1) * stride : NULL;
}

/* Appends a zeroed entry for id to the array *entries_ptr (a pointer to the array pointer)
 * of *n entries and indexes it; -1 when out of memory (nothing added). */
static int id_append(id_index *x, void *entries_ptr, size_t *n, size_t stride, uint32_t id)
{
    char *old, *e;
    memcpy(&old, entries_ptr, sizeof old);
    e = realloc(old, (*n + 1) * stride);
    if (!e) return -1;   /* the array keeps its old block */
    memcpy(entries_ptr, &e, sizeof e);
    memset(e + *n * stride, 0, stride);
    memcpy(e + *n * stride, &id, sizeof id);
    if (x->cap && 2 * (*n + 2) <= x->cap) x->slots[id_slot(x, e, stride, id)] = *n + 1;
    else if (id_reindex(x, e, stride, *n + 1) != 0) return -1;   /* the old index still holds */
    (*n)++;
    return 0;
}

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct admit_track {        /* a thread as the tap admits its events */
    /* cppcheck-suppress unusedStructMember ; id_index reads and writes it as the first word */
    uint32_t id;
    uint32_t depth;                 /* BEGINs admitted and still open */
    uint32_t cut;                   /* BEGINs dropped and still open: their ENDs go too */
    uint8_t cut_reason;
    uint64_t lost_seen;             /* its ring's loss count already counted */
} admit_track;

typedef struct track_state {        /* a thread as the window boundary sees it */
    uint32_t id;
    pw_open_stack open;
    int active;                     /* had an event in the window being gathered */
} track_state;

typedef struct phase_total {        /* one phase path's running figures */
    char *path;
    char *label;                    /* phase="..." escaped once, for every page */
    double *energy_j;               /* [ndom] inclusive */
    double *ci2_j;                  /* [ndom] windows' 95 % half-widths, squared and summed */
    uint8_t *observed;              /* [ndom] 1 once a window measured it (else no number) */
    pw_provenance prov;             /* the node's, fixed when first attributed, so the
                                       counter series never changes its labels */
    double seconds, tokens;
    uint64_t calls, reopened, last_window;
} phase_total;

enum { ITEM_EVENT, ITEM_SAMPLE, ITEM_NAME };
typedef struct item {
    uint8_t kind, flags;
    uint32_t a;                     /* track, source or name id */
    pw_event ev;                    /* ITEM_SAMPLE: ev.t_ns is the reading's time */
    void *blob;                     /* ITEM_SAMPLE: energies; ITEM_NAME: the name */
} item;

typedef struct queue {              /* filled by the tap, emptied by the live thread */
    pthread_mutex_t lock;
    pthread_cond_t ready;
    item *in; size_t n, cap;
    size_t events;                  /* of the n */
    admit_track *tracks; size_t ntracks; id_index by_id;
    uint64_t first_t, last_t;       /* the readings so far (source 0) */
    int stop;
} queue;

struct pw_live {
    pw_live_config cfg;
    queue q;
    _Atomic uint64_t lost[PW_LIVE_LOST_COUNT];
    _Atomic size_t held;            /* events pending or in the window (the live thread's) */
    _Atomic int stopping;           /* pw_live_free has begun */
    pthread_t thread; int threaded;

    pthread_mutex_t lock;           /* everything below: the live thread and flush */
    char *host_label;
    pw_source_desc *src; size_t nsrc;
    pw_domain_desc *dom; size_t ndom;
    size_t *src_first, *src_count;  /* [nsrc] each source's domains */
    char **dom_label;               /* [ndom] host,domain,kind,parent,source labels */
    char **names; size_t nnames, name_bytes;
    track_state *tracks; size_t ntracks; id_index track_by_id;
    uint64_t *last_t, *last_e;      /* [nsrc], [ndom] the last readings, 0 before one */
    double *domain_j, *power_w;     /* [ndom] since the start; over the last interval */
    pthread_mutex_t meta_lock;      /* only meta: the sampler's tap never waits on attribution */
    pw_trace *meta;                 /* the session's metadata (the sensor facts attribution
                                       reads: periods, coverage, lock), copied into each window */
    pw_trace *win;                  /* the window being gathered */
    uint64_t win_start;
    size_t win_samples, win_events;
    item *pending; size_t npending, pending_cap;   /* events later than the last reading */
    item *late; size_t nlate, late_cap;   /* readings held back LATE_NS (their blobs owned) */
    item *batch; size_t batch_cap;  /* the queue's other half */
    phase_total *totals; size_t ntotals;
    size_t *slots; size_t nslots;   /* totals by path: index + 1, 0 = empty */
    uint64_t windows, failed_windows, last_render_ns;

    pthread_mutex_t page_lock;      /* only swaps the page */
    pw_live_page *page;
};

struct pw_live_page { _Atomic int refs; size_t len; char text[]; };

static const char *const loss_names[PW_LIVE_LOST_COUNT] = {
    "ring_full", "channel", "queue_full", "timestamp", "depth", "tracks_cap", "names_cap",
    "series_cap"};

const char *pw_live_loss_reason(pw_live_loss why)
{
    return (unsigned)why < PW_LIVE_LOST_COUNT ? loss_names[why] : "?";
}

uint64_t pw_live_lost(pw_live *l, pw_live_loss why)
{
    return (unsigned)why < PW_LIVE_LOST_COUNT ? atomic_load(&l->lost[why]) : 0;
}

static void lose(pw_live *l, pw_live_loss why, uint64_t n)
{
    atomic_fetch_add(&l->lost[why], n);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* ---- label values ---------------------------------------------------------------------------- */

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

/* The length of the valid UTF-8 sequence at s (1 to 4), or 0 when it is not one. */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    /* the second byte's range rules out overlong forms, surrogates and > U+10FFFF */
    unsigned lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (!n || s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    return n;
}

/* key="value", escaped as the text format asks (backslash, double quote, newline); other
 * control characters become '?' and bytes that are not UTF-8 U+FFFD, so a page always
 * parses whatever a tagged program named its phases. */
static void put_label(text *b, const char *key, const char *value)
{
    put(b, "%s=\"", key);
    for (const unsigned char *v = (const unsigned char *)value; *v;) {
        int n = utf8_len(v);
        if (*v == '\\') put(b, "\\\\");
        else if (*v == '"') put(b, "\\\"");
        else if (*v == '\n') put(b, "\\n");
        else if (*v < 0x20 || *v == 0x7f) put(b, "?");
        else if (!n) put(b, "\xef\xbf\xbd");
        else put(b, "%.*s", n, (const char *)v);
        v += n ? n : 1;
    }
    put(b, "\"");
}

static char *label_of(const char *key, const char *value)
{
    text b = {0};
    put_label(&b, key, value);
    if (!b.failed) return b.p;
    free(b.p);
    return NULL;
}

/* ---- the tap: admission on the sampler thread --------------------------------------------- */

/* The admitting side's record of a thread, made when new; NULL past max_tracks. Threads
 * with nothing open are forgotten to make room. */
static admit_track *admit_track_of(pw_live *l, uint32_t id)
{
    queue *q = &l->q;
    admit_track *known = id_find(&q->by_id, q->tracks, sizeof *q->tracks, id);
    if (known) return known;
    if (q->ntracks >= l->cfg.max_tracks) {
        size_t keep = 0;
        for (size_t i = 0; i < q->ntracks; i++)
            if (q->tracks[i].depth || q->tracks[i].cut) q->tracks[keep++] = q->tracks[i];
        q->ntracks = keep;
        if (id_reindex(&q->by_id, q->tracks, sizeof *q->tracks, keep) != 0 ||
            keep >= l->cfg.max_tracks)
            return NULL;
    }
    if (id_append(&q->by_id, &q->tracks, &q->ntracks, sizeof *q->tracks, id) != 0) return NULL;
    return &q->tracks[q->ntracks - 1];
}

static int push(queue *q, const item *it)
{
    item *in = pw_grow(q->in, &q->cap, q->n + 1, sizeof *in);
    if (!in) return -1;
    q->in = in;
    in[q->n++] = *it;
    q->events += it->kind == ITEM_EVENT;
    return 0;
}

/* Before the first reading, the clock itself bounds what can be stamped. */
static int outside_run(const queue *q, uint64_t t, uint64_t skew)
{
    if (!q->last_t) return t > pw_now_ns() + skew;
    return t > q->last_t + skew || t + skew < q->first_t;
}

/* Why ev must be dropped (a pw_live_loss), or -1 to queue it. A BEGIN that is dropped cuts
 * its thread's stack there: every deeper BEGIN and the matching ENDs go with it, so what is
 * queued always nests as the thread nested it. */
static int admit(pw_live *l, admit_track *t, pw_event *ev)
{
    queue *q = &l->q;
    int full = q->events + atomic_load(&l->held) >= l->cfg.max_events;
    if (ev->type == PW_EV_END) {
        if (t->cut) return t->cut--, t->cut_reason;   /* its BEGIN was counted */
        if (t->depth) t->depth--;
        if (q->last_t && ev->t_ns > q->last_t + l->cfg.skew_ns) ev->t_ns = q->last_t;
        return -1;                                     /* an END is never lost: it closes */
    }
    int why = full ? PW_LIVE_LOST_QUEUE
            : outside_run(q, ev->t_ns, l->cfg.skew_ns) ? PW_LIVE_LOST_TIMESTAMP : -1;
    if (ev->type != PW_EV_BEGIN) return why;
    if (t->cut || t->depth >= PW_MAX_DEPTH || why >= 0) {
        int reason = why >= 0 ? why : t->cut ? t->cut_reason : PW_LIVE_LOST_DEPTH;
        if (!t->cut++) t->cut_reason = (uint8_t)reason;
        return reason;
    }
    t->depth++;
    return -1;
}

#define LIVE_MAX_META 256               /* metadata entries kept: a session writes tens */

static int on_event(void *ctx, uint32_t track, const pw_event *ev)
{
    pw_live *l = ctx;
    pthread_mutex_lock(&l->q.lock);
    admit_track *t = admit_track_of(l, track);
    pw_event e = *ev;
    int why = t ? admit(l, t, &e) : PW_LIVE_LOST_TRACKS;
    if (why < 0 && push(&l->q, &(item){.kind = ITEM_EVENT, .a = track, .ev = e}) != 0)
        why = PW_LIVE_LOST_QUEUE;
    pthread_mutex_unlock(&l->q.lock);
    if (why >= 0) lose(l, (pw_live_loss)why, 1);
    return PW_OK;
}

static int on_loss(void *ctx, uint32_t track, uint64_t lost_total, uint64_t lost_before)
{
    (void)lost_before;   /* judged against what this view saw itself */
    pw_live *l = ctx;
    pthread_mutex_lock(&l->q.lock);
    admit_track *t = admit_track_of(l, track);
    uint64_t fresh = t && lost_total > t->lost_seen ? lost_total - t->lost_seen : 0;
    if (t && lost_total > t->lost_seen) t->lost_seen = lost_total;
    pthread_mutex_unlock(&l->q.lock);
    lose(l, PW_LIVE_LOST_RING, fresh);
    return PW_OK;
}

static int on_channel_loss(void *ctx, uint64_t lost_total)
{
    pw_live *l = ctx;
    uint64_t seen = atomic_load(&l->lost[PW_LIVE_LOST_CHANNEL]);
    if (lost_total > seen) lose(l, PW_LIVE_LOST_CHANNEL, lost_total - seen);
    return PW_OK;
}

/* A backend's or the session's metadata: kept for the windows, whose attribution reads the
 * sensors' facts from it as report does from the trace. */
static int on_meta(void *ctx, const char *key, const char *value)
{
    pw_live *l = ctx;
    pthread_mutex_lock(&l->meta_lock);
    if (!l->meta) l->meta = pw_trace_new();
    int rc = !l->meta ? PW_ERR_NOMEM
             : l->meta->nmeta >= LIVE_MAX_META && !pw_trace_meta(l->meta, key) ? PW_ERR_LIMIT
                                                                                : pw_trace_set_meta(l->meta, key, value);
    pthread_mutex_unlock(&l->meta_lock);
    return rc;
}

static int on_name(void *ctx, uint32_t id, const char *name)
{
    pw_live *l = ctx;
    char *copy = id < l->cfg.max_names ? strdup(name) : NULL;
    pthread_mutex_lock(&l->q.lock);
    int ok = copy && push(&l->q, &(item){.kind = ITEM_NAME, .a = id, .blob = copy}) == 0;
    pthread_mutex_unlock(&l->q.lock);
    if (!ok) free(copy), lose(l, PW_LIVE_LOST_NAMES, 1);
    return PW_OK;
}

/* t_err_ns is not kept: a window starts from the last reading of the one before, unstamped */
static int on_sample(void *ctx, uint32_t source, uint64_t t_ns, uint32_t t_err_ns,
                     const uint64_t *energy_uj, uint8_t flags)
{
    pw_live *l = ctx;
    (void)t_err_ns;
    if (source >= l->nsrc) return PW_OK;   /* the description came first, on this same thread */
    /* a source that takes its time from phase events (the synthetic one) can be led past
     * the clock by a forged stamp: such a reading would open the run to any stamp */
    if (t_ns > pw_now_ns() + l->cfg.skew_ns) {
        lose(l, PW_LIVE_LOST_TIMESTAMP, 1);
        return PW_OK;
    }
    size_t n = l->src_count[source];
    uint64_t *e = malloc((n + 1) * sizeof *e);
    if (!e) return PW_OK;            /* the next reading covers the interval */
    memcpy(e, energy_uj, n * sizeof *e);
    pthread_mutex_lock(&l->q.lock);
    int ok = push(&l->q, &(item){.kind = ITEM_SAMPLE, .flags = flags, .a = source,
                                 .ev = {.t_ns = t_ns}, .blob = e}) == 0;
    if (ok && source == 0) {
        if (!l->q.first_t) l->q.first_t = t_ns;
        l->q.last_t = t_ns;
    }
    pthread_cond_signal(&l->q.ready);
    pthread_mutex_unlock(&l->q.lock);
    if (!ok) free(e);
    return PW_OK;
}

static int on_domains(void *ctx, const pw_source_desc *src, size_t nsrc, const pw_domain_desc *dom,
                       size_t ndom)
{
    pw_live *l = ctx;
    pthread_mutex_lock(&l->lock);
    l->src = calloc(nsrc + 1, sizeof *l->src);
    l->dom = calloc(ndom + 1, sizeof *l->dom);
    l->src_first = calloc(2 * nsrc + 1, sizeof *l->src_first);
    l->dom_label = calloc(ndom + 1, sizeof *l->dom_label);
    l->last_t = calloc(nsrc + 1, sizeof *l->last_t);
    l->last_e = calloc(ndom + 1, sizeof *l->last_e);
    l->domain_j = calloc(2 * ndom + 1, sizeof *l->domain_j);
    if (l->src && l->dom && l->src_first && l->dom_label && l->last_t && l->last_e && l->domain_j) {
        l->src_count = l->src_first + nsrc;
        l->power_w = l->domain_j + ndom;
        for (size_t i = 0; i < nsrc; i++) l->src[i] = src[i], l->src[i].name = strdup(src[i].name);
        for (size_t i = 0; i < ndom; i++) l->dom[i] = dom[i], l->dom[i].name = strdup(dom[i].name);
        for (size_t i = ndom; i-- > 0;) {
            if (dom[i].source < nsrc) l->src_first[dom[i].source] = i, l->src_count[dom[i].source]++;
            char *parts[5] = {label_of("domain", dom[i].name),
                              label_of("kind", pw_kind_name(dom[i].kind)),
                              label_of("parent", dom[i].parent >= 0 && (size_t)dom[i].parent < ndom
                                                      ? dom[dom[i].parent].name : ""),
                              label_of("source", dom[i].source < nsrc ? src[dom[i].source].name : ""),
                              NULL};
            text b = {0};
            put(&b, "%s", l->host_label);
            for (int k = 0; k < 4; k++) put(&b, ",%s", parts[k] ? parts[k] : "");
            for (int k = 0; k < 4; k++) free(parts[k]);
            l->dom_label[i] = b.failed ? (free(b.p), NULL) : b.p;
        }
        l->nsrc = nsrc;
        l->ndom = ndom;
    }
    pthread_mutex_unlock(&l->lock);
    return PW_OK;
}

void pw_live_tap(pw_live *l, pw_sink *out)
{
    *out = (pw_sink){.domains = on_domains, .name = on_name, .event = on_event, .loss = on_loss,
                     .sample = on_sample, .meta = on_meta, .channel_loss = on_channel_loss,
                     .ctx = l};
}

/* ---- windows (the live thread, l->lock held) ----------------------------------------------- */

static track_state *track_of(pw_live *l, uint32_t id)
{
    track_state *known = id_find(&l->track_by_id, l->tracks, sizeof *l->tracks, id);
    if (known) return known;
    if (id_append(&l->track_by_id, &l->tracks, &l->ntracks, sizeof *l->tracks, id) != 0) return NULL;
    return &l->tracks[l->ntracks - 1];
}

static int name_into(pw_live *l, pw_trace *t, uint32_t id)
{
    if (id >= l->nnames || !l->names[id]) return PW_OK;   /* attribution shows "#id" */
    if (id < t->nnames && t->names[id]) return PW_OK;
    return pw_trace_set_name(t, id, l->names[id]);
}

/* The slot of path's totals, or the empty slot where they would go (nslots > 0). */
static size_t total_slot(const pw_live *l, const char *path)
{
    size_t h = hash_str(path) & (l->nslots - 1);
    while (l->slots[h] && strcmp(l->totals[l->slots[h] - 1].path, path)) h = (h + 1) & (l->nslots - 1);
    return h;
}

static phase_total *total_find(const pw_live *l, const char *path)
{
    size_t slot = l->nslots ? l->slots[total_slot(l, path)] : 0;
    return slot ? &l->totals[slot - 1] : NULL;
}

/* A hash at most half full of the ntotals paths. */
static int reindex_totals(pw_live *l)
{
    size_t n = 64;
    while (n < 2 * (l->ntotals + 1)) n *= 2;
    size_t *slots = calloc(n, sizeof *slots);
    if (!slots) return PW_ERR_NOMEM;
    free(l->slots);
    l->slots = slots;
    l->nslots = n;
    for (size_t i = 0; l->totals && i < l->ntotals; i++) l->slots[total_slot(l, l->totals[i].path)] = i + 1;
    return PW_OK;
}

static void free_total(phase_total *t)
{
    free(t->path), free(t->label), free(t->energy_j), free(t->ci2_j), free(t->observed);
}

/* path's totals, made (zero) when the path is new; NULL when out of memory or past
 * max_series. */
static phase_total *total_of(pw_live *l, const char *path, pw_provenance prov)
{
    phase_total *t = total_find(l, path);
    if (t || l->ntotals >= l->cfg.max_series) return t;
    if (2 * (l->ntotals + 1) > l->nslots && reindex_totals(l) != PW_OK) return NULL;
    t = realloc(l->totals, (l->ntotals + 1) * sizeof *t);
    if (!t) return NULL;
    l->totals = t;
    t = &l->totals[l->ntotals];
    *t = (phase_total){.path = strdup(path), .label = label_of("phase", path),
                       .energy_j = calloc(l->ndom + 1, sizeof(double)),
                       .ci2_j = calloc(l->ndom + 1, sizeof(double)),
                       .observed = calloc(l->ndom + 1, 1), .prov = prov};
    if (!t->path || !t->label || !t->energy_j || !t->ci2_j || !t->observed) {
        free_total(t);
        return NULL;
    }
    l->slots[total_slot(l, path)] = ++l->ntotals;
    return t;
}

/* A new window: the description, each source's last reading, and the phases open now,
 * reopened at t_ns (no new calls: each path's reopenings are noted on its totals). */
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
    pthread_mutex_lock(&l->meta_lock);
    for (size_t i = 0; l->meta && i < l->meta->nmeta && rc == PW_OK; i++)
        rc = pw_trace_set_meta(t, l->meta->meta[i].key, l->meta->meta[i].value);
    pthread_mutex_unlock(&l->meta_lock);
    for (size_t s = 0; s < l->nsrc && rc == PW_OK; s++)
        if (l->last_t[s]) rc = pw_trace_add_sample(t, (uint32_t)s, l->last_t[s],
                                                   l->last_e + l->src_first[s], 0);
    for (size_t i = 0; i < l->ntracks && rc == PW_OK; i++) {
        track_state *tr = &l->tracks[i];
        char *path = strdup(""), unknown[16];   /* one join per level: linear in depth */
        for (int d = 0; path && d < tr->open.depth && rc == PW_OK; d++) {
            pw_event ev = {.t_ns = t_ns, .id = tr->open.ids[d], .type = PW_EV_BEGIN};
            rc = name_into(l, t, ev.id);
            if (rc == PW_OK) rc = pw_trace_add_event(t, tr->id, &ev);
            snprintf(unknown, sizeof unknown, "#%u", ev.id);
            char *longer = pw_path_join(path, ev.id < l->nnames && l->names[ev.id] ? l->names[ev.id] : unknown);
            free(path);
            path = longer;
            phase_total *total = path ? total_find(l, path) : NULL;
            if (total) total->reopened++;
        }
        if (!path) rc = PW_ERR_NOMEM;
        free(path);
    }
    pw_trace_free(l->win);
    l->win = t;
    l->win_start = t_ns;
    l->win_samples = l->win_events = 0;
    return rc;
}

/* Moves the events up to t_ns into the window (following each thread's stack); later ones
 * wait for the next window. */
static int take_events(pw_live *l, uint64_t t_ns)
{
    size_t keep = 0;
    int rc = PW_OK;
    for (size_t i = 0; i < l->npending; i++) {
        item *p = &l->pending[i];
        if (p->ev.t_ns > t_ns) {
            l->pending[keep++] = *p;
            continue;
        }
        track_state *tr = track_of(l, p->a);
        if (!tr) {
            rc = PW_ERR_NOMEM;
            continue;
        }
        pw_open_stack_follow(&tr->open, &p->ev);
        tr->active = 1;
        pw_event ev = p->ev;   /* one published late, after its window closed, lands at the start */
        if (ev.t_ns < l->win_start) ev.t_ns = l->win_start;
        int r = name_into(l, l->win, ev.id);
        if (r == PW_OK) r = pw_trace_add_event(l->win, p->a, &ev);
        if (r == PW_OK) l->win_events++;
        else rc = r;
    }
    l->npending = keep;
    return rc;
}

static void add_window(pw_live *l, const pw_attribution *a)
{
    pw_path_buf path = {0};
    for (size_t k = 1; k < a->nnodes; k++) {
        const pw_phase_node *n = &a->nodes[k];
        const char *p = pw_node_path(a, k, &path);
        phase_total *t = p ? total_of(l, p, n->provenance) : NULL;
        if (!t) {
            lose(l, PW_LIVE_LOST_SERIES, 1);
            continue;
        }
        for (size_t d = 0; d < l->ndom && d < a->ndomains; d++) {
            if (!isfinite(n->incl_j[d])) continue;
            t->energy_j[d] += n->incl_j[d], t->observed[d] = 1;
            /* windows' errors come from different cuts and readings: they add in quadrature */
            if (isfinite(n->incl_ci_j[d])) t->ci2_j[d] += n->incl_ci_j[d] * n->incl_ci_j[d];
        }
        t->calls += n->calls > t->reopened ? n->calls - t->reopened : 0;
        t->seconds += n->duration_s;
        t->tokens += n->tokens_incl;
        t->last_window = l->windows;
    }
    pw_path_buf_free(&path);
}

/* Phase paths no window has touched for idle_windows go: a dead series stops costing. */
static void prune_totals(pw_live *l)
{
    size_t keep = 0;
    for (size_t i = 0; i < l->ntotals; i++) {
        phase_total *t = &l->totals[i];
        t->reopened = 0;
        if (l->windows - t->last_window > l->cfg.idle_windows) free_total(t);
        else l->totals[keep++] = *t;
    }
    if (keep == l->ntotals) return;
    l->ntotals = keep;
    reindex_totals(l);   /* out of memory: the slots stay, the next total_of rebuilds */
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
    if (rc == PW_OK && a) add_window(l, a);
    pw_attribution_free(a);
    l->windows++;
    if (rc != PW_OK) l->failed_windows++;
    prune_totals(l);
    size_t keep = 0;   /* threads that neither tag nor hold a phase are forgotten */
    for (size_t i = 0; i < l->ntracks; i++) {
        track_state *tr = &l->tracks[i];
        if (tr->open.depth == 0 && !tr->active) continue;
        tr->active = 0;
        l->tracks[keep++] = *tr;
    }
    l->ntracks = keep;
    if (id_reindex(&l->track_by_id, l->tracks, sizeof *l->tracks, keep) != 0) rc = PW_ERR_NOMEM;
    int rc2 = open_window(l, t_ns);
    return rc != PW_OK ? rc : rc2;
}

static void take_sample(pw_live *l, const item *it)
{
    uint32_t source = it->a;
    uint64_t t_ns = it->ev.t_ns;
    const uint64_t *energy = it->blob;
    if (source >= l->nsrc) return;
    if (source == 0) {   /* a tick reads the sources in order: the first may close the window */
        uint64_t at = l->last_t[0] ? l->last_t[0] : t_ns;
        if (!l->win || (l->win_samples && (t_ns - l->win_start >= l->cfg.window_ns ||
                                           l->win_events >= l->cfg.window_events)))
            roll(l, at);
        else
            take_events(l, at);
    }
    size_t first = l->src_first[source];
    for (size_t d = first; d < first + l->src_count[source]; d++) {
        uint64_t e = energy[d - first], prev = l->last_e[d];
        if (l->last_t[source] && !(it->flags & PW_SAMPLE_GAP) && e >= prev && t_ns > l->last_t[source]) {
            l->domain_j[d] += (double)(e - prev) * 1e-6;
            l->power_w[d] = (double)(e - prev) * 1e3 / (double)(t_ns - l->last_t[source]);
        }
        l->last_e[d] = e;
    }
    if (l->win && pw_trace_add_sample(l->win, source, t_ns, energy, it->flags) == PW_OK)
        l->win_samples++;
    l->last_t[source] = t_ns;
}

static void take_name(pw_live *l, item *it)
{
    size_t bytes = strlen(it->blob) + 1;
    if (l->name_bytes + bytes > LIVE_NAME_BYTES) {   /* a phase named past it shows as #ID */
        lose(l, PW_LIVE_LOST_NAMES, 1);
        return;
    }
    if (it->a >= l->nnames) {
        size_t n = it->a + 1;
        char **names = realloc(l->names, n * sizeof *names);
        if (!names) return;
        memset(names + l->nnames, 0, (n - l->nnames) * sizeof *names);
        l->names = names;
        l->nnames = n;
    }
    if (!l->names[it->a]) l->names[it->a] = it->blob, it->blob = NULL, l->name_bytes += bytes;
}

static void free_item(item *it)
{
    if (it->kind != ITEM_EVENT) free(it->blob);
}

/* Releases the held readings older than the newest by LATE_NS (all of them with all set). */
static void release_readings(pw_live *l, int all)
{
    size_t n = 0;
    uint64_t newest = l->nlate ? l->late[l->nlate - 1].ev.t_ns : 0;
    while (n < l->nlate && (all || l->late[n].ev.t_ns + LATE_NS <= newest)) {
        take_sample(l, &l->late[n]);
        free_item(&l->late[n++]);
    }
    memmove(l->late, l->late + n, (l->nlate - n) * sizeof *l->late);
    l->nlate -= n;
}

static void hold_reading(pw_live *l, item *it)
{
    item *h = pw_grow(l->late, &l->late_cap, l->nlate + 1, sizeof *h);
    if (!h) {              /* no room to hold it: taken now, as before the hold */
        take_sample(l, it);
        return;
    }
    l->late = h;
    h[l->nlate++] = *it;
    it->blob = NULL;       /* held: the copy owns it */
    release_readings(l, 0);
}

static void take_item(pw_live *l, item *it)
{
    if (it->kind == ITEM_SAMPLE) hold_reading(l, it);
    else if (it->kind == ITEM_NAME) take_name(l, it);
    else {
        item *p = pw_grow(l->pending, &l->pending_cap, l->npending + 1, sizeof *p);
        if (p) l->pending = p, p[l->npending++] = *it;
        else lose(l, PW_LIVE_LOST_QUEUE, 1);
    }
    free_item(it);
}

/* Takes everything queued so far, in order. */
static void drain(pw_live *l)
{
    pthread_mutex_lock(&l->q.lock);
    item *batch = l->q.in;
    size_t n = l->q.n, cap = l->q.cap;
    l->q.in = l->batch, l->q.cap = l->batch_cap;
    atomic_fetch_add(&l->held, l->q.events);   /* held until taken, not forgotten */
    l->q.n = l->q.events = 0;
    pthread_mutex_unlock(&l->q.lock);
    /* on the way out (SIGTERM) the rest is dropped, not attributed: the agent ends promptly */
    int stopping = 0;
    for (size_t i = 0; i < n; i++) {
        if (!stopping && i % 4096 == 0) stopping = atomic_load(&l->stopping);
        if (stopping) free_item(&batch[i]);
        else take_item(l, &batch[i]);
    }
    l->batch = batch, l->batch_cap = cap;
    atomic_store(&l->held, l->npending + l->win_events);
}

/* ---- the page -------------------------------------------------------------------------------- */

static pw_provenance domain_provenance(const pw_live *l, size_t d)
{
    int estimated = (l->dom[d].flags | l->src[l->dom[d].source].flags) & PW_DOMAIN_ESTIMATED;
    return estimated ? PW_PROV_ESTIMATED : PW_PROV_MEASURED;
}

static void put_help(text *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_domains(text *b, const pw_live *l)
{
    static const char *const what[2][3] = {
        {"phasewatt_energy_joules_total", "counter", "Energy each power domain used since the "
         "agent started (parent names the domain that contains it)."},
        {"phasewatt_power_watts", "gauge", "Power of each domain over the last sample interval."}};
    for (int m = 0; m < 2; m++) {
        put_help(b, what[m][0], what[m][1], what[m][2]);
        for (size_t d = 0; d < l->ndom; d++)
            if (l->dom_label[d])
                put(b, "%s{%s,provenance=\"%s\"} %.9g\n", what[m][0], l->dom_label[d],
                    pw_provenance_name(domain_provenance(l, d)), m ? l->power_w[d] : l->domain_j[d]);
    }
}

static void put_phases(text *b, const pw_live *l)
{
    put_help(b, "phasewatt_phase_energy_joules_total", "counter", "Energy attributed to each "
             "phase path (inclusive of its sub-phases) per domain, as phasewatt report attributes it.");
    for (size_t i = 0; i < l->ntotals; i++)
        for (size_t d = 0; d < l->ndom; d++)
            if (l->totals[i].observed[d] && l->dom_label[d])
                put(b, "phasewatt_phase_energy_joules_total{%s,%s,provenance=\"%s\"} %.9g\n",
                    l->dom_label[d], l->totals[i].label, pw_provenance_name(l->totals[i].prov),
                    l->totals[i].energy_j[d]);
    put_help(b, "phasewatt_phase_energy_uncertainty_joules", "gauge", "95 % half-width of "
             "phasewatt_phase_energy_joules_total: each window's interval, combined in quadrature; "
             "absent where the figure is measured or no window stated one.");
    for (size_t i = 0; i < l->ntotals; i++)
        for (size_t d = 0; d < l->ndom; d++)
            if (l->totals[i].observed[d] && l->dom_label[d] && l->totals[i].ci2_j[d] > 0)
                put(b, "phasewatt_phase_energy_uncertainty_joules{%s,%s} %.9g\n", l->dom_label[d],
                    l->totals[i].label, sqrt(l->totals[i].ci2_j[d]));
    static const char *const what[3][3] = {
        {"phasewatt_phase_seconds_total", "counter", "Time each phase path was open (summed over threads)."},
        {"phasewatt_phase_tokens_total", "counter", "Tokens counted in each phase path."},
        {"phasewatt_phase_calls_total", "counter", "Times each phase path began."}};
    for (int m = 0; m < 3; m++) {
        put_help(b, what[m][0], what[m][1], what[m][2]);
        for (size_t i = 0; i < l->ntotals; i++) {
            const phase_total *t = &l->totals[i];
            put(b, "%s{%s,%s} %.9g\n", what[m][0], l->host_label, t->label,
                m == 0 ? t->seconds : m == 1 ? t->tokens : (double)t->calls);
        }
    }
}

static void put_health(text *b, pw_live *l)
{
    put_help(b, "phasewatt_lost_events_total", "counter", "Phase events dropped, by reason "
             "(names_cap counts names, series_cap a window's figures of a phase path).");
    for (int r = 0; r < PW_LIVE_LOST_COUNT; r++)
        put(b, "phasewatt_lost_events_total{%s,reason=\"%s\"} %llu\n", l->host_label,
            loss_names[r], (unsigned long long)pw_live_lost(l, (pw_live_loss)r));
    put_help(b, "phasewatt_phase_series", "gauge", "Phase paths with figures now.");
    put(b, "phasewatt_phase_series{%s} %zu\n", l->host_label, l->ntotals);
    put_help(b, "phasewatt_windows_total", "counter", "Windows attributed (failed: out of memory).");
    put(b, "phasewatt_windows_total{%s,result=\"ok\"} %llu\n", l->host_label,
        (unsigned long long)(l->windows - l->failed_windows));
    put(b, "phasewatt_windows_total{%s,result=\"failed\"} %llu\n", l->host_label,
        (unsigned long long)l->failed_windows);
}

/* Renders the page and swaps it in; the old one goes when its last scrape is sent. */
static void render(pw_live *l)
{
    text b = {0};
    put_domains(&b, l);
    put_phases(&b, l);
    put_health(&b, l);
    pw_live_page *p = b.failed ? NULL : malloc(sizeof *p + b.n + 1);
    if (p) {
        atomic_init(&p->refs, 1);
        p->len = b.n;
        memcpy(p->text, b.p ? b.p : "", b.n + 1);
        pthread_mutex_lock(&l->page_lock);
        pw_live_page *old = l->page;
        l->page = p;
        pthread_mutex_unlock(&l->page_lock);
        pw_live_page_release(old);
    }
    free(b.p);
    l->last_render_ns = pw_now_ns();
}

pw_live_page *pw_live_page_get(pw_live *l)
{
    pthread_mutex_lock(&l->page_lock);
    pw_live_page *p = l->page;
    if (p) atomic_fetch_add(&p->refs, 1);
    pthread_mutex_unlock(&l->page_lock);
    return p;
}

const char *pw_live_page_text(const pw_live_page *p, size_t *len)
{
    if (len) *len = p->len;
    return p->text;
}

void pw_live_page_release(pw_live_page *p)
{
    if (p && atomic_fetch_sub(&p->refs, 1) == 1) free(p);
}

char *pw_live_metrics(pw_live *l, size_t *len)
{
    pw_live_page *p = pw_live_page_get(l);
    char *copy = p ? malloc(p->len + 1) : NULL;
    if (copy) {
        memcpy(copy, p->text, p->len + 1);
        if (len) *len = p->len;
    }
    pw_live_page_release(p);
    return copy;
}

/* ---- the live thread and its lifetime ---------------------------------------------------- */

/* Takes the queue as it fills and re-renders the page at least every RENDER_EVERY_NS, so the
 * loss counters stay fresh even when nothing is admitted. */
static void *live_thread(void *arg)
{
    pw_live *l = arg;
    pthread_mutex_lock(&l->q.lock);
    while (!l->q.stop) {
        if (!l->q.n) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 50000000;
            if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
            pthread_cond_timedwait(&l->q.ready, &l->q.lock, &until);
        }
        pthread_mutex_unlock(&l->q.lock);
        pthread_mutex_lock(&l->lock);
        uint64_t windows = l->windows;
        drain(l);
        if (l->windows != windows || pw_now_ns() - l->last_render_ns >= RENDER_EVERY_NS) render(l);
        pthread_mutex_unlock(&l->lock);
        pthread_mutex_lock(&l->q.lock);
    }
    pthread_mutex_unlock(&l->q.lock);
    return NULL;
}

int pw_live_flush(pw_live *l)
{
    pthread_mutex_lock(&l->lock);
    drain(l);
    release_readings(l, 1);
    int rc = l->win && l->nsrc && l->last_t[0] ? roll(l, l->last_t[0]) : PW_OK;
    atomic_store(&l->held, l->npending + l->win_events);
    render(l);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

static void defaults(pw_live_config *c)
{
    if (!c->window_ns) c->window_ns = 5000000000ull;
    if (!c->max_events) c->max_events = 131072;
    if (!c->window_events) c->window_events = c->max_events / 4 < 32768 ? c->max_events / 4 : 32768;
    if (!c->max_series) c->max_series = 4096;
    if (!c->max_names) c->max_names = 65536;
    if (!c->max_tracks) c->max_tracks = 4096;
    if (!c->skew_ns) c->skew_ns = 1000000000ull;
    if (!c->idle_windows) c->idle_windows = 3600000000000ull / c->window_ns + 1;
}

pw_live *pw_live_new(const pw_live_config *cfg)
{
    pw_live *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->cfg = *cfg;
    defaults(&l->cfg);
    l->cfg.host = NULL;   /* only its label is kept */
    l->host_label = label_of("host", cfg->host ? cfg->host : "");
    int ok = l->host_label && pthread_mutex_init(&l->lock, NULL) == 0;
    ok = ok && pthread_mutex_init(&l->page_lock, NULL) == 0;
    ok = ok && pthread_mutex_init(&l->meta_lock, NULL) == 0;
    ok = ok && pthread_mutex_init(&l->q.lock, NULL) == 0 && pthread_cond_init(&l->q.ready, NULL) == 0;
    if (ok) render(l);   /* a scrape before the first reading gets the metric families */
    if (ok && !l->cfg.manual) ok = pthread_create(&l->thread, NULL, live_thread, l) == 0, l->threaded = ok;
    if (!ok) {
        pw_live_free(l);
        return NULL;
    }
    return l;
}

int pw_live_stop(pw_live *l, uint64_t wait_ns)
{
    if (!l->threaded) return 0;
    atomic_store(&l->stopping, 1);
    pthread_mutex_lock(&l->q.lock);
    l->q.stop = 1;
    pthread_cond_signal(&l->q.ready);
    pthread_mutex_unlock(&l->q.lock);
    if (pw_join_within(l->thread, wait_ns) != 0) return -1;
    l->threaded = 0;
    return 0;
}

void pw_live_abandon(pw_live *l)
{
    if (l->threaded) pthread_detach(l->thread);
    l->threaded = 0;
}

void pw_live_free(pw_live *l)
{
    if (!l) return;
    if (pw_live_stop(l, 0) != 0) pthread_join(l->thread, NULL);
    for (size_t i = 0; i < l->nsrc; i++) free(l->src[i].name);
    for (size_t i = 0; i < l->ndom; i++) free(l->dom[i].name), free(l->dom_label[i]);
    for (size_t i = 0; i < l->nnames; i++) free(l->names[i]);
    for (size_t i = 0; i < l->ntotals; i++) free_total(&l->totals[i]);
    for (size_t i = 0; i < l->q.n; i++) free_item(&l->q.in[i]);
    for (size_t i = 0; i < l->nlate; i++) free_item(&l->late[i]);
    free(l->late);
    free(l->q.in), free(l->q.tracks), free(l->q.by_id.slots), free(l->batch);
    free(l->src), free(l->dom), free(l->src_first), free(l->dom_label), free(l->names);
    free(l->tracks), free(l->track_by_id.slots), free(l->totals), free(l->slots);
    free(l->last_t), free(l->last_e), free(l->domain_j), free(l->pending), free(l->host_label);
    pw_trace_free(l->win);
    pw_trace_free(l->meta);
    pw_live_page_release(l->page);
    pthread_mutex_destroy(&l->lock);
    pthread_mutex_destroy(&l->page_lock);
    pthread_mutex_destroy(&l->meta_lock);
    pthread_mutex_destroy(&l->q.lock);
    pthread_cond_destroy(&l->q.ready);
    free(l);
}

int pw_live_phase_totals(pw_live *l, const char *path, pw_live_phase *out)
{
    pthread_mutex_lock(&l->lock);
    const phase_total *t = total_find(l, path);
    if (t) {
        *out = (pw_live_phase){0, t->seconds, t->tokens, t->calls, pw_provenance_name(t->prov), 0};
        double ci2 = 0;
        for (size_t d = 0; d < l->ndom; d++)
            if (l->dom[d].parent < 0 && t->observed[d]) out->energy_j += t->energy_j[d], ci2 += t->ci2_j[d];
        out->ci_j = sqrt(ci2);
    }
    pthread_mutex_unlock(&l->lock);
    return t ? PW_OK : PW_ERR_NOT_FOUND;
}

size_t pw_live_series(pw_live *l)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->ntotals;
    pthread_mutex_unlock(&l->lock);
    return n;
}
