/* main.c — phasewatt-llm's command line: builds or loads a model, generates text with
 * phase tags at the chosen depth, optionally records a phasewatt trace of the run, and
 * benchmarks the cost of its own instrumentation. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "llm.h"

#define DEFAULT_PROMPT "Once upon a time, a small robot wanted to know where all the energy went."

typedef struct args {
    const char *arch, *checkpoint, *tokenizer, *prompt, *trace, *source, *text_path;
    int tokens, threads, depth, print_ids, quiet, bench_rounds;
    double interval_ms;
    unsigned long long seed;
    float temperature, top_p;
} args;

typedef struct engine {
    llm_config cfg;
    const char *arch;
    llm_weights weights;
    llm_tokenizer *tok;
    llm_state *state;
    llm_pool *pool;
    int *prompt;            /* [seq_len] */
    int nprompt;
    int *out;               /* [seq_len] generated tokens */
    int ngen;
} engine;

typedef struct run_stats {
    double prefill_s, decode_s;
} run_stats;

static const char usage[] =
    "usage: phasewatt-llm [options]\n"
    "A small llama-style transformer inference engine, tagged with phasewatt phases.\n"
    "  --arch NAME          built-in architecture preset (default llama-15m; --list-archs)\n"
    "  --checkpoint FILE    a llama2.c checkpoint instead of a preset (v0 or v1 float32)\n"
    "  --tokenizer FILE     llama2.c tokenizer.bin (default: byte-level)\n"
    "  --prompt TEXT        the prompt (default: a short story opening)\n"
    "  -n, --tokens N       tokens to generate (default 48)\n"
    "  --seed N             weights and sampling seed (default 42)\n"
    "  --temperature F      0 = greedy (default 1.0)\n"
    "  --top-p F            nucleus sampling threshold (default 0.9)\n"
    "  --threads N          matmul threads (default: online CPUs)\n"
    "  --phase-depth N      0 no phases, 1 pre-inference/prefill/decode/post-inference,\n"
    "                       2 + embedding/attention/mlp/lm_head/sampling, 3 + their parts (default)\n"
    "  -o, --trace FILE     record a phasewatt trace of the run into FILE\n"
    "  --source LIST        power sources for the trace (default: auto)\n"
    "  --interval MS        sampling period for the trace (default 10)\n"
    "  --print-ids          print the generated token ids, one line\n"
    "  --text FILE          write the generated text into FILE instead of printing it\n"
    "  --bench-overhead N   N rounds alternating full instrumentation and none; prints tok/s\n"
    "  -q, --quiet          print no text or statistics\n"
    "  --list-archs         list the presets and exit\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const char *fmt, const char *detail)
{
    fprintf(stderr, "phasewatt-llm: ");
    fprintf(stderr, fmt, detail);
    fputc('\n', stderr);
    return 1;
}

/* ---- options -------------------------------------------------------------------------- */

static int list_archs(void)
{
    printf("%-14s %9s %5s %6s %5s %4s %7s  %s\n", "preset", "params", "dim", "layers", "heads",
           "kv", "hidden", "what");
    for (size_t i = 0; i < llm_preset_count(); i++) {
        const llm_preset *p = llm_preset_at(i);
        const llm_config *c = &p->cfg;
        printf("%-14s %8.2fM %5d %6d %5d %4d %7d  %s\n", p->name,
               (double)llm_param_count(c) / 1e6, c->dim, c->n_layers, c->n_heads,
               c->n_kv_heads, c->hidden_dim, p->summary);
    }
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) return 0;
    *out = (float)v;
    return 1;
}

enum { OPT_ARCH = 256, OPT_CKPT, OPT_TOK, OPT_PROMPT, OPT_SEED, OPT_TEMP, OPT_TOPP, OPT_THREADS,
       OPT_DEPTH, OPT_SOURCE, OPT_INTERVAL, OPT_IDS, OPT_TEXT, OPT_BENCH, OPT_LIST, OPT_HELP };

static const struct option long_options[] = {
    {"arch", 1, 0, OPT_ARCH},          {"checkpoint", 1, 0, OPT_CKPT},
    {"tokenizer", 1, 0, OPT_TOK},      {"prompt", 1, 0, OPT_PROMPT},
    {"tokens", 1, 0, 'n'},             {"seed", 1, 0, OPT_SEED},
    {"temperature", 1, 0, OPT_TEMP},   {"top-p", 1, 0, OPT_TOPP},
    {"threads", 1, 0, OPT_THREADS},    {"phase-depth", 1, 0, OPT_DEPTH},
    {"trace", 1, 0, 'o'},              {"source", 1, 0, OPT_SOURCE},
    {"interval", 1, 0, OPT_INTERVAL},  {"print-ids", 0, 0, OPT_IDS},
    {"text", 1, 0, OPT_TEXT},
    {"bench-overhead", 1, 0, OPT_BENCH}, {"quiet", 0, 0, 'q'},
    {"list-archs", 0, 0, OPT_LIST},    {"help", 0, 0, OPT_HELP},
    {0, 0, 0, 0}};

