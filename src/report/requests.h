/* requests.h — the per-request view of a llama.cpp run recorded through the llama shim
 * (docs/llama.md): each request's share of the batches its sequence was in. */
#ifndef PW_REPORT_REQUESTS_H
#define PW_REPORT_REQUESTS_H

#include <stdio.h>

#include "analysis/attribute.h"
#include "trace/trace.h"

typedef struct pw_request {
    uint32_t seq;              /* llama.cpp sequence id */
    uint32_t index;            /* 1-based, in order of first token */
    int64_t prompt_tokens, generated_tokens;
    double energy_j;           /* prompt_j + generated_j; NAN where not observed */
    double prompt_j;           /* its prompt's share: the energy to its first token */
    double generated_j;        /* its generated tokens' share */
    int shared;                /* some batch of it held other sequences too */
    int ended;                 /* its sequence left the KV cache before the run ended */
    pw_provenance provenance;
} pw_request;

/* The rule's weights: energy per prompt token and per generated token, from the run's pure
 * prefill and pure decode batches (1 and 1 when the run lacks either). */
typedef struct pw_request_weights { double prompt_j, generated_j; } pw_request_weights;

/* The requests of the run in *out (owned by the caller, free()), in order of first token;
 * *n = 0 for a run without the shim's sequence counters. */
int pw_requests(const pw_trace *t, const pw_attribution *a, pw_request **out, size_t *n,
                pw_request_weights *weights);

/* The hooks of the text and JSON reports: a table after the phase tables (nothing when the
 * run has no requests), and a "requests" member (an array, maybe empty). */
void pw_report_requests_text(FILE *out, const pw_trace *t, const pw_attribution *a);
void pw_report_requests_json(FILE *out, const pw_trace *t, const pw_attribution *a);

#endif
