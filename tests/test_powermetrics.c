/* test_powermetrics.c — the powermetrics backend spawning a fake `powermetrics` (a script
 * that replays recorded-format plist samples), and its plist parser on hostile bytes. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "sources/powermetrics.h"
#include "sources/source.h"
#include "sysfs_fixture.h"
#include "tf.h"

extern const pw_source_ops pw_source_powermetrics;

/* Three samples in the layout of a real M4 recording (macOS 26, `--samplers
 * cpu_power,gpu_power,ane_power -f plist`), clusters trimmed; energies chosen: cpu 37, 212,
 * 95 mJ; gpu 9, 61, 140 mJ; ane 0, 3, 0 mJ. */
#define SAMPLE_FILE PW_SOURCE_DIR "/tests/data/powermetrics-sample.plist"
#define FAKE_SCRIPT PW_SOURCE_DIR "/tests/fakes/powermetrics"
#define WAIT_NS 5000000000ull        /* a bound on waiting for the fake, not a timing check */

/* ---- the fake command ------------------------------------------------------------------- */

/* The fake, copied once into the test's directory with its mode set (a checkout may lose
 * it); never rewritten, since a running shell reads its script as it goes. */
static const char *fake(void)
{
    static char path[1024];
    struct stat sb;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/powermetrics", tf_tmpdir());
    if (stat(path, &sb) == 0) return path;
    char *text = tf_read_file(FAKE_SCRIPT, &n);
    CHECK_MSG(text != NULL, "cannot read %s", FAKE_SCRIPT);
    CHECK_INT(tf_write_file(path, text, n), 0);
    free(text);
    CHECK_INT(chmod(path, 0755), 0);
    return path;
}

static void replay_file(const char *path)
{
    CHECK_INT(setenv("PW_FAKE_PM_DATA", path, 1), 0);
}

/* Writes the documents for the fake to replay, NUL-separated: after each (as powermetrics
 * does), or only between them when nul_after_last is 0. */
static void replay_docs(const char *const *docs, size_t n, int nul_after_last)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += strlen(docs[i]) + 1;
    char *all = malloc(len + 1), *p = all;
    CHECK(all != NULL);
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(docs[i]);
        memcpy(p, docs[i], k);
        p += k;
        if (i + 1 < n || nul_after_last) *p++ = '\0';
    }
    const char *path = tf_path("samples.plist");
    CHECK_INT(tf_write_file(path, all, (size_t)(p - all)), 0);
    free(all);
    replay_file(path);
}

/* One sample in powermetrics' layout: top-level keys, the processor dict, then what follows
 * it (the gpu dict). */
static const char *doc(const char *top, const char *processor, const char *after)
{
    static char bufs[8][2048];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0],
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD "
             "PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist "
             "version=\"1.0\">\n<dict>\n<key>is_delta</key><true/>\n%s<key>processor</key>\n"
             "<dict>\n%s</dict>\n%s</dict>\n</plist>\n",
             top, processor, after);
    return b;
}

#define ELAPSED(ns) "<key>elapsed_ns</key><integer>" #ns "</integer>\n"
#define INT_KEY(k, v) "<key>" k "</key>\n<integer>" #v "</integer>\n"
#define REAL_KEY(k, v) "<key>" k "</key>\n<real>" #v "</real>\n"

/* ---- driving the ops --------------------------------------------------------------------- */

static int probe_cmd(const char *cmd, uint64_t interval_ns, void **st, pw_source_info *info,
                     char *why, size_t whylen)
{
    pw_source_config cfg = fx_config();
    cfg.powermetrics = cmd;
    cfg.interval_ns = interval_ns;
    *st = NULL;
    memset(info, 0, sizeof *info);
    why[0] = '\0';
    return pw_source_powermetrics.probe(&cfg, st, info, why, whylen);
}

static void *probe_ok(pw_source_info *info)
{
    void *st;
    char why[PW_WHY_MAX];
    int rc = probe_cmd(fake(), 10000000, &st, info, why, sizeof why);
    CHECK_MSG(rc == PW_OK, "probe failed (%d): %s", rc, why);
    CHECK(st != NULL);
    return st;
}

static int probe_fails(const char *cmd, char *why, size_t whylen)
{
    void *st;
    pw_source_info info;
    int rc = probe_cmd(cmd, 10000000, &st, &info, why, whylen);
    CHECK_MSG(rc != PW_OK, "probe of %s should fail", cmd);
    CHECK(st == NULL);
    CHECK_INT(info.ndomains, 0);
    CHECK_MSG(why[0] && !strchr(why, '\n'), "reason not one line: \"%s\"", why);
    return rc;
}

static void check_domain(const pw_source_info *info, size_t i, const char *name, pw_kind kind)
{
    CHECK(i < info->ndomains);
    CHECK_STR(info->domains[i].name, name);
    CHECK_INT(info->domains[i].kind, kind);
    CHECK_INT(info->domains[i].parent, -1);
    CHECK_INT(info->domains[i].flags, 0);
}

