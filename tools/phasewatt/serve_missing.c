/* serve_missing.c — `phasewatt serve` in a build without libmicrohttpd (the Makefile links
 * this instead of cmd_serve.c): one line saying how to get it. */
#include <stdio.h>

#include "cli.h"

static int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "phasewatt serve: built without libmicrohttpd: install it (brew install "
                    "libmicrohttpd, or apt-get install libmicrohttpd-dev) and run make again\n");
    return CLI_FAILED;
}

const cli_command cli_serve = {
    "serve", "a long-running agent serving per-phase energy to Prometheus (not built here)",
    "usage: phasewatt serve ...: this build has no libmicrohttpd (see docs/serve.md)\n", run,
};
