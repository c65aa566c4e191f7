/* test_valgrind.c — the CLI round-trip (simulate, report, export, plot, record) under
 * valgrind memcheck: every command exits 0 with no memory error and no definite leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tf.h"

/* gcc says __SANITIZE_*__; clang 14 says only __has_feature for TSan. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* Leaks count only when definite or indirect: the sampler thread's stack and libc's
 * one-time buffers show as "still reachable" or "possibly lost", which is not ours. */
#define VALGRIND "valgrind --error-exitcode=99 --leak-check=full " \
                 "--errors-for-leak-kinds=definite,indirect --trace-children=no -q "

/* Runs `phasewatt ARGS` under valgrind (tf_run works in the test's directory); fails on any
 * exit but 0, showing valgrind's report (99 is its own exit code for an error it found). */
static void memcheck(const char *args)
{
    char cmd[1024], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, VALGRIND "\"$PW\" %s", args);
    int rc = tf_run(cmd, &out, &err);
    CHECK_MSG(rc == 0, "`phasewatt %s` under valgrind exited %d%s:\n%s", args, rc,
              rc == 99 ? " (a memory error or leak)" : "", err ? err : "");
    free(out);
    free(err);
}

TEST(valgrind_cli_round_trip)
{
#ifdef UNDER_SANITIZER
    /* A sanitizer's runtime and valgrind both take over malloc and the address space. */
    tf_skip("valgrind does not run sanitizer-built programs (the plain build covers it)");
#endif
    if (tf_run("command -v valgrind", NULL, NULL) != 0)
        tf_skip("valgrind is not installed (tools/install-deps optional installs it)");
    memcheck("simulate -o X.pwt");
    memcheck("report X.pwt");
    memcheck("report X.pwt --format json");
    memcheck("export X.pwt --format perfetto -o Y.pftrace");
    memcheck("export X.pwt --format perfetto-json -o Y.json");
    memcheck("plot X.pwt -o Z.html");
    /* record starts a sampler thread and the command as a child, which runs unwatched */
    memcheck("record --source synthetic --interval 1 -o R.pwt -- sleep 0.3");
    memcheck("report R.pwt");
    char *json = tf_read_file(tf_path("Y.json"), NULL);
    CHECK_MSG(json && strstr(json, "traceEvents"), "the Perfetto export has no traceEvents");
    free(json);
}