typedef struct reader {
    uint64_t energy[PW_SOURCE_MAX_DOMAINS];
    uint64_t t;                      /* the latest good reading's time */
    int good, errors, format_errors;
} reader;

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){0, ms * 1000000}, NULL);
}

/* One read as the sampler makes it; a good one must be dated no later than the read and no
 * earlier than the one before. */
static int read_once(void *st, reader *r)
{
    uint64_t e[PW_SOURCE_MAX_DOMAINS];
    uint64_t before = pw_now_ns(), t = before;
    int rc = pw_source_powermetrics.read(st, &t, e);
    if (rc != PW_OK) {
        r->errors++;
        r->format_errors += rc == PW_ERR_FORMAT;
        return rc;
    }
    CHECK_MSG(t <= before, "reading dated after the read");
    CHECK_MSG(!r->good || t >= r->t, "reading dated before the previous one");
    memcpy(r->energy, e, sizeof e);
    r->t = t;
    r->good++;
    return rc;
}

/* Reads every 5 ms until domain d has reached want µJ (bounded). */
static void read_until(void *st, reader *r, size_t d, uint64_t want)
{
    uint64_t deadline = pw_now_ns() + WAIT_NS;
    while (read_once(st, r), !(r->good && r->energy[d] >= want)) {
        CHECK_MSG(pw_now_ns() < deadline, "domain %zu reached only %llu of %llu uJ", d,
                  (unsigned long long)r->energy[d], (unsigned long long)want);
        sleep_ms(5);
    }
}

/* Nothing of the source may outlive close(): no child (reaped, not a zombie), no fd. */
static void check_clean(int fds_before)
{
    int st;
    errno = 0;
    CHECK_MSG(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD, "a child is left");
    CHECK_INT(fx_open_fds(), fds_before);
}

static char *arg_line(void)
{
    char *text = tf_read_file(tf_path("args"), NULL);
    CHECK(text != NULL);
    char *nl = strchr(text, '\n');
    if (nl) *nl = '\0';
    return text;
}

/* ---- the backend ------------------------------------------------------------------------- */

TEST(powermetrics_ops_say_estimates_and_auto)
{
    CHECK_STR(pw_source_powermetrics.name, "powermetrics");
    CHECK_INT(pw_source_powermetrics.measured, 1);
    CHECK_INT(pw_source_powermetrics.auto_probe, 1);
    CHECK_STR(pw_source_powermetrics.group, "apple-energy");   /* shared with ioreport */
    CHECK(strstr(pw_source_powermetrics.summary, "estimates") != NULL);
    CHECK(pw_source_powermetrics.describe && pw_source_powermetrics.close);
}

TEST(powermetrics_replays_recorded_samples_exactly)
{
    int fds = fx_open_fds();
    replay_file(SAMPLE_FILE);
    CHECK_INT(setenv("PW_FAKE_PM_ARGS", tf_path("args"), 1), 0);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 3);
    check_domain(&info, 0, "cpu", PW_KIND_CPU);
    check_domain(&info, 1, "gpu", PW_KIND_GPU);
    check_domain(&info, 2, "ane", PW_KIND_ANE);
    CHECK_INT(info.period_ns, 10000000);
    char *args = arg_line();
    CHECK_STR(args, "--samplers cpu_power,gpu_power,ane_power -i 10 -f plist -b 0");
    free(args);

    reader r = {0};
    read_until(st, &r, 0, 344000);
    CHECK_INT(r.energy[0], 344000);          /* (37 + 212 + 95) mJ */
    CHECK_INT(r.energy[1], 210000);          /* (9 + 61 + 140) mJ */
    CHECK_INT(r.energy[2], 3000);
    CHECK_INT(r.errors, 0);

    /* No new sample: the same reading, with its own time again. */
    uint64_t t = r.t;
    sleep_ms(80);
    CHECK_INT(read_once(st, &r), PW_OK);
    CHECK_INT(r.energy[0], 344000);
    CHECK_INT(r.t, t);
    pw_source_powermetrics.close(st);
    check_clean(fds);
}

TEST(powermetrics_describes_command_estimates_model_and_units)
{
    replay_file(SAMPLE_FILE);
    pw_source_info info;
    void *st = probe_ok(&info);
    char want[1200];
    snprintf(want, sizeof want, "%s --samplers cpu_power,gpu_power,ane_power -i 10 -f plist -b 0",
             fake());
    char *v = fx_described(&pw_source_powermetrics, st, "powermetrics.command");
    CHECK_STR(v, want);
    free(v);
    v = fx_described(&pw_source_powermetrics, st, "powermetrics.note");
    CHECK(v && strstr(v, "Apple model-based estimates"));
    free(v);
    v = fx_described(&pw_source_powermetrics, st, "powermetrics.hw_model");
    CHECK_STR(v, "Mac16,10");
    free(v);
    v = fx_described(&pw_source_powermetrics, st, "powermetrics.gpu");
    CHECK_STR(v, "gpu_energy (mJ per sample)");
    free(v);
    pw_source_powermetrics.close(st);
}

