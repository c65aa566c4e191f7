/* ops.c — the llama shim's per-op mode (`record --llama-ops`): chains a callback in front
 * of the program's own `cb_eval` in the context parameters, stops the graph after every node
 * (which synchronises it), and tags the stretches of nodes by the GGUF weight they read:
 * embedding, attention, mlp, experts (MoE) and lm_head, nested in the batch's phase. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phasewatt.h"
#include "llama_abi.h"
#include "ops.h"

enum op_class { OP_NONE, OP_EMBEDDING, OP_ATTENTION, OP_MLP, OP_EXPERTS, OP_LM_HEAD, NCLASSES };
static const char *const class_names[NCLASSES] = {
    "", "embedding", "attention", "mlp", "experts", "lm_head"};

int pw_llama_ops_wanted(void)
{
    static int wanted = -1;
    if (wanted < 0) {
        const char *v = getenv(PW_LLAMA_OPS_ENV);
        wanted = v && !strcmp(v, "1");
    }
    return wanted;
}

/* The class of a GGUF weight by its name, OP_NONE for a tensor that is not one. */
static enum op_class weight_class(const char *name)
{
    if (!strncmp(name, "token_embd", 10)) return OP_EMBEDDING;
    if (!strncmp(name, "output", 6)) return OP_LM_HEAD;   /* output.weight, output_norm */
    if (strncmp(name, "blk.", 4)) return OP_NONE;
    const char *part = strchr(name + 4, '.');
    if (!part) return OP_NONE;
    part++;
    if (!strncmp(part, "attn", 4)) return OP_ATTENTION;
    if (!strncmp(part, "ffn", 3)) return strstr(part, "_exps") || strstr(part, "_inp") ||
                                          strstr(part, "_shexp") ? OP_EXPERTS : OP_MLP;
    return OP_NONE;
}

/* A node reads a weight when one of its sources is one (a view of one counts). */
static enum op_class node_class(const struct ggml_tensor *t)
{
    for (int i = 0; i < 10; i++) {
        const struct ggml_tensor *s = t->src[i];
        if (!s) continue;
        if (s->view_src) s = s->view_src;
        enum op_class c = weight_class(s->name);
        if (c != OP_NONE) return c;
    }
    return OP_NONE;
}

/* This thread's open class phase: a node that reads no weight (a norm's division, the
 * attention scores, a residual add) stays in the class of the nodes before it. */
static __thread enum op_class open_class;
static __thread int batch_open;   /* ops are tagged inside a batch phase only */

static void close_class(void)
{
    if (open_class != OP_NONE) pw_end();
    open_class = OP_NONE;
}

void pw_llama_ops_batch(int open)
{
    if (!open) close_class();
    batch_open = open;
}

static void enter(enum op_class c)
{
    if (!batch_open || c == OP_NONE || c == open_class) return;
    close_class();
    static atomic_uint ids[NCLASSES];
    unsigned id = atomic_load(&ids[c]);
    if (!id) atomic_store(&ids[c], id = pw_phase_id(class_names[c]));
    if (pw_begin(id) == PW_OK) open_class = c;
}

/* The program's own callback, kept: one per context created while ours is in front. */
#define CHAINS 64
typedef struct chain { pw_ggml_eval_cb user; void *user_data; int user_asked; } chain;
static chain chains[CHAINS];
static atomic_int nchains;

static bool eval(struct ggml_tensor *t, bool ask, void *data)
{
    chain *c = data;
    if (ask) {
        enter(node_class(t));
        c->user_asked = c->user && c->user(t, true, c->user_data);
        return true;   /* every node on its own: the stretches end where the class changes */
    }
    return c->user_asked ? c->user(t, false, c->user_data) : true;
}

/* Where cb_eval lies in a llama_context_params block: after the YaRN floats, whose defaults
 * (-1, 1, 32, 1) are found in the library's own defaults, then yarn_orig_ctx and
 * defrag_thold, at the next pointer boundary; -1 when the defaults do not show them. */
static long cb_eval_offset(const pw_llama_params *defaults)
{
    static const float yarn[4] = {-1.0f, 1.0f, 32.0f, 1.0f};
    for (size_t off = 0; off + 16 + 8 + 16 + 8 <= 256; off += 4) {
        float f[4];
        memcpy(f, defaults->bytes + off, sizeof f);
        if (f[0] != yarn[0] || f[1] != yarn[1] || f[2] != yarn[2] || f[3] != yarn[3]) continue;
        size_t cb = (off + 24 + 7) & ~(size_t)7;
        void *p[2];
        memcpy(p, defaults->bytes + cb, sizeof p);
        return p[0] || p[1] ? -1 : (long)cb;
    }
    return -1;
}

int pw_llama_ops_chain(pw_llama_params *params, const pw_llama_params *defaults, char *why,
                       size_t cap)
{
    long off = cb_eval_offset(defaults);
    if (off < 0) {
        snprintf(why, cap, "llama_context_default_params() does not show where cb_eval is");
        return -1;
    }
    int i = atomic_fetch_add(&nchains, 1);
    if (i >= CHAINS) {
        snprintf(why, cap, "more than %d contexts", CHAINS);
        return -1;
    }
    void *p[2];
    memcpy(p, params->bytes + off, sizeof p);
    memcpy(&chains[i].user, &p[0], sizeof p[0]);
    chains[i].user_data = p[1];
    pw_ggml_eval_cb ours = eval;
    memcpy(params->bytes + off, &ours, sizeof ours);
    p[1] = &chains[i];
    memcpy(params->bytes + off + sizeof(void *), &p[1], sizeof p[1]);
    return 0;
}
