/* requests.c — per-request energy of a llama.cpp run: the llama shim counts each
 * sequence's prompt and generated tokens inside every batch phase ("llama.seq.N.prompt",
 * "llama.seq.N.generated") and marks a sequence leaving the KV cache ("llama.seq.N.end");
 * here each batch's energy is split over its sequences by the documented rule
 * (docs/llama.md, "Per request") and summed per request. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/common.h"
#include "report/requests.h"

/* One sequence's tokens in one batch. */
typedef struct entry { uint32_t seq; int64_t prompt, generated; } entry;

/* A batch phase (or a sequence's end when end_seq >= 0), in trace order. */
typedef struct item {
    int64_t end_seq;
    size_t track;
    uint64_t t0, t1;
    int node;
    size_t first, n;          /* its entries */
    double energy_j;
} item;

typedef struct walk {
    item *items; size_t nitems, cap_items;
    entry *entries; size_t nentries, cap_entries;
} walk;

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return p;
    size_t c = *cap ? *cap * 2 : 64;
    while (c < need) c *= 2;
    void *q = realloc(p, c * size);
    if (q) *cap = c;
    return q;
}

/* Appends one element of size bytes to *arr (n used, cap allocated). */
static int append(void *arr, size_t *n, size_t *cap, const void *elem, size_t size)
{
    void **p = arr;
    void *q = grow(*p, cap, *n + 1, size);
    if (!q) return PW_ERR_NOMEM;
    *p = q;
    memcpy((char *)q + *n * size, elem, size);
    (*n)++;
    return PW_OK;
}

static int push_item(walk *w, item it)
{
    return append(&w->items, &w->nitems, &w->cap_items, &it, sizeof it);
}

static int push_entry(walk *w, entry e)
{
    return append(&w->entries, &w->nentries, &w->cap_entries, &e, sizeof e);
}

static int is_batch(const char *name)
{
    return name && (!strcmp(name, "prefill") || !strcmp(name, "decode") || !strcmp(name, "mixed"));
}

/* "llama.seq.N.WHAT" -> N, with *what pointing at WHAT; -1 when the name is not one. */
static int64_t seq_of(const char *name, const char **what)
{
    static const char prefix[] = "llama.seq.";
    if (!name || strncmp(name, prefix, sizeof prefix - 1)) return -1;
    char *endp;
    unsigned long v = strtoul(name + sizeof prefix - 1, &endp, 10);
    if (endp == name + sizeof prefix - 1 || *endp != '.' || v > UINT32_MAX) return -1;
    *what = endp + 1;
    return (int64_t)v;
}

/* Counts of the batch open at depth 1 go into it; an end mark goes in as its own item. */
static int take_event(walk *w, const pw_trace *t, const pw_attribution *a, const pw_event *ev,
                      int *depth, item *open)
{
    const char *name = pw_trace_name(t, ev->id), *what = NULL;
    int64_t s;
    switch (ev->type) {
    case PW_EV_BEGIN:
        if ((*depth)++ == 0 && is_batch(name))
            *open = (item){-1, open->track, ev->t_ns, 0, pw_attribution_find(a, name),
                           w->nentries, 0, 0};
        return PW_OK;
    case PW_EV_END:
        if (*depth > 0 && --*depth == 0 && open->node >= 0) {
            open->t1 = ev->t_ns;
            open->n = w->nentries - open->first;
            int rc = push_item(w, *open);
            open->node = -1;
            return rc;
        }
        return PW_OK;
    case PW_EV_COUNT:
        if (*depth != 1 || open->node < 0 || (s = seq_of(name, &what)) < 0) return PW_OK;
        if (w->nentries == open->first || w->entries[w->nentries - 1].seq != (uint32_t)s) {
            int rc = push_entry(w, (entry){(uint32_t)s, 0, 0});
            if (rc) return rc;
        }
        if (!strcmp(what, "prompt")) w->entries[w->nentries - 1].prompt += ev->value;
        else if (!strcmp(what, "generated")) w->entries[w->nentries - 1].generated += ev->value;
        return PW_OK;
    case PW_EV_MARK:
        if ((s = seq_of(name, &what)) >= 0 && !strcmp(what, "end"))
            return push_item(w, (item){s, open->track, ev->t_ns, ev->t_ns, -1, 0, 0, 0});
        return PW_OK;
    default: return PW_OK;
    }
}

