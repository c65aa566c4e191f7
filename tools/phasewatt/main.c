/* main.c — `phasewatt <command>`: dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "phasewatt.h"

static const cli_command *const commands[] = {&cli_record,   &cli_report, &cli_compare,
                                              &cli_export,   &cli_plot,   &cli_merge,
                                              &cli_simulate, &cli_sources, &cli_recover,
                                              &cli_serve,   &cli_agent};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "phasewatt %s — phase-tagged power and energy profiler\n\n"
                 "usage: phasewatt <command> [options]\n\ncommands:\n", PW_VERSION_STRING);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n'phasewatt <command> --help' describes a command. "
                 "Quick start: phasewatt record (profiles a built-in inference run).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "phasewatt: missing command; usage: phasewatt <command> [options] "
                        "(try 'phasewatt --help')\n");
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("phasewatt %s\n", PW_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const cli_command *c = commands[i];
        if (strcmp(c->name, name) != 0) continue;
        if (cli_wants_help(argc - 1, argv + 1)) {
            fputs(c->usage, stdout);
            return 0;
        }
        for (int k = 2; k < argc && strcmp(argv[k], "--") != 0; k++)
            if (!strcmp(argv[k], "--version")) {
                printf("phasewatt %s\n", PW_VERSION_STRING);
                return 0;
            }
        return c->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "phasewatt: unknown command '%s' (try 'phasewatt --help')\n", name);
    return CLI_USAGE;
}