TEST(powermetrics_interval_is_the_samplers_at_least_10_ms)
{
    static const struct { uint64_t ns; const char *arg; uint64_t period; } cases[] = {
        {1, "-i 10 ", 10000000}, {250000000, "-i 250 ", 250000000}, {12400000, "-i 12 ", 12000000}};
    replay_file(SAMPLE_FILE);
    CHECK_INT(setenv("PW_FAKE_PM_ARGS", tf_path("args"), 1), 0);
    for (size_t i = 0; i < 3; i++) {
        void *st;
        pw_source_info info;
        char why[PW_WHY_MAX];
        CHECK_INT(probe_cmd(fake(), cases[i].ns, &st, &info, why, sizeof why), PW_OK);
        CHECK_INT(info.period_ns, cases[i].period);
        char *args = arg_line();
        CHECK_MSG(strstr(args, cases[i].arg) != NULL, "args \"%s\" lack \"%s\"", args,
                  cases[i].arg);
        free(args);
        pw_source_powermetrics.close(st);
    }
}

/* Versions without *_energy keys: power (mW) × elapsed_ns, with sub-µJ parts carried. */
TEST(powermetrics_integrates_power_when_energy_is_absent)
{
    const char *docs[] = {
        doc(ELAPSED(32000000), REAL_KEY("cpu_power", 1500) REAL_KEY("gpu_power", 250.5)
                                   REAL_KEY("ane_power", 0.015625) REAL_KEY("combined_power", 1750.5),
            ""),
        doc(ELAPSED(48000000), REAL_KEY("cpu_power", 1234.5) REAL_KEY("gpu_power", 100.25)
                                   REAL_KEY("ane_power", 0.015625) REAL_KEY("combined_power", 1334.8),
            "")};
    replay_docs(docs, 2, 1);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 3);
    reader r = {0};
    read_until(st, &r, 0, 107256);
    CHECK_INT(r.energy[0], 107256);          /* 1500 mW × 32 ms + 1234.5 mW × 48 ms */
    CHECK_INT(r.energy[1], 12828);           /* 250.5 × 32 + 100.25 × 48 */
    CHECK_INT(r.energy[2], 1);               /* 0.5 + 0.75 µJ */
    char *v = fx_described(&pw_source_powermetrics, st, "powermetrics.cpu");
    CHECK_STR(v, "cpu_power (mW) x elapsed_ns, per sample");
    free(v);
    pw_source_powermetrics.close(st);
}

TEST(powermetrics_takes_dram_when_the_first_sample_has_it)
{
    const char *docs[] = {
        doc(ELAPSED(50000000), INT_KEY("cpu_energy", 10) INT_KEY("gpu_energy", 2)
                                   INT_KEY("ane_energy", 0) INT_KEY("dram_energy", 5), ""),
        doc(ELAPSED(50000000), INT_KEY("cpu_energy", 20) INT_KEY("gpu_energy", 4)
                                   INT_KEY("ane_energy", 1) REAL_KEY("dram_power", 140), "")};
    replay_docs(docs, 2, 1);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 4);
    check_domain(&info, 3, "dram", PW_KIND_DRAM);
    reader r = {0};
    read_until(st, &r, 0, 30000);
    CHECK_INT(r.energy[1], 6000);
    CHECK_INT(r.energy[2], 1000);
    CHECK_INT(r.energy[3], 12000);           /* 5 mJ, then 140 mW × 50 ms */
    pw_source_powermetrics.close(st);
}

/* Layouts with the GPU's energy only in the top-level gpu dict; DRAM appearing after the
 * first sample is not a domain. */
TEST(powermetrics_takes_gpu_energy_from_the_gpu_dict)
{
    const char *gpu1 = "<key>gpu</key>\n<dict>\n<key>freq_hz</key><real>338</real>\n"
                       "<key>gpu_energy</key><integer>7</integer>\n</dict>\n";
    const char *gpu2 = "<key>gpu</key>\n<dict>\n<key>gpu_energy</key><integer>8</integer>\n"
                       "</dict>\n";
    const char *docs[] = {
        doc(ELAPSED(50000000), INT_KEY("cpu_energy", 10) INT_KEY("ane_energy", 0), gpu1),
        doc(ELAPSED(50000000),
            INT_KEY("cpu_energy", 11) INT_KEY("ane_energy", 0) INT_KEY("dram_energy", 3), gpu2)};
    replay_docs(docs, 2, 1);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 3);
    check_domain(&info, 1, "gpu", PW_KIND_GPU);
    reader r = {0};
    read_until(st, &r, 0, 21000);
    CHECK_INT(r.energy[1], 15000);
    pw_source_powermetrics.close(st);
}

