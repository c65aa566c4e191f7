/* test_channel.c — `phasewatt record -- CMD` taking CMD's phases through the shared-memory
 * channel: the phase tree, counts and tracks of threads and processes, synthetic energy,
 * crashes, overflow, and a channel that must not be trusted. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/attribute.h"
#include "core/channel.h"
#include "phasewatt.h"
#include "tf.h"
#include "trace/trace.h"

#define TAGGER PW_BUILD_DIR "/progs/tagger"

typedef struct recorded {
    int code;
    char *out, *err;
    pw_trace *t;
    pw_attribution *a;
} recorded;

/* phasewatt record [opts] -- TAGGER MODE, then the trace read back and attributed. */
static recorded record(const char *opts, const char *mode)
{
    recorded r = {0};
    char cmd[2048];
    const char *path = tf_path("run.pwt");
    snprintf(cmd, sizeof cmd, "\"$PW\" record -o %s --no-report --quiet %s -- %s %s", path,
             opts, TAGGER, mode);
    r.code = tf_run(cmd, &r.out, &r.err);
    CHECK_MSG(pw_trace_open(path, &r.t) == PW_OK, "no readable trace; stderr: %s", r.err);
    CHECK_INT(pw_attribute(r.t, &r.a), PW_OK);
    return r;
}

static void recorded_free(recorded *r)
{
    pw_attribution_free(r->a);
    pw_trace_close(r->t);
    free(r->out);
    free(r->err);
}

static const pw_phase_node *node(const recorded *r, const char *path)
{
    int i = pw_attribution_find(r->a, path);
    CHECK_MSG(i >= 0, "no phase %s in the trace", path);
    return &r->a->nodes[i];
}

static size_t tracks_with_events(const pw_trace *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->ntracks; i++) n += t->tracks[i].n > 0;
    return n;
}

/* The first BEGIN of the phase named name and the END that closes it. */
static int phase_span(const pw_trace *t, const char *name, uint64_t *b, uint64_t *e)
{
    for (size_t i = 0; i < t->ntracks; i++) {
        const pw_track *tr = &t->tracks[i];
        int depth = -1;
        for (size_t k = 0; k < tr->n; k++) {
            const pw_event *ev = &tr->events[k];
            const char *n = ev->id < t->nnames ? t->names[ev->id] : NULL;
            if (depth < 0 && ev->type == PW_EV_BEGIN && n && !strcmp(n, name)) {
                *b = ev->t_ns;
                depth = 0;
            } else if (depth >= 0 && ev->type == PW_EV_BEGIN) {
                depth++;
            } else if (depth >= 0 && ev->type == PW_EV_END && depth-- == 0) {
                *e = ev->t_ns;
                return 1;
            }
        }
    }
    return 0;
}

/* The length (s) of the first source's sample interval that holds t_ns; 0 if none does. */
static double interval_around(const pw_trace *t, uint64_t t_ns)
{
    const pw_series *s = t->nsources ? &t->series[0] : NULL;
    for (size_t i = 1; s && i < s->n; i++)
        if (s->t_ns[i - 1] <= t_ns && t_ns <= s->t_ns[i])
            return (double)(s->t_ns[i] - s->t_ns[i - 1]) * 1e-9;
    return 0;
}

