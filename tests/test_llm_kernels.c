/* test_llm_kernels.c — phasewatt-llm's packed, tiled kernels against a straightforward
 * token-by-token reference forward pass (llama2.c's run.c order) over the same weights,
 * and a mixture-of-experts prefill against its own token-by-token decode. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../examples/llm/llm.h"
#include "tf.h"

/* Shapes chosen so every matrix has a partial panel (rows % 8 != 0) and a prompt of
 * PROMPT tokens leaves tokens after the last full tile of 4. */
enum { DIM = 44, HIDDEN = 52, LAYERS = 2, HEADS = 2, KV_HEADS = 1, VOCAB = 37, SEQ = 24,
       HS = DIM / HEADS, KVD = HS * KV_HEADS, PROMPT = 11, STEPS = 5 };

typedef struct weights {
    float rms_att[LAYERS][DIM], rms_ffn[LAYERS][DIM], rms_final[DIM];
    float emb[VOCAB][DIM];
    float wq[LAYERS][DIM][DIM], wk[LAYERS][KVD][DIM], wv[LAYERS][KVD][DIM];
    float wo[LAYERS][DIM][DIM];
    float w1[LAYERS][HIDDEN][DIM], w2[LAYERS][DIM][HIDDEN], w3[LAYERS][HIDDEN][DIM];
} weights;   /* in the v1 checkpoint's order, plain rows */

typedef struct reference {
    const weights *w;
    float key[LAYERS][SEQ][KVD], value[LAYERS][SEQ][KVD];
} reference;

static void fill_weights(weights *w)
{
    unsigned seed = 7;
    float *f = (float *)w;
    for (size_t i = 0; i < sizeof *w / sizeof(float); i++) {
        seed = seed * 1103515245u + 12345u;
        f[i] = ((float)((seed >> 8) & 0xFFFF) / 65536.0f - 0.5f) * 0.6f;
    }
    for (int l = 0; l < LAYERS; l++)
        for (int i = 0; i < DIM; i++) {
            w->rms_att[l][i] = 0.5f + 0.1f * (float)(i % 7);
            w->rms_ffn[l][i] = 1.4f - 0.1f * (float)(i % 5);
        }
    for (int i = 0; i < DIM; i++) w->rms_final[i] = 3.0f;
}

/* A v1 ("ak42") checkpoint of w in memory, shared classifier. */
static unsigned char *checkpoint(const weights *w, size_t *len)
{
    *len = 256 + sizeof *w;
    unsigned char *buf = calloc(1, *len);
    int32_t head[9] = {0x616b3432, 1, DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ};
    memcpy(buf, head, sizeof head);
    buf[36] = 1;
    memcpy(buf + 256, w, sizeof *w);
    return buf;
}

/* ---- the reference: one token at a time, one plain sum per output ------------------ */

static void ref_matvec(float *out, const float *x, const float *w, int n, int d)
{
    for (int i = 0; i < d; i++) {
        double sum = 0.0;
        for (int p = 0; p < n; p++) sum += (double)w[i * n + p] * x[p];
        out[i] = (float)sum;
    }
}

static void ref_rmsnorm(float *out, const float *x, const float *g)
{
    double ss = 0.0;
    for (int i = 0; i < DIM; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / DIM + 1e-5));
    for (int i = 0; i < DIM; i++) out[i] = g[i] * scale * x[i];
}

static void ref_rotate(float *vec, int heads, int pos)
{
    for (int h = 0; h < heads; h++)
        for (int j = 0; j < HS; j += 2) {
            float angle = (float)pos * powf(10000.0f, -(float)j / (float)HS);
            float *v = vec + h * HS + j, a = v[0], b = v[1];
            v[0] = a * cosf(angle) - b * sinf(angle);
            v[1] = a * sinf(angle) + b * cosf(angle);
        }
}

static void ref_attention(reference *r, int l, const float *q, int pos, float *out)
{
    for (int h = 0; h < HEADS; h++) {
        const int kvh = h / (HEADS / KV_HEADS);
        double att[SEQ], max = -1e30, total = 0.0;
        for (int p = 0; p <= pos; p++) {
            double dot = 0.0;
            for (int i = 0; i < HS; i++) dot += (double)q[h * HS + i] * r->key[l][p][kvh * HS + i];
            att[p] = dot / sqrt((double)HS);
            if (att[p] > max) max = att[p];
        }
        for (int p = 0; p <= pos; p++) total += att[p] = exp(att[p] - max);
        for (int i = 0; i < HS; i++) {
            double sum = 0.0;
            for (int p = 0; p <= pos; p++) sum += att[p] / total * r->value[l][p][kvh * HS + i];
            out[h * HS + i] = (float)sum;
        }
    }
}

