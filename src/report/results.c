/* results.c — the public results API (include/phasewatt-analysis.h): an attributed trace read
 * through the report's own rows, run figures, warnings and PowerSample walk. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "phasewatt-analysis.h"
#include "report/common.h"
#include "report/results.h"
#include "report/samples.h"

struct pw_result {
    const pw_trace *t;          /* borrowed */
    pw_attribution *a;
    pw_method method;
    pw_kinds kinds;             /* the report's columns */
    char **details;             /* [nnodes] each node's provenance detail */
    pthread_mutex_t path_lock;  /* paths: built when first asked, kept (readers share a result) */
    char **paths;               /* [nnodes] NULL until asked: a deep tree's paths are big */
    char **warnings;
    size_t nwarnings, cap;
    int nomem;                  /* a warning could not be kept */
};

struct pw_sample_iter {
    pw_samples *walk;
};

/* Copies a filled struct into the caller's, up to the size the caller set (its first field):
 * a caller built against a later header, with a larger struct, gets the fields known here.
 * Every field so far is in the first version, so smaller is an error. */
static int fill(void *out, const void *full, size_t full_size)
{
    size_t size = *(const size_t *)out;
    if (size < full_size) return PW_ERR_INVALID;
    memcpy((char *)out + sizeof size, (const char *)full + sizeof size, full_size - sizeof size);
    return PW_OK;
}

void pw_result_options_init(pw_result_options *o)
{
    if (o) *o = (pw_result_options){.size = sizeof *o, .method = "auto"};
}

static void keep_warning(const char *msg, void *ctx)
{
    pw_result *r = ctx;
    if (r->nwarnings == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 8;
        char **grown = realloc(r->warnings, cap * sizeof *grown);
        if (!grown) {
            r->nomem = 1;
            return;
        }
        r->warnings = grown;
        r->cap = cap;
    }
    char *copy = strdup(msg);
    if (!copy) r->nomem = 1;
    else r->warnings[r->nwarnings++] = copy;
}

/* The strings a result hands out beyond the trace's and attribution's own. */
static int describe(pw_result *r)
{
    r->details = calloc(r->a->nnodes, sizeof *r->details);
    r->paths = calloc(r->a->nnodes, sizeof *r->paths);
    if (!r->details || !r->paths) return PW_ERR_NOMEM;
    char buf[160];
    for (size_t i = 0; i < r->a->nnodes; i++) {
        r->details[i] = strdup(pw_provenance_detail(&r->a->nodes[i], buf, sizeof buf));
        if (!r->details[i]) return PW_ERR_NOMEM;
    }
    pw_report_warnings(r->t, r->a, keep_warning, r);
    return r->nomem ? PW_ERR_NOMEM : PW_OK;
}

int pw_result_new(const pw_trace *t, const pw_result_options *o, pw_result **out)
{
    if (!out) return PW_ERR_INVALID;
    *out = NULL;
    if (!t || (o && o->size < sizeof *o)) return PW_ERR_INVALID;
    pw_method method = PW_METHOD_AUTO;
    if (o && o->method && pw_method_parse(o->method, &method) != PW_OK) return PW_ERR_NOT_FOUND;
    pw_result *r = calloc(1, sizeof *r);
    if (!r) return PW_ERR_NOMEM;
    r->t = t;
    r->method = method;
    pthread_mutex_init(&r->path_lock, NULL);
    pw_report_kinds(t, &r->kinds);
    int rc = pw_attribute_with(t, method, &r->a);
    if (rc == PW_OK && r->a->nnodes == 0) rc = PW_ERR_FORMAT;
    if (rc == PW_OK) rc = describe(r);
    if (rc != PW_OK) {
        pw_result_free(r);
        return rc;
    }
    *out = r;
    return PW_OK;
}

