/* test_serve.c — phasewatt serve: the windowed live attribution against report on the same
 * run, the exposition format, the HTTP agent under 10 000 scrapes and rude clients with flat
 * memory, and a real Prometheus server scraping it. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "phasewatt-analysis.h"
#include "analysis/attribute.h"
#include "core/channel.h"
#include "fleet/live.h"
#include "phasewatt.h"
#include "sim/scenario.h"
#include "tf.h"
#include "trace/trace.h"

static __attribute__((unused)) void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* ---- the live attribution, fed a recorded run as a session would feed it ------------------- */

/* Replays t through the tap: names and description first, then each reading after the events
 * that happened before it, as the sampler drains the rings before it reads the sources. */
static void replay(const pw_trace *t, const pw_sink *tap)
{
    tap->domains(tap->ctx, t->sources, t->nsources, t->domains, t->ndomains);
    for (size_t i = 0; tap->meta && i < t->nmeta; i++)   /* the sensors' facts, as a session says them */
        tap->meta(tap->ctx, t->meta[i].key, t->meta[i].value);
    for (uint32_t id = 1; id < t->nnames; id++)
        if (t->names[id]) tap->name(tap->ctx, id, t->names[id]);
    for (size_t i = 0; tap->track && i < t->ntracks; i++)   /* any callback may be NULL */
        tap->track(tap->ctx, t->tracks[i].id, t->tracks[i].pid, t->tracks[i].tid, t->tracks[i].name, 1);
    size_t *next = calloc(t->ntracks + 1, sizeof *next);
    const pw_series *se = &t->series[0];
    for (size_t i = 0; i < se->n; i++) {
        for (size_t k = 0; k < t->ntracks; k++)
            for (; next[k] < t->tracks[k].n && t->tracks[k].events[next[k]].t_ns < se->t_ns[i]; next[k]++)
                tap->event(tap->ctx, t->tracks[k].id, &t->tracks[k].events[next[k]]);
        for (size_t s = 0; s < t->nsources; s++)
            if (i < t->series[s].n)
                tap->sample(tap->ctx, (uint32_t)s, t->series[s].t_ns[i], PW_T_ERR_UNKNOWN,
                            t->series[s].energy_uj + i * t->series[s].ndomains, t->series[s].flags[i]);
    }
    free(next);
}

static pw_trace *simulated(const char *scenario)
{
    char err[256] = "";
    pw_scenario *s = NULL;
    CHECK_MSG(pw_scenario_parse(scenario, &s, err, sizeof err) == PW_OK, "%s", err);
    const char *path = tf_path("live.pwt");
    CHECK_MSG(pw_simulate(s, path, err, sizeof err) == PW_OK, "%s", err);
    pw_scenario_free(s);
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(path, &t), PW_OK);
    return t;
}

TEST(live_windows_add_up_to_what_report_attributes_to_the_whole_run)
{
    pw_trace *t = simulated(pw_scenario_builtin());   /* 2.3 s, 1 ms samples, nested phases */
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    pw_live *l = pw_live_new(&(pw_live_config){.window_ns = 250000000, .host = "test-host"});  /* ~9 windows */
    pw_sink tap;
    pw_live_tap(l, &tap);
    replay(t, &tap);
    CHECK_INT(pw_live_flush(l), PW_OK);
    int checked = 0;
    pw_path_buf buf = {0};
    for (size_t k = 1; k < a->nnodes; k++) {
        const pw_phase_node *n = &a->nodes[k];
        const char *path = pw_node_path(a, k, &buf);
        pw_live_phase p;
        CHECK_MSG(pw_live_phase_totals(l, path, &p) == PW_OK, "no live figures for %s", path);
        double want = pw_energy_total(t, n->incl_j);
        CHECK_MSG(fabs(p.energy_j - want) <= 0.01 * want, "%s: live %.6f J, report %.6f J", path,
                  p.energy_j, want);
        CHECK_NEAR(p.seconds, n->duration_s, 1e-6);
        CHECK_INT(p.calls, n->calls);
        CHECK_NEAR(p.tokens + 1, n->tokens_incl + 1, 1e-12);
        CHECK_STR(p.provenance, pw_provenance_name(n->provenance));
        CHECK_MSG(n->provenance == PW_PROV_MEASURED || (p.ci_j > 0 && p.ci_j < p.energy_j),
                  "%s: live states ± %g J on a %s figure", path, p.ci_j, p.provenance);
        checked++;
    }
    pw_path_buf_free(&buf);
    CHECK_INT(checked, 12);   /* every phase path of the built-in scenario */
    size_t len = 0;
    char *m = pw_live_metrics(l, &len);
    CHECK(m && len == strlen(m));
    CHECK(strstr(m, "phasewatt_phase_energy_joules_total{host=\"test-host\",domain=\"package-0\","
                    "kind=\"cpu\",parent=\"\",source=\"synthetic\",phase=\"decode/attention\","));
    CHECK(strstr(m, "# TYPE phasewatt_phase_tokens_total counter\n"));
    free(m);
    pw_live_free(l);
    pw_attribution_free(a);
    pw_trace_close(t);
}

TEST(live_metrics_escape_label_values_and_pass_promtool)
{
    pw_trace *t = simulated("sample every=1ms\nphase a\\\"b\"c 5ms 10W\nphase new\\line 5ms 20W\n");
    pw_live *l = pw_live_new(&(pw_live_config){.window_ns = 1000000000, .host = "host \"one\""});
    pw_sink tap;
    pw_live_tap(l, &tap);
    replay(t, &tap);
    pw_live_flush(l);
    char *m = pw_live_metrics(l, NULL);
    CHECK(m != NULL);
    CHECK_MSG(strstr(m, "host=\"host \\\"one\\\"\"") && strstr(m, "phase=\"a\\\\\\\"b\\\"c\""), "%s", m);
    const char *file = tf_path("metrics.prom");
    CHECK_INT(tf_write_file(file, m, strlen(m)), 0);
    free(m);
    if (tf_run("command -v promtool", NULL, NULL) == 0) {
        char cmd[1024], *out = NULL, *err = NULL;
        snprintf(cmd, sizeof cmd, "promtool check metrics < %s", file);
        int rc = tf_run(cmd, &out, &err);
        CHECK_MSG(rc == 0 || (err && !strstr(err, "error")), "promtool: %s %s", out, err);
        free(out), free(err);
    }
    pw_live_free(l);
    pw_trace_close(t);
}