/* What splits a sample interval that a batch shares with its neighbours: each stretch of
 * the batch's track at the mean power of the phase innermost there (the attribution's
 * segments), time in no phase at the run's mean power; as the interval-exact method does. */
typedef struct splitter {
    const pw_trace *t;
    const pw_attribution *a;
    size_t *first;            /* [ntracks + 1]: each track's segments */
    double run_w;
} splitter;

static double node_w(const splitter *sp, uint32_t node)
{
    const pw_phase_node *n = &sp->a->nodes[node];
    double j = pw_energy_total(sp->t, n->incl_j);
    return n->duration_s > 0 && isfinite(j) ? j / n->duration_s : sp->run_w;
}

/* The power-weighted time of track k over [lo, hi) (J, as if at those powers). */
static double weighted(const splitter *sp, size_t k, uint64_t lo, uint64_t hi)
{
    double w = 0, covered = 0;
    for (size_t i = sp->first[k]; i < sp->first[k + 1]; i++) {
        const pw_segment *g = &sp->a->segments[i];
        if (g->t1_ns <= lo) continue;
        if (g->t0_ns >= hi) break;
        double d = (double)((g->t1_ns < hi ? g->t1_ns : hi) - (g->t0_ns > lo ? g->t0_ns : lo));
        w += d * node_w(sp, g->node);
        covered += d;
    }
    return (w + ((double)(hi - lo) - covered) * sp->run_w) * 1e-9;
}

/* One series' top-level energy between readings i and i + 1 (J). */
static double interval_j(const pw_trace *t, const pw_series *se, size_t i)
{
    double uj = 0;
    for (size_t k = 0; k < se->ndomains; k++)
        if (pw_trace_domain_is_top(t, se->first_domain + k))
            uj += (double)se->energy_uj[(i + 1) * se->ndomains + k] -
                  (double)se->energy_uj[i * se->ndomains + k];
    return uj * 1e-6;
}

/* The energy of track k's batch over [t0, t1): whole sample intervals inside it, and the
 * power-weighted part of the two it shares. */
static double span_j(const splitter *sp, size_t k, uint64_t t0, uint64_t t1)
{
    double j = 0;
    for (size_t si = 0; si < sp->t->nsources; si++) {
        const pw_series *se = &sp->t->series[si];
        size_t lo = 0, hi = se->n;
        while (lo + 1 < hi) {   /* the last reading at or before t0 */
            size_t mid = (lo + hi) / 2;
            if (se->t_ns[mid] <= t0) lo = mid; else hi = mid;
        }
        for (size_t i = lo; i + 1 < se->n && se->t_ns[i] < t1; i++) {
            uint64_t a = se->t_ns[i], b = se->t_ns[i + 1];
            if (b <= t0 || (se->flags[i + 1] & PW_SAMPLE_GAP)) continue;
            double e = interval_j(sp->t, se, i);
            if (a >= t0 && b <= t1) { j += e; continue; }
            double all = weighted(sp, k, a, b);
            if (all > 0) j += e * weighted(sp, k, a > t0 ? a : t0, b < t1 ? b : t1) / all;
        }
    }
    return j;
}

/* Each batch's energy: read off the series, then scaled so that the batches of a phase add
 * up to the phase's attributed energy (which splits straddling intervals by power). */
