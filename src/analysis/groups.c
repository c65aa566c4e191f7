/* groups.c — attribution of a merged trace: each host group's sources are attributed over
 * that group's tracks alone, and the figures are put together on the whole trace's tree.
 *
 * Why not one pass over the whole: the concurrency rule splits a piece of time equally
 * among every track with a phase open, which would hand host A's energy to host B's phases.
 * Attributing each group as its own trace (a "view") gives every host exactly the figures
 * it would have alone, with whichever method was asked for (disaggregation included), so a
 * per-phase figure of the merged trace is the sum of the hosts' figures. Each domain belongs
 * to exactly one group, so its column of figures comes from one view and nothing is added
 * twice. What is not per domain (the phase tree, calls, durations, segments, peaks of the
 * total power across hosts) comes from one interval-exact pass over the whole trace.
 *
 * Group 0 (sources or tracks no input claims) means "shared by all": group-0 sources are
 * attributed over every track, and group-0 tracks join every group's view. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "trace/trace.h"
#include "trace/merge.h"

/* ---- one group as a trace of its own ---------------------------------------------------- */

/* Copies source s, its domains (old2new maps domain indices; a parent outside the view
 * becomes top-level) and its readings into v. */
static int view_source(const pw_trace *t, size_t s, pw_trace *v, int32_t *old2new)
{
    const pw_series *se = &t->series[s];
    uint32_t ns = (uint32_t)v->nsources;
    int rc = pw_trace_add_source(v, t->sources[s].name, t->sources[s].period_ns,
                                 t->sources[s].flags);
    for (size_t k = 0; k < se->ndomains && rc == PW_OK; k++) {
        size_t d = se->first_domain + k;
        const pw_domain_desc *dd = &t->domains[d];
        int32_t parent = dd->parent >= 0 ? old2new[dd->parent] : -1;
        old2new[d] = (int32_t)v->ndomains;
        rc = pw_trace_add_domain(v, ns, dd->name, dd->kind, parent, dd->flags);
    }
    if (rc == PW_OK && se->n) rc = pw_series_reserve(&v->series[ns], se->n);
    for (size_t r = 0; r < se->n && rc == PW_OK; r++)
        rc = pw_trace_add_sample(v, ns, se->t_ns[r], se->energy_uj + r * se->ndomains,
                                 se->flags ? se->flags[r] : 0);
    return rc;
}

/* Copies a track and the names its events use (only those: a view costs what its tracks
 * hold, however large the name table). */
static int view_track(const pw_trace *t, const pw_track *src, pw_trace *v)
{
    pw_track *tr = pw_trace_track(v, src->id);
    if (!tr || pw_track_reserve(tr, src->n)) return PW_ERR_NOMEM;
    tr->pid = src->pid;
    tr->tid = src->tid;
    tr->lost = src->lost;
    if (src->n) memcpy(tr->events, src->events, src->n * sizeof *src->events);
    tr->n = src->n;
    int rc = PW_OK;
    for (size_t i = 0; i < src->n && rc == PW_OK; i++) {
        uint32_t id = src->events[i].id;
        const char *name = pw_trace_name(t, id);
        if (name && !pw_trace_name(v, id)) rc = pw_trace_set_name(v, id, name);
    }
    return rc;
}

/* The trace group g would be alone: its sources (map[new domain] = old domain), its tracks
 * and the shared ones with their names, and the metadata without the merge keys (so the view is
 * not grouped again). The header's times stay: open phases close where the whole's do. */
static int make_view(const pw_trace *t, const pw_groups *gr, uint32_t g, uint32_t *map,
                     pw_trace **out)
{
    pw_trace *v = pw_trace_new();
    int32_t *old2new = malloc((t->ndomains + 1) * sizeof *old2new);
    int rc = v && old2new ? PW_OK : PW_ERR_NOMEM;
    for (size_t d = 0; d < t->ndomains && old2new; d++) old2new[d] = -1;
    if (rc == PW_OK) {
        v->start_ns = t->start_ns;
        v->end_ns = t->end_ns;
        v->realtime_offset_ns = t->realtime_offset_ns;
        v->missed_deadlines = t->missed_deadlines;
        v->health = t->health;
    }
    for (size_t s = 0; s < t->nsources && rc == PW_OK; s++)
        if (gr->source[s] == g) rc = view_source(t, s, v, old2new);
    for (size_t d = 0; d < t->ndomains && rc == PW_OK; d++)
        if (old2new[d] >= 0) map[old2new[d]] = (uint32_t)d;
    for (size_t k = 0; k < t->ntracks && rc == PW_OK; k++)
        if (g == 0 || gr->track[k] == g || gr->track[k] == 0)
            rc = view_track(t, &t->tracks[k], v);
    for (size_t k = 0; k < t->nmeta && rc == PW_OK; k++)
        if (strncmp(t->meta[k].key, "merge.", 6) != 0)
            rc = pw_trace_set_meta(v, t->meta[k].key, t->meta[k].value);
    free(old2new);
    if (rc != PW_OK) {
        pw_trace_free(v);
        return rc;
    }
    *out = v;
    return PW_OK;
}