TEST(powermetrics_not_found_names_the_command_and_the_fix)
{
    int fds = fx_open_fds();
    char why[PW_WHY_MAX];
    CHECK_INT(probe_fails("/nonexistent-dir/powermetrics", why, sizeof why), PW_ERR_NOT_FOUND);
    CHECK_STR(why, "/nonexistent-dir/powermetrics not found (macOS only; PHASEWATT_POWERMETRICS "
                   "to point elsewhere)");
    CHECK_INT(probe_fails("phasewatt-no-such-powermetrics", why, sizeof why), PW_ERR_NOT_FOUND);
    CHECK(strstr(why, "phasewatt-no-such-powermetrics not found (macOS only") == why);
    check_clean(fds);
}

TEST(powermetrics_not_executable_is_permission_denied)
{
    const char *path = tf_path("powermetrics-no-x");
    CHECK_INT(tf_write_file(path, "#!/bin/sh\n", 10), 0);
    CHECK_INT(chmod(path, 0644), 0);
    char why[PW_WHY_MAX];
    CHECK_INT(probe_fails(path, why, sizeof why), PW_ERR_PERMISSION);
    CHECK(strstr(why, "cannot run") && strstr(why, path));
}

TEST(powermetrics_is_found_on_path_by_default)
{
    fake();
    replay_file(SAMPLE_FILE);
    char path[4096];
    const char *old = getenv("PATH");
    snprintf(path, sizeof path, "%s:%s", tf_tmpdir(), old ? old : "/usr/bin:/bin");
    CHECK_INT(setenv("PATH", path, 1), 0);
    void *st;
    pw_source_info info;
    char why[PW_WHY_MAX];
    CHECK_INT(probe_cmd(NULL, 10000000, &st, &info, why, sizeof why), PW_OK);
    CHECK_INT(info.ndomains, 3);
    pw_source_powermetrics.close(st);
}

TEST(powermetrics_superuser_refusal_says_run_as_root)
{
    int fds = fx_open_fds();
    CHECK_INT(setenv("PW_FAKE_PM_STDERR", "powermetrics must be invoked as the superuser", 1), 0);
    char why[PW_WHY_MAX];
    CHECK_INT(probe_fails(fake(), why, sizeof why), PW_ERR_PERMISSION);
    CHECK_MSG(strstr(why, "exited with status 1: \"powermetrics must be invoked as the superuser\""),
              "reason: %s", why);
    CHECK_MSG(strstr(why, "run as root: sudo phasewatt record"), "reason: %s", why);
    check_clean(fds);
}

TEST(powermetrics_early_exit_quotes_its_stderr)
{
    int fds = fx_open_fds();
    CHECK_INT(setenv("PW_FAKE_PM_STDERR", "powermetrics: unrecognized sampler: ane_power", 1), 0);
    CHECK_INT(setenv("PW_FAKE_PM_STATUS", "64", 1), 0);
    char why[PW_WHY_MAX];
    CHECK_INT(probe_fails(fake(), why, sizeof why), PW_ERR_IO);
    CHECK_MSG(strstr(why, "exited with status 64: \"powermetrics: unrecognized sampler: "
                          "ane_power\" before its first sample"),
              "reason: %s", why);
    check_clean(fds);
}

TEST(powermetrics_exit_after_nothing_says_so)
{
    const char *empty = tf_path("empty.plist");
    CHECK_INT(tf_write_file(empty, "", 0), 0);
    replay_file(empty);
    CHECK_INT(setenv("PW_FAKE_PM_EXIT", "1", 1), 0);
    char why[PW_WHY_MAX];
    CHECK_INT(probe_fails(fake(), why, sizeof why), PW_ERR_IO);
    CHECK_MSG(strstr(why, "exited with status 0 before its first sample (nothing on stderr)"),
              "reason: %s", why);
}

TEST(powermetrics_no_sample_within_the_timeout)
{
    int fds = fx_open_fds();
    unsetenv("PW_FAKE_PM_DATA");              /* the fake idles, like a hung powermetrics */
    char why[PW_WHY_MAX], want[1200];
    CHECK_INT(probe_fails(fake(), why, sizeof why), PW_ERR_IO);
    snprintf(want, sizeof want,
             "no sample from `%s --samplers cpu_power,gpu_power,ane_power -i 10 -f plist -b 0` "
             "within 2000 ms", fake());
    CHECK_STR(why, want);
    check_clean(fds);
}

TEST(powermetrics_malformed_first_sample_fails_the_probe)
{
    int fds = fx_open_fds();
    const char *docs[] = {doc(ELAPSED(50000000), INT_KEY("cpu_energy", 12x), "")};
    replay_docs(docs, 1, 1);
    char why[PW_WHY_MAX], want[1200];
    CHECK_INT(probe_fails(fake(), why, sizeof why), PW_ERR_FORMAT);
    snprintf(want, sizeof want, "malformed output from %s: a value that should be a number is "
                                "not one", fake());
    CHECK_STR(why, want);
    check_clean(fds);
}

