/* test_tf.c — the test runner itself, run as a program on its own hidden selftest_ tests
 * (the runner runs those only when named): a timed-out test's whole process group is
 * killed, tf_run_expect names its caller's line, and every test starts with default signal
 * dispositions however the runner was started. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tf.h"

#define RUNNER "\"" PW_BUILD_DIR "/bin/phasewatt-tests\""

/* ---- the hidden tests the runner is run on ---------------------------------------------- */

TEST(selftest_hangs_with_a_child_in_its_group)
{
    const char *pidfile = getenv("TF_SELFTEST_PIDFILE");
    if (!pidfile) tf_skip("run by runner_kills_a_timed_out_tests_whole_process_group");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "sleep 1000 & echo $! > '%s'; wait", pidfile);
    tf_run(cmd, NULL, NULL);   /* never returns: the runner's timeout ends it */
}

TEST(selftest_run_expect_fails)
{
    free(tf_run_expect("exit 3", 0, NULL));
}

TEST(selftest_signals_are_default)
{
    const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGCHLD, SIGTERM};
    sigset_t blocked;
    sigprocmask(SIG_BLOCK, NULL, &blocked);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        sigaction(sigs[i], NULL, &sa);
        CHECK_MSG(sa.sa_handler == SIG_DFL, "signal %d not default", sigs[i]);
        CHECK_MSG(!sigismember(&blocked, sigs[i]), "signal %d blocked", sigs[i]);
    }
}

/* ---- the tests of the runner -------------------------------------------------------------- */

TEST(runner_kills_a_timed_out_tests_whole_process_group)
{
    const char *pidfile = tf_path("child.pid");
    char cmd[1200], *out;
    snprintf(cmd, sizeof cmd, "TF_TIMEOUT_S=1 TF_SELFTEST_PIDFILE='%s' " RUNNER
             " -j1 selftest_hangs_with_a_child_in_its_group", pidfile);
    out = tf_run_expect(cmd, 1, NULL);
    CHECK_MSG(strstr(out, "timed out after 1 s") && strstr(out, "\n0 passed, 1 failed\n"), "%s", out);
    free(out);
    char *pid_text = tf_read_file(pidfile, NULL);
    CHECK_MSG(pid_text && atoi(pid_text) > 0, "the hanging test never started its child");
    pid_t child = (pid_t)atoi(pid_text);
    free(pid_text);
    /* killed with its group: gone once init has reaped it (how soon is the machine's business) */
    char stat[64];
    snprintf(stat, sizeof stat, "/proc/%d/stat", (int)child);
    for (char *s; (s = tf_read_file(stat, NULL)) != NULL; free(s)) {
        const char *state = strrchr(s, ')');
        if (state && state[1] == ' ' && state[2] == 'Z') { free(s); break; }   /* dead, unreaped */
        usleep(10000);
    }
}

TEST(runner_reports_tf_run_expect_failures_at_the_callers_line)
{
    char *out = tf_run_expect(RUNNER " selftest_run_expect_fails", 1, NULL);
    CHECK_MSG(strstr(out, "tests/test_tf.c:") && strstr(out, "`exit 3` exited 3, not 0"), "%s", out);
    CHECK_MSG(!strstr(out, "tests/tf.c:"), "the runner's own line, not the caller's: %s", out);
    free(out);
}

TEST(runner_gives_tests_default_signals_when_started_with_them_ignored)
{
    char *out = tf_run_expect("trap '' HUP INT QUIT PIPE; " RUNNER " selftest_signals_are_default", 0, NULL);
    CHECK_MSG(strstr(out, "\n1 passed, 0 failed\n") || strncmp(out, "ok", 2) == 0, "%s", out);
    free(out);
}

TEST(runner_fails_when_no_test_matches_and_on_a_bad_job_count)
{
    char *out = tf_run_expect(RUNNER " no-test-has-this-name", 1, NULL);
    CHECK_MSG(strstr(out, "0 passed, 0 failed"), "%s", out);
    free(out);
    out = tf_run_expect(RUNNER " -j 0 x 2>&1", 2, NULL);
    CHECK_MSG(strstr(out, "-j wants a whole number"), "%s", out);
    free(out);
}