TEST(channel_records_the_phases_of_a_c_program_with_its_exit_code)
{
    recorded r = record("--source synthetic --synthetic prefill=20W,attention=10W "
                        "--interval 1", "normal");
    CHECK_INT(r.code, 3);
    CHECK_INT(r.a->nnodes, 4);   /* root, prefill, decode, decode/attention */
    CHECK_INT(node(&r, "prefill")->calls, 1);
    CHECK_INT(node(&r, "prefill")->tokens_incl, 7);
    CHECK_INT(node(&r, "decode")->calls, 10);
    CHECK_INT(node(&r, "decode")->tokens_incl, 10);
    CHECK_INT(node(&r, "decode/attention")->calls, 10);
    CHECK_INT(tracks_with_events(r.t), 3);   /* main thread + two workers */
    /* Synthetic power follows the phases the recorder drained from the channel: 20 W in
     * prefill, off only by the two sample intervals that straddle its ends (how long they
     * are is load's doing, so the bound is read from the trace, not assumed). */
    const pw_phase_node *pre = node(&r, "prefill");
    uint64_t b = 0, e = 0;
    CHECK_MSG(phase_span(r.t, "prefill", &b, &e), "no prefill BEGIN/END in the trace");
    double slack = 20.0 * (interval_around(r.t, b) + interval_around(r.t, e)) + 1e-6;
    double j = pw_energy_total(r.t, pre->incl_j);
    CHECK_MSG(j >= 20.0 * pre->duration_s - slack && j <= 20.0 * pre->duration_s + slack,
              "prefill took %.6f J in %.6f s: not 20 W within the straddling intervals "
              "(%.6f J)", j, pre->duration_s, slack);
    CHECK_STR(pw_trace_meta(r.t, "command.status"), "exited with code 3");
    CHECK_STR(pw_trace_meta(r.t, "command.closed_phases"), "0");
    recorded_free(&r);
}

TEST(channel_gives_each_process_and_thread_its_own_track)
{
    recorded r = record("--source estimate", "fork");
    CHECK_INT(r.code, 0);
    CHECK_INT(node(&r, "decode")->calls, 10);
    uint32_t pids[2] = {0, 0};
    size_t npids = 0;
    for (size_t i = 0; i < r.t->ntracks; i++) {
        uint32_t pid = r.t->tracks[i].pid;
        if (!r.t->tracks[i].n || (npids && pids[0] == pid)) continue;
        if (npids < 2) pids[npids++] = pid;
    }
    CHECK_INT(npids, 2);
    CHECK(pids[0] != pids[1]);
    /* each process's decode thread named its track through the shared ring */
    size_t named = 0;
    for (size_t i = 0; i < r.t->ntracks; i++) {
        const char *name = r.t->tracks[i].name;
        named += name && (!strcmp(name, "decoder-0") || !strcmp(name, "decoder-1"));
    }
    CHECK_INT(named, 2);
    recorded_free(&r);
}

static void check_crash(const char *mode, int code, const char *status)
{
    recorded r = record("--source estimate --interval 2", mode);
    CHECK_INT(r.code, code);
    CHECK_INT(node(&r, "prefill")->calls, 1);
    CHECK_INT(node(&r, "decode")->calls, 10);
    const pw_phase_node *post = node(&r, "post-inference");
    CHECK_INT(post->calls, 1);
    /* closed when the process died, not stretched to the end of the recording */
    CHECK_MSG(post->duration_s > 0.009 && post->duration_s < 0.5, "post-inference lasted %g s",
              post->duration_s);
    CHECK_STR(pw_trace_meta(r.t, "command.status"), status);
    CHECK_STR(pw_trace_meta(r.t, "command.closed_phases"), "1");
    CHECK_INT(r.a->unclosed, 0);
    recorded_free(&r);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s", tf_path("run.pwt"));
    CHECK_INT(tf_run(cmd, &out, NULL), 0);
    CHECK_MSG(strstr(out, "phase(s) it left open were closed"), "report: %s", out);
    free(out);
}

TEST(channel_closes_the_open_phases_of_a_crashed_program)
{
    check_crash("segv", 128 + 11, "killed by signal 11 (Segmentation fault)");
}

TEST(channel_closes_the_open_phases_of_a_killed_program)
{
    check_crash("kill", 128 + 9, "killed by signal 9 (Killed)");
}

TEST(channel_counts_events_lost_to_a_full_ring)
{
    recorded r = record("--source estimate --interval 50 --ring 64", "flood 200000");
    CHECK_INT(r.code, 0);
    uint64_t lost = 0, events = 0;
    for (size_t i = 0; i < r.t->ntracks; i++) {
        lost += r.t->tracks[i].lost;
        events += r.t->tracks[i].n;
    }
    /* every event is either in the trace or counted lost, none silently gone */
    CHECK_MSG(lost > 0, "a 64-event ring took 400000 events in 50 ms ticks without loss?");
    CHECK_INT(events + lost, 400000);
    recorded_free(&r);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s", tf_path("run.pwt"));
    CHECK_INT(tf_run(cmd, &out, NULL), 0);
    CHECK_MSG(strstr(out, "lost"), "report does not mention the loss: %s", out);
    free(out);
}

