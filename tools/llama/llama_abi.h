/* llama_abi.h — the parts of llama.cpp's public C API (include/llama.h) that the phasewatt
 * shim reads, declared here as facts about that ABI; no llama.cpp header is needed.
 *
 * Read against include/llama.h of llama.cpp's master at commit 0011438e (late 2025);
 * `llama_batch` has had this layout since the batch API appeared (b1400, Oct 2023). The
 * parameter structs (`llama_model_params`, `llama_context_params`) gain fields between
 * releases (flash_attn_type in b6xxx; n_rs_seq, n_outputs_max, ctx_type later): the shim
 * never reads them at fixed offsets, it relays them (see PW_LLAMA_PARAMS_MAX), and the
 * per-op mode finds cb_eval from the library's defaults (ops.c). */
#ifndef PW_LLAMA_ABI_H
#define PW_LLAMA_ABI_H

#include <stdbool.h>
#include <stdint.h>

typedef int32_t llama_token;
typedef int32_t llama_pos;
typedef int32_t llama_seq_id;

struct llama_model;
struct llama_context;
struct llama_sampler;
struct llama_memory_i;
typedef struct llama_memory_i *llama_memory_t;
typedef struct llama_token_data_array llama_token_data_array;

typedef struct llama_batch {
    int32_t n_tokens;
    llama_token *token;
    float *embd;
    llama_pos *pos;           /* NULL: positions tracked by the library */
    int32_t *n_seq_id;        /* NULL with seq_id: every token is sequence 0 */
    llama_seq_id **seq_id;
    int8_t *logits;
} llama_batch;

/* The head of ggml's `struct ggml_tensor` (ggml/include/ggml.h, the same from early 2024 to
 * late 2025: GGML_MAX_DIMS 4, GGML_MAX_OP_PARAMS 64, GGML_MAX_SRC 10, GGML_MAX_NAME 64), up to
 * the name: what the per-op mode reads of a graph node. */
struct ggml_tensor {
    int32_t type;
    void *buffer;
    int64_t ne[4];
    size_t nb[4];
    int32_t op;
    int32_t op_params[16];
    int32_t flags;
    struct ggml_tensor *src[10];
    struct ggml_tensor *view_src;
    size_t view_offs;
    void *data;
    char name[64];
};
/* ggml_backend_sched_eval_callback: asked (ask = true) for each node in order whether to
 * stop after it; told (ask = false) once it is computed, returning false to stop the graph. */
typedef bool (*pw_ggml_eval_cb)(struct ggml_tensor *t, bool ask, void *user_data);

/* llama_model_params (72 bytes in b6500) and llama_context_params (120 bytes in b6500,
 * about 150 in the master of late 2025) are passed by value. The shim relays them as an opaque block at
 * least this large: on x86-64 and AArch64 a by-value struct this size lives in the caller's
 * memory, so relaying a larger block hands the callee its own bytes first. */
#define PW_LLAMA_PARAMS_MAX 512
typedef struct pw_llama_params { _Alignas(8) unsigned char bytes[PW_LLAMA_PARAMS_MAX]; } pw_llama_params;


/* The b6500 parameter structs, for the tests' fake libllama and the programs that drive it
 * (the shim itself never looks inside them). */
#ifdef PW_LLAMA_TEST_PARAMS
struct llama_model_params {
    void *devices, *tensor_buft_overrides;
    int32_t n_gpu_layers, split_mode, main_gpu;
    const float *tensor_split;
    void *progress_callback, *progress_callback_user_data, *kv_overrides;
    bool vocab_only, use_mmap, use_mlock, check_tensors, use_extra_bufts;
};
struct llama_context_params {
    uint32_t n_ctx, n_batch, n_ubatch, n_seq_max;
    int32_t n_threads, n_threads_batch;
    int32_t rope_scaling_type, pooling_type, attention_type, flash_attn_type;
    float rope_freq_base, rope_freq_scale, yarn_ext_factor, yarn_attn_factor;
    float yarn_beta_fast, yarn_beta_slow;
    uint32_t yarn_orig_ctx;
    float defrag_thold;
    void *cb_eval, *cb_eval_user_data;
    int32_t type_k, type_v;
    void *abort_callback, *abort_callback_data;
    bool embeddings, offload_kqv, no_perf, op_offload, swa_full, kv_unified;
};
struct llama_model_params llama_model_default_params(void);
struct llama_context_params llama_context_default_params(void);
struct llama_model *llama_model_load_from_file(const char *path, struct llama_model_params p);
struct llama_context *llama_init_from_model(struct llama_model *m, struct llama_context_params p);
llama_memory_t llama_get_memory(const struct llama_context *ctx);
void llama_set_warmup(struct llama_context *ctx, bool on);
llama_batch llama_batch_init(int32_t n_tokens, int32_t embd, int32_t n_seq_max);
llama_batch llama_batch_get_one(llama_token *tokens, int32_t n_tokens);
void llama_batch_free(llama_batch b);
int32_t llama_decode(struct llama_context *ctx, llama_batch b);
struct llama_sampler *llama_sampler_init_greedy(void);
llama_token llama_sampler_sample(struct llama_sampler *s, struct llama_context *ctx, int32_t idx);
void llama_sampler_apply(struct llama_sampler *s, llama_token_data_array *cur);
void llama_sampler_free(struct llama_sampler *s);
bool llama_memory_seq_rm(llama_memory_t mem, llama_seq_id s, llama_pos p0, llama_pos p1);
void llama_memory_clear(llama_memory_t mem, bool data);
void llama_free(struct llama_context *ctx);
void llama_model_free(struct llama_model *m);
#endif

#endif
