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

typedef struct matmul_job {
    float *out;          /* T x d */
    const float *x;      /* T x n */
    const float *w;      /* d x n */
    int n, d, T;
} matmul_job;

/* Rows [i0, i1) of W for every token: each weight row is loaded once per batch. */
static void matmul_rows(void *ctx, int i0, int i1)
{
    const matmul_job *j = ctx;
    for (int i = i0; i < i1; i++) {
        const float *wi = j->w + (size_t)i * (size_t)j->n;
        for (int t = 0; t < j->T; t++) {
            const float *xt = j->x + (size_t)t * (size_t)j->n;
            float sum = 0.0f;
            for (int p = 0; p < j->n; p++) sum += wi[p] * xt[p];
            j->out[(size_t)t * (size_t)j->d + (size_t)i] = sum;
        }
    }
}

/* out[T x d] = x[T x n] * W[d x n]^T, split over the pool by output row. */
static void matmul(llm_pool *pool, float *out, const float *x, const float *w, int n, int d,
                   int T)
{
    matmul_job j = {out, x, w, n, d, T};
    llm_pool_run(pool, matmul_rows, &j, d);
}

static void rmsnorm(float *out, const float *x, const float *weight, int d, int T)
{
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * (size_t)d;
        float ss = 0.0f;
        for (int i = 0; i < d; i++) ss += xt[i] * xt[i];
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
    for (int t = 0; t < T; t++)
        for (int i = 0; i < d; i += 2) {
            float freq = powf(10000.0f, -(float)(i % hs) / (float)hs);
            float angle = (float)(pos + t) * freq, fc = cosf(angle), fs = sinf(angle);
            for (int which = 0; which < (i < kv ? 2 : 1); which++) {
                float *vec = which ? k + (size_t)t * (size_t)kv : q + (size_t)t * (size_t)d;
                float a = vec[i], b = vec[i + 1];
                vec[i] = a * fc - b * fs;
                vec[i + 1] = a * fs + b * fc;
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
    matmul(lc->pool, s->q, s->xb, lc->w->wq + L * d * d, c->dim, c->dim, lc->T);
    matmul(lc->pool, s->k, s->xb, lc->w->wk + L * kv * d, c->dim, (int)kv, lc->T);
    matmul(lc->pool, s->v, s->xb, lc->w->wv + L * kv * d, c->dim, (int)kv, lc->T);
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

/* q . k for every token, head and earlier position (causal). */
static void attention_scores(const layer_ctx *lc)
{
    const llm_config *c = lc->c;
    int hs = c->dim / c->n_heads, group = c->n_heads / c->n_kv_heads;
    float scale = 1.0f / sqrtf((float)hs);
    for (int t = 0; t < lc->T; t++)
        for (int h = 0; h < c->n_heads; h++) {
            const float *q = lc->s->q + (size_t)t * (size_t)c->dim + (size_t)h * (size_t)hs;
            float *att = scores_of(lc, t, h);
            for (int p = 0; p <= lc->pos + t; p++) {
                const float *k = cache_row(lc, lc->s->key_cache, p) + (size_t)(h / group) * (size_t)hs;
                float dot = 0.0f;
                for (int i = 0; i < hs; i++) dot += q[i] * k[i];
                att[p] = dot * scale;
            }
        }
}

static void attention_softmax(const layer_ctx *lc)
{
    for (int t = 0; t < lc->T; t++)
        for (int h = 0; h < lc->c->n_heads; h++) softmax(scores_of(lc, t, h), lc->pos + t + 1);
}

/* The weighted sum of values per head, then the output projection into the residual. */
static void attention_output(const layer_ctx *lc)
{
    const llm_config *c = lc->c;
    llm_state *s = lc->s;
    int hs = c->dim / c->n_heads, group = c->n_heads / c->n_kv_heads;
    size_t d = (size_t)c->dim;
    for (int t = 0; t < lc->T; t++)
        for (int h = 0; h < c->n_heads; h++) {
            float *out = s->xb + (size_t)t * d + (size_t)h * (size_t)hs;
            const float *att = scores_of(lc, t, h);
            memset(out, 0, (size_t)hs * sizeof(float));
            for (int p = 0; p <= lc->pos + t; p++) {
                const float *v = cache_row(lc, s->value_cache, p) + (size_t)(h / group) * (size_t)hs;
                for (int i = 0; i < hs; i++) out[i] += att[p] * v[i];
            }
        }
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
    matmul(lc->pool, s->hb, in, lc->w->w1 + e * h * d, c->dim, c->hidden_dim, T);
    matmul(lc->pool, s->hb2, in, lc->w->w3 + e * h * d, c->dim, c->hidden_dim, T);
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
