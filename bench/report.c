/* report.c — benchmark: how fast a simulated 1-hour, 1 kHz trace is read, attributed and
 * rendered (the work `phasewatt report` does), and a run of 100 000 distinct phases recorded,
 * closed and reported. */
#include <stdio.h>
#include <stdlib.h>

#include "phasewatt-analysis.h"
#include "analysis/attribute.h"
#include "base/clock.h"
#include "report/report.h"
#include "export/export.h"
#include "plot/plot.h"
#include "sim/scenario.h"

static const char *hour_at_1khz =
    "sensor period=1ms quantum=15.3uJ bits=32\n"
    "sample every=1ms\n"
    "background 5W\n"
    "phase prefill {\n"
    "  phase attention 2s 60W\n"
    "  phase mlp 3s 70W\n"
    "}\n"
    "repeat 35950 {\n"
    "  phase decode {\n"
    "    count tokens 1\n"
    "    phase attention 40ms 30W\n"
    "    phase mlp 60ms 36W\n"
    "  }\n"
    "}\n";

/* 100 000 distinct phase names through a real session on the synthetic source: closing
 * (the source's ground truth per path) and the text report (truth looked up per row). */
static int many_phases(void)
{
    const char *path = "/tmp/phasewatt-bench-many.pwt";
    pw_options o;
    pw_options_init(&o);
    o.output_path = path;
    o.sources = "synthetic";
    o.ring_events = 1u << 20;
    o.quiet = 1;
    if (pw_open(&o) != PW_OK) return 1;
    char name[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof name, "n%d", i);
        pw_begin_name(name);
        pw_end();
    }
    uint64_t t0 = pw_now_ns();
    if (pw_close() != PW_OK) return 1;
    uint64_t t1 = pw_now_ns();
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    if (pw_trace_open(path, &t) != PW_OK || pw_attribute(t, &a) != PW_OK) return 1;
    uint64_t t2 = pw_now_ns();
    FILE *null = fopen("/dev/null", "w");
    pw_report_opts ro = {0};
    int rc = null ? pw_report_text(null, t, a, &ro) : PW_ERR_IO;
    if (null) fclose(null);
    uint64_t t3 = pw_now_ns();
    printf("100 000 distinct phases: %zu nodes\n", a->nnodes - 1);
    printf("  close the session        %8.3f s\n", (t1 - t0) / 1e9);
    printf("  read and attribute       %8.3f s\n", (t2 - t1) / 1e9);
    printf("  render text              %8.3f s\n", (t3 - t2) / 1e9);
    pw_attribution_free(a);
    pw_trace_close(t);
    remove(path);
    return rc != PW_OK;
}

int main(void)
{
    const char *path = "/tmp/phasewatt-bench-report.pwt";
    char err[256] = "";
    pw_scenario *s = NULL;
    if (pw_scenario_parse(hour_at_1khz, &s, err, sizeof err) != PW_OK) {
        fprintf(stderr, "bench-report: %s\n", err);
        return 1;
    }
    uint64_t t0 = pw_now_ns();
    int rc = pw_simulate(s, path, err, sizeof err);
    uint64_t t1 = pw_now_ns();
    pw_scenario_free(s);
    if (rc != PW_OK) {
        fprintf(stderr, "bench-report: simulate: %s\n", err);
        return 1;
    }
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    uint64_t t2 = pw_now_ns();
    if (pw_trace_open(path, &t) != PW_OK) return 1;
    uint64_t t3 = pw_now_ns();
    if (pw_attribute(t, &a) != PW_OK) return 1;
    uint64_t t4 = pw_now_ns();
    FILE *null = fopen("/dev/null", "w");
    pw_report_opts o = {0};
    pw_report_json(null, t, a, &o);
    fclose(null);
    uint64_t t5 = pw_now_ns();
    /* the pictures of the same run: the HTML report must stay a few MB at most */
    const char *html = "/tmp/phasewatt-bench-report.html";
    FILE *f = fopen(html, "w");
    pw_plot_run run = {.file = path, .t = t, .a = a};
    if (!f || pw_plot_html(f, &run, 1) != PW_OK) return 1;
    long html_bytes = ftell(f);
    fclose(f);
    remove(html);
    uint64_t t6 = pw_now_ns();
    const char *json = "/tmp/phasewatt-bench-report.pftrace";
    f = fopen(json, "w");
    if (!f || pw_export_perfetto(f, t, a, PW_EXPORT_BUCKET_NS) != PW_OK) return 1;
    long perfetto_bytes = ftell(f);
    fclose(f);
    remove(json);
    uint64_t t7 = pw_now_ns();
    size_t n = t->series[0].n, ev = 0;
    for (size_t i = 0; i < t->ntracks; i++) ev += t->tracks[i].n;
    double total = (t5 - t2) / 1e9;
    printf("1-hour trace at 1 kHz: %zu samples, %zu events\n", n, ev);
    printf("  simulate                 %8.3f s\n", (t1 - t0) / 1e9);
    printf("  read                     %8.3f s\n", (t3 - t2) / 1e9);
    printf("  attribute                %8.3f s\n", (t4 - t3) / 1e9);
    printf("  render JSON              %8.3f s\n", (t5 - t4) / 1e9);
    printf("  report throughput        %8.2f M samples/s  (target >= 5)\n", n / total / 1e6);
    printf("  plot HTML                %8.3f s, %.2f MB  (a few MB at most)\n", (t6 - t5) / 1e9,
           html_bytes / 1e6);
    printf("  export perfetto          %8.3f s, %.1f MB\n", (t7 - t6) / 1e9, perfetto_bytes / 1e6);
    pw_attribution_free(a);
    pw_trace_close(t);
    remove(path);
    return many_phases();
}