TEST(powermetrics_sample_without_domains_fails_the_probe)
{
    const char *docs[] = {doc(ELAPSED(50000000), REAL_KEY("combined_power", 12.5), "")};
    replay_docs(docs, 1, 1);
    char why[PW_WHY_MAX];
    CHECK_INT(probe_fails(fake(), why, sizeof why), PW_ERR_FORMAT);
    CHECK_MSG(strstr(why, "no cpu, gpu, ane or dram energy or power"), "reason: %s", why);
}

/* Broken XML, a sample cut short by a NUL, and a well-formed one lacking a domain: each is
 * skipped, and the read that meets it fails (a gap); the good samples all count. */
TEST(powermetrics_malformed_samples_mid_run_are_gaps)
{
    const char *good = doc(ELAPSED(50000000), INT_KEY("cpu_energy", 10) INT_KEY("gpu_energy", 1),
                           "");
    char cut[200];
    snprintf(cut, sizeof cut, "%.150s", good);
    const char *docs[] = {
        good,
        doc(ELAPSED(50000000), "<key>cpu_energy</key><integer>5</integr>\n", ""),
        cut,
        doc(ELAPSED(50000000), INT_KEY("gpu_energy", 1), ""),
        doc(ELAPSED(50000000), INT_KEY("cpu_energy", 20) INT_KEY("gpu_energy", 2), "")};
    replay_docs(docs, 5, 1);
    CHECK_INT(setenv("PW_FAKE_PM_SLEEP", "0.02", 1), 0);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 2);
    reader r = {0};
    read_until(st, &r, 0, 30000);
    CHECK_INT(r.energy[0], 30000);
    CHECK_INT(r.energy[1], 3000);
    CHECK_MSG(r.format_errors >= 1, "no read reported the lost samples");
    CHECK_INT(r.errors, r.format_errors);
    pw_source_powermetrics.close(st);
}

/* Every sample arrives in two writes 50 ms apart: the first half waits for the second. */
TEST(powermetrics_split_samples_wait_for_their_rest)
{
    replay_file(SAMPLE_FILE);
    CHECK_INT(setenv("PW_FAKE_PM_SPLIT", "1", 1), 0);
    pw_source_info info;
    void *st = probe_ok(&info);
    reader r = {0};
    read_until(st, &r, 0, 344000);
    CHECK_INT(r.energy[0], 344000);
    CHECK_INT(r.energy[1], 210000);
    CHECK_INT(r.errors, 0);
    pw_source_powermetrics.close(st);
}

/* NULs between samples only: the last one, ending in </plist>, counts without waiting for
 * the next sample's NUL. */
TEST(powermetrics_takes_a_finished_sample_before_its_nul)
{
    const char *docs[] = {
        doc(ELAPSED(50000000), INT_KEY("cpu_energy", 10), ""),
        doc(ELAPSED(50000000), INT_KEY("cpu_energy", 32), "")};
    replay_docs(docs, 2, 0);
    pw_source_info info;
    void *st = probe_ok(&info);
    CHECK_INT(info.ndomains, 1);
    reader r = {0};
    read_until(st, &r, 0, 42000);
    CHECK_INT(r.energy[0], 42000);
    pw_source_powermetrics.close(st);
}

static pid_t read_pid(void)
{
    char *text = tf_read_file(tf_path("pid"), NULL);
    pid_t pid = text ? (pid_t)atol(text) : 0;
    free(text);
    return pid;
}

/* A killed powermetrics makes reads fail; a later read restarts it, and the energy goes on
 * from where it was (every sample here is 100 mJ of CPU). */
TEST(powermetrics_killed_child_is_a_gap_then_restarted)
{
    int fds = fx_open_fds();
    const char *one = doc(ELAPSED(50000000), INT_KEY("cpu_energy", 100), "");
    const char *docs[] = {one, one, one};
    replay_docs(docs, 3, 1);
    CHECK_INT(setenv("PW_FAKE_PM_PIDFILE", tf_path("pid"), 1), 0);
    pw_source_info info;
    void *st = probe_ok(&info);
    pid_t first = read_pid();
    CHECK(first > 0);
    reader r = {0};
    CHECK_INT(read_once(st, &r), PW_OK);
    CHECK_INT(kill(first, SIGKILL), 0);

    uint64_t deadline = pw_now_ns() + WAIT_NS;
    while (read_once(st, &r) == PW_OK) {
        CHECK_MSG(pw_now_ns() < deadline, "reads still succeed after the kill");
        sleep_ms(5);
    }
    uint64_t before = r.energy[0];
    int good = r.good;
    while (read_once(st, &r) != PW_OK || r.good == good) {
        CHECK_MSG(pw_now_ns() < deadline, "no reading after the restart");
        sleep_ms(5);
    }
    CHECK(r.energy[0] > before);
    CHECK_INT(r.energy[0] % 100000, 0);
    CHECK(read_pid() != first);
    pw_source_powermetrics.close(st);
    check_clean(fds);
}

