/* forward.c — the transformer forward pass (RMSNorm, RoPE, grouped-query attention with a
 * KV cache, SwiGLU or mixture-of-experts MLP, output head), tagged with phases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"

struct llm_state {
    int max_batch;
    float *x, *xb, *xb2;         /* max_batch x dim: residual, normed input, projection */
    float *q, *k, *v;            /* max_batch x dim / kv_dim */
    float *att;                  /* max_batch x heads x seq_len */
    float *hb, *hb2;             /* max_batch x hidden */
    float *key_cache, *value_cache;  /* layers x seq_len x kv_dim */
    float *logits;               /* vocab */
    float *router_logits;        /* max_batch x experts */
    int *route;                  /* max_batch x top_k: chosen experts */
    float *gate;                 /* max_batch x top_k: their weights */
    int *rows;                   /* max_batch: tokens routed to one expert */
    float *xe, *ye;              /* max_batch x dim: those tokens' inputs and outputs */
    void *block;                 /* the one allocation behind every buffer */
};

/* ---- phases --------------------------------------------------------------------------- */

void llm_phases_init(llm_phases *ph, int depth)
{
    ph->depth = depth;
    ph->pre_inference = pw_phase_id("pre-inference");
    ph->prefill = pw_phase_id("prefill");
    ph->decode = pw_phase_id("decode");
    ph->post_inference = pw_phase_id("post-inference");
    ph->embedding = pw_phase_id("embedding");
    ph->attention = pw_phase_id("attention");
    ph->mlp = pw_phase_id("mlp");
    ph->lm_head = pw_phase_id("lm_head");
    ph->sampling = pw_phase_id("sampling");
    ph->qkv = pw_phase_id("qkv");
    ph->rope = pw_phase_id("rope");
    ph->scores = pw_phase_id("scores");
    ph->softmax = pw_phase_id("softmax");
    ph->output = pw_phase_id("output");
    ph->router = pw_phase_id("router");
    ph->experts = pw_phase_id("experts");
    ph->tokens = pw_counter_id("tokens");
}

void llm_phase_begin(const llm_phases *ph, int level, pw_id id)
{
    if (level <= ph->depth) (void)pw_begin(id);
}

void llm_phase_end(const llm_phases *ph, int level)
{
    if (level <= ph->depth) (void)pw_end();
}

/* ---- buffers -------------------------------------------------------------------------- */

typedef struct slab {
    char *at;
    size_t used;
} slab;

/* Hands out 64-byte-aligned pieces of one block (or, with at NULL, only counts them). */
static void *piece(slab *s, size_t bytes)
{
    void *p = s->at ? s->at + s->used : NULL;
    s->used += (bytes + 63) & ~(size_t)63;
    return p;
}

static void lay_out(llm_state *s, const llm_config *c, slab *sl)
{
    size_t T = (size_t)s->max_batch, d = (size_t)c->dim, h = (size_t)c->hidden_dim;
    size_t kv = d / (size_t)c->n_heads * (size_t)c->n_kv_heads, f = sizeof(float);
    size_t E = (size_t)c->n_experts, K = (size_t)c->top_k;
    s->x = piece(sl, T * d * f);
    s->xb = piece(sl, T * d * f);
    s->xb2 = piece(sl, T * d * f);
    s->q = piece(sl, T * d * f);
    s->k = piece(sl, T * kv * f);
    s->v = piece(sl, T * kv * f);
    s->att = piece(sl, T * (size_t)c->n_heads * (size_t)c->seq_len * f);
    s->hb = piece(sl, T * h * f);
    s->hb2 = piece(sl, T * h * f);
    s->key_cache = piece(sl, (size_t)c->n_layers * (size_t)c->seq_len * kv * f);
    s->value_cache = piece(sl, (size_t)c->n_layers * (size_t)c->seq_len * kv * f);
    s->logits = piece(sl, (size_t)c->vocab_size * f);
    s->router_logits = piece(sl, T * E * f);
    s->route = piece(sl, T * K * sizeof(int));
    s->gate = piece(sl, T * K * f);
    s->rows = piece(sl, T * sizeof(int));
    s->xe = piece(sl, T * d * f);
    s->ye = piece(sl, T * d * f);
}

