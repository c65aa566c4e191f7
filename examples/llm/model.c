/* model.c — model shapes: the built-in architecture presets, parameter counts, synthetic
 * weights from a seed, the llama2.c checkpoint loader with its validation, and the packing
 * of every matrix into the kernels' panel layout. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "llm.h"

/* Presets of similar size (~15-17M parameters, 32k vocabulary like llama2.c's stories15M)
 * whose energy signatures differ by shape, not by size. */
static const llm_preset presets[] = {
    {"llama-15m", "llama-like, the shape of llama2.c's stories15M (6 layers, 6 heads)",
     {288, 768, 6, 6, 6, 32000, 256, 0, 0, 1}},
    {"gqa-15m", "grouped-query attention: 6 query heads share 2 KV heads, wider MLP",
     {288, 896, 6, 6, 2, 32000, 256, 0, 0, 1}},
    {"wide-shallow", "3 wide layers (dim 352, 8 heads)",
     {352, 960, 3, 8, 8, 32000, 256, 0, 0, 1}},
    {"deep-narrow", "12 narrow layers (dim 256, 4 heads)",
     {256, 512, 12, 4, 4, 32000, 256, 0, 0, 1}},
    {"moe-15m", "mixture of experts: 4 SwiGLU experts per layer, top-2 routing",
     {288, 256, 6, 6, 6, 32000, 256, 4, 2, 1}},
};

size_t llm_preset_count(void) { return sizeof presets / sizeof presets[0]; }

const llm_preset *llm_preset_at(size_t i)
{
    return i < llm_preset_count() ? &presets[i] : NULL;
}

const llm_preset *llm_preset_find(const char *name)
{
    for (size_t i = 0; i < llm_preset_count(); i++)
        if (!strcmp(presets[i].name, name)) return &presets[i];
    return NULL;
}

/* ---- sizes ---------------------------------------------------------------------------- */

static uint64_t kv_dim(const llm_config *c)
{
    return (uint64_t)c->dim / (uint64_t)c->n_heads * (uint64_t)c->n_kv_heads;
}

static uint64_t experts_or_one(const llm_config *c)
{
    return c->n_experts > 0 ? (uint64_t)c->n_experts : 1;
}

/* Floats of one layer's weights. */
static uint64_t layer_floats(const llm_config *c)
{
    uint64_t d = (uint64_t)c->dim, h = (uint64_t)c->hidden_dim;
    uint64_t attn = 2 * d * d + 2 * kv_dim(c) * d;
    uint64_t mlp = experts_or_one(c) * 3 * h * d;
    uint64_t router = c->n_experts > 0 ? (uint64_t)c->n_experts * d : 0;
    return 2 * d + attn + mlp + router;
}

uint64_t llm_param_count(const llm_config *c)
{
    uint64_t emb = (uint64_t)c->vocab_size * (uint64_t)c->dim;
    return emb + (uint64_t)c->n_layers * layer_floats(c) + (uint64_t)c->dim +
           (c->shared_classifier ? 0 : emb);
}

static int in_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

int llm_config_check(const llm_config *c, char *why, size_t whylen)
{
    const char *bad = NULL;
    if (!in_range(c->dim, 2, 65536)) bad = "dim";
    else if (!in_range(c->hidden_dim, 1, 1 << 20)) bad = "hidden_dim";
    else if (!in_range(c->n_layers, 1, 1024)) bad = "n_layers";
    else if (!in_range(c->n_heads, 1, c->dim) || c->dim % c->n_heads) bad = "n_heads";
    else if ((c->dim / c->n_heads) % 2) bad = "head size (must be even for RoPE)";
    else if (!in_range(c->n_kv_heads, 1, c->n_heads) || c->n_heads % c->n_kv_heads)
        bad = "n_kv_heads";
    else if (!in_range(c->vocab_size, 3, 1 << 22)) bad = "vocab_size";
    else if (!in_range(c->seq_len, 1, 1 << 20)) bad = "seq_len";
    else if (!in_range(c->n_experts, 0, 64)) bad = "n_experts";
    else if (c->n_experts && !in_range(c->top_k, 1, c->n_experts)) bad = "top_k";
    else if (llm_param_count(c) > (1ull << 36)) bad = "total size";
    if (!bad) return PW_OK;
    snprintf(why, whylen,
             "implausible model shape: %s out of range (dim=%d hidden_dim=%d n_layers=%d "
             "n_heads=%d n_kv_heads=%d vocab_size=%d seq_len=%d)",
             bad, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
             c->vocab_size, c->seq_len);
    return PW_ERR_FORMAT;
}

