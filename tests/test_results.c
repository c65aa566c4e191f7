/* test_results.c — the public results API (include/phasewatt-analysis.h): a program built
 * with pkg-config against the installed tree prints what `report --format json` and
 * `report --samples` say, and every accessor gives the internal attribution's figures,
 * NAN for what was not observed, and PW_ERR_INVALID / PW_ERR_NOT_FOUND for bad calls. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "phasewatt-analysis.h"
#include "report/common.h"
#include "tf.h"
#include "trace/trace.h"
#include "trace_fixture.h"

/* make, without the jobserver of a make check that may be running this suite */
#define MAKE "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C '" PW_SOURCE_DIR "' "

/* ---- what the JSON report says, as the example prints it ---------------------------------- */

/* The JSON value after "key": in s (a string's text without its quotes; "-" for null), or
 * NULL when s has no such member. The traces here hold no escaped characters. */
static const char *member(const char *s, const char *key, char *buf, size_t len)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(s, pattern);
    if (!at) return NULL;
    at += strlen(pattern);
    int quoted = *at == '"';
    size_t n = quoted ? strcspn(++at, "\"") : strcspn(at, ",}");
    CHECK_MSG(n < len && !memchr(at, '\\', n), "member %s: %.80s", key, at);
    memcpy(buf, at, n);
    buf[n] = '\0';
    if (!quoted && !strcmp(buf, "null")) snprintf(buf, len, "-");
    return buf;
}

/* One phase object of the JSON (a line of its own) as the example's line. */
static void expected_phase(const char *line, FILE *out)
{
    char v[256];
    fprintf(out, "phase\t%s\t", member(line, "path", v, sizeof v));
    const char *energy = strstr(line, "\"energy_j\":{");
    CHECK(energy != NULL);
    const char *end = strchr(energy, '}');
    fputs(member(energy, "total", v, sizeof v), out);
    for (const char *m = strchr(energy + 12, ','); m && m < end; m = strchr(m + 1, ',')) {
        char key[32];
        size_t n = strcspn(m + 2, "\"");
        CHECK(n < sizeof key);
        snprintf(key, sizeof key, "%.*s", (int)n, m + 2);
        fprintf(out, "\t%s=%s", key, member(m, key, v, sizeof v));
    }
    fprintf(out, "\tci=%s", member(line, "uncertainty_j", v, sizeof v) ? v : "-");
    fprintf(out, "\tJ/token=%s", member(line, "j_per_token", v, sizeof v));
    fprintf(out, "\t%s\n", member(line, "provenance", v, sizeof v));
}

/* The example's lines up to its samples, from the JSON report: method, warnings, phases. */
static char *expected_from_json(char *json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    CHECK(out != NULL);
    fputs("method\tauto\n", out);
    char *warnings = strstr(json, "\"warnings\":[");
    CHECK(warnings != NULL);
    for (char *line = strtok(warnings + 12, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] == '"') fprintf(out, "warning\t%.*s\n", (int)strcspn(line + 1, "\""), line + 1);
    *warnings = '\0';
    int phases = 0;
    for (char *line = strtok(json, "\n"); line; line = strtok(NULL, "\n"))
        if (!strncmp(line, "{\"path\":", 8)) expected_phase(line, out), phases++;
    CHECK_MSG(phases > 5, "%d phases in the JSON", phases);
    CHECK_INT(fclose(out), 0);
    return buf;
}

/* The example's sample lines against the CSV's rows: the same count and phases, each number
 * equal within the CSV's rounding (6 decimals for the time, 3 for the powers). */
static void check_samples(const char *api, char *csv)
{
    const char *s = strstr(api, "sample\t");
    CHECK_MSG(s != NULL, "no samples: %s", api);
    char *row = strchr(csv, '\n');
    CHECK(row != NULL);
    size_t rows = 0;
    for (row++; *row; rows++) {
        CHECK_MSG(!strncmp(s, "sample\t", 7), "fewer samples than CSV rows (%zu)", rows);
        s += 7;
        for (int k = 0; k < 6; k++) {
            char *end;
            double got = strtod(s, &end), want = strtod(row, &row);
            CHECK_MSG(fabs(got - want) <= (k ? 5e-4 : 5e-7) * (1 + 1e-9), "row %zu col %d: %.17g vs %.17g",
                      rows, k, got, want);
            CHECK(*end == '\t' && *row == ',');
            s = end + 1;
            row++;
        }
        size_t n = strcspn(row, "\n");
        CHECK_MSG(strncmp(s, row, n) == 0 && s[n] == '\n', "row %zu phase: %.40s vs %.40s", rows,
                  s, row);
        s += n + 1;
        row += n + (row[n] == '\n');
    }
    CHECK_MSG(*s == '\0', "more samples than CSV rows (%zu): %.80s", rows, s);
    CHECK_MSG(rows > 100, "%zu samples", rows);
}

