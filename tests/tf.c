/* tf.c — the test runner: forks each registered test, times it out, and prints the
 * closing line "N passed, N failed, N skipped" that CI reads. */
#include "tf.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TF_MAX_TESTS 1024
#define TF_EXIT_SKIP 77
#define TF_TIMEOUT_S 120

typedef struct { const char *name, *file; tf_fn fn; } tf_test;
static tf_test tests[TF_MAX_TESTS];
static int ntests;
static char tmpdir[256];

void tf_register(const char *name, const char *file, tf_fn fn)
{
    if (ntests < TF_MAX_TESTS) tests[ntests++] = (tf_test){name, file, fn};
}

void tf_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(NULL);
    _exit(1);
}

void tf_skip(const char *why)
{
    fprintf(stderr, "    skipped: %s\n", why);
    fflush(NULL);
    _exit(TF_EXIT_SKIP);
}

const char *tf_tmpdir(void) { return tmpdir; }

const char *tf_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

int tf_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

char *tf_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

const char *tf_cli(void) { return PW_BUILD_DIR "/bin/phasewatt"; }

int tf_run(const char *cmdline, char **out, char **err)
{
    static int seq;
    char o[512], e[512];
    snprintf(o, sizeof o, "%s/.run%d.out", tmpdir, seq);
    snprintf(e, sizeof e, "%s/.run%d.err", tmpdir, seq++);
    size_t len = strlen(cmdline) + 2048;
    char *full = malloc(len);
    if (!full) return -1;
    snprintf(full, len, "PW='%s'; export PW; cd '%s' && { %s ; } >'%s' 2>'%s' </dev/null",
             tf_cli(), tmpdir, cmdline, o, e);
    int st = system(full);
    free(full);
    if (out) *out = tf_read_file(o, NULL);
    if (err) *err = tf_read_file(e, NULL);
    if (st == -1) return -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

char *tf_run_expect(const char *cmdline, int want_rc, char **err)
{
    char *out = NULL, *e = NULL;
    int rc = tf_run(cmdline, &out, &e);
    if (rc != want_rc) tf_fail(__FILE__, __LINE__, "`%s` exited %d, not %d: %s", cmdline, rc, want_rc,
                               e ? e : "");
    if (err) *err = e;
    else free(e);
    return out;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int matches(const tf_test *t, int argc, char **argv)
{
    if (argc < 2) return 1;
    for (int i = 1; i < argc; i++)
        if (strstr(t->name, argv[i]) || strstr(t->file, argv[i])) return 1;
    return 0;
}

static int run_one(const tf_test *t)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/pwtest.XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(TF_TIMEOUT_S);
        t->fn();
        fflush(NULL);
        _exit(0);
    }
    int st = 0;
    while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (pid < 0) return 1;
    if (WIFEXITED(st)) return WEXITSTATUS(st) == TF_EXIT_SKIP ? -1 : WEXITSTATUS(st) != 0;
    fprintf(stderr, "    killed by signal %d%s\n", WTERMSIG(st),
            WTERMSIG(st) == SIGALRM ? " (timed out)" : "");
    return 1;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 0; i < ntests; i++) {
        const tf_test *t = &tests[i];
        if (!matches(t, argc, argv)) continue;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        int r = run_one(t);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
        const char *word = r < 0 ? "SKIP" : r ? "FAIL" : "ok  ";
        printf("%s %-40s %8.1f ms  (%s)\n", word, t->name, ms, t->file);
        if (r < 0) skipped++;
        else if (r) failed++;
        else passed++;
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}
