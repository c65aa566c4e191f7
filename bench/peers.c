/* peers.c — benchmark: phasewatt beside real peer tools on the same fake RAPL counter, against
 * the truth: powerstat -R's and phasewatt's energy per phase (and powerstat's per window), then
 * the cost of a phase tag next to LIKWID's marker API and NVTX ranges.
 * The counter is a fake powercap zone at /sys/class/powercap (a tmpfs over /sys/class in a
 * private mount namespace: root only) that a writer thread advances every 976.5625 µs at a
 * random grid phase while the run's power follows a known schedule, so each phase's true
 * energy is known. Each part that cannot run here says why in one line and is skipped. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/attribute.h"
#include "bench.h"
#include "base/clock.h"
#include "phasewatt.h"
#include "trace/trace.h"

#if defined(__has_include)
#if __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define NVTX_CLIENT "the CUDA toolkit's nvtx3 headers"
#endif
#endif
#ifndef NVTX_CLIENT
#include "../tests/nvtx/nvtx_client.h"
#define NVTX_CLIENT "tests/nvtx/nvtx_client.h (no CUDA toolkit headers here)"
#endif

#define ZONE "/sys/class/powercap/intel-rapl-mmio:0"   /* powerstat 0.03.01 matches only -mmio */
#define RANGE_UJ 262143328850ull
#define GRID_NS 976562.5                    /* RAPL's 2^-10 s update period */
#define PS_DELAY_S 0.5                      /* powerstat's shortest sample delay... */
#define PS_SAMPLES 120                      /* ...and fewest samples: a 60 s run */
#define NPHASES 12
#define MAX_READS 1024
#define PAIRS 5000                          /* tag pairs per timed batch */
#define BATCHES 100
#define TRACE "/tmp/phasewatt-bench-peers.pwt"

/* The run: 12 phases of 3 to 6.5 s (each spans 6+ powerstat windows, 3000+ RAPL updates). */
static const double phase_w[NPHASES] = {40, 15, 25, 8, 60, 12, 30, 45, 10, 20, 50, 18};
static const double phase_s[NPHASES] = {4, 3, 5.5, 3.5, 6.5, 4, 3, 5, 4.5, 3.5, 6, 3.5};
#define IDLE_W 5.0

/* ---- the fake counter ------------------------------------------------------------------ */

typedef struct counter {
    pthread_mutex_t lock;                   /* the writer against power changes */
    uint64_t since_ns;                      /* when the current power began */
    double watts, joules;                   /* the current power; energy up to since_ns */
    uint64_t base_uj;                       /* the zone's value when this counter took over */
    uint64_t grid0_ns;
    _Atomic int stop;
} counter;

static double energy_at_locked(const counter *c, uint64_t t)
{
    return c->joules + c->watts * (double)(t - c->since_ns) * 1e-9;
}

