/* test_install.c — the first steps of a new user: `make install` into a staged tree, the
 * README's C example built with pkg-config against it and run, and `make check` refusing
 * to pass when a part it promises (here the fuzzers) cannot run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phasewatt.h"
#include "tf.h"
#include "trace/trace.h"

/* make, without the jobserver of a make check that may be running this suite */
#define MAKE "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C '" PW_SOURCE_DIR "' "

/* The README's ```c block as a program: its #include lines on top, the rest in main(), with
 * the two names it leaves to the reader defined. Returns the malloc'd source. */
static char *readme_example(void)
{
    char *readme = tf_read_file(PW_SOURCE_DIR "/README.md", NULL);
    CHECK(readme != NULL);
    char *code = strstr(readme, "```c\n");
    CHECK_MSG(code != NULL, "README.md has no C example");
    code += 5;
    char *end = strstr(code, "```");
    CHECK(end != NULL);
    *end = '\0';
    size_t cap = strlen(code) + 512, n = 0;
    char *src = malloc(cap);
    CHECK(src != NULL);
    char *body = code;
    while (strncmp(body, "#include", 8) == 0) body = strchr(body, '\n') + 1;
    n += (size_t)snprintf(src + n, cap - n, "%.*s", (int)(body - code), code);
    n += (size_t)snprintf(src + n, cap - n, "static void attention(void) {}\n"
                          "int main(void)\n{\n    int n_prompt_tokens = 7;\n%s    return 0;\n}\n",
                          body);
    free(readme);
    return src;
}

TEST(install_staged_tree_builds_and_runs_the_readme_example_with_pkg_config)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    tf_skip("make install installs the plain build; the sanitizer trees are not installable");
#endif
    if (tf_run("command -v pkg-config", NULL, NULL) != 0) tf_skip("pkg-config is not installed");
    char cmd[4096], *out;
    snprintf(cmd, sizeof cmd, MAKE "BUILD='%s' install DESTDIR='%s' PREFIX=/opt/phasewatt",
             PW_BUILD_DIR, tf_path("root"));
    out = tf_run_expect(cmd, 0, NULL);
    CHECK_MSG(strstr(out, "LD_LIBRARY_PATH=/opt/phasewatt/lib"), "no word on the loader: %s", out);
    free(out);
    /* the usual names: .so and .so.0 lead to the file .so.VERSION */
    free(tf_run_expect("cd root/opt/phasewatt/lib && v=libphasewatt.so." PW_VERSION_STRING " && "
                       "test -f $v && ! test -L $v && "
                       "test \"$(readlink -f libphasewatt.so)\" = \"$PWD/$v\" && "
                       "test \"$(readlink -f libphasewatt.so.0)\" = \"$PWD/$v\"", 0, NULL));
    /* and the analysis library beside it, found by its own pkg-config name */
    free(tf_run_expect("cd root/opt/phasewatt/lib && v=libphasewatt-analysis.so." PW_VERSION_STRING
                       " && test -f $v && test \"$(readlink -f libphasewatt-analysis.so.0)\" = "
                       "\"$PWD/$v\" && test -f libphasewatt-analysis.a", 0, NULL));
    out = tf_run_expect("PKG_CONFIG_LIBDIR=\"$PWD/root/opt/phasewatt/lib/pkgconfig\" "
                        "pkg-config --libs phasewatt-analysis | tr ' ' '\\n' | "
                        "grep -c -x -e -lphasewatt-analysis -e -lphasewatt", 0, NULL);
    CHECK_MSG(atoi(out) == 2, "phasewatt-analysis.pc links %s of the two libraries", out);
    free(out);
    char *src = readme_example();
    CHECK_INT(tf_write_file(tf_path("example.c"), src, strlen(src)), 0);
    free(src);
    free(tf_run_expect("export PKG_CONFIG_SYSROOT_DIR=\"$PWD/root\" "
                       "PKG_CONFIG_LIBDIR=\"$PWD/root/opt/phasewatt/lib/pkgconfig\"; "
                       "${CC:-cc} -o example example.c $(pkg-config --cflags --libs phasewatt)", 0, NULL));
    free(tf_run_expect("LD_LIBRARY_PATH=\"$PWD/root/opt/phasewatt/lib\" ./example", 0, NULL));
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(tf_path("run.pwt"), &t), PW_OK);
    int prefill = 0, attention = 0;
    for (size_t i = 0; i < t->nnames; i++) {
        prefill |= t->names[i] && strcmp(t->names[i], "prefill") == 0;
        attention |= t->names[i] && strcmp(t->names[i], "attention") == 0;
    }
    CHECK_MSG(prefill && attention, "the example's phases are not in its trace");
    pw_trace_close(t);
}

/* Every part but the one under test skipped, so the machine's other gaps do not matter. */
#define ALL_BUT_FUZZ "test,clang,lint,asan,tsan,browser,valgrind,prometheus,python"

TEST(check_fails_in_one_line_without_the_fuzzer_runtime_unless_skipped_by_name)
{
    char *err = NULL;
    char *out = tf_run_expect("cd '" PW_SOURCE_DIR "' && CHECK_DRY=1 SKIP=" ALL_BUT_FUZZ
                              " FUZZ_RUNTIME=/nonexistent/libclang_rt.fuzzer.a tools/check", 1, &err);
    CHECK_MSG(strstr(err, "cannot run fuzz") && strstr(err, "/nonexistent/libclang_rt.fuzzer.a") &&
              strstr(err, "SKIP=fuzz"), "%s", err);
    CHECK_MSG(strchr(err, '\n') == strrchr(err, '\n'), "more than one line: %s", err);
    free(out);
    free(err);
    out = tf_run_expect("cd '" PW_SOURCE_DIR "' && CHECK_DRY=1 SKIP=" ALL_BUT_FUZZ ",fuzz"
                        " FUZZ_RUNTIME=/nonexistent/libclang_rt.fuzzer.a tools/check", 0, NULL);
    CHECK_MSG(strstr(out, "would run:;") && strstr(out, "skipped: test clang lint fuzz"), "%s", out);
    free(out);
    err = NULL;
    free(tf_run_expect("cd '" PW_SOURCE_DIR "' && SKIP=fuzz,nosuch tools/check", 2, &err));
    CHECK_MSG(strstr(err, "unknown part 'nosuch'"), "%s", err);
    free(err);
}

/* make demo's first step: the model's text goes to --text's file, nothing to the terminal
 * but what phasewatt says; the same text the engine prints without --text. */
TEST(demo_engine_writes_its_text_to_a_file_and_prints_nothing)
{
    char *err = NULL;
    char *out = tf_run_expect("\"" PW_BUILD_DIR "/bin/phasewatt-llm\" -q -n 8 --text demo.txt -o demo.pwt",
                              0, &err);
    CHECK_MSG(out && out[0] == '\0', "stdout: %s", out);
    CHECK_MSG(!strstr(err, "phasewatt-llm:"), "the engine's statistics under -q: %s", err);
    free(out);
    free(err);
    char *text = tf_read_file(tf_path("demo.txt"), NULL);
    out = tf_run_expect("\"" PW_BUILD_DIR "/bin/phasewatt-llm\" -n 8", 0, NULL);
    CHECK_MSG(text && text[0] != '\n' && strcmp(text, out) == 0, "file: %s; printed: %s", text, out);
    free(text);
    free(out);
    free(tf_run_expect("\"" PW_BUILD_DIR "/bin/phasewatt-llm\" -q -n 2 --text /nonexistent/dir/t.txt 2>&1 | "
                       "grep -q 'cannot write the text to /nonexistent/dir/t.txt'", 0, NULL));
}
