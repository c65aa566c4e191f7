/* test_python.c — the Python binding (bindings/python): a tagged script recorded from
 * outside and on its own, read back with the C reader; then the Python suites in
 * tests/python (tags, sessions, results, package, PyTorch, Hugging Face, the docs' example),
 * each run by tests/python/pwtest.py and skipped with its reason where it cannot run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/attribute.h"
#include "phasewatt.h"
#include "tf.h"
#include "trace/trace.h"

/* A sanitizer-built libphasewatt.so cannot be loaded into python3 without preloading the
 * sanitizer runtime; the plain run covers the binding. */
static void skip_unless_plain_python(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    tf_skip("python3 cannot load a sanitizer-built libphasewatt.so (plain build covers it)");
#endif
    if (tf_run("command -v python3", NULL, NULL) != 0) tf_skip("no python3 on this machine");
}

static const pw_phase_node *node(const pw_attribution *a, const char *path)
{
    int i = pw_attribution_find(a, path);
    CHECK_MSG(i >= 0, "no phase %s", path);
    return &a->nodes[i];
}

TEST(python_binding_records_phases_and_tokens_through_the_channel)
{
    skip_unless_plain_python();
    char cmd[2048], *out = NULL, *err = NULL;
    const char *path = tf_path("py.pwt");
    snprintf(cmd, sizeof cmd,
             "PYTHONPATH=%s/bindings/python PHASEWATT_LIBRARY=%s/lib/libphasewatt.so "
             "\"$PW\" record -o %s --no-report --quiet --source synthetic "
             "--synthetic prefill=30W,decode=10W --interval 1 -- python3 %s/tests/python/generate_stand_in.py",
             PW_SOURCE_DIR, PW_BUILD_DIR, path, PW_SOURCE_DIR);
    int rc = tf_run(cmd, &out, &err);
    CHECK_MSG(rc == 0, "exit %d; stderr: %s", rc, err);
    CHECK_MSG(strstr(out, "unbalanced ends: 1"), "stdout: %s", out);
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(a->nnodes, 6);   /* root, pre-inference, prefill, decode, post-inference/... */
    CHECK_INT(node(a, "pre-inference")->calls, 1);
    CHECK_INT(node(a, "prefill")->calls, 1);
    CHECK_INT(node(a, "prefill")->tokens_incl, 10);
    CHECK_INT(node(a, "decode")->calls, 5);
    CHECK_INT(node(a, "decode")->tokens_incl, 12);    /* the 6 generated per sequence */
    CHECK_INT(node(a, "post-inference/detokenize")->calls, 1);
    /* against the synthetic source's own truth, loosely: a real-time run on a loaded machine
     * (check-stress) moves the tags against the reads; accuracy is the virtual-time tests' */
    const pw_phase_node *pre = node(a, "prefill");
    const pw_truth *truth = pw_trace_find_truth(t, "prefill");
    CHECK(truth != NULL);
    double got = pw_energy_total(t, pre->incl_j), ci = pre->incl_ci_j[0];
    CHECK_MSG(fabs(got - truth->energy_j) <= 0.15 * truth->energy_j ||
              fabs(got - truth->energy_j) <= ci, "prefill %.4f J ± %.4f, true %.4f J", got, ci,
              truth->energy_j);
    CHECK_INT(t->ntracks, 1);
    CHECK_STR(t->tracks[0].name, "generate-loop");      /* phasewatt.track_name */
    pw_attribution_free(a);
    pw_trace_close(t);
    free(out);
    free(err);
}

TEST(python_binding_records_on_its_own_with_open_and_close)
{
    skip_unless_plain_python();
    char cmd[2048], *err = NULL;
    const char *path = tf_path("own.pwt");
    snprintf(cmd, sizeof cmd,
             "PYTHONPATH=%s/bindings/python PHASEWATT_LIBRARY=%s/lib/libphasewatt.so python3 -c '"
             "import phasewatt, time\n"
             "phasewatt.open(\"%s\", sources=\"synthetic\", quiet=True)\n"
             "phasewatt.set_meta(\"model.arch\", \"stand-in\")\n"
             "with phasewatt.phase(\"prefill\"):\n    phasewatt.count(\"tokens\", 3); time.sleep(0.01)\n"
             "phasewatt.close()\n'", PW_SOURCE_DIR, PW_BUILD_DIR, path);
    int rc = tf_run(cmd, NULL, &err);
    CHECK_MSG(rc == 0, "exit %d; stderr: %s", rc, err);
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(node(a, "prefill")->tokens_incl, 3);
    CHECK_STR(pw_trace_meta(t, "model.arch"), "stand-in");
    pw_attribution_free(a);
    pw_trace_close(t);
    free(err);
}

/* The interpreter for the suites: PHASEWATT_TEST_PYTHON, else the first of python3 and
 * /usr/bin/python3 (where Debian's python3-torch installs) that has PyTorch, else python3. */
static const char *suite_python(void)
{
    const char *env = getenv("PHASEWATT_TEST_PYTHON");
    if (env && *env) return env;
    if (tf_run("python3 -c 'import torch' 2>/dev/null", NULL, NULL) == 0) return "python3";
    if (tf_run("/usr/bin/python3 -c 'import torch' 2>/dev/null", NULL, NULL) == 0)
        return "/usr/bin/python3";
    return "python3";
}

/* Runs tests/python/FILE through its runner (pwtest.py): 0 passed, 77 skipped with the
 * reason on stdout ("SKIP why"), else a failure whose output is shown. */
static void run_suite(const char *file)
{
    skip_unless_plain_python();
    char cmd[4096], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd,
             "cd %s/tests/python && PYTHONPATH=%s/bindings/python:%s/tests/python "
             "PHASEWATT_LIBRARY=%s/lib/libphasewatt.so PHASEWATT_CLI=%s/bin/phasewatt "
             "PW_TEST_TMP=%s PYTHONDONTWRITEBYTECODE=1 %s %s",
             PW_SOURCE_DIR, PW_SOURCE_DIR, PW_SOURCE_DIR, PW_BUILD_DIR, PW_BUILD_DIR,
             tf_path("py"), suite_python(), file);
    int rc = tf_run(cmd, &out, &err);
    if (rc == 77) {
        static char why[256];
        const char *s = out ? strstr(out, "SKIP ") : NULL;
        snprintf(why, sizeof why, "%s: %s", file, s ? s + 5 : "skipped");
        why[strcspn(why, "\n")] = '\0';
        free(out);
        free(err);
        tf_skip(why);
    }
    CHECK_MSG(rc == 0, "%s failed (exit %d):\n%s\nstderr:\n%s", file, rc, out ? out : "",
              err ? err : "");
    free(out);
    free(err);
}

TEST(python_tags_sessions_results_and_package) { run_suite("test_binding.py"); }
TEST(python_pytorch_instrument_on_a_real_model) { run_suite("test_torch.py"); }
TEST(python_hugging_face_generate_cases) { run_suite("test_hf.py"); }
TEST(python_docs_example_runs_as_written) { run_suite("test_docs.py"); }
