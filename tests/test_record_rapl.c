/* test_record_rapl.c — a whole recording session over a fake powercap tree whose counter a
 * writer thread advances every 976.5625 µs at a random grid phase, like real RAPL: phases of
 * 10+ update periods must come out within 0.5 % of the energy the writer published, read
 * directly by root or by an unprivileged user through `phasewatt agent`. */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "analysis/attribute.h"
#include "base/clock.h"
#include "phasewatt.h"
#include "sysfs_fixture.h"
#include "tf.h"
#include "trace/trace.h"

#define RANGE_UJ 262143328850ull            /* a real max_energy_range_uj */
#define START_UJ (RANGE_UJ - 3000000)       /* wraps ~0.1 s into the run */
#define GRID_NS 976562.5                    /* 2^-10 s */
#define MAX_CHANGES 256
#define PHASES 40
#define MAX_UPDATES 8192
#define ON_TIME_NS 50000                    /* an update this close to its grid instant */

/* The power the "package" draws: piecewise constant, every change logged, so the true energy
 * up to any instant is known exactly, whenever the writer gets to run. */
typedef struct fake_rapl {
    char zone[512];
    pthread_mutex_t lock;                   /* the writer and the power changes */
    uint64_t change_ns[MAX_CHANGES];
    double watts[MAX_CHANGES];
    size_t nchanges;
    uint64_t grid0_ns;                      /* the writer's grid: grid0 + k * GRID_NS */
    uint64_t pub_ns[MAX_UPDATES];           /* when each update was published */
    uint64_t late_ns[MAX_UPDATES];          /* how long after its grid instant */
    size_t published;
    _Atomic int stop;
} fake_rapl;

/* True energy (J) from the first change up to t. */
static double energy_at(const fake_rapl *f, uint64_t t)
{
    double j = 0;
    for (size_t i = 0; i < f->nchanges && f->change_ns[i] < t; i++) {
        uint64_t end = i + 1 < f->nchanges && f->change_ns[i + 1] < t ? f->change_ns[i + 1] : t;
        j += f->watts[i] * (double)(end - f->change_ns[i]) * 1e-9;
    }
    return j;
}

/* energy_uj as a driver writes it: whole µJ, wrapping at the range; written with rename()
 * so a reader never sees a half-written file. */
static void publish(fake_rapl *f, uint64_t t)
{
    char tmp[600], dst[600], text[32];
    snprintf(tmp, sizeof tmp, "%s/.energy_uj", f->zone);
    snprintf(dst, sizeof dst, "%s/energy_uj", f->zone);
    uint64_t v = (START_UJ + (uint64_t)(energy_at(f, t) * 1e6)) % (RANGE_UJ + 1);
    int n = snprintf(text, sizeof text, "%llu\n", (unsigned long long)v);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0400);   /* root's only */
    int ok = fd >= 0 && write(fd, text, (size_t)n) == n;
    if (fd >= 0 && close(fd) == 0 && ok) rename(tmp, dst);
}

/* Updates on the grid's absolute instants; one it wakes too late for is folded into the
 * next (hardware never queues updates). Each value is the true energy at the instant the
 * writer publishes it, so what it published is the truth however late it ran. */
