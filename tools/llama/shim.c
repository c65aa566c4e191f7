/* shim.c — libphasewatt-llama.so: preloaded into an unmodified llama.cpp program by
 * `phasewatt record --llama`, it wraps llama.cpp's public C API and tags what the program
 * does: model load and context creation (pre-inference), each batch of llama_decode /
 * llama_encode (prefill, decode, mixed, warmup) with its tokens per sequence, the sampler
 * calls (sampling) and the frees (post-inference). Each call goes on to the real function
 * (dlsym RTLD_NEXT); anything unexpected is one line on stderr and the program runs on
 * untagged, never a crash. Layouts: llama_abi.h; the rules: docs/llama.md. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "phasewatt.h"
#include "llama_abi.h"
#include "ops.h"

#define EXPORT __attribute__((visibility("default")))
#define SEQ_MAX 256           /* sequences tracked per request; llama-server's are slot ids */
#define BATCH_MAX (1 << 24)   /* more tokens than this in one batch: not a llama_batch we know */

/* ---- saying what went wrong, once ---------------------------------------------------- */

static atomic_int tagging_off;   /* an unknown layout was seen: relay only from then on */

static void say_once(atomic_int *said, const char *fmt, const char *what)
{
    if (atomic_exchange(said, 1)) return;
    fputs("phasewatt-llama: ", stderr);
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
}

/* The real function behind an interposed one, resolved on first use (a program may dlopen
 * libllama after start); NULL, said once, where the loaded library lacks it. */
typedef struct real_fn { const char *name; void *fn; atomic_int said; } real_fn;

static void *real(real_fn *r)
{
    if (!r->fn) r->fn = dlsym(RTLD_NEXT, r->name);
    if (!r->fn) say_once(&r->said, "%s is not in the loaded llama library: the call fails "
                         "and is not tagged", r->name);
    return r->fn;
}
#define REAL(name) static real_fn r_##name = {#name, NULL, 0}

static void layout_unknown(const char *why)
{
    static atomic_int said;
    atomic_store(&tagging_off, 1);
    say_once(&said, "%s: not a llama.cpp ABI this shim knows (docs/llama.md); the rest of "
             "the run is recorded untagged", why);
}

/* ---- phases ----------------------------------------------------------------------------- */

enum phase { PRE, PREFILL, DECODE, MIXED, WARMUP, SAMPLING, POST, NPHASES };
static const char *const phase_names[NPHASES] = {
    "pre-inference", "prefill", "decode", "mixed", "warmup", "sampling", "post-inference"};
static atomic_uint phase_ids[NPHASES];

static int begin(enum phase p)
{
    if (atomic_load_explicit(&tagging_off, memory_order_relaxed)) return 0;
    unsigned id = atomic_load_explicit(&phase_ids[p], memory_order_relaxed);
    if (!id) atomic_store(&phase_ids[p], id = pw_phase_id(phase_names[p]));
    return pw_begin(id) == PW_OK;
}

static void end(int begun)
{
    if (begun) pw_end();
}

/* ---- sequences -------------------------------------------------------------------------
 * Per sequence: the next position (for batches without pos), whether it has had tokens since
 * it last ended, and its counters "llama.seq.N.prompt" / "llama.seq.N.generated", which the
 * per-request view of `report` reads (src/report/requests.c). */
typedef struct seq_state {
    llama_pos next_pos;
    int active;
    int generating;           /* it has had a generated token since its last prompt tokens */
    pw_id prompt_id, generated_id, end_id;
    int32_t in_batch, prompt, generated;   /* this batch's tokens */
} seq_state;

static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
static seq_state seqs[SEQ_MAX];
static int warmup_on;

static pw_id seq_name(int s, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "llama.seq.%d.%s", s, what);
    return !strcmp(what, "end") ? pw_phase_id(name) : pw_counter_id(name);
}

static void seq_end(int s)
{
    seq_state *q = &seqs[s];
    if (q->active && !atomic_load(&tagging_off)) {
        if (!q->end_id) q->end_id = seq_name(s, "end");
        pw_mark(q->end_id);
    }
    q->active = q->generating = 0;
    q->next_pos = 0;
}

