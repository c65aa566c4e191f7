/* test_abi.c — the libraries' boundary: each .so exports exactly the functions its header
 * marks PW_API (tools/abi-list), the runtime and the NVTX tool carry no analysis code, the
 * library reports the header's version, the sized structs, the log callback, the per-thread
 * pw_open_error and PHASEWATT_DISABLE. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "phasewatt.h"
#include "core/channel.h"
#include "tf.h"

#define LIB PW_BUILD_DIR "/lib/"

/* The sorted names `cmd` prints, one a line; the malloc'd output. */
static char *names_of(const char *cmd)
{
    char full[2048];
    snprintf(full, sizeof full, "%s | LC_ALL=C sort -u", cmd);
    return tf_run_expect(full, 0, NULL);
}

/* The library's dynamic symbols equal its header's PW_API functions, line for line. */
static void check_exports(const char *so, const char *header)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only --format=posix '%s' | cut -d' ' -f1", so);
    char *exported = names_of(cmd);
    snprintf(cmd, sizeof cmd, "'%s/tools/abi-list' '%s'", PW_SOURCE_DIR, header);
    char *declared = names_of(cmd);
    CHECK_MSG(strcmp(exported, declared) == 0, "%s exports\n%s\nbut %s declares\n%s", so,
              exported, header, declared);
    free(exported);
    free(declared);
}

TEST(abi_runtime_library_exports_exactly_phasewatt_h)
{
    check_exports(LIB "libphasewatt.so", PW_SOURCE_DIR "/include/phasewatt.h");
    /* not vacuous: the list holds the tag calls, and no internal name */
    char *out = names_of("nm -D --defined-only --format=posix '" LIB "libphasewatt.so'");
    CHECK(strstr(out, "pw_begin ") && strstr(out, "pw_version "));
    CHECK_MSG(!strstr(out, "pw_g_recording"), "an internal global is exported: %s", out);
    free(out);
}

TEST(abi_analysis_library_exports_exactly_phasewatt_analysis_h)
{
    check_exports(LIB "libphasewatt-analysis.so", PW_SOURCE_DIR "/include/phasewatt-analysis.h");
}

/* Global functions of the analysis archive found in a library's full symbol table (local
 * ones included): none may be, as the runtime links no analysis, plot or sim code. */
static void check_no_analysis_in(const char *so)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "nm --defined-only --format=posix '" LIB "libphasewatt-analysis.a' 2>/dev/null | "
             "awk '$2 == \"T\" { print $1 }' | LC_ALL=C sort -u > analysis.txt && "
             "test -s analysis.txt && nm --defined-only --format=posix '%s' | "
             "awk '{ print $1 }' | LC_ALL=C sort -u > lib.txt && "
             "LC_ALL=C comm -12 analysis.txt lib.txt", so);
    char *both = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(both[0] == '\0', "%s holds analysis code:\n%s", so, both);
    free(both);
}

TEST(abi_runtime_and_nvtx_tool_hold_no_analysis_code)
{
    check_no_analysis_in(LIB "libphasewatt.so");
    check_no_analysis_in(LIB "libphasewatt-nvtx.so");
}

TEST(abi_library_version_is_the_headers)
{
    CHECK_STR(pw_version(), PW_VERSION_STRING);
    CHECK_INT(pw_version_number(), PW_VERSION_NUMBER);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", PW_VERSION_MAJOR, PW_VERSION_MINOR, PW_VERSION_PATCH);
    CHECK_STR(pw_version(), want);
}

/* ---- structs that can grow ---------------------------------------------------------------- */

TEST(abi_sized_structs_refuse_an_unknown_small_size_and_zero_a_newer_tail)
{
    pw_stats tiny = {.size = sizeof(size_t)};
    CHECK_INT(pw_get_stats(&tiny), PW_ERR_INVALID);
    /* a caller built with a larger, newer pw_stats: the part this library knows, then zeros */
    struct { pw_stats st; unsigned char newer[16]; } big;
    memset(&big, 0xAB, sizeof big);
    big.st.size = sizeof big;
    CHECK_INT(pw_get_stats(&big.st), PW_OK);
    CHECK_INT(big.st.size, sizeof big);
    CHECK_INT(big.st.samples, 0);   /* no session yet in this process */
    for (size_t i = 0; i < sizeof big.newer; i++) CHECK_INT(big.newer[i], 0);

    pw_options o;
    pw_options_init(&o);
    CHECK_INT(o.size, sizeof o);
    o.output_path = tf_path("never.pwt");
    o.size = 0;
    CHECK_INT(pw_open(&o), PW_ERR_INVALID);
    CHECK_MSG(strstr(pw_open_error(), "pw_options.size"), "%s", pw_open_error());
}

TEST(abi_trace_structs_take_their_size_from_the_caller)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = tf_path("sized.pwt");
    o.sources = "synthetic";
    o.synthetic = "work=10W";
    o.quiet = 1;
    CHECK_INT(pw_open(&o), PW_OK);
    CHECK_INT(pw_close(), PW_OK);
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(o.output_path, &t), PW_OK);
    CHECK(pw_trace_domain_count(t) > 0);
    pw_domain_info d = {.size = 1};
    CHECK_INT(pw_trace_domain(t, 0, &d), PW_ERR_INVALID);
    d.size = sizeof d;
    CHECK_INT(pw_trace_domain(t, 0, &d), PW_OK);
    CHECK(d.name && d.name[0] && d.samples > 0);
    pw_trace_health h = {.size = 0};
    CHECK_INT(pw_trace_get_health(t, &h), PW_ERR_INVALID);
    h.size = sizeof h;
    CHECK_INT(pw_trace_get_health(t, &h), PW_OK);
    CHECK_INT(h.complete, 1);
    CHECK_INT(h.size, sizeof h);
    pw_trace_close(t);
}

