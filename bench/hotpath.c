/* hotpath.c — benchmark: ns per phase begin+end pair through each way of tagging — (a) the
 * in-process API, (b) the cross-process channel of `phasewatt record -- CMD`, (c) NVTX
 * push/pop through libphasewatt-nvtx.so, (d) the Python context manager — each next to a
 * bare clock pair measured in the same process and run, with 1 and 2 threads.
 * (b) and (c) are this program re-run as the command of `phasewatt record`; (d) is
 * bench/hotpath.py under it. Each child prints "row LABEL CLOCK1 PAIR1 CLOCK2 PAIR2". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "base/clock.h"
#include "phasewatt.h"

#if defined(__has_include)
#if __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define HAVE_NVTX 1
#endif
#endif

#define BATCH 5000            /* pairs per timed batch: 10k events fit the default ring */
#define BATCHES 200

static volatile uint64_t sink;
static pw_id bench_id;

static void clock_pair(void)
{
    struct timespec a, c;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_MONOTONIC, &c);
    sink += (uint64_t)a.tv_nsec + (uint64_t)c.tv_nsec;
}

static void api_pair(void)
{
    pw_begin(bench_id);
    pw_end();
}

#ifdef HAVE_NVTX
static nvtxStringHandle_t nvtx_name;
static nvtxDomainHandle_t nvtx_domain;

static void nvtx_ascii_pair(void)
{
    nvtxRangePushA("bench");
    nvtxRangePop();
}

static void nvtx_registered_pair(void)
{
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
    a.message.registered = nvtx_name;
    nvtxDomainRangePushEx(nvtx_domain, &a);
    nvtxDomainRangePop(nvtx_domain);
}
#endif

static double best_ns_per_pair(pair_fn f)
{
    return bench_best_ns(f, BATCH, BATCHES);
}

typedef struct thread_job {
    pair_fn f;
    pthread_barrier_t *start;
    double ns;
} thread_job;

static void *thread_main(void *p)
{
    thread_job *j = p;
    j->f();                                /* registers the thread outside the timing */
    pthread_barrier_wait(j->start);
    j->ns = best_ns_per_pair(j->f);
    return NULL;
}

/* ns per pair with n threads tagging at once: the mean of the threads' best batches. */
static double measure(pair_fn f, int n)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    thread_job jobs[2];
    pthread_t th[2];
    for (int i = 0; i < n; i++) {
        jobs[i] = (thread_job){f, &start, 0};
        pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    }
    double sum = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i], NULL);
        sum += jobs[i].ns;
    }
    pthread_barrier_destroy(&start);
    return sum / n;
}

static void print_row(const char *label, pair_fn f)
{
    double c1 = measure(clock_pair, 1), p1 = measure(f, 1);
    double c2 = measure(clock_pair, 2), p2 = measure(f, 2);
    printf("row %s %.2f %.2f %.2f %.2f\n", label, c1, p1, c2, p2);
    fflush(stdout);
}

/* ---- the child: runs under `phasewatt record` and prints its rows --------------------- */

static int child(const char *what)
{
    if (!strcmp(what, "channel")) {
        bench_id = pw_phase_id("bench");
        print_row("(b)_channel,_record_--_CMD", api_pair);
        return 0;
    }
#ifdef HAVE_NVTX
    if (!strcmp(what, "nvtx")) {
        nvtx_domain = nvtxDomainCreateA("bench");
        nvtx_name = nvtxDomainRegisterStringA(nvtx_domain, "bench");
        print_row("(c)_NVTX_push/pop,_registered", nvtx_registered_pair);
        print_row("(c)_NVTX_push/pop,_ASCII_name", nvtx_ascii_pair);
        return 0;
    }
#endif
    fprintf(stderr, "bench-hotpath: unknown child '%s'\n", what);
    return 2;
}

/* ---- the parent: (a) itself, the rest through `phasewatt record` ----------------------- */

typedef struct row {
    char label[64];
    double c1, p1, c2, p2;
} row;

static int parse_row(const char *line, row *r)
{
    if (sscanf(line, "row %63s %lf %lf %lf %lf", r->label, &r->c1, &r->p1, &r->c2, &r->p2) != 5)
        return 0;
    for (char *c = r->label; *c; c++)
        if (*c == '_') *c = ' ';
    return 1;
}