/* Builds a program with only the installed headers and library: the package's flags. */
static void build_with_pkg_config(const char *source, const char *exe)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "export PKG_CONFIG_SYSROOT_DIR=\"$PWD/root\" "
             "PKG_CONFIG_LIBDIR=\"$PWD/root/opt/phasewatt/lib/pkgconfig\"; pc=phasewatt; "
             "pkg-config --exists phasewatt-analysis && pc=phasewatt-analysis; "
             "${CC:-cc} -std=c11 -Wall -Wextra -Werror -o '%s' '%s' $(pkg-config --cflags --libs $pc)",
             exe, source);
    free(tf_run_expect(cmd, 0, NULL));
}

/* docs/api.md's example as a program: its #include lines on top, the rest in main(). */
static void write_docs_example(const char *path)
{
    char *doc = tf_read_file(PW_SOURCE_DIR "/docs/api.md", NULL);
    CHECK(doc != NULL);
    char *code = strstr(doc, "## Reading results");
    code = code ? strstr(code, "```c\n") : NULL;
    CHECK_MSG(code != NULL, "docs/api.md has no C example under 'Reading results'");
    code += 5;
    char *end = strstr(code, "```"), *body = code;
    CHECK(end != NULL);
    while (strncmp(body, "#include", 8) == 0) body = strchr(body, '\n') + 1;
    FILE *out = fopen(path, "w");
    CHECK(out != NULL);
    fprintf(out, "%.*sint main(void)\n{\n%.*s    return 0;\n}\n", (int)(body - code), code,
            (int)(end - body), body);
    CHECK_INT(fclose(out), 0);
    free(doc);
}

/* The docs' example on the same trace: a line per phase (the JSON report's count, in want's
 * "phase" lines) and one per sample (the CSV's rows, after its header). */
static void check_docs_example(const char *want, const char *csv)
{
    write_docs_example(tf_path("docs_example.c"));
    build_with_pkg_config("docs_example.c", "docs_example");
    char *out = tf_run_expect("cp sim.pwt run.pwt && "
                              "LD_LIBRARY_PATH=\"$PWD/root/opt/phasewatt/lib\" ./docs_example",
                              0, NULL);
    size_t phases = 0, rows = 0, lines = 0, samples = 0;
    for (const char *p = want; (p = strstr(p, "phase\t")); p++) phases++;
    for (const char *p = strchr(csv, '\n'); p && p[1]; p = strchr(p + 1, '\n')) rows++;
    for (const char *p = out; *p; p = strchr(p, '\n') + 1, lines++)
        samples += strstr(p, " mW") && strstr(p, " mW") < strchr(p, '\n');
    CHECK_MSG(lines == phases + rows && samples == rows, "%zu phases, %zu samples; the docs' "
              "example printed %zu lines, %zu of samples:\n%.1500s", phases, rows, lines,
              samples, out);
    free(out);
}

TEST(results_example_built_with_pkg_config_prints_what_report_json_and_samples_say)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    tf_skip("make install installs the plain build; the sanitizer trees are not installable");
#endif
    if (tf_run("command -v pkg-config", NULL, NULL) != 0) tf_skip("pkg-config is not installed");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, MAKE "BUILD='%s' install DESTDIR='%s' PREFIX=/opt/phasewatt",
             PW_BUILD_DIR, tf_path("root"));
    free(tf_run_expect(cmd, 0, NULL));
    build_with_pkg_config(PW_SOURCE_DIR "/tests/progs/results_example.c", "example");
    free(tf_run_expect("\"$PW\" simulate -o sim.pwt && \"$PW\" report sim.pwt --format json > "
                       "report.json && \"$PW\" report sim.pwt --samples > samples.csv", 0, NULL));
    char *api = tf_run_expect("LD_LIBRARY_PATH=\"$PWD/root/opt/phasewatt/lib\" ./example sim.pwt",
                              0, NULL);
    char *json = tf_read_file(tf_path("report.json"), NULL);
    char *csv = tf_read_file(tf_path("samples.csv"), NULL);
    CHECK(json != NULL && csv != NULL);
    char *want = expected_from_json(json);
    size_t n = strlen(want);
    CHECK_MSG(strncmp(api, want, n) == 0 && !strncmp(api + n, "sample\t", 7),
              "the example says:\n%.2000s\nthe JSON report:\n%s", api, want);
    check_samples(api + n, csv);
    check_docs_example(want, csv);
    free(want);
    free(csv);
    free(json);
    free(api);
}

/* ---- every accessor against the internal attribution ----------------------------------- */

