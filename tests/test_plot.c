/* test_plot.c — `phasewatt plot`: the HTML report's content without a browser (every
 * figure, provenance, nothing fetched, size bounded by downsampling, caps on what is drawn,
 * energies not observed), the SVG files, and the page rendered in headless Chromium
 * (screenshot not blank, no JS error, no label clipped at 800, 1000 and 1400 px). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/attribute.h"
#include "phasewatt.h"
#include "plot/plot.h"
#include "tf.h"
#include "trace/trace.h"
#include "trace_fixture.h"


/* Simulates a scenario (NULL: the built-in one) and plots it; returns the HTML. */
static char *simulated_report(const char *scenario, const char *name, size_t *len)
{
    char cmd[2048], trace[512], html[600];
    snprintf(trace, sizeof trace, "%s", tf_path(name));
    snprintf(html, sizeof html, "%s.html", trace);
    if (scenario) {
        char path[600];
        snprintf(path, sizeof path, "%s.scenario", trace);
        CHECK_INT(tf_write_file(path, scenario, strlen(scenario)), 0);
        snprintf(cmd, sizeof cmd, "\"$PW\" simulate --scenario %s -o %s", path, trace);
    } else {
        snprintf(cmd, sizeof cmd, "\"$PW\" simulate -o %s", trace);
    }
    free(tf_run_expect(cmd, 0, NULL));
    snprintf(cmd, sizeof cmd, "\"$PW\" plot %s -o %s", trace, html);
    free(tf_run_expect(cmd, 0, NULL));
    char *text = tf_read_file(html, len);
    CHECK(text != NULL);
    return text;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

TEST(plot_report_has_every_figure_with_provenance_and_fetches_nothing)
{
    size_t len;
    char *html = simulated_report(NULL, "run.pwt", &len);
    CHECK(strstr(html, "<svg id=\"power\""));
    CHECK(strstr(html, "<svg id=\"energy\""));
    CHECK(strstr(html, "<svg id=\"icicle\""));
    /* the page's header and every chart's caption */
    CHECK_INT(count(html, "Provenance: simulated — source synthetic"), 4);
    /* the built-in scenario's phases appear as bands, lanes and bars */
    CHECK(strstr(html, "<title>prefill</title>"));
    CHECK(strstr(html, ">decode</text>"));
    CHECK(strstr(html, "J/token"));
    /* nothing is fetched: no external script, style, font, image or frame */
    CHECK_MSG(!strstr(html, "src=") && !strstr(html, "<link") && !strstr(html, "@import") &&
              !strstr(html, "url(http") && !strstr(html, "href="),
              "the report refers to something outside itself");
    free(html);
}

TEST(plot_downsampling_keeps_a_long_run_as_small_as_a_short_one)
{
    /* 10 minutes at 1 kHz (600k samples, 12k phases) against 1 second */
    const char *scenario =
        "sensor period=1ms quantum=15.3uJ bits=32\nsample every=1ms\nbackground 5W\n"
        "repeat %d {\n  phase decode {\n    count tokens 1\n"
        "    phase attention 20ms 30W\n    phase mlp 30ms 36W\n  }\n}\n";
    char text[512];
    size_t short_len, long_len;
    snprintf(text, sizeof text, scenario, 20);
    free(simulated_report(text, "short.pwt", &short_len));
    snprintf(text, sizeof text, scenario, 12000);
    char *html = simulated_report(text, "long.pwt", &long_len);
    CHECK_MSG(long_len < 2 * short_len && long_len < 1000000,
              "10 min: %zu bytes, 1 s: %zu bytes", long_len, short_len);
    free(html);
}

/* The page's HTML for runs held in memory (built through the trace model). */
static char *plot_in_memory(const pw_plot_run *runs, size_t n, size_t *len)
{
    const char *path = tf_path("mem.html");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK_INT(pw_plot_html(f, runs, n), PW_OK);
    CHECK_INT(fclose(f), 0);
    char *html = tf_read_file(path, len);
    CHECK(html != NULL);
    return html;
}

/* 10 000 domains (one source, sensor period unknown) over 200 readings, 8 tracks of phases
 * nested 6 deep: the page draws 8 domain lines and the total, 6 tracks of 4-deep lanes, and
 * says what it left out; it stays small. */
TEST(plot_caps_what_it_draws_and_says_what_it_left_out)
{
    enum { DOMAINS = 10000, READINGS = 200, TRACKS = 8, DEPTH = 6 };
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    CHECK_INT(pw_trace_add_source(t, "wide", 0, 0), PW_OK);
    char name[32];
    for (int d = 0; d < DOMAINS; d++) {
        snprintf(name, sizeof name, "domain-%d", d);
        CHECK_INT(pw_trace_add_domain(t, 0, name, PW_KIND_CPU, -1, 0), PW_OK);
    }
    uint64_t *energy = calloc(DOMAINS, sizeof *energy);
    CHECK(energy != NULL);
    for (int i = 0; i < READINGS; i++) {
        for (int d = 0; d < DOMAINS; d++) energy[d] = (uint64_t)i * (uint64_t)(d + 1);   /* µJ per ms */
        CHECK_INT(pw_trace_add_sample(t, 0, (uint64_t)i * FX_MS, energy, 0), PW_OK);
    }
    free(energy);
    for (uint32_t id = 1; id <= DEPTH; id++) {
        snprintf(name, sizeof name, "level-%u", id);
        fx_name(t, id, name);
    }
    for (uint32_t k = 1; k <= TRACKS; k++) {
        for (uint32_t id = 1; id <= DEPTH; id++) fx_begin(t, k, id * FX_MS, id);
        for (uint32_t id = DEPTH; id >= 1; id--) fx_end(t, k, (100 + id) * FX_MS, id);
    }
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    pw_plot_run run = {.file = "wide.pwt", .t = t, .a = a};
    size_t len;
    char *html = plot_in_memory(&run, 1, &len);
    CHECK_MSG(len < 10 * 1000 * 1000, "a 10 000-domain page is %zu bytes", len);
    CHECK_INT(count(html, "<polyline"), 9);                 /* 8 domains and the total */
    /* the largest domains are the ones drawn */
    CHECK(strstr(html, "<title>domain-9999</title>") && strstr(html, "<title>domain-9992</title>"));
    CHECK(!strstr(html, "<title>domain-9991</title>"));
    CHECK(strstr(html, "+9992 more domains in the total"));
    CHECK(strstr(html, "power over time draws 8 of 10000 domains as lines"));
    CHECK(strstr(html, "phase lanes are drawn for the first 6 of 8 tracks with phases"));
    CHECK(strstr(html, "phase lanes show 4 levels of nesting; phases nest 6 deep"));
    /* a source with no period says so once */
    CHECK(strstr(html, "wide (sensor period unknown)") && !strstr(html, "period period"));
    free(html);
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* An energy that is NAN was not observed: it shows as "-", never as a number or as 0. */
TEST(plot_energy_not_observed_shows_no_number)
{
    pw_trace *t = pw_trace_new();
    CHECK(t != NULL);
    fx_constant(t, "package-0", PW_KIND_CPU, 10.0, 0, FX_MS, 20 * FX_MS);
    fx_name(t, 1, "unseen");
    fx_begin(t, 1, 2 * FX_MS, 1);
    fx_end(t, 1, 8 * FX_MS, 1);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    int node = pw_attribution_find(a, "unseen");
    CHECK(node > 0);
    a->nodes[node].incl_j[0] = NAN;
    a->nodes[node].self_j[0] = NAN;
    pw_plot_run run = {.file = "nan.pwt", .t = t, .a = a};
    char *html = plot_in_memory(&run, 1, NULL);
    char want[160];
    snprintf(want, sizeof want, "- · - · - <tspan fill=\"#888\">%s</tspan>",
             pw_provenance_name(a->nodes[node].provenance));
    CHECK_MSG(strstr(html, want), "no '%s' in the energy chart", want);
    /* what printf makes of a NAN, wherever a number goes ("Provenance" holds "nan") */
    static const char *const printed[] = {"nan ", "nan<", "nan%", "nan\"", "nan,", "NaN"};
    for (size_t i = 0; i < sizeof printed / sizeof printed[0]; i++) {
        const char *at = strstr(html, printed[i]);
        CHECK_MSG(!at, "a NAN was printed as a number: %.120s", at ? at - 60 : "");
    }
    free(html);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(plot_several_runs_side_by_side_and_svg_files)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"$PW\" simulate -o %s && \"$PW\" simulate -o %s && "
             "\"$PW\" plot %s %s -o %s && \"$PW\" plot %s %s --svg %s",
             tf_path("a.pwt"), tf_path("b.pwt"), tf_path("a.pwt"), tf_path("b.pwt"),
             tf_path("cmp.html"), tf_path("a.pwt"), tf_path("b.pwt"), tf_path("svg"));
    char *listed = tf_run_expect(cmd, 0, NULL);
    char *html = tf_read_file(tf_path("cmp.html"), NULL);
    CHECK(html && strstr(html, "<svg id=\"compare\""));
    CHECK(strstr(html, "Energy per token"));
    /* every run has its own charts, with ids of its own */
    CHECK_INT(count(html, "<g class=\"timeline\""), 2);
    CHECK(strstr(html, "<svg id=\"power\"") && strstr(html, "<svg id=\"power-2\""));
    CHECK(strstr(html, "<svg id=\"energy-2\"") && strstr(html, "<svg id=\"icicle-2\""));
    CHECK(strstr(html, "<clipPath id=\"clip-power\"") && strstr(html, "<clipPath id=\"clip-power-2\""));
    free(html);
    /* one file per chart, each well-formed standalone SVG */
    CHECK_INT(count(listed, ".svg\n"), 4);
    if (tf_run("command -v python3", NULL, NULL) == 0) {
        snprintf(cmd, sizeof cmd, "python3 -c 'import sys,xml.etree.ElementTree as E\n"
                 "for f in sys.argv[1:]: assert E.parse(f).getroot().tag.endswith(\"svg\"), f' "
                 "%s/power.svg %s/energy.svg %s/icicle.svg %s/compare.svg", tf_path("svg"),
                 tf_path("svg"), tf_path("svg"), tf_path("svg"));
        free(tf_run_expect(cmd, 0, NULL));
    }
    free(listed);
}

TEST(plot_bad_input_says_what_is_wrong)
{
    char *err = NULL;
    CHECK_INT(tf_run("\"$PW\" plot /nonexistent.pwt", NULL, &err), 1);
    CHECK_MSG(strstr(err, "cannot read /nonexistent.pwt"), "stderr: %s", err);
    free(err);
    CHECK_INT(tf_run("\"$PW\" plot", NULL, &err), 2);
    free(err);
    CHECK_INT(tf_run("\"$PW\" plot x.pwt -o a.html --svg d", NULL, &err), 2);
    CHECK_MSG(strstr(err, "pick one"), "stderr: %s", err);
    free(err);
}

/* ---- in a real browser ---------------------------------------------------------------- */

#define CHROMIUM_FLAGS                                                                      \
    "--headless --no-sandbox --disable-gpu --disable-background-networking --disable-sync " \
    "--disable-extensions --disable-component-update --disable-default-apps --no-first-run " \
    "--hide-scrollbars --mute-audio"

static const char *chromium(void)
{
    static const char *const names[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
    for (size_t i = 0; i < 2; i++)
        if (access(names[i], X_OK) == 0) return names[i];
    tf_skip("chromium is not installed (tools/install-deps optional installs Debian's)");
}

/* Screenshot of a page; returns "WIDTH HEIGHT COLOURS NONWHITE" from png_stats.py. */
static char *screenshot_stats(const char *browser, const char *page, const char *png)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s " CHROMIUM_FLAGS " --user-data-dir=%s --window-size=1040,1700 "
             "--screenshot=%s file://%s 2>/dev/null && python3 %s/tests/python/png_stats.py %s",
             browser, tf_path("profile"), png, page, PW_SOURCE_DIR, png);
    return tf_run_expect(cmd, 0, NULL);
}

