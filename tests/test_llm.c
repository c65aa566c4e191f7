/* test_llm.c — phasewatt-llm, the reference engine, run as a user runs it: deterministic
 * tokens per preset, the exact phase tree and token counts in its trace, checkpoints in both
 * llama2.c layouts, clear errors for bad files; and `phasewatt compare` against known truth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/attribute.h"
#include "phasewatt.h"
#include "tf.h"
#include "trace/trace.h"

#define LLM PW_BUILD_DIR "/bin/phasewatt-llm"

/* Runs phasewatt-llm with args; returns its exit code, stdout and stderr. */
static int llm(const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s %s", LLM, args);
    return tf_run(cmd, out, err);
}

/* The generated token ids of one short greedy-free run. */
static char *token_ids(const char *arch, const char *extra)
{
    char args[512], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "--arch %s --prompt 'hi there' -n 5 --print-ids -q %s", arch,
             extra);
    int rc = llm(args, &out, &err);
    CHECK_MSG(rc == 0, "phasewatt-llm %s exited %d: %s", args, rc, err ? err : "");
    free(err);
    return out;
}

static int count_words(const char *s)
{
    int n = 0, in = 0;
    for (; *s; s++) {
        int space = *s == ' ' || *s == '\n';
        n += !space && !in;
        in = !space;
    }
    return n;
}

TEST(llm_every_preset_is_deterministic_across_runs_and_thread_counts)
{
    static const char *const archs[] = {"llama-15m", "gqa-15m", "wide-shallow", "deep-narrow",
                                        "moe-15m"};
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        char *a = token_ids(archs[i], "--seed 7 --threads 2");
        char *b = token_ids(archs[i], "--seed 7 --threads 1");
        CHECK_INT(count_words(a), 5);
        CHECK_MSG(!strcmp(a, b), "%s: threads 2 gave %s, threads 1 gave %s", archs[i], a, b);
        free(a);
        free(b);
    }
    char *s7 = token_ids("llama-15m", "--seed 7"), *s8 = token_ids("llama-15m", "--seed 8");
    CHECK_MSG(strcmp(s7, s8) != 0, "seeds 7 and 8 generated the same tokens: %s", s7);
    free(s7);
    free(s8);
}

TEST(llm_lists_its_presets_with_parameter_counts)
{
    char *out = NULL;
    CHECK_INT(llm("--list-archs", &out, NULL), 0);
    CHECK(strstr(out, "llama-15m") && strstr(out, "gqa-15m") && strstr(out, "wide-shallow"));
    CHECK(strstr(out, "deep-narrow") && strstr(out, "moe-15m"));
    /* llama2.c's stories15M shape: 32000x288 embedding + 6 layers + final norm */
    CHECK(strstr(out, "15.19M"));
    free(out);
}

/* ---- the phase tree of a recorded run ------------------------------------------------ */

typedef struct recorded {
    pw_trace *t;
    pw_attribution *a;
} recorded;

static recorded record_run(const char *arch, const char *extra)
{
    char args[512], *err = NULL;
    const char *path = tf_path("run.pwt");
    snprintf(args, sizeof args, "--arch %s --prompt 'hello' -n 4 -q --source estimate "
             "--interval 1 -o %s %s", arch, path, extra);
    int rc = llm(args, NULL, &err);
    CHECK_MSG(rc == 0, "phasewatt-llm exited %d: %s", rc, err ? err : "");
    free(err);
    recorded r = {0};
    CHECK_INT(pw_trace_open(path, &r.t), PW_OK);
    CHECK_INT(pw_attribute(r.t, &r.a), PW_OK);
    return r;
}