/* ---- putting the views' figures together ------------------------------------------------- */

static void clear_figures(pw_attribution *a)
{
    size_t nd = a->ndomains;
    for (size_t i = 0; i < a->nnodes; i++) {
        pw_phase_node *n = &a->nodes[i];
        for (size_t d = 0; d < nd; d++) {
            n->self_j[d] = 0;
            n->self_ci_j[d] = n->incl_ci_j[d] = NAN;
        }
        n->provenance = PW_PROV_MEASURED;
    }
}

/* The whole's node of each of view b's nodes: the child of its parent's with its name id (a
 * view keeps the whole's name ids). The root when none (cannot happen: a view's tracks are
 * the whole's, so its phases are too; the root keeps the energy in the totals regardless). */
static int match_nodes(const pw_node_index *ix, const pw_attribution *b, uint32_t **out)
{
    uint32_t *at = malloc((b->nnodes + 1) * sizeof *at);
    if (!at) return PW_ERR_NOMEM;
    at[0] = 0;
    for (size_t k = 1; k < b->nnodes; k++) {   /* depth-first: parents come first */
        int hit = pw_node_index_child(ix, at[b->nodes[k].parent], b->nodes[k].name_id);
        at[k] = hit < 0 ? 0 : (uint32_t)hit;
    }
    *out = at;
    return PW_OK;
}

/* Moves view b's per-domain figures into the whole's columns map[...]. */
static int take_figures(pw_attribution *a, const pw_node_index *ix, const pw_attribution *b,
                        const uint32_t *map)
{
    uint32_t *node_at;
    if (match_nodes(ix, b, &node_at) != PW_OK) return PW_ERR_NOMEM;
    for (size_t d = 0; d < b->ndomains; d++) {
        a->domain_j[map[d]] = b->domain_j[d];
        a->domain_provenance[map[d]] = b->domain_provenance[d];
    }
    for (size_t k = 0; k < b->nnodes; k++) {
        const pw_phase_node *from = &b->nodes[k];
        pw_phase_node *to = &a->nodes[node_at[k]];
        for (size_t d = 0; d < b->ndomains; d++) {
            to->self_j[map[d]] += from->self_j[d];
            to->self_ci_j[map[d]] = from->self_ci_j[d];
            to->incl_ci_j[map[d]] = from->incl_ci_j[d];
        }
        if (from->provenance > to->provenance) to->provenance = from->provenance;   /* least direct */
    }
    free(node_at);
    return PW_OK;
}

/* Attributes group g's view and takes its figures; a group without sources has none. */
static int attribute_group(const pw_trace *t, const pw_groups *gr, uint32_t g, pw_method m,
                           pw_attribution *a, const pw_node_index *ix)
{
    size_t nsrc = 0;
    for (size_t s = 0; s < t->nsources; s++) nsrc += gr->source[s] == g;
    if (!nsrc) return PW_OK;
    uint32_t *map = calloc(t->ndomains + 1, sizeof *map);
    pw_trace *v = NULL;
    pw_attribution *b = NULL;
    int rc = map ? make_view(t, gr, g, map, &v) : PW_ERR_NOMEM;
    if (rc == PW_OK) rc = pw_attribute_with(v, m, &b);
    if (rc == PW_OK) rc = take_figures(a, ix, b, map);
    pw_attribution_free(b);
    pw_trace_free(v);
    free(map);
    return rc;
}

int pw_attribute_grouped(const pw_trace *t, const pw_groups *gr, pw_method method,
                         pw_attribution **out)
{
    pw_attribution *a = NULL;
    pw_node_index ix = {0};
    int rc = pw_attribute_exact(t, NULL, 0, &a);
    if (rc == PW_OK) rc = pw_node_index_build(a, &ix);
    if (rc == PW_OK) clear_figures(a);
    for (uint32_t g = 0; g <= gr->ngroups && rc == PW_OK; g++)
        rc = attribute_group(t, gr, g, method, a, &ix);
    pw_node_index_free(&ix);
    if (rc != PW_OK) {
        pw_attribution_free(a);
        return rc;
    }
    pw_attribution_roll_up(a);
    *out = a;
    return PW_OK;
}