TEST(channel_program_cannot_open_its_own_session_under_record)
{
    recorded r = record("--source estimate", "open");
    CHECK_MSG(strstr(r.out, "pw_open: -7") && strstr(r.out, "phasewatt record"),
              "stdout: %s", r.out);
    recorded_free(&r);
}

/* The library refuses a channel it did not get from a recorder of this user. */
static void expect_refused(const char *channel, const char *needle)
{
    char cmd[2048], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "PHASEWATT_CHANNEL=%s %s open %s", channel, TAGGER,
             tf_path("own.pwt"));
    CHECK_INT(tf_run(cmd, &out, &err), 0);
    CHECK_MSG(err && strstr(err, "ignoring PHASEWATT_CHANNEL") && strstr(err, needle),
              "stderr: %s", err ? err : "");
    /* and it goes on as if there were no recorder: its own session works */
    CHECK_MSG(strstr(out, "pw_open: 0"), "stdout: %s", out);
    free(out);
    free(err);
}

TEST(channel_untrusted_regions_are_ignored_with_a_reason)
{
    const char *loose = tf_path("loose");
    CHECK_INT(tf_write_file(loose, "PWCH", 4), 0);
    CHECK_INT(chmod(loose, 0644), 0);
    expect_refused(loose, "not a phasewatt channel");
    const char *garbage = tf_path("garbage");
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    CHECK_INT(tf_write_file(garbage, junk, sizeof junk), 0);
    CHECK_INT(chmod(garbage, 0600), 0);
    expect_refused(garbage, "not a phasewatt channel");
    const char *link = tf_path("link");
    CHECK_INT(symlink(garbage, link), 0);
    expect_refused(link, "Too many levels of symbolic links");
    expect_refused(tf_path("absent"), "No such file");
}

/* The channel's counts of a trace: every one zero except those named in allowed. */
static void check_no_channel_loss(const pw_trace *t)
{
    for (int i = 0; i < PW_CH_EXITED_OPEN; i++)
        CHECK_MSG(!pw_trace_meta(t, pw_channel_count_key(i)), "%s = %s",
                  pw_channel_count_key(i), pw_trace_meta(t, pw_channel_count_key(i)));
}

static unsigned long long meta_count(const pw_trace *t, pw_channel_count which)
{
    const char *v = pw_trace_meta(t, pw_channel_count_key(which));
    return v ? strtoull(v, NULL, 10) : 0;
}

/* The shape: short-lived workers one after another, at most two alive, three times
 * as many as there are rings (so rings must come back; there are enough for the workers
 * started between two drains). Each gives its ring back at exit() with the exit time, so
 * nothing is lost and the phase it left open ends when it exited. 10 000 workers behave the
 * same; they take minutes under sanitizers (whose exit handlers are slow). */
TEST(channel_sequential_short_lived_processes_beyond_the_rings_lose_nothing)
{
    recorded r = record("--source estimate --rings 32 --ring 1024", "workers 100");
    CHECK_INT(r.code, 0);
    CHECK_INT(node(&r, "w0")->calls, 100);
    CHECK_INT(node(&r, "w19")->calls, 100);
    CHECK_INT(node(&r, "held")->calls, 100);
    CHECK_INT(r.a->unclosed, 0);
    check_no_channel_loss(r.t);
    CHECK_INT(meta_count(r.t, PW_CH_EXITED_OPEN), 100);
    recorded_free(&r);
}

/* Workers that _exit() (no exit handler: their rings come back only when the recorder sees
 * them dead in /proc) and use the names their parent interned before fork (the recorder
 * copies the parent's ids instead of each child publishing them again). */
