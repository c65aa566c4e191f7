/* test_python.c — the Python binding (bindings/python) recorded from outside with the
 * system python3: context manager, decorator, counters, errors, and the transformers
 * helper on a stand-in model with generate()'s call shape. */
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
    CHECK_MSG(strstr(out, "unbalanced: pw_end() with no open phase") ||
              strstr(out, "unbalanced:"), "stdout: %s", out);
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(a->nnodes, 6);   /* root, pre-inference, prefill, decode, post-inference/... */
    CHECK_INT(node(a, "pre-inference")->calls, 1);
    CHECK_INT(node(a, "prefill")->calls, 1);
    CHECK_INT(node(a, "prefill")->tokens_incl, 10);
    CHECK_INT(node(a, "decode")->calls, 5);
    CHECK_INT(node(a, "decode")->tokens_incl, 10);
    CHECK_INT(node(a, "post-inference/detokenize")->calls, 1);
    const pw_phase_node *pre = node(a, "prefill");
    CHECK_NEAR(pw_energy_total(t, pre->incl_j) / pre->duration_s, 30.0, 0.05);
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