static void show(const row *r, const char *target)
{
    printf("  %-34s %7.1f %7.1f %6.2fx   %7.1f %7.1f %6.2fx   %s\n", r->label, r->c1, r->p1,
           r->p1 / r->c1, r->c2, r->p2, r->p2 / r->c2, target);
}

/* Runs CMD and shows each row it prints, or says why there is none. */
static void run_child(const char *cmd, const char *what, const char *target)
{
    /* NOLINTNEXTLINE(cert-env33-c): the benchmark runs the built CLI through the shell on purpose */
    FILE *p = popen(cmd, "r");
    char line[512];
    int rows = 0;
    row r;
    while (p && fgets(line, sizeof line, p))
        if (parse_row(line, &r)) {
            show(&r, target);
            rows++;
        }
    int rc = p ? pclose(p) : -1;
    if (!rows) printf("  %-34s (not measured: `%s` exited with status %d)\n", what, cmd, rc);
}

static int in_process(row *r)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = "/tmp/phasewatt-bench-hotpath.pwt";
    o.sources = "estimate";          /* a real source with a cheap read */
    o.interval_ns = 1000000;
    o.quiet = 1;
    if (pw_open(&o) != PW_OK) {
        fprintf(stderr, "bench-hotpath: cannot open a session: %s\n", pw_open_error());
        return -1;
    }
    snprintf(r->label, sizeof r->label, "(a) in-process API");
    r->c1 = measure(clock_pair, 1);
    r->p1 = measure(api_pair, 1);
    r->c2 = measure(clock_pair, 2);
    r->p2 = measure(api_pair, 2);
    pw_close();
    remove(o.output_path);
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    return st.lost_events ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--child")) return child(argv[2]);
    bench_id = pw_phase_id("bench");
    double no_session = measure(api_pair, 1);
    row a;
    int lost = in_process(&a);
    if (lost < 0) return 1;

    char dir[4096], cmd[3 * 4096 + 256];
    bench_bin_dir(dir, sizeof dir);
    printf("tag overhead: ns per begin+end pair (best of %d batches of %d pairs per thread),\n"
           "next to a bare clock pair timed in the same process and run\n\n", BATCHES, BATCH);
    printf("  %-34s %7s %7s %7s   %7s %7s %7s\n", "", "clock", "pair", "ratio", "clock", "pair",
           "ratio");
    printf("  %-34s %23s   %23s\n", "", "---- 1 thread ----", "---- 2 threads ---");
    show(&a, lost ? "target <= 2x  (EVENTS LOST: not valid)" : "target <= 2x");
    const char *record = "--quiet --no-report --source estimate --interval 1 -o "
                         "/tmp/phasewatt-bench-child.pwt";
    snprintf(cmd, sizeof cmd, "'%s/phasewatt' record %s -- '%s/bench-hotpath' --child channel",
             dir, record, dir);
    run_child(cmd, "(b) channel", "target <= 2x");
#ifdef HAVE_NVTX
    snprintf(cmd, sizeof cmd, "PHASEWATT_NVTX_LIBRARY='%s/../lib/libphasewatt-nvtx.so' "
             "'%s/phasewatt' record --nvtx %s -- '%s/bench-hotpath' --child nvtx",
             dir, dir, record, dir);
    run_child(cmd, "(c) NVTX push/pop", "target <= 4x");
#else
    printf("  %-34s (not measured: built without the nvtx3 headers of the CUDA toolkit)\n",
           "(c) NVTX push/pop");
#endif
    snprintf(cmd, sizeof cmd, "PYTHONPATH='%s/bindings/python' "
             "PHASEWATT_LIBRARY='%s/../lib/libphasewatt.so' '%s/phasewatt' record %s -- "
             "python3 '%s/bench/hotpath.py' 2>/dev/null",
             PW_SOURCE_DIR, dir, dir, record, PW_SOURCE_DIR);
    run_child(cmd, "(d) Python `with phase()`", "clock = time.perf_counter_ns() pair");
    remove("/tmp/phasewatt-bench-child.pwt");
    printf("\n  pw_begin+pw_end with no session open: %.1f ns\n", no_session);
    return 0;
}
