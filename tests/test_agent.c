/* test_agent.c — `phasewatt agent` run by the tests over a fake powercap tree: the `agent`
 * source reads exactly what `rapl` reads from the tree, hostile clients do not disturb the
 * agent, an unprivileged user reads through it but cannot write into it, and no agent gives
 * a clear reason. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "phasewatt.h"
#include "sources/agent.h"
#include "sources/source.h"
#include "sysfs_fixture.h"
#include "tf.h"

#define RANGE_UJ 262143328850ull
#define PKG "sys/class/powercap/intel-rapl:0"
#define CORE "sys/class/powercap/intel-rapl:0:0"
#define WAIT_TRIES 4000                  /* bounded: 4000 checks 5 ms apart at most */

static char zone_pkg[600], zone_core[600];

/* A package with a core subzone, both counting from the values given. */
static void make_tree(uint64_t pkg_uj, uint64_t core_uj)
{
    snprintf(zone_pkg, sizeof zone_pkg, "%s/" PKG, tf_tmpdir());
    snprintf(zone_core, sizeof zone_core, "%s/" CORE, tf_tmpdir());
    fx_mkdirs(zone_pkg);
    fx_mkdirs(zone_core);
    fx_write(zone_pkg, "name", "package-0\n");
    fx_write(zone_core, "name", "core\n");
    fx_write_u64(zone_pkg, "max_energy_range_uj", RANGE_UJ);
    fx_write_u64(zone_core, "max_energy_range_uj", RANGE_UJ);
    fx_write_u64(zone_pkg, "energy_uj", pkg_uj);
    fx_write_u64(zone_core, "energy_uj", core_uj);
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

/* Starts `phasewatt agent` over the fake tree and waits (a bounded number of checks, no
 * fixed sleep) until it accepts connections. The agent dies with the test. */
static pid_t start_agent(const char *socket_path, const char *group)
{
    setenv("PHASEWATT_SYSFS_ROOT", tf_tmpdir(), 1);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        const char *argv[] = {tf_cli(), "agent", "--quiet", "--socket", socket_path,
                              group ? "--group" : NULL, group, NULL};
        execv(tf_cli(), (char **)argv);
        _exit(127);
    }
    for (int i = 0; i < WAIT_TRIES; i++) {
        int fd = connect_to(socket_path);
        if (fd >= 0) {
            close(fd);
            return pid;
        }
        int status;
        CHECK_MSG(waitpid(pid, &status, WNOHANG) == 0, "the agent exited (status %d)", status);
        usleep(5000);
    }
    tf_fail(__FILE__, __LINE__, "the agent never listened on %s", socket_path);
}

/* SIGTERM: the agent ends on its own and removes its socket. */
static void stop_agent(pid_t pid, const char *socket_path)
{
    int status;
    CHECK_INT(kill(pid, SIGTERM), 0);
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "agent status %d", status);
    struct stat st;
    CHECK_MSG(lstat(socket_path, &st) != 0, "the agent left %s behind", socket_path);
}

static pw_source_config agent_config(const char *socket_path)
{
    pw_source_config cfg = fx_config();
    cfg.agent_socket = socket_path;
    return cfg;
}

/* A fake tree (package from pkg_uj, core from 7000 µJ), an agent serving it on sock, and
 * the configuration both sources probe with. */
static pid_t agent_over_tree(uint64_t pkg_uj, const char *sock, pw_source_config *cfg)
{
    make_tree(pkg_uj, 7000);
    *cfg = agent_config(sock);
    return start_agent(sock, NULL);
}

/* The first reading of each side: counters start at each probe, so energy is compared
 * as what each side counted since then. */
typedef struct pair {
    void *rapl, *agent;
    size_t n;
    uint64_t rapl0[PW_SOURCE_MAX_DOMAINS], agent0[PW_SOURCE_MAX_DOMAINS];
} pair;

static void read_both(pair *p, uint64_t *r, uint64_t *a)
{
    uint64_t t = 0;
    CHECK_INT(pw_source_rapl.read(p->rapl, &t, r), PW_OK);
    CHECK_INT(pw_source_agent.read(p->agent, &t, a), PW_OK);
}

static void start_pair(pair *p, void *rapl, void *agent, size_t n)
{
    p->rapl = rapl;
    p->agent = agent;
    p->n = n;
    read_both(p, p->rapl0, p->agent0);
}

/* Both sources read the tree now; the agent's figures must be rapl's, µJ for µJ. */
static void check_same_reading(pair *p)
{
    uint64_t a[PW_SOURCE_MAX_DOMAINS], r[PW_SOURCE_MAX_DOMAINS];
    read_both(p, r, a);
    for (size_t d = 0; d < p->n; d++)
        CHECK_MSG(a[d] - p->agent0[d] == r[d] - p->rapl0[d],
                  "domain %zu: agent counted %llu µJ, rapl %llu µJ", d,
                  (unsigned long long)(a[d] - p->agent0[d]),
                  (unsigned long long)(r[d] - p->rapl0[d]));
}

