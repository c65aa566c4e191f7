/* test_faults.c — fault injection: what phasewatt does when the world misbehaves around a
 * recording (disk full, signals, a stalled or sleeping machine, counters that jump, many
 * threads on tiny rings, phases left open, hostile names). Each test states the expected
 * outcome: a valid trace, a clear message, the right exit code, nothing lost that was
 * written. docs/reliability.md lists them all. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/attribute.h"
#include "base/clock.h"
#include "phasewatt.h"
#include "sysfs_fixture.h"
#include "tf.h"
#include "trace/trace.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Opens an in-process session writing tf_path(name) (0: the default ring or interval);
 * returns the options, whose output_path the test reads back. */
static pw_options open_session(const char *name, const char *sources, uint32_t ring_events,
                               uint64_t interval_ns)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = tf_path(name);
    o.sources = sources;
    if (ring_events) o.ring_events = ring_events;
    if (interval_ns) o.interval_ns = interval_ns;
    o.quiet = 1;
    CHECK_INT(pw_open(&o), PW_OK);
    return o;
}

/* ---- the disk fills up ------------------------------------------------------------------- */

TEST(fault_disk_full_stops_writing_cleanly_keeps_what_was_written_and_says_so)
{
    const char *trace = tf_path("full.pwt");
    char cmd[2048], *err = NULL;
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD=%s/fakes/enospc.so PW_FAKE_ENOSPC_AFTER=12000 \"$PW\" "
             "record --source synthetic --interval 1 --no-report -o %s -- sleep 6", PW_BUILD_DIR,
             trace);
    free(tf_run_expect(cmd, 1, &err));   /* 1: the trace is incomplete */
    CHECK_MSG(strstr(err, "No space left on device") && strstr(err, "keeps what was written") &&
              strstr(err, "after 12000 bytes"), "%s", err);
    CHECK_MSG(strstr(err, "phasewatt: writing") != NULL, "not said when it happened: %s", err);
    free(err);
    struct stat st;
    CHECK_INT(stat(trace, &st), 0);
    CHECK_INT(st.st_size, 12000);   /* a flushed second of readings, locked or not, fits */
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(trace, &t), PW_OK);   /* reads up to the last complete chunk */
    pw_trace_health h = {.size = sizeof h};
    CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
    CHECK(h.torn && !h.complete);
    CHECK_MSG(t->series[0].n > 100, "only %zu samples kept", t->series[0].n);
    pw_trace_close(t);
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s", trace);
    char *out = tf_run_expect(cmd, 0, NULL);
    CHECK(strstr(out, "torn") != NULL);
    free(out);
}

/* ---- signals to record ------------------------------------------------------------------- */

/* Starts the CLI with argv (NULL-terminated, argv[0] included) in the background, its output
 * to log (or /dev/null), with default dispositions for the signals the tests send (a suite
 * run under nohup or as a background job inherits them ignored); returns its pid. */
static pid_t spawn_cli(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = log ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600) : open("/dev/null", O_WRONLY);
        dup2(fd, 1), dup2(fd, 2);
        const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
        execv(tf_cli(), argv);
        _exit(127);
    }
    return pid;
}

/* Whether pid catches every signal in sigs (its SigCgt mask in /proc/PID/status). */
static int catches(pid_t pid, const int *sigs, size_t n)
{
    char path[64], *status;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(status = tf_read_file(path, NULL))) return 0;
    const char *cgt = strstr(status, "SigCgt:");
    unsigned long long mask = cgt ? strtoull(cgt + 7, NULL, 16) : 0;
    free(status);
    for (size_t i = 0; i < n; i++)
        if (!(mask & (1ull << (sigs[i] - 1)))) return 0;
    return 1;
}

/* Starts record on a shell that exits with a code of its own on INT, TERM and HUP, waits
 * (however long the machine's load makes it) until the shell has set its traps and record
 * forwards the three signals, sends sig to record, and returns record's exit status. */
