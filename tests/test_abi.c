/* test_abi.c — the libraries' boundary: each .so exports exactly the functions its header
 * marks PW_API (tools/abi-list), the runtime and the NVTX tool carry no analysis code, and
 * the library reports the header's version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phasewatt.h"
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
