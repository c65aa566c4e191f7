/* trace.c — fuzz target: the trace reader, then attribution and the JSON report over
 * whatever it accepted (a hostile file must be refused or read safely, never crash). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phasewatt-analysis.h"
#include "analysis/attribute.h"
#include "fuzz.h"
#include "report/report.h"
#include "sim/scenario.h"

static int run(const uint8_t *data, size_t len)
{
    pw_trace *t = NULL;
    if (pw_trace_read_buffer(data, len, &t) != PW_OK) return 0;
    pw_attribution *a = NULL;
    if (pw_attribute(t, &a) == PW_OK) {
        FILE *null = fopen("/dev/null", "w");
        pw_report_opts o = {0};
        if (null) pw_report_json(null, t, a, &o), fclose(null);
        pw_attribution_free(a);
    }
    pw_trace_free(t);
    return 0;
}

/* ---- hostile shapes (issue 23): each must stay linear under the fuzzer's -rss_limit_mb and
 * -timeout; kept to tens of kB so the test runner's mutations of them stay quick ---------- */

#define HOSTILE_EVENTS 4000

static int add(pw_trace *t, uint32_t track, uint64_t at, uint32_t type, uint32_t id)
{
    pw_event ev = {.t_ns = at, .id = id, .type = type};
    return pw_trace_add_event(t, track, &ev);
}

/* Nesting far past PW_MAX_DEPTH: one name, every BEGIN inside the last. */
static int deep(pw_trace *t)
{
    int rc = pw_trace_set_name(t, 1, "a");
    for (uint64_t i = 0; i < HOSTILE_EVENTS && rc == PW_OK; i++) rc = add(t, 1, i, PW_EV_BEGIN, 1);
    for (uint64_t i = 0; i < HOSTILE_EVENTS && rc == PW_OK; i++)
        rc = add(t, 1, HOSTILE_EVENTS + i, PW_EV_END, 1);
    return rc;
}

/* Many tracks whose ids share their low bits, one short phase each. */
static int many_tracks(pw_trace *t)
{
    int rc = pw_trace_set_name(t, 1, "p");
    for (uint32_t i = 0; i < HOSTILE_EVENTS / 2 && rc == PW_OK; i++) {
        rc = add(t, i << 16, i, PW_EV_BEGIN, 1);
        if (rc == PW_OK) rc = add(t, i << 16, i + 1, PW_EV_END, 1);
    }
    return rc;
}

/* Names that need repair, time running backwards, ENDs with no BEGIN, a huge count. */
static int disorder(pw_trace *t)
{
    static const char *const names[] = {"a/b", "\xff\xfe", "\xc0\x80", "\xed\xa0\x80", "b"};
    int rc = PW_OK;
    for (uint32_t i = 0; i < 5 && rc == PW_OK; i++) rc = pw_trace_set_name(t, i + 1, names[i]);
    for (uint64_t i = 0; i < HOSTILE_EVENTS / 4 && rc == PW_OK; i++) {
        uint32_t id = (uint32_t)(i % 5) + 1;
        rc = add(t, 7, 1000000 - i * 10, i % 3 ? PW_EV_BEGIN : PW_EV_END, id);
    }
    pw_event count = {.t_ns = 5, .value = INT64_MAX, .id = 5, .type = PW_EV_COUNT};
    if (rc == PW_OK) rc = pw_trace_add_event(t, 7, &count);
    return rc;
}

/* Long names 60 deep with leaves under them: nodes keep a parent link and a shared name,
 * so attribution costs the nodes and names, not nodes x path length (kept small: the JSON
 * report of each mutation still prints every path). */
static int wide(pw_trace *t)
{
    char name[25];
    int rc = PW_OK;
    for (uint32_t id = 1; id <= 60 && rc == PW_OK; id++) {
        memset(name, 'a' + (int)(id % 26), 20);
        snprintf(name + 20, 5, "%04u", id);
        rc = pw_trace_set_name(t, id, name);
    }
    uint64_t at = 0;
    for (uint32_t d = 1; d <= 60 && rc == PW_OK; d++) rc = add(t, 1, at++, PW_EV_BEGIN, d);
    for (uint32_t leaf = 0; leaf < 20 && rc == PW_OK; leaf++) {
        rc = add(t, 1, at++, PW_EV_BEGIN, 1000 + leaf);   /* unnamed: "#id" */
        if (rc == PW_OK) rc = add(t, 1, at++, PW_EV_END, 1000 + leaf);
    }
    return rc;
}

static int hostile_seeds(const char *dir)
{
    static const struct { const char *name; int (*build)(pw_trace *); } shapes[] = {
        {"hostile-deep.pwt", deep}, {"hostile-tracks.pwt", many_tracks},
        {"hostile-disorder.pwt", disorder}, {"hostile-wide.pwt", wide}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, shapes[i].name);
        pw_trace *t = pw_trace_new();
        uint64_t e = 0;
        int rc = t ? pw_trace_add_source(t, "rapl", 1000, 0) : PW_ERR_NOMEM;
        if (rc == PW_OK) rc = pw_trace_add_domain(t, 0, "package-0", PW_KIND_CPU, -1, 0);
        for (uint64_t at = 0; at <= 2 * HOSTILE_EVENTS && rc == PW_OK; at += 100, e += 50)
            rc = pw_trace_add_sample(t, 0, at, &e, 0);
        if (rc == PW_OK) rc = shapes[i].build(t);
        if (rc == PW_OK) rc = pw_trace_write(t, path);
        pw_trace_free(t);
        if (rc != PW_OK) return -1;
    }
    return 0;
}

/* Small simulated runs: nested phases, counts, truth and metadata, counter and averaged;
 * then the hostile shapes. */
static int seeds(const char *dir)
{
    static const char *const scenarios[] = {
        "sample every=1ms\nbackground 5W\nphase prefill 4ms 30W\nrepeat 3 {\n  phase decode {\n"
        "    count tokens 1\n    phase attention 1ms 20W\n    phase mlp 0.5ms 25W\n  }\n}\n",
        "sensor preset=nvml-power\nsample every=50ms\nphase prefill 300ms 300W\n"
        "phase decode 500ms 200W\n",
    };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        char path[1024], err[256];
        snprintf(path, sizeof path, "%s/sim-%zu.pwt", dir, i);
        pw_scenario *s = NULL;
        int rc = pw_scenario_parse(scenarios[i], &s, err, sizeof err);
        if (rc == PW_OK) rc = pw_simulate(s, path, err, sizeof err);
        pw_scenario_free(s);
        if (rc != PW_OK) return -1;
    }
    return hostile_seeds(dir);
}

const pw_fuzz_target pw_fuzz_trace = {"trace", run, seeds};
PW_FUZZ_ENTRY(pw_fuzz_trace)