/* The power changes at once: the energy so far is banked at the old power. */
static void set_power(counter *c, double watts)
{
    pthread_mutex_lock(&c->lock);
    uint64_t t = pw_now_ns();
    c->joules = energy_at_locked(c, t);
    c->since_ns = t;
    c->watts = watts;
    pthread_mutex_unlock(&c->lock);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* energy_uj as the driver shows it, in whole µJ, replaced by rename() so no read sees half. */
static void publish_locked(const counter *c)
{
    char text[32];
    uint64_t uj = (c->base_uj + (uint64_t)(energy_at_locked(c, pw_now_ns()) * 1e6)) % (RANGE_UJ + 1);
    snprintf(text, sizeof text, "%llu\n", (unsigned long long)uj);
    if (write_text(ZONE "/.energy_uj", text) == 0) rename(ZONE "/.energy_uj", ZONE "/energy_uj");
}

/* Updates on the grid's absolute instants, the last 50 µs spun like a clock edge; an update
 * the writer woke too late for is folded into the next, as hardware never queues them. */
static void *writer(void *p)
{
    counter *c = p;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    for (uint64_t k = 1; !atomic_load(&c->stop); k++) {
        uint64_t due = c->grid0_ns + (uint64_t)((double)k * GRID_NS), wake = due - 50000;
        struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
        clock_nanosleep(PW_CLOCK_AWAKE, TIMER_ABSTIME, &ts, NULL);
        while (pw_now_ns() < due) {}
        while (c->grid0_ns + (uint64_t)((double)(k + 1) * GRID_NS) <= pw_now_ns()) k++;
        pthread_mutex_lock(&c->lock);
        publish_locked(c);
        pthread_mutex_unlock(&c->lock);
    }
    return NULL;
}

/* A counter carries on from the value the zone shows (a real one never restarts at 0). */
static void counter_start(counter *c, pthread_t *th)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(ZONE "/energy_uj", "r");
    unsigned long long uj = 0;
    if (f && fscanf(f, "%llu", &uj) == 1) c->base_uj = uj;   /* whole µJ: no step back */
    if (f) fclose(f);
    pthread_mutex_init(&c->lock, NULL);
    c->since_ns = pw_now_ns();
    c->watts = IDLE_W;
    /* a random grid phase: the start time's low bits, scrambled */
    c->grid0_ns = c->since_ns + c->since_ns * 2654435761u % (uint64_t)GRID_NS;
    pthread_mutex_lock(&c->lock);
    publish_locked(c);
    pthread_mutex_unlock(&c->lock);
    pthread_create(th, NULL, writer, c);
}

static void counter_stop(counter *c, pthread_t th)
{
    atomic_store(&c->stop, 1);
    pthread_join(th, NULL);
    pthread_mutex_destroy(&c->lock);
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000000u), (long)(t % 1000000000u)};
    while (clock_nanosleep(PW_CLOCK_AWAKE, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
}

/* Runs the schedule from now: at each boundary the power changes and, where tag is set, the
 * phase is tagged. edges[i] is when phase i began (edges[NPHASES]: when the last ended). */
static void run_schedule(counter *c, int tag, uint64_t edges[NPHASES + 1])
{
    uint64_t t = pw_now_ns();
    for (int i = 0; i < NPHASES; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%02d", i + 1);
        edges[i] = pw_now_ns();
        set_power(c, phase_w[i]);
        if (tag) pw_begin_name(name);
        t += (uint64_t)(phase_s[i] * 1e9);
        sleep_until(t);
        if (tag) pw_end();
    }
    edges[NPHASES] = pw_now_ns();
    set_power(c, IDLE_W);
}

static double true_j(const uint64_t edges[NPHASES + 1], int i)
{
    return phase_w[i] * (double)(edges[i + 1] - edges[i]) * 1e-9;
}

/* ---- the fake tree, in a private mount namespace --------------------------------------- */

/* A tmpfs over /sys/class seen by this process and its children only; NULL or why not. */
static const char *private_powercap(void)
{
    static char why[160];
    if (geteuid() != 0) return "needs root (a private mount namespace over /sys/class)";
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("peers", "/sys/class", "tmpfs", 0, "size=1m") != 0) {
        snprintf(why, sizeof why, "cannot mount a private /sys/class: %s", strerror(errno));
        return why;
    }
    if (mkdir("/sys/class/powercap", 0755) != 0 || mkdir(ZONE, 0755) != 0 ||
        write_text(ZONE "/name", "package-0\n") != 0 ||
        write_text(ZONE "/max_energy_range_uj", "262143328850\n") != 0) {
        snprintf(why, sizeof why, "cannot build the fake zone: %s", strerror(errno));
        return why;
    }
    return NULL;
}

/* ---- powerstat ------------------------------------------------------------------------- */

/* When something opened energy_uj (the writer opens .energy_uj): powerstat's reads. */
typedef struct reads {
    int fd;
    uint64_t t_ns[MAX_READS];
    _Atomic size_t n;
} reads;

static void *watch_reads(void *p)
{
    reads *r = p;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t len;
    while ((len = read(r->fd, buf, sizeof buf)) > 0) {
        uint64_t now = pw_now_ns();
        for (char *q = buf; q < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)q;
            size_t n = atomic_load(&r->n);
            if (ev->len && !strcmp(ev->name, "energy_uj") && n < MAX_READS) {
                r->t_ns[n] = now;
                atomic_store(&r->n, n + 1);
            }
            q += sizeof *ev + ev->len;
        }
    }
    return NULL;
}

