/* tf.h — the tiny test framework: TEST() registers a test, CHECK*() fail it with a reason.
 * The runner (tf.c) runs each test in a process (and process group) of its own, several at a
 * time, so a crash, a leaked global or a stray child fails or affects only that test. Each
 * test starts in its own temporary directory with default signal dispositions. */
#ifndef PW_TF_H
#define PW_TF_H

#include <stddef.h>
#include <stdint.h>

/* Tests named selftest_* exercise the runner (tests/test_tf.c runs them as a program) and
 * run only when a pattern on the command line names them. */
typedef void (*tf_fn)(void);
void tf_register(const char *name, const char *file, tf_fn fn);
void tf_fail(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
void tf_skip(const char *why) __attribute__((noreturn));

#define TEST(name)                                                                  \
    static void tf_test_##name(void);                                               \
    __attribute__((constructor)) static void tf_reg_##name(void)                     \
    {                                                                               \
        tf_register(#name, __FILE__, tf_test_##name);                               \
    }                                                                               \
    static void tf_test_##name(void)

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) tf_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                \
    } while (0)
#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        if (!(cond)) tf_fail(__FILE__, __LINE__, __VA_ARGS__);                       \
    } while (0)
#define CHECK_INT(a, b)                                                             \
    do {                                                                            \
        long long tf_a_ = (long long)(a), tf_b_ = (long long)(b);                   \
        if (tf_a_ != tf_b_)                                                         \
            tf_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, tf_a_, \
                    #b, tf_b_);                                                     \
    } while (0)
#define CHECK_STR(a, b)                                                             \
    do {                                                                            \
        const char *tf_a_ = (a), *tf_b_ = (b);                                      \
        if (!tf_a_ || !tf_b_ || strcmp(tf_a_, tf_b_) != 0)                          \
            tf_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,        \
                    tf_a_ ? tf_a_ : "(null)", tf_b_ ? tf_b_ : "(null)");            \
    } while (0)
/* |a - b| <= rel * |b| (+ a tiny absolute floor) */
#define CHECK_NEAR(a, b, rel)                                                       \
    do {                                                                            \
        double tf_a_ = (double)(a), tf_b_ = (double)(b);                            \
        double tf_d_ = tf_a_ - tf_b_;                                               \
        if (tf_d_ < 0) tf_d_ = -tf_d_;                                              \
        double tf_m_ = (tf_b_ < 0 ? -tf_b_ : tf_b_) * (rel) + 1e-12;                 \
        if (!(tf_d_ <= tf_m_))                                                      \
            tf_fail(__FILE__, __LINE__, "%s == %.9g, expected %.9g within %g%%", #a, \
                    tf_a_, tf_b_, 100.0 * (rel));                                   \
    } while (0)

/* A fresh temporary directory for the running test, removed after it. */
const char *tf_tmpdir(void);
/* tf_tmpdir()/name, in a static rotating buffer. */
const char *tf_path(const char *name);
/* Writes/reads a whole file; read returns a malloc'd NUL-terminated buffer or NULL. */
int tf_write_file(const char *path, const void *data, size_t len);
char *tf_read_file(const char *path, size_t *len);

/* Runs a shell command line; PW (the built phasewatt CLI) is set in its environment.
 * Captures stdout and stderr (malloc'd, may be passed NULL). Returns the exit code,
 * or 128+signal. */
int tf_run(const char *cmdline, char **out, char **err);
/* The same, failing the test (with the command, its stderr and the caller's file:line)
 * unless it exits want_rc; returns its stdout; *err gets its stderr when err is not NULL. */
char *tf_run_expect_at(const char *file, int line, const char *cmdline, int want_rc, char **err);
#define tf_run_expect(cmdline, want_rc, err) tf_run_expect_at(__FILE__, __LINE__, cmdline, want_rc, err)
const char *tf_cli(void);   /* absolute path of the built phasewatt CLI */

#endif