TEST(plot_report_renders_in_headless_chromium_without_errors)
{
    const char *browser = chromium();
    if (tf_run("command -v python3", NULL, NULL) != 0) tf_skip("no python3 to read the PNG");
    size_t len;
    free(simulated_report(NULL, "run.pwt", &len));
    const char *html = tf_path("run.pwt.html");
    /* the DOM after the page's script ran: it marks itself rendered, or lists errors */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s " CHROMIUM_FLAGS " --user-data-dir=%s --dump-dom file://%s "
             "2>/dev/null", browser, tf_path("profile"), html);
    char *dom = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(strstr(dom, "id=\"pw-status\">rendered<"), "the page's script did not finish: %.300s",
              strstr(dom, "pw-errors") ? strstr(dom, "pw-errors") : dom);
    CHECK_MSG(strstr(dom, "<pre id=\"pw-errors\"></pre>"), "JS errors: %.300s", strstr(dom, "pw-errors"));
    free(dom);
    /* the screenshot is a chart page, not a blank one: compare with an empty page */
    const char *blank = tf_path("blank.html");
    CHECK_INT(tf_write_file(blank, "<!DOCTYPE html><html><body></body></html>", 41), 0);
    char *page = screenshot_stats(browser, html, tf_path("report.png"));
    char *empty = screenshot_stats(browser, blank, tf_path("blank.png"));
    int w, h, colours, blank_colours;
    double ink, blank_ink;
    CHECK_INT(sscanf(page, "%d %d %d %lf", &w, &h, &colours, &ink), 4);
    CHECK_INT(sscanf(empty, "%*d %*d %d %lf", &blank_colours, &blank_ink), 2);
    CHECK_INT(w, 1040);
    CHECK_MSG(colours > 50 && ink > 0.05, "report: %d colours, %.1f%% not white", colours, ink * 100);
    CHECK_MSG(blank_colours < 5 && blank_ink < 0.01, "blank page: %d colours", blank_colours);
    free(page);
    free(empty);
}

