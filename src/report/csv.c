/* csv.c — the report as CSV (RFC 4180 quoting): one row per phase, the JSON's phase fields
 * flattened; and the seed's per-sample-interval PowerSample view. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/common.h"
#include "report/samples.h"

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
    number_cell(c->out, n->wall_s);   /* after the older columns: scripts index them by place */
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
    fputs(",share,mean_power_w,peak_power_w,tokens,j_per_token,provenance,uncertainty_j,wall_s", out);
    fputs(c.truth ? ",true_energy_j\n" : "\n", out);
    int rc = pw_report_walk(t, a, o, phase_line, &c);
    return rc ? rc : pw_report_finish(out);
}

/* ---- the PowerSample view ------------------------------------------------------------------ */

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

/* One interval: the seed's columns, then each domain's power when per domain. */
static void sample_line(FILE *out, const pw_sample_row *r, size_t ndomains)
{
    char line[32 * 8], *p = line;
    p = put_fixed(p, r->timestamp_s, 6);
    for (size_t k = 0; k < sizeof seed_kinds / sizeof seed_kinds[0]; k++) {
        *p++ = ',';
        p = put_fixed(p, r->kind_mw[seed_kinds[k]], 3);
    }
    *p++ = ',';
    p = put_fixed(p, r->total_mw, 3);
    *p++ = ',';
    fwrite(line, 1, (size_t)(p - line), out);
    pw_csv_field(out, r->phase);
    for (size_t d = 0; d < ndomains; d++) {
        p = line;
        *p++ = ',';
        p = put_fixed(p, r->domain_mw[d], 3);
        fwrite(line, 1, (size_t)(p - line), out);
    }
    fputc('\n', out);
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

/* One row per interval of the primary series (samples.c). */
int pw_report_samples_csv(FILE *out, const pw_trace *t, const pw_attribution *a, int per_domain)
{
    if (!out || !t || !a) return PW_ERR_INVALID;
    pw_samples *s = NULL;
    int rc = pw_samples_open(t, a, per_domain, &s);
    if (rc != PW_OK) return rc;
    samples_header(out, t, per_domain);
    pw_sample_row row;
    while (pw_samples_next(s, &row)) sample_line(out, &row, per_domain ? t->ndomains : 0);
    pw_samples_free(s);
    return pw_report_finish(out);
}