/* ---- carving one buffer into named weights ------------------------------------------- */

typedef struct carver {
    float *at;
} carver;

static float *take(carver *cv, uint64_t n)
{
    float *p = cv->at;
    cv->at += n;
    return p;
}

static void carve_layers(carver *cv, const llm_config *c, llm_weights *w)
{
    uint64_t L = (uint64_t)c->n_layers, d = (uint64_t)c->dim, h = (uint64_t)c->hidden_dim;
    uint64_t E = experts_or_one(c);
    w->wq = take(cv, L * d * d);
    w->wk = take(cv, L * kv_dim(c) * d);
    w->wv = take(cv, L * kv_dim(c) * d);
    w->wo = take(cv, L * d * d);
    w->w1 = take(cv, L * E * h * d);
    w->w2 = take(cv, L * E * d * h);
    w->w3 = take(cv, L * E * h * d);
}

/* The legacy llama2.c order: embedding, attention norms, wq..wo, MLP norms, w1..w3, final
 * norm, then RoPE tables (skipped: we compute them) and the classifier if not shared. */
static void carve_v0(carver *cv, const llm_config *c, llm_weights *w)
{
    uint64_t L = (uint64_t)c->n_layers, d = (uint64_t)c->dim, h = (uint64_t)c->hidden_dim;
    uint64_t hs = d / (uint64_t)c->n_heads;
    w->token_embedding = take(cv, (uint64_t)c->vocab_size * d);
    w->rms_att = take(cv, L * d);
    w->wq = take(cv, L * d * d);
    w->wk = take(cv, L * kv_dim(c) * d);
    w->wv = take(cv, L * kv_dim(c) * d);
    w->wo = take(cv, L * d * d);
    w->rms_ffn = take(cv, L * d);
    w->w1 = take(cv, L * h * d);
    w->w2 = take(cv, L * d * h);
    w->w3 = take(cv, L * h * d);
    w->rms_final = take(cv, d);
    take(cv, (uint64_t)c->seq_len * hs);   /* freq_cis_real and _imag */
    w->wcls = c->shared_classifier ? w->token_embedding : take(cv, (uint64_t)c->vocab_size * d);
}

/* The v1 ("ak42") order: all norms first, then the embedding and the matrices. */
static void carve_v1(carver *cv, const llm_config *c, llm_weights *w)
{
    uint64_t L = (uint64_t)c->n_layers, d = (uint64_t)c->dim;
    w->rms_att = take(cv, L * d);
    w->rms_ffn = take(cv, L * d);
    w->rms_final = take(cv, d);
    w->token_embedding = take(cv, (uint64_t)c->vocab_size * d);
    carve_layers(cv, c, w);
    w->wcls = c->shared_classifier ? w->token_embedding : take(cv, (uint64_t)c->vocab_size * d);
}

/* ---- packing for the kernels ---------------------------------------------------------- */

void llm_pack_rows(float *m, int d, int n, float *tmp)
{
    size_t N = (size_t)n, block = LLM_PANEL * N;
    for (int b = 0; b + LLM_PANEL <= d; b += LLM_PANEL) {
        float *panel = m + (size_t)b * N;
        memcpy(tmp, panel, block * sizeof(float));
        for (size_t p = 0; p < N; p++)
            for (size_t r = 0; r < LLM_PANEL; r++) panel[p * LLM_PANEL + r] = tmp[r * N + p];
    }
}

/* count matrices of d x n each, one after the other. */
static void pack_stack(float *m, uint64_t count, int d, int n, float *tmp)
{
    for (uint64_t i = 0; i < count; i++)
        llm_pack_rows(m + i * (uint64_t)d * (uint64_t)n, d, n, tmp);
}

/* Puts every matrix into the kernels' panel layout; a shared output head gets its own
 * packed copy because the embedding lookup needs plain rows. */