/* A powermetrics that stops writing (alive, silent) is killed once a read comes past the
 * stall time (10 s here: 20 intervals of 10 ms are less); the read is a gap, the trace says
 * so, and a later read starts a new one. Reads are given their times, bracketing the last
 * output (during the probe), so no clock is waited on and no load can change the outcome. */
TEST(powermetrics_child_that_stops_writing_is_killed_as_stalled_and_restarted)
{
    int fds = fx_open_fds();
    const char *one = doc(ELAPSED(50000000), INT_KEY("cpu_energy", 100), "");
    replay_docs(&one, 1, 1);                  /* one sample, then it idles on stdout */
    pw_source_info info;
    uint64_t before = pw_now_ns();
    void *st = probe_ok(&info);
    uint64_t after = pw_now_ns(), e[PW_SOURCE_MAX_DOMAINS], t = after;
    CHECK_INT(pw_source_powermetrics.read(st, &t, e), PW_OK);
    t = before + 9900000000ull;               /* silent for less than 10 s */
    CHECK_INT(pw_source_powermetrics.read(st, &t, e), PW_OK);
    t = after + 10000000000ull;               /* silent for 10 s at least */
    CHECK_INT(pw_source_powermetrics.read(st, &t, e), PW_ERR_IO);
    char *v = fx_described(&pw_source_powermetrics, st, "powermetrics.last_exit");
    CHECK_MSG(v && strstr(v, "stalled: no output for ") && strstr(v, " ms, killed"), "%s", v);
    free(v);
    v = fx_described(&pw_source_powermetrics, st, "powermetrics.samples");
    CHECK_MSG(v && strstr(v, "0 restarts, 1 stalls"), "%s", v);
    free(v);
    t += 1000000000ull;                       /* past the restart's backoff */
    (void)pw_source_powermetrics.read(st, &t, e);
    v = fx_described(&pw_source_powermetrics, st, "powermetrics.samples");
    CHECK_MSG(v && strstr(v, "1 restarts, 1 stalls"), "%s", v);
    free(v);
    pw_source_powermetrics.close(st);
    check_clean(fds);
}

/* ---- the parser -------------------------------------------------------------------------- */

/* The first document of the recorded file, in a buffer of its exact size (so ASan sees any
 * read past it). */
static char *first_doc(size_t *len)
{
    size_t n = 0;
    char *all = tf_read_file(SAMPLE_FILE, &n);
    CHECK(all != NULL);
    char *nul = memchr(all, '\0', n);
    CHECK(nul != NULL);
    *len = (size_t)(nul - all);
    char *d = malloc(*len);
    CHECK(d != NULL);
    memcpy(d, all, *len);
    free(all);
    return d;
}

static int parse_exact(const char *bytes, size_t n, pw_pm_sample *s, size_t *used,
                       const char **err)
{
    char *copy = malloc(n ? n : 1);
    CHECK(copy != NULL);
    memcpy(copy, bytes, n);
    int rc = pw_pm_parse(copy, n, s, used, err);
    CHECK_MSG(*used <= n, "used %zu of %zu bytes", *used, n);
    CHECK_MSG((rc == PW_OK) == (*err == NULL), "rc %d, error %s", rc, *err ? *err : "none");
    free(copy);
    return rc;
}

static int parse_text(const char *text, pw_pm_sample *s, const char **err)
{
    size_t used;
    return parse_exact(text, strlen(text), s, &used, err);
}

TEST(powermetrics_parser_reads_a_recorded_sample)
{
    size_t len, used;
    const char *err;
    pw_pm_sample s;
    char *d = first_doc(&len);
    CHECK_INT(parse_exact(d, len, &s, &used, &err), PW_OK);
    CHECK(used < len && !memcmp(d + used - 8, "</plist>", 8));
    CHECK_INT(s.elapsed_ns, 50912416);
    CHECK_STR(s.hw_model, "Mac16,10");
    CHECK_INT(s.has_energy, 7);
    CHECK_INT(s.has_power, 7);
    CHECK(s.energy_mj[PW_PM_CPU] == 37 && s.energy_mj[PW_PM_GPU] == 9);
    CHECK(s.energy_mj[PW_PM_ANE] == 0);
    CHECK(s.power_mw[PW_PM_CPU] == 726.738);
    CHECK(s.has_gpu_dict_energy && s.gpu_dict_energy_mj == 9);
    double uj;
    int from_power;
    CHECK_INT(pw_pm_energy_uj(&s, PW_PM_CPU, &uj, &from_power), PW_OK);
    CHECK(uj == 37000 && !from_power);
    CHECK_INT(pw_pm_energy_uj(&s, PW_PM_DRAM, &uj, &from_power), PW_ERR_NOT_FOUND);
    CHECK_INT(pw_pm_energy_uj(&s, 7, &uj, &from_power), PW_ERR_INVALID);
    free(d);
}