TEST(agent_source_reads_what_rapl_reads)
{
    const char *sock = tf_path("agent.sock");
    pw_source_config cfg;
    pid_t pid = agent_over_tree(RANGE_UJ - 1500000, sock, &cfg);
    pw_source_info ri, ai;
    void *rapl = fx_probe_with_ok(&pw_source_rapl, &cfg, &ri);
    void *agent = fx_probe_with_ok(&pw_source_agent, &cfg, &ai);
    CHECK_INT(ai.ndomains, ri.ndomains);
    CHECK_INT(ai.ndomains, 2);
    CHECK_INT(ai.period_ns, ri.period_ns);
    for (size_t d = 0; d < ri.ndomains; d++) {
        CHECK_STR(ai.domains[d].name, ri.domains[d].name);
        CHECK_INT(ai.domains[d].kind, ri.domains[d].kind);
        CHECK_INT(ai.domains[d].parent, ri.domains[d].parent);
    }
    pair p;
    start_pair(&p, rapl, agent, ri.ndomains);
    /* The package wraps between these reads: both undo it the same way. */
    static const uint64_t pkg[] = {RANGE_UJ - 400000, 600000, 2600000, 2600000, 9000000};
    for (size_t i = 0; i < sizeof pkg / sizeof pkg[0]; i++) {
        fx_write_u64(zone_pkg, "energy_uj", pkg[i]);
        fx_write_u64(zone_core, "energy_uj", 7000 + 100000 * i);
        check_same_reading(&p);
    }
    pw_source_agent.close(agent);
    pw_source_rapl.close(rapl);
    stop_agent(pid, sock);
}

/* Whether the agent hung up on fd, watched without reading (a bounded wait). */
static int closed_by_agent(int fd)
{
    for (int i = 0; i < WAIT_TRIES; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5) > 0 && (p.revents & POLLHUP)) return 1;
    }
    return 0;
}

/* A client that asks for readings and never takes them: keeps asking, waiting while its own
 * socket is full, until the agent hangs up on it (its answers filled the buffer) or a bounded
 * wait ends. Stopping at the first full socket instead left it to the agent's speed whether
 * the answers to what was sent could still fit (they did under TSan on a loaded machine). */
static int flood_requests(const char *sock)
{
    int fd = connect_to(sock);
    CHECK(fd >= 0);
    const char req[PW_AGENT_REQ_LEN] = {'P', 'W', (char)PW_AGENT_VERSION, PW_AGENT_OP_READ};
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (int waits = 0; waits < WAIT_TRIES;) {
        if (send(fd, req, sizeof req, MSG_NOSIGNAL) == (ssize_t)sizeof req) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;   /* hung up */
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        if (poll(&p, 1, 5) > 0 && (p.revents & (POLLHUP | POLLERR))) break;
        waits++;
    }
    return fd;
}

TEST(agent_survives_hostile_clients)
{
    const char *sock = tf_path("agent.sock");
    pw_source_config cfg;
    pid_t pid = agent_over_tree(5000000, sock, &cfg);
    pw_source_info ri, ai;
    void *rapl = fx_probe_with_ok(&pw_source_rapl, &cfg, &ri);
    void *agent = fx_probe_with_ok(&pw_source_agent, &cfg, &ai);
    pair p;
    start_pair(&p, rapl, agent, 2);

    int garbage = connect_to(sock);   /* not a request: the agent hangs up */
    CHECK(garbage >= 0);
    CHECK(send(garbage, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL) == 18);
    CHECK_MSG(closed_by_agent(garbage), "the agent kept a client that sent garbage");
    close(garbage);

    int half = connect_to(sock);      /* half a request, then gone */
    CHECK(half >= 0 && send(half, "PW", 2, MSG_NOSIGNAL) == 2);
    close(half);
    int gone = connect_to(sock);      /* asks, leaves before the answer */
    const char req[PW_AGENT_REQ_LEN] = {'P', 'W', (char)PW_AGENT_VERSION, PW_AGENT_OP_READ};
    CHECK(gone >= 0 && send(gone, req, sizeof req, MSG_NOSIGNAL) == (ssize_t)sizeof req);
    close(gone);

    int slow = flood_requests(sock);  /* never reads: dropped, not waited for */
    CHECK_MSG(closed_by_agent(slow), "the agent kept a client that never reads");
    close(slow);

    int many[3 * 32];                 /* more connections than the agent keeps */
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++) {
        many[i] = connect_to(sock);
        CHECK(many[i] >= 0);
    }
    fx_write_u64(zone_pkg, "energy_uj", 6000000);
    uint64_t t = 0, e[PW_SOURCE_MAX_DOMAINS];
    /* The recorder's idle connection may have made room for the flood: one gap, then it
     * reconnects to the same agent run. */
    int gap = pw_source_agent.read(agent, &t, e) != PW_OK;
    check_same_reading(&p);
    CHECK(gap || e[0] - p.agent0[0] == 1000000);
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++) close(many[i]);
    pw_source_agent.close(agent);

    void *fresh = fx_probe_with_ok(&pw_source_agent, &cfg, &ai);   /* still serving */
    start_pair(&p, rapl, fresh, 2);
    fx_write_u64(zone_pkg, "energy_uj", 6500000);
    check_same_reading(&p);
    pw_source_agent.close(fresh);
    pw_source_rapl.close(rapl);
    stop_agent(pid, sock);
}