static void recorded_free(recorded *r)
{
    pw_attribution_free(r->a);
    pw_trace_close(r->t);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Every node's path, sorted, joined by spaces. */
static char *path_list(const pw_attribution *a)
{
    char **paths = calloc(a->nnodes, sizeof *paths);
    size_t len = 1;
    pw_path_buf buf = {0};
    for (size_t i = 1; i < a->nnodes; i++) {
        paths[i - 1] = strdup(pw_node_path(a, i, &buf));
        len += strlen(paths[i - 1]) + 1;
    }
    pw_path_buf_free(&buf);
    qsort(paths, a->nnodes - 1, sizeof *paths, cmp_str);
    char *joined = calloc(1, len);
    for (size_t i = 0; i + 1 < a->nnodes; i++) {
        if (i) strcat(joined, " ");
        strcat(joined, paths[i]);
    }
    for (size_t i = 0; i + 1 < a->nnodes; i++) free(paths[i]);
    free(paths);
    return joined;
}

/* The expected tree as a sorted list, built from the component names. */
static char *expected_paths(int moe)
{
    static const char *const attn[] = {"qkv", "rope", "scores", "softmax", "output"};
    char *list[64];
    size_t n = 0;
    char buf[64];
#define ADD(...) (snprintf(buf, sizeof buf, __VA_ARGS__), list[n++] = strdup(buf))
    ADD("pre-inference");
    ADD("post-inference");
    for (int dec = 0; dec < 2; dec++) {
        const char *top = dec ? "decode" : "prefill";
        ADD("%s", top);
        ADD("%s/embedding", top);
        ADD("%s/attention", top);
        for (size_t i = 0; i < 5; i++) ADD("%s/attention/%s", top, attn[i]);
        ADD("%s/mlp", top);
        if (moe) ADD("%s/mlp/router", top), ADD("%s/mlp/experts", top);
        ADD("%s/lm_head", top);
        if (dec) ADD("decode/sampling");
    }
#undef ADD
    qsort(list, n, sizeof *list, cmp_str);
    char *joined = calloc(1, 2048);
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(joined, " ");
        strcat(joined, list[i]);
        free(list[i]);
    }
    return joined;
}

static const pw_phase_node *node(const pw_attribution *a, const char *path)
{
    int i = pw_attribution_find(a, path);
    CHECK_MSG(i >= 0, "no phase %s", path);
    return &a->nodes[i];
}

static void check_tree(const char *arch, int moe, int layers)
{
    recorded r = record_run(arch, "");
    char *got = path_list(r.a), *want = expected_paths(moe);
    CHECK_MSG(!strcmp(got, want), "%s phase tree:\n got  %s\n want %s", arch, got, want);
    /* "hello" is BOS + 5 bytes; 4 tokens out: 4 decode steps, the last one samples only */
    CHECK_INT(node(r.a, "prefill")->calls, 1);
    CHECK_INT(node(r.a, "prefill")->tokens_incl, 6);
    CHECK_INT(node(r.a, "prefill/attention")->calls, layers);
    CHECK_INT(node(r.a, "decode")->calls, 4);
    CHECK_INT(node(r.a, "decode")->tokens_incl, 4);
    CHECK_INT(node(r.a, "decode/sampling")->calls, 4);
    CHECK_INT(node(r.a, "decode/attention/softmax")->calls, 3 * layers);
    CHECK_INT(node(r.a, "decode/lm_head")->calls, 3);
    double prefill_j = pw_energy_total(r.t, node(r.a, "prefill")->incl_j);
    double decode_j = pw_energy_total(r.t, node(r.a, "decode")->incl_j);
    CHECK_MSG(prefill_j > 0 && decode_j > 0, "no energy: prefill %g J, decode %g J", prefill_j,
              decode_j);
    const char *arch_meta = pw_trace_meta(r.t, "model.arch");
    CHECK_STR(arch_meta, arch);
    free(got);
    free(want);
    recorded_free(&r);
}

TEST(llm_trace_has_the_documented_phase_tree_and_token_counts)
{
    check_tree("llama-15m", 0, 6);
}

TEST(llm_moe_trace_adds_router_and_experts_under_mlp)
{
    check_tree("moe-15m", 1, 6);
}

TEST(llm_phase_depth_limits_the_tree)
{
    recorded r = record_run("deep-narrow", "--phase-depth 1");
    char *got = path_list(r.a);
    CHECK_STR(got, "decode post-inference pre-inference prefill");
    free(got);
    recorded_free(&r);
    r = record_run("deep-narrow", "--phase-depth 0");
    CHECK_INT(r.a->nnodes, 1);   /* the root only */
    recorded_free(&r);
}

TEST(llm_report_shows_j_per_token_for_prefill_and_decode)
{
    recorded r = record_run("gqa-15m", "");
    recorded_free(&r);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s --depth 1 --format csv", tf_path("run.pwt"));
    CHECK_INT(tf_run(cmd, &out, NULL), 0);
    /* csv: the j_per_token column is filled for prefill and decode rows */
    const char *header_end = strchr(out, '\n');
    CHECK(header_end != NULL);
    int col = 0;
    for (const char *p = out; p < header_end && strncmp(p, "j_per_token", 11); p++)
        col += *p == ',';
    CHECK_MSG(col > 0 && strstr(out, "j_per_token"), "no j_per_token column: %.200s", out);
    int found = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "prefill,", 8) && strncmp(line, "decode,", 7)) continue;
        const char *p = line;
        for (int c = 0; c < col && p; c++) p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
        CHECK_MSG(p && atof(p) > 0, "no J/token in: %s", line);
        found++;
    }
    CHECK_INT(found, 2);
    free(out);
}

