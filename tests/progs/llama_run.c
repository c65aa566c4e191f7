/* llama_run.c — a program written against llama.cpp's C API only (no phasewatt), linked
 * with the tests' fake libllama, for `phasewatt record --llama`: `cli` runs like llama-cli
 * (warmup, a prompt, greedy decoding), `server` like llama-server's continuous batching
 * (requests on interleaved sequences in shared batches), `reuse` two requests on one
 * sequence that keeps its prompt prefix cached, `bad` hands llama_decode a batch no
 * llama.cpp accepts, `missing` calls a wrapped function the library lacks. With a file
 * after the mode, it writes there whether the shim is mapped into it and into its parent
 * (the recorder), and its LD_PRELOAD. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PW_LLAMA_TEST_PARAMS
#include "llama_abi.h"

static int maps_have_shim(const char *maps_path)
{
    FILE *f = fopen(maps_path, "r");
    char line[4096];
    int found = 0;
    while (f && fgets(line, sizeof line, f)) found |= strstr(line, "libphasewatt-llama") != NULL;
    if (f) fclose(f);
    return found;
}

static void report_maps(const char *path)
{
    char parent[64];
    snprintf(parent, sizeof parent, "/proc/%d/maps", (int)getppid());
    FILE *f = fopen(path, "w");
    if (!f) return;
    const char *pre = getenv("LD_PRELOAD");
    fprintf(f, "self=%d parent=%d preload=%s\n", maps_have_shim("/proc/self/maps"),
            maps_have_shim(parent), pre ? pre : "");
    fclose(f);
}

/* The program's own eval callback (as llama.cpp's eval-callback example has one): it looks
 * at every graph's last node; a profiler in front of it must keep it working. */
static int outputs_seen;
static bool own_eval(struct ggml_tensor *t, bool ask, void *data)
{
    if (ask) return !strcmp(t->name, "result_output");
    (*(int *)data)++;
    return true;
}

static struct llama_context *open_engine(struct llama_model **m, uint32_t n_seq)
{
    *m = llama_model_load_from_file("stories15M.gguf", llama_model_default_params());
    struct llama_context_params cp = llama_context_default_params();
    cp.n_seq_max = n_seq;
    cp.cb_eval = (void *)own_eval;
    cp.cb_eval_user_data = &outputs_seen;
    struct llama_context *ctx = *m ? llama_init_from_model(*m, cp) : NULL;
    if (!ctx) fprintf(stderr, "llama_run: cannot create the context\n");
    return ctx;
}

/* llama-cli: warmup (BOS, EOS), a 12-token prompt, 8 generated tokens. */
static int run_cli(struct llama_context *ctx, struct llama_sampler *smpl)
{
    llama_token warm[2] = {1, 2}, prompt[12];
    llama_set_warmup(ctx, true);
    llama_decode(ctx, llama_batch_get_one(warm, 2));
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_set_warmup(ctx, false);
    for (int i = 0; i < 12; i++) prompt[i] = 100 + i;
    if (llama_decode(ctx, llama_batch_get_one(prompt, 12))) return 1;
    for (int i = 0; i < 8; i++) {
        llama_token t = llama_sampler_sample(smpl, ctx, -1);
        if (llama_decode(ctx, llama_batch_get_one(&t, 1))) return 1;
    }
    if (outputs_seen != 10) {   /* warmup, prompt, 8 tokens */
        fprintf(stderr, "llama_run: own cb_eval saw %d graphs, not 10\n", outputs_seen);
        return 3;
    }
    return 0;
}

/* A serving loop: requests arrive at given steps on free sequences; each step's batch holds
 * the whole prompt of every new request and one token of every running one. */
typedef struct request { int arrive, prompt, generate; } request;
static const request requests[] = {{0, 10, 6}, {2, 20, 4}, {3, 6, 8}, {5, 8, 3}, {9, 14, 5}};
#define NREQ (sizeof requests / sizeof requests[0])
#define NSEQ 3

typedef struct slot { int req, pos, left; } slot;

