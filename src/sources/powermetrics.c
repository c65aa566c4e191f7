/* powermetrics.c — Apple Silicon CPU, GPU, ANE (and DRAM) energy from Apple's `powermetrics`,
 * run as a child process whose NUL-separated plist samples are read without blocking. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "platform/platform.h"
#include "sources/powermetrics.h"
#include "sources/source.h"


#define SAMPLERS "cpu_power,gpu_power,ane_power"
#define INTERVAL_MIN_MS 10u
#define INTERVAL_MAX_MS 3600000u
#define FIRST_SAMPLE_MIN_NS 2000000000ull    /* probe waits max(2 s, 3 intervals) */
#define DOC_MAX (1u << 20)                   /* a larger sample is rejected as malformed */
#define BUF_START (64u << 10)
#define BUF_MAX (2 * DOC_MAX)                /* > DOC_MAX: a full buffer always parses */
#define DRAIN_MAX (8u << 20)                 /* most bytes taken from the pipe in one read */
#define TERM_GRACE_NS 500000000ull           /* close(): SIGTERM, then SIGKILL after this */
#define RESPAWN_MIN_NS 250000000ull          /* a dead child is restarted after this, */
#define RESPAWN_MAX_NS 8000000000ull         /* doubling while restarts bring no sample */
#define STALL_MIN_NS 10000000000ull          /* a child silent on stdout for max(10 s, */
#define STALL_INTERVALS 20u                  /* 20 intervals) is stalled: killed, restarted */
#define ERRLINE_MAX 160
#define COMMAND_MAX 512
#define ARGC 9

typedef struct pm_domain {
    int which;                      /* PW_PM_CPU … PW_PM_DRAM */
    uint64_t total_uj;
    double frac_uj;                 /* the part below 1 µJ, carried to the next sample */
    int from_power;                 /* the first sample gave power, not energy */
} pm_domain;

typedef struct pm {
    char command[COMMAND_MAX];      /* a path, or a name looked up on PATH */
    char interval_ms[16];           /* the -i argument */
    uint64_t interval_ns;
    pid_t pid;                      /* -1: no child */
    int out_fd, err_fd;             /* our ends of its stdout and stderr pipes, or -1 */
    char *buf;                      /* stdout bytes not parsed yet */
    size_t len, cap;
    int resync;                     /* dropping the rest of a rejected sample, up to a NUL */
    char err_line[ERRLINE_MAX];     /* the first line the current child wrote to stderr */
    size_t err_len;
    int err_line_done;
    int exit_status;                /* of the latest child reaped */
    size_t n;
    pm_domain d[PW_PM_NDOMAINS];
    int have_sample;                /* the current child has given a sample */
    int gap;                        /* an error for the next read: a sample or child was lost */
    uint64_t last_t;                /* the end of the latest sample's interval */
    int chained;                    /* the next sample's elapsed_ns continues from last_t */
    uint64_t respawn_at, backoff_ns;
    uint64_t news_ns;               /* when stdout last brought bytes (or the child started) */
    unsigned long samples, bad_samples, restarts, stalls;
    char bad_reason[128];           /* why the latest rejected sample was rejected */
    char last_exit[COMMAND_MAX + PW_WHY_MAX]; /* how the latest child ended, or why a
                                                 restart failed */
    char hw_model[PW_PM_MODEL_MAX];
} pm;

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void command_argv(pm *m, char *argv[ARGC + 1])
{
    char *const args[ARGC + 1] = {m->command, "--samplers", SAMPLERS, "-i", m->interval_ms,
                                  "-f", "plist", "-b", "0", NULL};
    memcpy(argv, args, sizeof args);
}

static void command_line(pm *m, char *out, size_t cap)
{
    char *argv[ARGC + 1];
    size_t used = 0;
    command_argv(m, argv);
    out[0] = '\0';
    for (int i = 0; argv[i] && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? " " : "", argv[i]);
}

/* ---- the child ---------------------------------------------------------------------------- */

/* Close-on-exec, so other children of the host never hold the write end (which would hide
 * the EOF that says ours died); our read end is non-blocking, the child's write end not. */
static int make_pipe(int fd[2])
{
    if (pw_pipe_cloexec(fd) != 0) return -1;
    int fl = fcntl(fd[0], F_GETFL);
    return fl < 0 ? -1 : fcntl(fd[0], F_SETFL, fl | O_NONBLOCK);
}

