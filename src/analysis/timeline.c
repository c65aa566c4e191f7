/* timeline.c — reads every track's events into the phase tree and per-track segments, then
 * cuts time into the elementary pieces that attribution splits energy over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/timeline.h"
#include "base/hash.h"

#define NONE UINT32_MAX

typedef struct frame {
    uint32_t node, id;
    uint64_t t0_ns;
} frame;

/* One call: its node and span, for the time each node had at least one call open. */
typedef struct call_span {
    uint32_t node;
    uint64_t t0_ns, t1_ns;
} call_span;

typedef struct builder {
    const pw_trace *t;
    pw_attribution *a;
    size_t nodes_cap, segs_cap;
    call_span *calls;           /* every call closed so far, of every track */
    size_t ncalls, calls_cap;
    uint32_t *slots;            /* open addressing: (parent, name id) -> node index + 1 */
    size_t nslots;
    frame *stack;               /* the open phases of the track being read */
    size_t depth, stack_cap;
    uint32_t track;
    uint32_t innermost;         /* the track's innermost node, NONE when nothing is open */
    uint64_t since_ns;          /* when it became innermost */
    uint32_t tokens_id;         /* the "tokens" counter's name id, 0 if never named */
    uint32_t devices_id;        /* PW_DEVICES_COUNTER's name id, 0 if never named */
} builder;

/* Returns items grown to hold need elements (NULL when out of memory; items stay valid). */
static void *grow(void *items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return items;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    void *p = realloc(items, n * size);
    if (p) *cap = n;
    return p;
}

static uint32_t find_name(const pw_trace *t, const char *name)
{
    for (size_t id = 1; id < t->nnames; id++)
        if (t->names[id] && strcmp(t->names[id], name) == 0) return (uint32_t)id;
    return 0;
}

/* ---- the phase tree ------------------------------------------------------------------- */

static size_t slot_hash(uint32_t parent, uint32_t id)
{
    return (size_t)pw_hash_u64((uint64_t)parent << 32 | id);   /* seeded: ids come from files */
}

static uint32_t *slot_for(const builder *b, uint32_t parent, uint32_t id)
{
    size_t mask = b->nslots - 1, i = slot_hash(parent, id) & mask;
    for (; b->slots[i]; i = (i + 1) & mask) {
        const pw_phase_node *n = &b->a->nodes[b->slots[i] - 1];
        if (n->parent == (int32_t)parent && n->name_id == id) break;
    }
    return &b->slots[i];
}

/* Keeps the table at most half full. The root is never looked up, so it is not in it. */
static int rehash(builder *b)
{
    size_t n = b->nslots ? b->nslots * 2 : 64;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots) return PW_ERR_NOMEM;
    free(b->slots);
    b->slots = slots;
    b->nslots = n;
    for (size_t i = 1; i < b->a->nnodes; i++) {
        const pw_phase_node *node = &b->a->nodes[i];
        *slot_for(b, (uint32_t)node->parent, node->name_id) = (uint32_t)i + 1;
    }
    return PW_OK;
}

/* A new node under parent (NONE: the root). An id with no name shows as "#id". */
static int add_node(builder *b, uint32_t parent, uint32_t id, uint32_t *out)
{
    pw_attribution *a = b->a;
    pw_phase_node *nodes = grow(a->nodes, &b->nodes_cap, a->nnodes + 1, sizeof *nodes);
    if (!nodes) return PW_ERR_NOMEM;
    a->nodes = nodes;
    const char *name = parent == NONE ? "" : pw_names_intern(a, b->t, id);
    if (!name) return PW_ERR_NOMEM;
    nodes[a->nnodes] = (pw_phase_node){
        .name_id = id,
        .parent = parent == NONE ? -1 : (int32_t)parent,
        .name = name,
        .depth = parent == NONE ? 0 : nodes[parent].depth + 1,
    };
    *out = (uint32_t)a->nnodes++;
    return PW_OK;
}

