/* cmd_export.c — `phasewatt export RUN.pwt --format perfetto|perfetto-json|csv|jsonl`: a run
 * for other tools (Perfetto UI, chrome://tracing, pandas, jq), streamed to a file or stdout. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phasewatt-analysis.h"

static int run(int argc, char **argv);

const cli_command cli_export = {
    "export", "a run for other tools: Perfetto protobuf or JSON trace, CSV, JSON lines",
    "usage: phasewatt export RUN.pwt --format perfetto|perfetto-json|csv|jsonl [--full]\n"
    "                        [-o FILE]\n"
    "\n"
    "  --format perfetto  Perfetto's native protobuf trace for ui.perfetto.dev: phases as\n"
    "                     nested slices per thread track (named after the track), marks as\n"
    "                     instants, counters (tokens) and each power domain's watts as\n"
    "                     counter tracks; timestamps in CLOCK_REALTIME ns, to lay over a\n"
    "                     torch.profiler or Nsight trace. Power is the mean over buckets\n"
    "                     of >= 10 ms of consecutive sample intervals (exact energy)\n"
    "  --full             with perfetto: one power value per sample interval instead\n"
    "  --format perfetto-json  the same as Chrome trace-event JSON (chrome://tracing);\n"
    "                     time in µs from the run's start, power per sample interval\n"
    "  --format csv       one row per sample interval: the classic PowerSample columns\n"
    "                     timestamp,cpu_power_mw,gpu_power_mw,ane_power_mw,dram_power_mw,\n"
    "                     total_power_mw,phase, then <domain>_power_mw for every domain\n"
    "  --format jsonl     one JSON object per line, in time order: every sample reading\n"
    "                     (cumulative J and interval W per domain) and every phase event\n"
    "  -o FILE            write there (default: standard output)\n",
    run};

typedef enum { EXPORT_PERFETTO, EXPORT_PERFETTO_JSON, EXPORT_CSV, EXPORT_JSONL } export_format;

typedef struct export_choice {
    export_format format;
    int full;                      /* --full: power at every sample interval */
} export_choice;

static int parse_format(const char *s, export_format *out)
{
    static const char *const names[] = {"perfetto", "perfetto-json", "csv", "jsonl"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *out = (export_format)i;
            return 0;
        }
    return -1;
}

/* The results API's name of the chosen format. */
static const char *format_name(const export_choice *c)
{
    switch (c->format) {
    case EXPORT_PERFETTO: return c->full ? "perfetto-full" : "perfetto";
    case EXPORT_PERFETTO_JSON: return "perfetto-json";
    case EXPORT_JSONL: return "jsonl";
    default: return "samples-domains";
    }
}

/* To a file: written on a private name and renamed into place, so a failed export leaves
 * what was there, and its one line names the output, not the trace. To stdout without -o. */
static int export_to(const char *in, const char *output, const export_choice *c)
{
    pw_trace *t = NULL;
    pw_result *r = NULL;
    int code = cli_open_result("export", in, NULL, &t, &r);
    if (code) return code;
    int rc = output ? pw_result_write_file(r, output, format_name(c), 0)
                    : pw_result_write(r, stdout, format_name(c), 0);
    if (rc == PW_OK && !output && fflush(stdout) != 0) rc = PW_ERR_IO;
    int err = errno;
    pw_result_free(r);
    pw_trace_close(t);
    if (rc == PW_OK) return 0;
    if (!output) return (errno = err, cli_output_error("export", in, rc));
    return cli_error("export", CLI_FAILED, "cannot write %s: %s", output,
                     rc == PW_ERR_IO ? strerror(err) : pw_strerror(rc));
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                          {"output", required_argument, 0, 'o'},
                                          {"full", no_argument, 0, 'F'},
                                          {0, 0, 0, 0}};
    export_choice choice = {EXPORT_PERFETTO, 0};
    const char *output = NULL;
    int have_format = 0, ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_export, argc, argv, "f:o:", opts)) != -1) {
        if (ch == 'o') {
            output = optarg;
        } else if (ch == 'F') {
            choice.full = 1;
        } else if (ch == 'f' && !parse_format(optarg, &choice.format)) {
            have_format = 1;
        } else {
            if (ch == 'f')
                cli_error("export", CLI_USAGE, "unknown format '%s' (perfetto, perfetto-json, csv, jsonl)", optarg);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1)
        return cli_error("export", CLI_USAGE, "wants exactly one trace file (see --help)");
    if (!have_format)
        return cli_error("export", CLI_USAGE, "wants --format perfetto, perfetto-json, csv or jsonl");
    if (choice.full && choice.format != EXPORT_PERFETTO)
        return cli_error("export", CLI_USAGE, "--full applies to --format perfetto only");
    const char *in = argv[optind];
    if (cli_output_is_input(output, &in, 1))
        return cli_error("export", CLI_USAGE, "-o must not be the input");
    return export_to(in, output, &choice);
}