static int not_found(const pm *m, char *why, size_t whylen)
{
    snprintf(why, whylen, "%s not found (macOS only; PHASEWATT_POWERMETRICS to point elsewhere)",
             m->command);
    return PW_ERR_NOT_FOUND;
}

static int spawn_reason(const pm *m, int err, char *why, size_t whylen)
{
    if (err == ENOENT || err == ENOTDIR) return not_found(m, why, whylen);
    snprintf(why, whylen, "cannot run %s: %s%s", m->command, strerror(err),
             err == EACCES ? " (is it executable? PHASEWATT_POWERMETRICS to point elsewhere)" : "");
    return err == EACCES || err == EPERM ? PW_ERR_PERMISSION : PW_ERR_IO;
}

/* stdin /dev/null, stdout and stderr into our pipes; its own process group, so close()
 * ends everything it started; default signal handling, whatever the host has set. */
static int spawn_child(pm *m, int out_w, int err_w)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, defaults;
    char *argv[ARGC + 1];
    int e = posix_spawn_file_actions_init(&fa);
    if (e) return e;
    if ((e = posix_spawnattr_init(&at)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return e;
    }
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e) e = posix_spawn_file_actions_adddup2(&fa, out_w, 1);
    if (!e) e = posix_spawn_file_actions_adddup2(&fa, err_w, 2);
    if (!e) e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETSIGDEF);
    if (!e) e = posix_spawnattr_setpgroup(&at, 0);
    if (!e) e = posix_spawnattr_setsigmask(&at, &none);
    if (!e) e = posix_spawnattr_setsigdefault(&at, &defaults);
    command_argv(m, argv);
    if (!e) e = posix_spawnp(&m->pid, m->command, &fa, &at, argv, pw_environ());
    if (e) m->pid = -1;
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    return e;
}

static int spawn(pm *m, char *why, size_t whylen)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    int e = make_pipe(out) || make_pipe(err) ? errno : 0;
    if (!e) e = spawn_child(m, out[1], err[1]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    if (e) {
        close_fd(&out[0]);
        close_fd(&err[0]);
        return spawn_reason(m, e, why, whylen);
    }
    m->out_fd = out[0];
    m->err_fd = err[0];
    m->len = 0;
    m->resync = 0;
    m->err_len = 0;
    m->err_line[0] = '\0';
    m->err_line_done = 0;
    m->have_sample = 0;
    m->chained = 0;
    return PW_OK;
}

static void signal_child(const pm *m, int sig)
{
    if (kill(-m->pid, sig) != 0) (void)kill(m->pid, sig);   /* group not formed yet */
}

/* Waits up to ns for the child to exit, leaving it unreaped. */
static void wait_exit(pid_t pid, uint64_t ns)
{
    uint64_t deadline = pw_now_ns() + ns;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == pid)
            return;
        if (pw_now_ns() >= deadline) return;
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
}

/* Ends the child and its process group (SIGTERM first when grace_ns > 0) and reaps it. */
static void stop_child(pm *m, uint64_t grace_ns)
{
    int status = 0;
    if (m->pid <= 0) return;
    if (grace_ns) {
        signal_child(m, SIGTERM);
        wait_exit(m->pid, grace_ns);
    }
    signal_child(m, SIGKILL);         /* the leader may be a zombie: its group still counts */
    while (waitpid(m->pid, &status, 0) < 0 && errno == EINTR) {}
    m->exit_status = status;
    m->pid = -1;
}

static void keep_err_line(pm *m, const char *s, size_t n)
{
    for (size_t i = 0; i < n && !m->err_line_done; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\n') m->err_line_done = m->err_len > 0;    /* skips leading blank lines */
        if (ch == '\n' || ch == '\r' || m->err_len + 1 >= ERRLINE_MAX) continue;
        m->err_line[m->err_len++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
        m->err_line[m->err_len] = '\0';
    }
}

/* Keeps the first line of stderr and discards the rest, so the child never blocks on it. */
static void drain_stderr(pm *m)
{
    char chunk[512];
    while (m->err_fd >= 0) {
        ssize_t r = read(m->err_fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r <= 0) close_fd(&m->err_fd);
        else keep_err_line(m, chunk, (size_t)r);
    }
}

static void describe_exit(pm *m)
{
    int st = m->exit_status;
    char how[48];
    if (WIFSIGNALED(st)) snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(st));
    else snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(st));
    snprintf(m->last_exit, sizeof m->last_exit, "%s %s%s%s%s", m->command, how,
             m->err_line[0] ? ": \"" : "", m->err_line, m->err_line[0] ? "\"" : "");
}