static int child(builder *b, uint32_t parent, uint32_t id, uint32_t *out)
{
    if ((!b->slots || (b->a->nnodes + 1) * 2 > b->nslots) && rehash(b) != PW_OK) return PW_ERR_NOMEM;
    uint32_t *slot = slot_for(b, parent, id);
    if (*slot) {
        *out = *slot - 1;
        return PW_OK;
    }
    int rc = add_node(b, parent, id, out);
    if (rc == PW_OK) *slot = *out + 1;
    return rc;
}

/* ---- one track ------------------------------------------------------------------------ */

static int add_segment(builder *b, uint64_t t0, uint64_t t1, uint32_t node)
{
    pw_attribution *a = b->a;
    if (t1 <= t0) return PW_OK;
    pw_segment *last = a->nsegments ? &a->segments[a->nsegments - 1] : NULL;
    if (last && last->track == b->track && last->node == node && last->t1_ns == t0) {
        last->t1_ns = t1;    /* a zero-length child in between: one stretch, not two */
        return PW_OK;
    }
    pw_segment *segs = grow(a->segments, &b->segs_cap, a->nsegments + 1, sizeof *segs);
    if (!segs) return PW_ERR_NOMEM;
    a->segments = segs;
    segs[a->nsegments++] = (pw_segment){t0, t1, b->track, node};
    return PW_OK;
}

/* The stack changed at t: if the innermost phase did too, its running segment ends. */
static int settle(builder *b, uint64_t t)
{
    uint32_t now = b->depth ? b->stack[b->depth - 1].node : NONE;
    if (now == b->innermost) return PW_OK;
    int rc = b->innermost == NONE ? PW_OK : add_segment(b, b->since_ns, t, b->innermost);
    b->innermost = now;
    b->since_ns = t;
    return rc;
}

static int pop(builder *b, uint64_t t)
{
    const frame *f = &b->stack[--b->depth];
    b->a->nodes[f->node].duration_s += (double)(t - f->t0_ns) * 1e-9;
    call_span *c = grow(b->calls, &b->calls_cap, b->ncalls + 1, sizeof *c);
    if (!c) return PW_ERR_NOMEM;
    b->calls = c;
    c[b->ncalls++] = (call_span){f->node, f->t0_ns, t};
    return PW_OK;
}

static int on_begin(builder *b, uint32_t id, uint64_t t)
{
    uint32_t parent = b->depth ? b->stack[b->depth - 1].node : 0, node;
    int rc = child(b, parent, id, &node);
    if (rc != PW_OK) return rc;
    frame *stack = grow(b->stack, &b->stack_cap, b->depth + 1, sizeof *stack);
    if (!stack) return PW_ERR_NOMEM;
    b->stack = stack;
    stack[b->depth++] = (frame){node, id, t};
    b->a->nodes[node].calls++;
    return settle(b, t);
}

/* An END closes the innermost open phase with its id, and any opened inside it since; one
 * that matches nothing open is counted and ignored. */
static int on_end(builder *b, uint32_t id, uint64_t t)
{
    size_t k = b->depth;
    while (k > 0 && b->stack[k - 1].id != id) k--;
    if (k == 0) {
        b->a->unbalanced++;
        return PW_OK;
    }
    int rc = PW_OK;
    while (rc == PW_OK && b->depth >= k) rc = pop(b, t);
    return rc == PW_OK ? settle(b, t) : rc;
}

static void on_count(builder *b, const pw_event *ev)
{
    if (b->devices_id && ev->id == b->devices_id && b->a->track_devices) {   /* the last said wins */
        b->a->track_devices[b->track] = (uint8_t)(ev->value & PW_DEVICE_ALL);
        return;
    }
    if (!b->tokens_id || ev->id != b->tokens_id) return;
    uint32_t node = b->depth ? b->stack[b->depth - 1].node : 0;
    b->a->nodes[node].tokens_self += (double)ev->value;
}

