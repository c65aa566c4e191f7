/* cmd_merge.c — `phasewatt merge A.pwt B.pwt … -o ALL.pwt`: the traces of several hosts (or
 * GPUs, ranks) as one, aligned on wall clock, each host's energy kept to its own phases. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "phasewatt.h"

static int run(int argc, char **argv);

const cli_command cli_merge = {
    "merge", "combine traces of several hosts or GPUs into one, aligned on wall clock",
    "usage: phasewatt merge A.pwt B.pwt [...] -o ALL.pwt [--label A,B,...]\n"
    "\n"
    "  -o FILE            the merged trace to write (required)\n"
    "  --label A,B,...    one name per input, in order (default: each trace's host\n"
    "                     metadata, else its file name without .pwt; repeats get -2, -3)\n"
    "Times are shifted onto input 1's clock by the wall-clock offset each trace recorded,\n"
    "so the hosts' phases line up. Every host keeps its own domains and tracks, named\n"
    "LABEL/name, and its energy goes only to its own phases: each phase's energy in the\n"
    "merged report is the sum over hosts. Same-named phases merge across hosts. Ground\n"
    "truth of simulated traces is summed per phase. A torn input is merged up to its\n"
    "last complete chunk, with a warning. See docs/fleet.md.\n",
    run};

/* The inputs and their labels; owns both. */
typedef struct inputs {
    pw_trace **t;
    char **label;
    size_t n;
} inputs;

static void inputs_free(inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        pw_trace_close(in->t[i]);
        free(in->label[i]);
    }
    free(in->t);
    free(in->label);
}

/* A label without the characters that separate labels (,) or name parts (/). */
static char *clean_label(const char *s, size_t len)
{
    char *l = malloc(len + 1);
    if (!l) return NULL;
    for (size_t i = 0; i < len; i++) l[i] = s[i] == '/' || s[i] == ',' ? '_' : s[i];
    l[len] = '\0';
    return l;
}

/* The host metadata, else the file name without its directory and ".pwt". */
static char *default_label(const pw_trace *t, const char *file)
{
    const char *host = pw_trace_meta(t, "host");
    if (host && *host) return clean_label(host, strlen(host));
    const char *base = strrchr(file, '/');
    base = base && base[1] ? base + 1 : file;
    size_t len = strlen(base);
    if (len > 4 && !strcmp(base + len - 4, ".pwt")) len -= 4;
    return clean_label(base, len);
}

static int label_taken(const inputs *in, size_t upto, const char *l)
{
    for (size_t j = 0; j < upto; j++)
        if (!strcmp(in->label[j], l)) return 1;
    return 0;
}

/* Default labels that repeat (two hosts called "localhost") get "-2", "-3", ... */
static int uniquify(inputs *in, size_t i)
{
    if (!label_taken(in, i, in->label[i])) return 0;
    size_t len = strlen(in->label[i]) + 24;
    char *l = malloc(len);
    if (!l) return -1;
    for (unsigned k = 2; ; k++) {
        snprintf(l, len, "%s-%u", in->label[i], k);
        if (!label_taken(in, i, l)) break;
    }
    free(in->label[i]);
    in->label[i] = l;
    return 0;
}

/* --label A,B,...: exactly one non-empty, distinct name per input. */
static int parse_labels(inputs *in, const char *list)
{
    const char *p = list;
    for (size_t i = 0; i < in->n; i++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (!len || memchr(p, '/', len))
            return cli_error("merge", CLI_USAGE, "--label wants %zu non-empty names without '/'",
                             in->n);
        free(in->label[i]);
        if (!(in->label[i] = clean_label(p, len)))
            return cli_error("merge", CLI_FAILED, "out of memory");
        if (label_taken(in, i, in->label[i]))
            return cli_error("merge", CLI_USAGE, "--label names '%s' twice", in->label[i]);
        if (!end && i + 1 < in->n)
            return cli_error("merge", CLI_USAGE, "--label has fewer names than the %zu inputs",
                             in->n);
        p = end ? end + 1 : p + len;
        if (end && i + 1 == in->n)
            return cli_error("merge", CLI_USAGE, "--label has more names than the %zu inputs",
                             in->n);
    }
    return 0;
}

