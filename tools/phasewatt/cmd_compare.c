/* cmd_compare.c — `phasewatt compare RUN.pwt…`: several runs side by side, the first as
 * the baseline (architectures, settings, machines). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phasewatt.h"
#include "report/report.h"

#define MAX_RUNS 64

static int run(int argc, char **argv);

const cli_command cli_compare = {
    "compare", "several runs side by side: energy, time, power, J/token per phase",
    "usage: phasewatt compare RUN.pwt [RUN.pwt ...] [--format text|json|csv]\n"
    "\n"
    "Per run (labelled by its model.arch metadata, else its file name): energy, time, mean\n"
    "power and share of energy per top-level phase and component, J/token and tokens/s\n"
    "where the run counted tokens, each component's share of its parent's energy, and the\n"
    "energy difference against the first run.\n"
    "\n"
    "  --format F     text (default), json (one object) or csv (one row per run and phase)\n",
    run};

typedef struct loaded {
    pw_compare_run runs[MAX_RUNS];
    pw_trace *traces[MAX_RUNS];
    pw_attribution *attributions[MAX_RUNS];
    size_t n;
} loaded;

static void unload(loaded *l)
{
    for (size_t i = 0; i < l->n; i++) {
        pw_attribution_free(l->attributions[i]);
        pw_trace_close(l->traces[i]);
    }
}

static int load(loaded *l, const char *path)
{
    size_t i = l->n;
    int rc = pw_trace_open(path, &l->traces[i]);
    if (rc != PW_OK)
        return cli_error("compare", CLI_FAILED, "cannot read %s: %s%s%s", path, pw_strerror(rc),
                         rc == PW_ERR_IO ? ": " : "", rc == PW_ERR_IO ? strerror(errno) : "");
    rc = pw_attribute(l->traces[i], &l->attributions[i]);
    if (rc != PW_OK) {
        pw_trace_close(l->traces[i]);
        return cli_error("compare", CLI_FAILED, "%s: %s", path, pw_strerror(rc));
    }
    l->runs[i] = (pw_compare_run){path, l->traces[i], l->attributions[i]};
    l->n++;
    return 0;
}

static int render(const loaded *l, cli_format fmt)
{
    switch (fmt) {
    case FMT_JSON: return pw_report_compare_json(stdout, l->runs, l->n);
    case FMT_CSV: return pw_report_compare_csv(stdout, l->runs, l->n);
    default: return pw_report_compare_text(stdout, l->runs, l->n);
    }
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, 0, 'f'}, {0, 0, 0, 0}};
    cli_format fmt = FMT_TEXT;
    int ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_compare, argc, argv, "f:", opts)) != -1) {
        if (ch != 'f') return CLI_USAGE;
        if (cli_parse_format(optarg, &fmt))
            return cli_error("compare", CLI_USAGE, "unknown format '%s' (text, json, csv)",
                             optarg);
    }
    int nfiles = argc - optind;
    if (nfiles < 1 || nfiles > MAX_RUNS)
        return cli_error("compare", CLI_USAGE, "wants 1 to %d trace files (see --help)",
                         MAX_RUNS);
    loaded *l = calloc(1, sizeof *l);
    if (!l) return cli_error("compare", CLI_FAILED, "out of memory");
    int code = 0;
    for (int i = optind; i < argc && !code; i++) code = load(l, argv[i]);
    if (!code) {
        int rc = render(l, fmt);
        if (rc == PW_OK && fflush(stdout) != 0) rc = PW_ERR_IO;
        if (rc != PW_OK) code = cli_error("compare", CLI_FAILED, "%s", pw_strerror(rc));
    }
    unload(l);
    free(l);
    return code;
}