static void batch_energies(walk *w, const pw_trace *t, const pw_attribution *a)
{
    double *sum = calloc(a->nnodes, sizeof *sum);
    splitter sp = {t, a, calloc(t->ntracks + 1, sizeof(size_t)),
                   a->run_s > 0 ? pw_energy_total(t, a->domain_j) / a->run_s : 0};
    if (!sum || !sp.first) {
        free(sum);
        free(sp.first);
        return;
    }
    for (size_t i = 0; i < a->nsegments; i++)
        if (a->segments[i].track < t->ntracks) sp.first[a->segments[i].track + 1] = i + 1;
    for (size_t k = 1; k <= t->ntracks; k++)
        if (sp.first[k] < sp.first[k - 1]) sp.first[k] = sp.first[k - 1];
    for (size_t i = 0; i < w->nitems; i++) {
        item *it = &w->items[i];
        if (it->node < 0) continue;
        it->energy_j = span_j(&sp, it->track, it->t0, it->t1);
        sum[it->node] += it->energy_j;
    }
    free(sp.first);
    for (size_t i = 0; i < w->nitems; i++) {
        item *it = &w->items[i];
        if (it->node < 0) continue;
        double node_j = pw_energy_total(t, a->nodes[it->node].incl_j);
        it->energy_j = sum[it->node] > 0 ? it->energy_j * node_j / sum[it->node] : NAN;
    }
    free(sum);
}

static pw_request_weights weights_of(const walk *w)
{
    double j[2] = {0, 0}, tokens[2] = {0, 0};
    for (size_t i = 0; i < w->nitems; i++) {
        const item *it = &w->items[i];
        double p = 0, g = 0;
        for (size_t e = it->first; it->node >= 0 && e < it->first + it->n; e++) {
            p += (double)w->entries[e].prompt;
            g += (double)w->entries[e].generated;
        }
        if (it->node < 0 || !isfinite(it->energy_j) || (p > 0) == (g > 0)) continue;
        j[g > 0] += it->energy_j;
        tokens[g > 0] += p + g;
    }
    if (tokens[0] > 0 && tokens[1] > 0 && j[0] > 0 && j[1] > 0)
        return (pw_request_weights){j[0] / tokens[0], j[1] / tokens[1]};
    return (pw_request_weights){1, 1};
}

typedef struct requests { pw_request *r; size_t n, cap; } requests;

/* The open request of a sequence (a new one after its end), or NULL when out of memory. */
static pw_request *request_of(requests *rs, int64_t *current, uint32_t seq)
{
    if (current[seq] >= 0) return &rs->r[current[seq]];
    pw_request *p = grow(rs->r, &rs->cap, rs->n + 1, sizeof *p);
    if (!p) return NULL;
    rs->r = p;
    current[seq] = (int64_t)rs->n;
    rs->r[rs->n] = (pw_request){.seq = seq, .index = (uint32_t)rs->n + 1,
                                .provenance = PW_PROV_MEASURED};
    return &rs->r[rs->n++];
}

/* Shares one batch over its sequences' open requests. */
static int share_batch(requests *rs, int64_t *current, const walk *w, const item *it,
                       const pw_attribution *a, pw_request_weights wt)
{
    double total = 0;
    for (size_t e = it->first; e < it->first + it->n; e++)
        total += wt.prompt_j * (double)w->entries[e].prompt +
                 wt.generated_j * (double)w->entries[e].generated;
    for (size_t e = it->first; e < it->first + it->n; e++) {
        const entry *en = &w->entries[e];
        pw_request *r = request_of(rs, current, en->seq);
        if (!r) return PW_ERR_NOMEM;
        double scale = total > 0 ? it->energy_j / total : NAN;
        r->prompt_tokens += en->prompt;
        r->generated_tokens += en->generated;
        r->prompt_j += scale * wt.prompt_j * (double)en->prompt;
        r->generated_j += scale * wt.generated_j * (double)en->generated;
        r->energy_j = r->prompt_j + r->generated_j;
        r->shared |= it->n > 1;
        pw_provenance p = it->n > 1 ? PW_PROV_ALLOCATED : a->nodes[it->node].provenance;
        if (p > r->provenance) r->provenance = p;
    }
    return PW_OK;
}