/* ---- samples ------------------------------------------------------------------------------ */

static pw_kind kind_of(int which)
{
    static const pw_kind kinds[PW_PM_NDOMAINS] = {PW_KIND_CPU, PW_KIND_GPU, PW_KIND_ANE,
                                                  PW_KIND_DRAM};
    return kinds[which];
}

/* The domains are those the first sample has, in energy or power. */
static int choose_domains(pm *m, const pw_pm_sample *s)
{
    for (int w = 0; w < PW_PM_NDOMAINS; w++) {
        double uj;
        int from_power;
        if (pw_pm_energy_uj(s, w, &uj, &from_power) != PW_OK) continue;
        m->d[m->n++] = (pm_domain){w, 0, 0.0, from_power};
    }
    return m->n > 0;
}

static void accumulate(pm_domain *d, double uj)
{
    double add = uj + d->frac_uj;
    uint64_t whole = (uint64_t)add;
    d->total_uj += whole;
    d->frac_uj = add - (double)whole;
}

/* The end of the sample's interval: the previous end plus elapsed_ns (powermetrics'
 * intervals are contiguous), kept within [previous end, now]. A sample that continues no
 * chain (a child's first, the one after a lost sample) is taken at now, its arrival. */
static uint64_t sample_time(pm *m, const pw_pm_sample *s, uint64_t now)
{
    uint64_t t = m->chained && s->elapsed_ns ? m->last_t + s->elapsed_ns : now;
    if (t > now) t = now;
    if (t < m->last_t) t = m->last_t;
    m->chained = s->elapsed_ns != 0;
    return t;
}

/* A sample counts whole or not at all: every domain must be there. */
static int add_sample(pm *m, const pw_pm_sample *s, uint64_t now, const char **err)
{
    static const char *const missing[PW_PM_NDOMAINS] = {
        "a sample without cpu_energy or cpu_power", "a sample without gpu_energy or gpu_power",
        "a sample without ane_energy or ane_power", "a sample without dram_energy or dram_power"};
    double uj[PW_PM_NDOMAINS];
    if (m->n == 0 && !choose_domains(m, s)) {
        *err = "no cpu, gpu, ane or dram energy or power in the sample";
        return PW_ERR_FORMAT;
    }
    for (size_t i = 0; i < m->n; i++)
        if (pw_pm_energy_uj(s, m->d[i].which, &uj[i], NULL) != PW_OK) {
            *err = missing[m->d[i].which];
            return PW_ERR_FORMAT;
        }
    for (size_t i = 0; i < m->n; i++) accumulate(&m->d[i], uj[i]);
    if (!m->hw_model[0]) memcpy(m->hw_model, s->hw_model, sizeof m->hw_model);
    m->last_t = sample_time(m, s, now);
    m->have_sample = 1;
    m->samples++;
    m->backoff_ns = RESPAWN_MIN_NS;
    return PW_OK;
}

/* The interval of a rejected sample is lost: the next read reports a gap, and the chain
 * of elapsed_ns restarts from the next sample's arrival. */
static void bad_sample(pm *m, const char *why)
{
    snprintf(m->bad_reason, sizeof m->bad_reason, "%s", why ? why : "malformed");
    m->bad_samples++;
    m->chained = 0;
    if (!m->gap) m->gap = PW_ERR_FORMAT;
}

/* Parses one document; returns the bytes it used, or 0 to wait for more of it. */
static size_t take_one(pm *m, const char *doc, size_t seg, int terminated, uint64_t now)
{
    pw_pm_sample s;
    size_t used = 0;
    const char *err = "a sample larger than 1 MiB";
    int rc = seg >= DOC_MAX ? PW_ERR_FORMAT : pw_pm_parse(doc, seg, &s, &used, &err);
    if (rc == PW_PM_INCOMPLETE && !terminated && seg < DOC_MAX) return 0;
    if (rc == PW_OK) {
        if (add_sample(m, &s, now, &err) != PW_OK) bad_sample(m, err);
        return used;
    }
    bad_sample(m, rc == PW_PM_INCOMPLETE ? "a sample cut short by a NUL byte" : err);
    m->resync = !terminated;
    return seg;
}

