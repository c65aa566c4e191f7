/* csv.c — the report as CSV (RFC 4180 quoting): one row per phase, the JSON's phase fields
 * flattened; and the seed's per-sample-interval PowerSample view. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/common.h"

typedef struct csv_ctx {
    FILE *out;
    pw_kinds kinds;
    int truth;
} csv_ctx;

/* ---- one row per phase -------------------------------------------------------------------- */

static void energy_titles(const csv_ctx *c, const char *prefix)
{
    fprintf(c->out, ",%s_total", prefix);
    for (size_t k = 0; k < c->kinds.n; k++)
        fprintf(c->out, ",%s_%s", prefix, pw_kind_name(c->kinds.kind[k]));
}

static void energy_cells(const csv_ctx *c, double total, const double *kind_j)
{
    fputc(',', c->out);
    pw_csv_number(c->out, total);
    for (size_t k = 0; k < c->kinds.n; k++) {
        fputc(',', c->out);
        pw_csv_number(c->out, kind_j[c->kinds.kind[k]]);
    }
}

static void number_cell(FILE *out, double v)
{
    fputc(',', out);
    pw_csv_number(out, v);
}

static int phase_line(const pw_row *r, void *ctx)
{
    const csv_ctx *c = ctx;
    const pw_phase_node *n = r->node;
    pw_csv_field(c->out, r->path);
    fprintf(c->out, ",%d,%llu", n->depth, (unsigned long long)n->calls);
    number_cell(c->out, n->duration_s);
    energy_cells(c, r->energy_j, r->kind_j);
    energy_cells(c, r->self_j, r->self_kind_j);
    number_cell(c->out, r->share);
    number_cell(c->out, r->mean_w);
    number_cell(c->out, n->peak_w);
    number_cell(c->out, n->tokens_incl);
    number_cell(c->out, r->j_per_token);
    fputc(',', c->out);
    pw_csv_field(c->out, r->provenance);
    number_cell(c->out, r->ci_j);
    if (c->truth) number_cell(c->out, r->true_j);
    fputc('\n', c->out);
    return 0;
}

int pw_report_csv(FILE *out, const pw_trace *t, const pw_attribution *a,
                  const pw_report_opts *o)
{
    if (!out || !t || !a || a->nnodes == 0) return PW_ERR_INVALID;
    csv_ctx c = {.out = out, .truth = pw_report_has_truth(t)};
    pw_report_kinds(t, &c.kinds);
    fputs("path,depth,calls,duration_s", out);
    energy_titles(&c, "energy_j");
    energy_titles(&c, "self_energy_j");
    fputs(",share,mean_power_w,peak_power_w,tokens,j_per_token,provenance,uncertainty_j", out);
    fputs(c.truth ? ",true_energy_j\n" : "\n", out);
    int rc = pw_report_walk(t, a, o, phase_line, &c);
    return rc ? rc : pw_report_finish(out);
}

/* ---- the PowerSample view ------------------------------------------------------------------ */

/* Each track's segments, in the attribution's order, read forward as time advances. */
typedef struct track_cursor {
    size_t next, end;
} track_cursor;

static track_cursor *track_cursors(const pw_attribution *a, size_t *n)
{
    track_cursor *c = malloc((a->nsegments + 1) * sizeof *c);
    *n = 0;
    if (!c) return NULL;
    for (size_t i = 0; i < a->nsegments; i++) {
        if (i == 0 || a->segments[i].track != a->segments[i - 1].track)
            c[(*n)++] = (track_cursor){i, i};
        c[*n - 1].end = i + 1;
    }
    return c;
}

/* The innermost phase of the first track with a phase open at t ("" when none; NULL when out
 * of memory), its path built in buf. */
static const char *phase_at(const pw_attribution *a, track_cursor *c, size_t n, uint64_t t,
                            pw_path_buf *buf)
{
    for (size_t i = 0; i < n; i++) {
        while (c[i].next < c[i].end && a->segments[c[i].next].t1_ns <= t) c[i].next++;
        if (c[i].next < c[i].end && a->segments[c[i].next].t0_ns <= t)
            return pw_node_path(a, a->segments[c[i].next].node, buf);
    }
    return "";
}

static const pw_kind seed_kinds[] = {PW_KIND_CPU, PW_KIND_GPU, PW_KIND_ANE, PW_KIND_DRAM};

/* v with `decimals` (0..6) decimals like "%.*f", several times faster: the view runs to
 * millions of rows. Writes at most 32 bytes. */
