/* test_hostile.c — crafted inputs that once clobbered files, hung probes or cost quadratic
 * work (issue 23): each now gives a bounded outcome, asserted by counts, sizes and results
 * (how much memory and time they take is bounded by the fuzzers' limits, not here). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/attribute.h"
#include "sources/source.h"
#include "sources/sysfs.h"
#include "base/hash.h"
#include "base/name.h"
#include "base/safefile.h"
#include "trace_fixture.h"
#include "tf.h"

#define FAKE_NVML PW_BUILD_DIR "/fakes/libnvidia-ml.so"

/* A small complete trace at path: one source, phase "a" from 1 to 3 ms. */
static void small_trace(const char *path)
{
    pw_trace *t = pw_trace_new();
    fx_constant(t, "rapl", PW_KIND_CPU, 10.0, 0, FX_MS, 4 * FX_MS);
    fx_name(t, 1, "a");
    fx_begin(t, 1, FX_MS, 1);
    fx_end(t, 1, 3 * FX_MS, 1);
    t->end_ns = 4 * FX_MS;
    CHECK_INT(pw_trace_write(t, path), PW_OK);
    pw_trace_free(t);
}

static pw_trace *read_back(const char *path)
{
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    return t;
}

/* A model with one 10 W source read every ms for 10 ms, for phases to be added. */
static pw_trace *ten_ms_trace(void)
{
    pw_trace *t = pw_trace_new();
    fx_constant(t, "rapl", PW_KIND_CPU, 10.0, 0, FX_MS, 10 * FX_MS);
    return t;
}

/* Ends t at 10 ms, writes it to the test's directory as name and reads it back. */
static pw_trace *round_trip(pw_trace *t, const char *name)
{
    t->end_ns = 10 * FX_MS;
    CHECK_INT(pw_trace_write(t, tf_path(name)), PW_OK);
    pw_trace_free(t);
    return read_back(tf_path(name));
}

/* What `phasewatt report` prints for the trace name (warnings included). */
static char *report_of(const char *name)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"$PW\" report '%s' 2>&1", tf_path(name));
    return tf_run_expect(cmd, 0, NULL);
}

/* Temporary files (".tmp-RANDOM-NAME") in the test's directory. */
static int hidden_entries(void)
{
    DIR *d = opendir(tf_tmpdir());
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strncmp(e->d_name, ".tmp-", 5) == 0;
    if (d) closedir(d);
    return n;
}

/* ---- files: nothing written through a link, nothing written over an input ---------------- */

TEST(hostile_recover_refuses_its_input_by_any_name)
{
    small_trace(tf_path("IN.pwt"));
    CHECK_INT(link(tf_path("IN.pwt"), tf_path("hard.pwt")), 0);
    CHECK_INT(symlink("IN.pwt", tf_path("soft.pwt")), 0);
    size_t before = 0, after = 0;
    char *orig = tf_read_file(tf_path("IN.pwt"), &before);
    const char *names[] = {"./IN.pwt", "hard.pwt", "soft.pwt", "../$(basename $PWD)/IN.pwt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char cmd[2048], *err = NULL;
        snprintf(cmd, sizeof cmd, "cd '%s' && \"$PW\" recover IN.pwt -o %s", tf_tmpdir(),
                 names[i]);
        free(tf_run_expect(cmd, 2, &err));
        CHECK_MSG(strstr(err, "-o must not be the input"), "%s: %s", names[i], err);
        free(err);
    }
    char *now = tf_read_file(tf_path("IN.pwt"), &after);
    CHECK(after == before && memcmp(orig, now, before) == 0);
    free(orig);
    free(now);
}