/* Events are in time order within a track; one that steps back is taken as happening at
 * the previous event's time rather than reordering the track. */
static int read_track(builder *b, uint32_t track, uint64_t end_ns)
{
    const pw_track *tr = &b->t->tracks[track];
    b->track = track;
    b->depth = 0;
    b->innermost = NONE;
    uint64_t now = 0;
    int rc = PW_OK;
    for (size_t i = 0; i < tr->n && rc == PW_OK; i++) {
        const pw_event *ev = &tr->events[i];
        if (ev->t_ns > now) now = ev->t_ns;
        if (ev->type == PW_EV_BEGIN) rc = on_begin(b, ev->id, now);
        else if (ev->type == PW_EV_END) rc = on_end(b, ev->id, now);
        else if (ev->type == PW_EV_COUNT) on_count(b, ev);
    }
    if (end_ns < now) end_ns = now;
    while (rc == PW_OK && b->depth) {
        rc = pop(b, end_ns);
        b->a->unclosed++;
    }
    return rc == PW_OK ? settle(b, end_ns) : rc;
}

static int cmp_call(const void *x, const void *y)
{
    const call_span *a = x, *b = y;
    if (a->node != b->node) return a->node < b->node ? -1 : 1;
    return (a->t0_ns > b->t0_ns) - (a->t0_ns < b->t0_ns);
}

/* Each node's wall time: the union of its calls' spans over every track, which is its
 * summed time where no two of its calls overlapped (then kept exactly that). */
static void wall_times(builder *b)
{
    if (!b->ncalls) return;
    qsort(b->calls, b->ncalls, sizeof *b->calls, cmp_call);
    for (size_t i = 0; i < b->ncalls;) {
        uint32_t node = b->calls[i].node;
        uint64_t wall = 0, summed = 0, from = b->calls[i].t0_ns, to = b->calls[i].t1_ns;
        for (; i < b->ncalls && b->calls[i].node == node; i++) {
            const call_span *c = &b->calls[i];
            summed += c->t1_ns - c->t0_ns;
            if (c->t0_ns > to) wall += to - from, from = c->t0_ns, to = c->t1_ns;
            else if (c->t1_ns > to) to = c->t1_ns;
        }
        wall += to - from;
        pw_phase_node *n = &b->a->nodes[node];
        n->wall_s = wall == summed ? n->duration_s : (double)wall * 1e-9;
    }
}

/* Reorders the nodes depth-first (siblings stay in first-seen order), so a renderer shows
 * the tree by walking the array. Creation order already puts parents first. */
static int preorder(pw_attribution *a)
{
    size_t n = a->nnodes;
    /* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI): the root node is always there, n >= 1 */
    uint32_t *link = malloc(4 * n * sizeof *link);
    pw_phase_node *sorted = malloc(n * sizeof *sorted);
    if (!link || !sorted) {
        free(link);
        free(sorted);
        return PW_ERR_NOMEM;
    }
    uint32_t *first = link, *next = link + n, *last = link + 2 * n, *rank = link + 3 * n;
    for (size_t i = 0; i < n; i++) first[i] = next[i] = last[i] = NONE;
    for (uint32_t i = 1; i < n; i++) {
        uint32_t p = (uint32_t)a->nodes[i].parent;
        if (first[p] == NONE) first[p] = i;
        else next[last[p]] = i;
        last[p] = i;
    }
    uint32_t v = 0, k = 0;
    while (v != NONE) {
        rank[v] = k;
        sorted[k++] = a->nodes[v];
        if (first[v] != NONE) {
            v = first[v];
            continue;
        }
        while (v != NONE && next[v] == NONE)
            v = a->nodes[v].parent < 0 ? NONE : (uint32_t)a->nodes[v].parent;
        if (v != NONE) v = next[v];
    }
    for (size_t i = 1; i < n; i++) sorted[i].parent = (int32_t)rank[sorted[i].parent];
    for (size_t i = 0; i < a->nsegments; i++) a->segments[i].node = rank[a->segments[i].node];
    free(a->nodes);
    a->nodes = sorted;
    free(link);
    return PW_OK;
}