/* ---- pw_open_error is each thread's own ----------------------------------------------------- */

static void *open_badly(void *arg)
{
    pw_options o;
    pw_options_init(&o);
    o.size = 1;
    CHECK_INT(pw_open(&o), PW_ERR_INVALID);
    snprintf(arg, 256, "%s", pw_open_error());
    return NULL;
}

TEST(abi_open_error_is_the_calling_threads)
{
    char theirs[256] = "";
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, open_badly, theirs), 0);
    pthread_join(th, NULL);
    CHECK_MSG(strstr(theirs, "pw_options.size"), "the failing thread read '%s'", theirs);
    CHECK_STR(pw_open_error(), "");   /* this thread's pw_open did not fail */
}

/* ---- the log callback ----------------------------------------------------------------------- */

typedef struct {
    int calls, level;
    char msg[512];
} heard;

static void hear(int level, const char *msg, void *ctx)
{
    heard *h = ctx;
    h->calls++;
    h->level = level;
    snprintf(h->msg, sizeof h->msg, "%s", msg);
}

/* A bad channel variable is said as a warning: to the callback, not stderr, once. */
TEST(abi_log_callback_gets_the_librarys_messages)
{
    heard h = {0, -1, ""};
    pw_set_log(hear, &h);
    setenv(PW_CHANNEL_ENV, tf_path("no-such-channel"), 1);
    CHECK_INT(pw_channel_child_active(), 0);
    pw_set_log(NULL, NULL);
    unsetenv(PW_CHANNEL_ENV);
    CHECK_INT(h.calls, 1);
    CHECK_INT(h.level, PW_LOG_WARN);
    CHECK_MSG(strstr(h.msg, "no-such-channel") && strstr(h.msg, "not recorded") &&
              !strchr(h.msg, '\n') && strncmp(h.msg, "phasewatt:", 10) != 0, "%s", h.msg);
}

static void *tag_in_a_thread(void *arg)
{
    *(int *)arg = pw_begin_name("in-a-thread");
    return NULL;
}

/* A thread left untagged for want of memory is said at once by a loud session (test_faults);
 * a quiet one lets no message through, to the callback or anywhere. */
TEST(abi_quiet_session_silences_the_librarys_messages)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    tf_skip("address-space limits and sanitizer shadow memory do not mix");
#endif
    pid_t pid = fork();
    if (pid == 0) {
        heard h = {0, -1, ""};
        pw_set_log(hear, &h);
        pw_options o;
        pw_options_init(&o);
        o.output_path = tf_path("quiet.pwt");
        o.sources = "synthetic";
        o.ring_events = 1u << 26;          /* 1.5 GB per thread's ring: refused below */
        o.quiet = 1;
        if (pw_open(&o) != PW_OK) _exit(10);
        struct rlimit lim = {1ul << 30, 1ul << 30};
        getrlimit(RLIMIT_AS, &lim);
        lim.rlim_cur = 1ul << 30;
        setrlimit(RLIMIT_AS, &lim);
        int rc = 0;
        pthread_t th;
        if (pthread_create(&th, NULL, tag_in_a_thread, &rc) != 0) _exit(11);
        pthread_join(th, NULL);
        if (rc != PW_ERR_NOMEM) _exit(12);
        _exit(pw_close() != PW_OK ? 13 : h.calls ? 14 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d (exit 14: a message got through)",
              st);
}

/* ---- PHASEWATT_DISABLE ---------------------------------------------------------------------- */

static const char tagged_program[] =
    "#include <phasewatt.h>\n"
    "static void work(void) { PW_SCOPE(\"decode\"); pw_count_name(\"tokens\", 1); }\n"
    "int main(void)\n{\n"
    "    pw_options o;\n    pw_options_init(&o);\n    o.output_path = \"off.pwt\";\n"
    "    pw_set_log(0, 0);\n"
    "    if (pw_open(&o) != PW_OK) return 1;\n"
    "    pw_id prefill = pw_phase_id(\"prefill\");\n"
    "    if (!prefill || pw_begin(prefill) != PW_OK) return 2;\n"
    "    pw_mark(pw_phase_id(\"first-token\"));\n    pw_track_name(\"main\");\n"
    "    if (pw_end() != PW_OK) return 3;\n    work();\n"
    "    pw_stats st = {.size = sizeof st};\n"
    "    if (pw_get_stats(&st) != PW_OK || pw_close() != PW_OK) return 4;\n"
    "    return 0;\n}\n";

TEST(abi_phasewatt_disable_leaves_no_phasewatt_symbol_in_a_tagged_program)
{
    CHECK_INT(tf_write_file(tf_path("tagged.c"), tagged_program, strlen(tagged_program)), 0);
    const char *cc = "${CC:-cc} -std=c11 -Wall -Wextra -Werror -I'" PW_SOURCE_DIR "/include' ";
    char cmd[2048];
    /* tagging: the program references the library's functions */
    snprintf(cmd, sizeof cmd, "%s -c tagged.c -o on.o && nm -u on.o | grep -c ' pw_'", cc);
    char *on = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(atoi(on) >= 8, "tagged.o references %s pw_ functions", on);
    free(on);
    /* compiled out: not one, and it links and runs without the library */
    snprintf(cmd, sizeof cmd, "%s -DPHASEWATT_DISABLE -o off tagged.c && "
             "nm -u off | grep -i -e pw_ -e phasewatt; test $? = 1 && ./off && ! test -e off.pwt",
             cc);
    free(tf_run_expect(cmd, 0, NULL));
}