/* The Watts column of each sample row ("HH:MM:SS  user ... watts"); how many rows. */
static size_t parse_powerstat(const char *path, double *watts, size_t cap)
{
    FILE *f = fopen(path, "r");
    char line[512];
    size_t n = 0;
    while (f && n < cap && fgets(line, sizeof line, f)) {
        int h, m, s;
        char *last = strrchr(line, ' ');
        while (last && last > line && last[1] == '\n') last = memrchr(line, ' ', (size_t)(last - line));
        if (sscanf(line, "%2d:%2d:%2d ", &h, &m, &s) == 3 && last) watts[n++] = atof(last);
    }
    if (f) fclose(f);
    return n;
}

static double overlap_s(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
    uint64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? (double)(hi - lo) * 1e-9 : 0;
}

typedef struct powerstat_run {
    uint64_t edges[NPHASES + 1];
    double phase_j[NPHASES];                /* its windows' energy, shared out by overlap */
    double win_err_in, win_err_edge;        /* mean |error| of windows within / across a boundary */
    double win_max;
    size_t nwin, nedge;
} powerstat_run;

/* Window k is (reads[k], reads[k+1]]: its energy is its Watts x the 0.5 s delay, as a user
 * of powerstat's table would take it, against the true energy between the two reads. */
static void score_windows(powerstat_run *ps, const uint64_t *rd,
                          const double *w, size_t nw)
{
    double sum_in = 0, sum_edge = 0;
    for (size_t k = 0; k < nw; k++) {
        double got = w[k] * PS_DELAY_S, truth = 0;
        int edge = 0;
        truth += IDLE_W * (double)(rd[k + 1] - rd[k]) * 1e-9;
        for (int i = 0; i < NPHASES; i++) {
            double o = overlap_s(rd[k], rd[k + 1], ps->edges[i], ps->edges[i + 1]);
            truth += (phase_w[i] - IDLE_W) * o;
            ps->phase_j[i] += got * o / ((double)(rd[k + 1] - rd[k]) * 1e-9);
            edge |= o > 0 && (ps->edges[i] > rd[k] || ps->edges[i + 1] < rd[k + 1]);
        }
        double err = fabs(got - truth) / truth * 100;
        if (edge) sum_edge += err, ps->nedge++;
        else sum_in += err;
        if (!edge && err > ps->win_max) ps->win_max = err;
    }
    ps->nwin = nw;
    ps->win_err_in = nw > ps->nedge ? sum_in / (double)(nw - ps->nedge) : NAN;
    ps->win_err_edge = ps->nedge ? sum_edge / (double)ps->nedge : NAN;
}

