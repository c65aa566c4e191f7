/* tf.c — the test runner: runs the registered tests in parallel processes (-j N, default one
 * per CPU), each in its own process group and temporary directory, kills a timed-out test's
 * whole group, prints each test's output whole, and ends with the line
 * "N passed, N failed[, N skipped]" that CI reads. */
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

#define TF_EXIT_SKIP 77
/* A hang guard, not a measurement (TF_TIMEOUT_S in the environment overrides it): sanitized
 * code runs 3-20x slower, and on two loaded cores a TSan run of a 3 s test took 61 s, a
 * 7 s one past 120 s */
#if defined(__SANITIZE_THREAD__)
#define TF_TIMEOUT_S 600
#elif defined(__SANITIZE_ADDRESS__)
#define TF_TIMEOUT_S 300
#else
#define TF_TIMEOUT_S 120
#endif
#define TF_SELFTEST "selftest_"  /* tests of the runner itself: run only when named */

typedef struct { const char *name, *file; tf_fn fn; } tf_test;
static tf_test *tests;          /* grows as constructors register: no test is ever dropped */
static int ntests, cap_tests;
static char tmpdir[256];

void tf_register(const char *name, const char *file, tf_fn fn)
{
    if (ntests == cap_tests) {
        int cap = cap_tests ? 2 * cap_tests : 256;
        tf_test *grown = realloc(tests, (size_t)cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "tf: out of memory registering test %s\n", name);
            abort();
        }
        tests = grown;
        cap_tests = cap;
    }
    tests[ntests++] = (tf_test){name, file, fn};
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

char *tf_run_expect_at(const char *file, int line, const char *cmdline, int want_rc, char **err)
{
    char *out = NULL, *e = NULL;
    int rc = tf_run(cmdline, &out, &e);
    if (rc != want_rc) tf_fail(file, line, "`%s` exited %d, not %d: %s", cmdline, rc, want_rc, e ? e : "");
    if (err) *err = e;
    else free(e);
    return out;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static int matches(const tf_test *t, int npat, char **pat)
{
    int selftest = strncmp(t->name, TF_SELFTEST, strlen(TF_SELFTEST)) == 0;
    if (npat == 0) return !selftest;
    for (int i = 0; i < npat; i++)
        if (strstr(t->name, pat[i]) || (!selftest && strstr(t->file, pat[i]))) return 1;
    return 0;
}

/* ---- one test in its own process ------------------------------------------------------------ */

/* A running test: its process (leader of its own group), directory, output file and deadline. */
typedef struct {
    const tf_test *t;
    pid_t pid;                  /* 0: the slot is free */
    int log_fd;                 /* the test's stdout+stderr, an unlinked file */
    char dir[256];
    double start, deadline;
    int timed_out;
} tf_slot;

static int timeout_s = TF_TIMEOUT_S;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The dispositions tests rely on, whatever the runner inherited (nohup, a background job
 * of a script, a CI shell that ignores SIGINT): default handling, nothing blocked. */
static void reset_signals(void)
{
    const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGCHLD, SIGTERM, SIGALRM, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_run(tf_slot *s)
{
    setpgid(0, 0);
    reset_signals();
    snprintf(tmpdir, sizeof tmpdir, "%s", s->dir);
    setenv("TMPDIR", tmpdir, 1);   /* what the test and its programs leave in $TMPDIR goes with it */
    dup2(s->log_fd, STDOUT_FILENO);
    dup2(s->log_fd, STDERR_FILENO);
    close(s->log_fd);
    if (chdir(tmpdir) != 0) tf_fail(__FILE__, __LINE__, "cannot enter %s", tmpdir);
    s->t->fn();
    fflush(NULL);
    _exit(0);
}

static int slot_start(tf_slot *s, const tf_test *t)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char log[300];
    snprintf(s->dir, sizeof s->dir, "%s/pwtest.XXXXXX", base);
    snprintf(log, sizeof log, "%s/pwtest-log.XXXXXX", base);
    if (!mkdtemp(s->dir)) {
        fprintf(stderr, "tf: cannot create a directory under %s: %s\n", base, strerror(errno));
        return -1;
    }
    if ((s->log_fd = mkostemp(log, O_CLOEXEC)) < 0) {   /* not inherited by the other tests */
        fprintf(stderr, "tf: cannot create a file under %s: %s\n", base, strerror(errno));
        rmdir(s->dir);
        return -1;
    }
    unlink(log);   /* read back through log_fd; nothing is left behind if the runner dies */
    s->t = t;
    s->timed_out = 0;
    s->start = now_s();
    s->deadline = s->start + timeout_s;
    fflush(NULL);
    s->pid = fork();
    if (s->pid == 0) child_run(s);
    if (s->pid < 0) {
        perror("tf: fork");
        return -1;
    }
    setpgid(s->pid, s->pid);   /* also here, so a kill right after fork reaches the group */
    return 0;
}

/* Prints the test's output whole, then its line; 1 failed, 0 passed, -1 skipped. */
static int slot_finish(tf_slot *s, int st)
{
    kill(-s->pid, SIGKILL);    /* whatever the test left running in its group */
    int r;
    if (s->timed_out) r = 1;
    else if (WIFEXITED(st)) r = WEXITSTATUS(st) == TF_EXIT_SKIP ? -1 : WEXITSTATUS(st) != 0;
    else r = 1;
    char buf[8192];
    ssize_t n;
    lseek(s->log_fd, 0, SEEK_SET);
    while ((n = read(s->log_fd, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, stdout);
    close(s->log_fd);
    if (s->timed_out)
        printf("    timed out after %d s: its process group was killed\n", timeout_s);
    else if (WIFSIGNALED(st))
        printf("    killed by signal %d (%s)\n", WTERMSIG(st), strsignal(WTERMSIG(st)));
    nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    const char *word = r < 0 ? "SKIP" : r ? "FAIL" : "ok  ";
    printf("%s %-40s %8.1f ms  (%s)\n", word, s->t->name, (now_s() - s->start) * 1e3, s->t->file);
    fflush(stdout);
    s->pid = 0;
    return r;
}

/* ---- the scheduler ------------------------------------------------------------------------- */

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig) { interrupted = sig; }

/* Ctrl-C or a TERM to the runner ends the tests too (they are in groups of their own, out of
 * the terminal's reach); a signal the runner was started ignoring stays ignored. */
static void catch_interrupts(void)
{
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa = {.sa_handler = on_interrupt};
        sigaction(sigs[i], NULL, &old);
        if (old.sa_handler != SIG_IGN) sigaction(sigs[i], &sa, NULL);
    }
}

/* A whole number from 1 to 100000 for what (-j, TF_JOBS, TF_TIMEOUT_S), else exit 2. */
static int parse_count(const char *what, const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 1 || n > 100000) {
        fprintf(stderr, "tf: %s wants a whole number from 1, not '%s'\n", what, v);
        exit(2);
    }
    return (int)n;
}