/* One option; returns 0 to go on, 1 to stop with success, -1 on a bad value. */
static int take_option(args *a, int c, const char *v)
{
    float f;
    char *end;
    switch (c) {
    case OPT_ARCH: a->arch = v; return 0;
    case OPT_CKPT: a->checkpoint = v; return 0;
    case OPT_TOK: a->tokenizer = v; return 0;
    case OPT_PROMPT: a->prompt = v; return 0;
    case 'n': return parse_int(v, 1, 1 << 20, &a->tokens) ? 0 : -1;
    case OPT_SEED: a->seed = strtoull(v, &end, 10); return *v && !*end ? 0 : -1;
    case OPT_TEMP: return parse_float(v, 0, 100, &a->temperature) ? 0 : -1;
    case OPT_TOPP: return parse_float(v, 0, 1, &a->top_p) ? 0 : -1;
    case OPT_THREADS: return parse_int(v, 1, 256, &a->threads) ? 0 : -1;
    case OPT_DEPTH: return parse_int(v, 0, 3, &a->depth) ? 0 : -1;
    case 'o': a->trace = v; return 0;
    case OPT_SOURCE: a->source = v; return 0;
    case OPT_INTERVAL: return parse_float(v, 0.01f, 60000, &f) ? (a->interval_ms = f, 0) : -1;
    case OPT_IDS: a->print_ids = 1; return 0;
    case OPT_TEXT: a->text_path = v; return 0;
    case OPT_BENCH: return parse_int(v, 1, 1000, &a->bench_rounds) ? 0 : -1;
    case 'q': a->quiet = 1; return 0;
    case OPT_LIST: list_archs(); return 1;
    case OPT_HELP: fputs(usage, stdout); return 1;
    default: return -1;
    }
}

/* Returns 0 to run, 1 to exit with success, 2 for a usage error. */
static int parse_args(int argc, char **argv, args *a)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    *a = (args){.arch = "llama-15m", .prompt = DEFAULT_PROMPT, .tokens = 48,
                .threads = ncpu > 0 ? (int)(ncpu < 64 ? ncpu : 64) : 1, .depth = 3,
                .interval_ms = 10, .seed = 42, .temperature = 1.0f, .top_p = 0.9f};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:o:q", long_options, NULL)) != -1) {
        int rc = take_option(a, c, optarg);
        if (rc > 0) return 1;
        if (rc < 0) {
            fprintf(stderr, "phasewatt-llm: bad option %s%s%s (see --help)\n",
                    argv[optind - 1], optarg ? " " : "", optarg ? optarg : "");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "phasewatt-llm: unexpected argument %s (see --help)\n", argv[optind]);
        return 2;
    }
    return 0;
}

/* ---- the engine ----------------------------------------------------------------------- */

static int load_model(engine *e, const args *a)
{
    char why[512] = "";
    if (a->checkpoint) {
        e->arch = a->checkpoint;
        int rc = llm_weights_load(a->checkpoint, &e->cfg, &e->weights, why, sizeof why);
        return rc == PW_OK ? 0 : fail("%s", why);
    }
    const llm_preset *p = llm_preset_find(a->arch);
    if (!p) return fail("unknown architecture %s (see --list-archs)", a->arch);
    e->arch = p->name;
    e->cfg = p->cfg;
    return llm_weights_synthetic(&e->cfg, a->seed, &e->weights) == PW_OK
               ? 0 : fail("%s", "out of memory for the weights");
}

/* Weights, tokenizer, prompt tokens, buffers and threads: the pre-inference work. */
static int engine_open(engine *e, const args *a)
{
    char why[512] = "";
    if (load_model(e, a)) return 1;
    if (llm_tokenizer_open(a->tokenizer, e->cfg.vocab_size, &e->tok, why, sizeof why) != PW_OK)
        return fail("%s", why);
    e->prompt = calloc((size_t)e->cfg.seq_len, sizeof *e->prompt);
    e->out = calloc((size_t)e->cfg.seq_len, sizeof *e->out);
    if (!e->prompt || !e->out) return fail("%s", "out of memory");
    llm_encode(e->tok, a->prompt, e->prompt, e->cfg.seq_len, &e->nprompt);
    if (e->nprompt >= e->cfg.seq_len)
        return fail("the prompt fills the whole context (%s); shorten it", "seq_len tokens");
    e->state = llm_state_new(&e->cfg, e->nprompt);
    e->pool = llm_pool_new(a->threads);
    return e->state && e->pool ? 0 : fail("%s", "out of memory for the buffers");
}

