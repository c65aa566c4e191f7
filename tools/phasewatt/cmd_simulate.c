/* cmd_simulate.c — `phasewatt simulate`: a scenario through a sensor model, in virtual time. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "phasewatt-analysis.h"

static int run(int argc, char **argv);

const cli_command cli_simulate = {
    "simulate", "simulate a scenario through a sensor model, writing a trace with ground truth",
    "usage: phasewatt simulate [--scenario FILE] [-o FILE.pwt]\n"
    "\n"
    "  --scenario FILE  phases, their true power and the sensor model (docs/scenario.md);\n"
    "                   default: the built-in inference-shaped scenario\n"
    "  -o FILE          trace to write (default sim.pwt)\n"
    "Runs in virtual time (no sleeping). The trace carries the true energy of every\n"
    "phase, which `phasewatt report` shows next to the measured figures.\n",
    run};

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"scenario", required_argument, 0, 's'},
                                          {"output", required_argument, 0, 'o'},
                                          {0, 0, 0, 0}};
    const char *scenario = NULL, *out = "sim.pwt";
    int ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_simulate, argc, argv, "s:o:", opts)) != -1) {
        if (ch == 's') scenario = optarg;
        else if (ch == 'o') out = optarg;
        else return CLI_USAGE;
    }
    if (optind < argc && !scenario) scenario = argv[optind++];
    if (optind != argc)
        return cli_error("simulate", CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    char err[512] = "";
    pw_scenario *s = NULL;
    int rc = scenario ? pw_scenario_load(scenario, &s, err, sizeof err)
                      : pw_scenario_parse(pw_scenario_builtin(), &s, err, sizeof err);
    if (rc != PW_OK)
        return cli_error("simulate", CLI_FAILED, "%s: %s", scenario ? scenario : "built-in",
                         err[0] ? err : pw_strerror(rc));
    rc = pw_simulate(s, out, err, sizeof err);
    pw_scenario_free(s);
    if (rc != PW_OK)
        return cli_error("simulate", CLI_FAILED, "%s: %s", out, err[0] ? err : pw_strerror(rc));
    fprintf(stderr, "phasewatt simulate: wrote %s\n", out);
    return 0;
}