static int is_separator(char ch)
{
    return ch == '\0' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Not followed by a NUL yet, a document is parsed only once it ends in </plist>:
 * re-parsing a half-arrived sample on every read would cost O(n²). */
static int looks_finished(const char *doc, size_t n)
{
    while (n && is_separator(doc[n - 1])) n--;
    return n >= 8 && memcmp(doc + n - 8, "</plist>", 8) == 0;
}

/* Every complete sample in the buffer; a partial one stays for the next read. Samples are
 * NUL-separated; the NUL may come before or after each, so a finished one is taken at once. */
static void take_samples(pm *m, uint64_t now)
{
    size_t pos = 0;
    for (;;) {
        while (pos < m->len && is_separator(m->buf[pos])) pos++;
        if (pos == m->len) break;
        const char *doc = m->buf + pos, *nul = memchr(doc, '\0', m->len - pos);
        size_t seg = nul ? (size_t)(nul - doc) : m->len - pos, used;
        if (m->resync) {
            m->resync = !nul;
            pos += seg;
            continue;
        }
        if (!nul && seg < DOC_MAX && !looks_finished(doc, seg)) break;
        if ((used = take_one(m, doc, seg, nul != NULL, now)) == 0) break;
        pos += used;
    }
    if (pos == 0) return;
    m->len -= pos;
    memmove(m->buf, m->buf + pos, m->len);
}

static int grow(pm *m)
{
    size_t cap = m->cap ? 2 * m->cap : BUF_START;
    char *nb = cap <= BUF_MAX ? realloc(m->buf, cap) : NULL;
    if (!nb) return PW_ERR_NOMEM;
    m->buf = nb;
    m->cap = cap;
    return PW_OK;
}

enum { PIPE_EMPTY, PIPE_MORE, PIPE_EOF };

/* Fills the buffer from stdout: PIPE_MORE when it filled up before the pipe ran dry. */
static int read_stdout(pm *m, size_t *budget, uint64_t now)
{
    if (m->len == m->cap && grow(m) != PW_OK) {
        if (m->cap == 0) return PIPE_EMPTY;             /* the data waits in the pipe */
        bad_sample(m, "out of memory for a sample");    /* drop it, make room */
        m->len = 0;
        m->resync = 1;
    }
    while (m->len < m->cap) {
        ssize_t r = read(m->out_fd, m->buf + m->len, m->cap - m->len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return PIPE_EMPTY;
        if (r <= 0) return PIPE_EOF;
        m->len += (size_t)r;
        m->news_ns = now;
        if ((size_t)r >= *budget) return PIPE_EMPTY;    /* the rest waits for the next read */
        *budget -= (size_t)r;
    }
    return PIPE_MORE;
}

/* The child closed stdout: it is reaped, and restarted by a later read after a backoff. */
static void child_gone(pm *m, uint64_t now)
{
    close_fd(&m->out_fd);
    stop_child(m, 0);
    drain_stderr(m);
    close_fd(&m->err_fd);
    describe_exit(m);
    m->respawn_at = now + m->backoff_ns;
    m->backoff_ns = 2 * m->backoff_ns > RESPAWN_MAX_NS ? RESPAWN_MAX_NS : 2 * m->backoff_ns;
    m->have_sample = 0;
    m->chained = 0;
    m->len = 0;
    m->resync = 0;
    m->gap = PW_ERR_IO;
}

/* Takes everything the child has written so far; PW_ERR_IO once it is gone. One poll()
 * when nothing is new. */
static int pump(pm *m, uint64_t now)
{
    struct pollfd p[2] = {{m->out_fd, POLLIN, 0}, {m->err_fd, POLLIN, 0}};
    size_t budget = DRAIN_MAX;
    int st;
    if (poll(p, 2, 0) <= 0) return PW_OK;
    drain_stderr(m);
    do {
        st = read_stdout(m, &budget, now);
        take_samples(m, now);
    } while (st == PIPE_MORE);
    if (st != PIPE_EOF) return PW_OK;
    child_gone(m, now);
    return PW_ERR_IO;
}

static void respawn(pm *m, uint64_t now)
{
    char why[PW_WHY_MAX];
    m->restarts++;
    m->news_ns = now;
    if (spawn(m, why, sizeof why) == PW_OK) return;
    snprintf(m->last_exit, sizeof m->last_exit, "restart failed: %s", why);
    m->respawn_at = now + m->backoff_ns;
    m->backoff_ns = 2 * m->backoff_ns > RESPAWN_MAX_NS ? RESPAWN_MAX_NS : 2 * m->backoff_ns;
}

/* A child alive but silent on stdout (hung, or stopped) would repeat its last reading
 * forever: past the stall time it is killed, the read fails (a gap) and a later read
 * restarts it, as when it dies. */
static void check_stall(pm *m, uint64_t now)
{
    uint64_t stall_ns = STALL_INTERVALS * m->interval_ns;
    if (stall_ns < STALL_MIN_NS) stall_ns = STALL_MIN_NS;
    if (m->pid <= 0 || now < m->news_ns || now - m->news_ns < stall_ns) return;
    child_gone(m, now);
    m->stalls++;
    snprintf(m->last_exit, sizeof m->last_exit, "%s stalled: no output for %llu ms, killed",
             m->command, (unsigned long long)((now - m->news_ns) / 1000000));
}

/* ---- probe -------------------------------------------------------------------------------- */

static int exit_reason(const pm *m, char *why, size_t whylen)
{
    int st = m->exit_status;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && !m->err_line[0])  /* exec failed late */
        return not_found(m, why, whylen);
    if (strstr(m->err_line, "superuser")) {
        snprintf(why, whylen, "%s before its first sample: run as root: sudo phasewatt record …",
                 m->last_exit);
        return PW_ERR_PERMISSION;
    }
    snprintf(why, whylen, "%s before its first sample%s", m->last_exit,
             m->err_line[0] ? "" : " (nothing on stderr)");
    return PW_ERR_IO;
}

/* Waits for the first complete sample, which names the domains. */
static int first_sample(pm *m, char *why, size_t whylen)
{
    uint64_t wait_ns = 3 * m->interval_ns > FIRST_SAMPLE_MIN_NS ? 3 * m->interval_ns
                                                                 : FIRST_SAMPLE_MIN_NS;
    uint64_t deadline = pw_now_ns() + wait_ns;
    char cmd[COMMAND_MAX + 96];
    for (;;) {
        uint64_t now = pw_now_ns();
        struct pollfd p[2] = {{m->out_fd, POLLIN, 0}, {m->err_fd, POLLIN, 0}};
        if (now >= deadline) break;
        (void)poll(p, 2, (int)((deadline - now + 999999) / 1000000));
        int gone = pump(m, pw_now_ns()) != PW_OK;
        if (m->bad_samples) {
            snprintf(why, whylen, "malformed output from %s: %s", m->command, m->bad_reason);
            return PW_ERR_FORMAT;
        }
        if (gone) return exit_reason(m, why, whylen);
        if (m->have_sample) return PW_OK;
    }
    command_line(m, cmd, sizeof cmd);
    snprintf(why, whylen, "no sample from `%s` within %llu ms", cmd,
             (unsigned long long)(wait_ns / 1000000));
    return PW_ERR_IO;
}

static void pm_close(void *state)
{
    pm *m = state;
    if (!m) return;
    close_fd(&m->out_fd);             /* a child blocked on a full pipe gets SIGPIPE too */
    close_fd(&m->err_fd);
    stop_child(m, TERM_GRACE_NS);
    free(m->buf);
    free(m);
}

static pm *pm_new(const pw_source_config *cfg)
{
    pm *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->pid = -1;
    m->out_fd = m->err_fd = -1;
    m->backoff_ns = RESPAWN_MIN_NS;
    uint64_t ms = (cfg->interval_ns + 500000) / 1000000;
    ms = ms < INTERVAL_MIN_MS ? INTERVAL_MIN_MS : ms > INTERVAL_MAX_MS ? INTERVAL_MAX_MS : ms;
    snprintf(m->interval_ms, sizeof m->interval_ms, "%llu", (unsigned long long)ms);
    m->interval_ns = ms * 1000000;
    return m;
}

static int pm_probe(const pw_source_config *cfg, void **state, pw_source_info *info, char *why,
                    size_t whylen)
{
    const char *cmd = cfg->powermetrics && *cfg->powermetrics ? cfg->powermetrics : "powermetrics";
    info->ndomains = 0;
    if (strlen(cmd) >= COMMAND_MAX) {
        snprintf(why, whylen, "PHASEWATT_POWERMETRICS is too long (%d bytes at most)",
                 COMMAND_MAX - 1);
        return PW_ERR_LIMIT;
    }
    pm *m = pm_new(cfg);
    if (!m) return PW_ERR_NOMEM;
    snprintf(m->command, sizeof m->command, "%s", cmd);
    int rc = spawn(m, why, whylen);
    if (rc == PW_OK) rc = first_sample(m, why, whylen);
    if (rc != PW_OK) {
        pm_close(m);
        return rc;
    }
    info->ndomains = 0;
    for (size_t i = 0; i < m->n; i++)
        pw_source_add_domain(info, pw_pm_domain_name(m->d[i].which), kind_of(m->d[i].which), -1);
    info->period_ns = m->interval_ns;
    *state = m;
    return PW_OK;
}

/* ---- read, describe, finish --------------------------------------------------------------- */

/* Samples that arrived are added, and the reading is dated at the end of the latest one's
 * interval. With no new sample, the previous reading is returned again, with its own time.
 * A lost sample or a dead (or stalled) child makes the read fail once (a gap); the child is
 * restarted after a backoff, and reads fail until the new one gives its first sample. */
static int pm_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    pm *m = state;
    uint64_t now = *t_ns;
    if (m->pid < 0 && now >= m->respawn_at) respawn(m, now);
    if (m->pid > 0 && pump(m, now) == PW_OK) check_stall(m, now);
    if (m->gap || !m->have_sample) {
        int rc = m->gap ? m->gap : PW_ERR_IO;
        m->gap = 0;
        return rc;
    }
    for (size_t i = 0; i < m->n; i++) energy_uj[i] = m->d[i].total_uj;
    *t_ns = m->last_t;
    return PW_OK;
}