/* ---- checkpoints ---------------------------------------------------------------------- */

enum { CK_DIM = 8, CK_HIDDEN = 16, CK_LAYERS = 2, CK_HEADS = 2, CK_KV = 1, CK_VOCAB = 300,
       CK_SEQ = 32, CK_HS = CK_DIM / CK_HEADS, CK_KVD = CK_HS * CK_KV };

typedef struct tensors {
    float emb[CK_VOCAB * CK_DIM];
    float rms_att[CK_LAYERS * CK_DIM], rms_ffn[CK_LAYERS * CK_DIM], rms_final[CK_DIM];
    float wq[CK_LAYERS * CK_DIM * CK_DIM], wo[CK_LAYERS * CK_DIM * CK_DIM];
    float wk[CK_LAYERS * CK_KVD * CK_DIM], wv[CK_LAYERS * CK_KVD * CK_DIM];
    float w1[CK_LAYERS * CK_HIDDEN * CK_DIM], w2[CK_LAYERS * CK_DIM * CK_HIDDEN],
        w3[CK_LAYERS * CK_HIDDEN * CK_DIM];
    float freqs[CK_SEQ * CK_HS];   /* v0's cos and sin tables, ignored by the engine */
} tensors;

static void random_fill(float *p, size_t n, unsigned *seed)
{
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1103515245u + 12345u;
        p[i] = ((float)((*seed >> 8) & 0xFFFF) / 65536.0f - 0.5f) * 0.8f;
    }
}

static void make_tensors(tensors *t)
{
    unsigned seed = 99;
    random_fill((float *)t, sizeof *t / sizeof(float), &seed);
    for (size_t i = 0; i < CK_LAYERS * CK_DIM; i++) {   /* unequal, so a mix-up shows */
        t->rms_att[i] = 0.5f + 0.25f * (float)(i % 5);
        t->rms_ffn[i] = 1.5f - 0.4f * (float)(i % 3);
    }
    for (size_t i = 0; i < CK_DIM; i++) t->rms_final[i] = 4.0f;
}

static void put(FILE *f, const void *p, size_t bytes)
{
    CHECK(fwrite(p, 1, bytes, f) == bytes);
}

static void header_ints(FILE *f)
{
    int32_t h[7] = {CK_DIM, CK_HIDDEN, CK_LAYERS, CK_HEADS, CK_KV, CK_VOCAB, CK_SEQ};
    put(f, h, sizeof h);
}

/* llama2.c's legacy layout: 7 ints, then the tensors in run.c's order. */
static const char *write_v0(const char *name, const tensors *t, long cut, size_t extra)
{
    const char *path = tf_path(name);
    FILE *f = fopen(path, "wb");
    header_ints(f);
    put(f, t->emb, sizeof t->emb);
    put(f, t->rms_att, sizeof t->rms_att);
    put(f, t->wq, sizeof t->wq);
    put(f, t->wk, sizeof t->wk);
    put(f, t->wv, sizeof t->wv);
    put(f, t->wo, sizeof t->wo);
    put(f, t->rms_ffn, sizeof t->rms_ffn);
    put(f, t->w1, sizeof t->w1);
    put(f, t->w2, sizeof t->w2);
    put(f, t->w3, sizeof t->w3);
    put(f, t->rms_final, sizeof t->rms_final);
    put(f, t->freqs, sizeof t->freqs);
    for (size_t i = 0; i < extra; i++) fputc(0, f);
    fclose(f);
    if (cut > 0) CHECK_INT(truncate(path, cut), 0);
    return path;
}

/* export.py's version 1: a 256-byte header ("ak42", version, 7 ints, shared flag), the
 * norms first, then the embedding and the matrices. */
static const char *write_v1(const char *name, const tensors *t, int32_t version)
{
    const char *path = tf_path(name);
    FILE *f = fopen(path, "wb");
    uint32_t magic = 0x616b3432;
    put(f, &magic, 4);
    put(f, &version, 4);
    header_ints(f);
    unsigned char pad[256 - 36] = {1};   /* shared classifier, then zeros */
    put(f, pad, sizeof pad);
    put(f, t->rms_att, sizeof t->rms_att);
    put(f, t->rms_ffn, sizeof t->rms_ffn);
    put(f, t->rms_final, sizeof t->rms_final);
    put(f, t->emb, sizeof t->emb);
    put(f, t->wq, sizeof t->wq);
    put(f, t->wk, sizeof t->wk);
    put(f, t->wv, sizeof t->wv);
    put(f, t->wo, sizeof t->wo);
    put(f, t->w1, sizeof t->w1);
    put(f, t->w2, sizeof t->w2);
    put(f, t->w3, sizeof t->w3);
    fclose(f);
    return path;
}