static void ref_mlp(const weights *w, int l, const float *xb, float *out)
{
    float g[HIDDEN], u[HIDDEN];
    ref_matvec(g, xb, &w->w1[l][0][0], DIM, HIDDEN);
    ref_matvec(u, xb, &w->w3[l][0][0], DIM, HIDDEN);
    for (int i = 0; i < HIDDEN; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    ref_matvec(out, g, &w->w2[l][0][0], HIDDEN, DIM);
}

static void ref_step(reference *r, int token, int pos, float *logits)
{
    const weights *w = r->w;
    float x[DIM], xb[DIM], q[DIM], o[DIM], y[DIM];
    memcpy(x, w->emb[token], sizeof x);
    for (int l = 0; l < LAYERS; l++) {
        ref_rmsnorm(xb, x, w->rms_att[l]);
        ref_matvec(q, xb, &w->wq[l][0][0], DIM, DIM);
        ref_matvec(r->key[l][pos], xb, &w->wk[l][0][0], DIM, KVD);
        ref_matvec(r->value[l][pos], xb, &w->wv[l][0][0], DIM, KVD);
        ref_rotate(q, HEADS, pos);
        ref_rotate(r->key[l][pos], KV_HEADS, pos);
        ref_attention(r, l, q, pos, o);
        ref_matvec(y, o, &w->wo[l][0][0], DIM, DIM);
        for (int i = 0; i < DIM; i++) x[i] += y[i];
        ref_rmsnorm(xb, x, w->rms_ffn[l]);
        ref_mlp(w, l, xb, y);
        for (int i = 0; i < DIM; i++) x[i] += y[i];
    }
    ref_rmsnorm(xb, x, w->rms_final);
    ref_matvec(logits, xb, &w->emb[0][0], DIM, VOCAB);
}

/* ---- the comparison ------------------------------------------------------------------ */

static double worst_error(const float *got, const float *want)
{
    double worst = 0.0;
    for (int i = 0; i < VOCAB; i++) {
        double e = fabs((double)got[i] - want[i]) / (1.0 + fabs((double)want[i]));
        if (e > worst) worst = e;
    }
    return worst;
}

/* Prefill of the prompt as one batch, then single-token decode steps, against the
 * reference run token by token; every step's logits must agree. */
static void compare_with_reference(int threads)
{
    weights *w = malloc(sizeof *w);
    reference *r = calloc(1, sizeof *r);
    fill_weights(w);
    r->w = w;
    size_t len;
    llm_config c;
    llm_weights lw;
    char why[256] = "";
    unsigned char *buf = checkpoint(w, &len);
    CHECK_MSG(llm_weights_from_buffer(buf, len, &c, &lw, why, sizeof why) == PW_OK, "%s", why);
    llm_state *s = llm_state_new(&c, PROMPT);
    llm_pool *pool = llm_pool_new(threads);
    llm_phases ph;
    llm_phases_init(&ph, 0);
    int tokens[PROMPT + STEPS];
    for (int i = 0; i < PROMPT + STEPS; i++) tokens[i] = (i * 13 + 5) % VOCAB;
    float want[VOCAB];
    for (int p = 0; p < PROMPT; p++) ref_step(r, tokens[p], p, want);
    const float *got = llm_forward(s, &c, &lw, pool, &ph, tokens, PROMPT, 0);
    CHECK(got != NULL);
    double e = worst_error(got, want);
    CHECK_MSG(e < 1e-4, "prefill logits differ from the reference by %g (%d threads)", e,
              threads);
    for (int p = PROMPT; p < PROMPT + STEPS; p++) {
        ref_step(r, tokens[p], p, want);
        got = llm_forward(s, &c, &lw, pool, &ph, &tokens[p], 1, p);
        e = worst_error(got, want);
        CHECK_MSG(e < 1e-4, "decode logits at position %d differ by %g (%d threads)", p, e,
                  threads);
    }
    llm_pool_free(pool);
    llm_state_free(s);
    llm_weights_free(&lw);
    free(r);
    free(w);
}

TEST(llm_kernels_match_a_token_by_token_reference_on_one_thread)
{
    compare_with_reference(1);
}

TEST(llm_kernels_match_a_token_by_token_reference_on_three_threads)
{
    compare_with_reference(3);
}

/* The packed layout itself: W[i][p] lands where llm.h says, tail rows untouched. */
TEST(llm_pack_rows_puts_each_weight_where_the_layout_says)
{
    enum { D = 19, N = 5 };
    float m[D * N], tmp[LLM_PANEL * N];
    for (int i = 0; i < D * N; i++) m[i] = (float)i;
    llm_pack_rows(m, D, N, tmp);
    for (int i = 0; i < D; i++)
        for (int p = 0; p < N; p++) {
            int in_panel = i < D / LLM_PANEL * LLM_PANEL;
            int at = in_panel ? i / LLM_PANEL * LLM_PANEL * N + p * LLM_PANEL + i % LLM_PANEL
                              : i * N + p;
            CHECK_MSG(m[at] == (float)(i * N + p), "W[%d][%d] is not at %d", i, p, at);
        }
}

/* Mixture of experts has no llama2.c checkpoint to share with the reference: its batched
 * prefill (tiles, experts run on the tokens routed to them) must give the logits that the
 * same tokens give one at a time through the decode kernels. */
TEST(llm_moe_prefill_matches_the_same_tokens_one_at_a_time)
{
    llm_config c = {DIM, 20, LAYERS, HEADS, KV_HEADS, VOCAB, SEQ, 3, 2, 1};
    char why[256] = "";
    CHECK_MSG(llm_config_check(&c, why, sizeof why) == PW_OK, "%s", why);
    llm_weights w;
    CHECK_INT(llm_weights_synthetic(&c, 5, &w), PW_OK);
    llm_state *batch = llm_state_new(&c, PROMPT), *single = llm_state_new(&c, 1);
    llm_pool *pool = llm_pool_new(2);
    llm_phases ph;
    llm_phases_init(&ph, 0);
    int tokens[PROMPT];
    for (int i = 0; i < PROMPT; i++) tokens[i] = (i * 7 + 3) % VOCAB;
    float want[VOCAB];
    for (int p = 0; p < PROMPT; p++)
        memcpy(want, llm_forward(single, &c, &w, pool, &ph, &tokens[p], 1, p), sizeof want);
    const float *got = llm_forward(batch, &c, &w, pool, &ph, tokens, PROMPT, 0);
    double e = worst_error(got, want);
    CHECK_MSG(e < 1e-5, "batched MoE prefill differs from token by token by %g", e);
    llm_pool_free(pool);
    llm_state_free(batch);
    llm_state_free(single);
    llm_weights_free(&w);
}