static void *writer(void *p)
{
    fake_rapl *f = p;
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);   /* the default 50 µs slack would be all lateness */
    for (uint64_t k = 1; !atomic_load(&f->stop); k++) {
        uint64_t due = f->grid0_ns + (uint64_t)((double)k * GRID_NS), wake = due - 100000;
        struct timespec ts = {(time_t)(wake / 1000000000u), (long)(wake % 1000000000u)};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        while (pw_now_ns() < due) {}             /* the last 100 µs spun, like a clock edge */
        uint64_t now = pw_now_ns();
        while (f->grid0_ns + (uint64_t)((double)(k + 1) * GRID_NS) <= now) k++;
        pthread_mutex_lock(&f->lock);
        uint64_t t = pw_now_ns();
        publish(f, t);
        if (f->published < MAX_UPDATES) {
            f->pub_ns[f->published] = t;
            f->late_ns[f->published++] = t - (f->grid0_ns + (uint64_t)((double)k * GRID_NS));
        }
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

/* The power changes as the phase begins: [*c0, *c1] brackets the BEGIN event's time. */
static void begin_at(fake_rapl *f, const char *name, double watts, uint64_t *c0, uint64_t *c1)
{
    pthread_mutex_lock(&f->lock);
    *c0 = pw_now_ns();
    if (f->nchanges < MAX_CHANGES) {
        f->change_ns[f->nchanges] = *c0;
        f->watts[f->nchanges++] = watts;
    }
    pthread_mutex_unlock(&f->lock);
    pw_begin_name(name);
    *c1 = pw_now_ns();
}

static void wait_ns(uint64_t ns)
{
    uint64_t end = pw_now_ns() + ns;
    struct timespec pause = {0, 100000};
    while (pw_now_ns() < end) nanosleep(&pause, NULL);
}

/* Whether every update within two periods of t was published on time: a boundary the
 * writer itself was late around is not a grid the sampler could lock to. */
static int on_time_near(const fake_rapl *f, uint64_t t)
{
    for (size_t i = 0; i < f->published; i++)
        if (f->pub_ns[i] + 2 * GRID_NS > t && f->pub_ns[i] < t + 2 * GRID_NS &&
            f->late_ns[i] > ON_TIME_NS)
            return 0;
    return 1;
}

/* The power drawn at t. */
static double watts_at(const fake_rapl *f, uint64_t t)
{
    double w = 0;
    for (size_t i = 0; i < f->nchanges && f->change_ns[i] <= t; i++) w = f->watts[i];
    return w;
}

/* The first BEGIN and the last END of a phase name on the trace's one track. */
static int phase_span(const pw_trace *t, const char *name, uint64_t *b, uint64_t *e)
{
    const pw_track *tr = &t->tracks[0];
    int found = 0;
    for (size_t i = 0; i < tr->n; i++) {
        const char *n = pw_trace_name(t, tr->events[i].id);
        if (!n || strcmp(n, name) != 0) continue;
        if (tr->events[i].type == PW_EV_BEGIN) *b = tr->events[i].t_ns, found |= 1;
        if (tr->events[i].type == PW_EV_END) *e = tr->events[i].t_ns, found |= 2;
    }
    return found == 3;
}

/* The fake in memory a forked session shares with the writer (a process-shared lock): the
 * session's thread logs the power changes the writer integrates. */
static fake_rapl *new_fake(uint64_t seed)
{
    fake_rapl *f = mmap(NULL, sizeof *f, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(f != MAP_FAILED);
    memset(f, 0, sizeof *f);
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&f->lock, &at);
    pthread_mutexattr_destroy(&at);
    srand((unsigned)seed);
    f->grid0_ns = pw_now_ns() + (uint64_t)(GRID_NS * (double)rand() / RAND_MAX);  /* random phase */
    f->change_ns[0] = pw_now_ns();
    f->watts[0] = 5.0;
    f->nchanges = 1;
    snprintf(f->zone, sizeof f->zone, "%s/sys/class/powercap/intel-rapl:0", tf_tmpdir());
    fx_mkdirs(f->zone);
    fx_write(f->zone, "name", "package-0\n");
    fx_write_u64(f->zone, "max_energy_range_uj", RANGE_UJ);
    publish(f, pw_now_ns());
    setenv("PHASEWATT_SYSFS_ROOT", tf_tmpdir(), 1);
    return f;
}

/* What the phases' thread saw of its own boundaries, for judging (in the shared fake). */
typedef struct phase_log {
    uint64_t c0[PHASES], c1[PHASES], ends[PHASES], c0_end, seed;
    char names[PHASES][24];
} phase_log;

/* A session over `sources` writing `out`: the grid learnt, then PHASES phases of 10 to 20
 * update periods at powers the writer draws. 0, or the step that failed. */
static int run_phases(fake_rapl *f, phase_log *log, const char *sources, const char *out)
{
    pw_options o;
    pw_options_init(&o);
    o.output_path = out;
    o.sources = sources;
    o.interval_ns = 1000000;
    o.quiet = 1;
    if (pw_open(&o) != PW_OK) return 1;
    wait_ns(100000000);                     /* time to learn the grid */
    static const double watts[] = {40, 15, 25, 8};
    for (int i = 0; i < PHASES; i++) {
        snprintf(log->names[i], sizeof log->names[i], "phase%02d", i);
        begin_at(f, log->names[i], watts[(i * 7 + (int)(log->seed % 4)) % 4], &log->c0[i], &log->c1[i]);
        wait_ns((uint64_t)((10 + (i * 5) % 11) * GRID_NS));   /* 10 to 20 periods */
        pw_end();
        log->ends[i] = pw_now_ns();
    }
    uint64_t c1_end;
    begin_at(f, "tail", 5.0, &log->c0_end, &c1_end);
    pw_end();
    wait_ns(20000000);
    return pw_close() == PW_OK ? 0 : 2;
}

/* Judges the trace of run_phases against what the writer published (see below). */
static void judge(fake_rapl *f, const phase_log *log, const char *path, const char *source)
{
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    CHECK_STR(t->domains[0].name, "package-0");
    CHECK(t->series[0].t_err_ns != NULL);   /* the readings carry their stamps' uncertainty */
    /* The lock the trace states must be what it is: locked to the writer's grid, or, where
     * the sampler or the writer could not keep time (a loaded machine), unlockable with
     * stamps that say they are within a period, or still learning when the run ended (TSan on
     * a loaded machine: the learning reads came too slowly), each stamp stating its error. */
    char key[64];
    snprintf(key, sizeof key, "sensor.%s.lock", source);
    const char *lock = pw_trace_meta(t, key);
    CHECK(lock != NULL);
    const pw_series *se = &t->series[0];
    if (!strcmp(lock, "learning")) {
        for (size_t i = 0; i < se->n; i++) CHECK(se->t_err_ns[i] != PW_T_ERR_UNKNOWN);
        pw_trace_close(t);
        return;
    }
    if (strcmp(lock, "locked") != 0) {
        CHECK_STR(lock, "unlockable");
        CHECK(se->n > 10);
        for (size_t i = se->n - 10; i < se->n; i++) CHECK(se->t_err_ns[i] >= GRID_NS / 4);
        pw_trace_close(t);
        return;
    }
    /* The measured period is the writer's where the writer kept its grid (a loaded machine
     * makes it late, and a late writer's updates fall on no grid): 1 ms would be 2.4 % off. */
    snprintf(key, sizeof key, "sensor.%s.grid_period_ns", source);
    double period = atof(pw_trace_meta(t, key));
    size_t on_time = 0;
    for (size_t i = 0; i < f->published; i++) on_time += f->late_ns[i] <= ON_TIME_NS;
    if (on_time * 10 >= f->published * 9)
        CHECK_MSG(period > GRID_NS * 0.995 && period < GRID_NS * 1.005, "grid period %.1f", period);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    /* Judged: the phases whose power change and BEGIN came together (the thread was not
     * descheduled between them) and around whose boundaries the writer kept its grid. Each is
     * within 0.5 %, inside its interval, or within what readings stamped at their updates
     * leave to interpolation: the power step at each boundary over half an update period.
     * One beyond all three is a straggler (the sampler descheduled at a boundary while the
     * grid moved), tolerated in a quarter of them. */
    int judged = 0, stragglers = 0;
    for (int i = 0; i < PHASES; i++) {
        uint64_t b = 0, e = 0;
        CHECK(phase_span(t, log->names[i], &b, &e));
        uint64_t next_c0 = i + 1 < PHASES ? log->c0[i + 1] : log->c0_end;
        if (log->c1[i] - log->c0[i] > 20000 || next_c0 - log->ends[i] > 20000 ||
            !on_time_near(f, b) || !on_time_near(f, e))
            continue;
        int n = pw_attribution_find(a, log->names[i]);
        CHECK(n > 0);
        double got = pw_energy_total(t, a->nodes[n].incl_j);
        double truth = energy_at(f, e) - energy_at(f, b);
        double ci = a->nodes[n].incl_ci_j ? a->nodes[n].incl_ci_j[0] : 0;
        /* the steps where the power changed: just before each BEGIN (c0), which b and e
         * +- 1 ns never straddled, so this allowance was always 0 */
        uint64_t up = log->c0[i], down = next_c0;
        double w = watts_at(f, up), step = fabs(w - watts_at(f, up - 1)) +
                                           fabs(watts_at(f, down) - w);
        double interp = step * GRID_NS / 2 * 1e-9, off = fabs(got - truth);
        judged++;
        stragglers += !(off <= 0.005 * truth || off <= ci || off <= interp);
    }
    CHECK_MSG(4 * stragglers <= judged, "%d of %d phases beyond 0.5 %%, their interval and "
              "half a period of their power steps (seed %llu)", stragglers, judged,
              (unsigned long long)log->seed);
    pw_attribution_free(a);
    pw_trace_close(t);
}

TEST(record_rapl_fake_powercap_energy_per_phase)
{
    static phase_log log;
    log.seed = pw_now_ns();
    fake_rapl *f = new_fake(log.seed);
    pthread_t th;
    pthread_create(&th, NULL, writer, f);
    int rc = run_phases(f, &log, "rapl", tf_path("rapl.pwt"));
    atomic_store(&f->stop, 1);
    pthread_join(th, NULL);
    CHECK_INT(rc, 0);
    judge(f, &log, tf_path("rapl.pwt"), "rapl");
    pthread_mutex_destroy(&f->lock);
    munmap(f, sizeof *f);
}

/* `phasewatt agent` as root over the tree, serving group nogroup; 0 once it listens. */
static pid_t start_agent(const char *sock)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(tf_cli(), "phasewatt", "agent", "--quiet", "--socket", sock, "--group", "nogroup",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 4000; i++) {   /* bounded: 4000 checks 5 ms apart at most */
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0), up = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
        if (fd >= 0) close(fd);
        if (up) return pid;
        int status;
        CHECK_MSG(waitpid(pid, &status, WNOHANG) == 0, "the agent exited (status %d)", status);
        usleep(5000);
    }
    tf_fail(__FILE__, __LINE__, "the agent never listened on %s", sock);
}

