/* test_nvtx.c — `phasewatt record --nvtx -- CMD` on a program annotated with NVTX only,
 * built against the CUDA toolkit's nvtx3 headers (skipped where they are absent) and against
 * the tests' own NVTX client side (tests/nvtx/nvtx_client.h), which every machine can build. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/attribute.h"
#include "phasewatt.h"
#include "tf.h"
#include "trace/trace.h"

#define NVTX_HEADERS "/usr/local/cuda/include"

static const pw_phase_node *node(const pw_attribution *a, const char *path)
{
    int i = pw_attribution_find(a, path);
    CHECK_MSG(i >= 0, "no phase %s", path);
    return &a->nodes[i];
}

static const pw_track *track_named(const pw_trace *t, const char *name)
{
    for (size_t i = 0; i < t->ntracks; i++)
        if (t->tracks[i].name && !strcmp(t->tracks[i].name, name)) return &t->tracks[i];
    for (size_t i = 0; i < t->ntracks; i++)
        fprintf(stderr, "track %zu: %s\n", i, t->tracks[i].name ? t->tracks[i].name : "(none)");
    return NULL;
}

/* Builds nvtx_app.c as tf_path(name), against the CUDA toolkit's headers or (own) the
 * tests' client side. */
static const char *build_app(const char *name, int own)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* a sanitizer-built tool library cannot load into an uninstrumented program */
    tf_skip("NVTX injection runs in the plain build only (sanitizer runtime not preloaded)");
#endif
    if (!own && access(NVTX_HEADERS "/nvtx3/nvToolsExt.h", R_OK) != 0)
        tf_skip("no NVTX v3 headers at " NVTX_HEADERS "/nvtx3 (CUDA toolkit not installed); "
                "nvtx_ranges_through_the_tests_own_nvtx_client_become_phases runs without them");
    const char *app = tf_path(name);
    char cmd[2048], *err = NULL;
    snprintf(cmd, sizeof cmd, "${CC:-cc} %s%s -o %s %s/tests/nvtx/nvtx_app.c -ldl -pthread",
             own ? "-DPW_NVTX_OWN_CLIENT -I" PW_SOURCE_DIR "/tests/nvtx" : "-I", own ? "" : NVTX_HEADERS,
             app, PW_SOURCE_DIR);
    int rc = tf_run(cmd, NULL, &err);
    CHECK_MSG(rc == 0, "cannot build the NVTX program: %s", err);
    free(err);
    return app;
}

/* Records app under --nvtx and checks every kind of range became its phase. */
static void check_nvtx_phases(const char *app)
{
    char cmd[2048], *err = NULL;
    const char *path = tf_path("nvtx.pwt");
    snprintf(cmd, sizeof cmd, "PHASEWATT_NVTX_LIBRARY=%s/lib/libphasewatt-nvtx.so \"$PW\" "
             "record --nvtx --no-report --quiet --source synthetic --synthetic "
             "prefill=40W,attention=20W --interval 1 -o %s -- %s", PW_BUILD_DIR, path, app);
    int rc = tf_run(cmd, NULL, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    pw_trace *t = NULL;
    pw_attribution *a = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    CHECK_INT(a->nnodes, 7);   /* root + the six below */
    CHECK_INT(node(a, "prefill")->calls, 1);              /* nvtxRangePushA */
    CHECK_INT(node(a, "decode")->calls, 3);               /* nvtxRangePushW */
    CHECK_INT(node(a, "decode/attention")->calls, 3);     /* nvtxRangePushEx, ASCII */
    CHECK_INT(node(a, "sampling")->calls, 1);             /* domain push, registered string */
    CHECK_INT(node(a, "post-inference")->calls, 1);       /* nvtxRangeStartA/End */
    CHECK_INT(node(a, "expert")->calls, 1);               /* the worker thread's range */
    CHECK_INT(t->ntracks, 2);
    CHECK_STR(track_named(t, "engine") ? "found" : NULL, "found");            /* main */
    CHECK_STR(track_named(t, "worker-1 [engine]") ? "found" : NULL, "found");  /* worker */
    /* The synthetic source powered the NVTX range at the rate named for it: its exact truth,
     * whatever the load (how closely 1 ms readings follow a 5 ms range is the sampler's
     * business, measured in bench/, not here). */
    const pw_truth *truth = pw_trace_find_truth(t, "prefill");
    CHECK_MSG(truth != NULL, "no truth for prefill");
    CHECK_NEAR(truth->energy_j / truth->duration_s, 40.0, 1e-6);
    CHECK(pw_energy_total(t, node(a, "prefill")->incl_j) > 0);
    size_t marks = 0;
    for (size_t i = 0; i < t->ntracks; i++)
        for (size_t e = 0; e < t->tracks[i].n; e++) marks += t->tracks[i].events[e].type == PW_EV_MARK;
    CHECK_INT(marks, 1);                                  /* nvtxMarkA */
    pw_attribution_free(a);
    pw_trace_close(t);
    free(err);
}

TEST(nvtx_ranges_of_an_unmodified_program_become_phases)
{
    check_nvtx_phases(build_app("nvtx_app", 0));
}

TEST(nvtx_ranges_through_the_tests_own_nvtx_client_become_phases)
{
    check_nvtx_phases(build_app("nvtx_app_own", 1));
}

/* Without a tool to load, the client's calls do nothing and the program runs as before. */
TEST(nvtx_own_client_without_a_tool_runs_the_program_unchanged)
{
    const char *app = build_app("nvtx_app_own", 1);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "env -u NVTX_INJECTION64_PATH %s && NVTX_INJECTION64_PATH=/nonexistent.so %s", app, app);
    free(tf_run_expect(cmd, 0, NULL));
}

TEST(nvtx_without_the_library_is_a_clear_error)
{
    char *err = NULL;
    int rc = tf_run("PHASEWATT_NVTX_LIBRARY=/nonexistent/libphasewatt-nvtx.so \"$PW\" record "
                    "--nvtx -- true", NULL, &err);
    CHECK_INT(rc, 1);
    CHECK_MSG(strstr(err, "/nonexistent/libphasewatt-nvtx.so"), "stderr: %s", err);
    free(err);
}