/* ---- what hostile writers send, fed through the tap as the session would ------------------- */

typedef struct feed { pw_live *l; pw_sink tap; uint64_t t, e; } feed;

/* A live view (no thread: only pw_live_flush attributes) with one 10 W domain. */
static feed feed_new(pw_live_config cfg)
{
    cfg.manual = 1;
    cfg.host = "h";
    feed f = {.l = pw_live_new(&cfg), .t = 1000000000ull};
    CHECK(f.l != NULL);
    pw_live_tap(f.l, &f.tap);
    pw_source_desc src = {.name = "synthetic"};
    pw_domain_desc dom = {.name = "package-0", .kind = PW_KIND_CPU, .parent = -1};
    f.tap.domains(f.tap.ctx, &src, 1, &dom, 1);
    return f;
}

static void feed_sample(feed *f)   /* 1 ms after the last, 10 mJ more */
{
    f->t += 1000000;
    f->e += 10000;
    f->tap.sample(f->tap.ctx, 0, f->t, PW_T_ERR_UNKNOWN, &f->e, 0);
}

static void feed_event(feed *f, uint32_t track, uint32_t type, uint32_t id, uint64_t t_ns)
{
    pw_event ev = {.t_ns = t_ns, .id = id, .type = type};
    f->tap.event(f->tap.ctx, track, &ev);
}

/* One call of phase id on track, inside the next reading's interval. */
static void feed_call(feed *f, uint32_t track, uint32_t id)
{
    feed_event(f, track, PW_EV_BEGIN, id, f->t + 100000);
    feed_event(f, track, PW_EV_END, id, f->t + 900000);
    feed_sample(f);
}

static uint64_t calls_of(pw_live *l, const char *path)
{
    pw_live_phase p;
    return pw_live_phase_totals(l, path, &p) == PW_OK ? p.calls : 0;
}

TEST(live_names_that_are_not_utf8_still_give_a_page_promtool_accepts)
{
    feed f = feed_new((pw_live_config){0});
    const char *names[] = {"caf\xe9", "ok-\xc3\xa9", "\xf0\x28\x8c\x28", "cut\xe2\x82", "ctl\x01\x7f"};
    feed_sample(&f);
    for (uint32_t i = 0; i < 5; i++) {
        f.tap.name(f.tap.ctx, i + 1, names[i]);
        feed_call(&f, 1, i + 1);
    }
    CHECK_INT(pw_live_flush(f.l), PW_OK);
    CHECK_INT(pw_live_series(f.l), 5);
    char *m = pw_live_metrics(f.l, NULL);
    CHECK(m != NULL);
    CHECK_MSG(strstr(m, "phase=\"caf\xef\xbf\xbd\"") && strstr(m, "phase=\"ok-\xc3\xa9\"") &&
              strstr(m, "phase=\"\xef\xbf\xbd(\xef\xbf\xbd(\"") && strstr(m, "phase=\"ctl??\""), "%s", m);
    const char *file = tf_path("utf8.prom");
    CHECK_INT(tf_write_file(file, m, strlen(m)), 0);
    free(m);
    char cmd[1024], *out = NULL, *err = NULL;
    snprintf(cmd, sizeof cmd, "iconv -f UTF-8 -t UTF-8 %s >/dev/null", file);   /* an outside check */
    CHECK_MSG(tf_run(cmd, NULL, &err) == 0, "not UTF-8: %s", err);
    free(err), err = NULL;
    if (tf_run("command -v promtool", NULL, NULL) == 0) {
        snprintf(cmd, sizeof cmd, "promtool check metrics < %s", file);
        int rc = tf_run(cmd, &out, &err);
        CHECK_MSG(rc == 0 || (err && !strstr(err, "error")), "promtool: %s %s", out, err);
    }
    free(out), free(err);
    pw_live_free(f.l);
}

TEST(live_rejects_and_counts_begins_stamped_far_outside_the_run)
{
    feed f = feed_new((pw_live_config){0});
    f.tap.name(f.tap.ctx, 1, "a");
    f.tap.name(f.tap.ctx, 2, "forged");
    feed_sample(&f);
    feed_event(&f, 1, PW_EV_BEGIN, 2, 1ull << 62);   /* and its END goes with it */
    feed_event(&f, 1, PW_EV_END, 2, 1ull << 62);
    feed_event(&f, 2, PW_EV_BEGIN, 2, 1);            /* long before the first reading */
    feed_event(&f, 2, PW_EV_END, 2, 2);
    feed_event(&f, 3, PW_EV_MARK, 2, 1ull << 62);
    uint64_t forged = 1ull << 62;   /* a reading led past the clock opens nothing */
    f.tap.sample(f.tap.ctx, 0, forged, PW_T_ERR_UNKNOWN, &f.e, 0);
    feed_event(&f, 1, PW_EV_BEGIN, 2, forged - 5);
    feed_event(&f, 1, PW_EV_END, 2, forged - 4);
    for (int i = 0; i < 10; i++) feed_call(&f, 1, 1);
    CHECK_INT(pw_live_flush(f.l), PW_OK);
    CHECK_INT(pw_live_lost(f.l, PW_LIVE_LOST_TIMESTAMP), 8);
    CHECK_INT(calls_of(f.l, "a"), 10);
    pw_live_phase p;
    CHECK_INT(pw_live_phase_totals(f.l, "forged", &p), PW_ERR_NOT_FOUND);
    char *m = pw_live_metrics(f.l, NULL);
    CHECK_MSG(m && strstr(m, "phasewatt_lost_events_total{host=\"h\",reason=\"timestamp\"} 8\n"), "%s", m);
    free(m);
    pw_live_free(f.l);
}