/* A sample cut anywhere is unfinished, never malformed and never complete. */
TEST(powermetrics_parser_every_prefix_is_incomplete)
{
    size_t len, whole, used;
    const char *err;
    pw_pm_sample s;
    char *d = first_doc(&len);
    CHECK_INT(parse_exact(d, len, &s, &whole, &err), PW_OK);
    for (size_t n = 0; n < whole; n++) {
        int rc = parse_exact(d, n, &s, &used, &err);
        CHECK_MSG(rc == PW_PM_INCOMPLETE, "prefix of %zu bytes: %d (%s)", n, rc, err);
    }
    CHECK_INT(parse_exact(d, whole, &s, &used, &err), PW_OK);
    CHECK_INT(used, whole);
    free(d);
}

TEST(powermetrics_parser_power_needs_elapsed)
{
    pw_pm_sample s;
    const char *err;
    double uj;
    CHECK_INT(parse_text("<plist><dict><key>processor</key><dict><key>cpu_power</key>"
                         "<real>10</real></dict></dict></plist>", &s, &err), PW_OK);
    CHECK_INT(pw_pm_energy_uj(&s, PW_PM_CPU, &uj, NULL), PW_ERR_NOT_FOUND);
    CHECK_INT(parse_text("<plist><dict><key>processor</key><dict><key>cpu_power</key>"
                         "<real>10</real><key>cpu_energy</key><integer>3</integer></dict>"
                         "<key>elapsed_ns</key><integer>1000000000</integer></dict></plist>",
                         &s, &err), PW_OK);
    CHECK_INT(pw_pm_energy_uj(&s, PW_PM_CPU, &uj, NULL), PW_OK);
    CHECK(uj == 3000);                       /* energy wins over power × elapsed (10000) */
    CHECK_INT(parse_text("<plist><dict><key>gpu</key><dict><key>gpu_energy</key><integer>4"
                         "</integer></dict><key>processor</key><dict><key>gpu_energy</key>"
                         "<integer>5</integer></dict></dict></plist>", &s, &err), PW_OK);
    CHECK(s.energy_mj[PW_PM_GPU] == 5);      /* processor's, over the gpu dict's */
}

TEST(powermetrics_parser_reads_numbers_without_locale)
{
    static const struct { const char *text; double value; } ok[] = {
        {"726.74", 726.74}, {"1.08145e+08", 1.08145e8}, {" 42 ", 42}, {".5", 0.5}, {"5.", 5},
        {"1e-3", 0.001}, {"0.000123", 0.000123}, {"+7", 7}, {"-0", 0}, {"0004.50", 4.5}};
    static const char *const bad[] = {"", "-", "1.2.3", "12x", "0x10", "nan", "inf", "1e",
                                      "1e400", "e5", "1,5", "--1",
                                      "1234567890123456789012345678901234567890123"};
    char text[256];
    pw_pm_sample s;
    const char *err;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(text, sizeof text, "<plist><dict><key>processor</key><dict><key>cpu_energy"
                                    "</key><real>%s</real></dict></dict></plist>", ok[i].text);
        CHECK_MSG(parse_text(text, &s, &err) == PW_OK, "%s: %s", ok[i].text, err);
        CHECK_MSG(s.energy_mj[PW_PM_CPU] == ok[i].value, "%s read as %.17g", ok[i].text,
                  s.energy_mj[PW_PM_CPU]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "<plist><dict><key>processor</key><dict><key>cpu_energy"
                                    "</key><real>%s</real></dict></dict></plist>", bad[i]);
        CHECK_MSG(parse_text(text, &s, &err) == PW_ERR_FORMAT, "\"%s\" accepted", bad[i]);
    }
    /* Beyond 18 significant digits the rest only scales. */
    CHECK_INT(parse_text("<plist><dict><key>processor</key><dict><key>cpu_power</key><real>"
                         "123456789012345678901</real></dict></dict></plist>", &s, &err),
              PW_ERR_FORMAT);                /* 1.2e20 mW is out of range, but it parsed */
    CHECK(strstr(err, "out of range") != NULL);
}

