/* test_report.c — the text, JSON and CSV renderers and the PowerSample view, on hand-built
 * traces with known figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "report/common.h"
#include "report/report.h"
#include "tf.h"
#include "trace/trace.h"
#include "trace_fixture.h"

enum { PREFILL = 1, DECODE, ATTENTION, MLP, TOKENS };

/* rapl: package-0 20 W containing core-0 12 W, dram-0 5 W; read every 10 ms for 1 s.
 * prefill [100, 300) ms with attention then mlp; decode [300, 900) ms with 6 tokens. */
static pw_trace *run_trace(uint32_t source_flags)
{
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    CHECK_INT(pw_trace_add_source(t, "rapl", 0 /* exact at each read */, source_flags), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "package-0", PW_KIND_CPU, -1, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "core-0", PW_KIND_CPU, 0, 0), PW_OK);
    CHECK_INT(pw_trace_add_domain(t, 0, "dram-0", PW_KIND_DRAM, -1, 0), PW_OK);
    for (uint64_t i = 0; i <= 100; i++) {
        uint64_t e[3] = {i * 200000, i * 120000, i * 50000};
        CHECK_INT(pw_trace_add_sample(t, 0, i * 10 * FX_MS, e, 0), PW_OK);
    }
    fx_name(t, PREFILL, "prefill");
    fx_name(t, DECODE, "decode");
    fx_name(t, ATTENTION, "attention");
    fx_name(t, MLP, "mlp");
    fx_name(t, TOKENS, "tokens");
    fx_begin(t, 1, 100 * FX_MS, PREFILL);
    fx_begin(t, 1, 100 * FX_MS, ATTENTION);
    fx_end(t, 1, 200 * FX_MS, ATTENTION);
    fx_begin(t, 1, 200 * FX_MS, MLP);
    fx_end(t, 1, 300 * FX_MS, MLP);
    fx_end(t, 1, 300 * FX_MS, PREFILL);
    fx_begin(t, 1, 300 * FX_MS, DECODE);
    fx_event(t, 1, 400 * FX_MS, PW_EV_COUNT, TOKENS, 6);
    fx_end(t, 1, 900 * FX_MS, DECODE);
    CHECK_INT(pw_trace_set_meta(t, "model", "tiny \"test\" model"), PW_OK);
    return t;
}

typedef int (*render_fn)(FILE *, const pw_trace *, const pw_attribution *,
                         const pw_report_opts *);

/* Attributes t and renders it at a depth; returns the malloc'd output. */
static char *render(const pw_trace *t, render_fn fn, int depth)
{
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    CHECK(out != NULL);
    pw_report_opts o = {depth};
    CHECK_INT(fn ? fn(out, t, a, &o) : pw_report_samples_csv(out, t, a, 0), PW_OK);
    CHECK_INT(fclose(out), 0);
    pw_attribution_free(a);
    return buf;
}

/* ---- a small JSON validator (RFC 8259 grammar; the input must be valid UTF-8 too) ------ */

static const char *json_value(const char *p);

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    return p;
}

static const char *json_string(const char *p)
{
    if (*p++ != '"') return NULL;
    while (*p != '"') {
        if ((unsigned char)*p < 0x20) return NULL;   /* also the end of the text */
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i]) return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
        p++;
    }
    return p + 1;
}

static const char *json_number(const char *p)
{
    const char *q = *p == '-' ? p + 1 : p;
    if (*q < '0' || *q > '9') return NULL;             /* no NaN, Infinity, .5 or +1 */
    if (*q == '0' && q[1] >= '0' && q[1] <= '9') return NULL;
    char *end;
    strtod(p, &end);
    return end > q ? end : NULL;
}

/* Members of an object (close = '}') or items of an array (close = ']'). */
static const char *json_members(const char *p, char close)
{
    p = skip_ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        if (close == '}') {
            p = json_string(skip_ws(p));
            if (!p) return NULL;
            p = skip_ws(p);
            if (*p++ != ':') return NULL;
        }
        p = json_value(p);
        if (!p) return NULL;
        p = skip_ws(p);
        if (*p == close) return p + 1;
        if (*p++ != ',') return NULL;
    }
}

static const char *json_value(const char *p)
{
    p = skip_ws(p);
    if (*p == '{') return json_members(p, '}');
    if (*p == '[') return json_members(p, ']');
    if (*p == '"') return json_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return json_number(p);
}