static void engine_close(engine *e)
{
    llm_pool_free(e->pool);
    llm_state_free(e->state);
    llm_tokenizer_free(e->tok);
    llm_weights_free(&e->weights);
    free(e->prompt);
    free(e->out);
}

/* Prefill runs the prompt as one batch; each decode step samples a token from the last
 * logits and, unless it is the last one wanted, runs that token through the model. */
static int engine_generate(engine *e, const args *a, const llm_phases *ph, run_stats *st)
{
    llm_sampler sampler;
    if (llm_sampler_init(&sampler, e->cfg.vocab_size, a->temperature, a->top_p, a->seed))
        return fail("%s", "out of memory");
    int want = a->tokens < e->cfg.seq_len - e->nprompt ? a->tokens : e->cfg.seq_len - e->nprompt;
    double t0 = now_s();
    llm_phase_begin(ph, 1, ph->prefill);
    (void)pw_count(ph->tokens, e->nprompt);
    float *logits = llm_forward(e->state, &e->cfg, &e->weights, e->pool, ph, e->prompt,
                                e->nprompt, 0);
    llm_phase_end(ph, 1);
    double t1 = now_s();
    e->ngen = 0;
    while (logits && e->ngen < want) {
        llm_phase_begin(ph, 1, ph->decode);
        llm_phase_begin(ph, 2, ph->sampling);
        int next = llm_sample(&sampler, logits);
        llm_phase_end(ph, 2);
        (void)pw_count(ph->tokens, 1);
        e->out[e->ngen++] = next;
        if (e->ngen < want)
            logits = llm_forward(e->state, &e->cfg, &e->weights, e->pool, ph, &next, 1,
                                 e->nprompt + e->ngen - 1);
        llm_phase_end(ph, 1);
    }
    st->prefill_s = t1 - t0;
    st->decode_s = now_s() - t1;
    llm_sampler_free(&sampler);
    return logits ? 0 : fail("%s", "a token fell outside the vocabulary or the context");
}

/* ---- output --------------------------------------------------------------------------- */

static char *detokenize(const engine *e)
{
    size_t cap = 64 + (size_t)e->ngen * 16, len = 0;
    char *text = malloc(cap), piece[32];
    if (!text) return NULL;
    text[0] = '\0';
    for (int i = 0; i < e->ngen; i++) {
        int prev = i ? e->out[i - 1] : e->prompt[e->nprompt - 1];
        const char *s = llm_decode(e->tok, prev, e->out[i], piece, sizeof piece);
        size_t n = strlen(s);
        if (len + n + 1 > cap) {
            char *bigger = realloc(text, cap = 2 * (len + n + 1));
            if (!bigger) break;
            text = bigger;
        }
        memcpy(text + len, s, n + 1);
        len += n;
    }
    return text;
}

static void set_meta_num(const char *key, double v, const char *fmt)
{
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    pw_set_meta(key, buf);
}

static void record_meta(const engine *e, const args *a, const run_stats *st)
{
    const llm_config *c = &e->cfg;
    pw_set_meta("model.arch", e->arch);
    set_meta_num("model.params", (double)llm_param_count(c), "%.0f");
    char shape[200];
    snprintf(shape, sizeof shape, "dim=%d hidden=%d layers=%d heads=%d kv_heads=%d vocab=%d "
             "experts=%d top_k=%d", c->dim, c->hidden_dim, c->n_layers, c->n_heads,
             c->n_kv_heads, c->vocab_size, c->n_experts, c->top_k);
    pw_set_meta("model.shape", shape);
    set_meta_num("llm.threads", a->threads, "%.0f");
    set_meta_num("llm.phase_depth", a->depth, "%.0f");
    set_meta_num("llm.prompt_tokens", e->nprompt, "%.0f");
    set_meta_num("llm.generated_tokens", e->ngen, "%.0f");
    set_meta_num("llm.prefill_tokens_per_s", e->nprompt / st->prefill_s, "%.2f");
    set_meta_num("llm.decode_tokens_per_s", e->ngen / st->decode_s, "%.2f");
}

/* The generated text into --text's file (what a model with random weights writes is not
 * for a terminal: ids outside the byte vocabulary and bytes that are not UTF-8). */
static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok = f && fprintf(f, "%s\n", text ? text : "") >= 0;
    if (f && fclose(f) != 0) ok = 0;
    return ok ? 0 : fail("cannot write the text to %s", path);
}