static int record_and_signal(int sig, const char *trace, const char *log)
{
    const char *ready = tf_path("traps-set");
    unlink(ready);
    char script[700];
    snprintf(script, sizeof script, "trap 'exit 7' INT; trap 'exit 8' TERM; trap 'exit 9' HUP; "
             ": > '%s'; while :; do sleep 0.02; done", ready);
    char *const argv[] = {"phasewatt", "record", "--source", "synthetic", "--no-report", "-o",
                          (char *)trace, "--", "sh", "-c", script, NULL};
    const int forwarded[] = {SIGINT, SIGTERM, SIGHUP};
    pid_t pid = spawn_cli(argv, log);
    int st = 0;
    while (access(ready, F_OK) != 0 || !catches(pid, forwarded, 3)) {
        CHECK_MSG(waitpid(pid, &st, WNOHANG) == 0, "record ended before the signal: %s",
                  tf_read_file(log, NULL));
        sleep_ms(10);
    }
    sleep_ms(100);   /* a few readings in the trace; how many does not matter */
    kill(pid, sig);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(fault_sigint_sigterm_sighup_to_record_finalise_the_trace_and_reach_the_child)
{
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP}, codes[] = {7, 8, 9};
    for (int i = 0; i < 3; i++) {
        char trace[600], log[600], want[64];
        snprintf(trace, sizeof trace, "%s", tf_path("signalled.pwt"));
        snprintf(log, sizeof log, "%s", tf_path("signalled.log"));
        int code = record_and_signal(sigs[i], trace, log);
        CHECK_MSG(code == codes[i], "signal %d: record exited %d, the child's code is %d", sigs[i],
                  code, codes[i]);
        pw_trace *t = NULL;
        CHECK_INT(pw_trace_open(trace, &t), PW_OK);
        pw_trace_health h = {.size = sizeof h};
        CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
        CHECK_MSG(h.complete && !h.torn, "signal %d: the trace was not finalised", sigs[i]);
        snprintf(want, sizeof want, "exited with code %d", codes[i]);
        CHECK_STR(pw_trace_meta(t, "command.status"), want);
        CHECK(t->series[0].n >= 2);   /* the readings that open and close the run at least */
        pw_trace_close(t);
    }
}

/* ---- a stalled recorder, a sleeping machine ------------------------------------------------ */

TEST(fault_recorder_stalled_for_a_second_counts_missed_deadlines_and_keeps_the_energy)
{
    const char *trace = tf_path("stalled.pwt"), *ready = tf_path("stalled.ready");
    char script[700];
    snprintf(script, sizeof script, ": > '%s'; sleep 1.6", ready);
    char *const argv[] = {"phasewatt", "record", "--source", "synthetic", "--synthetic", "work=20W",
                          "--interval", "5", "--no-report", "-o", (char *)trace, "--", "sh", "-c",
                          script, NULL};
    pid_t pid = spawn_cli(argv, NULL);
    for (int tries = 0; tries < 6000 && access(ready, F_OK) != 0; tries++)   /* the sampler runs */
        sleep_ms(10);
    sleep_ms(100);
    kill(pid, SIGSTOP);   /* the sampler misses a second of deadlines */
    sleep_ms(1000);
    kill(pid, SIGCONT);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s --format json", trace);
    char *out = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(strstr(out, "the sampler missed"), "%s", out);
    free(out);
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(trace, &t), PW_OK);
    CHECK(t->missed_deadlines >= 100);
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    /* the long interval still holds the energy of the stall: nothing is lost */
    CHECK_NEAR(pw_energy_total(t, a->nodes[0].incl_j), t->truth[0].energy_j, 0.01);
    pw_attribution_free(a);
    pw_trace_close(t);
}

TEST(fault_machine_suspended_leaves_the_sleep_out_and_says_so)
{
    const char *trace = tf_path("slept.pwt");
    char cmd[2048], *err = NULL;
    snprintf(cmd, sizeof cmd, "ASAN_OPTIONS=verify_asan_link_order=0 LD_PRELOAD=%s/fakes/suspend.so PW_FAKE_SLEEP_AT_READ=50 "
             "PW_FAKE_SLEEP_MS=5000 \"$PW\" record --source synthetic --interval 1 -o %s -- "
             "sleep 0.6", PW_BUILD_DIR, trace);
    char *out = tf_run_expect(cmd, 0, &err);
    CHECK_MSG(strstr(err, "the machine slept 5.000 s"), "%s", err);
    CHECK_MSG(strstr(out, "the machine slept 5.000 s during the run"), "%s", out);
    CHECK(strstr(out, "1 sample interval(s) skipped") != NULL);
    free(out);
    free(err);
}

