/* cmd_recover.c — `phasewatt recover BROKEN.pwt`: salvages a torn or damaged trace (a
 * recorder killed mid-write, a full disk, a bad copy) into a clean, complete one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phasewatt.h"

static int run(int argc, char **argv);

const cli_command cli_recover = {
    "recover", "salvage a torn or damaged trace into a clean, complete one",
    "usage: phasewatt recover BROKEN.pwt [-o FIXED.pwt]\n"
    "\n"
    "  -o FILE   where to write the clean trace (default BROKEN.recovered.pwt); never the\n"
    "            input itself, and written to a temporary file first, then renamed\n"
    "Keeps every complete chunk (a torn tail and chunks with a bad checksum are dropped),\n"
    "closes the phases still open at the last timestamp, and records what was lost in the\n"
    "metadata (recovered.*). Every command reads a torn trace as it is; recover makes a\n"
    "file that other tools and later phasewatt versions see as complete.\n",
    run};

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_recover, argc, argv, "o:", opts)) != -1) {
        if (ch == 'o') out = optarg;
        else return CLI_USAGE;
    }
    if (optind != argc - 1)
        return cli_error("recover", CLI_USAGE, "wants exactly one trace file (see --help)");
    const char *in = argv[optind];
    char def[4096];
    if (!out) {
        size_t n = strlen(in);
        snprintf(def, sizeof def, "%.*s.recovered.pwt",
                 (int)(n > 4 && !strcmp(in + n - 4, ".pwt") ? n - 4 : n), in);
        out = def;
    }
    /* by device and inode: ./IN, a hard link or a symlink to IN all name the input */
    if (!strcmp(out, in) || cli_same_file(out, in))
        return cli_error("recover", CLI_USAGE, "-o must not be the input");
    pw_trace *t = NULL;
    int rc = pw_trace_open(in, &t);
    if (rc != PW_OK)
        return cli_trace_error("recover", in, rc);
    pw_trace_health h = {.size = sizeof h};
    pw_trace_get_health(t, &h);
    pw_recovery done = {.size = sizeof done};
    rc = pw_trace_recover(t, in, &done);
    if (rc == PW_OK) rc = pw_trace_write(t, out);   /* on a private name, then renamed */
    if (rc != PW_OK) {
        int e = errno;
        pw_trace_close(t);
        return cli_error("recover", CLI_FAILED, "writing %s: %s%s%s", out, pw_strerror(rc),
                         rc == PW_ERR_IO ? ": " : "", rc == PW_ERR_IO ? strerror(e) : "");
    }
    fprintf(stderr, "phasewatt recover: wrote %s: %zu samples, %zu events, %.3f s; %s%s, %zu "
            "corrupt chunk(s) dropped, %llu open phase(s) closed\n", out, done.samples,
            done.events, done.duration_s, h.torn ? "torn tail dropped" : "no torn tail",
            h.complete ? "" : " (unfinished run)", h.corrupt_chunks,
            (unsigned long long)done.closed_phases);
    pw_trace_close(t);
    return 0;
}
