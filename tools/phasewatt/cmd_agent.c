/* cmd_agent.c — `phasewatt agent`: a privileged process that reads a root-only source and
 * answers unprivileged recorders' read requests over a group-readable Unix socket. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "base/clock.h"
#include "phasewatt.h"
#include "platform/platform.h"
#include "sources/agent.h"
#include "sources/source.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0                   /* macOS: SIGPIPE is ignored for the whole process */
#endif

#define MAX_CLIENTS 32                   /* the oldest idle connection makes room for a new one */
#define POLL_MS 250                      /* how soon SIGINT/SIGTERM is noticed */

static int run(int argc, char **argv);

const cli_command cli_agent = {
    "agent", "read root-only sensors for unprivileged recorders (`--source agent`)",
    "usage: phasewatt agent [--source S] [--socket PATH] [--group G] [--quiet]\n"
    "\n"
    "Run as root (or with the access the source needs). Probes one measured backend and\n"
    "serves its readings on a Unix socket: a recorder started with `--source agent` (by\n"
    "any member of the group) sends a read request, the agent reads the sensor then and\n"
    "answers with every domain's cumulative energy, so attribution is the same as reading\n"
    "the sensor locally. Clients can only ask; they never write into the agent's state.\n"
    "  --source S     the backend to serve (default rapl; see `phasewatt sources`)\n"
    "  --socket PATH  where to listen (default " PW_AGENT_SOCKET_DEFAULT "; recorders\n"
    "                 find it through PHASEWATT_AGENT_SOCKET)\n"
    "  --group G      the group allowed to read (socket mode 0660, group G); without it\n"
    "                 only the agent's own user may connect (mode 0600)\n"
    "  --quiet        no note on stderr when it starts\n"
    "Runs until SIGINT or SIGTERM, then removes its socket. See docs/sources.md.\n",
    run};

typedef struct client {
    int fd;                              /* -1: a free slot */
    unsigned char req[PW_AGENT_REQ_LEN]; /* the request being received */
    size_t got;
    uint64_t last_ns;                    /* its last complete request (or its arrival) */
} client;

typedef struct agent_server {
    const pw_source_ops *ops;
    void *state;
    pw_agent_info_msg info;
    int listen_fd;
    const char *path;
    client clients[MAX_CLIENTS];
} agent_server;

typedef struct agent_args {
    const char *source, *socket, *group;
    int quiet;
} agent_args;

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig) { (void)sig; stop_requested = 1; }

static int parse(int argc, char **argv, agent_args *a)
{
    static const struct option opts[] = {
        {"source", required_argument, 0, 's'}, {"socket", required_argument, 0, 'S'},
        {"group", required_argument, 0, 'g'},  {"quiet", no_argument, 0, 'q'},
        {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_agent, argc, argv, "s:S:g:q", opts)) != -1) {
        switch (ch) {
        case 's': a->source = optarg; break;
        case 'S': a->socket = optarg; break;
        case 'g': a->group = optarg; break;
        case 'q': a->quiet = 1; break;
        default: return CLI_USAGE;
        }
    }
    if (optind != argc) return cli_error("agent", CLI_USAGE, "unexpected '%s'", argv[optind]);
    return 0;
}

/* Probes the one source the agent serves: measured sensors only (a model or a simulation
 * would come out labelled measured on the recorder's side), and never itself. */
static int open_source(agent_server *s, const char *name)
{
    s->ops = pw_source_find(name);
    if (!s->ops)
        return cli_error("agent", CLI_USAGE, "unknown source '%s' (see `phasewatt sources`)",
                         name);
    if (!s->ops->measured || s->ops->simulated || s->ops == &pw_source_agent)
        return cli_error("agent", CLI_USAGE, "'%s' is not a measured sensor an agent can "
                         "serve", name);
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    pw_source_info info;
    char why[PW_WHY_MAX] = "";
    int rc = pw_source_probe(s->ops, &cfg, &s->state, &info, why, sizeof why);
    if (rc != PW_OK)
        return cli_error("agent", CLI_FAILED, "%s: %s", name, *why ? why : pw_strerror(rc));
    pw_agent_info_msg *m = &s->info;
    m->magic = PW_AGENT_MAGIC;
    m->version = PW_AGENT_VERSION;
    if (pw_random_u64(&m->epoch) != 0) m->epoch = pw_now_ns() ^ ((uint64_t)getpid() << 32);
    snprintf(m->source, sizeof m->source, "%s", name);
    m->ndomains = (uint32_t)info.ndomains;
    m->current_at_read = (uint32_t)info.current_at_read;
    m->period_ns = info.period_ns;
    for (size_t i = 0; i < info.ndomains; i++) {
        memcpy(m->domains[i].name, info.domains[i].name, sizeof m->domains[i].name);
        m->domains[i].kind = (int32_t)info.domains[i].kind;
        m->domains[i].parent = info.domains[i].parent;
        m->domains[i].flags = info.domains[i].flags;
    }
    return 0;
}

/* An existing socket file is replaced only when nothing answers on it (a crashed agent's);
 * anything else at the path is left alone. */
