/* test_cli.c — the phasewatt command line: errors, help, and the simulate → report path
 * checked against the simulator's ground truth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf.h"
#include "trace/trace.h"

static int run_cli(const char *args, char **out, char **err)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "\"$PW\" %s", args);
    return tf_run(cmd, out, err);
}

/* One line on stderr that says what is wrong, and the expected exit code. */
static void expect_error(const char *args, int code, const char *needle)
{
    char *out = NULL, *err = NULL;
    int rc = run_cli(args, &out, &err);
    CHECK_MSG(rc == code, "'%s' exited %d, expected %d; stderr: %s", args, rc, code,
              err ? err : "");
    CHECK_MSG(err && strstr(err, needle), "'%s': stderr lacks '%s': %s", args, needle,
              err ? err : "(none)");
    CHECK_MSG(err && strchr(err, '\n') == strrchr(err, '\n'), "more than one line: %s", err);
    free(out);
    free(err);
}

TEST(cli_errors_are_one_line_with_exit_codes)
{
    expect_error("", 2, "usage");
    expect_error("frobnicate", 2, "unknown command 'frobnicate'");
    expect_error("report", 2, "exactly one trace file");
    expect_error("report /no/such/file.pwt", 1, "/no/such/file.pwt");
    expect_error("report --format xml x.pwt", 2, "unknown format 'xml'");
    expect_error("report --depth -3 x.pwt", 2, "--depth");
    expect_error("report --bogus x.pwt", 2, "unknown option --bogus");
    expect_error("record --interval 0 -o x.pwt", 2, "--interval");
    expect_error("record --source nothing -o x.pwt --no-report", 2, "unknown source 'nothing'");
    expect_error("record --source synthetic,nothing -o x.pwt --no-report", 2, "'nothing'");
    expect_error("serve --source nothing", 2, "unknown source 'nothing'");
    expect_error("record --scenario a.txt -- true", 2, "not both");
    /* the real error alone: no note about the sensors before it */
    expect_error("record -o /nonexistent/dir/x.pwt -- true", 1, "cannot write /nonexistent/dir/x.pwt");
    expect_error("simulate --scenario /no/such/scenario", 1, "/no/such/scenario");
    expect_error("sources extra", 2, "unexpected argument");
}

TEST(cli_report_rejects_non_trace)
{
    CHECK_INT(tf_write_file(tf_path("junk.pwt"), "hello, not a trace\n", 19), 0);
    CHECK_INT(tf_write_file(tf_path("empty.pwt"), "", 0), 0);
    expect_error("report junk.pwt", 1, "junk.pwt is not a phasewatt trace");
    expect_error("report /etc/passwd", 1, "/etc/passwd is not a phasewatt trace");
    expect_error("report empty.pwt", 1, "empty.pwt is empty: not a phasewatt trace");
    expect_error("report .", 1, ". is a directory, not a trace file");
    expect_error("export . --format csv", 1, ". is a directory, not a trace file");
    expect_error("plot junk.pwt -o x.html", 1, "junk.pwt is not a phasewatt trace");
    /* a trace cut inside its header is a damaged trace, not a foreign file */
    free(tf_run_expect("\"$PW\" simulate -o whole.pwt && head -c 12 whole.pwt > cut.pwt", 0, NULL));
    char *out = NULL, *err = NULL;
    CHECK_INT(tf_run("\"$PW\" report cut.pwt", &out, &err), 1);
    CHECK_MSG(err && strstr(err, "cut.pwt") && !strstr(err, "not a phasewatt trace"), "%s", err);
    free(out);
    free(err);
}

TEST(cli_bad_scenario_names_the_line)
{
    const char *bad = "phase a 1ms 10W\nphase b {\n  phase c 1ms\n}\n";
    CHECK_INT(tf_write_file(tf_path("bad.sc"), bad, strlen(bad)), 0);
    expect_error("simulate --scenario bad.sc -o o.pwt", 1, "line 3");
}

TEST(cli_help_and_version)
{
    const char *cmds[] = {"", "record ", "report ", "simulate ", "sources "};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[64], *out = NULL;
        snprintf(args, sizeof args, "%s--help", cmds[i]);
        CHECK_INT(run_cli(args, &out, NULL), 0);
        CHECK_MSG(out && strstr(out, "usage"), "%s: no usage text", args);
        free(out);
        snprintf(args, sizeof args, "%s--version", cmds[i]);
        CHECK_INT(run_cli(args, &out, NULL), 0);
        CHECK(out && strncmp(out, "phasewatt ", 10) == 0);
        free(out);
    }
}

/* The number after key inside the JSON object that contains "path":"<path>". */
static double phase_number(const char *json, const char *path, const char *key)
{
    char needle[256];
    snprintf(needle, sizeof needle, "\"path\":\"%s\"", path);
    const char *p = strstr(json, needle);
    CHECK_MSG(p != NULL, "phase '%s' missing from the JSON report", path);
    const char *end = strstr(p, "\"path\":");         /* the next phase object */
    end = end ? strstr(end + 1, "\"path\":") : NULL;
    const char *k = strstr(p, key);
    CHECK_MSG(k && (!end || k < end), "phase '%s' has no %s", path, key);
    return strtod(k + strlen(key), NULL);
}