llm_state *llm_state_new(const llm_config *c, int max_batch)
{
    llm_state *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->max_batch = max_batch > 0 ? max_batch : 1;
    slab sizing = {NULL, 0};
    lay_out(s, c, &sizing);
    s->block = aligned_alloc(64, sizing.used);
    if (!s->block) {
        free(s);
        return NULL;
    }
    memset(s->block, 0, sizing.used);
    slab real = {s->block, 0};
    lay_out(s, c, &real);
    return s;
}

void llm_state_free(llm_state *s)
{
    if (!s) return;
    free(s->block);
    free(s);
}

/* ---- kernels -------------------------------------------------------------------------- */

/* Tokens per micro-kernel: each panel vector is loaded once for TILE tokens, and TILE x 8
 * accumulators still fit the 16 vector registers of baseline x86-64 (and of NEON). */
enum { TILE = 4, LANES = 8 };

/* Dot product in LANES independent partial sums, a fixed-size loop the compiler vectorises
 * at -O2 (a single running sum would be a serial chain it may not reorder). */
static float dot(const float *a, const float *b, int n)
{
    float lane[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) lane[k] += a[i + k] * b[i + k];
    float sum = 0.0f;
    for (; i < n; i++) sum += a[i] * b[i];
    for (int k = 0; k < LANES; k++) sum += lane[k];
    return sum;
}

/* y += a * x, in fixed-size chunks for the same reason. */
static void axpy(float *restrict y, float a, const float *restrict x, int n)
{
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) y[i + k] += a * x[i + k];
    for (; i < n; i++) y[i] += a * x[i];
}

/* One product out[T x d] = x[T x n] * W[d x n]^T with W in panels (llm.h). */
typedef struct product {
    float *out;
    const float *w;
    int d;
} product;

/* Up to three products of the same input, run as one pool job (Q, K, V; or gate and up),
 * so a decode step wakes the threads once per stage instead of once per matrix. */
typedef struct matmul_job {
    product p[3];
    int count;
    const float *x;      /* T x n */
    int n, T;
} matmul_job;

static int items_of(int d) { return d / LLM_PANEL + d % LLM_PANEL; }

/* Where the toolchain can choose at load time (GNU ifunc on x86-64 Linux), the two panel
 * kernels are built twice, for AVX2 (an 8-float vector is one panel row) and for baseline
 * x86-64; neither contracts to FMA, so both give the same bits. Elsewhere, and in sanitizer
 * builds (which so test the baseline clone): the baseline only. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define KERNEL_CLONES   /* their resolver runs before a sanitizer's runtime is up */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define KERNEL_CLONES
#endif
#endif
#if !defined(KERNEL_CLONES) && defined(__x86_64__) && defined(__linux__) && \
    defined(__has_attribute)
#if __has_attribute(target_clones)
#define KERNEL_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef KERNEL_CLONES
#define KERNEL_CLONES
#endif

/* Matrix-matrix: TILE tokens times one panel of 8 rows, outer products accumulated over n,
 * so every weight vector loaded serves the TILE tokens. Written out per token because gcc
 * at -O2 does not unroll a token loop, and the accumulators must stay in registers. */
KERNEL_CLONES static void panel_tile(const matmul_job *j, const product *pr,
                                     const float *panel, int t0, int i0)
{
    float a0[LLM_PANEL] = {0}, a1[LLM_PANEL] = {0}, a2[LLM_PANEL] = {0}, a3[LLM_PANEL] = {0};
    size_t n = (size_t)j->n;
    const float *x0 = j->x + (size_t)t0 * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
    for (size_t p = 0; p < n; p++) {
        const float *wp = panel + p * LLM_PANEL;
        float v0 = x0[p], v1 = x1[p], v2 = x2[p], v3 = x3[p];
#pragma GCC unroll 8   /* straight-line code, vectorised whole: accumulators in registers */
        for (int r = 0; r < LLM_PANEL; r++) {
            a0[r] += v0 * wp[r];
            a1[r] += v1 * wp[r];
            a2[r] += v2 * wp[r];
            a3[r] += v3 * wp[r];
        }
    }
    const float *acc[TILE] = {a0, a1, a2, a3};
    for (int t = 0; t < TILE; t++)
        memcpy(pr->out + (size_t)(t0 + t) * (size_t)pr->d + (size_t)i0, acc[t], sizeof a0);
}