TEST(live_cuts_nesting_deeper_than_pw_max_depth_and_counts_the_cut_events)
{
    feed f = feed_new((pw_live_config){0});
    f.tap.name(f.tap.ctx, 1, "n");
    feed_sample(&f);
    const int deep = 15000;
    for (int i = 0; i < deep; i++) feed_event(&f, 1, PW_EV_BEGIN, 1, f.t + 1000 + (uint64_t)i);
    for (int i = 0; i < deep; i++) feed_event(&f, 1, PW_EV_END, 1, f.t + 500000 + (uint64_t)i);
    feed_sample(&f);
    feed_call(&f, 1, 1);   /* the thread's stack is whole again: a top-level call */
    CHECK_INT(pw_live_flush(f.l), PW_OK);
    CHECK_INT(pw_live_lost(f.l, PW_LIVE_LOST_DEPTH), 2 * (deep - PW_MAX_DEPTH));
    CHECK_INT(pw_live_series(f.l), PW_MAX_DEPTH);
    CHECK_INT(calls_of(f.l, "n"), 2);
    char deepest[2 * PW_MAX_DEPTH + 1] = "n";
    for (int i = 1; i < PW_MAX_DEPTH; i++) strcat(deepest, "/n");
    CHECK_INT(calls_of(f.l, deepest), 1);
    pw_live_free(f.l);
}

TEST(live_caps_series_threads_and_names_and_counts_the_excess)
{
    feed f = feed_new((pw_live_config){.max_series = 3, .max_tracks = 2, .max_names = 8});
    for (uint32_t id = 1; id <= 5; id++) {
        char name[8];
        snprintf(name, sizeof name, "p%u", id);
        f.tap.name(f.tap.ctx, id, name);
    }
    f.tap.name(f.tap.ctx, 9, "past-the-cap");
    feed_sample(&f);
    feed_event(&f, 1, PW_EV_BEGIN, 1, f.t + 1000);   /* two threads hold a phase open ... */
    feed_event(&f, 2, PW_EV_BEGIN, 2, f.t + 1000);
    feed_event(&f, 3, PW_EV_BEGIN, 3, f.t + 1000);   /* ... so a third is not followed */
    feed_event(&f, 3, PW_EV_END, 3, f.t + 2000);
    for (uint32_t id = 3; id <= 5; id++) feed_call(&f, 1, id);
    feed_event(&f, 1, PW_EV_END, 1, f.t + 1000);
    feed_event(&f, 2, PW_EV_END, 2, f.t + 1000);
    feed_sample(&f);
    CHECK_INT(pw_live_flush(f.l), PW_OK);
    CHECK_INT(pw_live_lost(f.l, PW_LIVE_LOST_TRACKS), 2);
    CHECK_INT(pw_live_lost(f.l, PW_LIVE_LOST_NAMES), 1);
    CHECK_INT(pw_live_series(f.l), 3);
    CHECK_INT(pw_live_lost(f.l, PW_LIVE_LOST_SERIES), 2);   /* 5 paths, room for 3 */
    pw_live_free(f.l);
}

TEST(live_holds_no_more_events_than_its_budget_and_keeps_the_rest_balanced)
{
    feed f = feed_new((pw_live_config){.max_events = 100});
    f.tap.name(f.tap.ctx, 1, "a");
    feed_sample(&f);
    for (int i = 0; i < 200; i++) {   /* nothing attributes them until the flush */
        feed_event(&f, 1, PW_EV_BEGIN, 1, f.t + 1000 + 2 * (uint64_t)i);
        feed_event(&f, 1, PW_EV_END, 1, f.t + 1001 + 2 * (uint64_t)i);
    }
    feed_sample(&f);
    feed_sample(&f);
    CHECK_INT(pw_live_flush(f.l), PW_OK);
    uint64_t lost = pw_live_lost(f.l, PW_LIVE_LOST_QUEUE), calls = calls_of(f.l, "a");
    CHECK_MSG(calls == 50 && lost == 300, "%llu calls, %llu lost", (unsigned long long)calls,
              (unsigned long long)lost);
    pw_live_free(f.l);
}

TEST(live_prunes_the_phase_paths_no_window_touches_any_more)
{
    feed f = feed_new((pw_live_config){.window_ns = 2000000, .idle_windows = 3});
    f.tap.name(f.tap.ctx, 1, "old");
    f.tap.name(f.tap.ctx, 2, "new");
    feed_sample(&f);
    feed_call(&f, 1, 1);
    for (int i = 0; i < 20; i++) feed_call(&f, 1, 2);
    f.tap.channel_loss(f.tap.ctx, 7);
    CHECK_INT(pw_live_flush(f.l), PW_OK);
    CHECK_INT(calls_of(f.l, "old"), 0);
    CHECK_INT(calls_of(f.l, "new"), 20);
    CHECK_INT(pw_live_series(f.l), 1);
    CHECK_INT(pw_live_lost(f.l, PW_LIVE_LOST_CHANNEL), 7);
    pw_live_free(f.l);
}

/* ---- the agent over HTTP ---------------------------------------------------------------------- */

typedef struct agent {
    pid_t pid;
    int port;
    char channel[600];
} agent;

/* Four ports per test process (offset 0..3), distinct for tests running in parallel (their
 * pids differ) and below the kernel's ephemeral range. */
static int port_for(int offset)
{
    return 20000 + (int)(getpid() % 3000) * 4 + offset;
}