/* A removal of positions [p0, p1) of sequence s (s < 0: all), p1 < 0 meaning to the end:
 * the whole sequence gone ends its request. So does a cut to the end after generated tokens:
 * llama-server keeps a slot's common prompt prefix for its next request (prompt caching);
 * the next position is then the cut. A cut inside (a context shift) changes nothing. */
static void seq_removed(llama_seq_id s, llama_pos p0, llama_pos p1)
{
    pthread_mutex_lock(&seq_lock);
    for (int i = 0; i < SEQ_MAX; i++) {
        if (s >= 0 && i != s) continue;
        if (p0 <= 0 && p1 < 0) {
            seq_end(i);
        } else if (p1 < 0 && p0 < seqs[i].next_pos) {
            if (seqs[i].generating) seq_end(i);
            seqs[i].next_pos = p0;
        }
    }
    pthread_mutex_unlock(&seq_lock);
}

static llama_seq_id token_seq(const llama_batch *b, int32_t i)
{
    return b->seq_id ? b->seq_id[i][0] : 0;
}

/* Checks what the shim reads of a batch; 0 when it is not a layout it knows. */
static int batch_ok(const llama_batch *b)
{
    if (b->n_tokens <= 0 || b->n_tokens > BATCH_MAX || (b->seq_id && !b->n_seq_id)) return 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        if (b->pos && b->pos[i] < 0) return 0;
        if (b->seq_id && (b->n_seq_id[i] < 1 || !b->seq_id[i] || b->seq_id[i][0] < 0)) return 0;
    }
    return 1;
}

/* The rule (docs/llama.md): a sequence's tokens in a batch are prompt tokens when it brings
 * more than one of them or they start at position 0, else its one token is a generated one.
 * Fills each sequence's counts and returns the batch's phase. Under seq_lock. */
static enum phase classify(const llama_batch *b, int32_t *prompt, int32_t *generated)
{
    *prompt = *generated = 0;
    for (int32_t i = 0; i < b->n_tokens; i++) {
        llama_seq_id s = token_seq(b, i);
        if (s < SEQ_MAX) seqs[s].in_batch++;
    }
    for (int32_t i = 0; i < b->n_tokens; i++) {
        llama_seq_id s = token_seq(b, i);
        seq_state *q = s < SEQ_MAX ? &seqs[s] : NULL;
        llama_pos p = b->pos ? b->pos[i] : q ? q->next_pos : 1;
        int is_prompt = (q ? q->in_batch > 1 : b->n_tokens > 1) || p == 0;
        *(is_prompt ? prompt : generated) += 1;
        if (!q) continue;
        *(is_prompt ? &q->prompt : &q->generated) += 1;
        if (p + 1 > q->next_pos) q->next_pos = p + 1;
    }
    if (warmup_on) return WARMUP;
    return !*generated ? PREFILL : !*prompt ? DECODE : MIXED;
}

/* Counts each sequence's tokens of this batch inside its phase, and resets them. */
static void count_sequences(const llama_batch *b, int counting)
{
    for (int32_t i = 0; i < b->n_tokens; i++) {
        llama_seq_id s = token_seq(b, i);
        if (s >= SEQ_MAX || !seqs[s].in_batch) continue;
        seq_state *q = &seqs[s];
        if (counting) {
            if (!q->prompt_id) q->prompt_id = seq_name(s, "prompt");
            if (!q->generated_id) q->generated_id = seq_name(s, "generated");
            if (q->prompt) pw_count(q->prompt_id, q->prompt);
            if (q->generated) pw_count(q->generated_id, q->generated);
            q->active = 1;
            q->generating = q->prompt ? 0 : q->generating || q->generated;
        }
        q->in_batch = q->prompt = q->generated = 0;
    }
}