/* Matrix-vector: one token times one panel (decode, and a prompt's last tokens). */
KERNEL_CLONES static void panel_vector(const matmul_job *j, const product *pr,
                                       const float *panel, int t, int i0)
{
    float acc[LLM_PANEL] = {0};
    size_t n = (size_t)j->n;
    const float *x = j->x + (size_t)t * n;
    for (size_t p = 0; p < n; p++)
        for (int r = 0; r < LLM_PANEL; r++) acc[r] += x[p] * panel[p * LLM_PANEL + r];
    memcpy(pr->out + (size_t)t * (size_t)pr->d + (size_t)i0, acc, sizeof acc);
}

/* Item b of one product: panel b for every token, or past the panels one plain row. */
static void product_item(const matmul_job *j, const product *pr, int b)
{
    size_t n = (size_t)j->n;
    int panels = pr->d / LLM_PANEL, i0 = b * LLM_PANEL;
    if (b >= panels) {
        int i = panels * LLM_PANEL + (b - panels);
        for (int t = 0; t < j->T; t++)
            pr->out[(size_t)t * (size_t)pr->d + (size_t)i] =
                dot(pr->w + (size_t)i * n, j->x + (size_t)t * n, j->n);
        return;
    }
    const float *panel = pr->w + (size_t)i0 * n;
    int t = 0;
    for (; t + TILE <= j->T; t += TILE) panel_tile(j, pr, panel, t, i0);
    for (; t < j->T; t++) panel_vector(j, pr, panel, t, i0);
}

/* Items [b0, b1) of the job's products laid end to end. */
static void matmul_items(void *ctx, int b0, int b1)
{
    const matmul_job *j = ctx;
    int base = 0;
    for (int k = 0; k < j->count; k++) {
        int items = items_of(j->p[k].d);
        for (int b = b0 > base ? b0 : base; b < b1 && b < base + items; b++)
            product_item(j, &j->p[k], b - base);
        base += items;
    }
}

static void matmul_run(llm_pool *pool, matmul_job *j)
{
    int items = 0;
    for (int k = 0; k < j->count; k++) items += items_of(j->p[k].d);
    llm_pool_run(pool, matmul_items, j, items);
}

/* out[T x d] = x[T x n] * W[d x n]^T, split over the pool by panel. */
static void matmul(llm_pool *pool, float *out, const float *x, const float *w, int n, int d,
                   int T)
{
    matmul_job j = {{{out, w, d}}, 1, x, n, T};
    matmul_run(pool, &j);
}

static void rmsnorm(float *out, const float *x, const float *weight, int d, int T)
{
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * (size_t)d;
        float ss = dot(xt, xt, d);
        float scale = 1.0f / sqrtf(ss / (float)d + 1e-5f);
        for (int i = 0; i < d; i++) out[(size_t)t * (size_t)d + i] = weight[i] * scale * xt[i];
    }
}