/* Reads one input; a torn or damaged file is kept up to where it is whole, as report does. */
static int load(inputs *in, const char *file)
{
    size_t i = in->n;
    int rc = pw_trace_open(file, &in->t[i]);
    if (rc != PW_OK)
        return cli_trace_error("merge", file, rc);
    in->n++;
    pw_trace_health health = {.size = sizeof health};
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): the caller stops at cli_error's nonzero code */
    pw_trace_get_health(in->t[i], &health);
    const pw_trace_health *h = &health;
    if (h->torn)
        fprintf(stderr, "phasewatt merge: warning: %s is torn (the run was cut short); merged "
                        "up to its last complete chunk\n", file);
    if (h->corrupt_chunks)
        fprintf(stderr, "phasewatt merge: warning: %s: %zu corrupt chunk%s skipped\n", file,
                h->corrupt_chunks, h->corrupt_chunks == 1 ? "" : "s");
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): as above, in->label is allocated */
    if (!(in->label[i] = default_label(in->t[i], file)) || uniquify(in, i))
        return cli_error("merge", CLI_FAILED, "out of memory");
    return 0;
}

/* "wrote ALL.pwt: 2 hosts (a +0.000000 s, b -0.250000 s), 3 domains, 4 tracks". */
static void summary(const inputs *in, const pw_trace *m, const char *out)
{
    fprintf(stderr, "phasewatt merge: wrote %s: %zu hosts (", out, in->n);
    for (size_t i = 0; i < in->n; i++) {
        char key[48];
        snprintf(key, sizeof key, "merge.%zu.shift_ns", i + 1);
        const char *shift = pw_trace_meta(m, key);
        double s = shift ? (double)strtoll(shift, NULL, 10) * 1e-9 : 0;
        fprintf(stderr, "%s%s %+.6f s", i ? ", " : "", in->label[i], s);
    }
    fprintf(stderr, "), %zu domains, %zu tracks\n", pw_trace_domain_count(m), pw_trace_track_count(m));
}

static int merge_and_write(inputs *in, char **files, const char *out)
{
    char why[256] = "";
    pw_trace *m = NULL;
    int rc = pw_trace_merge((const pw_trace *const *)in->t, in->n,
                            (const char *const *)in->label, (const char *const *)files, &m,
                            why, sizeof why);
    if (rc != PW_OK) return cli_error("merge", CLI_FAILED, "%s", why[0] ? why : pw_strerror(rc));
    rc = pw_trace_write(m, out);   /* on a private name, renamed into place when complete */
    if (rc != PW_OK) {
        int e = errno;
        pw_trace_close(m);
        return cli_error("merge", CLI_FAILED, "cannot write %s: %s%s%s", out, pw_strerror(rc),
                         rc == PW_ERR_IO ? ": " : "", rc == PW_ERR_IO ? strerror(e) : "");
    }
    summary(in, m, out);
    pw_trace_close(m);
    return 0;
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                          {"label", required_argument, 0, 'l'},
                                          {0, 0, 0, 0}};
    const char *out = NULL, *labels = NULL;
    int ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_merge, argc, argv, "o:l:", opts)) != -1) {
        if (ch == 'o') out = optarg;
        else if (ch == 'l') labels = optarg;
        else return CLI_USAGE;
    }
    int nfiles = argc - optind;
    if (nfiles < 2 || nfiles > PW_MERGE_MAX_INPUTS)
        return cli_error("merge", CLI_USAGE, "wants 2 to %d trace files (see --help)",
                         PW_MERGE_MAX_INPUTS);
    if (!out) return cli_error("merge", CLI_USAGE, "wants -o FILE, the merged trace to write");
    const char *same = cli_output_is_input(out, (const char *const *)argv + optind, (size_t)nfiles);
    if (same) return cli_error("merge", CLI_USAGE, "-o must not be an input (%s)", same);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): in.t is an array of pointers, sized as such */
    inputs in = {calloc((size_t)nfiles, sizeof *in.t), calloc((size_t)nfiles, sizeof *in.label), 0};
    int code = in.t && in.label ? 0 : cli_error("merge", CLI_FAILED, "out of memory");
    for (int i = 0; i < nfiles && !code; i++) code = load(&in, argv[optind + i]);
    if (!code && labels) code = parse_labels(&in, labels);
    if (!code) code = merge_and_write(&in, argv + optind, out);
    inputs_free(&in);
    return code;
}