/* ---- a counter that jumps or goes back (not a wrap) ----------------------------------------- */

static void write_energy(const char *zone, uint64_t uj)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)uj);
    char tmp[700], dst[700];
    snprintf(tmp, sizeof tmp, "%s/.energy_uj", zone);
    snprintf(dst, sizeof dst, "%s/energy_uj", zone);
    CHECK_INT(tf_write_file(tmp, text, (size_t)n), 0);
    CHECK_INT(rename(tmp, dst), 0);
}

TEST(fault_counter_reset_or_jump_is_left_out_not_counted)
{
    char zone[600];
    snprintf(zone, sizeof zone, "%s/sys/class/powercap/intel-rapl:0", tf_tmpdir());
    fx_mkdirs(zone);
    fx_write(zone, "name", "package-0\n");
    fx_write_u64(zone, "max_energy_range_uj", 262143328850ull);
    write_energy(zone, 5000000);
    setenv("PHASEWATT_SYSFS_ROOT", tf_tmpdir(), 1);
    pw_options o = open_session("jump.pwt", "rapl", 0, 2000000);
    /* 10 mJ per 10 ms (1 W), a jump of 100 kJ (within the counter's range), 1 W again, a
     * reset to 100 µJ (read as a wrap: 160 kJ), 1 W again */
    uint64_t e = 5000000, counted = 0;
    for (int step = 0; step < 60; step++) {
        sleep_ms(10);
        if (step == 20) e += 100000000000ull;                  /* the jump */
        else if (step == 40) e = 100;                          /* the reset: back, not a wrap */
        else e += 10000, counted += 10000;
        pw_stats before = {.size = sizeof before};
        pw_get_stats(&before);
        write_energy(zone, e);
        /* each value is read before the next is written, however late a loaded machine runs
         * the sampler: two steps in one interval would make one jump of them */
        for (int tries = 0; tries < 60000; tries++) {   /* at most a minute */
            pw_stats now = {.size = sizeof now};
            pw_get_stats(&now);
            if (now.samples > before.samples) break;
            sleep_ms(1);
        }
    }
    sleep_ms(10);
    CHECK_INT(pw_close(), PW_OK);
    unsetenv("PHASEWATT_SYSFS_ROOT");
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    CHECK_INT(st.counter_jumps, 2);
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(o.output_path, &t), PW_OK);
    CHECK_STR(pw_trace_meta(t, "sampler.counter_jumps"), "2");
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(a->gap_intervals, 2);
    double total = pw_energy_total(t, a->nodes[0].incl_j);
    CHECK_MSG(total <= counted * 1e-6 + 1e-9 && total >= counted * 1e-6 - 0.03,
              "%.6f J attributed, %.6f J of plausible steps", total, counted * 1e-6);
    pw_attribution_free(a);
    pw_trace_close(t);
}

/* ---- many threads on tiny rings; phases left open; hostile names ---------------------------- */

#define NTHREADS 64
#define PAIRS 20000

static void *tagger(void *arg)
{
    pw_id id = *(const pw_id *)arg;
    for (int i = 0; i < PAIRS; i++) {
        pw_begin(id);
        pw_end();
    }
    return NULL;
}

TEST(fault_64_threads_on_tiny_rings_count_every_lost_event_exactly)
{
    pw_options o = open_session("threads.pwt", "synthetic", 16, 0);
    pw_id id = pw_phase_id("burst");
    pthread_t th[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) CHECK_INT(pthread_create(&th[i], NULL, tagger, &id), 0);
    for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
    CHECK_INT(pw_close(), PW_OK);
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    CHECK_INT(st.events + st.lost_events, (uint64_t)NTHREADS * PAIRS * 2);
    CHECK(st.lost_events > 0);   /* 16-event rings cannot keep up */
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(o.output_path, &t), PW_OK);
    uint64_t events = 0, lost = 0;
    for (size_t i = 0; i < t->ntracks; i++) events += t->tracks[i].n, lost += t->tracks[i].lost;
    CHECK_INT(events, st.events);
    CHECK_INT(lost, st.lost_events);
    pw_trace_close(t);
}