static int pack_weights(const llm_config *c, llm_weights *w)
{
    uint64_t L = (uint64_t)c->n_layers, E = experts_or_one(c), d = (uint64_t)c->dim;
    int kv = (int)kv_dim(c), widest = c->hidden_dim > c->dim ? c->hidden_dim : c->dim;
    if (w->wcls == w->token_embedding) {
        size_t bytes = (size_t)c->vocab_size * d * sizeof(float);
        if (!(w->cls_copy = malloc(bytes))) return PW_ERR_NOMEM;
        w->wcls = memcpy(w->cls_copy, w->token_embedding, bytes);
    }
    float *tmp = malloc(LLM_PANEL * (size_t)widest * sizeof(float));
    if (!tmp) return PW_ERR_NOMEM;
    pack_stack(w->wq, L, c->dim, c->dim, tmp);
    pack_stack(w->wk, L, kv, c->dim, tmp);
    pack_stack(w->wv, L, kv, c->dim, tmp);
    pack_stack(w->wo, L, c->dim, c->dim, tmp);
    pack_stack(w->w1, L * E, c->hidden_dim, c->dim, tmp);
    pack_stack(w->w3, L * E, c->hidden_dim, c->dim, tmp);
    pack_stack(w->w2, L * E, c->dim, c->hidden_dim, tmp);
    if (w->router) pack_stack(w->router, L, c->n_experts, c->dim, tmp);
    pack_stack(w->wcls, 1, c->vocab_size, c->dim, tmp);
    free(tmp);
    return PW_OK;
}

/* ---- synthetic weights ---------------------------------------------------------------- */

uint64_t llm_rng_next(uint64_t *state)
{
    /* xorshift64*: tiny, fast and the same everywhere */
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

float llm_rng_float(uint64_t *state)
{
    return (float)(llm_rng_next(state) >> 40) / 16777216.0f;
}

#define SYNTHETIC_LOGIT_GAIN 6.0f

/* Uniform weights with the variance of 1/fan_in, so activations neither vanish nor explode. */
static void fill(float *p, uint64_t n, uint64_t fan_in, uint64_t *rng)
{
    float a = sqrtf(3.0f / (float)fan_in);
    for (uint64_t i = 0; i < n; i++) p[i] = (2.0f * llm_rng_float(rng) - 1.0f) * a;
}

static void fill_ones(float *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) p[i] = 1.0f;
}

static int packed_or_freed(const llm_config *c, llm_weights *w)
{
    int rc = pack_weights(c, w);
    if (rc != PW_OK) llm_weights_free(w);
    return rc;
}

int llm_weights_synthetic(const llm_config *c, uint64_t seed, llm_weights *w)
{
    memset(w, 0, sizeof *w);
    uint64_t n = llm_param_count(c);
    float *buf = malloc(n * sizeof(float));
    if (!buf) return PW_ERR_NOMEM;
    uint64_t L = (uint64_t)c->n_layers, d = (uint64_t)c->dim, h = (uint64_t)c->hidden_dim;
    carver cv = {buf};
    w->storage = buf;
    w->rms_att = take(&cv, L * d);
    w->rms_ffn = take(&cv, L * d);
    w->rms_final = take(&cv, d);
    fill_ones(w->rms_att, 2 * L * d + d);
    /* A trained model's next-token distribution is peaked; random weights give a flat
     * one, which would make top-p sampling sort the whole vocabulary every token. A final
     * norm gain widens the logits' spread to a trained model's (std about 6). */
    for (uint64_t i = 0; i < d; i++) w->rms_final[i] = SYNTHETIC_LOGIT_GAIN;
    w->token_embedding = take(&cv, (uint64_t)c->vocab_size * d);
    carve_layers(&cv, c, w);
    w->router = c->n_experts ? take(&cv, L * (uint64_t)c->n_experts * d) : NULL;
    w->wcls = c->shared_classifier ? w->token_embedding : take(&cv, (uint64_t)c->vocab_size * d);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
    float *first = w->token_embedding;
    /* everything after the norms is a matrix; w2 reads the hidden width, the rest dim */
    fill(first, (uint64_t)(w->w2 - first), d, &rng);
    fill(w->w2, (uint64_t)(w->w3 - w->w2), h, &rng);
    fill(w->w3, (uint64_t)(cv.at - w->w3), d, &rng);
    return packed_or_freed(c, w);
}

void llm_weights_free(llm_weights *w)
{
    free(w->storage);
    free(w->cls_copy);
    memset(w, 0, sizeof *w);
}

/* ---- llama2.c checkpoints ------------------------------------------------------------ */

#define V1_MAGIC 0x616b3432u      /* "ak42" */
#define V1_HEADER 256
#define V0_HEADER 28              /* 7 int32 */

static int read_file(const char *path, unsigned char **buf, size_t *len, char *why,
                     size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open %s: %s", path, strerror(errno));
        return errno == ENOENT ? PW_ERR_NOT_FOUND : PW_ERR_IO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "cannot read %s: not a regular file", path);
        fclose(f);
        return PW_ERR_IO;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    int ok = *buf && fread(*buf, 1, *len, f) == *len;
    fclose(f);
    if (ok) return PW_OK;
    int rc = *buf ? PW_ERR_IO : PW_ERR_NOMEM;
    snprintf(why, whylen, "cannot read %s", path);
    free(*buf);
    *buf = NULL;
    return rc;
}