static int print_run(const engine *e, const args *a, const run_stats *st, const char *text)
{
    if (a->print_ids) {
        for (int i = 0; i < e->ngen; i++) printf("%s%d", i ? " " : "", e->out[i]);
        printf("\n");
    }
    if (a->text_path && write_text(a->text_path, text)) return 1;
    if (a->quiet) return 0;
    if (text && !a->print_ids && !a->text_path) printf("%s\n", text);
    fprintf(stderr, "phasewatt-llm: %s (%.2fM params, %d threads): prefill %d tokens in %.1f ms "
            "(%.1f tok/s), decode %d tokens in %.1f ms (%.1f tok/s)\n", e->arch,
            (double)llm_param_count(&e->cfg) / 1e6, a->threads, e->nprompt,
            st->prefill_s * 1e3, e->nprompt / st->prefill_s, e->ngen, st->decode_s * 1e3,
            e->ngen / st->decode_s);
    return 0;
}

/* ---- sessions, the benchmark and main ------------------------------------------------- */

static int open_session(const args *a, const char *path, int quiet)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = path;
    o.sources = a->source;
    o.interval_ns = (uint64_t)(a->interval_ms * 1e6);
    o.command = "phasewatt-llm";
    o.quiet = quiet;
    if (pw_open(&o) == PW_OK) return 0;
    return fail("cannot record: %s", pw_open_error());
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Decode tokens/s with every phase tag on, then off, alternating so drift hits both. */
static int bench_overhead(engine *e, const args *a)
{
    double *rate[2];
    rate[0] = calloc((size_t)a->bench_rounds, sizeof(double));
    rate[1] = calloc((size_t)a->bench_rounds, sizeof(double));
    int rc = rate[0] && rate[1] ? 0 : fail("%s", "out of memory");
    printf("%-6s %18s %18s\n", "round", "full tok/s", "off tok/s");
    for (int r = 0; !rc && r < a->bench_rounds; r++) {
        for (int off = 0; off < 2 && !rc; off++) {
            llm_phases ph;
            llm_phases_init(&ph, off ? 0 : 3);
            run_stats st;
            rc = engine_generate(e, a, &ph, &st);
            if (!rc) rate[off][r] = e->ngen / st.decode_s;
        }
        printf("%-6d %18.2f %18.2f\n", r + 1, rate[0][r], rate[1][r]);
    }
    if (!rc) {
        qsort(rate[0], (size_t)a->bench_rounds, sizeof(double), cmp_double);
        qsort(rate[1], (size_t)a->bench_rounds, sizeof(double), cmp_double);
        double full = rate[0][a->bench_rounds / 2], none = rate[1][a->bench_rounds / 2];
        printf("median decode: full instrumentation %.2f tok/s, none %.2f tok/s, "
               "overhead %+.2f%% (target < 2%%)\n", full, none, 100.0 * (none - full) / none);
    }
    free(rate[0]);
    free(rate[1]);
    return rc;
}

static int run(engine *e, const args *a)
{
    llm_phases ph;
    llm_phases_init(&ph, a->depth);
    llm_phase_begin(&ph, 1, ph.pre_inference);
    int rc = engine_open(e, a);
    llm_phase_end(&ph, 1);
    if (rc) return rc;
    if (a->bench_rounds) return bench_overhead(e, a);
    run_stats st;
    if ((rc = engine_generate(e, a, &ph, &st))) return rc;
    llm_phase_begin(&ph, 1, ph.post_inference);
    char *text = detokenize(e);
    llm_pool_free(e->pool);      /* what a server frees once the request is answered */
    llm_state_free(e->state);
    e->pool = NULL;
    e->state = NULL;
    llm_phase_end(&ph, 1);
    rc = print_run(e, a, &st, text);
    free(text);
    if (rc) return rc;
    if (a->trace) record_meta(e, a, &st);
    return 0;
}

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc == 1 ? 0 : rc;
    char bench_path[PATH_MAX];
    const char *tmp = getenv("TMPDIR"), *trace = a.trace;
    snprintf(bench_path, sizeof bench_path, "%s/phasewatt-llm-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (a.bench_rounds && !trace) {
        int fd = mkstemp(bench_path);   /* the benchmark records, so tags cost what they do */
        if (fd < 0) return fail("%s", "cannot create a temporary trace for the benchmark");
        close(fd);
        trace = bench_path;
    }
    if (trace && open_session(&a, trace, a.quiet || a.bench_rounds)) return 1;
    engine e;
    memset(&e, 0, sizeof e);
    rc = run(&e, &a);
    if (trace && pw_close() != PW_OK) rc = fail("%s", "the trace could not be finished");
    if (trace == bench_path) unlink(bench_path);
    engine_close(&e);
    return rc;
}