static void add(llama_batch *b, llama_token t, llama_pos p, llama_seq_id s)
{
    b->token[b->n_tokens] = t;
    b->pos[b->n_tokens] = p;
    b->n_seq_id[b->n_tokens] = 1;
    b->seq_id[b->n_tokens][0] = s;
    b->logits[b->n_tokens++] = 0;
}

static int run_server(struct llama_context *ctx, struct llama_sampler *smpl)
{
    slot slots[NSEQ] = {{-1, 0, 0}, {-1, 0, 0}, {-1, 0, 0}};
    llama_batch b = llama_batch_init(64, 0, 1);
    size_t next = 0, done = 0;
    for (int step = 0; done < NREQ && step < 100; step++) {
        b.n_tokens = 0;
        for (int s = 0; s < NSEQ; s++) {
            if (slots[s].req >= 0) {
                add(&b, 7, slots[s].pos++, s);
            } else if (next < NREQ && requests[next].arrive <= step) {
                slots[s] = (slot){(int)next, 0, requests[next].generate};
                for (int i = 0; i < requests[next].prompt; i++) add(&b, 100 + i, slots[s].pos++, s);
                next++;
            }
        }
        if (b.n_tokens && llama_decode(ctx, b)) return 1;
        for (int s = 0; s < NSEQ; s++) {
            if (slots[s].req < 0) continue;
            llama_sampler_sample(smpl, ctx, -1);
            if (--slots[s].left > 0) continue;
            llama_memory_seq_rm(llama_get_memory(ctx), s, -1, -1);
            slots[s].req = -1;
            done++;
        }
    }
    llama_batch_free(b);
    return done == NREQ ? 0 : 1;
}

/* Two requests on sequence 0 as llama-server runs them with prompt caching: the second keeps
 * the first's 12-token prompt in the cache (a cut to the end at 12) and brings 5 more. */
static int run_reuse(struct llama_context *ctx, struct llama_sampler *smpl)
{
    llama_token prompt[12];
    for (int i = 0; i < 12; i++) prompt[i] = 100 + i;
    for (int r = 0; r < 2; r++) {
        if (llama_decode(ctx, llama_batch_get_one(prompt, r ? 5 : 12))) return 1;
        for (int i = 0; i < (r ? 3 : 4); i++) {
            llama_token t = llama_sampler_sample(smpl, ctx, -1);
            if (llama_decode(ctx, llama_batch_get_one(&t, 1))) return 1;
        }
        if (!r) llama_memory_seq_rm(llama_get_memory(ctx), 0, 12, -1);
    }
    return 0;
}

static int run_bad(struct llama_context *ctx)
{
    llama_token prompt[4] = {1, 2, 3, 4};
    llama_batch b = llama_batch_get_one(prompt, 4);
    b.n_tokens = -4;
    if (llama_decode(ctx, b) == 0) return 1;   /* the library must refuse it too */
    return llama_decode(ctx, llama_batch_get_one(prompt, 4)) != 0;
}

static int run_missing(void)
{
    bool (*rm)(struct llama_context *, llama_seq_id, llama_pos, llama_pos) =
        (bool (*)(struct llama_context *, llama_seq_id, llama_pos, llama_pos))dlsym(RTLD_DEFAULT, "llama_kv_cache_seq_rm");
    if (!rm) return 0;   /* no shim: nothing to call */
    return rm(NULL, 0, -1, -1) ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "cli";
    if (argc > 2) report_maps(argv[2]);
    struct llama_model *m = NULL;
    struct llama_context *ctx = open_engine(&m, !strcmp(mode, "server") ? NSEQ : 1);
    if (!ctx) return 2;
    struct llama_sampler *smpl = llama_sampler_init_greedy();
    int rc = !strcmp(mode, "server") ? run_server(ctx, smpl)
           : !strcmp(mode, "bad")    ? run_bad(ctx)
           : !strcmp(mode, "reuse")  ? run_reuse(ctx, smpl)
           : !strcmp(mode, "missing") ? run_missing()
                                      : run_cli(ctx, smpl);
    llama_sampler_free(smpl);
    llama_free(ctx);
    llama_model_free(m);
    return rc;
}
