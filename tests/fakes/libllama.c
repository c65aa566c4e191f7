/* libllama.c — a fake llama.cpp library for the tests of the llama shim: it exports the
 * functions of llama.cpp's C API that the test programs call, with llama.h's struct layouts
 * (tools/llama/llama_abi.h), and spends CPU time in proportion to the work a real engine
 * does (a graph of llama.cpp's nodes per batch, dearer per token; per sampling), calls the
 * context's cb_eval as ggml's scheduler does, and checks the batches it gets as llama.cpp does:
 * a sequence's positions follow on from what its KV cache holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PW_LLAMA_TEST_PARAMS
#include "llama_abi.h"

#define FAKE_SEQ_MAX 64

struct llama_model { int loaded; };
struct llama_context {
    llama_pos next[FAKE_SEQ_MAX];
    int warmup;
    pw_ggml_eval_cb cb_eval;
    void *cb_eval_user_data;
};
struct llama_sampler { llama_token last; };
struct llama_token_data_array { float *logits; size_t size; };

static void busy_us(long us)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

struct llama_model_params llama_model_default_params(void)
{
    return (struct llama_model_params){.n_gpu_layers = -1, .use_mmap = true};
}

struct llama_context_params llama_context_default_params(void)
{
    return (struct llama_context_params){.n_ctx = 512, .n_batch = 2048, .n_ubatch = 512,
                                         .n_seq_max = 1, .n_threads = 4, .n_threads_batch = 4,
                                         .yarn_ext_factor = -1.0f, .yarn_attn_factor = 1.0f,
                                         .yarn_beta_fast = 32.0f, .yarn_beta_slow = 1.0f,
                                         .defrag_thold = -1.0f, .offload_kqv = true};
}

struct llama_model *llama_model_load_from_file(const char *path, struct llama_model_params p)
{
    if (!path || !p.use_mmap) return NULL;   /* the relayed block must arrive intact */
    busy_us(3000);
    struct llama_model *m = calloc(1, sizeof *m);
    if (m) m->loaded = 1;
    return m;
}

struct llama_context *llama_init_from_model(struct llama_model *m, struct llama_context_params p)
{
    if (!m || p.n_seq_max < 1 || p.n_seq_max > FAKE_SEQ_MAX || p.yarn_attn_factor != 1.0f)
        return NULL;
    busy_us(2000);
    struct llama_context *ctx = calloc(1, sizeof *ctx);
    if (ctx) {
        ctx->cb_eval = (pw_ggml_eval_cb)p.cb_eval;
        ctx->cb_eval_user_data = p.cb_eval_user_data;
    }
    return ctx;
}

llama_memory_t llama_get_memory(const struct llama_context *ctx)
{
    return (llama_memory_t)(void *)(uintptr_t)ctx;
}

void llama_set_warmup(struct llama_context *ctx, bool on) { ctx->warmup = on; }

llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max)
{
    llama_batch b = {0};
    b.token = calloc((size_t)n_tokens, sizeof *b.token);
    b.pos = calloc((size_t)n_tokens, sizeof *b.pos);
    b.n_seq_id = calloc((size_t)n_tokens, sizeof *b.n_seq_id);
    b.seq_id = calloc((size_t)n_tokens + 1, sizeof *b.seq_id);
    b.logits = calloc((size_t)n_tokens, sizeof *b.logits);
    for (int32_t i = 0; b.seq_id && i < n_tokens; i++)
        b.seq_id[i] = calloc((size_t)n_seq_max, sizeof **b.seq_id);
    (void)embd;
    return b;
}

llama_batch llama_batch_get_one(llama_token *tokens, int32_t n_tokens)
{
    return (llama_batch){.n_tokens = n_tokens, .token = tokens};
}

void llama_batch_free(llama_batch b)
{
    for (int32_t i = 0; b.seq_id && b.seq_id[i]; i++) free(b.seq_id[i]);
    free(b.token);
    free(b.pos);
    free(b.n_seq_id);
    free(b.seq_id);
    free(b.logits);
}

/* ---- the graph: a 2-layer llama with llama.cpp's node and weight names ------------------ */
#define LAYERS 2
#define NODES_MAX 64
static struct ggml_tensor weights[3 + LAYERS * 9];
static struct ggml_tensor nodes[NODES_MAX];
static int node_us[NODES_MAX];
static int nnodes;

static struct ggml_tensor *weight(const char *name)
{
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        if (!weights[i].name[0]) snprintf(weights[i].name, sizeof weights[i].name, "%s", name);
        if (!strcmp(weights[i].name, name)) return &weights[i];
    }
    return NULL;
}

/* A node named name computed from a (and b), costing us microseconds at 1 token. */
static struct ggml_tensor *node(const char *name, struct ggml_tensor *a, struct ggml_tensor *b,
                                int us)
{
    struct ggml_tensor *t = &nodes[nnodes];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->src[0] = a;
    t->src[1] = b;
    node_us[nnodes++] = us;
    return t;
}

