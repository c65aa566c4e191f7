/* cmd_plot.c — `phasewatt plot RUN.pwt… [-o report.html] [--svg DIR]`: the run (or runs)
 * as one self-contained HTML report, or as SVG files for papers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "phasewatt-analysis.h"

static int run(int argc, char **argv);

const cli_command cli_plot = {
    "plot", "an HTML report with plots (power over time, energy per phase, breakdowns)",
    "usage: phasewatt plot RUN.pwt [RUN.pwt ...] [-o REPORT.html] [--svg DIR]\n"
    "\n"
    "One self-contained HTML file (inline SVG and a little JS; nothing is fetched):\n"
    "power over time per domain with phases as bands and as lanes of nested spans\n"
    "(drag to zoom), energy per phase stacked by domain kind with J, W, share and\n"
    "J/token, the sub-phase breakdown of prefill and decode; with several runs, their\n"
    "energy per phase and J/token side by side, then each run's own charts. Every chart\n"
    "states its provenance; the page lists each run's metadata and warnings, and what\n"
    "the charts leave out past their caps (8 domain lines, 6 lane tracks, 60 rows).\n"
    "\n"
    "  -o FILE     the HTML file (default: the first run's name with .html)\n"
    "  --svg DIR   write the charts as separate SVG files into DIR instead\n",
    run};

static void default_output(const char *trace, char *out, size_t cap)
{
    const char *slash = strrchr(trace, '/'), *base = slash ? slash + 1 : trace;
    const char *dot = strrchr(base, '.');
    int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
    snprintf(out, cap, "%.*s.html", stem, base);
}

/* Written on a private name and renamed into place: a failed write leaves what was there. */
static int write_html(const char *path, const cli_runs *l)
{
    int rc = pw_results_plot_file((const pw_result *const *)l->r, l->file, l->n, path);
    if (rc != PW_OK)
        return cli_error("plot", CLI_FAILED, "cannot write %s: %s", path,
                         rc == PW_ERR_IO ? strerror(errno) : pw_strerror(rc));
    fprintf(stderr, "phasewatt plot: wrote %s\n", path);
    return 0;
}

static int write_svgs(const char *dir, const cli_runs *l)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return cli_error("plot", CLI_FAILED, "cannot create %s: %s", dir, strerror(errno));
    int rc = pw_results_plot_svg((const pw_result *const *)l->r, l->file, l->n, dir, stdout);
    if (rc != PW_OK)
        return cli_error("plot", CLI_FAILED, "cannot write the SVG files in %s: %s", dir,
                         rc == PW_ERR_IO ? strerror(errno) : pw_strerror(rc));
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                          {"svg", required_argument, 0, 's'},
                                          {0, 0, 0, 0}};
    const char *output = NULL, *svg_dir = NULL;
    int ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_plot, argc, argv, "o:", opts)) != -1) {
        if (ch == 'o') output = optarg;
        else if (ch == 's') svg_dir = optarg;
        else return CLI_USAGE;
    }
    if (output && svg_dir)
        return cli_error("plot", CLI_USAGE, "-o writes HTML, --svg writes SVG files: pick one");
    cli_runs *l = calloc(1, sizeof *l);
    if (!l) return cli_error("plot", CLI_FAILED, "out of memory");
    int code = cli_runs_load("plot", l, argv + optind, argc - optind);
    if (!code) {
        char html[4096];
        if (!output) default_output(l->file[0], html, sizeof html);
        const char *to = output ? output : html;
        const char *in = svg_dir ? NULL : cli_output_is_input(to, l->file, l->n);
        if (in) code = cli_error("plot", CLI_USAGE, "%s is an input: the HTML must go elsewhere (-o)", in);
        else code = svg_dir ? write_svgs(svg_dir, l) : write_html(to, l);
    }
    cli_runs_free(l);
    free(l);
    return code;
}