TEST(powermetrics_parser_rejects_hostile_documents)
{
    static const struct { const char *text; const char *error; } cases[] = {
        {"hello<plist><dict/></plist>", "expected an element"},
        {"<plist><array/></plist>", "the plist is not a dict"},
        {"<plist><dict></array></plist>", "mismatched closing tag"},
        {"<plist><dict><key>a</key><intger>1</intger></dict></plist>", "unknown element"},
        {"<plist><dict><integer>1</integer></dict></plist>", "expected <key> in a dict"},
        {"<plist><dict><key>a</key><true>1</true></dict></plist>", "must be empty"},
        {"<plist><dict><key>a</key><averyveryverylongname/></dict></plist>", "name too long"},
        {"<!DOCTYPE plist [<!ENTITY x \"y\">]><plist><dict/></plist>", "internal subset"},
        {"<plist><dict><key>elapsed_ns</key><integer>0</integer></dict></plist>", "elapsed_ns"},
        {"<plist><dict><key>elapsed_ns</key><integer>1</integer><key>elapsed_ns</key>"
         "<integer>1</integer></dict></plist>", "repeated"},
        {"<plist><dict><key>processor</key><dict><key>cpu_energy</key><integer>-5</integer>"
         "</dict></dict></plist>", "out of range"},
        {"<plist><dict><key>processor</key><dict><key>cpu_power</key><real>1e30</real>"
         "</dict></dict></plist>", "out of range"},
        {"<plist><dict><key>processor</key><dict><key>ane_energy</key><string>3</string>"
         "</dict></dict></plist>", "not one"},
        {"<plist><dict><key>processor</key><array/></dict></plist>", "not a dictionary"},
        {"<plist><dict><key>hw_model</key><integer>3</integer></dict></plist>", "not a string"},
        {"<plist><dict><key>a</key><string>x<y</string></dict></plist>", "malformed element tag"},
    };
    pw_pm_sample s;
    const char *err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = parse_text(cases[i].text, &s, &err);
        CHECK_MSG(rc == PW_ERR_FORMAT && strstr(err, cases[i].error), "case %zu: %d (%s)", i, rc,
                  err ? err : "no error");
    }
    static const char nul[] = "<plist><dict><key>a\0b</key><true/></dict></plist>";
    size_t used;
    CHECK_INT(parse_exact(nul, sizeof nul - 1, &s, &used, &err), PW_ERR_FORMAT);
    CHECK(strstr(err, "NUL") != NULL);
    /* Unknown keys, comments and odd spacing are fine. */
    CHECK_INT(parse_text("  <?xml version=\"1.0\"?><!-- c --><plist version=\"1.0\" >\n<dict>"
                         "<!-- x --><key>cpu_energyX</key><string>a&amp;b</string><key>k</key>"
                         "<date>d</date><key>z</key><data>AA==</data></dict ></plist>",
                         &s, &err), PW_OK);
}

static void nest(char *out, size_t cap, int arrays)
{
    size_t n = (size_t)snprintf(out, cap, "<plist><dict><key>a</key>");
    for (int i = 0; i < arrays; i++) n += (size_t)snprintf(out + n, cap - n, "<array>");
    for (int i = 0; i < arrays; i++) n += (size_t)snprintf(out + n, cap - n, "</array>");
    snprintf(out + n, cap - n, "</dict></plist>");
}

TEST(powermetrics_parser_bounds_nesting)
{
    static char text[64 * 1024];
    pw_pm_sample s;
    const char *err;
    nest(text, sizeof text, PW_PM_DEPTH_MAX);
    CHECK_INT(parse_text(text, &s, &err), PW_OK);
    nest(text, sizeof text, PW_PM_DEPTH_MAX + 1);
    CHECK_INT(parse_text(text, &s, &err), PW_ERR_FORMAT);
    CHECK_STR(err, "nested too deeply");
    nest(text, sizeof text, 4000);
    CHECK_INT(parse_text(text, &s, &err), PW_ERR_FORMAT);
}

/* Thousands of corrupted copies of a real sample: any answer but a crash or an overread. */
TEST(powermetrics_parser_survives_corruption)
{
    size_t len;
    char *d = first_doc(&len), *m = malloc(len);
    static const char specials[] = {'<', '>', '/', '\0', '"', '-', '.', 'e', '9', ' ', '!', '?'};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    CHECK(m != NULL);
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(m, d, len);
        size_t n = len;
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(x >> 33) % n;
            char ch = (x >> 20) & 1 ? specials[(x >> 8) % sizeof specials] : (char)(x >> 12);
            if ((x >> 4) % 5 == 0) n = at + 1;   /* truncate */
            m[at] = ch;
        }
        pw_pm_sample s;
        size_t used;
        const char *err;
        int rc = parse_exact(m, n, &s, &used, &err);
        CHECK(rc == PW_OK || rc == PW_PM_INCOMPLETE || rc == PW_ERR_FORMAT);
        for (int k = 0; rc == PW_OK && k < PW_PM_NDOMAINS; k++) {
            CHECK(s.energy_mj[k] >= 0 && s.energy_mj[k] <= 1e9);
            CHECK(s.power_mw[k] >= 0 && s.power_mw[k] <= 1e8);
        }
    }
    free(m);
    free(d);
}