TEST(channel_workers_that_die_without_exit_handlers_lose_nothing)
{
    recorded r = record("--source estimate --rings 64 --ring 1024", "workers-killed 200");
    CHECK_INT(r.code, 0);
    CHECK_INT(node(&r, "w7")->calls, 200);
    CHECK_INT(node(&r, "held")->calls, 200);
    CHECK_INT(r.a->unclosed, 0);
    check_no_channel_loss(r.t);
    /* every held phase ended: when its death was seen, or at the command's end */
    const char *closed = pw_trace_meta(r.t, "command.closed_phases");
    CHECK_INT(meta_count(r.t, PW_CH_EXITED_OPEN) + strtoull(closed ? closed : "0", NULL, 10),
              200);
    recorded_free(&r);
}

TEST(channel_threads_of_one_process_all_tag_at_once)
{
    recorded r = record("--source estimate", "threads 60");
    CHECK_INT(r.code, 0);
    CHECK_INT(node(&r, "threaded")->calls, 60);
    CHECK_INT(tracks_with_events(r.t), 60);
    check_no_channel_loss(r.t);
    recorded_free(&r);
}

/* More threads at once than rings: the excess is counted, said by record and report. */
TEST(channel_threads_with_no_free_ring_are_counted_and_reported)
{
    recorded r = record("--source estimate --rings 4 --ring 64", "threads 8");
    CHECK_INT(r.code, 0);
    CHECK_INT(meta_count(r.t, PW_CH_NO_RING), 4);
    CHECK_INT(node(&r, "threaded")->calls, 4);
    recorded_free(&r);
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s", tf_path("run.pwt"));
    CHECK_INT(tf_run(cmd, &out, NULL), 0);
    CHECK_MSG(strstr(out, "4 thread(s) found every ring of the channel taken"), "%s", out);
    free(out);
}

/* Runs script as root in a private mount namespace with a 64 MB /dev/shm; skips where
 * that cannot be had. Returns the script's exit code, its stdout and stderr. */
static int in_small_shm(const char *script, char **out, char **err)
{
    if (geteuid() != 0) tf_skip("needs root for a private mount namespace");
    if (tf_run("unshare -m --propagation private true", NULL, NULL) != 0)
        tf_skip("unshare -m is not available here (no mount namespaces)");
    const char *sh = tf_path("small-shm.sh");
    char body[4096];
    int n = snprintf(body, sizeof body, "set -u\nmount -t tmpfs -o size=64m tmpfs /dev/shm || "
                     "exit 99\nTAGGER=%s\n%s\n", TAGGER, script);
    CHECK_INT(tf_write_file(sh, body, (size_t)n), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "unshare -m --propagation private sh %s", sh);
    int rc = tf_run(cmd, out, err);
    if (rc == 99) tf_skip("cannot mount a tmpfs on /dev/shm in a private namespace");
    return rc;
}

static void check_threaded_trace(const char *path, int threads)
{
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    int i = pw_attribution_find(a, "threaded");
    CHECK_MSG(i >= 0, "no phase 'threaded' in %s", path);
    CHECK_INT(a->nodes[i].calls, threads);
    pw_attribution_free(a);
    pw_trace_close(t);
}

/* The three SIGBUS cases with a container's 64 MB /dev/shm: the tagged program
 * lives (exit 0, its own code), record says what it did, and the phases are there. */
TEST(channel_a_64mb_dev_shm_never_kills_the_program_or_record)
{
    const char *trace = tf_path("shm.pwt");
    char script[2048], *out = NULL, *err = NULL;
    /* 1: a ring far too big for the space: fewer, shorter rings, and a note saying so */
    snprintf(script, sizeof script, "\"$PW\" record --source estimate --no-report --ring "
             "1048576 -o %s -- $TAGGER threads 4", trace);
    CHECK_INT(in_small_shm(script, &out, &err), 0);
    CHECK_MSG(strstr(err, "/dev/shm has") && strstr(err, "--rings") && strstr(err, "fit"),
              "stderr: %s", err);
    check_threaded_trace(trace, 4);
    free(out);
    free(err);
    /* 2: sixty threads tagging at once */
    snprintf(script, sizeof script, "\"$PW\" record --source estimate --no-report -o %s -- "
             "$TAGGER threads 60", trace);
    CHECK_INT(in_small_shm(script, &out, &err), 0);
    check_threaded_trace(trace, 60);
    free(out);
    free(err);
    /* 3: /dev/shm filled by someone else first: the channel goes elsewhere, said once */
    snprintf(script, sizeof script, "dd if=/dev/zero of=/dev/shm/filler bs=1M count=80 "
             "2>/dev/null\n\"$PW\" record --source estimate --no-report -o %s -- $TAGGER "
             "threads 4", trace);
    CHECK_INT(in_small_shm(script, &out, &err), 0);
    CHECK_MSG(strstr(err, "/dev/shm has 0.0 MB free"), "stderr: %s", err);
    check_threaded_trace(trace, 4);
    free(out);
    free(err);
}

