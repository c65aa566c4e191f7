/* llm.h — the pieces of phasewatt-llm, a small llama-style inference engine instrumented
 * with phasewatt phases: model (presets, weights, checkpoints), forward pass, sampler,
 * tokenizer and the matmul thread pool. */
#ifndef LLM_H
#define LLM_H

#include <stddef.h>
#include <stdint.h>

#include "phasewatt.h"

typedef struct llm_config {
    int dim;          /* width of the residual stream */
    int hidden_dim;   /* MLP width (per expert when n_experts > 0) */
    int n_layers;
    int n_heads;      /* query heads */
    int n_kv_heads;   /* key/value heads (GQA when fewer than n_heads) */
    int vocab_size;
    int seq_len;      /* longest context */
    int n_experts;    /* 0: a dense SwiGLU MLP */
    int top_k;        /* experts per token when n_experts > 0 */
    int shared_classifier;  /* the output head reuses the token embedding */
} llm_config;

/* Every weight, as views into one allocation (storage) or one file buffer. */
typedef struct llm_weights {
    float *token_embedding;        /* vocab x dim */
    float *rms_att, *rms_ffn;      /* layers x dim */
    float *wq, *wo;                /* layers x dim x dim */
    float *wk, *wv;                /* layers x kv_dim x dim */
    float *w1, *w3;                /* layers x experts x hidden x dim (gate, up) */
    float *w2;                     /* layers x experts x dim x hidden (down) */
    float *router;                 /* layers x experts x dim (MoE only) */
    float *rms_final;              /* dim */
    float *wcls;                   /* vocab x dim */
    void *storage;                 /* what to free */
    float *cls_copy;               /* the packed output head when it shares the embedding */
} llm_weights;

/* Every matrix (d rows of n) is stored as panels of LLM_PANEL rows interleaved column by
 * column (panel b holds W[8b + r][p] at [p * 8 + r]), so a kernel reads one contiguous
 * vector of 8 rows per input element; the last d % 8 rows stay row-major after them. */
enum { LLM_PANEL = 8 };
/* Packs W[d x n] in place into that layout (tmp: LLM_PANEL * n floats). */
void llm_pack_rows(float *m, int d, int n, float *tmp);

typedef struct llm_preset {
    const char *name;
    const char *summary;
    llm_config cfg;
} llm_preset;

size_t llm_preset_count(void);
const llm_preset *llm_preset_at(size_t i);
const llm_preset *llm_preset_find(const char *name);

/* Parameters held by a model of this shape (the output head counted once if shared). */
uint64_t llm_param_count(const llm_config *c);
/* Checks a shape for sanity and internal consistency; writes the reason on failure. */
int llm_config_check(const llm_config *c, char *why, size_t whylen);

/* Deterministic weights from a seed (same seed, same weights, any machine). */
int llm_weights_synthetic(const llm_config *c, uint64_t seed, llm_weights *w);
/* A llama2.c checkpoint (legacy v0, or v1 "ak42" float32); why says what is wrong. */
int llm_weights_load(const char *path, llm_config *c, llm_weights *w, char *why,
                     size_t whylen);
/* The same from a checkpoint in memory: buf (malloc'd, 4-byte aligned) becomes the weights'
 * storage on success and is freed on failure. */
int llm_weights_from_buffer(unsigned char *buf, size_t len, llm_config *c, llm_weights *w,
                            char *why, size_t whylen);
void llm_weights_free(llm_weights *w);

/* ---- threads --------------------------------------------------------------------------- */

typedef struct llm_pool llm_pool;
typedef void (*llm_range_fn)(void *ctx, int begin, int end);
llm_pool *llm_pool_new(int nthreads);
void llm_pool_free(llm_pool *p);
/* Runs fn over [0, items) split into one contiguous range per thread; returns when done. */
void llm_pool_run(llm_pool *p, llm_range_fn fn, void *ctx, int items);

/* ---- the forward pass ------------------------------------------------------------------ */

/* The phase names, interned once. depth: 0 none, 1 top phases, 2 components, 3 all. */
typedef struct llm_phases {
    int depth;
    pw_id pre_inference, prefill, decode, post_inference;
    pw_id embedding, attention, mlp, lm_head, sampling;
    pw_id qkv, rope, scores, softmax, output, router, experts;
    pw_id tokens;
} llm_phases;
void llm_phases_init(llm_phases *ph, int depth);
/* Opens/closes a phase of the given level when the depth allows it. */
void llm_phase_begin(const llm_phases *ph, int level, pw_id id);
void llm_phase_end(const llm_phases *ph, int level);

typedef struct llm_state llm_state;
llm_state *llm_state_new(const llm_config *c, int max_batch);
void llm_state_free(llm_state *s);
/* Runs tokens[0..n) at positions pos..pos+n-1 through the model, filling the KV cache;
 * returns the logits of the last token (vocab_size floats owned by the state). */
float *llm_forward(llm_state *s, const llm_config *c, const llm_weights *w, llm_pool *pool,
                   const llm_phases *ph, const int *tokens, int n, int pos);

/* ---- sampling and tokens --------------------------------------------------------------- */

typedef struct llm_candidate {
    float p;
    int index;
} llm_candidate;

typedef struct llm_sampler {
    float temperature;   /* 0: greedy */
    float top_p;         /* nucleus; 1 or more: off */
    uint64_t rng;
    int vocab_size;
    llm_candidate *candidates;
} llm_sampler;
int llm_sampler_init(llm_sampler *s, int vocab_size, float temperature, float top_p,
                     uint64_t seed);
void llm_sampler_free(llm_sampler *s);
int llm_sample(llm_sampler *s, float *logits);   /* overwrites logits */

enum { LLM_BOS = 1, LLM_EOS = 2, LLM_BYTE0 = 3 };  /* llama's ids; bytes are 3..258 */

typedef struct llm_tokenizer llm_tokenizer;
/* path NULL: byte-level (each byte b is token 3 + b, as in llama's byte-fallback ids). */
int llm_tokenizer_open(const char *path, int vocab_size, llm_tokenizer **out, char *why,
                       size_t whylen);
void llm_tokenizer_free(llm_tokenizer *t);
/* BOS then the text's tokens; *n gets the count (at most cap). */
int llm_encode(const llm_tokenizer *t, const char *text, int *tokens, int cap, int *n);
/* The text of one token: "<123>" for ids the byte-level tokenizer has no text for. */
const char *llm_decode(const llm_tokenizer *t, int prev, int token, char *buf, size_t cap);

uint64_t llm_rng_next(uint64_t *state);
float llm_rng_float(uint64_t *state);   /* [0, 1) */

#endif
