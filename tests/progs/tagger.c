/* tagger.c — a program that uses the phasewatt library the way a user's program does, for
 * the tests that record it from outside (`phasewatt record -- tagger MODE`). It opens no
 * session itself: its phases reach the recorder through the channel or nowhere. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "phasewatt.h"

static void busy_us(long us)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    do clock_gettime(CLOCK_MONOTONIC, &b);
    while ((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000 < us);
}

/* Five decode steps with attention inside, one token each, on a track named for it. */
static void *decode_worker(void *arg)
{
    char name[32];
    snprintf(name, sizeof name, "decoder-%d", *(int *)arg);
    pw_track_name(name);
    pw_id decode = pw_phase_id("decode"), attention = pw_phase_id("attention");
    pw_id tokens = pw_counter_id("tokens");
    for (int i = 0; i < 5; i++) {
        pw_begin(decode);
        pw_count(tokens, 1);
        pw_begin(attention);
        busy_us(2000);
        pw_end();
        pw_end();
    }
    return NULL;
}

/* prefill (7 tokens) on the main thread, then two threads of decode. */
static void inference(void)
{
    pw_begin_name("prefill");
    pw_count_name("tokens", 7);
    busy_us(20000);
    pw_end();
    pthread_t t[2];
    static int index[2] = {0, 1};
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, decode_worker, &index[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
}

/* Tags as fast as it can: with a tiny ring some events must be dropped and counted. */
static void flood(int n)
{
    pw_id step = pw_phase_id("step");
    for (int i = 0; i < n; i++) {
        pw_begin(step);
        pw_end();
    }
}

/* n threads that all hold a ring at once (a barrier between their two phases). */
static pthread_barrier_t together;

static void *together_worker(void *arg)
{
    (void)arg;
    pw_begin_name("threaded");
    pthread_barrier_wait(&together);
    pw_end();
    return NULL;
}

static void threads(int n)
{
    pthread_t t[256];
    if (n > 256) n = 256;
    pthread_barrier_init(&together, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, together_worker, NULL);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&together);
}

/* One short-lived worker's phases: w0..w19 once each, then "held" left open. */
static void worker_phases(void)
{
    char name[16];
    for (int k = 0; k < 20; k++) {
        snprintf(name, sizeof name, "w%d", k);
        pw_begin_name(name);
        pw_end();
    }
    pw_begin_name("held");
}

/* n short-lived worker processes one after another, at most two alive at a time: each
 * tags 20 names, then leaves "held" open and ends by exit() or (hard) _exit(); the hard
 * kind's parent interns the names before forking, so the children inherit their ids. */
static void workers(int n, int hard)
{
    pid_t prev = 0;
    for (int k = 0; hard && k < 20; k++) {   /* inherited ids: the children publish none */
        char name[16];
        snprintf(name, sizeof name, "w%d", k);
        pw_phase_id(name);
    }
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            worker_phases();
            if (hard) _exit(0);
            exit(0);
        }
        if (prev > 0) waitpid(prev, NULL, 0);
        prev = pid;
    }
    if (prev > 0) waitpid(prev, NULL, 0);
}

/* n short-lived processes, at most conc alive at once, three kinds in turn: a forked child
 * that exit()s, an exec'd tagger (a new program: it publishes its 21 names anew) and a
 * forked child SIGKILLed with "held" open (by itself, so which ones die does not depend on
 * timing). The parent interns the names first, so forked children inherit their ids. */
static void procs(int n, int conc, const char *self)
{
    for (int k = 0; k < 20; k++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", k);
        pw_phase_id(name);
    }
    pw_phase_id("held");
    int alive = 0;
    for (int i = 0; i < n; i++) {
        if (alive >= conc && wait(NULL) > 0) alive--;
        pid_t pid = fork();
        if (pid == 0 && i % 3 == 1) {
            execl(self, self, "one", (char *)NULL);
            _exit(127);
        }
        if (pid == 0) {
            worker_phases();
            if (i % 3 == 2) raise(SIGKILL);
            exit(0);
        }
        if (pid > 0) alive++;
    }
    while (alive > 0 && wait(NULL) > 0) alive--;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "normal";
    if (!strcmp(mode, "procs")) {
        procs(argc > 2 ? atoi(argv[2]) : 1000, argc > 3 ? atoi(argv[3]) : 8, argv[0]);
        return 0;
    }
    if (!strcmp(mode, "one")) {           /* one exec'd worker of procs */
        worker_phases();
        return 0;
    }
    if (!strcmp(mode, "threads")) {
        threads(argc > 2 ? atoi(argv[2]) : 4);
        return 0;
    }
    if (!strcmp(mode, "workers") || !strcmp(mode, "workers-killed")) {
        workers(argc > 2 ? atoi(argv[2]) : 100, !strcmp(mode, "workers-killed"));
        return 0;
    }
    if (!strcmp(mode, "flood")) {
        flood(argc > 2 ? atoi(argv[2]) : 100000);
        return 0;
    }
    if (!strcmp(mode, "fork")) {          /* a worker process tags too: its own tracks */
        pid_t pid = fork();
        int index[2] = {0, 1};
        if (pid == 0) {
            decode_worker(&index[0]);
            _exit(0);
        }
        decode_worker(&index[1]);
        waitpid(pid, NULL, 0);
        return 0;
    }
    if (!strcmp(mode, "open")) {          /* a program that opens its own session */
        pw_options o;
        pw_options_init(&o);
        o.output_path = argc > 2 ? argv[2] : "tagger.pwt";
        int rc = pw_open(&o);
        printf("pw_open: %d %s\n", rc, pw_open_error());
        if (rc == PW_OK) pw_close();
        return 0;
    }
    inference();
    if (!strcmp(mode, "segv") || !strcmp(mode, "kill")) {
        pw_begin_name("post-inference");  /* left open by the crash */
        busy_us(10000);
        signal(SIGSEGV, SIG_DFL);         /* a sanitizer's handler would turn it into exit 1 */
        raise(!strcmp(mode, "segv") ? SIGSEGV : SIGKILL);
    }
    return 3;
}