/* The trace `phasewatt simulate` writes for a scenario's text (NULL: the built-in one). */
static pw_trace *simulated(const char *text, const char *name)
{
    char cmd[512];
    if (text) CHECK_INT(tf_write_file(tf_path("scenario.txt"), text, strlen(text)), 0);
    snprintf(cmd, sizeof cmd, "\"$PW\" simulate %s -o '%s'", text ? "--scenario scenario.txt" : "",
             name);
    free(tf_run_expect(cmd, 0, NULL));
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path(name), &t), PW_OK);
    return t;
}

/* The built-in scenario's trace, its attribution and its result. */
typedef struct builtin {
    pw_trace *t;
    pw_attribution *a;
    pw_result *r;
} builtin;

static builtin builtin_open(void)
{
    builtin b = {simulated(NULL, "builtin.pwt"), NULL, NULL};
    CHECK_INT(pw_attribute(b.t, &b.a), PW_OK);
    CHECK_INT(pw_result_new(b.t, NULL, &b.r), PW_OK);
    return b;
}

static void builtin_close(builtin *b)
{
    pw_result_free(b->r);
    pw_attribution_free(b->a);
    pw_trace_close(b->t);
}

/* a == b, or both NAN */
static int same(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

#define CHECK_SAME(a, b) \
    CHECK_MSG(same((a), (b)), "%s == %.17g, expected %s == %.17g", #a, (double)(a), #b, (double)(b))

TEST(results_accessors_give_the_attribution_of_the_builtin_scenario)
{
    builtin b = builtin_open();
    const pw_trace *t = b.t;
    const pw_attribution *a = b.a;
    const pw_result *r = b.r;
    CHECK_STR(pw_result_method(r), "auto");
    CHECK_INT(pw_result_phase_count(r), a->nnodes);
    CHECK(a->nnodes > 5);
    double run_j = pw_energy_total(t, a->nodes[0].incl_j), children_j = 0;
    pw_path_buf pb = {0};
    for (size_t i = 0; i < a->nnodes; i++) {
        const pw_phase_node *n = &a->nodes[i];
        const char *path = pw_node_path(a, i, &pb);
        CHECK(path != NULL);
        pw_phase_figures f = {.size = sizeof f};
        CHECK_INT(pw_result_phase(r, i, &f), PW_OK);
        CHECK_STR(f.path, path);
        CHECK_INT(f.depth, n->depth);
        CHECK_INT(f.parent, n->parent);
        CHECK_INT(f.calls, n->calls);
        CHECK_SAME(f.duration_s, n->duration_s);
        CHECK_SAME(f.energy_j, pw_energy_total(t, n->incl_j));
        CHECK_SAME(f.self_energy_j, pw_energy_total(t, n->self_j));
        CHECK_SAME(f.share, f.energy_j / run_j);
        CHECK_SAME(f.mean_power_w, f.energy_j / n->duration_s);
        CHECK_SAME(f.peak_power_w, n->peak_w);
        CHECK_SAME(f.tokens, n->tokens_incl);
        CHECK_SAME(f.j_per_token, n->tokens_incl != 0 ? f.energy_j / n->tokens_incl : NAN);
        CHECK_SAME(f.tokens_per_s, n->tokens_incl > 0 ? n->tokens_incl / n->duration_s : NAN);
        CHECK_STR(f.provenance, pw_provenance_name(n->provenance));
        char detail[160];
        CHECK_STR(f.provenance_detail, pw_provenance_detail(n, detail, sizeof detail));
        const pw_truth *truth = pw_trace_find_truth(t, path);
        CHECK_MSG(truth != NULL, "no truth for '%s'", path);
        CHECK_SAME(f.true_energy_j, truth->energy_j);
        /* the simulated sensor's figures cover the truth within a few per cent */
        CHECK_NEAR(f.energy_j, truth->energy_j, 5.0);
        double ci = 0;
        int any = 0;
        for (size_t d = 0; d < t->ndomains; d++) {
            double j, dci;
            CHECK_INT(pw_result_phase_domain_energy(r, i, d, PW_INCLUSIVE, &j, &dci), PW_OK);
            CHECK_SAME(j, n->incl_j[d]);
            CHECK_SAME(dci, n->incl_ci_j[d]);
            CHECK_INT(pw_result_phase_domain_energy(r, i, d, PW_SELF, &j, &dci), PW_OK);
            CHECK_SAME(j, n->self_j[d]);
            CHECK_SAME(dci, n->self_ci_j[d]);
            if (pw_trace_domain_is_top(t, d) && isfinite(n->incl_ci_j[d])) ci += n->incl_ci_j[d], any = 1;
        }
        CHECK_SAME(f.uncertainty_j, any ? ci : NAN);
        for (size_t k = 0; k < pw_result_kind_count(r); k++) {
            const char *kind = pw_result_kind(r, k);
            double j;
            CHECK_INT(pw_result_phase_kind_energy(r, i, kind, PW_INCLUSIVE, &j), PW_OK);
            CHECK_SAME(j, pw_energy_kind(t, n->incl_j, pw_kind_parse(kind)));
            CHECK_INT(pw_result_phase_kind_energy(r, i, kind, PW_SELF, &j), PW_OK);
            CHECK_SAME(j, pw_energy_kind(t, n->self_j, pw_kind_parse(kind)));
        }
        if (f.depth == 1) children_j += f.energy_j;
    }
    /* the whole run is its untagged time plus its top-level phases */
    pw_phase_figures root = {.size = sizeof root};
    CHECK_INT(pw_result_phase(r, 0, &root), PW_OK);
    CHECK_NEAR(root.self_energy_j + children_j, root.energy_j, 1e-6);
    CHECK_STR(root.path, "");
    CHECK_INT(root.parent, -1);
    size_t decode;
    CHECK_INT(pw_result_find(r, "decode", &decode), PW_OK);
    CHECK_STR(pw_node_path(a, decode, &pb), "decode");
    pw_path_buf_free(&pb);
    builtin_close(&b);
}

TEST(results_run_domains_and_samples_give_the_attribution_and_add_up)
{
    builtin b = builtin_open();
    const pw_trace *t = b.t;
    const pw_attribution *a = b.a;
    const pw_result *r = b.r;
    pw_run_figures run = {.size = sizeof run};
    CHECK_INT(pw_result_run(r, &run), PW_OK);
    CHECK_SAME(run.duration_s, a->run_s);
    CHECK_SAME(run.energy_j, pw_energy_total(t, a->nodes[0].incl_j));
    CHECK_SAME(run.mean_power_w, run.energy_j / a->run_s);
    CHECK_SAME(run.sample_interval_s, a->sample_interval_s);
    CHECK_INT(run.samples, t->series[a->primary].n);
    CHECK_STR(run.provenance, "simulated");
    CHECK_INT(run.estimated, 0);
    CHECK_INT(run.gap_intervals + run.unbalanced_ends + run.unclosed_phases, 0);
    CHECK_INT(pw_result_domain_count(r), t->ndomains);
    for (size_t d = 0; d < t->ndomains; d++) {
        pw_domain_figures dom = {.size = sizeof dom};
        CHECK_INT(pw_result_domain(r, d, &dom), PW_OK);
        CHECK_STR(dom.name, t->domains[d].name);
        CHECK_STR(dom.kind, pw_kind_name(t->domains[d].kind));
        CHECK_STR(dom.source, t->sources[t->domains[d].source].name);
        CHECK_INT(dom.parent, t->domains[d].parent);
        CHECK_SAME(dom.energy_j, a->domain_j[d]);
        CHECK_STR(dom.provenance, pw_provenance_name(a->domain_provenance[d]));
    }
    /* the view's power over its intervals adds up to the run's energy */
    pw_sample_iter *it = NULL;
    CHECK_INT(pw_result_samples(r, &it), PW_OK);
    pw_power_sample s = {.size = sizeof s};
    double j = 0, last = 0;
    size_t rows = 0, decode = 0;
    while (pw_sample_next(it, &s) == 1) {
        j += s.total_power_mw * 1e-3 * (s.timestamp - last);
        CHECK_NEAR(s.total_power_mw, s.cpu_power_mw + s.gpu_power_mw + s.ane_power_mw +
                                         s.dram_power_mw, 1e-9);
        decode += strncmp(s.phase, "decode", 6) == 0;
        last = s.timestamp;
        rows++;
    }
    CHECK_INT(pw_sample_next(it, &s), 0);   /* and stays at the end */
    pw_sample_iter_free(it);
    CHECK_INT(rows, run.samples - 1);
    CHECK_NEAR(j, run.energy_j, 1e-6);
    CHECK_MSG(decode > rows / 4, "%zu of %zu samples in decode", decode, rows);
    builtin_close(&b);
}

TEST(results_of_a_phase_the_sensor_never_saw_are_nan_and_json_null)
{
    /* nvml-power sees the last 25 ms of each 100 ms: a 1 ms phase at 30 ms never falls in */
    pw_trace *t = simulated("sensor preset=nvml-power offset=aligned noise=0W\n"
                            "sample every=10ms\nbackground 50W\nlead 2s\n"
                            "repeat 30 {\n  phase rest 30ms 80W\n  phase blip 1ms 300W\n"
                            "  phase decode 69ms 200W\n}\n", "blip.pwt");
    pw_result *r = NULL;
    CHECK_INT(pw_result_new(t, NULL, &r), PW_OK);
    size_t blip, decode;
    CHECK_INT(pw_result_find(r, "blip", &blip), PW_OK);
    CHECK_INT(pw_result_find(r, "decode", &decode), PW_OK);
    pw_phase_figures f = {.size = sizeof f};
    CHECK_INT(pw_result_phase(r, blip, &f), PW_OK);
    CHECK_STR(f.provenance, "not observed");
    CHECK(isnan(f.energy_j) && isnan(f.mean_power_w) && isnan(f.share));
    double j = 0;
    CHECK_INT(pw_result_phase_kind_energy(r, blip, pw_result_kind(r, 0), PW_INCLUSIVE, &j), PW_OK);
    CHECK(isnan(j));
    CHECK_INT(pw_result_phase(r, decode, &f), PW_OK);
    CHECK_MSG(isfinite(f.energy_j) && f.energy_j > 0, "decode %g J", f.energy_j);
    CHECK(isnan(f.j_per_token) && isnan(f.tokens_per_s));   /* no tokens counted */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    CHECK(out != NULL);
    CHECK_INT(pw_result_write(r, out, "json", 0), PW_OK);
    CHECK_INT(fclose(out), 0);
    const char *line = strstr(buf, "{\"path\":\"blip\"");
    const char *null_total = "\"energy_j\":{\"total\":null";
    CHECK_MSG(line && !strncmp(strstr(line, "\"energy_j\":"), null_total, strlen(null_total)),
              "%.300s", line ? line : buf);
    free(buf);
    pw_result_free(r);
    pw_trace_close(t);
}

enum { PREFILL = 1, DECODE };

static void collect(const char *msg, void *ctx)
{
    FILE *out = ctx;
    fprintf(out, "%s\n", msg);
}

TEST(results_carry_the_reports_warnings_metadata_and_method)
{
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    fx_constant(t, "rapl", PW_KIND_CPU, 20.0, 0, 10 * FX_MS, FX_MS * 1000);
    fx_name(t, PREFILL, "prefill");
    fx_name(t, DECODE, "decode");
    fx_begin(t, 1, 100 * FX_MS, PREFILL);
    fx_end(t, 1, 300 * FX_MS, PREFILL);
    fx_end(t, 1, 350 * FX_MS, PREFILL);     /* unbalanced */
    fx_begin(t, 1, 400 * FX_MS, DECODE);     /* never closed */
    CHECK_INT(pw_trace_set_meta(t, "model", "tiny"), PW_OK);
    pw_result_options o;
    pw_result_options_init(&o);
    o.method = "exact";
    pw_result *r = NULL;
    CHECK_INT(pw_result_new(t, &o, &r), PW_OK);
    CHECK_STR(pw_result_method(r), "exact");
    /* the same sentences, in the same order, as the report's */
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute_with(t, PW_METHOD_EXACT, &a), PW_OK);
    char *want = NULL, *got = NULL;
    size_t wlen = 0, glen = 0;
    FILE *w = open_memstream(&want, &wlen), *g = open_memstream(&got, &glen);
    CHECK(w != NULL && g != NULL);
    pw_report_warnings(t, a, collect, w);
    for (size_t i = 0; i < pw_result_warning_count(r); i++) collect(pw_result_warning(r, i), g);
    CHECK_INT(fclose(w), 0);
    CHECK_INT(fclose(g), 0);
    CHECK_STR(got, want);
    CHECK_MSG(strstr(got, "1 END event(s) without a matching BEGIN") &&
              strstr(got, "1 phase(s) still open at the end"), "%s", got);
    CHECK(pw_result_warning(r, pw_result_warning_count(r)) == NULL);
    pw_run_figures run = {.size = sizeof run};
    CHECK_INT(pw_result_run(r, &run), PW_OK);
    CHECK_INT(run.unbalanced_ends, 1);
    CHECK_INT(run.unclosed_phases, 1);
    CHECK_STR(run.provenance, "measured");
    const char *key = NULL, *value = NULL;
    CHECK_INT(pw_result_meta_count(r), t->nmeta);
    size_t m = 0;
    while (m < pw_result_meta_count(r) && strcmp(t->meta[m].key, "model")) m++;
    CHECK_INT(pw_result_meta(r, m, &key, &value), PW_OK);
    CHECK_STR(key, "model");
    CHECK_STR(value, "tiny");
    /* prefill [100, 300) ms at 20 W, read straight off the meter */
    size_t prefill;
    CHECK_INT(pw_result_find(r, "prefill", &prefill), PW_OK);
    pw_phase_figures f = {.size = sizeof f};
    CHECK_INT(pw_result_phase(r, prefill, &f), PW_OK);
    CHECK_NEAR(f.energy_j, 4.0, 1e-6);
    CHECK_STR(f.provenance, "measured");
    CHECK(isnan(f.uncertainty_j));
    free(want);
    free(got);
    pw_attribution_free(a);
    pw_result_free(r);
    pw_trace_free(t);
}

TEST(results_refuse_null_out_of_range_and_unknown_names)
{
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    fx_constant(t, "rapl", PW_KIND_CPU, 20.0, 0, 10 * FX_MS, FX_MS * 100);
    pw_result *r = NULL;
    CHECK_INT(pw_result_new(NULL, NULL, &r), PW_ERR_INVALID);
    CHECK_INT(pw_result_new(t, NULL, NULL), PW_ERR_INVALID);
    pw_result_options o;
    pw_result_options_init(&o);
    o.method = "bogus";
    CHECK_INT(pw_result_new(t, &o, &r), PW_ERR_NOT_FOUND);
    CHECK(r == NULL);
    o.size = sizeof(size_t);
    CHECK_INT(pw_result_new(t, &o, &r), PW_ERR_INVALID);
    CHECK_INT(pw_result_new(t, NULL, &r), PW_OK);
    size_t n = pw_result_phase_count(r);
    CHECK_INT(n, 1);   /* the root alone */
    pw_phase_figures f = {.size = sizeof f};
    CHECK_INT(pw_result_phase(r, n, &f), PW_ERR_INVALID);
    CHECK_INT(pw_result_phase(NULL, 0, &f), PW_ERR_INVALID);
    CHECK_INT(pw_result_phase(r, 0, NULL), PW_ERR_INVALID);
    f.size = sizeof f - 1;
    CHECK_INT(pw_result_phase(r, 0, &f), PW_ERR_INVALID);
    /* a caller built against a later, larger struct: the known fields, the rest untouched */
    struct { pw_phase_figures f; double later; } big = {.f.size = sizeof big, .later = 42};
    CHECK_INT(pw_result_phase(r, 0, &big.f), PW_OK);
    CHECK_INT(big.f.size, sizeof big);
    CHECK_STR(big.f.path, "");
    CHECK_SAME(big.later, 42);
    double j;
    CHECK_INT(pw_result_phase_kind_energy(r, 0, "gpu", PW_INCLUSIVE, &j), PW_ERR_NOT_FOUND);
    CHECK_INT(pw_result_phase_kind_energy(r, 0, "nonsense", PW_INCLUSIVE, &j), PW_ERR_NOT_FOUND);
    CHECK_INT(pw_result_phase_kind_energy(r, 1, "cpu", PW_INCLUSIVE, &j), PW_ERR_INVALID);
    CHECK_INT(pw_result_phase_kind_energy(r, 0, NULL, PW_INCLUSIVE, &j), PW_ERR_INVALID);
    CHECK_INT(pw_result_phase_domain_energy(r, 0, 1, PW_SELF, &j, NULL), PW_ERR_INVALID);
    CHECK_INT(pw_result_phase_domain_energy(r, 1, 0, PW_SELF, &j, NULL), PW_ERR_INVALID);
    pw_domain_figures dom = {.size = sizeof dom};
    CHECK_INT(pw_result_domain(r, 1, &dom), PW_ERR_INVALID);
    CHECK(pw_result_kind(r, pw_result_kind_count(r)) == NULL);
    const char *key;
    CHECK_INT(pw_result_meta(r, pw_result_meta_count(r), &key, NULL), PW_ERR_INVALID);
    size_t at;
    CHECK_INT(pw_result_find(r, "decode", &at), PW_ERR_NOT_FOUND);
    CHECK_INT(pw_result_find(r, NULL, &at), PW_ERR_INVALID);
    CHECK_INT(pw_result_write(r, stdout, "yaml", 0), PW_ERR_NOT_FOUND);
    CHECK_INT(pw_result_write(r, NULL, "json", 0), PW_ERR_INVALID);
    pw_sample_iter *it = NULL;
    CHECK_INT(pw_result_samples(NULL, &it), PW_ERR_INVALID);
    CHECK(it == NULL);
    CHECK_INT(pw_result_samples(r, &it), PW_OK);
    pw_power_sample s = {.size = 8};
    CHECK_INT(pw_sample_next(it, &s), PW_ERR_INVALID);
    CHECK_INT(pw_sample_next(NULL, &s), PW_ERR_INVALID);
    pw_sample_iter_free(it);
    CHECK(pw_result_method(NULL) == NULL);
    CHECK_INT(pw_result_phase_count(NULL), 0);
    pw_result_free(NULL);
    pw_sample_iter_free(NULL);
    pw_result_free(r);
    pw_trace_free(t);
}

/* Two threads read one result at once, each with its own iterator (TSan watches). */
typedef struct reader {
    const pw_result *r;
    double energy_j;    /* the sum of its phases' inclusive energy */
    size_t samples;
} reader;

static void *read_result(void *arg)
{
    reader *rd = arg;
    for (size_t i = 0; i < pw_result_phase_count(rd->r); i++) {
        pw_phase_figures f = {.size = sizeof f};
        if (pw_result_phase(rd->r, i, &f) == PW_OK) rd->energy_j += f.energy_j;
    }
    pw_sample_iter *it = NULL;
    pw_power_sample s = {.size = sizeof s};
    if (pw_result_samples(rd->r, &it) != PW_OK) return NULL;
    while (pw_sample_next(it, &s) == 1) rd->samples++;
    pw_sample_iter_free(it);
    return NULL;
}

TEST(results_are_read_by_two_threads_at_once)
{
    builtin b = builtin_open();
    reader rd[2] = {{b.r, 0, 0}, {b.r, 0, 0}};
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, read_result, &rd[0]), 0);
    read_result(&rd[1]);
    CHECK_INT(pthread_join(th, NULL), 0);
    pw_run_figures run = {.size = sizeof run};
    CHECK_INT(pw_result_run(b.r, &run), PW_OK);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(rd[i].samples, run.samples - 1);
        CHECK_MSG(rd[i].energy_j > run.energy_j, "thread %d: %g J", i, rd[i].energy_j);
    }
    CHECK_SAME(rd[0].energy_j, rd[1].energy_j);
    builtin_close(&b);
}