/* Long names everywhere (scenario, phases, domain) and J/token figures: the layout's worst. */
static const char long_names[] =
    "name a rather long scenario name to stress the layout of every chart in the report\n"
    "sensor period=20ms quantum=15.3uJ bits=32 noise=0W\nsample every=20ms\n"
    "domain name=package-0-with-a-rather-long-domain-name kind=cpu\nbackground 8W\n"
    "phase pre-inference-with-an-unusually-long-phase-name {\n"
    "  phase tokenize-the-prompt-into-subword-pieces 8ms 14W\n  phase embedding 12ms 22W\n}\n"
    "phase prefill {\n  count tokens 128\n  repeat 8 {\n    phase attention 6ms 55W\n"
    "    phase mlp 9ms 65W\n  }\n}\n"
    "repeat 100 {\n  phase decode {\n    count tokens 1\n"
    "    phase attention-over-the-whole-kv-cache 1ms 30W\n    phase mlp 1.5ms 38W\n"
    "    phase sampling 0.5ms 22W\n  }\n}\n";

/* What the page's own check wrote into #pw-layout after laying it out at `width` px:
 * "window W px, clipped N[: what]". */
static char *layout_at(const char *browser, const char *page, int width)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s " CHROMIUM_FLAGS " --user-data-dir=%s --window-size=%d,1200 "
             "--dump-dom file://%s 2>/dev/null", browser, tf_path("profile"), width, page);
    char *dom = tf_run_expect(cmd, 0, NULL);
    const char *at = strstr(dom, "id=\"pw-layout\"");
    CHECK_MSG(at && strchr(at, '>'), "no layout check in the page: %.300s", dom);
    at = strchr(at, '>') + 1;
    const char *end = strstr(at, "</pre>");
    CHECK(end != NULL);
    char *text = strndup(at, (size_t)(end - at));
    free(dom);
    return text;
}

TEST(plot_labels_are_never_clipped_from_800_px_up)
{
    const char *browser = chromium();
    free(simulated_report(long_names, "long.pwt", NULL));
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"$PW\" simulate -o %s && \"$PW\" plot %s %s -o %s",
             tf_path("builtin.pwt"), tf_path("long.pwt"), tf_path("builtin.pwt"), tf_path("two.html"));
    free(tf_run_expect(cmd, 0, NULL));
    /* the page of two runs holds every chart of each and the comparison */
    const char *page = tf_path("two.html");
    const int widths[] = {800, 1000, 1400};
    for (size_t w = 0; w < 3; w++) {
        char *layout = layout_at(browser, page, widths[w]);
        char want[64];
        snprintf(want, sizeof want, "window %d px, clipped 0", widths[w]);
        CHECK_MSG(!strcmp(layout, want), "at %d px: %s", widths[w], layout);
        free(layout);
    }
}