static int32_t le32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

/* Fills c from the 7 header ints at p (vocab < 0 means an unshared classifier in v0). */
static void header_fields(const unsigned char *p, llm_config *c)
{
    memset(c, 0, sizeof *c);
    c->dim = le32(p);
    c->hidden_dim = le32(p + 4);
    c->n_layers = le32(p + 8);
    c->n_heads = le32(p + 12);
    c->n_kv_heads = le32(p + 16);
    c->vocab_size = le32(p + 20);
    c->seq_len = le32(p + 24);
    c->shared_classifier = c->vocab_size > 0;
    if (c->vocab_size < 0 && c->vocab_size > INT32_MIN) c->vocab_size = -c->vocab_size;
}

static uint64_t v0_floats(const llm_config *c)
{
    uint64_t hs = (uint64_t)(c->dim / c->n_heads);
    return llm_param_count(c) + (uint64_t)c->seq_len * hs;
}

/* Parses the header; *header gets its size, *floats the weights it announces. */
static int parse_header(const unsigned char *buf, size_t len, llm_config *c, size_t *header,
                        uint64_t *floats, int *v1, char *why, size_t whylen)
{
    if (len >= 4 && (uint32_t)le32(buf) == V1_MAGIC) {
        if (len < V1_HEADER) {
            snprintf(why, whylen, "truncated: a v1 header needs %d bytes, the file has %zu",
                     V1_HEADER, len);
            return PW_ERR_FORMAT;
        }
        if (le32(buf + 4) != 1) {
            snprintf(why, whylen, "unsupported checkpoint version %d (only version 1, float32, "
                     "and the legacy headerless format)", le32(buf + 4));
            return PW_ERR_FORMAT;
        }
        header_fields(buf + 8, c);
        c->shared_classifier = buf[36] != 0;
        *header = V1_HEADER;
        *v1 = 1;
    } else {
        if (len < V0_HEADER) {
            snprintf(why, whylen, "truncated: %zu bytes, a llama2.c header needs %d", len,
                     V0_HEADER);
            return PW_ERR_FORMAT;
        }
        header_fields(buf, c);
        *header = V0_HEADER;
        *v1 = 0;
    }
    char shape[400];
    if (llm_config_check(c, shape, sizeof shape) != PW_OK) {
        snprintf(why, whylen, "%s: %s", *v1 ? "bad v1 header" :
                 "not a llama2.c checkpoint (no \"ak42\" magic, and as a legacy header it is an",
                 shape);
        if (!*v1) strncat(why, ")", whylen - strlen(why) - 1);
        return PW_ERR_FORMAT;
    }
    *floats = *v1 ? llm_param_count(c) : v0_floats(c);
    return PW_OK;
}

int llm_weights_load(const char *path, llm_config *c, llm_weights *w, char *why,
                     size_t whylen)
{
    memset(w, 0, sizeof *w);
    unsigned char *buf;
    size_t len;
    int rc = read_file(path, &buf, &len, why, whylen);
    return rc == PW_OK ? llm_weights_from_buffer(buf, len, c, w, why, whylen) : rc;
}

int llm_weights_from_buffer(unsigned char *buf, size_t len, llm_config *c, llm_weights *w,
                            char *why, size_t whylen)
{
    memset(w, 0, sizeof *w);
    size_t header = 0;
    uint64_t floats = 0;
    int v1 = 0;
    int rc = parse_header(buf, len, c, &header, &floats, &v1, why, whylen);
    uint64_t want = header + floats * sizeof(float);
    if (rc == PW_OK && want != len) {
        snprintf(why, whylen, "%s: the header's shape needs %llu bytes, the file has %zu",
                 want > len ? "truncated" : "sizes do not add up", (unsigned long long)want,
                 len);
        rc = PW_ERR_FORMAT;
    }
    if (rc != PW_OK) {
        free(buf);
        return rc;
    }
    /* weights start at a 4-byte-aligned offset of a malloc'd buffer: safe to view as floats */
    carver cv = {(float *)(void *)(buf + header)};
    if (v1) carve_v1(&cv, c, w);
    else carve_v0(&cv, c, w);
    w->storage = buf;
    rc = packed_or_freed(c, w);
    if (rc != PW_OK) snprintf(why, whylen, "out of memory packing the weights");
    return rc;
}