static int clear_path(const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(sa->sun_path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(st.st_mode)) {
        errno = EEXIST;
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int live = fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
    if (fd >= 0) close(fd);
    if (live) {
        errno = EADDRINUSE;
        return -1;
    }
    return unlink(sa->sun_path);
}

/* Binds the socket created 0600 (no moment where others may connect), then hands it to
 * the group: 0, or an exit code. */
static int make_socket(agent_server *s, const char *group)
{
    gid_t gid = (gid_t)-1;
    if (group) {
        struct group *g = getgrnam(group);
        if (!g) return cli_error("agent", CLI_USAGE, "no group named '%s'", group);
        gid = g->gr_gid;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(s->path) >= sizeof sa.sun_path)
        return cli_error("agent", CLI_USAGE, "socket path too long: %s", s->path);
    memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
    if (clear_path(&sa) != 0)
        return cli_error("agent", CLI_FAILED, "cannot use %s: %s", s->path,
                         errno == EADDRINUSE ? "an agent already serves it" : strerror(errno));
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s->listen_fd < 0 || fcntl(s->listen_fd, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(s->listen_fd, F_SETFL, O_NONBLOCK) != 0)
        return cli_error("agent", CLI_FAILED, "cannot create a socket: %s", strerror(errno));
    mode_t old = umask(0177);
    int bound = bind(s->listen_fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (bound != 0)
        return cli_error("agent", CLI_FAILED, "cannot listen on %s: %s", s->path,
                         strerror(errno));
    if (group && (chown(s->path, (uid_t)-1, gid) != 0 || chmod(s->path, 0660) != 0)) {
        int e = errno;
        unlink(s->path);
        return cli_error("agent", CLI_FAILED, "cannot give %s to group %s: %s (run as root)",
                         s->path, group, strerror(e));
    }
    if (listen(s->listen_fd, MAX_CLIENTS) != 0) {
        int e = errno;
        unlink(s->path);
        return cli_error("agent", CLI_FAILED, "cannot listen on %s: %s", s->path, strerror(e));
    }
    return 0;
}

static void drop(client *c)
{
    close(c->fd);
    c->fd = -1;
    c->got = 0;
}

/* A free slot, or the one idle longest (many connections cannot lock others out). */
static client *slot_for_new(agent_server *s)
{
    client *oldest = &s->clients[0];
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        client *c = &s->clients[i];
        if (c->fd < 0) return c;
        if (c->last_ns < oldest->last_ns) oldest = c;
    }
    drop(oldest);
    return oldest;
}

static void accept_clients(agent_server *s)
{
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) return;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
            close(fd);
            continue;
        }
        client *c = slot_for_new(s);
        c->fd = fd;
        c->got = 0;
        c->last_ns = pw_now_ns();
    }
}

/* The whole reply or the client goes: one that does not read its answers (a full socket
 * buffer) is dropped rather than waited for, so it cannot stall the others. */
static int reply(client *c, const void *msg, size_t len)
{
    ssize_t n = send(c->fd, msg, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    return n == (ssize_t)len ? 0 : -1;
}

/* Reads the sensor now, for the request just received. */
static int answer_read(agent_server *s, client *c)
{
    pw_agent_read_msg m;
    memset(&m, 0, sizeof m);
    uint64_t t0 = pw_now_ns(), t = t0;
    m.magic = PW_AGENT_MAGIC;
    m.epoch = s->info.epoch;
    m.ndomains = s->info.ndomains;
    m.read_t0_ns = t0;
    m.rc = s->ops->read(s->state, &t, m.energy_uj);
    m.read_t1_ns = pw_now_ns();
    m.self_timed = t != t0;
    m.t_ns = t;
    return reply(c, &m, sizeof m);
}

/* Takes what the client sent; a request that is not exactly a known one ends it. */
static void serve_client(agent_server *s, client *c)
{
    ssize_t n = recv(c->fd, c->req + c->got, sizeof c->req - c->got, 0);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) drop(c);
        return;
    }
    c->got += (size_t)n;
    if (c->got < sizeof c->req) return;
    c->got = 0;
    c->last_ns = pw_now_ns();
    int ok = c->req[0] == 'P' && c->req[1] == 'W' && c->req[2] == PW_AGENT_VERSION;
    if (ok && c->req[3] == PW_AGENT_OP_INFO) ok = reply(c, &s->info, sizeof s->info) == 0;
    else if (ok && c->req[3] == PW_AGENT_OP_READ) ok = answer_read(s, c) == 0;
    else ok = 0;
    if (!ok) drop(c);
}

static void serve(agent_server *s)
{
    struct pollfd p[MAX_CLIENTS + 1];
    while (!stop_requested) {
        p[0] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < MAX_CLIENTS; i++)
            p[i + 1] = (struct pollfd){.fd = s->clients[i].fd, .events = POLLIN};
        if (poll(p, MAX_CLIENTS + 1, POLL_MS) <= 0) continue;
        for (size_t i = 0; i < MAX_CLIENTS; i++)
            if (s->clients[i].fd >= 0 && p[i + 1].revents) serve_client(s, &s->clients[i]);
        if (p[0].revents & POLLIN) accept_clients(s);
    }
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;   /* no SA_RESTART: poll returns and the loop sees the flag */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

static int run(int argc, char **argv)
{
    agent_args a = {.source = "rapl", .socket = PW_AGENT_SOCKET_DEFAULT};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    static agent_server s;   /* the info message is ~5 KiB: not on the stack */
    s.path = a.socket;
    s.listen_fd = -1;
    for (size_t i = 0; i < MAX_CLIENTS; i++) s.clients[i].fd = -1;
    if ((rc = open_source(&s, a.source)) != 0) return rc;
    install_signals();
    if ((rc = make_socket(&s, a.group)) == 0) {
        if (!a.quiet)
            fprintf(stderr, "phasewatt agent: serving %s (%u domains) on %s for %s\n",
                    a.source, (unsigned)s.info.ndomains, s.path,
                    a.group ? a.group : "this user only");
        serve(&s);
        unlink(s.path);
    }
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (s.clients[i].fd >= 0) drop(&s.clients[i]);
    if (s.listen_fd >= 0) close(s.listen_fd);
    s.ops->close(s.state);
    return rc;
}