/* A connection to loopback:port from the loopback address src (NULL: any); -1 if refused. */
static int connect_from(const char *src, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_in from = {.sin_family = AF_INET};
    if (fd >= 0 && src && (inet_pton(AF_INET, src, &from.sin_addr) != 1 ||
                           bind(fd, (struct sockaddr *)&from, sizeof from) != 0)) {
        close(fd);
        return -1;
    }
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends request (or a GET of path) from src; the whole response, or NULL when nobody answers. */
static char *http_ask(const char *src, int port, const char *path, const char *request)
{
    int fd = connect_from(src, port);
    if (fd < 0) return NULL;
    char req[256];
    int n = request ? snprintf(req, sizeof req, "%s", request)
                    : snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t len = 0, cap = 1 << 14;
    char *buf = malloc(cap);
    for (ssize_t r; buf && (r = read(fd, buf + len, cap - len - 1)) > 0;) {
        len += (size_t)r;
        if (len + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    close(fd);
    if (buf) buf[len] = '\0';
    return buf;
}

static char *http_get(int port, const char *path)
{
    return http_ask(NULL, port, path, NULL);
}

/* A client that asks, reads a few bytes and resets the connection mid-response. */
static void rude_client(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        char few[16];
        if (write(fd, req, sizeof req - 1) > 0 && read(fd, few, sizeof few) >= 0) {}
        struct linger rst = {1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
    }
    close(fd);
}

/* max_events: serve's --max-events, NULL for its default. */
static agent start_agent_held(const char *address, int port, const char *extra_out,
                              const char *synthetic, const char *max_events)
{
    agent g = {.port = port};
    snprintf(g.channel, sizeof g.channel, "%s", tf_path("channel.txt"));
    unlink(g.channel);
    char listen[64], log[600];
    snprintf(listen, sizeof listen, "%s:%d", address, port);
    snprintf(log, sizeof log, "%s", tf_path("serve.log"));
    g.pid = fork();
    if (g.pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1), dup2(fd, 2);
        execl(tf_cli(), "phasewatt", "serve", "--listen", listen, "--source", "synthetic",
              "--synthetic", synthetic, "--interval", "5",
              "--window", "0.5", "--channel-file", g.channel, "--host", "test-host", "-o",
              extra_out ? extra_out : "/dev/null", max_events ? "--max-events" : (char *)NULL,
              max_events, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {   /* up to 10 s for the agent to answer */
        char *r = http_get(port, "/metrics");
        if (r && access(g.channel, R_OK) == 0) {
            free(r);
            char *text = tf_read_file(g.channel, NULL);
            CHECK(text != NULL);
            text[strcspn(text, "\n")] = '\0';
            snprintf(g.channel, sizeof g.channel, "%s", text);
            free(text);
            return g;
        }
        free(r);
        sleep_ms(50);
    }
    kill(g.pid, SIGKILL);
    char *l = tf_read_file(log, NULL);
    CHECK_MSG(0, "phasewatt serve did not start: %s", l ? l : "(no log)");
    return g;
}

static agent start_agent_with(const char *address, int port, const char *extra_out,
                              const char *synthetic)
{
    return start_agent_held(address, port, extra_out, synthetic, NULL);
}

static agent start_agent_on(const char *address, int port, const char *extra_out)
{
    return start_agent_with(address, port, extra_out, "prefill=200W,decode=80W,attention=120W");
}

static agent start_agent(int port, const char *extra_out)
{
    return start_agent_on("127.0.0.1", port, extra_out);
}

static int stop_agent(agent *g)
{
    kill(g->pid, SIGTERM);
    int st = 0;
    waitpid(g->pid, &st, 0);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code != 0) {   /* what the agent said (a sanitizer's report exits 66) */
        size_t n = 0;
        char *log = tf_read_file(tf_path("serve.log"), &n);
        fprintf(stderr, "    the agent exited %d; its log ends:\n%s\n", code,
                log ? log + (n > 6000 ? n - 6000 : 0) : "(none)");
        free(log);
    }
    return code;
}

/* A "Key:" of /proc/PID/status in kB, -1 when absent. */
static long status_kb(pid_t pid, const char *key)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *s = tf_read_file(path, NULL);
    const char *v = s ? strstr(s, key) : NULL;
    long kb = v ? atol(v + strlen(key)) : -1;
    free(s);
    return kb;
}

static long rss_kb(pid_t pid) { return status_kb(pid, "VmRSS:"); }

/* The workload: phases tagged from another process through the agent's channel. */
static void run_workload(const agent *g)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "PHASEWATT_CHANNEL='%s' PYTHONPATH='%s/bindings/python' python3 -c '\n"
             "import time, phasewatt\n"
             "with phasewatt.phase(\"prefill\"):\n"
             "    time.sleep(0.3)\n"
             "for i in range(6):\n"
             "    with phasewatt.phase(\"decode\"):\n"
             "        phasewatt.count(\"tokens\", 1)\n"
             "        with phasewatt.phase(\"attention\"):\n"
             "            time.sleep(0.05)\n"
             "        time.sleep(0.03)\n'",
             g->channel, PW_SOURCE_DIR);
    char *err = NULL;
    int rc = tf_run(cmd, NULL, &err);
    CHECK_MSG(rc == 0, "workload: %s", err);
    free(err);
}

TEST(serve_survives_10000_scrapes_and_clients_leaving_mid_response_with_flat_memory)
{
    agent g = start_agent(port_for(0), NULL);
    run_workload(&g);
    for (int i = 0; i < 500; i++) free(http_get(g.port, "/metrics"));   /* warm up */
    long before = rss_kb(g.pid);
    int ok = 0;
    for (int i = 0; i < 10000; i++) {
        if (i % 50 == 0) rude_client(g.port);
        char *r = http_get(g.port, "/metrics");
        ok += r && strstr(r, "200 OK") && strstr(r, "phasewatt_phase_energy_joules_total{");
        free(r);
    }
    long after = rss_kb(g.pid);
    if (ok != 10000) {
        char *r = http_get(g.port, "/metrics"), *log = tf_read_file(tf_path("serve.log"), NULL);
        CHECK_MSG(0, "%d of 10000 scrapes answered with phase figures; now: %.3000s\nlog: %s", ok,
                  r ? r : "(no answer)", log ? log : "(none)");
    }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)before, (void)after;   /* ASan's quarantine, TSan's shadow memory: RSS says nothing */
