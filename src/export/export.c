/* export.c — what the exporters share: the run's time span, interval power, track labels and
 * counter totals. */
#include <stdlib.h>

#include "export/export.h"

uint64_t pw_export_origin(const pw_trace *t)
{
    uint64_t origin = UINT64_MAX;
    for (size_t s = 0; s < t->nsources; s++)
        if (t->series[s].n && t->series[s].t_ns[0] < origin) origin = t->series[s].t_ns[0];
    for (size_t k = 0; k < t->ntracks; k++)
        if (t->tracks[k].n && t->tracks[k].events[0].t_ns < origin)
            origin = t->tracks[k].events[0].t_ns;
    return origin == UINT64_MAX ? 0 : origin;
}

int pw_export_interval_watts(const pw_trace *t, size_t s, size_t i, double *watts)
{
    const pw_series *se = &t->series[s];
    uint64_t t0 = se->t_ns[i - 1], t1 = se->t_ns[i];
    int gap = (se->flags && (se->flags[i] & PW_SAMPLE_GAP)) || t1 <= t0;
    for (size_t k = 0; k < se->ndomains; k++) {
        const uint64_t *e0 = &se->energy_uj[(i - 1) * se->ndomains];
        const uint64_t *e1 = &se->energy_uj[i * se->ndomains];
        /* cumulative energy never decreases once unwrapped; a reset reads as 0 W */
        watts[k] = gap || e1[k] < e0[k] ? 0.0 : (double)(e1[k] - e0[k]) / (double)(t1 - t0) * 1e3;
    }
    return !gap;
}

void pw_export_track_label(const pw_track *tr, char *out, size_t cap)
{
    if (tr->name && *tr->name) snprintf(out, cap, "%.63s", tr->name);
    else snprintf(out, cap, "pid %u tid %u", tr->pid, tr->tid);
}

uint64_t pw_export_end(const pw_trace *t, const pw_attribution *a)
{
    uint64_t end_ns = a->last_ns;
    for (size_t k = 0; k < t->ntracks; k++)
        if (t->tracks[k].n && t->tracks[k].events[t->tracks[k].n - 1].t_ns > end_ns)
            end_ns = t->tracks[k].events[t->tracks[k].n - 1].t_ns;
    return end_ns;
}

int pw_counter_table_init(pw_counter_table *c)
{
    c->mask = 15;
    c->count = 0;
    c->slots = calloc(c->mask + 1, sizeof *c->slots);
    return c->slots ? PW_OK : PW_ERR_NOMEM;
}

static int64_t saturating_add(int64_t a, int64_t b)
{
    int64_t sum;
    if (!__builtin_add_overflow(a, b, &sum)) return sum;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

static size_t slot_of(const pw_counter_table *c, uint32_t id)
{
    size_t i = (size_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & c->mask;
    while (c->slots[i].used && c->slots[i].id != id) i = (i + 1) & c->mask;
    return i;
}

/* Doubles the table once it is half full, so probes stay short; amortised linear. */
static int grow(pw_counter_table *c)
{
    pw_counter_table bigger = {calloc(2 * (c->mask + 1), sizeof *c->slots), 2 * c->mask + 1, c->count};
    if (!bigger.slots) return PW_ERR_NOMEM;
    for (size_t i = 0; i <= c->mask; i++)
        if (c->slots[i].used) bigger.slots[slot_of(&bigger, c->slots[i].id)] = c->slots[i];
    free(c->slots);
    *c = bigger;
    return PW_OK;
}

pw_counter_slot *pw_counter_table_add(pw_counter_table *c, uint32_t id, int64_t value, int *first)
{
    pw_counter_slot *s = &c->slots[slot_of(c, id)];
    *first = !s->used;
    if (!s->used) {
        if (2 * (c->count + 1) > c->mask + 1) {
            if (grow(c) != PW_OK) return NULL;
            s = &c->slots[slot_of(c, id)];
        }
        *s = (pw_counter_slot){id, 1, 0};
        c->count++;
    }
    s->total = saturating_add(s->total, value);
    return s;
}

void pw_counter_table_free(pw_counter_table *c)
{
    free(c->slots);
    c->slots = NULL;
}

typedef struct open_phase {
    uint32_t id;
    uint64_t t0;
} open_phase;

int pw_export_walk_track(const pw_track *tr, uint64_t end_ns, const pw_track_visitor *v,
                         void *ctx)
{
    open_phase stack[PW_MAX_DEPTH];
    size_t depth = 0;
    uint64_t deeper = 0;           /* BEGINs past PW_MAX_DEPTH still open */
    pw_counter_table totals;
    if (pw_counter_table_init(&totals) != PW_OK) return PW_ERR_NOMEM;
    for (size_t e = 0; e < tr->n; e++) {
        const pw_event *ev = &tr->events[e];
        int first;
        if (ev->type == PW_EV_BEGIN && depth == PW_MAX_DEPTH) {
            deeper++;
        } else if (ev->type == PW_EV_BEGIN) {
            stack[depth++] = (open_phase){ev->id, ev->t_ns};
            if (v->begin) v->begin(ctx, ev);
        } else if (ev->type == PW_EV_END && deeper) {
            deeper--;
        } else if (ev->type == PW_EV_END && depth > 0) {
            depth--;
            if (v->end) v->end(ctx, stack[depth].id, stack[depth].t0, ev->t_ns);
        } else if (ev->type == PW_EV_MARK && v->mark) {
            v->mark(ctx, ev);
        } else if (ev->type == PW_EV_COUNT) {
            const pw_counter_slot *c = pw_counter_table_add(&totals, ev->id, ev->value, &first);
            if (!c) {
                pw_counter_table_free(&totals);
                return PW_ERR_NOMEM;
            }
            if (v->count) v->count(ctx, ev, c, first);
        }
    }
    for (; depth > 0; depth--)
        if (v->end) v->end(ctx, stack[depth - 1].id, stack[depth - 1].t0, end_ns);
    pw_counter_table_free(&totals);
    return PW_OK;
}