static void pm_describe(void *state, const pw_sink *out)
{
    pm *m = state;
    char text[COMMAND_MAX + 96], key[48];
    command_line(m, text, sizeof text);
    pw_sink_meta(out, "powermetrics.command", text);
    pw_sink_meta(out, "powermetrics.note",
                   "Apple model-based estimates: powermetrics reports modelled power, not a "
                   "meter's (its manual: estimated and may be inaccurate)");
    if (m->hw_model[0]) pw_sink_meta(out, "powermetrics.hw_model", m->hw_model);
    for (size_t i = 0; i < m->n; i++) {
        const char *name = pw_pm_domain_name(m->d[i].which);
        snprintf(key, sizeof key, "powermetrics.%s", name);
        if (m->d[i].from_power)
            snprintf(text, sizeof text, "%s_power (mW) x elapsed_ns, per sample", name);
        else
            snprintf(text, sizeof text, "%s_energy (mJ per sample)", name);
        pw_sink_meta(out, key, text);
    }
}

static void pm_finish(void *state, const pw_sink *out, uint64_t end_ns)
{
    pm *m = state;
    char text[96];
    (void)end_ns;
    snprintf(text, sizeof text, "%lu taken, %lu malformed, %lu restarts, %lu stalls", m->samples,
             m->bad_samples, m->restarts, m->stalls);
    pw_sink_meta(out, "powermetrics.samples", text);
    if (m->bad_reason[0]) pw_sink_meta(out, "powermetrics.last_malformed", m->bad_reason);
    if (m->last_exit[0]) pw_sink_meta(out, "powermetrics.last_exit", m->last_exit);
}

const pw_source_ops pw_source_powermetrics = {
    .name = "powermetrics",
    .summary = "Apple Silicon CPU, GPU, ANE, DRAM energy from powermetrics (Apple's model-based "
               "estimates; needs root)",
    .measured = 1,                  /* the vendor's own model, not phasewatt's */
    .auto_probe = 1,
    .group = "apple-energy",        /* ioreport reads the same model without root */
    .probe = pm_probe,
    .read = pm_read,
    .describe = pm_describe,
    .finish = pm_finish,
    .close = pm_close,
};