static int begin_batch(const llama_batch *b)
{
    if (atomic_load_explicit(&tagging_off, memory_order_relaxed)) return 0;
    if (!batch_ok(b)) {
        layout_unknown("llama_batch with an impossible n_tokens, pos or seq_id");
        return 0;
    }
    static atomic_uint tokens_id;
    if (!atomic_load(&tokens_id)) atomic_store(&tokens_id, pw_counter_id("tokens"));
    pthread_mutex_lock(&seq_lock);
    int32_t prompt, generated;
    enum phase p = classify(b, &prompt, &generated);
    int begun = begin(p);
    if (begun) pw_count(atomic_load(&tokens_id), prompt + generated);
    count_sequences(b, begun && p != WARMUP);
    pthread_mutex_unlock(&seq_lock);
    return begun;
}

/* ---- the interposed API ----------------------------------------------------------------- */

REAL(llama_decode);
REAL(llama_encode);
typedef int32_t (*batch_fn)(struct llama_context *, llama_batch);

static int32_t run_batch(real_fn *r, struct llama_context *ctx, llama_batch b)
{
    batch_fn f = (batch_fn)real(r);
    if (!f) return -1;
    int begun = begin_batch(&b);
    pw_llama_ops_batch(begun);
    int32_t rc = f(ctx, b);
    pw_llama_ops_batch(0);
    end(begun);
    return rc;
}

EXPORT int32_t llama_decode(struct llama_context *ctx, llama_batch b)
{
    return run_batch(&r_llama_decode, ctx, b);
}

EXPORT int32_t llama_encode(struct llama_context *ctx, llama_batch b)
{
    return run_batch(&r_llama_encode, ctx, b);
}

/* Model load and context creation: the parameter block is relayed unread (llama_abi.h). */
typedef void *(*load_fn)(const void *, pw_llama_params);
static void *pre_inference(real_fn *r, const void *arg, pw_llama_params params)
{
    load_fn f = (load_fn)real(r);
    if (!f) return NULL;
    int begun = begin(PRE);
    void *out = f(arg, params);
    end(begun);
    return out;
}

REAL(llama_model_load_from_file);
REAL(llama_load_model_from_file);
REAL(llama_init_from_model);
REAL(llama_new_context_with_model);
REAL(llama_context_default_params);

/* --llama-ops: our eval callback in front of the program's, in the context's parameters. */
static void chain_ops(pw_llama_params *p)
{
    static atomic_int said;
    char why[160];
    pw_llama_params (*defaults)(void) =
        (pw_llama_params (*)(void))real(&r_llama_context_default_params);
    if (!defaults) return;
    pw_llama_params d = defaults();
    if (pw_llama_ops_chain(p, &d, why, sizeof why) != 0)
        say_once(&said, "per-op mode off: %s; the batches are still tagged", why);
}

static void *new_context(real_fn *r, struct llama_model *m, pw_llama_params p)
{
    if (pw_llama_ops_wanted() && !atomic_load(&tagging_off)) chain_ops(&p);
    return pre_inference(r, m, p);
}
EXPORT struct llama_model *llama_model_load_from_file(const char *path, pw_llama_params p)
{
    return pre_inference(&r_llama_model_load_from_file, path, p);
}
EXPORT struct llama_model *llama_load_model_from_file(const char *path, pw_llama_params p)
{
    return pre_inference(&r_llama_load_model_from_file, path, p);
}
EXPORT struct llama_context *llama_init_from_model(struct llama_model *m, pw_llama_params p)
{
    return new_context(&r_llama_init_from_model, m, p);
}
EXPORT struct llama_context *llama_new_context_with_model(struct llama_model *m,
                                                          pw_llama_params p)
{
    return new_context(&r_llama_new_context_with_model, m, p);
}

/* llama-cli's warmup (common_init_from_params) brackets its decode with llama_set_warmup. */
REAL(llama_set_warmup);
EXPORT void llama_set_warmup(struct llama_context *ctx, bool on)
{
    void (*f)(struct llama_context *, bool) = (void (*)(struct llama_context *, bool))real(&r_llama_set_warmup);
    pthread_mutex_lock(&seq_lock);
    warmup_on = on;
    pthread_mutex_unlock(&seq_lock);
    if (f) f(ctx, on);
}

/* Sampling: a sampler chain calls llama_sampler_apply again inside; only the outermost call
 * of a thread is a phase. */