/* powerstat -R over the schedule; NULL, or why it could not be scored. */
static const char *run_powerstat(powerstat_run *ps)
{
    static reads rd;
    static counter c;
    pthread_t wth, rth;
    counter_start(&c, &wth);
    rd.fd = inotify_init1(IN_CLOEXEC);
    if (rd.fd < 0 || inotify_add_watch(rd.fd, ZONE, IN_OPEN) < 0) {
        counter_stop(&c, wth);
        return "inotify on the fake zone failed";
    }
    pthread_create(&rth, NULL, watch_reads, &rd);
    char delay[8], count[8];
    snprintf(delay, sizeof delay, "%.1f", PS_DELAY_S);
    snprintf(count, sizeof count, "%d", PS_SAMPLES);
    char *argv[] = {"powerstat", "-R", "-d", "0", delay, count, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/tmp/phasewatt-bench-peers.powerstat",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    extern char **environ;
    int rc = posix_spawnp(&pid, "powerstat", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc == 0) {
        uint64_t give_up = pw_now_ns() + 10000000000ull;
        while (atomic_load(&rd.n) == 0 && pw_now_ns() < give_up) sleep_until(pw_now_ns() + 1000000);
        sleep_until(pw_now_ns() + 700000000);   /* its first window starts before the run */
        run_schedule(&c, 0, ps->edges);
        int st;
        waitpid(pid, &st, 0);
    }
    close(rd.fd);                           /* ends the watcher's read */
    pthread_join(rth, NULL);
    counter_stop(&c, wth);
    if (rc != 0) return "powerstat could not start";
    static double watts[PS_SAMPLES * 2];
    size_t nw = parse_powerstat("/tmp/phasewatt-bench-peers.powerstat", watts, PS_SAMPLES * 2);
    size_t nr = atomic_load(&rd.n);
    if (nw == 0 || nr < nw + 1) {
        static char why[200];
        snprintf(why, sizeof why, "%zu sample rows and %zu reads of energy_uj do not pair up "
                 "(see /tmp/phasewatt-bench-peers.powerstat)", nw, nr);
        return why;
    }
    score_windows(ps, rd.t_ns + (nr - nw - 1), watts, nw);   /* its last nw+1 reads */
    return NULL;
}

/* ---- phasewatt record --source rapl ---------------------------------------------------- */

/* The workload under `phasewatt record`: the same schedule, tagged; writes its true edges. */
static int workload(const char *edges_path)
{
    static counter c;
    pthread_t th;
    uint64_t edges[NPHASES + 1];
    counter_start(&c, &th);
    sleep_until(pw_now_ns() + 1000000000);  /* the recorder learns the grid meanwhile */
    run_schedule(&c, 1, edges);
    sleep_until(pw_now_ns() + 300000000);
    counter_stop(&c, th);
    FILE *f = fopen(edges_path, "w");
    if (!f) return 1;
    for (int i = 0; i <= NPHASES; i++) fprintf(f, "%llu\n", (unsigned long long)edges[i]);
    return fclose(f) != 0;
}

typedef struct pw_run {
    uint64_t edges[NPHASES + 1];
    double j[NPHASES], ci[NPHASES], windows_j[NPHASES];
    pw_provenance prov[NPHASES];
} pw_run;

static int phase_figures(const pw_trace *t, pw_method m, double *j, double *ci, pw_provenance *prov)
{
    pw_attribution *a = NULL;
    if (pw_attribute_with(t, m, &a) != PW_OK) return -1;
    for (int i = 0; i < NPHASES; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%02d", i + 1);
        int n = pw_attribution_find(a, name);
        j[i] = n > 0 ? pw_energy_total(t, a->nodes[n].incl_j) : NAN;
        if (ci) ci[i] = n > 0 && a->nodes[n].incl_ci_j ? a->nodes[n].incl_ci_j[0] : NAN;
        if (prov) prov[i] = n > 0 ? a->nodes[n].provenance : PW_PROV_NOT_OBSERVED;
    }
    pw_attribution_free(a);
    return 0;
}

static const char *run_phasewatt(pw_run *r)
{
    char dir[4096], cmd[9000];
    bench_bin_dir(dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "'%s/phasewatt' record --quiet --no-report --source rapl "
             "--interval 1ms -o " TRACE " -- '%s/bench-peers' --workload " TRACE ".edges",
             dir, dir);
    int rc = system(cmd);   /* NOLINT(cert-env33-c): the benchmark runs the built CLI */
    FILE *f = fopen(TRACE ".edges", "r");
    for (int i = 0; f && i <= NPHASES; i++)
        if (fscanf(f, "%llu", (unsigned long long *)&r->edges[i]) != 1) rc = -1;
    if (f) fclose(f);
    pw_trace *t = NULL;
    if (rc != 0 || !f || pw_trace_open(TRACE, &t) != PW_OK) {
        static char why[80];
        snprintf(why, sizeof why, "`phasewatt record --source rapl` failed (status %d)", rc);
        return why;
    }
    int ok = phase_figures(t, PW_METHOD_AUTO, r->j, r->ci, r->prov) == 0 &&
             phase_figures(t, PW_METHOD_WINDOWS, r->windows_j, NULL, NULL) == 0;
    pw_trace_close(t);
    return ok ? NULL : "attribution of the trace failed";
}

static double err_pct(double got, double truth)
{
    return (got - truth) / truth * 100;
}

static void energy_table(const powerstat_run *ps, const pw_run *pw)
{
    printf("  %-5s %5s %4s | %8s %9s %7s | %8s %18s %7s %-9s %9s %7s\n", "phase", "s", "W",
           "true J", "powerstat", "err", "true J", "phasewatt J", "err", "label", "windows", "err");
    for (int i = 0; i < NPHASES; i++) {
        double tp = true_j(ps->edges, i), tw = true_j(pw->edges, i);
        char fig[32] = "-";
        if (!isnan(pw->j[i]))
            snprintf(fig, sizeof fig, isnan(pw->ci[i]) ? "%.3f" : "%.3f ± %.3f", pw->j[i], pw->ci[i]);
        printf("  p%02d   %5.1f %4.0f | %8.3f %9.3f %+6.2f%% | %8.3f %18s %+6.2f%% %-9s %9.3f %+6.2f%%\n",
               i + 1, phase_s[i], phase_w[i], tp, ps->phase_j[i], err_pct(ps->phase_j[i], tp), tw,
               fig, err_pct(pw->j[i], tw), pw_provenance_name(pw->prov[i]), pw->windows_j[i],
               err_pct(pw->windows_j[i], tw));
    }
    printf("  powerstat per window (%zu of %.1f s): within one phase mean |err| %.2f %%, max "
           "%.2f %%; the %zu across a boundary mean |err| %.2f %%\n", ps->nwin, PS_DELAY_S,
           ps->win_err_in, ps->win_max, ps->nedge, ps->win_err_edge);
}

/* The energy part, in a child process so the private mount stays there. */
static void energy_part(void)
{
    printf("energy per phase on one fake RAPL counter (%s, updated every 976.6 us at a random "
           "grid phase),\n  two runs of the same schedule: powerstat -R -d 0 %.1f %d, then "
           "phasewatt record --source rapl --interval 1ms\n", ZONE, PS_DELAY_S, PS_SAMPLES);
    printf("  powerstat's phase J: each window's Watts x %.1f s shared among the phases it "
           "overlaps by time (its windows located by inotify on its reads of energy_uj)\n",
           PS_DELAY_S);
    printf("  windows: phasewatt's --method windows (a begin/end read of the counter)\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        static powerstat_run ps;
        static pw_run pw;
        const char *why = private_powercap();
        /* NOLINTNEXTLINE(cert-env33-c): asks the shell's PATH search on purpose */
        if (!why && system("command -v powerstat >/dev/null") != 0)
            why = "powerstat is not installed (tools/install-deps peers)";
        if (!why) why = run_powerstat(&ps);
        if (!why) why = run_phasewatt(&pw);
        if (why) printf("  skipped: %s\n", why);
        else energy_table(&ps, &pw);
        fflush(stdout);
        _exit(0);
    }
    int st;
    if (pid > 0) waitpid(pid, &st, 0);
}

/* ---- tag cost -------------------------------------------------------------------------- */

static pw_id tag_id;

static void pw_pair(void) { pw_begin(tag_id); pw_end(); }
static void nvtx_pair(void) { nvtxRangePushA("peers"); nvtxRangePop(); }

static double ns_per_pair(pair_fn f)
{
    return bench_best_ns(f, PAIRS, BATCHES);
}

/* Under `phasewatt record --nvtx`: both tags through the same recorder, in one process. */
static int nvtx_child(void)
{
    tag_id = pw_phase_id("peers");
    printf("row pw %.1f\nrow nvtx %.1f\n", ns_per_pair(pw_pair), ns_per_pair(nvtx_pair));
    return 0;
}

typedef void (*likwid_region_fn)(const char *);
static likwid_region_fn lk_start, lk_stop;
static void likwid_pair(void) { lk_start("peers"); lk_stop("peers"); }

/* Under `likwid-perfctr -m`: the marker API's region start/stop pair. */
static int likwid_child(void)
{
    void *h = dlopen("liblikwid.so.5", RTLD_NOW);
    void (*init)(void) = h ? (void (*)(void))dlsym(h, "likwid_markerInit") : NULL;
    void (*fini)(void) = h ? (void (*)(void))dlsym(h, "likwid_markerClose") : NULL;
    lk_start = h ? (likwid_region_fn)dlsym(h, "likwid_markerStartRegion") : NULL;
    lk_stop = h ? (likwid_region_fn)dlsym(h, "likwid_markerStopRegion") : NULL;
    if (!init || !fini || !lk_start || !lk_stop) return 1;
    init();
    printf("row likwid %.1f\n", ns_per_pair(likwid_pair));
    fini();
    return 0;
}

/* The figures a child prints as "row LABEL NS" for each of n labels (NAN where missing), and
 * the first line that says ERROR into first_error. */
static void child_rows(const char *cmd, const char *const *labels, double *ns, int n,
                       char *first_error, size_t cap)
{
    FILE *p = popen(cmd, "r");   /* NOLINT(cert-env33-c): runs the built programs on purpose */
    char line[512], label[64];
    for (int i = 0; i < n; i++) ns[i] = NAN;
    while (p && fgets(line, sizeof line, p)) {
        double v;
        if (sscanf(line, "row %63s %lf", label, &v) == 2) {
            for (int i = 0; i < n; i++)
                if (!strcmp(label, labels[i])) ns[i] = v;
        } else if (!*first_error && strstr(line, "ERROR")) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(first_error, cap, "%.200s", line);
        }
    }
    if (p) pclose(p);
}

