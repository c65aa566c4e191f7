/* libllama.c — a fake llama.cpp library for the tests of the llama shim: it exports the
 * functions of llama.cpp's C API that the test programs call, with llama.h's struct layouts
 * (tools/llama/llama_abi.h), and spends CPU time in proportion to the work a real engine
 * does (per token decoded, per sampling). It checks the batches it gets as llama.cpp does:
 * a sequence's positions follow on from what its KV cache holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PW_LLAMA_TEST_PARAMS
#include "llama_abi.h"

#define FAKE_SEQ_MAX 64

struct llama_model { int loaded; };
struct llama_context { llama_pos next[FAKE_SEQ_MAX]; int warmup; };
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
    return calloc(1, sizeof(struct llama_context));
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

/* 1.5 ms a batch plus 0.3 ms a token: prefill's cost grows with the prompt. */
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
    busy_us(1500 + 300L * b.n_tokens);
    return 0;
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