static char *put_fixed(char *p, double v, int decimals)
{
    static const double scale[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    double x = v * scale[decimals];
    if (!(fabs(x) < 9e15)) return p + snprintf(p, 32, "%.17g", v);
    long long n = llround(x);
    char digits[24];
    int len = 0;
    if (n < 0) {
        *p++ = '-';
        n = -n;
    }
    do {
        digits[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n || len <= decimals);
    /* NOLINTNEXTLINE(clang-analyzer-core.uninitialized.Assign): the loop above wrote digits[0, len) */
    while (len > decimals) *p++ = digits[--len];
    if (decimals) *p++ = '.';
    while (len) *p++ = digits[--len];
    return p;
}

/* One interval: the seed's columns, then (when per_domain) each domain's power in mW. */
static void sample_line(FILE *out, double since_s, const double *kind_j, double dt_s,
                        const char *phase, const double *domain_j, size_t ndomains)
{
    char line[32 * 8], *p = line;
    double total = 0;
    for (int k = 0; k < PW_KIND_COUNT; k++) total += kind_j[k];
    p = put_fixed(p, since_s, 6);
    for (size_t k = 0; k < sizeof seed_kinds / sizeof seed_kinds[0]; k++) {
        *p++ = ',';
        p = put_fixed(p, kind_j[seed_kinds[k]] / dt_s * 1e3, 3);
    }
    *p++ = ',';
    p = put_fixed(p, total / dt_s * 1e3, 3);
    *p++ = ',';
    fwrite(line, 1, (size_t)(p - line), out);
    pw_csv_field(out, phase);
    for (size_t d = 0; d < ndomains; d++) {
        p = line;
        *p++ = ',';
        p = put_fixed(p, domain_j[d] / dt_s * 1e3, 3);
        fwrite(line, 1, (size_t)(p - line), out);
    }
    fputc('\n', out);
}

/* Cumulative energy (J) at time `when`: by kind over every series' top-level domains, and
 * per domain into domain_j when it is not NULL. */
static void energy_at(const pw_trace *t, pw_series_cursor *cursors, uint64_t when,
                      double *kind_j, double *domain_j)
{
    memset(kind_j, 0, PW_KIND_COUNT * sizeof *kind_j);
    for (size_t s = 0; s < t->nsources; s++) {
        const pw_series *se = &t->series[s];
        for (size_t k = 0; k < se->ndomains; k++) {
            size_t d = se->first_domain + k;
            double j = pw_series_energy_at(&cursors[s], k, when) * 1e-6;
            if (domain_j) domain_j[d] = j;
            if (pw_trace_domain_is_top(t, d)) kind_j[t->domains[d].kind] += j;
        }
    }
}

static void samples_header(FILE *out, const pw_trace *t, int per_domain)
{
    fputs("timestamp,cpu_power_mw,gpu_power_mw,ane_power_mw,dram_power_mw,total_power_mw,"
          "phase", out);
    for (size_t d = 0; per_domain && d < t->ndomains; d++) {
        char title[160];
        snprintf(title, sizeof title, "%s_power_mw", t->domains[d].name);
        fputc(',', out);
        pw_csv_field(out, title);
    }
    fputc('\n', out);
}

/* Energy by kind and by domain at the two ends of an interval. */
typedef struct interval_energy {
    double kind_before[PW_KIND_COUNT], kind_after[PW_KIND_COUNT];
    double *domain_before, *domain_after;      /* [ndomains] when per domain, else NULL */
} interval_energy;

static void advance(const pw_trace *t, pw_series_cursor *cursors, uint64_t when,
                    interval_energy *e)
{
    memcpy(e->kind_before, e->kind_after, sizeof e->kind_before);
    if (e->domain_after) {
        double *swap = e->domain_before;
        e->domain_before = e->domain_after;
        e->domain_after = swap;
    }
    energy_at(t, cursors, when, e->kind_after, e->domain_after);
}

/* One row per interval of the primary series (skipping gaps): power per kind is the energy
 * difference over the interval, other series interpolated at its ends; the timestamp is
 * the interval's end, in seconds since the primary series' first reading. */
int pw_report_samples_csv(FILE *out, const pw_trace *t, const pw_attribution *a, int per_domain)
{
    if (!out || !t || !a) return PW_ERR_INVALID;
    samples_header(out, t, per_domain);
    if (a->primary < 0) return pw_report_finish(out);
    size_t ntracks, nd = per_domain ? t->ndomains : 0;
    pw_series_cursor *cursors = calloc(t->nsources + 1, sizeof *cursors);
    track_cursor *tracks = track_cursors(a, &ntracks);
    double *domain = calloc(3 * nd + 1, sizeof *domain);
    if (!cursors || !tracks || !domain) {
        free(cursors);
        free(tracks);
        free(domain);
        return PW_ERR_NOMEM;
    }
    for (size_t s = 0; s < t->nsources; s++) cursors[s].se = &t->series[s];
    interval_energy e = {.domain_before = nd ? domain : NULL, .domain_after = nd ? domain + nd : NULL};
    double *domain_de = domain + 2 * nd;
    const pw_series *p = &t->series[a->primary];
    pw_path_buf path = {0};
    int rc = PW_OK;
    energy_at(t, cursors, p->t_ns[0], e.kind_after, e.domain_after);
    for (size_t i = 1; i < p->n && rc == PW_OK; i++) {
        advance(t, cursors, p->t_ns[i], &e);
        uint64_t t0 = p->t_ns[i - 1], t1 = p->t_ns[i];
        if ((p->flags && (p->flags[i] & PW_SAMPLE_GAP)) || t1 <= t0) continue;
        double de[PW_KIND_COUNT];
        for (int k = 0; k < PW_KIND_COUNT; k++) de[k] = fmax(e.kind_after[k] - e.kind_before[k], 0.0);
        for (size_t d = 0; d < nd; d++)
            domain_de[d] = fmax(e.domain_after[d] - e.domain_before[d], 0.0);
        const char *phase = phase_at(a, tracks, ntracks, t0 + (t1 - t0) / 2, &path);
        if (!phase) rc = PW_ERR_NOMEM;
        else sample_line(out, (double)(t1 - p->t_ns[0]) * 1e-9, de, (double)(t1 - t0) * 1e-9,
                         phase, domain_de, nd);
    }
    pw_path_buf_free(&path);
    free(cursors);
    free(tracks);
    free(domain);
    return rc == PW_OK ? pw_report_finish(out) : rc;
}