static const char *accuracy_scenario =
    "# phases of at least 10 sample periods, RAPL-like counter, boundaries off the grid\n"
    "sensor period=1ms quantum=15.3uJ bits=32\n"
    "sample every=1ms\n"
    "background 5W\n"
    "lead 20.37ms\n"
    "phase pre-inference 40ms 12W\n"
    "phase prefill {\n"
    "  count tokens 64\n"
    "  repeat 4 {\n"
    "    phase attention 12ms 48W\n"
    "    phase mlp 15ms 61W\n"
    "  }\n"
    "}\n"
    "repeat 16 {\n"
    "  phase decode {\n"
    "    count tokens 1\n"
    "    phase attention 10ms 30W\n"
    "    phase mlp 12ms 36W\n"
    "  }\n"
    "}\n"
    "phase post-inference 25ms 9W\n";

TEST(cli_simulate_report_within_half_percent_of_truth)
{
    CHECK_INT(tf_write_file(tf_path("acc.sc"), accuracy_scenario, strlen(accuracy_scenario)), 0);
    char *out = NULL, *err = NULL;
    CHECK_INT(run_cli("simulate --scenario acc.sc -o sim.pwt", NULL, &err), 0);
    free(err);
    CHECK_INT(run_cli("report sim.pwt --format json", &out, NULL), 0);
    const char *paths[] = {"pre-inference", "prefill", "prefill/attention", "prefill/mlp",
                           "decode", "decode/attention", "decode/mlp", "post-inference"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        double got = phase_number(out, paths[i], "\"total\":");
        double truth = phase_number(out, paths[i], "\"true_energy_j\":");
        CHECK_MSG(truth > 0, "%s: no truth", paths[i]);
        CHECK_NEAR(got, truth, 0.005);
    }
    CHECK_NEAR(phase_number(out, "decode", "\"tokens\":"), 16, 0);
    CHECK_NEAR(phase_number(out, "prefill", "\"tokens\":"), 64, 0);
    free(out);
}

TEST(cli_samples_csv_has_the_seed_columns)
{
    char *out = NULL;
    CHECK_INT(run_cli("simulate -o sim.pwt", NULL, NULL), 0);
    CHECK_INT(run_cli("report sim.pwt --samples", &out, NULL), 0);
    CHECK(out && strncmp(out, "timestamp,cpu_power_mw,gpu_power_mw,ane_power_mw,dram_power_mw,"
                              "total_power_mw,phase\n", 78) == 0);
    CHECK(strstr(out, "decode") != NULL);
    free(out);
}

TEST(cli_record_synthetic_builtin_workload)
{
    char *out = NULL, *err = NULL;
    int rc = run_cli("record --source synthetic --interval 2ms -o r.pwt --format json "
                     "--depth 0", &out, &err);
    CHECK_MSG(rc == 0, "record failed (%d): %s", rc, err ? err : "");
    CHECK(out && strstr(out, "\"path\":\"prefill\"") && strstr(out, "\"path\":\"decode\""));
    CHECK(strstr(out, "\"path\":\"decode/attention\"") != NULL);
    double got = phase_number(out, "decode", "\"total\":");
    double truth = phase_number(out, "decode", "\"true_energy_j\":");
    /* 1 % when the sampler kept its period; a loaded machine that made it skip periods leaves
     * long intervals across the phases' ends, which the readings pin down less well */
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path("r.pwt"), &t), PW_OK);
    double tol = t && t->missed_deadlines == 0 ? 0.01 : 0.15;
    CHECK_MSG(fabs(got - truth) <= tol * truth, "decode %.6f J, truth %.6f J (%llu missed periods)",
              got, truth, t ? (unsigned long long)t->missed_deadlines : 0ull);
    pw_trace_close(t);
    CHECK(phase_number(out, "decode", "\"j_per_token\":") > 0);
    free(out);
    free(err);
}

TEST(cli_record_command_returns_its_exit_code)
{
    char *err = NULL;
    CHECK_INT(run_cli("record --source synthetic --synthetic a=1W -o c.pwt --no-report -- "
                      "sh -c 'exit 7'", NULL, &err), 7);
    free(err);
    CHECK_INT(run_cli("report c.pwt --format json", NULL, NULL), 0);
    CHECK_INT(run_cli("record --source synthetic --synthetic a=1W -o d.pwt --no-report -- "
                      "/no/such/program", NULL, &err), 127);
    CHECK(err && strstr(err, "/no/such/program"));
    free(err);
}

TEST(cli_record_estimate_when_no_sensor)
{
    char *out = NULL, *err = NULL;
    int rc = tf_run("PHASEWATT_SYSFS_ROOT=/nonexistent \"$PW\" record -o e.pwt --depth 1",
                    &out, &err);
    CHECK_INT(rc, 0);
    CHECK_MSG(err && strstr(err, "ESTIMATED"), "no estimate note: %s", err ? err : "");
    CHECK(out && strstr(out, "estimated"));
    free(out);
    free(err);
}

TEST(cli_sources_lists_backends)
{
    char *out = NULL;
    CHECK_INT(run_cli("sources", &out, NULL), 0);
    CHECK(out && strstr(out, "estimate") && strstr(out, "synthetic"));
    free(out);
    CHECK_INT(run_cli("sources --json", &out, NULL), 0);
    CHECK(out && out[0] == '{' && strstr(out, "\"name\":\"estimate\""));
    free(out);
}