/* The bytes a result writes to a stream. */
static char *written(const pw_result *r, const char *format, size_t *len)
{
    char *buf = NULL;
    FILE *out = open_memstream(&buf, len);
    CHECK(out != NULL);
    CHECK_INT(pw_result_write(r, out, format, 0), PW_OK);
    CHECK_INT(fclose(out), 0);
    return buf;
}

/* The bytes of a file in the test's directory, checked against want. */
static void check_file(const char *name, const char *want, size_t want_len)
{
    size_t len = 0;
    char *got = tf_read_file(tf_path(name), &len);
    CHECK_MSG(got && len == want_len && memcmp(got, want, len) == 0, "%s: %zu bytes, want %zu",
              name, len, want_len);
    free(got);
}

/* The CLI's export, report, compare and plot are these calls: a stream and a file get the
 * CLI's bytes; a bad format or an unwritable path leaves what the file held. */
TEST(results_outputs_write_what_the_cli_writes_and_a_failed_write_keeps_the_file)
{
    builtin b = builtin_open();
    static const char *const formats[] = {"perfetto", "perfetto-full", "perfetto-json", "jsonl",
                                          "samples-domains"};
    static const char *const options[] = {"perfetto", "perfetto --full", "perfetto-json", "jsonl",
                                          "csv"};
    char cmd[256], name[32];
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        size_t len = 0;
        char *mem = written(b.r, formats[i], &len);
        CHECK_MSG(len > 100, "%s: %zu bytes", formats[i], len);
        snprintf(name, sizeof name, "api-%zu.out", i);
        CHECK_INT(pw_result_write_file(b.r, tf_path(name), formats[i], 0), PW_OK);
        check_file(name, mem, len);
        snprintf(cmd, sizeof cmd, "\"$PW\" export builtin.pwt --format %s -o cli-%zu.out", options[i], i);
        free(tf_run_expect(cmd, 0, NULL));
        snprintf(name, sizeof name, "cli-%zu.out", i);
        check_file(name, mem, len);
        free(mem);
    }
    size_t len = 0;
    char *json = written(b.r, "json", &len), *cli = tf_run_expect("\"$PW\" report builtin.pwt --format json", 0, NULL);
    CHECK(cli && strlen(cli) == len && memcmp(cli, json, len) == 0);
    free(json);
    free(cli);

    CHECK_INT(tf_write_file(tf_path("kept.out"), "kept", 4), 0);
    CHECK_INT(pw_result_write_file(b.r, tf_path("kept.out"), "bogus", 0), PW_ERR_NOT_FOUND);
    CHECK_INT(pw_result_write(b.r, stdout, "bogus", 0), PW_ERR_NOT_FOUND);
    check_file("kept.out", "kept", 4);
    CHECK_INT(pw_result_write_file(b.r, tf_path("no-such-dir/x.out"), "jsonl", 0), PW_ERR_IO);
    CHECK_INT(pw_result_write_file(NULL, tf_path("kept.out"), "jsonl", 0), PW_ERR_INVALID);

    /* two runs: compare and plot as the CLI labels them, and "run N" without names */
    const pw_result *runs[2] = {b.r, b.r};
    const char *const names[2] = {"builtin.pwt", "builtin.pwt"};
    char *buf = NULL;
    FILE *out = open_memstream(&buf, &len);
    CHECK_INT(pw_results_compare(runs, names, 2, out, "csv"), PW_OK);
    CHECK_INT(fclose(out), 0);
    cli = tf_run_expect("\"$PW\" compare builtin.pwt builtin.pwt --format csv", 0, NULL);
    CHECK(cli && strlen(cli) == len && memcmp(cli, buf, len) == 0);
    free(cli);
    free(buf);
    out = open_memstream(&buf, &len);
    CHECK_INT(pw_results_compare(runs, NULL, 2, out, "text"), PW_OK);
    CHECK_INT(fclose(out), 0);
    CHECK_MSG(strstr(buf, "run 1") && strstr(buf, "run 2"), "%s", buf);
    free(buf);
    CHECK_INT(pw_results_compare(runs, names, 0, stdout, "text"), PW_ERR_INVALID);
    CHECK_INT(pw_results_compare(runs, names, 2, stdout, "yaml"), PW_ERR_NOT_FOUND);
    CHECK_INT(pw_results_plot_file(runs, names, 2, tf_path("api.html")), PW_OK);
    free(tf_run_expect("\"$PW\" plot builtin.pwt builtin.pwt -o cli.html", 0, NULL));
    char *html = tf_read_file(tf_path("cli.html"), &len);
    CHECK(html != NULL);
    check_file("api.html", html, len);
    free(html);
    builtin_close(&b);
}