TEST(fault_phase_left_open_at_exit_is_closed_at_the_end_and_reported)
{
    pw_options o = open_session("open.pwt", "synthetic", 0, 0);
    pw_begin_name("never-ended");
    sleep_ms(30);
    CHECK_INT(pw_close(), PW_OK);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s", o.output_path);
    char *out = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(strstr(out, "1 phase(s) still open at the end") && strstr(out, "never-ended"), "%s", out);
    free(out);
}

TEST(fault_names_of_10_kb_or_with_control_characters_are_refused_or_escaped)
{
    pw_options o = open_session("names.pwt", "synthetic", 0, 0);
    char *big = malloc(10241);
    memset(big, 'n', 10240);
    big[10240] = '\0';
    CHECK_INT(pw_phase_id(big), 0);                      /* over PW_MAX_NAME: refused */
    CHECK_INT(pw_begin_name(big), PW_ERR_INVALID);
    free(big);
    CHECK_INT(pw_begin_name("bell\a tab\t nl\n esc\x1b[31m"), PW_OK);
    sleep_ms(5);
    CHECK_INT(pw_end(), PW_OK);
    CHECK_INT(pw_close(), PW_OK);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s", o.output_path);
    char *out = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(strstr(out, "bell? tab? nl? esc?[31m") && !strchr(out, '\x1b'), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s --format json | python3 -c 'import json,sys; "
             "d=json.load(sys.stdin); print(d[\"phases\"][1][\"path\"] == \"bell\\a tab\\t nl\\n "
             "esc\\x1b[31m\")'", o.output_path);
    out = tf_run_expect(cmd, 0, NULL);
    CHECK_STR(out, "True\n");
    free(out);
}

TEST(fault_100000_distinct_phase_names_are_all_recorded_and_reported)
{
    pw_options o = open_session("many.pwt", "synthetic", 1 << 20, 0);
    char name[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(name, sizeof name, "n%d", i);
        CHECK_INT(pw_begin_name(name), PW_OK);
        CHECK_INT(pw_end(), PW_OK);
    }
    CHECK_INT(pw_close(), PW_OK);
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    CHECK_INT(st.lost_events, 0);
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(o.output_path, &t), PW_OK);
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(a->nnodes, 100001);
    CHECK(pw_attribution_find(a, "n99999") > 0);
    pw_attribution_free(a);
    pw_trace_close(t);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s --format csv | wc -l", o.output_path);
    char *out = tf_run_expect(cmd, 0, NULL);
    CHECK_INT(atol(out), 100002);   /* the header, the root, every phase */
    free(out);
}

/* ---- recovering a torn trace ------------------------------------------------------------------ */

TEST(fault_recover_salvages_a_trace_cut_anywhere_in_its_last_chunks)
{
    const char *full = tf_path("whole.pwt");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"$PW\" simulate -o %s", full);
    free(tf_run_expect(cmd, 0, NULL));
    size_t len = 0;
    char *data = tf_read_file(full, &len);
    CHECK(data && len > 4000);
    const char *cut = tf_path("cut.pwt"), *fixed = tf_path("fixed.pwt");
    size_t last_samples = 0;
    int checked = 0;
    for (size_t at = len - 3000; at <= len; at += 13) {
        CHECK_INT(tf_write_file(cut, data, at), 0);
        snprintf(cmd, sizeof cmd, "\"$PW\" recover %s -o %s", cut, fixed);
        free(tf_run_expect(cmd, 0, NULL));
        pw_trace *t = NULL;
        CHECK_INT(pw_trace_open(fixed, &t), PW_OK);
        pw_trace_health h = {.size = sizeof h};
        CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
        CHECK_MSG(h.complete && !h.torn && h.corrupt_chunks == 0, "cut at %zu", at);
        CHECK_MSG(t->series[0].n >= last_samples, "cut at %zu lost samples", at);   /* monotone */
        last_samples = t->series[0].n;
        CHECK_STR(pw_trace_meta(t, "recovered.from"), cut);
        pw_trace_close(t);
        checked++;
    }
    CHECK(checked > 200);
    free(data);
    snprintf(cmd, sizeof cmd, "\"$PW\" recover %s -o %s", fixed, fixed);
    free(tf_run_expect(cmd, 2, NULL));                 /* never over its input */
    free(tf_run_expect("\"$PW\" recover /no/such.pwt", 1, NULL));
}