/* A channel whose recorder was SIGKILLed is refused with a reason, and the next record of
 * the same user removes it. (In a private /dev/shm, so no other recorder is in the way.) */
TEST(channel_an_orphaned_region_is_refused_and_cleaned_up)
{
    char script[2048], *out = NULL, *err = NULL;
    snprintf(script, sizeof script,
             "\"$PW\" record --source estimate --no-report -o %s -- sh -c 'kill -9 $PPID'\n"
             "orphan=$(ls /dev/shm/phasewatt-*) || exit 10\n"
             "PHASEWATT_CHANNEL=$orphan $TAGGER open %s || exit 11\n"
             "\"$PW\" record --source estimate --no-report -o %s -- true || exit 12\n"
             "[ ! -e \"$orphan\" ] || exit 13\n",
             tf_path("killed.pwt"), tf_path("own.pwt"), tf_path("next.pwt"));
    CHECK_INT(in_small_shm(script, &out, &err), 0);
    CHECK_MSG(strstr(err, "an orphaned phasewatt channel: its recorder (pid"), "stderr: %s", err);
    CHECK_MSG(strstr(out, "pw_open: 0"), "the program did not go on on its own: %s", out);
    free(out);
    free(err);
}

/* serve --channel-file: a file someone prepared (mode 0666, another owner where the test
 * can make one) is replaced, never written into. */
TEST(channel_published_path_replaces_a_prepared_file)
{
    const char *file = tf_path("channel-file");
    CHECK_INT(tf_write_file(file, "theirs\n", 7), 0);
    CHECK_INT(chmod(file, 0666), 0);
    if (geteuid() == 0) CHECK_INT(chown(file, 65534, 65534), 0);
    struct stat before, after;
    CHECK_INT(stat(file, &before), 0);
    char why[256] = "";
    CHECK_MSG(pw_channel_publish_path(file, "/dev/shm/phasewatt-1-2", why, sizeof why) == 0,
              "%s", why);
    CHECK_INT(stat(file, &after), 0);
    CHECK(after.st_ino != before.st_ino);
    CHECK_INT(after.st_uid, geteuid());
    CHECK_INT(after.st_mode & 0777, 0600);
    size_t len = 0;
    char *text = tf_read_file(file, &len);
    CHECK_STR(text, "/dev/shm/phasewatt-1-2\n");
    free(text);
}

/* A command that cannot start leaves an existing trace as it was; one that starts
 * replaces it. */
TEST(channel_record_of_a_command_that_cannot_start_keeps_the_existing_trace)
{
    const char *trace = tf_path("kept.pwt");
    CHECK_INT(tf_write_file(trace, "an earlier trace", 16), 0);
    char cmd[1024], *err = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" record --source estimate -o %s -- /nonexistent/cmd",
             trace);
    free(tf_run_expect(cmd, 127, &err));
    CHECK_MSG(strstr(err, "cannot run '/nonexistent/cmd'"), "stderr: %s", err);
    free(err);
    size_t len = 0;
    char *text = tf_read_file(trace, &len);
    CHECK_INT(len, 16);
    CHECK(!memcmp(text, "an earlier trace", 16));
    free(text);
    snprintf(cmd, sizeof cmd, "\"$PW\" record --source estimate --no-report -o %s -- true",
             trace);
    free(tf_run_expect(cmd, 0, NULL));
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(trace, &t), PW_OK);
    pw_trace_close(t);
    snprintf(cmd, sizeof cmd, "ls %s.new-* 2>/dev/null | wc -l", trace);
    char *left = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(atoi(left) == 0, "a staging file was left behind");
    free(left);
}