TEST(results_trace_probe_and_source_names_say_what_the_cli_needs)
{
    CHECK_INT(tf_write_file(tf_path("not-a-trace.txt"), "hello, world", 12), 0);
    CHECK_INT(tf_write_file(tf_path("empty.pwt"), "", 0), 0);
    pw_trace *t = simulated(NULL, "probe.pwt");
    pw_trace_close(t);
    CHECK_INT(pw_trace_probe(tf_path("probe.pwt")), 1);
    CHECK_INT(pw_trace_probe(tf_path("not-a-trace.txt")), 0);
    CHECK_INT(pw_trace_probe(tf_path("empty.pwt")), 0);
    CHECK_INT(pw_trace_probe(tf_path("missing.pwt")), PW_ERR_IO);
    CHECK_INT(pw_trace_probe(NULL), PW_ERR_INVALID);
    int rapl = 0, synthetic = 0;
    size_t n = 0;
    for (; pw_source_name(n); n++) {
        rapl |= !strcmp(pw_source_name(n), "rapl");
        synthetic |= !strcmp(pw_source_name(n), "synthetic");
    }
    CHECK(n >= 5 && rapl && synthetic);
    CHECK(pw_source_name(n) == NULL && pw_source_name((size_t)-1) == NULL);
    char *said = tf_run_expect("\"$PW\" sources", 0, NULL);
    for (size_t i = 0; i < n; i++) CHECK_MSG(strstr(said, pw_source_name(i)), "%s not in:\n%s", pw_source_name(i), said);
    free(said);
}