int pw_timeline_tree(const pw_trace *t, uint64_t end_ns, pw_attribution *a)
{
    builder b = {.t = t, .a = a, .tokens_id = find_name(t, "tokens"),
                 .devices_id = find_name(t, PW_DEVICES_COUNTER)};
    uint32_t root;
    int rc = add_node(&b, NONE, 0, &root);
    if (rc == PW_OK && b.devices_id && !(a->track_devices = calloc(t->ntracks + 1, 1))) rc = PW_ERR_NOMEM;
    for (uint32_t i = 0; rc == PW_OK && i < t->ntracks; i++) rc = read_track(&b, i, end_ns);
    if (rc == PW_OK) wall_times(&b);
    if (rc == PW_OK) rc = preorder(a);
    free(b.slots);
    free(b.stack);
    free(b.calls);
    return rc;
}

/* ---- the elementary pieces ------------------------------------------------------------ */

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static int is_sorted(const uint64_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] < v[i - 1]) return 0;
    return 1;
}

static uint32_t cut_index(const pw_pieces *p, uint64_t t)
{
    size_t lo = 0, hi = p->ncuts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->cut[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return (uint32_t)lo;
}

int pw_pieces_build(const pw_attribution *a, pw_pieces *out)
{
    memset(out, 0, sizeof *out);
    size_t ns = a->nsegments;
    if (ns == 0) return PW_OK;
    out->cut = malloc(2 * ns * sizeof *out->cut);
    out->seg_cut = malloc(2 * ns * sizeof *out->seg_cut);
    if (!out->cut || !out->seg_cut) goto nomem;
    for (size_t i = 0; i < ns; i++) {
        out->cut[2 * i] = a->segments[i].t0_ns;
        out->cut[2 * i + 1] = a->segments[i].t1_ns;
    }
    if (!is_sorted(out->cut, 2 * ns)) qsort(out->cut, 2 * ns, sizeof *out->cut, cmp_u64);
    size_t m = 1;
    for (size_t i = 1; i < 2 * ns; i++)
        if (out->cut[i] != out->cut[m - 1]) out->cut[m++] = out->cut[i];
    out->ncuts = m;
    /* open[p] is +1 where a segment starts and -1 where it ends, summed: unsigned
     * wraparound makes the running sum exact. One spare entry takes the last ends. */
    out->open = calloc(m, sizeof *out->open);
    if (!out->open) goto nomem;
    for (size_t i = 0; i < ns; i++) {
        uint32_t from = cut_index(out, a->segments[i].t0_ns);
        uint32_t to = cut_index(out, a->segments[i].t1_ns);
        out->seg_cut[2 * i] = from;
        out->seg_cut[2 * i + 1] = to;
        out->open[from]++;
        out->open[to]--;
    }
    for (size_t p = 1; p < m; p++) out->open[p] += out->open[p - 1];
    return PW_OK;
nomem:
    pw_pieces_free(out);
    return PW_ERR_NOMEM;
}

size_t pw_pieces_seek(const pw_pieces *pc, size_t *at, uint64_t t)
{
    size_t n = pc->ncuts ? pc->ncuts - 1 : 0;
    const uint64_t *cut = pc->cut;
    if (*at > n || (n && cut[*at] > t)) {   /* time stepped back: search for it */
        size_t lo = 0, hi = *at < n ? *at : n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cut[mid + 1] <= t) lo = mid + 1;
            else hi = mid;
        }
        *at = lo;
    }
    while (*at < n && cut[*at + 1] <= t) (*at)++;
    return *at;
}

void pw_pieces_free(pw_pieces *p)
{
    free(p->cut);
    free(p->open);
    free(p->seg_cut);
    memset(p, 0, sizeof *p);
}