/* Options (-j N, -jN) out of argv; the rest are name patterns, compacted to the front. */
static int parse_args(int argc, char **argv, int *jobs, char ***pat)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *jobs = cpus > 0 ? (int)cpus : 1;
    const char *env = getenv("TF_JOBS");
    if (env && *env) *jobs = parse_count("TF_JOBS", env);
    if ((env = getenv("TF_TIMEOUT_S")) && *env) timeout_s = parse_count("TF_TIMEOUT_S", env);
    int npat = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) *jobs = parse_count("-j", argv[++i]);
        else if (strncmp(argv[i], "-j", 2) == 0) *jobs = parse_count("-j", argv[i] + 2);
        else argv[1 + npat++] = argv[i];
    }
    *pat = argv + 1;
    return npat;
}

int main(int argc, char **argv)
{
    int jobs, passed = 0, failed = 0, skipped = 0, next = 0, running = 0, broken = 0;
    char **pat;
    int npat = parse_args(argc, argv, &jobs, &pat);
    setvbuf(stdout, NULL, _IOLBF, 0);
    catch_interrupts();
    tf_slot *slots = calloc((size_t)jobs, sizeof *slots);
    if (!slots) return 1;
    for (;;) {
        for (int i = 0; i < jobs && !interrupted && !broken; i++) {
            while (slots[i].pid == 0 && next < ntests && !matches(&tests[next], npat, pat)) next++;
            if (slots[i].pid != 0 || next >= ntests) continue;
            if (slot_start(&slots[i], &tests[next++]) != 0) {
                failed++;
                broken = 1;   /* the machine cannot run more: end what runs, start nothing */
                break;
            }
            running++;
        }
        if (running == 0) break;
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        for (int i = 0; i < jobs && pid > 0; i++)
            if (slots[i].pid == pid) {
                int r = slot_finish(&slots[i], st);
                if (r < 0) skipped++;
                else if (r) failed++;
                else passed++;
                running--;
            }
        if (pid > 0) continue;
        double t = now_s();
        for (int i = 0; i < jobs; i++)
            if (slots[i].pid && (interrupted || t > slots[i].deadline) && !slots[i].timed_out) {
                slots[i].timed_out = !interrupted;
                kill(-slots[i].pid, SIGKILL);
            }
        struct timespec tick = {0, 10 * 1000000};   /* reaps within 10 ms; idles otherwise */
        nanosleep(&tick, NULL);
    }
    free(slots);
    if (interrupted) printf("interrupted by signal %d: the remaining tests did not run\n", (int)interrupted);
    if (broken) printf("the runner could not start a test: the remaining tests did not run\n");
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed || interrupted || broken || passed == 0 ? 1 : 0;
}
