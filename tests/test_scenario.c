/* test_scenario.c — the scenario language: the built-in and documented scenarios, units,
 * every error with its line, hostile input, the watts lookup, walks and timelines. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/scenario.h"
#include "tf.h"

static pw_scenario *parse_ok(const char *text)
{
    char err[256] = "";
    pw_scenario *s = NULL;
    int rc = pw_scenario_parse(text, &s, err, sizeof err);
    CHECK_MSG(rc == PW_OK && s, "parse failed (%d): %s\n---\n%s", rc, err, text);
    return s;
}

static long path_index(const pw_scenario *s, const char *path)
{
    for (size_t i = 0; i < s->npaths; i++)
        if (strcmp(s->paths[i], path) == 0) return (long)i;
    return -1;
}

/* ---- the built-in and documented scenarios ------------------------------------------------ */

TEST(scenario_builtin_is_inference_shaped)
{
    pw_scenario *s = parse_ok(pw_scenario_builtin());
    CHECK_STR(s->name, "built-in inference");
    CHECK_STR(s->domain, "package-0");
    CHECK_INT(s->kind, PW_KIND_CPU);
    CHECK_INT(s->sensor.period_ns, 1000000);
    CHECK_NEAR(s->sensor.quantum_uj, 15.3, 1e-12);
    CHECK_INT(s->sensor.bits, 32);
    CHECK_INT(s->sample_interval_ns, 1000000);
    CHECK_INT(s->lead_ns, 20000000);
    uint64_t total = pw_scenario_duration_ns(s) + 2 * s->lead_ns;
    CHECK_MSG(total >= 2000000000ull && total <= 3000000000ull, "runs %llu ns",
              (unsigned long long)total);
    const char *paths[] = {"pre-inference", "prefill", "prefill/attention", "prefill/mlp",
                           "decode", "decode/attention", "decode/mlp", "decode/sampling",
                           "post-inference"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        CHECK_MSG(path_index(s, paths[i]) > 0, "no path %s", paths[i]);
    pw_schedule *tl = NULL;
    CHECK_INT(pw_scenario_schedule(s, &tl), PW_OK);
    for (size_t i = 0; i < tl->nspans; i++)   /* short enough to see, long enough to run */
        CHECK(tl->spans[i].t1_ns - tl->spans[i].t0_ns >= 200000);
    pw_schedule_free(tl);
    pw_scenario_free(s);
}

/* Every ```scenario block of docs/scenario.md parses. */
TEST(scenario_documented_examples_parse)
{
    char *doc = tf_read_file(PW_SOURCE_DIR "/docs/scenario.md", NULL);
    CHECK(doc != NULL);
    int blocks = 0;
    for (char *p = strstr(doc, "```scenario\n"); p; p = strstr(p, "```scenario\n")) {
        p += strlen("```scenario\n");
        char *end = strstr(p, "```");
        CHECK(end != NULL);
        *end = '\0';
        pw_scenario_free(parse_ok(p));
        blocks++;
        p = end + 1;
    }
    CHECK(blocks >= 2);
    free(doc);
}

TEST(scenario_builtin_matches_its_documentation)
{
    char *doc = tf_read_file(PW_SOURCE_DIR "/docs/scenario.md", NULL);
    CHECK(doc != NULL);
    CHECK_MSG(strstr(doc, pw_scenario_builtin()) != NULL, "docs/scenario.md shows another "
                                                          "built-in scenario");
    free(doc);
}

/* ---- units, defaults and structure ------------------------------------------------------- */

TEST(scenario_units_and_durations)
{
    pw_scenario *s = parse_ok("sensor period=0.5ms offset=100us quantum=61uJ bits=16 "
                              "noise=250mW seed=9\n"
                              "phase a 1500us 2W\n"
                              "phase b 0.5s 500mW   # comment\n"
                              "phase c 2ns 1.5kW\n"
                              "phase d 1e-3s 1e1W\n"
                              "phase e 3\xc2\xb5s 1W\n"
                              "\tidle 3ms\r\n");
    CHECK_INT(s->nsteps, 6);
    CHECK_INT(s->steps[0].dur_ns, 1500000);
    CHECK_NEAR(s->steps[0].watts, 2, 1e-12);
    CHECK_INT(s->steps[1].dur_ns, 500000000);
    CHECK_NEAR(s->steps[1].watts, 0.5, 1e-12);
    CHECK_INT(s->steps[2].dur_ns, 2);
    CHECK_NEAR(s->steps[2].watts, 1500, 1e-12);
    CHECK_INT(s->steps[3].dur_ns, 1000000);
    CHECK_NEAR(s->steps[3].watts, 10, 1e-12);
    CHECK_INT(s->steps[4].dur_ns, 3000);
    CHECK_INT(s->steps[5].type, PW_STEP_IDLE);
    CHECK_INT(pw_scenario_duration_ns(s), 1500000 + 500000000 + 2 + 1000000 + 3000 + 3000000);
    CHECK_INT(s->sensor.period_ns, 500000);
    CHECK_INT(s->sensor.offset_ns, 100000);
    CHECK_NEAR(s->sensor.quantum_uj, 61, 1e-12);
    CHECK_INT(s->sensor.bits, 16);
    CHECK_NEAR(s->sensor.noise_w, 0.25, 1e-12);
    CHECK_INT(s->sensor.seed, 9);
    pw_scenario_free(s);
    s = parse_ok("sensor quantum=1J\n");
    CHECK_NEAR(s->sensor.quantum_uj, 1e6, 1e-12);
    pw_scenario_free(s);
    s = parse_ok("sensor quantum=230nJ\n");
    CHECK_NEAR(s->sensor.quantum_uj, 0.23, 1e-12);
    pw_scenario_free(s);
}

TEST(scenario_defaults)
{
    pw_scenario *s = parse_ok("# nothing but a comment\n\n");
    CHECK_INT(s->nsteps, 0);
    CHECK_INT(pw_scenario_duration_ns(s), 0);
    CHECK_STR(s->domain, "synthetic-0");
    CHECK_INT(s->kind, PW_KIND_CPU);
    CHECK_INT(s->sample_interval_ns, 1000000);
    CHECK_INT(s->sensor.period_ns, 0);
    CHECK_INT(s->lead_ns, 0);
    CHECK(s->name == NULL);
    CHECK_INT(s->npaths, 1);
    CHECK_STR(s->paths[0], "");
    pw_scenario_free(s);
}

TEST(scenario_tree_repeats_and_counts)
{
    pw_scenario *s = parse_ok("background 3W\n"
                              "repeat 3 {\n"
                              "  phase decode {\n"
                              "    count tokens -2\n"
                              "    phase attention 1ms 30W\n"
                              "    idle 1ms\n"
                              "  }\n"
                              "}\n"
                              "idle 4ms 7W\n"
                              "domain name=gpu-0 kind=gpu\n");
    CHECK_INT(s->nsteps, 2);
    const pw_step *rep = &s->steps[0];
    CHECK_INT(rep->type, PW_STEP_REPEAT);
    CHECK_INT(rep->repeat, 3);
    CHECK_INT(rep->dur_ns, 6000000);
    const pw_step *decode = &rep->body[0];
    CHECK_STR(decode->name, "decode");
    CHECK_INT(decode->nbody, 3);
    CHECK_INT(decode->body[0].type, PW_STEP_COUNT);
    CHECK_INT(decode->body[0].count, -2);
    CHECK_STR(s->names[decode->body[0].name_ix], "tokens");
    CHECK_STR(s->paths[decode->body[1].path_ix], "decode/attention");
    CHECK_NEAR(decode->body[2].watts, 3, 0);   /* idle without power: the background */
    CHECK_NEAR(s->steps[1].watts, 7, 0);
    CHECK_INT(pw_scenario_duration_ns(s), 10000000);
    CHECK_STR(s->domain, "gpu-0");
    CHECK_INT(s->kind, PW_KIND_GPU);
    pw_scenario_free(s);
}

TEST(scenario_watts_lookup)
{
    pw_scenario *s = parse_ok("background 2W\n"
                              "phase prefill {\n"
                              "  repeat 2 {\n"
                              "    idle 1ms 21W\n"
                              "    phase attention 1ms 45W\n"
                              "  }\n"
                              "}\n"
                              "phase decode {\n"
                              "  phase attention 1ms 30W\n"
                              "}\n"
                              "phase decode 5ms 99W\n");   /* the same path again: first wins */
    CHECK_NEAR(pw_scenario_watts(s, "prefill/attention"), 45, 0);
    CHECK_NEAR(pw_scenario_watts(s, "decode/attention"), 30, 0);
    CHECK_NEAR(pw_scenario_watts(s, "prefill"), 21, 0);     /* a composite: its idle power */
    CHECK_NEAR(pw_scenario_watts(s, "decode"), 2, 0);       /* no idle: the background */
    CHECK_NEAR(pw_scenario_watts(s, "attention"), 2, 0);    /* paths, not names */
    CHECK_NEAR(pw_scenario_watts(s, "nothing"), 2, 0);
    CHECK_NEAR(pw_scenario_watts(s, ""), 2, 0);
    CHECK_NEAR(pw_scenario_watts(s, NULL), 2, 0);
    pw_scenario_free(s);
}

/* ---- walking ----------------------------------------------------------------------------- */

typedef struct walk_log { char text[512]; size_t n; } walk_log;

static void logf_(walk_log *l, const char *fmt, const char *a, unsigned long long b)
{
    int w = snprintf(l->text + l->n, sizeof l->text - l->n, fmt, a, b);
    CHECK(w > 0 && (size_t)w < sizeof l->text - l->n);
    l->n += (size_t)w;
}

static const pw_scenario *walked;

static int log_begin(void *ctx, const pw_step *ph, uint64_t t)
{
    logf_(ctx, "B%s@%llu ", ph->name, t);
    return 0;
}
static int log_end(void *ctx, const pw_step *ph, uint64_t t)
{
    logf_(ctx, "E%s@%llu ", ph->name, t);
    return 0;
}
static int log_count(void *ctx, const pw_step *c, uint64_t t)
{
    logf_(ctx, "C%s@%llu ", c->name, t);
    return 0;
}
static int log_span(void *ctx, uint64_t t0, uint64_t t1, double w, uint32_t path)
{
    (void)t0, (void)w;
    logf_(ctx, "S%s@%llu ", walked->paths[path], t1);
    return 0;
}
static int stop_at_second_span(void *ctx, uint64_t t0, uint64_t t1, double w, uint32_t path)
{
    (void)t0, (void)t1, (void)w, (void)path;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

TEST(scenario_walk_is_in_time_order)
{
    pw_scenario *s = parse_ok("idle 1ns\n"
                              "repeat 2 {\n"
                              "  phase p {\n"
                              "    count k 1\n"
                              "    phase q 2ns 1W\n"
                              "    idle 3ns\n"
                              "  }\n"
                              "}\n");
    walked = s;
    walk_log log = {"", 0};
    static const pw_walk_ops ops = {log_begin, log_end, log_count, log_span};
    CHECK_INT(pw_scenario_walk(s, 10, &ops, &log), 0);
    CHECK_STR(log.text, "S@11 Bp@11 Ck@11 Bq@11 Sp/q@13 Eq@13 Sp@16 Ep@16 "
                        "Bp@16 Ck@16 Bq@16 Sp/q@18 Eq@18 Sp@21 Ep@21 ");
    int spans = 0;
    CHECK_INT(pw_scenario_walk(s, 0, &(pw_walk_ops){.span = stop_at_second_span}, &spans), 42);
    CHECK_INT(spans, 2);
    CHECK_INT(pw_scenario_walk(NULL, 0, &ops, &log), PW_ERR_INVALID);
    pw_scenario_free(s);
}

TEST(scenario_timeline_covers_the_run)
{
    pw_scenario *s = parse_ok(pw_scenario_builtin());
    pw_schedule *tl = NULL;
    CHECK_INT(pw_scenario_schedule(s, &tl), PW_OK);
    CHECK(tl->nspans > 0);
    CHECK_INT(tl->spans[0].t0_ns, 0);
    CHECK_STR(tl->spans[0].path, "pre-inference/tokenize");
    double energy = 0;
    size_t prefill_idle = 0;
    for (size_t i = 0; i < tl->nspans; i++) {
        const pw_span *pc = &tl->spans[i];
        if (i) CHECK_INT(pc->t0_ns, tl->spans[i - 1].t1_ns);
        CHECK(pc->t1_ns > pc->t0_ns);
        energy += pc->watts * (double)(pc->t1_ns - pc->t0_ns) * 1e-9;
        prefill_idle += strcmp(pc->path, "prefill") == 0;
    }
    CHECK_INT(prefill_idle, 1);
    CHECK_INT(tl->spans[tl->nspans - 1].t1_ns, pw_scenario_duration_ns(s));
    CHECK_STR(tl->spans[tl->nspans - 1].path, "post-inference");
    CHECK_INT(tl->nspans, 2 + 1 + 16 + 1 + 200 * 9 + 1);
    CHECK(energy > 0);
    pw_schedule_free(tl);
    pw_scenario_free(s);
}

/* ---- errors ------------------------------------------------------------------------------- */

static void expect_error(const char *text, int line, const char *needle)
{
    char err[512] = "", prefix[32];
    pw_scenario *s = (pw_scenario *)&s;   /* must come back NULL */
    int rc = pw_scenario_parse(text, &s, err, sizeof err);
    CHECK_MSG(rc == PW_ERR_FORMAT, "parsed (%d) ---\n%s", rc, text);
    CHECK(s == NULL);
    snprintf(prefix, sizeof prefix, "line %d: ", line);
    CHECK_MSG(strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, needle),
              "expected '%s...%s', got '%s'", prefix, needle, err);
}

/* Text with `depth` blocks inside one another, `opener` at each level, around `inner`. */
static const char *nested(int depth, const char *opener, const char *inner)
{
    static char text[8192];
    size_t n = 0;
    for (int i = 0; i < 2 * depth + 1; i++) {
        const char *line = i < depth ? opener : i == depth ? inner : "}";
        int w = snprintf(text + n, sizeof text - n, "%s\n", line);
        CHECK(w > 0 && (size_t)w < sizeof text - n);
        n += (size_t)w;
    }
    return text;
}

TEST(scenario_errors_name_the_line)
{
    expect_error("phase a 1ms 10W\nfrobnicate x\n", 2, "unknown keyword 'frobnicate'");
    expect_error("phase a 1ms 10\n", 1, "missing unit in '10'");
    expect_error("phase a 1 10W\n", 1, "missing unit in '1'");
    expect_error("phase a 1xs 10W\n", 1, "unknown unit 'xs'");
    expect_error("phase a fast 10W\n", 1, "expected a duration");
    expect_error("phase a {\n  phase b 1ms 1W\n", 1, "never closed");
    expect_error("phase a 1ms 1W\n}\n", 2, "unbalanced braces");
    expect_error("phase a 0ms 1W\n", 1, "zero");
    expect_error("phase a 0.1ns 1W\n", 1, "zero");
    expect_error("phase a -1ms 1W\n", 1, "negative duration");
    expect_error("phase a 1ms -3W\n", 1, "negative power");
    expect_error("idle 0s\n", 1, "zero");
    expect_error("repeat 0 {\n  phase a 1ms 1W\n}\n", 1, "repeat count");
    expect_error("repeat -2 {\n  phase a 1ms 1W\n}\n", 1, "repeat count");
    expect_error("repeat 99999999999 {\n  phase a 1ms 1W\n}\n", 1, "repeat count");
    expect_error("repeat 3\n", 1, "expected 'repeat N {'");
    expect_error("phase a/b 1ms 1W\n", 1, "may not contain '/'");
    expect_error("phase a{ 1ms 1W\n", 1, "may not contain");
    expect_error("count a/b 1\n", 1, "may not contain '/'");
    expect_error("phase ok 1ms 1W\nphase a\x01 1ms 1W\n", 2, "control character 0x01");
    expect_error("phase \xff 1ms 1W\n", 1, "UTF-8");
    expect_error("phase \xc0\xaf 1ms 1W\n", 1, "UTF-8");            /* overlong '/' */
    expect_error("phase \xed\xa0\x80 1ms 1W\n", 1, "UTF-8");        /* a surrogate */
    expect_error("phase a 1ms 10W {\n", 1, "expected 'phase NAME DURATION POWER'");
    expect_error("phase a b {\n", 1, "expected 'phase NAME DURATION POWER'");
    expect_error("phase b {\n  phase c 1ms\n}\n", 2, "expected 'phase NAME DURATION POWER'");
    expect_error("phase a {\n  count tokens 1\n}\n", 3, "opened at line 1 takes no time");
    expect_error("repeat 2 {\n}\n", 2, "takes no time");
    expect_error("phase a } \n", 1, "expected");
    expect_error("phase a 1ms 1W\n} x\n", 2, "alone");
    expect_error("phase a 1ms 2000kW\n", 1, "above 1 MW");
    expect_error("phase a 1e999ms 1W\n", 1, "out of range");
    expect_error("phase a 2600000s 1W\n", 1, "longer than 30 days");
    expect_error("repeat 4000000 {\n  phase a 1s 1W\n}\n", 3, "30 days");
    expect_error("repeat 2000000 {\n  phase a 1s 1W\n}\nphase b 1000000s 1W\n", 4, "30 days");
    expect_error("repeat 100000 {\n  repeat 1000 {\n    phase a 1ns 1W\n  }\n}\n", 5,
                 "unrolls to more than");
    expect_error("sample every=1ns\nphase a 1s 1W\n", 1, "samples");
    expect_error("lead 20d\n", 1, "unknown unit 'd'");
    expect_error("background 1W\nbackground 2W\n", 2, "given twice");
    expect_error("phase a {\n  lead 1ms\n  phase b 1ms 1W\n}\n", 2, "top level");
    expect_error("sensor noise=1W\n", 1, "noise needs an update period");
    expect_error("sensor period=1ms bogus=3\n", 1, "unknown sensor setting 'bogus'");
    expect_error("sensor period\n", 1, "expected KEY=VALUE");
    expect_error("sensor bits=65\n", 1, "bits must be a whole number from 1 to 64");
    expect_error("sensor bits=0\n", 1, "bits");
    expect_error("sensor quantum=0uJ\n", 1, "quantum");
    expect_error("sensor seed=-1\n", 1, "seed");
    expect_error("sample 1ms\n", 1, "expected 'sample every=DURATION'");
    expect_error("domain kind=tpu\n", 1, "unknown domain kind 'tpu'");
    expect_error("domain flavour=x\n", 1, "unknown domain setting");
    expect_error("count tokens\n", 1, "expected 'count NAME N'");
    expect_error("count tokens x\n", 1, "a count must be a whole number");
    expect_error("count tokens 99999999999999999999\n", 1, "a count must be a whole number");
    expect_error("count tokens 1.5\n", 1, "a count must be a whole number");
    expect_error("a b c d e f g h i j k l m n o p q\n", 1, "too many words");
    expect_error("name\n", 1, "expected 'name TEXT'");

    char longname[400];
    memset(longname, 'x', sizeof longname);
    snprintf(longname, sizeof longname, "phase %0300d 1ms 1W\n", 0);
    expect_error(longname, 1, "longer than 256 bytes");

    expect_error(nested(65, "repeat 1 {", "phase a 1ms 1W"), 65, "nesting deeper than 64");
    expect_error(nested(64, "phase p {", "phase leaf 1ms 1W"), 65,
                 "phases nested deeper than 64");
    pw_scenario_free(parse_ok(nested(64, "repeat 1 {", "phase a 1ms 1W")));   /* the limit */
    pw_scenario_free(parse_ok(nested(63, "phase p {", "phase leaf 1ms 1W")));
}

TEST(scenario_bad_arguments)
{
    pw_scenario *s = NULL;
    char err[8];
    CHECK_INT(pw_scenario_parse(NULL, &s, err, sizeof err), PW_ERR_INVALID);
    CHECK_INT(pw_scenario_parse("", NULL, err, sizeof err), PW_ERR_INVALID);
    CHECK_INT(pw_scenario_parse("frob\n", &s, NULL, 0), PW_ERR_FORMAT);   /* no buffer */
    CHECK_INT(pw_scenario_parse("frob\n", &s, err, sizeof err), PW_ERR_FORMAT);
    CHECK_STR(err, "line 1:");                                          /* truncated */
    pw_scenario_free(NULL);
    CHECK_INT(pw_scenario_duration_ns(NULL), 0);
    size_t huge = (16u << 20) + 1;   /* one byte over the limit */
    char *text = malloc(huge + 1), msg[128];
    CHECK(text != NULL);
    memset(text, '#', huge);
    text[huge] = '\0';
    CHECK_INT(pw_scenario_parse(text, &s, msg, sizeof msg), PW_ERR_FORMAT);
    CHECK_STR(msg, "line 1: the scenario is larger than 16 MiB");
    free(text);
}

TEST(scenario_load_reads_files_and_reports_errors)
{
    char err[256];
    pw_scenario *s = NULL;
    CHECK_INT(pw_scenario_load(tf_path("missing.sc"), &s, err, sizeof err), PW_ERR_NOT_FOUND);
    CHECK(strstr(err, "cannot read") != NULL);
    CHECK(s == NULL);
    CHECK_INT(pw_scenario_load(tf_tmpdir(), &s, err, sizeof err), PW_ERR_IO);   /* a directory */
    const char good[] = "phase a 1ms 2W\n";
    CHECK_INT(tf_write_file(tf_path("good.sc"), good, strlen(good)), 0);
    CHECK_INT(pw_scenario_load(tf_path("good.sc"), &s, err, sizeof err), PW_OK);
    CHECK_INT(pw_scenario_duration_ns(s), 1000000);
    pw_scenario_free(s);
    const char nul[] = "phase a 1ms 2W\nphase b\0 1ms 2W\n";
    CHECK_INT(tf_write_file(tf_path("nul.sc"), nul, sizeof nul - 1), 0);
    CHECK_INT(pw_scenario_load(tf_path("nul.sc"), &s, err, sizeof err), PW_ERR_FORMAT);
    CHECK_STR(err, "line 2: NUL byte in the text");
}

/* ---- hostile input ---------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void parse_anything(const char *text)
{
    char err[128] = "";
    pw_scenario *s = NULL;
    int rc = pw_scenario_parse(text, &s, err, sizeof err);
    CHECK_MSG(rc == PW_OK || (rc == PW_ERR_FORMAT && strncmp(err, "line ", 5) == 0),
              "rc %d, err '%s'", rc, err);
    CHECK((rc == PW_OK) == (s != NULL));
    if (s) CHECK(pw_scenario_duration_ns(s) <= 30ull * 86400 * 1000000000ull);
    pw_scenario_free(s);
}

/* Mutated and truncated versions of a valid scenario parse or fail with a line number. */
TEST(scenario_survives_mutation)
{
    static const char alphabet[] = "{}#=/ \n\t09.-eWmsuJx\xc2\xb5\xff\x01";
    const char *base = pw_scenario_builtin();
    size_t n = strlen(base);
    char *buf = malloc(n + 1);
    CHECK(buf != NULL);
    for (size_t cut = 0; cut <= n; cut += 7) {
        memcpy(buf, base, cut);
        buf[cut] = '\0';
        parse_anything(buf);
    }
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 3000; round++) {
        memcpy(buf, base, n + 1);
        for (int k = 1 + (int)(rng_next(&x) % 4); k > 0; k--) {
            size_t at = rng_next(&x) % n;
            char c = alphabet[rng_next(&x) % (sizeof alphabet - 1)];
            buf[at] = c ? c : ' ';
        }
        parse_anything(buf);
    }
    free(buf);
}
