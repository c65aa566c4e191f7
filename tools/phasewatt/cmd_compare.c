/* cmd_compare.c — `phasewatt compare RUN.pwt…`: several runs side by side, the first as
 * the baseline (architectures, settings, machines). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phasewatt-analysis.h"

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

static int render(const cli_runs *l, cli_format fmt)
{
    static const char *const formats[] = {[FMT_TEXT] = "text", [FMT_JSON] = "json",
                                          [FMT_CSV] = "csv"};
    return pw_results_compare((const pw_result *const *)l->r, l->file, l->n, stdout, formats[fmt]);
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
    cli_runs *l = calloc(1, sizeof *l);
    if (!l) return cli_error("compare", CLI_FAILED, "out of memory");
    int code = cli_runs_load("compare", l, argv + optind, argc - optind);
    if (!code) {
        int rc = render(l, fmt);
        if (rc == PW_OK && fflush(stdout) != 0) rc = PW_ERR_IO;
        if (rc != PW_OK) code = cli_error("compare", CLI_FAILED, "%s", pw_strerror(rc));
    }
    cli_runs_free(l);
    free(l);
    return code;
}
