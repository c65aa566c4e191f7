/* cmd_report.c — `phasewatt report FILE`: the per-phase energy table of a recorded run. */
#include <stddef.h>

#include "cli.h"

static int run(int argc, char **argv);

const cli_command cli_report = {
    "report", "per-phase energy, power and J/token of a trace (text, JSON, CSV)",
    "usage: phasewatt report FILE.pwt [--depth N] [--format text|json|csv] [--samples]\n"
    "                        [--method auto|exact|disaggregate|naive|windows]\n"
    "\n"
    "  --depth N      show phases down to nesting level N (0 = all; default 0)\n"
    "  --format F     text (default), json (one object) or csv (one row per phase)\n"
    "  --samples      CSV of the classic PowerSample view instead: one row per sample\n"
    "                 interval: timestamp,cpu_power_mw,gpu_power_mw,ane_power_mw,\n"
    "                 dram_power_mw,total_power_mw,phase\n"
    "  --method M     how energy is attributed (docs/attribution.md): auto (default:\n"
    "                 interval-exact, disaggregated for phases shorter than 3 sensor\n"
    "                 periods and for averaged-power sensors), exact, disaggregate, or the\n"
    "                 baselines naive and windows, to see what simpler tools would say\n",
    run};

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"depth", required_argument, 0, 'd'},
                                          {"format", required_argument, 0, 'f'},
                                          {"samples", no_argument, 0, 's'},
                                          {"method", required_argument, 0, 'm'},
                                          {0, 0, 0, 0}};
    cli_format fmt = FMT_TEXT;
    int depth = 0, samples = 0, ch;
    const char *method = NULL;
    unsigned long long v;
    optind = 1;
    while ((ch = cli_getopt(&cli_report, argc, argv, "d:f:sm:", opts)) != -1) {
        switch (ch) {
        case 'd':
            if (cli_parse_uint(optarg, 64, &v))
                return cli_error("report", CLI_USAGE, "--depth wants 0..64, not '%s'", optarg);
            depth = (int)v;
            break;
        case 'f':
            if (cli_parse_format(optarg, &fmt))
                return cli_error("report", CLI_USAGE, "unknown format '%s' (text, json, csv)",
                                 optarg);
            break;
        case 's': samples = 1; break;
        case 'm': method = optarg; break;   /* checked by the results API */
        default: return CLI_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_error("report", CLI_USAGE, "wants exactly one trace file (see --help)");
    if (samples && fmt == FMT_JSON)
        return cli_error("report", CLI_USAGE, "--samples writes CSV; drop --format json");
    return cli_print_report("report", argv[optind], fmt, depth, samples, method, stdout);
}