static int assign(const walk *w, const pw_attribution *a, pw_request_weights wt, requests *rs)
{
    uint32_t max_seq = 0;
    for (size_t e = 0; e < w->nentries; e++)
        if (w->entries[e].seq > max_seq) max_seq = w->entries[e].seq;
    int64_t *current = malloc(((size_t)max_seq + 1) * sizeof *current);
    if (!current) return PW_ERR_NOMEM;
    for (size_t s = 0; s <= max_seq; s++) current[s] = -1;
    int rc = PW_OK;
    for (size_t i = 0; i < w->nitems && rc == PW_OK; i++) {
        const item *it = &w->items[i];
        if (it->node >= 0) {
            rc = share_batch(rs, current, w, it, a, wt);
        } else if (it->end_seq <= (int64_t)max_seq && current[it->end_seq] >= 0) {
            rs->r[current[it->end_seq]].ended = 1;
            current[it->end_seq] = -1;
        }
    }
    free(current);
    return rc;
}

int pw_requests(const pw_trace *t, const pw_attribution *a, pw_request **out, size_t *n,
                pw_request_weights *weights)
{
    if (!t || !a || !out || !n) return PW_ERR_INVALID;
    *out = NULL;
    *n = 0;
    walk w = {0};
    int rc = PW_OK;
    for (size_t k = 0; k < t->ntracks && rc == PW_OK; k++) {
        int depth = 0;
        item open = {.node = -1, .track = k};
        for (size_t e = 0; e < t->tracks[k].n && rc == PW_OK; e++)
            rc = take_event(&w, t, a, &t->tracks[k].events[e], &depth, &open);
    }
    requests rs = {0};
    if (rc == PW_OK && w.nentries) {
        batch_energies(&w, t, a);
        pw_request_weights wt = weights_of(&w);
        if (weights) *weights = wt;
        rc = assign(&w, a, wt, &rs);
    }
    free(w.items);
    free(w.entries);
    if (rc != PW_OK) {
        free(rs.r);
        return rc;
    }
    *out = rs.r;
    *n = rs.n;
    return PW_OK;
}

static double per(double j, int64_t tokens)
{
    return tokens > 0 ? j / (double)tokens : NAN;
}

void pw_report_requests_text(FILE *out, const pw_trace *t, const pw_attribution *a)
{
    pw_request *r = NULL;
    size_t n = 0;
    if (pw_requests(t, a, &r, &n, NULL) != PW_OK || n == 0) return;
    fputs("\nrequest  seq  prompt  generated  energy J  J/prompt tok  J/gen tok   TTFT J"
          "  provenance\n", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%7u %4u %7lld %10lld ", r[i].index, r[i].seq,
                (long long)r[i].prompt_tokens, (long long)r[i].generated_tokens);
        pw_text_num(out, r[i].energy_j, 9, 4);
        pw_text_num(out, per(r[i].prompt_j, r[i].prompt_tokens), 14, 5);
        pw_text_num(out, per(r[i].generated_j, r[i].generated_tokens), 11, 5);
        pw_text_num(out, r[i].prompt_j, 9, 4);
        fprintf(out, "  %s%s\n", pw_provenance_name(r[i].provenance),
                r[i].ended ? "" : " (still open at the end)");
    }
    free(r);
}

void pw_report_requests_json(FILE *out, const pw_trace *t, const pw_attribution *a)
{
    pw_request *r = NULL;
    size_t n = 0;
    pw_requests(t, a, &r, &n, NULL);
    fputs(",\n\"requests\":[", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s{\"request\":%u,\"seq\":%u,\"prompt_tokens\":%lld,"
                "\"generated_tokens\":%lld,\"energy_j\":", i ? "," : "", r[i].index, r[i].seq,
                (long long)r[i].prompt_tokens, (long long)r[i].generated_tokens);
        pw_json_number(out, r[i].energy_j);
        fputs(",\"j_per_prompt_token\":", out);
        pw_json_number(out, per(r[i].prompt_j, r[i].prompt_tokens));
        fputs(",\"j_per_generated_token\":", out);
        pw_json_number(out, per(r[i].generated_j, r[i].generated_tokens));
        fputs(",\"ttft_j\":", out);
        pw_json_number(out, r[i].prompt_j);
        fprintf(out, ",\"ended\":%s,\"provenance\":", r[i].ended ? "true" : "false");
        pw_json_string(out, pw_provenance_name(r[i].provenance));
        fputc('}', out);
    }
    fputc(']', out);
    free(r);
}
