/* cli.h — what the phasewatt subcommands share: their table, errors and report printing. */
#ifndef PW_CLI_H
#define PW_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_USAGE 2      /* exit code for a wrong command line */
#define CLI_FAILED 1     /* exit code for a failure while doing the work */

typedef struct cli_command {
    const char *name;
    const char *summary;
    const char *usage;   /* full help text, printed by --help */
    int (*run)(int argc, char **argv);
} cli_command;

extern const cli_command cli_record, cli_report, cli_compare, cli_simulate, cli_sources,
    cli_export, cli_plot, cli_merge, cli_recover, cli_serve, cli_agent;

/* Prints "phasewatt CMD: message" on one line to stderr and returns code. */
int cli_error(const char *cmd, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses options with getopt_long (stopping at the first operand); handles --help.
 * Returns the option character, -1 at the end, or '?' after printing the error. */
int cli_getopt(const cli_command *c, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
int cli_wants_help(int argc, char **argv);

/* Parses a positive number with an optional unit; returns 0 on success. */
int cli_parse_ms(const char *s, double *ms);
/* --interval of record and serve: a time from 50 µs (plain numbers are ms); 0 or an exit code. */
int cli_parse_interval(const char *cmd, const char *s, uint64_t *ns);
int cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out);

typedef enum { FMT_TEXT, FMT_JSON, FMT_CSV } cli_format;
int cli_parse_format(const char *s, cli_format *out);

/* --source LIST: "auto" or backends' names, else a usage error (exit 2). */
int cli_check_sources(const char *cmd, const char *list);
/* Says in one line why pw_trace_open(path) failed with rc (a directory, an empty or foreign
 * file, a damaged trace, an I/O error in errno); returns the exit code. */
int cli_trace_error(const char *cmd, const char *path, int rc);
/* Reads and attributes one trace through the results API (method NULL: the default);
 * returns 0 or an exit code, having said what failed. */
struct pw_trace;
struct pw_result;
int cli_open_result(const char *cmd, const char *path, const char *method, struct pw_trace **t,
                    struct pw_result **r);
/* Says why writing path (an output, or the output of a trace) failed with rc (errno for an
 * I/O error); returns the exit code. */
int cli_output_error(const char *cmd, const char *path, int rc);

/* 1 when both names exist and are the same file (device and inode: hard links, ./x and x
 * alike), else 0. */
int cli_same_file(const char *a, const char *b);
/* The first of the n inputs that out names (by name or as the same file), or NULL: no
 * command writes over what it reads. */
const char *cli_output_is_input(const char *out, const char *const *in, size_t n);

/* Several runs, read and attributed (compare, plot). */
#define CLI_MAX_RUNS 64
typedef struct cli_runs {
    const char *file[CLI_MAX_RUNS];
    struct pw_trace *t[CLI_MAX_RUNS];
    struct pw_result *r[CLI_MAX_RUNS];
    size_t n;
} cli_runs;
int cli_runs_load(const char *cmd, cli_runs *r, char **files, int nfiles);  /* 0 or exit code */
void cli_runs_free(cli_runs *r);

/* Reads a trace and prints its report through the results API; returns an exit code.
 * method: its name ("exact", ...; an unknown one is a usage error), NULL for the default. */
int cli_print_report(const char *cmd, const char *path, cli_format fmt, int depth, int samples,
                     const char *method, FILE *out);

#endif