static void softmax(float *x, int n)
{
    float max = x[0], sum = 0.0f;
    for (int i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    for (int i = 0; i < n; i++) sum += x[i] = expf(x[i] - max);
    for (int i = 0; i < n; i++) x[i] /= sum;
}

static void add(float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* Rotary position embedding of each head's (even, odd) pairs, queries and keys. */
static void rope(const llm_config *c, float *q, float *k, int T, int pos)
{
    int d = c->dim, hs = d / c->n_heads, kv = hs * c->n_kv_heads;
    for (int i = 0; i < d; i += 2) {
        float freq = powf(10000.0f, -(float)(i % hs) / (float)hs);   /* once per pair */
        for (int t = 0; t < T; t++) {
            float angle = (float)(pos + t) * freq, fc = cosf(angle), fs = sinf(angle);
            for (int which = 0; which < (i < kv ? 2 : 1); which++) {
                float *vec = which ? k + (size_t)t * (size_t)kv : q + (size_t)t * (size_t)d;
                float a = vec[i], b = vec[i + 1];
                vec[i] = a * fc - b * fs;
                vec[i + 1] = a * fs + b * fc;
            }
        }
    }
}

/* ---- attention ------------------------------------------------------------------------ */

typedef struct layer_ctx {
    llm_state *s;
    const llm_config *c;
    const llm_weights *w;
    llm_pool *pool;
    const llm_phases *ph;
    int layer, T, pos;
} layer_ctx;

static size_t kv_dim_of(const llm_config *c)
{
    return (size_t)(c->dim / c->n_heads) * (size_t)c->n_kv_heads;
}

static float *cache_row(const layer_ctx *lc, float *cache, int position)
{
    return cache + ((size_t)lc->layer * (size_t)lc->c->seq_len + (size_t)position) *
                       kv_dim_of(lc->c);
}

static float *scores_of(const layer_ctx *lc, int t, int head)
{
    return lc->s->att + ((size_t)t * (size_t)lc->c->n_heads + (size_t)head) *
                            (size_t)lc->c->seq_len;
}

static void attention_qkv(const layer_ctx *lc)
{
    const llm_config *c = lc->c;
    llm_state *s = lc->s;
    size_t d = (size_t)c->dim, kv = kv_dim_of(c), L = (size_t)lc->layer;
    rmsnorm(s->xb, s->x, lc->w->rms_att + L * d, c->dim, lc->T);
    const llm_weights *w = lc->w;
    matmul_job j = {{{s->q, w->wq + L * d * d, c->dim},
                     {s->k, w->wk + L * kv * d, (int)kv},
                     {s->v, w->wv + L * kv * d, (int)kv}},
                    3, s->xb, c->dim, lc->T};
    matmul_run(lc->pool, &j);
}

static void attention_cache(const layer_ctx *lc)
{
    size_t kv = kv_dim_of(lc->c);
    for (int t = 0; t < lc->T; t++) {
        memcpy(cache_row(lc, lc->s->key_cache, lc->pos + t), lc->s->k + (size_t)t * kv,
               kv * sizeof(float));
        memcpy(cache_row(lc, lc->s->value_cache, lc->pos + t), lc->s->v + (size_t)t * kv,
               kv * sizeof(float));
    }
}

/* Runs fn(lc, head) for every query head, the heads split over the pool. */
typedef struct heads_job {
    const layer_ctx *lc;
    void (*fn)(const layer_ctx *lc, int head);
} heads_job;

static void heads_range(void *ctx, int h0, int h1)
{
    const heads_job *j = ctx;
    for (int h = h0; h < h1; h++) j->fn(j->lc, h);
}

static void per_head(const layer_ctx *lc, void (*fn)(const layer_ctx *, int))
{
    heads_job j = {lc, fn};
    llm_pool_run(lc->pool, heads_range, &j, lc->c->n_heads);
}

static const float *kv_head(const layer_ctx *lc, float *cache, int position, int head)
{
    int hs = lc->c->dim / lc->c->n_heads, group = lc->c->n_heads / lc->c->n_kv_heads;
    return cache_row(lc, cache, position) + (size_t)(head / group) * (size_t)hs;
}

/* Q K^T of one head over the whole batch, causal: each cached key is loaded once and
 * serves every query that may see it. */
static void head_scores(const layer_ctx *lc, int h)
{
    const llm_config *c = lc->c;
    int hs = c->dim / c->n_heads;
    float scale = 1.0f / sqrtf((float)hs);
    for (int p = 0; p < lc->pos + lc->T; p++) {
        const float *k = kv_head(lc, lc->s->key_cache, p, h);
        for (int t = p > lc->pos ? p - lc->pos : 0; t < lc->T; t++) {
            const float *q = lc->s->q + (size_t)t * (size_t)c->dim + (size_t)h * (size_t)hs;
            scores_of(lc, t, h)[p] = dot(q, k, hs) * scale;
        }
    }
}

static void head_softmax(const layer_ctx *lc, int h)
{
    for (int t = 0; t < lc->T; t++) softmax(scores_of(lc, t, h), lc->pos + t + 1);
}

/* The probabilities times V of one head, each cached value loaded once for the batch. */
static void head_values(const layer_ctx *lc, int h)
{
    const llm_config *c = lc->c;
    int hs = c->dim / c->n_heads;
    size_t d = (size_t)c->dim;
    for (int t = 0; t < lc->T; t++)
        memset(lc->s->xb + (size_t)t * d + (size_t)h * (size_t)hs, 0, (size_t)hs * sizeof(float));
    for (int p = 0; p < lc->pos + lc->T; p++) {
        const float *v = kv_head(lc, lc->s->value_cache, p, h);
        for (int t = p > lc->pos ? p - lc->pos : 0; t < lc->T; t++)
            axpy(lc->s->xb + (size_t)t * d + (size_t)h * (size_t)hs, scores_of(lc, t, h)[p],
                 v, hs);
    }
}

static void attention_scores(const layer_ctx *lc) { per_head(lc, head_scores); }

static void attention_softmax(const layer_ctx *lc) { per_head(lc, head_softmax); }

/* The weighted sum of values per head, then the output projection into the residual. */
static void attention_output(const layer_ctx *lc)
{
    const llm_config *c = lc->c;
    llm_state *s = lc->s;
    size_t d = (size_t)c->dim;
    per_head(lc, head_values);
    matmul(lc->pool, s->xb2, s->xb, lc->w->wo + (size_t)lc->layer * d * d, c->dim, c->dim,
           lc->T);
    add(s->x, s->xb2, (size_t)lc->T * d);
}

/* One step of a layer inside its own phase (when the depth allows it). */
static void staged(const layer_ctx *lc, int level, pw_id phase, void (*step)(const layer_ctx *))
{
    llm_phase_begin(lc->ph, level, phase);
    step(lc);
    llm_phase_end(lc->ph, level);
}

static void attention_rope(const layer_ctx *lc)
{
    rope(lc->c, lc->s->q, lc->s->k, lc->T, lc->pos);
    attention_cache(lc);
}

static void attention(const layer_ctx *lc)
{
    const llm_phases *ph = lc->ph;
    llm_phase_begin(ph, 2, ph->attention);
    staged(lc, 3, ph->qkv, attention_qkv);
    staged(lc, 3, ph->rope, attention_rope);
    staged(lc, 3, ph->scores, attention_scores);
    staged(lc, 3, ph->softmax, attention_softmax);
    staged(lc, 3, ph->output, attention_output);
    llm_phase_end(ph, 2);
}

/* ---- MLP ------------------------------------------------------------------------------ */

/* SwiGLU over T rows of `in` with one expert's weights: out = W2 (silu(W1 x) * W3 x). */
static void swiglu(const layer_ctx *lc, int expert, float *out, const float *in, int T)
{
    const llm_config *c = lc->c;
    llm_state *s = lc->s;
    size_t d = (size_t)c->dim, h = (size_t)c->hidden_dim;
    size_t e = (size_t)lc->layer * (size_t)(c->n_experts ? c->n_experts : 1) + (size_t)expert;
    matmul_job j = {{{s->hb, lc->w->w1 + e * h * d, c->hidden_dim},
                     {s->hb2, lc->w->w3 + e * h * d, c->hidden_dim}},
                    2, in, c->dim, T};
    matmul_run(lc->pool, &j);
    for (size_t i = 0; i < (size_t)T * h; i++) {
        float g = s->hb[i];
        s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i];
    }
    matmul(lc->pool, out, s->hb, lc->w->w2 + e * d * h, c->hidden_dim, c->dim, T);
}

/* Each token's top-k experts by router score, weights renormalised over the chosen. */
static void moe_route(const layer_ctx *lc)
{
    const llm_config *c = lc->c;
    llm_state *s = lc->s;
    int E = c->n_experts, K = c->top_k;
    matmul(lc->pool, s->router_logits, s->xb,
           lc->w->router + (size_t)lc->layer * (size_t)E * (size_t)c->dim, c->dim, E, lc->T);
    for (int t = 0; t < lc->T; t++) {
        float *p = s->router_logits + (size_t)t * (size_t)E, total = 0.0f;
        softmax(p, E);
        for (int k = 0; k < K; k++) {
            int best = -1;
            for (int e = 0; e < E; e++)
                if (p[e] >= 0.0f && (best < 0 || p[e] > p[best])) best = e;
            s->route[t * K + k] = best;
            s->gate[t * K + k] = p[best];
            total += p[best];
            p[best] = -1.0f;   /* taken */
        }
        for (int k = 0; k < K; k++) s->gate[t * K + k] /= total;
    }
}

/* Each expert runs once on the batch of tokens routed to it. */
static void moe_experts(const layer_ctx *lc)
{
    const llm_config *c = lc->c;
    llm_state *s = lc->s;
    size_t d = (size_t)c->dim;
    for (int e = 0; e < c->n_experts; e++) {
        int m = 0;
        for (int t = 0; t < lc->T; t++)
            for (int k = 0; k < c->top_k; k++)
                if (s->route[t * c->top_k + k] == e) {
                    s->rows[m] = t * c->top_k + k;
                    memcpy(s->xe + (size_t)m++ * d, s->xb + (size_t)t * d, d * sizeof(float));
                }
        if (!m) continue;
        swiglu(lc, e, s->ye, s->xe, m);
        for (int r = 0; r < m; r++) {
            float g = s->gate[s->rows[r]], *x = s->x + (size_t)(s->rows[r] / c->top_k) * d;
            for (size_t i = 0; i < d; i++) x[i] += g * s->ye[(size_t)r * d + i];
        }
    }
}

static void mlp(const layer_ctx *lc)
{
    const llm_phases *ph = lc->ph;
    llm_state *s = lc->s;
    size_t d = (size_t)lc->c->dim;
    llm_phase_begin(ph, 2, ph->mlp);
    rmsnorm(s->xb, s->x, lc->w->rms_ffn + (size_t)lc->layer * d, lc->c->dim, lc->T);
    if (lc->c->n_experts) {
        staged(lc, 3, ph->router, moe_route);
        staged(lc, 3, ph->experts, moe_experts);
    } else {
        swiglu(lc, 0, s->xb2, s->xb, lc->T);
        add(s->x, s->xb2, (size_t)lc->T * d);
    }
    llm_phase_end(ph, 2);
}

/* ---- the whole pass ------------------------------------------------------------------- */

float *llm_forward(llm_state *s, const llm_config *c, const llm_weights *w, llm_pool *pool,
                   const llm_phases *ph, const int *tokens, int n, int pos)
{
    if (n < 1 || n > s->max_batch || pos < 0 || pos + n > c->seq_len) return NULL;
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size) return NULL;
    size_t d = (size_t)c->dim;
    llm_phase_begin(ph, 2, ph->embedding);
    for (int t = 0; t < n; t++)
        memcpy(s->x + (size_t)t * d, w->token_embedding + (size_t)tokens[t] * d,
               d * sizeof(float));
    llm_phase_end(ph, 2);
    for (int l = 0; l < c->n_layers; l++) {
        layer_ctx lc = {s, c, w, pool, ph, l, n, pos};
        attention(&lc);
        mlp(&lc);
    }
    llm_phase_begin(ph, 2, ph->lm_head);
    rmsnorm(s->xb, s->x + (size_t)(n - 1) * d, w->rms_final, c->dim, 1);
    matmul(pool, s->logits, s->xb, w->wcls, c->dim, c->vocab_size, 1);
    llm_phase_end(ph, 2);
    return s->logits;
}