#else
    CHECK_MSG(before > 0 && after - before < 2048, "RSS grew from %ld kB to %ld kB", before, after);
#endif
    char *r = http_get(g.port, "/nope");
    CHECK(r && strstr(r, "404"));
    free(r);
    CHECK_INT(stop_agent(&g), 0);
}

/* ---- a real Prometheus ------------------------------------------------------------------------- */

static pid_t start_prometheus(int port, int target)
{
    char config[600], data[600], listen[64], cfg_flag[700], data_flag[700], listen_flag[100];
    snprintf(config, sizeof config, "%s", tf_path("prometheus.yml"));
    snprintf(data, sizeof data, "%s", tf_path("prometheus-data"));
    char yml[512];
    int n = snprintf(yml, sizeof yml,
                     "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                     "scrape_configs:\n  - job_name: phasewatt\n    static_configs:\n"
                     "      - targets: ['127.0.0.1:%d']\n", target);
    CHECK_INT(tf_write_file(config, yml, (size_t)n), 0);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(cfg_flag, sizeof cfg_flag, "--config.file=%s", config);
    snprintf(data_flag, sizeof data_flag, "--storage.tsdb.path=%s", data);
    snprintf(listen_flag, sizeof listen_flag, "--web.listen-address=%s", listen);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(tf_path("prometheus.log"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1), dup2(fd, 2);
        execlp("prometheus", "prometheus", cfg_flag, data_flag, listen_flag, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Asks Prometheus's HTTP API; prints "phase value" per series of the query's vector. */
static char *prom_query(int port, const char *promql)
{
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json, sys, urllib.parse, urllib.request\n"
             "q = urllib.parse.quote(sys.argv[2])\n"
             "d = json.load(urllib.request.urlopen(\"http://127.0.0.1:%%s/api/v1/query?query=%%s\" %% (sys.argv[1], q), timeout=5))\n"
             "for r in d[\"data\"][\"result\"]: print(r[\"metric\"].get(\"phase\", \"-\"), r[\"value\"][1])\n'"
             " %d '%s'", port, promql);
    if (tf_run(cmd, &out, NULL) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static double value_of(const char *lines, const char *phase)
{
    char key[128];
    snprintf(key, sizeof key, "%s ", phase);
    for (const char *p = lines; p && *p;) {
        if (!strncmp(p, key, strlen(key))) return atof(p + strlen(key));
        p = strchr(p, '\n');
        if (p) p++;
    }
    return NAN;
}

/* The value of metric's top-level series for phase in an agent's page (NAN if absent). */
static double metric_of(const char *page, const char *metric, const char *phase)
{
    char want[160];
    snprintf(want, sizeof want, "phase=\"%s\"", phase);
    size_t mlen = strlen(metric);
    for (const char *p = page; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        char *v = strstr(line, "} ");
        if (!strncmp(line, metric, mlen) && line[mlen] == '{' && v && strstr(line, "parent=\"\"") &&
            strstr(line, want))
            return atof(v + 2);
        p = eol ? eol + 1 : NULL;
    }
    return NAN;
}

static const char *const served_phases[] = {"prefill", "decode", "decode/attention"};

/* Polls the agent until every phase has a figure that two pages 0.6 s apart agree on (the
 * window holding the workload's last events has closed); fills energy and its interval. */
static int settled_figures(int port, double *energy, double *ci)
{
    double before[3] = {NAN, NAN, NAN};
    for (int tries = 0; tries < 100; tries++) {   /* up to 60 s */
        char *page = http_get(port, "/metrics");
        int same = page != NULL;
        for (int i = 0; i < 3; i++) {
            energy[i] = metric_of(page, "phasewatt_phase_energy_joules_total", served_phases[i]);
            ci[i] = metric_of(page, "phasewatt_phase_energy_uncertainty_joules", served_phases[i]);
            if (!isfinite(ci[i])) ci[i] = 0;
            same = same && isfinite(energy[i]) && energy[i] == before[i];
            before[i] = energy[i];
        }
        free(page);
        if (same) return 1;
        sleep_ms(600);
    }
    return 0;
}

/* Polls Prometheus until it stores the agent's figures (it scrapes every second). */
static char *stored_figures(int prom_port, const double *energy)
{
    for (int tries = 0; tries < 600; tries++) {   /* up to 60 s */
        char *got = prom_query(prom_port, "sum by (phase) (phasewatt_phase_energy_joules_total"
                                          "{parent=\"\",host=\"test-host\"})");
        int same = got != NULL;
        for (int i = 0; i < 3 && same; i++)
            same = fabs(value_of(got, served_phases[i]) - energy[i]) <= 1e-6 * energy[i];
        if (same) return got;
        free(got);
        sleep_ms(100);
    }
    return NULL;
}

/* Prometheus stores what the agent serves, and the agent's windowed figures agree with the
 * report's whole-run ones within 3 % beyond both stated intervals: two estimates of one truth
 * from the same readings, which a sampler starved by a loaded machine (long, uneven intervals
 * straddling the phases' ends) moves apart — more than the intervals then say, a known gap
 * (issue 15: real-time runs under load). Two causes of 3 % are gone: the synthetic source's
 * continuous sensor was stamped like a counter that could not be locked (half an interval
 * early), and an event published late landed at the next window's start. */
TEST(serve_prometheus_stores_per_phase_energy_matching_report_within_their_intervals)
{
    if (tf_run("command -v prometheus", NULL, NULL) != 0)
        tf_skip("Prometheus is not installed (tools/install-deps optional installs Debian's "
                "prometheus package)");
    const char *trace = tf_path("served.pwt");
    agent g = start_agent(port_for(1), trace);
    int prom_port = port_for(2);
    pid_t prom = start_prometheus(prom_port, g.port);
    char *up = NULL;
    for (int i = 0; i < 600 && !(up && strstr(up, " 1")); i++) {   /* up to 60 s */
        free(up);
        sleep_ms(100);
        up = prom_query(prom_port, "up{job=\"phasewatt\"}");
    }
    CHECK_MSG(up && strstr(up, " 1"), "Prometheus never scraped the agent: %s", up ? up : "no answer");
    free(up);
    run_workload(&g);
    double served[3], served_ci[3];
    int settled = settled_figures(g.port, served, served_ci);
    char *got = settled ? stored_figures(prom_port, served) : NULL;
    kill(prom, SIGTERM);
    waitpid(prom, NULL, 0);
    CHECK_INT(stop_agent(&g), 0);
    CHECK_MSG(settled, "the agent's figures never settled");
    CHECK_MSG(got != NULL, "Prometheus never stored the agent's figures %.6f %.6f %.6f", served[0],
              served[1], served[2]);
    char cmd[1024], *csv = NULL;
    snprintf(cmd, sizeof cmd, "\"$PW\" report %s --format csv | awk -F, 'NR > 1 && $1 != \"\" "
             "{ print $1, $5, ($15 == \"\" ? 0 : $15) }'", trace);
    CHECK_INT(tf_run(cmd, &csv, NULL), 0);
    for (int i = 0; i < 3; i++) {
        double report_j = value_of(csv, served_phases[i]), report_ci = 0;
        char key[64];
        snprintf(key, sizeof key, "%s ", served_phases[i]);
        const char *row = strstr(csv, key);
        if (row) sscanf(row + strlen(key), "%*f %lf", &report_ci);
        double allowed = 0.03 * report_j + report_ci + served_ci[i];
        CHECK_MSG(served_ci[i] > 0 && served_ci[i] < 0.5 * served[i],
                  "%s: the agent states ± %.6f J on a split figure of %.6f J", served_phases[i],
                  served_ci[i], served[i]);
        CHECK_MSG(report_j > 0 && fabs(served[i] - report_j) <= allowed,
                  "%s: agent %.6f ± %.6f J (as Prometheus stored), report %.6f ± %.6f J\nreport:\n%s",
                  served_phases[i], served[i], served_ci[i], report_j, report_ci, csv);
    }
    free(got);
    free(csv);
}

static double series_value(const char *metrics, const char *series)
{
    const char *p = metrics ? strstr(metrics, series) : NULL;
    return p ? atof(p + strlen(series)) : NAN;
}

TEST(serve_closes_the_phases_of_a_process_killed_mid_phase)
{
    agent g = start_agent(port_for(3), NULL);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "PHASEWATT_CHANNEL='%s' %s/progs/tagger kill", g.channel, PW_BUILD_DIR);
    CHECK_INT(tf_run(cmd, NULL, NULL), 128 + SIGKILL);
    /* the death is seen within 64 polls (0.32 s) and a window is 0.5 s, but a loaded machine
     * may take longer: poll until two pages 1.2 s apart show the same closed phase */
    const char *open = "phasewatt_phase_seconds_total{host=\"test-host\",phase=\"post-inference\"} ";
    double a = NAN, b = NAN;
    for (int tries = 0; tries < 50 && !(isfinite(a) && a == b); tries++) {   /* up to 60 s */
        a = b;
        sleep_ms(1200);
        char *page = http_get(g.port, "/metrics");
        b = series_value(page, open);
        free(page);
    }
    CHECK_MSG(a > 0.005 && a < 0.5 && b == a, "post-inference open for %.3f s, then %.3f s", a, b);
    CHECK_INT(stop_agent(&g), 0);
}

TEST(serve_listen_takes_only_a_numeric_address_and_a_port_in_range)
{
    const char *bad[] = {"0:9464", "0x0:9464", "localhost:9464", "127.0.0.1:99999", "127.0.0.1:0",
                         "127.0.0.1:", "[::]", ":9464", "127.0.0.1:+80", "127.1:9464"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cmd[256], *err = NULL;
        snprintf(cmd, sizeof cmd, "\"$PW\" serve --listen '%s' --source synthetic", bad[i]);
        int rc = tf_run(cmd, NULL, &err);
        CHECK_MSG(rc == 2 && err && strstr(err, "--listen wants a numeric ADDRESS:PORT") &&
                  strstr(err, bad[i]) && !strchr(strchr(err, '\n') + 1, '\n'),
                  "--listen %s: exit %d, %s", bad[i], rc, err);
        free(err);
    }
}

TEST(serve_max_events_takes_only_a_budget_in_range)
{
    const char *bad[] = {"0", "1023", "16777217", "-5", "4k", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char cmd[256], *err = NULL;
        snprintf(cmd, sizeof cmd, "\"$PW\" serve --max-events '%s' --source synthetic", bad[i]);
        int rc = tf_run(cmd, NULL, &err);
        CHECK_MSG(rc == 2 && err && strstr(err, "--max-events wants 1024 to 16777216") &&
                  !strchr(strchr(err, '\n') + 1, '\n'),
                  "--max-events '%s': exit %d, %s", bad[i], rc, err);
        free(err);
    }
}

TEST(serve_prints_what_it_bound_warns_beyond_loopback_and_answers_post_with_405)
{
    agent g = start_agent_on("0.0.0.0", port_for(4), NULL);
    char *r = http_ask(NULL, g.port, NULL, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                                           "Connection: close\r\n\r\n");
    CHECK_MSG(r && strstr(r, " 405 ") && strstr(r, "Allow: GET, HEAD"), "%s", r ? r : "(no answer)");
    free(r);
    r = http_ask(NULL, g.port, NULL, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    CHECK_MSG(r && strstr(r, " 405 "), "%s", r ? r : "(no answer)");
    free(r);
    CHECK_INT(stop_agent(&g), 0);
    char *log = tf_read_file(tf_path("serve.log"), NULL), want[128], warning[128];
    snprintf(want, sizeof want, "metrics at http://0.0.0.0:%d/metrics", g.port);
    snprintf(warning, sizeof warning, "warning: listening on 0.0.0.0:%d, not loopback", g.port);
    CHECK_MSG(log && strstr(log, want) && strstr(log, warning), "%s", log ? log : "(no log)");
    free(log);
}

/* 1 once the agent has closed fd (read sees the end, or the connection was reset). */
static int closed_by_peer(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

TEST(serve_cuts_clients_that_trickle_their_headers_and_keeps_room_for_other_addresses)
{
    agent g = start_agent(port_for(5), NULL);
    enum { SLOW = 64 };
    int fd[SLOW], open_now = SLOW;
    for (int i = 0; i < SLOW; i++) {
        fd[i] = connect_from("127.0.0.1", g.port);
        CHECK(fd[i] >= 0);
        CHECK(send(fd[i], "G", 1, MSG_NOSIGNAL) == 1);
    }
    /* another address always finds a slot: one address holds at most its share */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in second = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002)};
    int have_second = probe >= 0 && bind(probe, (struct sockaddr *)&second, sizeof second) == 0;
    if (probe >= 0) close(probe);
    char *r = have_second ? http_ask("127.0.0.2", g.port, "/metrics", NULL) : NULL;
    CHECK_MSG(!have_second || (r && strstr(r, "200 OK") && strstr(r, "phasewatt_lost_events_total{")),
              "a scrape from 127.0.0.2 during the trickle: %s", r ? r : "(no answer)");
    free(r);
    /* a byte every 0.5 s resets any idle timeout: only the header deadline ends them (the
     * bound on rounds is there to fail, not to time anything) */
    for (int round = 0; round < 120 && open_now; round++) {
        sleep_ms(500);
        open_now = 0;
        for (int i = 0; i < SLOW; i++)
            if (fd[i] >= 0 && (closed_by_peer(fd[i]) || send(fd[i], "E", 1, MSG_NOSIGNAL) != 1)) {
                close(fd[i]);
                fd[i] = -1;
            } else if (fd[i] >= 0) {
                open_now++;
            }
    }
    CHECK_MSG(open_now == 0, "%d trickling clients still connected after 60 s", open_now);
    r = http_get(g.port, "/metrics");
    CHECK(r && strstr(r, "200 OK"));
    free(r);
    CHECK_INT(stop_agent(&g), 0);
}

/* ---- short-lived processes into one agent ---------------------------------------------------- */

/* The sum of metric's top-level (parent="") series in a page: domains, or phases whose paths
 * are all top-level. */
static double sum_top_level(const char *page, const char *metric)
{
    double sum = 0;
    size_t mlen = strlen(metric);
    for (const char *p = page; p && *p;) {
        const char *eol = strchr(p, '\n'), *v = strstr(p, "} ");
        const char *top = strstr(p, "parent=\"\"");
        if (!strncmp(p, metric, mlen) && p[mlen] == '{' && v && top && (!eol || (v < eol && top < eol)))
            sum += atof(v + 2);
        p = eol ? eol + 1 : NULL;
    }
    return sum;
}

static double calls_served(const char *page, const char *phase)
{
    char series[128];
    snprintf(series, sizeof series, "phasewatt_phase_calls_total{host=\"test-host\",phase=\"%s\"} ", phase);
    return series_value(page, series);
}

static double lost_served(const char *page)
{
    double lost = 0;
    for (int r = 0; r < PW_LIVE_LOST_COUNT; r++) {
        char series[128];
        snprintf(series, sizeof series, "phasewatt_lost_events_total{host=\"test-host\",reason=\"%s\"} ",
                 pw_live_loss_reason((pw_live_loss)r));
        double v = series_value(page, series);
        lost += isfinite(v) ? v : 1e18;   /* a reason missing from the page fails below */
    }
    return lost;
}

/* Starts `tagger procs n conc` tagging into the agent's channel. */
static pid_t start_procs(const agent *g, int n, int conc)
{
    char tagger[600], count[16], together[16];
    snprintf(tagger, sizeof tagger, "%s/progs/tagger", PW_BUILD_DIR);
    snprintf(count, sizeof count, "%d", n);
    snprintf(together, sizeof together, "%d", conc);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("PHASEWATT_CHANNEL", g->channel, 1);
        execl(tagger, tagger, "procs", count, together, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The agent's page once `held` shows want calls, or two pages 1.2 s apart agree (the last
 * windows have closed and nothing more will come). */
static char *settled_page(int port, double want)
{
    char *page = NULL;
    double before = NAN;
    for (int tries = 0; tries < 50; tries++) {   /* up to 60 s */
        free(page);
        page = http_get(port, "/metrics");
        double held = calls_served(page, "held");
        if (held == want || (isfinite(held) && held == before)) return page;
        before = held;
        sleep_ms(1200);
    }
    return page;
}

/* Issues 16 and 21 in one agent: short-lived processes, eight alive at once, each a forked
 * child that exit()s, an exec'd tagger publishing its names anew, or a child SIGKILLed with a
 * phase open, tag 21 phases each. Every call reaches the figures or is counted in
 * phasewatt_lost_events_total, scrapes are answered throughout, the agent's memory does not
 * follow the processes, and the phases' energy fits in the domain's. The counts are the
 * point, not the speed: bench/serve-flood.py runs 10 000 and prints the rates. */
TEST(serve_counts_every_phase_of_1200_short_lived_processes_some_killed_mid_phase)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    enum { WARM = 30, N = 300 };    /* a sanitized exit handler is slow: 1200 take minutes */
#else
    enum { WARM = 60, N = 1200 };
#endif
    /* a budget of 4096 held events (~160 kB a queue half) keeps what a starved agent holds
     * back under load well below the growth the RSS check allows: that check is for a leak
     * per process, and a backlog of the default 131 072 events alone is ~5 MB */
    agent g = start_agent_held("127.0.0.1", port_for(6), NULL, "held=20W,w0=10W,background=5W",
                               "4096");
    int st = -1;
    pid_t warm = start_procs(&g, WARM, 8);
    CHECK(waitpid(warm, &st, 0) == warm && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(settled_page(g.port, WARM));
    /* the agent's own memory: the channel's shared pages it reads (RssShmem) are bounded by
     * the region, whose name log is reused as it is read */
    long before = status_kb(g.pid, "RssAnon:");
    pid_t flood = start_procs(&g, N, 8);
    int asked = 0, answered = 0;
    while (waitpid(flood, &st, WNOHANG) == 0) {
        char *r = http_get(g.port, "/metrics");
        asked++;
        answered += r && strstr(r, "200 OK") && strstr(r, "phasewatt_lost_events_total{");
        free(r);
        sleep_ms(50);
    }
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "tagger procs: status %d", st);
    CHECK_MSG(answered == asked && asked > 0, "%d of %d scrapes answered during the flood", answered,
              asked);
    char *page = settled_page(g.port, WARM + N);
    long after = status_kb(g.pid, "RssAnon:");
    CHECK(page != NULL);
    double lost = lost_served(page), want = WARM + N;
    for (int k = 0; k < 21; k++) {
        char phase[16] = "held";
        if (k < 20) snprintf(phase, sizeof phase, "w%d", k);
        double calls = calls_served(page, phase);
        /* each loss costs a call at most: all arrived, or the shortfall is counted */
        CHECK_MSG(calls == want || (calls < want && want - calls <= lost),
                  "%s: %.0f calls of %.0f, %.0f events counted lost\n%.4000s", phase, calls,
                  want, lost, page);
    }
    double domains = sum_top_level(page, "phasewatt_energy_joules_total");
    double in_phases = sum_top_level(page, "phasewatt_phase_energy_joules_total");
    CHECK_MSG(in_phases > 0 && in_phases <= domains * (1 + 1e-9),
              "phases hold %.6f J of the domains' %.6f J", in_phases, domains);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)before, (void)after;   /* a sanitizer's quarantine and shadow: RSS says nothing */
#else
    CHECK_MSG(before > 0 && after - before < 4096, "private RSS grew from %ld kB to %ld kB over %d processes",
              before, after, N);
#endif
    free(page);
    CHECK_INT(stop_agent(&g), 0);
}

static unsigned long long meta_of(const pw_trace *t, const char *key)
{
    const char *v = pw_trace_meta(t, key);
    return v ? strtoull(v, NULL, 10) : 0;
}

/* Issue 21's hostile writer (tests/progs/forger.c): 100 000 garbage names under 3 000 pids,
 * most of no process, each also claiming to be a fork inheriting 2^31 ids; then every ring
 * claimed, a quarter of them under the pid of a live `sleep` (mapping no channel) and a
 * quarter under init's, all filled with events. The agent stays under its stated budget
 * (256 MB), keeps answering with a page that is UTF-8 whatever the names, refuses the
 * sleeper's rings (the forger waits for that) and counts them, and an honest tagger after
 * it gets every phase through. */
TEST(serve_stays_within_its_budget_against_a_writer_forging_pids_names_and_rings)
{
    const char *trace = tf_path("forged.pwt");
    agent g = start_agent(port_for(7), trace);
    char cmd[1024], *err = NULL;
    snprintf(cmd, sizeof cmd, "PHASEWATT_CHANNEL='%s' %s/progs/forger 3000 100000", g.channel,
             PW_BUILD_DIR);
    CHECK_MSG(tf_run(cmd, NULL, &err) == 0, "forger: %s", err);
    free(err);
    snprintf(cmd, sizeof cmd, "PHASEWATT_CHANNEL='%s' %s/progs/tagger procs 30 1", g.channel,
             PW_BUILD_DIR);
    CHECK_INT(tf_run(cmd, NULL, NULL), 0);
    char *page = http_get(g.port, "/metrics");
    /* answered, with every loss reason (how much is counted yet depends on how far the
     * agent has got: the trace's counts below are the final ones) */
    CHECK_MSG(page && strstr(page, "200 OK") && lost_served(page) < 1e18, "%.3000s",
              page ? page : "(no answer)");
    const char *file = tf_path("forged.prom");
    CHECK_INT(tf_write_file(file, page, strlen(page)), 0);
    free(page);
    snprintf(cmd, sizeof cmd, "iconv -f UTF-8 -t UTF-8 %s >/dev/null", file);
    CHECK_MSG(tf_run(cmd, NULL, &err) == 0, "not UTF-8: %s", err);
    free(err);
    long peak = status_kb(g.pid, "VmHWM:");
    CHECK_INT(stop_agent(&g), 0);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)peak;   /* a sanitizer's shadow memory is no measure of the agent's */
#else
    CHECK_MSG(peak > 0 && peak < 256 * 1024, "the agent peaked at %ld kB", peak);
#endif
    pw_trace *t = NULL;
    CHECK_INT(pw_trace_open(trace, &t), PW_OK);
    unsigned long long forged = meta_of(t, "channel.forged");
    CHECK_MSG(forged >= 32 && forged <= 64, "%llu rings refused (32 under the sleeper's pid, 32 "
              "under init's where its maps can be read)", forged);
    pw_attribution *a = NULL;
    CHECK_INT(pw_attribute(t, &a), PW_OK);
    int w0 = pw_attribution_find(a, "w0");
    uint64_t honest = w0 >= 0 ? a->nodes[w0].calls : 0;
    /* the refused rings are free again, more than the 30 processes one after another need
     * (and the forger left only once its names were read: the honest names find room); the
     * last forked children's ids come from a parent that may be gone when their entries are
     * read (a recorder slowed by the forger's 3 000 pids), so its names outlive it */
    char counts[1024];
    size_t at = 0;
    for (int c = 0; c < PW_CH_NCOUNTS && at < sizeof counts; c++) {
        const char *key = pw_channel_count_key((pw_channel_count)c);
        at += (size_t)snprintf(counts + at, sizeof counts - at, " %s=%llu", key, meta_of(t, key));
    }
    CHECK_MSG(honest == 30 && !meta_of(t, "channel.no_ring"), "w0: %llu calls;%s",
              (unsigned long long)honest, counts);
    pw_attribution_free(a);
    pw_trace_close(t);
}