static char *checkpoint_ids(const char *path)
{
    char args[1024], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "--checkpoint %s --prompt 'ab' -n 6 --temperature 0 "
             "--print-ids -q", path);
    int rc = llm(args, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err ? err : "");
    free(err);
    return out;
}

TEST(llm_runs_both_llama2c_checkpoint_layouts_alike)
{
    tensors *t = malloc(sizeof *t);
    make_tensors(t);
    char *v0 = checkpoint_ids(write_v0("v0.bin", t, 0, 0));
    char *v1 = checkpoint_ids(write_v1("v1.bin", t, 1));
    CHECK_INT(count_words(v0), 6);
    CHECK_MSG(!strcmp(v0, v1), "the same weights gave %s (v0) and %s (v1)", v0, v1);
    free(v0);
    free(v1);
    free(t);
}

static void expect_rejected(const char *path, const char *needle)
{
    char args[1024], *err = NULL;
    snprintf(args, sizeof args, "--checkpoint %s -n 2 -q", path);
    int rc = llm(args, NULL, &err);
    CHECK_MSG(rc == 1, "%s: exit %d (want 1), stderr: %s", path, rc, err ? err : "");
    CHECK_MSG(err && strstr(err, needle), "%s: stderr %s lacks \"%s\"", path, err ? err : "",
              needle);
    free(err);
}

TEST(llm_rejects_malformed_checkpoints_with_clear_errors)
{
    tensors *t = malloc(sizeof *t);
    make_tensors(t);
    write_v0("good.bin", t, 0, 0);
    expect_rejected(write_v0("short.bin", t, 1000, 0), "truncated");
    expect_rejected(write_v0("long.bin", t, 0, 12), "sizes do not add up");
    expect_rejected(write_v1("v2.bin", t, 2), "unsupported checkpoint version 2");
    const char *garbage = tf_path("garbage.bin");
    CHECK_INT(tf_write_file(garbage, "this is not a model at all, just some text", 42), 0);
    expect_rejected(garbage, "not a llama2.c checkpoint");
    const char *tiny = tf_path("tiny.bin");
    CHECK_INT(tf_write_file(tiny, "ab", 2), 0);
    expect_rejected(tiny, "truncated");
    const char *v1short = tf_path("v1short.bin");
    CHECK_INT(tf_write_file(v1short, "42ka\1\0\0\0", 8), 0);
    expect_rejected(v1short, "truncated");
    expect_rejected(tf_path("missing.bin"), "cannot open");
    expect_rejected(tf_tmpdir(), "cannot");
    free(t);
}

TEST(llm_rejects_bad_options_and_tokenizers)
{
    char *err = NULL;
    CHECK_INT(llm("--arch nope", NULL, &err), 1);
    CHECK(strstr(err, "unknown architecture nope"));
    free(err);
    CHECK_INT(llm("--phase-depth 9", NULL, NULL), 2);
    const char *tok = tf_path("tokenizer.bin");
    CHECK_INT(tf_write_file(tok, "\x10\0\0\0garbage", 11), 0);
    char args[512];
    snprintf(args, sizeof args, "--tokenizer %s -n 1 -q", tok);
    err = NULL;
    CHECK_INT(llm(args, NULL, &err), 1);
    CHECK_MSG(strstr(err, "bad tokenizer"), "stderr: %s", err);
    free(err);
}

/* ---- compare -------------------------------------------------------------------------- */

static const char *scenario(const char *name, double prefill_w, double decode_w)
{
    char text[1024];
    snprintf(text, sizeof text,
             "name %s\nsensor period=1ms quantum=15.3uJ bits=32 noise=0W\nsample every=1ms\n"
             "domain name=package-0 kind=cpu\nbackground 5W\nlead 3.3ms\n"
             "phase prefill {\n  count tokens 50\n  phase attention 40ms %gW\n"
             "  phase mlp 60ms %gW\n}\n"
             "repeat 10 {\n  phase decode {\n    count tokens 1\n    idle 20ms %gW\n  }\n}\n",
             name, prefill_w, prefill_w + 10, decode_w);
    char file[64];
    snprintf(file, sizeof file, "%s.scenario", name);
    const char *path = tf_path(file);
    CHECK_INT(tf_write_file(path, text, strlen(text)), 0);
    return path;
}