/* Issue 19: a user without root records per-phase RAPL energy through the agent, which reads
 * the root-only counters (0400, as since the 2020 RAPL fix): the same phases, the same 0.5 %. */
TEST(record_through_the_agent_as_an_unprivileged_user_energy_per_phase)
{
    if (geteuid() != 0) tf_skip("needs root to start the agent and become nobody");
    static phase_log *log;
    log = mmap(NULL, sizeof *log, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(log != MAP_FAILED);
    log->seed = pw_now_ns();
    fake_rapl *f = new_fake(log->seed);
    char energy[600], out_dir[600], out[700];
    snprintf(energy, sizeof energy, "%s/energy_uj", f->zone);
    CHECK_INT(chmod(energy, 0400), 0);
    CHECK_INT(chmod(tf_tmpdir(), 0711), 0);   /* nobody may pass, not list or write */
    snprintf(out_dir, sizeof out_dir, "%s/nobody", tf_tmpdir());
    CHECK(mkdir(out_dir, 0700) == 0 && chown(out_dir, 65534, 65534) == 0);
    snprintf(out, sizeof out, "%s/agent.pwt", out_dir);
    const char *sock = tf_path("agent.sock");
    pid_t agent = start_agent(sock);
    /* forked before the writer thread starts (a sanitizer's threads do not survive a fork
     * of a threaded process), and started once the writer runs */
    int go[2];
    CHECK_INT(pipe(go), 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(go[1]);
        char c;
        if (read(go[0], &c, 1) != 1) _exit(12);
        setenv("PHASEWATT_AGENT_SOCKET", sock, 1);
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(10);
        if (open(energy, O_RDONLY) >= 0) _exit(11);   /* really without access to the counter */
        _exit(run_phases(f, log, "agent", out));
    }
    close(go[0]);
    pthread_t th;
    pthread_create(&th, NULL, writer, f);   /* the writer publishes as root (0400 kept by rename) */
    CHECK(write(go[1], "g", 1) == 1);
    close(go[1]);
    int status;
    CHECK_INT(waitpid(child, &status, 0), child);
    atomic_store(&f->stop, 1);
    pthread_join(th, NULL);
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK_MSG(code == 0, "the unprivileged session: %s", code == 10 ? "cannot become nobody"
              : code == 11 ? "the counter was readable" : code == 1 ? "pw_open failed (no agent?)"
              : code == 2 ? "pw_close failed" : "died");
    judge(f, log, out, "agent");
    pthread_mutex_destroy(&f->lock);
    munmap(f, sizeof *f);
    munmap(log, sizeof *log);
}