static double in_process_ns(void)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = TRACE ".tags";
    o.sources = "estimate";
    o.quiet = 1;
    if (pw_open(&o) != PW_OK) return NAN;
    tag_id = pw_phase_id("peers");
    double ns = ns_per_pair(pw_pair);
    pw_close();
    return ns;
}

static void tag_part(void)
{
    char dir[4096], cmd[9000], err[256] = "";
    bench_bin_dir(dir, sizeof dir);
    printf("\ntag cost, ns per begin+end pair (best batch of %d):\n", PAIRS);
    printf("  %-44s %8.1f\n", "phasewatt pw_begin/pw_end, in-process", in_process_ns());
    snprintf(cmd, sizeof cmd, "'%s/phasewatt' record --nvtx --quiet --no-report --source estimate "
             "-o " TRACE ".nvtx -- '%s/bench-peers' --child nvtx 2>&1", dir, dir);
    static const char *const both[] = {"pw", "nvtx"};
    double ns[2];
    child_rows(cmd, both, ns, 2, err, sizeof err);
    printf("  %-44s %8.1f\n", "phasewatt pw_begin/pw_end, record -- CMD", ns[0]);
    printf("  %-44s %8.1f   (client: %s)\n", "NVTX push/pop into libphasewatt-nvtx.so", ns[1],
           NVTX_CLIENT);
    if (access("/dev/cpu/0/msr", R_OK) != 0) {
        printf("  %-44s skipped: no /dev/cpu/0/msr (its counters are MSRs: modprobe msr, as root, "
               "on bare metal)\n", "LIKWID marker start/stop");
        return;
    }
    snprintf(cmd, sizeof cmd, "timeout 60 likwid-perfctr -C 0 -g CLOCK -m '%s/bench-peers' "
             "--child likwid 2>&1", dir);
    static const char *const likwid[] = {"likwid"};
    double lk;
    *err = '\0';
    child_rows(cmd, likwid, &lk, 1, err, sizeof err);
    if (isnan(lk))
        printf("  %-44s skipped: %s\n", "LIKWID marker start/stop",
               *err ? err : "likwid-perfctr did not run it (tools/install-deps peers)");
    else printf("  %-44s %8.1f\n", "LIKWID marker start/stop (likwid-perfctr -m)", lk);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--workload")) return workload(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--child") && !strcmp(argv[2], "nvtx")) return nvtx_child();
    if (argc == 3 && !strcmp(argv[1], "--child") && !strcmp(argv[2], "likwid")) return likwid_child();
    if (argc > 1 && strcmp(argv[1], "--tags")) {
        fprintf(stderr, "usage: bench-peers [--tags]   (--tags: only the tag costs)\n");
        return 2;
    }
    if (argc == 1) energy_part();
    tag_part();
    return 0;
}