/* recover's salvage through the public API: the open phases ended at the last timestamp,
 * said in metadata, and the written file complete. */
TEST(results_trace_recover_ends_open_phases_and_the_written_trace_is_complete)
{
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    fx_constant(t, "rapl", PW_KIND_CPU, 20.0, 0, 10 * FX_MS, FX_MS * 100);
    fx_name(t, 1, "decode");
    fx_name(t, 2, "attention");
    fx_begin(t, 1, 10 * FX_MS, 1);
    fx_begin(t, 1, 20 * FX_MS, 2);   /* neither ends: the recorder died */
    CHECK_INT(pw_trace_write(t, tf_path("broken.pwt")), PW_OK);
    pw_trace_close(t);
    size_t len = 0;   /* torn: the END chunk cut short, as a killed recorder leaves it */
    char *bytes = tf_read_file(tf_path("broken.pwt"), &len);
    CHECK(bytes != NULL && len > 8);
    CHECK_INT(tf_write_file(tf_path("broken.pwt"), bytes, len - 4), 0);
    free(bytes);
    CHECK_INT(pw_trace_open(tf_path("broken.pwt"), &t), PW_OK);
    pw_recovery r = {.size = sizeof r - 1};
    CHECK_INT(pw_trace_recover(t, "broken.pwt", &r), PW_ERR_INVALID);
    CHECK_INT(pw_trace_recover(NULL, "broken.pwt", &r), PW_ERR_INVALID);
    r.size = sizeof r;
    CHECK_INT(pw_trace_recover(t, "broken.pwt", &r), PW_OK);
    CHECK_INT(r.closed_phases, 2);
    CHECK_INT(r.events, 4);
    CHECK(r.samples > 0 && r.duration_s > 0);
    CHECK_STR(pw_trace_meta(t, "recovered.from"), "broken.pwt");
    CHECK_STR(pw_trace_meta(t, "recovered.closed_phases"), "2");
    CHECK_STR(pw_trace_meta(t, "recovered.torn"), "1");
    CHECK_INT(pw_trace_track_count(t), 1);
    CHECK_INT(pw_trace_write(t, tf_path("recovered.pwt")), PW_OK);
    pw_trace_close(t);
    CHECK_INT(pw_trace_open(tf_path("recovered.pwt"), &t), PW_OK);
    pw_trace_health h = {.size = sizeof h};
    CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
    CHECK(h.complete && !h.torn);
    pw_result *res = NULL;
    CHECK_INT(pw_result_new(t, NULL, &res), PW_OK);
    size_t at = 0;
    CHECK_INT(pw_result_find(res, "decode/attention", &at), PW_OK);
    pw_result_free(res);
    pw_trace_close(t);
}