static void build_graph(void)
{
    char w[64], n[64];
    if (nnodes) return;
    struct ggml_tensor *x = node("inp_embd", weight("token_embd.weight"), NULL, 100);
    for (int l = 0; l < LAYERS; l++) {
#define W(part) (snprintf(w, sizeof w, "blk.%d." part ".weight", l), weight(w))
#define N(part) (snprintf(n, sizeof n, part "-%d", l), n)
        struct ggml_tensor *h = node(N("attn_norm"), x, W("attn_norm"), 20);
        struct ggml_tensor *q = node(N("Qcur"), W("attn_q"), h, 150);
        struct ggml_tensor *k = node(N("Kcur"), W("attn_k"), h, 150);
        node(N("Vcur"), W("attn_v"), h, 150);
        struct ggml_tensor *kq = node(N("kq"), k, q, 100);
        struct ggml_tensor *kqv = node(N("kqv"), node(N("kq_soft_max"), kq, NULL, 50), NULL, 100);
        struct ggml_tensor *o = node(N("attn_out"), W("attn_output"), kqv, 150);
        struct ggml_tensor *f = node(N("ffn_inp"), o, x, 20);
        struct ggml_tensor *fn = node(N("ffn_norm"), f, W("ffn_norm"), 20);
        struct ggml_tensor *g = node(N("ffn_gate"), W("ffn_gate"), fn, 200);
        struct ggml_tensor *u = node(N("ffn_up"), W("ffn_up"), fn, 200);
        struct ggml_tensor *d = node(N("ffn_down"), W("ffn_down"), node(N("ffn_swiglu"), g, u, 30), 200);
        x = node(N("l_out"), d, f, 20);
#undef W
#undef N
    }
    node("result_output", weight("output.weight"), node("result_norm", x, weight("output_norm.weight"), 20), 300);
}

/* Runs the graph as ggml's scheduler does with an eval callback: asks node by node whether
 * to stop after it, computes up to there, then tells the callback, which may end the graph. */
static int compute(struct llama_context *ctx, int32_t n_tokens)
{
    build_graph();
    double scale = 0.3 + 0.1 * n_tokens;
    for (int j0 = 0; j0 < nnodes; j0++) {
        int j1 = j0;
        bool need = ctx->cb_eval && ctx->cb_eval(&nodes[j0], true, ctx->cb_eval_user_data);
        while (ctx->cb_eval && !need && j1 < nnodes - 1)
            need = ctx->cb_eval(&nodes[++j1], true, ctx->cb_eval_user_data);
        if (!ctx->cb_eval) j1 = nnodes - 1;
        for (int j = j0; j <= j1; j++) busy_us((long)(node_us[j] * scale));
        if (need && !ctx->cb_eval(&nodes[j1], false, ctx->cb_eval_user_data)) return 2;
        j0 = j1;
    }
    return 0;
}

/* A batch is one pass of the graph, dearer with more tokens. */
int32_t llama_decode(struct llama_context *ctx, llama_batch b)
{
    if (!ctx || b.n_tokens <= 0) return -1;
    for (int32_t i = 0; i < b.n_tokens; i++) {
        llama_seq_id s = b.seq_id ? b.seq_id[i][0] : 0;
        if (s < 0 || s >= FAKE_SEQ_MAX) return -1;
        llama_pos p = b.pos ? b.pos[i] : ctx->next[s];
        if (p != ctx->next[s]) {
            fprintf(stderr, "fake llama_decode: sequence %d at position %d, expected %d\n", s, p,
                    ctx->next[s]);
            return -1;
        }
        ctx->next[s] = p + 1;
    }
    return compute(ctx, b.n_tokens);
}

bool llama_memory_seq_rm(llama_memory_t mem, llama_seq_id s, llama_pos p0, llama_pos p1)
{
    struct llama_context *ctx = (struct llama_context *)(void *)mem;
    for (int i = 0; i < FAKE_SEQ_MAX; i++)
        if (s < 0 || i == s) ctx->next[i] = p0 > 0 && p0 < ctx->next[i] && p1 < 0 ? p0 : 0;
    return true;
}

void llama_memory_clear(llama_memory_t mem, bool data)
{
    (void)data;
    llama_memory_seq_rm(mem, -1, -1, -1);
}

struct llama_sampler *llama_sampler_init_greedy(void)
{
    return calloc(1, sizeof(struct llama_sampler));
}

void llama_sampler_apply(struct llama_sampler *s, llama_token_data_array *cur)
{
    (void)cur;
    busy_us(100);
    s->last = (s->last * 31 + 7) % 32000;
}

/* Like llama.cpp's: applies the sampler through the exported function. */
llama_token llama_sampler_sample(struct llama_sampler *s, struct llama_context *ctx, int32_t idx)
{
    (void)ctx;
    (void)idx;
    float logits[8] = {0};
    llama_token_data_array cur = {logits, 8};
    busy_us(200);
    llama_sampler_apply(s, &cur);
    return s->last;
}

void llama_sampler_free(struct llama_sampler *s) { free(s); }

void llama_free(struct llama_context *ctx)
{
    busy_us(1000);
    free(ctx);
}

void llama_model_free(struct llama_model *m)
{
    busy_us(1000);
    free(m);
}