static void simulate(const char *name, double prefill_w, double decode_w)
{
    char cmd[1024];
    const char *sc = scenario(name, prefill_w, decode_w);
    snprintf(cmd, sizeof cmd, "\"$PW\" simulate --scenario %s -o %s/%s.pwt", sc, tf_tmpdir(),
             name);
    CHECK_INT(tf_run(cmd, NULL, NULL), 0);
}

/* The value of column `key` in the CSV row of run `run`, path `path`. */
static double csv_value(char *csv, int run, const char *path, const char *key)
{
    char *copy = strdup(csv), *save = NULL;
    char *header = strtok_r(copy, "\n", &save);
    int col = -1, c = 0;
    for (char *h = header, *end; h; h = end ? end + 1 : NULL, c++) {
        end = strchr(h, ',');
        if ((end ? (size_t)(end - h) : strlen(h)) == strlen(key) && !strncmp(h, key, strlen(key)))
            col = c;
    }
    double v = NAN;
    char prefix[128];
    for (char *line; col >= 0 && (line = strtok_r(NULL, "\n", &save));) {
        /* run,label,file,params,provenance,path,... */
        char *f[32];
        int n = 0;
        for (char *p = line; p && n < 32; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
            f[n++] = p;
        snprintf(prefix, sizeof prefix, "%s,", path);
        if (n > col && atoi(f[0]) == run && !strncmp(f[5], prefix, strlen(prefix)))
            v = *f[col] == ',' ? NAN : atof(f[col]);
    }
    free(copy);
    return v;
}

TEST(compare_reports_the_differences_between_simulated_runs)
{
    simulate("base", 30, 10);
    simulate("hot", 45, 12);
    char cmd[1024], *csv = NULL, *text = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" compare %s/base.pwt %s/hot.pwt --format csv",
             tf_tmpdir(), tf_tmpdir());
    CHECK_INT(tf_run(cmd, &csv, NULL), 0);
    /* truth: prefill = 30 W x 40 ms + 40 W x 60 ms = 3.6 J vs 45 x 0.04 + 55 x 0.06 = 5.1 J */
    CHECK_NEAR(csv_value(csv, 0, "prefill", "energy_j"), 3.6, 0.005);
    CHECK_NEAR(csv_value(csv, 1, "prefill", "energy_j"), 5.1, 0.005);
    CHECK_NEAR(csv_value(csv, 1, "prefill", "energy_delta_pct"), 100.0 * 1.5 / 3.6, 0.005);
    CHECK_NEAR(csv_value(csv, 1, "decode", "energy_delta_pct"), 20.0, 0.005);
    CHECK_NEAR(csv_value(csv, 0, "decode", "j_per_token"), 0.2, 0.005);
    CHECK_NEAR(csv_value(csv, 1, "decode", "j_per_token"), 0.24, 0.005);
    CHECK_NEAR(csv_value(csv, 0, "prefill", "j_per_token"), 3.6 / 50, 0.005);
    CHECK_NEAR(csv_value(csv, 0, "prefill", "tokens_per_s"), 500, 0.005);
    /* attention's share of prefill: 1.2 / 3.6 and 1.8 / 5.1 */
    CHECK_NEAR(csv_value(csv, 0, "prefill/attention", "share_of_parent_pct"), 100.0 / 3, 0.005);
    CHECK_NEAR(csv_value(csv, 1, "prefill/attention", "share_of_parent_pct"), 180 / 5.1, 0.005);
    snprintf(cmd, sizeof cmd, "\"$PW\" compare %s/base.pwt %s/hot.pwt", tf_tmpdir(), tf_tmpdir());
    CHECK_INT(tf_run(cmd, &text, NULL), 0);
    CHECK_MSG(strstr(text, "base") && strstr(text, "hot") && strstr(text, "J/token"),
              "text: %s", text);
    free(csv);
    free(text);
}

TEST(compare_rejects_missing_and_torn_inputs_clearly)
{
    char cmd[1024], *err = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" compare %s/none.pwt", tf_tmpdir());
    CHECK_INT(tf_run(cmd, NULL, &err), 1);
    CHECK_MSG(strstr(err, "none.pwt"), "stderr: %s", err);
    free(err);
    CHECK_INT(tf_run("\"$PW\" compare", NULL, NULL), 2);
    CHECK_INT(tf_run("\"$PW\" compare --format xml x.pwt", NULL, NULL), 2);
}