TEST(hostile_output_link_is_replaced_never_followed)
{
    CHECK_INT(tf_write_file(tf_path("victim"), "secret", 6), 0);
    CHECK_INT(symlink(tf_path("victim"), tf_path("out.pwt")), 0);
    CHECK_INT(symlink(tf_path("victim"), tf_path("rec.pwt")), 0);
    small_trace(tf_path("out.pwt"));                          /* pw_trace_write */
    pw_writer *w = NULL;
    CHECK_INT(symlink(tf_path("victim"), tf_path("live.pwt")), 0);
    CHECK_INT(pw_writer_open(tf_path("live.pwt"), &(pw_writer_header){0, 0}, &w), PW_OK);
    CHECK_INT(pw_writer_close(w, 0, 0), PW_OK);                /* the recorder's writer */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"$PW\" recover '%s' -o '%s'", tf_path("out.pwt"),
             tf_path("rec.pwt"));
    free(tf_run_expect(cmd, 0, NULL));
    char *victim = tf_read_file(tf_path("victim"), NULL);
    CHECK_STR(victim, "secret");
    free(victim);
    const char *outs[] = {"out.pwt", "live.pwt", "rec.pwt"};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        CHECK_INT(lstat(tf_path(outs[i]), &st), 0);
        CHECK_MSG(S_ISREG(st.st_mode), "%s is still a link", outs[i]);
        pw_trace_free(read_back(tf_path(outs[i])));
    }
    CHECK_INT(hidden_entries(), 0);                           /* no temporary file left */
}

TEST(hostile_temporary_names_are_fresh_private_and_beside_the_output)
{
    pw_safefile a, b;
    CHECK_INT(pw_safefile_open(&a, tf_path("x.pwt")), PW_OK);
    CHECK_INT(pw_safefile_open(&b, tf_path("x.pwt")), PW_OK);
    CHECK(strcmp(a.tmp, b.tmp) != 0);
    CHECK(strncmp(a.tmp, tf_tmpdir(), strlen(tf_tmpdir())) == 0);
    CHECK_INT(hidden_entries(), 2);
    struct stat st;
    CHECK_INT(lstat(tf_path("x.pwt"), &st), -1);              /* nothing at the name yet */
    CHECK_INT(write(a.fd, "ab", 2), 2);
    CHECK_INT(pw_safefile_commit(&a), PW_OK);
    pw_safefile_done(&a);
    pw_safefile_done(&b);                                     /* not committed: removed */
    CHECK_INT(hidden_entries(), 0);
    char *x = tf_read_file(tf_path("x.pwt"), NULL);
    CHECK_STR(x, "ab");
    free(x);
    CHECK_INT(pw_safefile_open(&a, tf_tmpdir()), PW_ERR_IO);  /* a directory */
    CHECK_INT(errno, EISDIR);
}

TEST(hostile_devices_are_written_in_place_not_replaced)
{
    pw_safefile f;
    struct stat st;
    if (stat("/dev/null", &st) != 0 || !S_ISCHR(st.st_mode)) tf_skip("/dev/null is no device");
    CHECK_INT(pw_safefile_open(&f, "/dev/null"), PW_OK);
    CHECK(f.tmp == NULL);
    CHECK_INT(pw_safefile_commit(&f), PW_OK);
    pw_safefile_done(&f);
    CHECK_INT(stat("/dev/null", &st), 0);
    CHECK(S_ISCHR(st.st_mode));
}

/* Runs the CLI with args in the test's directory; returns its stderr (exit code checked). */
static char *cli_in_dir(const char *args, int want_rc)
{
    char cmd[2048], *err = NULL;
    snprintf(cmd, sizeof cmd, "cd '%s' && %s", tf_tmpdir(), args);
    free(tf_run_expect(cmd, want_rc, &err));
    return err;
}

static void check_regular(const char *name)
{
    struct stat st;
    CHECK_INT(lstat(tf_path(name), &st), 0);
    CHECK_MSG(S_ISREG(st.st_mode), "%s is not a regular file", name);
}

static void check_content(const char *name, const char *want)
{
    char *got = tf_read_file(tf_path(name), NULL);
    CHECK_MSG(got && !strcmp(got, want), "%s holds '%s', expected '%s'", name, got, want);
    free(got);
}