static int json_valid(const char *s)
{
    for (const char *u = s; *u; u += pw_utf8_len(u))
        if (!pw_utf8_len(u)) return 0;
    const char *end = json_value(s);
    return end && *skip_ws(end) == '\0';
}

/* The number after `key` in the phase object whose path is `path`. */
static double phase_number(const char *json, const char *path, const char *key)
{
    char needle[256];
    snprintf(needle, sizeof needle, "{\"path\":\"%s\"", path);
    const char *p = strstr(json, needle);
    CHECK_MSG(p != NULL, "phase '%s' missing", path);
    const char *end = strstr(p + 1, "{\"path\":");
    const char *k = strstr(p, key);
    CHECK_MSG(k && (!end || k < end), "phase '%s' has no %s", path, key);
    return strtod(k + strlen(key), NULL);
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* ---- JSON --------------------------------------------------------------------------------- */

TEST(json_validator_rejects_bad_json)
{
    CHECK(json_valid("{\"a\":[1,-2.5e3,true,null,\"\\u00e9\"]}"));
    const char *bad[] = {"{\"a\":1,}", "{\"a\":nan}", "[1 2]", "{\"a\":\"\x01\"}", "{a:1}",
                         "{\"a\":01}", "[\"\xff\"]", "{} {}", "[\"\\x\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_MSG(!json_valid(bad[i]), "accepted %s", bad[i]);
}

TEST(json_report_is_one_object_with_the_figures)
{
    pw_trace *t = run_trace(0);
    char *json = render(t, pw_report_json, 0);
    CHECK_MSG(json_valid(json), "invalid JSON:\n%s", json);
    CHECK(strncmp(json, "{\"trace\":{", 10) == 0);
    CHECK(strstr(json, "\"domains\":[") && strstr(json, "\"phases\":[") &&
          strstr(json, "\"warnings\":[]"));
    CHECK(strstr(json, "\"model\":\"tiny \\\"test\\\" model\""));
    CHECK(strstr(json, "\"name\":\"core-0\",\"kind\":\"cpu\",\"source\":\"rapl\","
                       "\"parent\":\"package-0\",\"estimated\":false,\"energy_j\":12}"));
    CHECK_NEAR(phase_number(json, "", "\"total\":"), 25.0, 1e-9);
    CHECK_NEAR(phase_number(json, "", "\"duration_s\":"), 1.0, 1e-9);
    CHECK_NEAR(phase_number(json, "prefill", "\"total\":"), 5.0, 1e-9);
    CHECK_NEAR(phase_number(json, "prefill", "\"cpu\":"), 4.0, 1e-9);
    CHECK_NEAR(phase_number(json, "prefill", "\"dram\":"), 1.0, 1e-9);
    CHECK_NEAR(phase_number(json, "prefill", "\"share\":"), 0.2, 1e-9);
    CHECK_NEAR(phase_number(json, "prefill", "\"mean_power_w\":"), 25.0, 1e-9);
    CHECK_NEAR(phase_number(json, "prefill/attention", "\"total\":"), 2.5, 1e-9);
    CHECK_NEAR(phase_number(json, "prefill/attention", "\"depth\":"), 2, 0);
    CHECK_NEAR(phase_number(json, "decode", "\"total\":"), 15.0, 1e-9);
    CHECK_NEAR(phase_number(json, "decode", "\"tokens\":"), 6, 0);
    CHECK_NEAR(phase_number(json, "decode", "\"j_per_token\":"), 2.5, 1e-9);
    CHECK_NEAR(phase_number(json, "decode", "\"peak_power_w\":"), 25.0, 1e-9);
    CHECK(strstr(json, "\"path\":\"prefill/mlp\"") && strstr(json, "\"j_per_token\":null"));
    CHECK_INT(count(json, "\"provenance\":\"measured\""), 6);   /* the run and 5 phases */
    CHECK(!strstr(json, "true_energy_j"));
    free(json);
    pw_trace_free(t);
}

TEST(json_report_depth_limits_phases)
{
    pw_trace *t = run_trace(0);
    char *json = render(t, pw_report_json, 1);
    CHECK(json_valid(json));
    CHECK_INT(count(json, "{\"path\":"), 3);
    CHECK(!strstr(json, "prefill/attention"));
    free(json);
    pw_trace_free(t);
}

TEST(json_report_escapes_names)
{
    pw_trace *t = run_trace(0);
    const char *names[] = {"q\"uote", "back\\slash", "new\nline", "\x01" "ctl", "caf\xc3\xa9",
                           "bad\xff" "byte"};
    for (uint32_t i = 0; i < 6; i++) {
        fx_name(t, 10 + i, names[i]);
        fx_begin(t, 2, (10 + i) * FX_MS, 10 + i);
        fx_end(t, 2, (11 + i) * FX_MS, 10 + i);
    }
    char *json = render(t, pw_report_json, 0);
    CHECK_MSG(json_valid(json), "invalid JSON:\n%s", json);
    const char *want[] = {"\"q\\\"uote\"", "\"back\\\\slash\"", "\"new\\nline\"",
                          "\"\\u0001ctl\"", "\"caf\xc3\xa9\"", "\"bad\\ufffdbyte\""};
    for (size_t i = 0; i < 6; i++) CHECK_MSG(strstr(json, want[i]), "no %s", want[i]);
    free(json);
    pw_trace_free(t);
}

TEST(json_report_truth_estimates_and_warnings)
{
    pw_trace *t = run_trace(PW_DOMAIN_ESTIMATED);
    CHECK_INT(pw_trace_add_truth(t, "decode", 15.3, 0.6), PW_OK);
    fx_end(t, 1, 950 * FX_MS, MLP);            /* nothing open: unbalanced */
    fx_begin(t, 1, 960 * FX_MS, MLP);          /* never closed */
    pw_trace_track(t, 1)->lost = 3;
    t->health.torn = 1;
    t->series[0].flags[50] = PW_SAMPLE_GAP;
    char *json = render(t, pw_report_json, 0);
    CHECK_MSG(json_valid(json), "invalid JSON:\n%s", json);
    CHECK_INT(count(json, "\"true_energy_j\":"), 1);
    CHECK_NEAR(phase_number(json, "decode", "\"true_energy_j\":"), 15.3, 1e-12);
    CHECK_NEAR(phase_number(json, "decode", "\"total\":"), 14.75, 1e-9);   /* minus a gap */
    CHECK_INT(count(json, "\"provenance\":\"estimated\""), 7);   /* the run and 6 phases */
    const char *warnings[] = {"ESTIMATED: source 'rapl'", "torn", "3 phase event(s) lost",
                              "1 sample interval(s) skipped", "1 END event(s)",
                              "1 phase(s) still open"};
    const char *w = strstr(json, "\"warnings\":[");
    CHECK(w != NULL);
    for (size_t i = 0; i < sizeof warnings / sizeof warnings[0]; i++)
        CHECK_MSG(strstr(w, warnings[i]), "no warning '%s'", warnings[i]);
    free(json);
    pw_trace_free(t);
}

TEST(json_report_of_an_empty_trace)
{
    pw_trace *t = pw_trace_new();
    char *json = render(t, pw_report_json, 0);
    CHECK_MSG(json_valid(json), "invalid JSON:\n%s", json);
    CHECK(strstr(json, "\"phases\":[\n{\"path\":\"\""));
    CHECK(strstr(json, "\"mean_power_w\":null"));
    free(json);
    char *text = render(t, pw_report_text, 0);
    CHECK(strstr(text, "(whole run)") != NULL);
    free(text);
    pw_trace_free(t);
}

/* ---- CSV ---------------------------------------------------------------------------------- */

TEST(csv_report_header_rows_and_quoting)
{
    pw_trace *t = run_trace(0);
    fx_name(t, 20, "a,\"b\"");
    fx_begin(t, 2, 0, 20);
    fx_end(t, 2, FX_MS, 20);
    char *csv = render(t, pw_report_csv, 0);
    const char *header = "path,depth,calls,duration_s,energy_j_total,energy_j_cpu,"
                         "energy_j_dram,self_energy_j_total,self_energy_j_cpu,"
                         "self_energy_j_dram,share,mean_power_w,peak_power_w,tokens,"
                         "j_per_token,provenance,uncertainty_j,wall_s\n";
    CHECK_MSG(strncmp(csv, header, strlen(header)) == 0, "header:\n%s", csv);
    CHECK_INT(count(csv, "\n"), 1 + 6);
    CHECK(strstr(csv, "\n,0,0,1,25,20,5,"));                 /* the root: path "" */
    CHECK(strstr(csv, "\ndecode,1,1,0.6,15,12,3,15,12,3,0.6,25,25,6,2.5,measured,,0.6\n"));
    CHECK(strstr(csv, "\n\"a,\"\"b\"\"\",1,1,0.001,"));
    free(csv);
    CHECK_INT(pw_trace_add_truth(t, "prefill", 5.0, 0.2), PW_OK);
    csv = render(t, pw_report_csv, 1);
    CHECK(strstr(csv, ",provenance,uncertainty_j,wall_s,true_energy_j\n") != NULL);
    CHECK(strstr(csv, "\nprefill,1,1,0.2,5,4,1,0,0,0,0.2,25,25,0,,measured,,0.2,5\n") && strstr(csv, ",measured,,0.6,\n"));
    free(csv);
    pw_trace_free(t);
}

TEST(samples_csv_constant_power)
{
    pw_trace *t = run_trace(0);
    const fx_step gpu[] = {{FX_FOREVER, 40.0}};
    fx_source(t, "nvml", PW_KIND_GPU, 0, gpu, 5 * FX_MS, 30 * FX_MS, 995 * FX_MS);
    t->series[0].flags[20] = PW_SAMPLE_GAP;
    char *csv = render(t, NULL, 0);
    const char *header =
        "timestamp,cpu_power_mw,gpu_power_mw,ane_power_mw,dram_power_mw,total_power_mw,phase\n";
    CHECK_MSG(strncmp(csv, header, strlen(header)) == 0, "header:\n%s", csv);
    CHECK_INT(count(csv, "\n"), 1 + 99);                      /* 100 intervals, one gap */
    CHECK(strstr(csv, "\n0.110000,20000.000,40000.000,0.000,5000.000,65000.000,"
                      "prefill/attention\n"));
    CHECK(strstr(csv, "\n0.310000,20000.000,40000.000,0.000,5000.000,65000.000,decode\n"));
    CHECK(strstr(csv, "\n0.990000,20000.000,40000.000,0.000,5000.000,65000.000,\n"));
    CHECK(strstr(csv, "\n0.010000,20000.000,20000.000,0.000,5000.000,45000.000,\n"));
    CHECK(!strstr(csv, "\n0.200000,"));
    free(csv);
    pw_trace_free(t);
}

/* ---- text --------------------------------------------------------------------------------- */

static int widest_line(const char *s)
{
    int widest = 0, w = 0;
    for (; *s; s += pw_utf8_len(s) ? pw_utf8_len(s) : 1) {
        w = *s == '\n' ? 0 : w + 1;
        if (w > widest) widest = w;
    }
    return widest;
}

TEST(text_report_header_and_tables)
{
    pw_trace *t = run_trace(0);
    char *text = render(t, pw_report_text, 0);
    const char *want[] = {"phasewatt report", "tiny \"test\" model", "rapl:",
                          "core-0 (cpu, within package-0)", "25.000 J, mean 25.000 W (measured)",
                          "(whole run)", "\n  prefill ", "\n    attention ", "\n  decode ",
                          "cpu J", "dram J", "J/token", "2.5000", "provenance", "measured"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CHECK_MSG(strstr(text, want[i]), "no '%s' in:\n%s", want[i], text);
    CHECK(!strstr(text, "true J") && !strstr(text, "warning"));
    CHECK_MSG(widest_line(text) <= 100, "wider than 100 columns:\n%s", text);
    free(text);
    pw_trace_free(t);
}

TEST(text_report_shouts_estimates_and_shows_truth)
{
    pw_trace *t = run_trace(PW_DOMAIN_ESTIMATED);
    CHECK_INT(pw_trace_add_truth(t, "decode", 16.0, 0.6), PW_OK);
    char *text = render(t, pw_report_text, 1);
    CHECK(strstr(text, "** ESTIMATED: modelled, not measured **") != NULL);
    CHECK(strstr(text, "estimated") != NULL);
    CHECK(strstr(text, "true J") && strstr(text, "-6.25"));   /* 15 J against 16 J */
    CHECK(!strstr(text, "attention"));
    CHECK_MSG(widest_line(text) <= 100, "wider than 100 columns:\n%s", text);
    free(text);
    pw_trace_free(t);
}

TEST(text_report_cuts_long_names)
{
    pw_trace *t = run_trace(0);
    fx_name(t, 30, "a-very-long-phase-name-that-would-push-the-table-past-a-hundred-columns");
    fx_begin(t, 2, 0, 30);
    fx_end(t, 2, FX_MS, 30);
    char *text = render(t, pw_report_text, 0);
    CHECK(strstr(text, "  a-very-long-phase-name-tha~ ") != NULL);
    CHECK_MSG(widest_line(text) <= 100, "wider than 100 columns:\n%s", text);
    free(text);
    pw_trace_free(t);
}