void pw_result_free(pw_result *r)
{
    if (!r) return;
    for (size_t i = 0; r->details && i < r->a->nnodes; i++) free(r->details[i]);
    for (size_t i = 0; i < r->nwarnings; i++) free(r->warnings[i]);
    for (size_t i = 0; r->paths && i < r->a->nnodes; i++) free(r->paths[i]);
    free(r->details);
    free(r->paths);
    pthread_mutex_destroy(&r->path_lock);
    free(r->warnings);
    pw_attribution_free(r->a);
    free(r);
}

const char *pw_result_method(const pw_result *r)
{
    return r ? pw_method_name(r->method) : NULL;
}

/* ---- the run ---------------------------------------------------------------------------- */

int pw_result_run(const pw_result *r, pw_run_figures *out)
{
    if (!r || !out) return PW_ERR_INVALID;
    pw_run_figures run = {.size = sizeof run};
    pw_report_run(r->t, r->a, &run);
    return fill(out, &run, sizeof run);
}

size_t pw_result_meta_count(const pw_result *r)
{
    return r ? r->t->nmeta : 0;
}

int pw_result_meta(const pw_result *r, size_t i, const char **key, const char **value)
{
    if (!r || i >= r->t->nmeta) return PW_ERR_INVALID;
    if (key) *key = r->t->meta[i].key;
    if (value) *value = r->t->meta[i].value;
    return PW_OK;
}

size_t pw_result_warning_count(const pw_result *r)
{
    return r ? r->nwarnings : 0;
}

const char *pw_result_warning(const pw_result *r, size_t i)
{
    return r && i < r->nwarnings ? r->warnings[i] : NULL;
}

/* ---- phases ------------------------------------------------------------------------------ */

size_t pw_result_phase_count(const pw_result *r)
{
    return r ? r->a->nnodes : 0;
}

/* Node i's path, kept by the result from the first time it is asked; NULL when out of memory. */
static const char *path_of(const pw_result *r, size_t i)
{
    pthread_mutex_t *lock = (pthread_mutex_t *)&r->path_lock;
    pthread_mutex_lock(lock);
    if (!r->paths[i]) {
        pw_path_buf buf = {0};
        const char *p = pw_node_path(r->a, i, &buf);
        r->paths[i] = p ? strdup(p) : NULL;
        pw_path_buf_free(&buf);
    }
    const char *path = r->paths[i];
    pthread_mutex_unlock(lock);
    return path;
}

int pw_result_phase(const pw_result *r, size_t i, pw_phase_figures *out)
{
    if (!r || !out || i >= r->a->nnodes) return PW_ERR_INVALID;
    const char *path = path_of(r, i);
    if (!path) return PW_ERR_NOMEM;
    pw_row row;
    pw_report_row(r->t, r->a, i, &row);
    const pw_phase_node *n = row.node;
    pw_phase_figures f = {
        .size = sizeof f,
        .path = path,
        .name = row.name,
        .depth = n->depth,
        .parent = n->parent,
        .calls = n->calls,
        .duration_s = n->duration_s,
        .wall_s = n->wall_s,
        .energy_j = row.energy_j,
        .self_energy_j = row.self_j,
        .uncertainty_j = row.ci_j,
        .share = row.share,
        .mean_power_w = row.mean_w,
        .peak_power_w = n->peak_w,
        .tokens = n->tokens_incl,
        .j_per_token = row.j_per_token,
        .tokens_per_s = row.tokens_per_s,
        .provenance = row.provenance,
        .provenance_detail = r->details[i],
        .concurrency = n->concurrency,
        .true_energy_j = row.true_j,
    };
    return fill(out, &f, sizeof f);
}

int pw_result_find(const pw_result *r, const char *path, size_t *index)
{
    if (!r || !path || !index) return PW_ERR_INVALID;
    int k = pw_attribution_find(r->a, path);
    if (k < 0) return PW_ERR_NOT_FOUND;
    *index = (size_t)k;
    return PW_OK;
}