TEST(hostile_plot_export_merge_replace_a_planted_link_never_follow_it)
{
    small_trace(tf_path("IN.pwt"));
    small_trace(tf_path("B.pwt"));
    CHECK_INT(tf_write_file(tf_path("victim"), "secret", 6), 0);
    CHECK_INT(mkdir(tf_path("svg"), 0755), 0);
    const char *outs[] = {"out.html", "out.csv", "out.pwt", "svg/power.svg"};
    for (int i = 0; i < 4; i++) CHECK_INT(symlink(tf_path("victim"), tf_path(outs[i])), 0);
    free(cli_in_dir("\"$PW\" plot IN.pwt -o out.html", 0));
    free(cli_in_dir("\"$PW\" export IN.pwt --format csv -o out.csv", 0));
    free(cli_in_dir("\"$PW\" merge IN.pwt B.pwt -o out.pwt", 0));
    free(cli_in_dir("\"$PW\" plot IN.pwt --svg svg >/dev/null", 0));
    check_content("victim", "secret");
    for (int i = 0; i < 4; i++) check_regular(outs[i]);
    pw_trace_free(read_back(tf_path("out.pwt")));
    CHECK_INT(hidden_entries(), 0);
}

TEST(hostile_plot_export_merge_refuse_to_write_over_an_input_by_any_name)
{
    small_trace(tf_path("IN.pwt"));
    small_trace(tf_path("B.pwt"));
    small_trace(tf_path("R.html"));                           /* plot's default: R.html */
    CHECK_INT(link(tf_path("IN.pwt"), tf_path("hard.pwt")), 0);
    CHECK_INT(symlink("IN.pwt", tf_path("soft.pwt")), 0);
    size_t n_in = 0, n_b = 0, n_r = 0;
    char *in = tf_read_file(tf_path("IN.pwt"), &n_in), *b = tf_read_file(tf_path("B.pwt"), &n_b);
    char *r = tf_read_file(tf_path("R.html"), &n_r);
    static const struct { const char *args, *says; } refused[] = {
        {"plot IN.pwt -o hard.pwt", "IN.pwt is an input"},
        {"plot R.html", "R.html is an input"},
        {"export IN.pwt --format csv -o soft.pwt", "-o must not be the input"},
        {"export IN.pwt --format jsonl -o ./IN.pwt", "-o must not be the input"},
        {"merge IN.pwt B.pwt -o ./B.pwt", "-o must not be an input (B.pwt)"},
        {"merge IN.pwt B.pwt -o hard.pwt", "-o must not be an input (IN.pwt)"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char args[256];
        snprintf(args, sizeof args, "\"$PW\" %s", refused[i].args);
        char *err = cli_in_dir(args, 2);
        CHECK_MSG(strstr(err, refused[i].says), "%s: %s", refused[i].args, err);
        free(err);
    }
    size_t m = 0;
    char *now = tf_read_file(tf_path("IN.pwt"), &m);
    CHECK(m == n_in && !memcmp(now, in, m));
    free(now);
    now = tf_read_file(tf_path("B.pwt"), &m);
    CHECK(m == n_b && !memcmp(now, b, m));
    free(now);
    now = tf_read_file(tf_path("R.html"), &m);
    CHECK(m == n_r && !memcmp(now, r, m));
    free(now);
    free(in);
    free(b);
    free(r);
}

/* A write that fails partway (a file size limit: EFBIG, as a full disk would) or that cannot
 * start (a directory, /dev/full) is one line and exit 1; whatever the output name held stays. */
TEST(hostile_plot_export_merge_failed_writes_say_so_and_keep_what_was_there)
{
    small_trace(tf_path("IN.pwt"));
    small_trace(tf_path("B.pwt"));
    CHECK_INT(mkdir(tf_path("dir"), 0755), 0);
    const char *writes[] = {"plot IN.pwt -o %s", "export IN.pwt --format perfetto -o %s",
                            "merge IN.pwt B.pwt -o %s"};
    for (size_t i = 0; i < 3; i++) {
        char args[512], cmd[256];
        CHECK_INT(tf_write_file(tf_path("old.out"), "old", 3), 0);
        snprintf(cmd, sizeof cmd, writes[i], "old.out");
        /* the limit stays in the braces' subshell: the file the test reads stderr from is
         * written by cat, outside it */
        snprintf(args, sizeof args, "{ trap '' XFSZ; ulimit -f 0; \"$PW\" %s; echo \"exit $?\"; } 2>&1 | cat >&2", cmd);
        char *err = cli_in_dir(args, 0);
        CHECK_MSG(strstr(err, "cannot write old.out") && strstr(err, strerror(EFBIG)), "%s: %s", cmd, err);
        CHECK_MSG(strstr(err, "\nexit 1\n") && !strchr(strchr(err, '\n') + 1, '\n')[1], "%s: %s", cmd, err);
        free(err);
        check_content("old.out", "old");
        CHECK_INT(hidden_entries(), 0);
        snprintf(cmd, sizeof cmd, writes[i], "dir");
        snprintf(args, sizeof args, "\"$PW\" %s", cmd);
        err = cli_in_dir(args, 1);
        CHECK_MSG(strstr(err, "cannot write dir") && strstr(err, strerror(EISDIR)), "%s: %s", cmd, err);
        free(err);
        if (access("/dev/full", W_OK) != 0) continue;
        snprintf(cmd, sizeof cmd, writes[i], "/dev/full");
        snprintf(args, sizeof args, "\"$PW\" %s", cmd);
        err = cli_in_dir(args, 1);
        CHECK_MSG(strstr(err, "cannot write /dev/full") && strstr(err, strerror(ENOSPC)), "%s: %s", cmd, err);
        free(err);
    }
}

/* ---- traces: depth capped, disorder counted, names repaired ---------------------------- */

TEST(hostile_100000_nested_begins_are_capped_at_read_and_counted)
{
    enum { DEEP = 100000 };
    pw_trace *t = ten_ms_trace();
    fx_name(t, 1, "a");
    for (uint64_t i = 0; i < DEEP; i++) fx_begin(t, 1, FX_MS + i, 1);
    for (uint64_t i = 0; i < DEEP; i++) fx_end(t, 1, 5 * FX_MS + i, 1);
    t = round_trip(t, "deep.pwt");
    pw_trace_health h = {.size = sizeof h};
    CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
    CHECK_INT(h.deep_phases, DEEP - PW_MAX_DEPTH);
    CHECK_INT(t->tracks[0].n, 2 * PW_MAX_DEPTH);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(a->nnodes, 1 + PW_MAX_DEPTH);
    CHECK_INT(a->unbalanced + a->unclosed, 0);                /* the ENDs went with them */
    pw_attribution_free(a);
    pw_trace_free(t);
    char *out = report_of("deep.pwt");
    CHECK_MSG(strstr(out, "99936 phase(s) nested deeper than 64 levels dropped"), "%s", out);
    free(out);
}

/* 40 levels of 4000-byte names, then 200 leaves: each node keeps its parent link and a name
 * stored once per name id (a full path per node was 160 kB each); paths are built on demand. */
TEST(hostile_deep_wide_tree_of_long_names_stores_each_name_once)
{
    enum { LEVELS = 40, LEAVES = 200, LONG = 4000 };
    pw_trace *t = ten_ms_trace();
    char *name = malloc(LONG + 1);
    for (uint32_t id = 1; id <= LEVELS; id++) {
        memset(name, 'a' + (int)(id % 26), LONG);
        snprintf(name + LONG - 4, 5, "%04u", id);
        fx_name(t, id, name);
    }
    uint64_t at = FX_MS;
    for (uint32_t d = 1; d <= LEVELS; d++) fx_begin(t, 1, at++, d);
    for (uint32_t leaf = 0; leaf < LEAVES; leaf++) {   /* ids past the names: "#id" */
        fx_begin(t, 1, at++, 1000 + leaf);
        fx_end(t, 1, at++, 1000 + leaf);
    }
    fx_begin(t, 1, at++, 1);                           /* a name again, deep down */
    fx_end(t, 1, at++, 1);
    for (uint32_t d = LEVELS; d >= 1; d--) fx_end(t, 1, at++, d);
    t = round_trip(t, "wide.pwt");
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(a->nnodes, 1 + LEVELS + LEAVES + 1);
    size_t deepest = 0, same = 0;
    for (size_t i = 1; i < a->nnodes; i++) {
        if (a->nodes[i].name_id == 1 && a->nodes[i].depth == LEVELS + 1) deepest = i;
        same += a->nodes[i].name == a->nodes[1].name;
    }
    CHECK(deepest > 0);
    CHECK_INT(same, 2);                                /* the outermost and the deepest "b..." */
    pw_path_buf buf = {0};
    const char *path = pw_node_path(a, deepest, &buf);
    CHECK_INT(strlen(path), (LEVELS + 1) * (LONG + 1) - 1);
    CHECK(strncmp(path + LEVELS * (LONG + 1), pw_trace_name(t, 1), LONG) == 0);
    CHECK_INT(pw_attribution_find(a, path), (long)deepest);
    char *leaf = malloc(strlen(path) + 8);
    memcpy(leaf, path, LEVELS * (LONG + 1));
    strcpy(leaf + LEVELS * (LONG + 1), "#1199");
    int k = pw_attribution_find(a, leaf);
    CHECK(k > 0);
    CHECK_STR(a->nodes[k].name, "#1199");
    CHECK_STR(pw_node_path(a, (size_t)k, &buf), leaf);
    CHECK_INT(pw_attribution_find(a, "no/such"), -1);
    CHECK_INT(pw_attribution_find(a, ""), 0);
    strcat(leaf, "/");
    CHECK_INT(pw_attribution_find(a, leaf), -1);
    free(leaf);
    free(name);
    pw_path_buf_free(&buf);
    pw_attribution_free(a);
    pw_trace_free(t);
}

TEST(hostile_events_back_in_time_and_ends_without_begin_are_warned)
{
    pw_trace *t = ten_ms_trace();
    fx_name(t, 1, "a");
    fx_end(t, 1, FX_MS, 1);                                   /* no BEGIN */
    fx_begin(t, 1, 5 * FX_MS, 1);
    fx_end(t, 1, 2 * FX_MS, 1);                               /* back in time */
    fx_begin(t, 1, FX_MS, 1);                                 /* and again */
    fx_end(t, 1, 6 * FX_MS, 1);
    t = round_trip(t, "disorder.pwt");
    CHECK_INT(t->health.backward_events, 2);
    pw_trace_free(t);
    char *out = report_of("disorder.pwt");
    CHECK_MSG(strstr(out, "2 event(s) earlier than the event before them"), "%s", out);
    CHECK_MSG(strstr(out, "1 END event(s) without a matching BEGIN"), "%s", out);
    free(out);
}

TEST(hostile_names_are_repaired_by_one_rule_on_every_entry)
{
    char out[64];
    CHECK_INT(pw_name_repair("plain", 5, out, sizeof out), 0);
    CHECK_STR(out, "plain");
    CHECK_INT(pw_name_repair("a/b", 3, out, sizeof out), 1);
    CHECK_STR(out, "a" PW_NAME_SLASH "b");
    CHECK_INT(pw_name_repair("x\xff\xc0\x80y", 5, out, sizeof out), 1);   /* bad, overlong */
    CHECK_STR(out, "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy");
    CHECK_INT(pw_name_repair("\xED\xA0\x80", 3, out, sizeof out), 1);     /* a surrogate */
    CHECK_INT(pw_name_repair("\xC3\xA9t\xC3\xA9", 5, out, 4), 1);        /* cut whole */
    CHECK_STR(out, "\xC3\xA9t");
    /* the C API (NVTX and Python come through it) */
    CHECK_STR(pw_name(pw_phase_id("layer/attn")), "layer" PW_NAME_SLASH "attn");
    CHECK_STR(pw_name(pw_phase_id("bad\xfe")), "bad\xEF\xBF\xBD");
    /* the trace reader: "a/b" no longer collides with b nested in a */
    pw_trace *t = ten_ms_trace();
    fx_name(t, 1, "a");
    fx_name(t, 2, "b");
    fx_name(t, 3, "a/b");
    fx_name(t, 4, "\x80\x80");
    fx_begin(t, 1, FX_MS, 1);
    fx_begin(t, 1, 2 * FX_MS, 2);
    fx_end(t, 1, 3 * FX_MS, 2);
    fx_end(t, 1, 4 * FX_MS, 1);
    fx_begin(t, 1, 5 * FX_MS, 3);
    fx_end(t, 1, 6 * FX_MS, 3);
    t = round_trip(t, "names.pwt");
    CHECK_INT(t->health.bad_names, 2);
    CHECK_STR(pw_trace_name(t, 3), "a" PW_NAME_SLASH "b");
    CHECK_STR(pw_trace_name(t, 4), "\xEF\xBF\xBD\xEF\xBF\xBD");
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    int ab = 0;
    pw_path_buf path = {0};
    for (size_t i = 0; i < a->nnodes; i++) ab += strcmp(pw_node_path(a, i, &path), "a/b") == 0;
    pw_path_buf_free(&path);
    CHECK_INT(ab, 1);                                         /* only b nested in a */
    pw_attribution_free(a);
    pw_trace_free(t);
}

/* ---- hashes: keyed per process ----------------------------------------------------------- */

/* The hash of one key in a fresh child process. */
static uint64_t child_hash(void)
{
    int fd[2];
    CHECK_INT(pipe(fd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        uint64_t h = pw_hash_u64(42) ^ pw_hash_str("decode");
        _exit(write(fd[1], &h, sizeof h) == (ssize_t)sizeof h ? 0 : 1);
    }
    uint64_t h = 0;
    CHECK_INT(read(fd[0], &h, sizeof h), sizeof h);
    close(fd[0]);
    close(fd[1]);
    int status;
    CHECK_INT(waitpid(pid, &status, 0), pid);
    return h;
}

TEST(hostile_hashes_are_seeded_so_track_ids_cannot_be_chosen_to_collide)
{
    CHECK(child_hash() != child_hash());          /* equal with probability 2^-64 */
    enum { TRACKS = 100000 };
    pw_trace *t = pw_trace_new();
    for (uint32_t i = 0; i < TRACKS; i++) CHECK(pw_trace_track(t, i << 15) != NULL);
    for (uint32_t i = 0; i < TRACKS; i++) CHECK_INT(pw_trace_track(t, i << 15)->id, i << 15);
    CHECK_INT(t->ntracks, TRACKS);
    pw_trace_free(t);
}

/* ---- probes: nothing a driver or a file says can hang them ------------------------------- */

TEST(hostile_nvml_device_count_of_4294967295_is_capped_and_said)
{
    CHECK_INT(tf_write_file(tf_path("nvml.state"), "count 4294967295\n", 17), 0);
    CHECK_INT(setenv("PHASEWATT_FAKE_NVML_STATE", tf_path("nvml.state"), 1), 0);
    pw_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nvml_library = FAKE_NVML;
    cfg.interval_ns = 10000000;
    void *st = NULL;
    pw_source_info info;
    memset(&info, 0, sizeof info);
    char why[PW_WHY_MAX] = "";
    CHECK(pw_source_nvml.probe(&cfg, &st, &info, why, sizeof why) != PW_OK);   /* no GPU */
    CHECK(st == NULL);
    CHECK_MSG(strstr(why, "4294967295 GPUs, more than is plausible"), "%s", why);
}

TEST(hostile_fifo_where_a_proc_or_sysfs_file_belongs_is_refused)
{
    CHECK_INT(mkfifo(tf_path("stat"), 0600), 0);
    pw_source_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.proc_root = tf_tmpdir();
    cfg.estimate = "idle_w=1,active_w=2";
    void *st = NULL;
    pw_source_info info;
    memset(&info, 0, sizeof info);
    char why[PW_WHY_MAX] = "";
    CHECK_INT(pw_source_estimate.probe(&cfg, &st, &info, why, sizeof why), PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "not a regular file"), "%s", why);
    pw_sysfs_file f;
    CHECK_INT(pw_sysfs_open(&f, tf_path("stat")), PW_ERR_IO);
    CHECK_INT(f.err, PW_SYSFS_NOT_FILE);
    uint64_t v;
    int err = 0;
    CHECK(pw_sysfs_read_u64_at(tf_path("stat"), &v, &err) != PW_OK);
    CHECK_INT(err, PW_SYSFS_NOT_FILE);
}
