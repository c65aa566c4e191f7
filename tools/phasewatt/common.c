/* common.c — helpers every phasewatt subcommand uses: errors, options, report printing. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "phasewatt-analysis.h"

int cli_error(const char *cmd, int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "phasewatt %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
    return 0;
}

int cli_getopt(const cli_command *c, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    opterr = 0;
    int ch = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (ch == '?' || ch == ':') {
        const char *arg = argv[optind - 1] ? argv[optind - 1] : "";
        if (ch == ':' || (optopt && strchr(shortopts, optopt)))
            cli_error(c->name, CLI_USAGE, "option %s needs a value (see --help)", arg);
        else
            cli_error(c->name, CLI_USAGE, "unknown option %s (see --help)", arg);
        return '?';
    }
    return ch;
}

int cli_parse_ms(const char *s, double *ms)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno) return -1;
    double scale = 1;
    if (!strcmp(end, "us")) scale = 1e-3;
    else if (!strcmp(end, "s")) scale = 1e3;
    else if (*end && strcmp(end, "ms")) return -1;
    v *= scale;
    if (!(v > 0) || v > 3.6e6) return -1;
    *ms = v;
    return 0;
}

int cli_parse_interval(const char *cmd, const char *s, uint64_t *ns)
{
    double ms;
    if (cli_parse_ms(s, &ms) || ms < 0.05)
        return cli_error(cmd, CLI_USAGE, "--interval wants a time from 50us, not '%s'", s);
    *ns = (uint64_t)(ms * 1e6 + 0.5);
    return 0;
}

int cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    if (!s || *s == '-' || !*s) return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max) return -1;
    *out = v;
    return 0;
}

int cli_parse_format(const char *s, cli_format *out)
{
    if (!strcmp(s, "text")) *out = FMT_TEXT;
    else if (!strcmp(s, "json")) *out = FMT_JSON;
    else if (!strcmp(s, "csv")) *out = FMT_CSV;
    else return -1;
    return 0;
}

/* Whether the file opens with the trace magic: "malformed" means a damaged trace only then. */
static int known_source(const char *name)
{
    for (size_t i = 0; pw_source_name(i); i++)
        if (!strcmp(pw_source_name(i), name)) return 1;
    return 0;
}

int cli_check_sources(const char *cmd, const char *list)
{
    if (!list || !*list || strcmp(list, "auto") == 0) return 0;
    char *copy = strdup(list), *save = NULL;
    int code = 0;
    for (char *name = copy ? strtok_r(copy, ",", &save) : NULL; name && !code;
         name = strtok_r(NULL, ",", &save))
        if (!known_source(name))
            code = cli_error(cmd, CLI_USAGE, "unknown source '%s' (see `phasewatt sources`)", name);
    free(copy);
    return code;
}

int cli_trace_error(const char *cmd, const char *path, int rc)
{
    int saved = errno;
    struct stat st;
    if (stat(path, &st) != 0)
        return cli_error(cmd, CLI_FAILED, "cannot read %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return cli_error(cmd, CLI_FAILED, "%s is a directory, not a trace file", path);
    if (rc == PW_ERR_IO)
        return cli_error(cmd, CLI_FAILED, "cannot read %s: %s", path, strerror(saved));
    if (st.st_size == 0)
        return cli_error(cmd, CLI_FAILED, "%s is empty: not a phasewatt trace", path);
    if (rc == PW_ERR_FORMAT && pw_trace_probe(path) == 0)
        return cli_error(cmd, CLI_FAILED, "%s is not a phasewatt trace", path);
    return cli_error(cmd, CLI_FAILED, "cannot read %s: %s", path, pw_strerror(rc));
}

int cli_output_error(const char *cmd, const char *path, int rc)
{
    return cli_error(cmd, CLI_FAILED, "%s: %s%s%s", path, pw_strerror(rc),
                     rc == PW_ERR_IO ? ": " : "", rc == PW_ERR_IO ? strerror(errno) : "");
}

int cli_open_result(const char *cmd, const char *path, const char *method, pw_trace **t,
                    pw_result **r)
{
    *r = NULL;
    int rc = pw_trace_open(path, t);
    if (rc != PW_OK) return cli_trace_error(cmd, path, rc);
    pw_result_options o;
    pw_result_options_init(&o);
    o.method = method;
    rc = pw_result_new(*t, &o, r);
    if (rc == PW_OK) return 0;
    pw_trace_close(*t);
    *t = NULL;
    if (rc == PW_ERR_NOT_FOUND)
        return cli_error(cmd, CLI_USAGE, "unknown method '%s' (auto, exact, disaggregate, naive, "
                         "windows)", method);
    return cli_error(cmd, CLI_FAILED, "%s: %s", path, pw_strerror(rc));
}

int cli_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

const char *cli_output_is_input(const char *out, const char *const *in, size_t n)
{
    for (size_t i = 0; out && i < n; i++)
        if (!strcmp(out, in[i]) || cli_same_file(out, in[i])) return in[i];
    return NULL;
}

int cli_runs_load(const char *cmd, cli_runs *r, char **files, int nfiles)
{
    r->n = 0;
    if (nfiles < 1 || nfiles > CLI_MAX_RUNS)
        return cli_error(cmd, CLI_USAGE, "wants 1 to %d trace files (see --help)", CLI_MAX_RUNS);
    for (int i = 0; i < nfiles; i++) {
        int code = cli_open_result(cmd, files[i], NULL, &r->t[r->n], &r->r[r->n]);
        if (code) {
            cli_runs_free(r);
            return code;
        }
        r->file[r->n++] = files[i];
    }
    return 0;
}

void cli_runs_free(cli_runs *r)
{
    for (size_t i = 0; i < r->n; i++) {
        pw_result_free(r->r[i]);
        pw_trace_close(r->t[i]);
    }
    r->n = 0;
}

int cli_print_report(const char *cmd, const char *path, cli_format fmt, int depth, int samples,
                     const char *method, FILE *out)
{
    static const char *const formats[] = {[FMT_TEXT] = "text", [FMT_JSON] = "json",
                                          [FMT_CSV] = "csv"};
    pw_trace *t = NULL;
    pw_result *r = NULL;
    int code = cli_open_result(cmd, path, method, &t, &r);
    if (code) return code;
    int rc = pw_result_write(r, out, samples ? "samples" : formats[fmt], depth);
    if (rc == PW_OK && fflush(out) != 0) rc = PW_ERR_IO;
    pw_result_free(r);
    pw_trace_close(t);
    return rc == PW_OK ? 0 : cli_output_error(cmd, path, rc);
}
