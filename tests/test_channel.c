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
    /* synthetic power follows the phases the recorder drained from the channel */
    const pw_phase_node *pre = node(&r, "prefill");
    double w = pw_energy_total(r.t, pre->incl_j) / pre->duration_s;
    CHECK_NEAR(w, 20.0, 0.03);
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
