/* recover.c — pw_trace_recover: a torn or damaged trace, as read, made whole (the phases
 * still open ended, what was done said in recovered.* metadata). */
#include <stdio.h>

#include "trace/trace.h"

/* Ends every phase still open on each track at the trace's last timestamp. */
static int close_open_phases(pw_trace *t, uint64_t *closed)
{
    *closed = 0;
    for (size_t i = 0; i < t->ntracks; i++) {
        pw_open_stack open = {0};
        const pw_track *tr = &t->tracks[i];
        for (size_t e = 0; e < tr->n; e++) pw_open_stack_follow(&open, &tr->events[e]);
        uint32_t id = tr->id;   /* tr moves when an event grows the tracks */
        while (open.depth > 0) {
            pw_event end = {.t_ns = t->end_ns, .id = open.ids[--open.depth], .type = PW_EV_END};
            int rc = pw_trace_add_event(t, id, &end);
            if (rc != PW_OK) return rc;
            (*closed)++;
        }
    }
    return PW_OK;
}

static int note(pw_trace *t, const char *key, unsigned long long v)
{
    char text[32];
    snprintf(text, sizeof text, "%llu", v);
    return pw_trace_set_meta(t, key, text);
}

int pw_trace_recover(pw_trace *t, const char *from, pw_recovery *out)
{
    if (!t || !from || !out || out->size < sizeof *out) return PW_ERR_INVALID;
    size_t size = out->size;
    *out = (pw_recovery){.size = size};
    int rc = close_open_phases(t, &out->closed_phases);
    if (rc == PW_OK) rc = pw_trace_set_meta(t, "recovered.from", from);
    if (rc == PW_OK) rc = note(t, "recovered.torn", (unsigned long long)t->health.torn);
    if (rc == PW_OK) rc = note(t, "recovered.corrupt_chunks", t->health.corrupt_chunks);
    if (rc == PW_OK) rc = note(t, "recovered.closed_phases", out->closed_phases);
    for (size_t i = 0; i < t->nsources; i++) out->samples += t->series[i].n;
    for (size_t i = 0; i < t->ntracks; i++) out->events += t->tracks[i].n;
    out->duration_s = t->end_ns > t->start_ns ? (double)(t->end_ns - t->start_ns) * 1e-9 : 0.0;
    return rc;
}