size_t pw_result_kind_count(const pw_result *r)
{
    return r ? r->kinds.n : 0;
}

const char *pw_result_kind(const pw_result *r, size_t k)
{
    return r && k < r->kinds.n ? pw_kind_name(r->kinds.kind[k]) : NULL;
}

int pw_result_phase_kind_energy(const pw_result *r, size_t phase, const char *kind,
                                pw_extent extent, double *joules)
{
    if (!r || !kind || !joules || phase >= r->a->nnodes) return PW_ERR_INVALID;
    for (size_t k = 0; k < r->kinds.n; k++) {
        if (strcmp(pw_kind_name(r->kinds.kind[k]), kind) != 0) continue;
        pw_row row;
        pw_report_row(r->t, r->a, phase, &row);
        *joules = extent == PW_SELF ? row.self_kind_j[r->kinds.kind[k]]
                                    : row.kind_j[r->kinds.kind[k]];
        return PW_OK;
    }
    return PW_ERR_NOT_FOUND;
}

/* ---- domains ----------------------------------------------------------------------------- */

size_t pw_result_domain_count(const pw_result *r)
{
    return r ? r->t->ndomains : 0;
}

int pw_result_domain(const pw_result *r, size_t d, pw_domain_figures *out)
{
    if (!r || !out || d >= r->t->ndomains) return PW_ERR_INVALID;
    pw_domain_figures dom = {.size = sizeof dom};
    pw_report_domain(r->t, r->a, d, &dom);
    return fill(out, &dom, sizeof dom);
}

int pw_result_phase_domain_energy(const pw_result *r, size_t phase, size_t domain,
                                  pw_extent extent, double *joules, double *uncertainty_j)
{
    if (!r || phase >= r->a->nnodes || domain >= r->a->ndomains) return PW_ERR_INVALID;
    const pw_phase_node *n = &r->a->nodes[phase];
    if (joules) *joules = extent == PW_SELF ? n->self_j[domain] : n->incl_j[domain];
    if (uncertainty_j)
        *uncertainty_j = extent == PW_SELF ? n->self_ci_j[domain] : n->incl_ci_j[domain];
    return PW_OK;
}

/* ---- the PowerSample view ------------------------------------------------------------------ */

int pw_result_samples(const pw_result *r, pw_sample_iter **out)
{
    if (!out) return PW_ERR_INVALID;
    *out = NULL;
    if (!r) return PW_ERR_INVALID;
    pw_sample_iter *it = calloc(1, sizeof *it);
    if (!it) return PW_ERR_NOMEM;
    int rc = pw_samples_open(r->t, r->a, 0, &it->walk);
    if (rc != PW_OK) {
        free(it);
        return rc;
    }
    *out = it;
    return PW_OK;
}

int pw_sample_next(pw_sample_iter *it, pw_power_sample *out)
{
    if (!it || !out || out->size < sizeof *out) return PW_ERR_INVALID;
    pw_sample_row row;
    if (!pw_samples_next(it->walk, &row)) return 0;
    pw_power_sample s = {
        .size = sizeof s,
        .timestamp = row.timestamp_s,
        .cpu_power_mw = row.kind_mw[PW_KIND_CPU],
        .gpu_power_mw = row.kind_mw[PW_KIND_GPU],
        .ane_power_mw = row.kind_mw[PW_KIND_ANE],
        .dram_power_mw = row.kind_mw[PW_KIND_DRAM],
        .total_power_mw = row.total_mw,
        .phase = row.phase,
    };
    fill(out, &s, sizeof s);
    return 1;
}

void pw_sample_iter_free(pw_sample_iter *it)
{
    if (!it) return;
    pw_samples_free(it->walk);
    free(it);
}

/* ---- rendering ------------------------------------------------------------------------------ */

const pw_trace *pw_result_trace(const pw_result *r) { return r->t; }
const pw_attribution *pw_result_attribution(const pw_result *r) { return r->a; }