TEST(fault_recorder_killed_mid_run_leaves_a_trace_that_recover_completes)
{
    const char *trace = tf_path("killed.pwt");
    char *const argv[] = {"phasewatt", "record", "--source", "synthetic", "--interval", "1",
                          "--no-report", "-o", (char *)trace, NULL};   /* built-in, ~2.3 s */
    pid_t pid = spawn_cli(argv, NULL);
    char cmd[2048], *err = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s 2>/dev/null", trace);   /* readable as it is */
    /* killed once the trace holds prefill (0.8 s in, the run lasts 2.3 s), however loaded */
    for (int tries = 0; tries < 1200; tries++) {   /* at most a minute */
        char *now = NULL;
        int seen = tf_run(cmd, &now, NULL) == 0 && now && strstr(now, "prefill");
        free(now);
        if (seen) break;
        sleep_ms(50);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char *out = tf_run_expect(cmd, 0, NULL);
    CHECK(strstr(out, "prefill") != NULL);
    free(out);
    snprintf(cmd, sizeof cmd, "\"$PW\" recover %s", trace);
    free(tf_run_expect(cmd, 0, &err));
    CHECK_MSG(strstr(err, "open phase(s) closed") && strstr(err, "(unfinished run)"), "%s", err);
    free(err);
    pw_trace *t = NULL;
    char fixed[700];
    snprintf(fixed, sizeof fixed, "%.*s.recovered.pwt", (int)strlen(trace) - 4, trace);
    CHECK_INT(pw_trace_open(fixed, &t), PW_OK);
    pw_trace_health h = {.size = sizeof h};
    CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
    CHECK(h.complete);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(a->unclosed, 0);                   /* closed explicitly at the last timestamp */
    CHECK(pw_attribution_find(a, "prefill") > 0);
    pw_attribution_free(a);
    pw_trace_close(t);
}

/* ---- the library never stops its program ----------------------------------------------------- */

static void *tag_once(void *arg)
{
    *(int *)arg = pw_begin_name("in-a-thread");
    return NULL;
}

TEST(fault_library_out_of_memory_turns_tagging_off_says_so_once_and_the_program_goes_on)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    tf_skip("address-space limits and sanitizer shadow memory do not mix");
#endif
    const char *log = tf_path("oom.log");
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        pw_options o;
        pw_options_init(&o);
        o.output_path = tf_path("oom.pwt");
        o.sources = "synthetic";
        o.ring_events = 1u << 26;          /* 1.5 GB per thread's ring: refused below */
        o.quiet = 0;                       /* quiet would silence the message under test */
        if (pw_open(&o) != PW_OK) _exit(10);
        struct rlimit lim = {1ul << 30, 1ul << 30};
        getrlimit(RLIMIT_AS, &lim);
        lim.rlim_cur = 1ul << 30;          /* 1 GB of address space */
        setrlimit(RLIMIT_AS, &lim);
        int rc[2] = {0, 0};
        pthread_t th[2];
        for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, tag_once, &rc[i]), pthread_join(th[i], NULL);
        if (rc[0] != PW_ERR_NOMEM || rc[1] != PW_ERR_NOMEM) _exit(11);
        _exit(pw_close() == PW_OK ? 0 : 12);   /* the session itself carries on */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the program did not go on: status %d", st);
    char *text = tf_read_file(log, NULL);
    CHECK_MSG(text && strstr(text, "out of memory for a thread's event ring"), "%s", text);
    const char *first = strstr(text, "phasewatt:");
    CHECK_MSG(first && !strstr(first + 1, "phasewatt:"), "said more than once: %s", text);
    free(text);
}

TEST(fault_program_scribbling_over_the_shared_channel_cannot_crash_the_recorder)
{
    const char *trace = tf_path("scribbled.pwt");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"$PW\" record --source synthetic --no-report -o %s -- "
             "%s/progs/scribbler", trace, PW_BUILD_DIR);
    free(tf_run_expect(cmd, 0, NULL));   /* the scribbler's own exit code: 0 */
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s --format json", trace);
    char *out = tf_run_expect(cmd, 0, NULL);
    CHECK(strstr(out, "\"phases\":[") != NULL);
    free(out);
}
