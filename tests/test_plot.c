/* test_plot.c — `phasewatt plot`: the HTML report's content without a browser (every
 * figure, provenance, nothing fetched, size bounded by downsampling), the SVG files, and the
 * page rendered in headless Chromium (screenshot not blank, no JS error). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "phasewatt.h"
#include "tf.h"


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
    CHECK_INT(count(html, "Provenance: measured (simulated run) — source synthetic"), 4);
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