static __thread int sampling_depth;
static int begin_sampling(void) { return sampling_depth++ ? 0 : begin(SAMPLING); }
static void end_sampling(int begun) { sampling_depth--; end(begun); }

REAL(llama_sampler_sample);
EXPORT llama_token llama_sampler_sample(struct llama_sampler *s, struct llama_context *ctx,
                                        int32_t idx)
{
    llama_token (*f)(struct llama_sampler *, struct llama_context *, int32_t) =
        (llama_token (*)(struct llama_sampler *, struct llama_context *, int32_t))real(&r_llama_sampler_sample);
    if (!f) return -1;
    int begun = begin_sampling();
    llama_token t = f(s, ctx, idx);
    end_sampling(begun);
    return t;
}

REAL(llama_sampler_apply);
EXPORT void llama_sampler_apply(struct llama_sampler *s, llama_token_data_array *cur)
{
    void (*f)(struct llama_sampler *, llama_token_data_array *) =
        (void (*)(struct llama_sampler *, llama_token_data_array *))real(&r_llama_sampler_apply);
    if (!f) return;
    int begun = begin_sampling();
    f(s, cur);
    end_sampling(begun);
}

/* Sequences leaving the KV cache end their requests; the API's name changed twice. */
REAL(llama_memory_seq_rm);
REAL(llama_kv_self_seq_rm);
REAL(llama_kv_cache_seq_rm);
typedef bool (*seq_rm_fn)(void *, llama_seq_id, llama_pos, llama_pos);
static bool seq_rm(real_fn *r, void *where, llama_seq_id s, llama_pos p0, llama_pos p1)
{
    seq_rm_fn f = (seq_rm_fn)real(r);
    if (!f) return false;
    bool ok = f(where, s, p0, p1);
    if (ok) seq_removed(s, p0, p1);
    return ok;
}
EXPORT bool llama_memory_seq_rm(llama_memory_t mem, llama_seq_id s, llama_pos p0, llama_pos p1)
{
    return seq_rm(&r_llama_memory_seq_rm, mem, s, p0, p1);
}
EXPORT bool llama_kv_self_seq_rm(struct llama_context *ctx, llama_seq_id s, llama_pos p0,
                                 llama_pos p1)
{
    return seq_rm(&r_llama_kv_self_seq_rm, ctx, s, p0, p1);
}
EXPORT bool llama_kv_cache_seq_rm(struct llama_context *ctx, llama_seq_id s, llama_pos p0,
                                  llama_pos p1)
{
    return seq_rm(&r_llama_kv_cache_seq_rm, ctx, s, p0, p1);
}

REAL(llama_memory_clear);
EXPORT void llama_memory_clear(llama_memory_t mem, bool data)
{
    void (*f)(llama_memory_t, bool) = (void (*)(llama_memory_t, bool))real(&r_llama_memory_clear);
    if (f) f(mem, data);
    seq_removed(-1, 0, -1);
}

REAL(llama_kv_self_clear);
EXPORT void llama_kv_self_clear(struct llama_context *ctx)
{
    void (*f)(struct llama_context *) = (void (*)(struct llama_context *))real(&r_llama_kv_self_clear);
    if (f) f(ctx);
    seq_removed(-1, 0, -1);
}

/* Frees: post-inference. A context's end also ends the requests still in it. */
typedef void (*free_fn)(void *);
static void post_inference(real_fn *r, void *what, int ends_requests)
{
    free_fn f = (free_fn)real(r);
    if (!f) return;
    if (ends_requests) seq_removed(-1, 0, -1);
    int begun = begin(POST);
    f(what);
    end(begun);
}

REAL(llama_free);
REAL(llama_model_free);
REAL(llama_free_model);
EXPORT void llama_free(struct llama_context *ctx) { post_inference(&r_llama_free, ctx, 1); }
EXPORT void llama_model_free(struct llama_model *m) { post_inference(&r_llama_model_free, m, 0); }
EXPORT void llama_free_model(struct llama_model *m) { post_inference(&r_llama_free_model, m, 0); }