TEST(agent_absent_gives_a_clear_reason)
{
    pw_source_config cfg = agent_config(tf_path("no-agent.sock"));
    const char *why = fx_probe_with_fails(&pw_source_agent, &cfg, PW_ERR_NOT_FOUND);
    CHECK_MSG(strstr(why, "phasewatt agent") && strstr(why, "no-agent.sock"), "why: %s", why);
    /* An agent whose sensor is missing refuses to start, in one line. */
    setenv("PHASEWATT_SYSFS_ROOT", tf_tmpdir(), 1);   /* an empty tree */
    char *err = NULL;
    char *out = tf_run_expect("\"$PW\" agent --socket agent.sock", 1, &err);
    CHECK_MSG(strstr(err, "phasewatt agent: rapl:") && strchr(err, '\n') == err + strlen(err) - 1,
              "stderr: %s", err);
    free(out);
    free(err);
}

/* In a child that is nobody in nogroup: rapl cannot read the root-only tree, the agent can
 * (the parent adds 1234567 µJ between its two reads, told and answered through the pipes);
 * the feed cannot be opened for writing nor replaced. Returns what failed (0: nothing). */
static int unprivileged_checks(const char *sock, int to_parent, int from_parent)
{
    if (setgid(65534) != 0 || setuid(65534) != 0) return 1;
    pw_source_config cfg = agent_config(sock);
    pw_source_info info;
    void *st = NULL;
    char why[PW_WHY_MAX];
    if (pw_source_rapl.probe(&cfg, &st, &info, why, sizeof why) != PW_ERR_PERMISSION) return 2;
    if (pw_source_agent.probe(&cfg, &st, &info, why, sizeof why) != PW_OK) return 3;
    uint64_t t = 0, e0[PW_SOURCE_MAX_DOMAINS], e1[PW_SOURCE_MAX_DOMAINS];
    char go = 0;
    if (pw_source_agent.read(st, &t, e0) != PW_OK || write(to_parent, "r", 1) != 1 ||
        read(from_parent, &go, 1) != 1 || pw_source_agent.read(st, &t, e1) != PW_OK ||
        e1[0] - e0[0] != 1234567)
        return 4;
    if (open(sock, O_WRONLY) >= 0 || unlink(sock) == 0 || chmod(sock, 0666) == 0) return 5;
    pw_source_agent.close(st);
    return 0;
}

TEST(agent_serves_an_unprivileged_user)
{
    if (geteuid() != 0) tf_skip("needs root to start the agent and become nobody");
    make_tree(8000000, 7000);
    CHECK_INT(chmod(tf_tmpdir(), 0711), 0);   /* nobody may pass, not list or write */
    char energy[700];
    snprintf(energy, sizeof energy, "%s/energy_uj", zone_pkg);
    CHECK_INT(chmod(energy, 0400), 0);        /* as since the 2020 RAPL fix */
    snprintf(energy, sizeof energy, "%s/energy_uj", zone_core);
    CHECK_INT(chmod(energy, 0400), 0);
    const char *sock = tf_path("agent.sock");
    pid_t pid = start_agent(sock, "nogroup");
    struct stat st;
    CHECK_INT(lstat(sock, &st), 0);
    CHECK_INT(st.st_mode & 0777, 0660);
    CHECK_INT(st.st_gid, 65534);
    int up[2], down[2];
    CHECK(pipe(up) == 0 && pipe(down) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) _exit(unprivileged_checks(sock, up[1], down[0]));
    close(up[1]);
    close(down[0]);
    char got = 0;
    if (read(up[0], &got, 1) == 1) fx_write_u64(zone_pkg, "energy_uj", 8000000 + 1234567);
    CHECK(write(down[1], "g", 1) == 1);
    close(up[0]);
    close(down[1]);
    int status;
    CHECK_INT(waitpid(child, &status, 0), child);
    static const char *const what[] = {"", "cannot become nobody", "rapl was readable",
                                       "the agent refused nobody", "wrong reading",
                                       "nobody could write or replace the socket"};
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK_MSG(code == 0, "unprivileged client: %s", code > 0 && code < 6 ? what[code] : "died");
    stop_agent(pid, sock);
}
