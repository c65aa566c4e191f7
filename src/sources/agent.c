/* agent.c — the `agent` source: readings of root-only sensors taken by `phasewatt agent`
 * and fetched over its Unix socket, so an unprivileged recorder gets the same figures. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "phasewatt.h"
#include "platform/platform.h"
#include "sources/agent.h"
#include "sources/source.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0                   /* macOS: SO_NOSIGPIPE is set on the socket instead */
#endif

#define REPLY_TIMEOUT_MS 500             /* a stuck agent costs the sampler a gap, not a stall */

typedef struct agent {
    int fd;                              /* -1 between a failure and the next reconnect */
    char path[sizeof ((struct sockaddr_un *)0)->sun_path];
    char source[PW_AGENT_SOURCE_MAX];   /* the backend the agent runs: "rapl" */
    uint64_t epoch;
    uint32_t ndomains;
    uint64_t read_t0_ns, read_t1_ns;     /* the agent's bracket of the last read */
} agent;

static int set_socket_options(int fd)
{
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -1;
#ifdef SO_NOSIGPIPE
    int one = 1;   /* a profiler must not die of SIGPIPE when the agent goes away */
    if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) != 0) return -1;
#endif
    return 0;
}

/* Connects to path and checks that root or this user serves it (anyone else could be
 * feeding made-up numbers): an fd, or -1 with a reason in why. */
static int connect_agent(const char *path, char *why, size_t whylen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(why, whylen, "agent socket path too long: %s", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || set_socket_options(fd) != 0) {
        snprintf(why, whylen, "cannot create a socket: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        if (e == EACCES || e == EPERM)
            snprintf(why, whylen, "permission denied on %s: join the group the agent was "
                     "started with (--group), then log in again", path);
        else
            snprintf(why, whylen, "no agent at %s (%s): start `sudo phasewatt agent --group "
                     "G` (docs/sources.md) or set PHASEWATT_AGENT_SOCKET", path, strerror(e));
        errno = e;
        return -1;
    }
    uint32_t uid;
    if (pw_socket_peer_uid(fd, &uid) != 0 || (uid != 0 && uid != (uint32_t)geteuid())) {
        snprintf(why, whylen, "%s is served by uid %u, neither root nor you: not trusted",
                 path, (unsigned)uid);
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* Receives exactly len bytes within the reply timeout: 0, or -1. */
static int recv_all(int fd, void *buf, size_t len)
{
    uint64_t deadline = pw_now_ns() + (uint64_t)REPLY_TIMEOUT_MS * 1000000u;
    for (size_t got = 0; got < len;) {
        uint64_t now = pw_now_ns();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (now >= deadline || poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0) {
            if (errno == EINTR && now < deadline) continue;
            return -1;
        }
        ssize_t n = recv(fd, (char *)buf + got, len - got, 0);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* Sends one request and receives its fixed-size reply: 0, or -1. */
static int ask(int fd, char op, void *reply, size_t len)
{
    const char req[PW_AGENT_REQ_LEN] = {'P', 'W', (char)PW_AGENT_VERSION, op};
    if (send(fd, req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req) return -1;
    return recv_all(fd, reply, len);
}

/* Copies the agent's domains into info, refusing what a well-formed agent never sends. */
static int take_info(const pw_agent_info_msg *m, pw_source_info *info, char *why, size_t whylen)
{
    if (m->magic != PW_AGENT_MAGIC || m->version != PW_AGENT_VERSION ||
        m->ndomains == 0 || m->ndomains > PW_SOURCE_MAX_DOMAINS) {
        snprintf(why, whylen, "the agent answered with an unknown format (version %u): run "
                 "the same phasewatt version on both sides", (unsigned)m->version);
        return PW_ERR_FORMAT;
    }
    memset(info, 0, sizeof *info);
    for (uint32_t i = 0; i < m->ndomains; i++) {
        const pw_agent_domain *d = &m->domains[i];
        if (!memchr(d->name, '\0', sizeof d->name) || d->parent < -1 ||
            d->parent >= (int32_t)m->ndomains || d->kind < 0 || d->kind >= PW_KIND_COUNT) {
            snprintf(why, whylen, "the agent sent a malformed domain (#%u)", (unsigned)i);
            return PW_ERR_FORMAT;
        }
        int k = pw_source_add_domain(info, d->name, (pw_kind)d->kind, d->parent);
        info->domains[k].flags = d->flags;
    }
    info->period_ns = m->period_ns;
    info->current_at_read = m->current_at_read != 0;
    return PW_OK;
}

static int agent_probe(const pw_source_config *cfg, void **state, pw_source_info *info,
                       char *why, size_t whylen)
{
    const char *path = cfg->agent_socket ? cfg->agent_socket : PW_AGENT_SOCKET_DEFAULT;
    int fd = connect_agent(path, why, whylen);
    if (fd < 0) return errno == EACCES || errno == EPERM ? PW_ERR_PERMISSION : PW_ERR_NOT_FOUND;
    pw_agent_info_msg *m = malloc(sizeof *m);
    agent *a = calloc(1, sizeof *a);
    int rc = PW_ERR_NOMEM;
    if (m && a) {
        rc = ask(fd, PW_AGENT_OP_INFO, m, sizeof *m) == 0 ? take_info(m, info, why, whylen)
                                                          : PW_ERR_IO;
        if (rc == PW_ERR_IO)
            snprintf(why, whylen, "the agent at %s did not answer (is it stuck?)", path);
    }
    if (rc == PW_OK) {
        a->fd = fd;
        a->epoch = m->epoch;
        a->ndomains = m->ndomains;
        snprintf(a->path, sizeof a->path, "%s", path);
        memcpy(a->source, m->source, sizeof a->source);
        a->source[sizeof a->source - 1] = '\0';
        *state = a;
    } else {
        close(fd);
        free(a);
    }
    free(m);
    return rc;
}

/* After a failure: a new connection to the same agent run (an agent restarted since has
 * other counters and other domains, so its readings are not these). */
static int reconnect(agent *a)
{
    char why[PW_WHY_MAX];
    pw_agent_info_msg *m = malloc(sizeof *m);
    int fd = m ? connect_agent(a->path, why, sizeof why) : -1;
    int ok = fd >= 0 && ask(fd, PW_AGENT_OP_INFO, m, sizeof *m) == 0 &&
             m->magic == PW_AGENT_MAGIC && m->epoch == a->epoch && m->ndomains == a->ndomains;
    free(m);
    if (!ok) {
        if (fd >= 0) close(fd);
        return -1;
    }
    a->fd = fd;
    return 0;
}

static int agent_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    agent *a = state;
    pw_agent_read_msg m;
    if (a->fd < 0 && reconnect(a) != 0) return PW_ERR_IO;
    if (ask(a->fd, PW_AGENT_OP_READ, &m, sizeof m) != 0 || m.magic != PW_AGENT_MAGIC ||
        m.epoch != a->epoch || m.ndomains != a->ndomains) {
        close(a->fd);   /* a half-read reply would shift every later one: start afresh */
        a->fd = -1;
        return PW_ERR_IO;
    }
    if (m.rc != PW_OK) return m.rc < 0 ? m.rc : PW_ERR_IO;
    if (m.self_timed) *t_ns = m.t_ns;
    memcpy(energy_uj, m.energy_uj, a->ndomains * sizeof *energy_uj);
    a->read_t0_ns = m.read_t0_ns;
    a->read_t1_ns = m.read_t1_ns;
    return PW_OK;
}

/* The agent's own bracket of the read, where it lies inside the round trip: the same clock
 * on the same machine (an agent in another time namespace fails the check, and the round
 * trip stands). */
static void agent_bracket(void *state, uint64_t *t0_ns, uint64_t *t1_ns)
{
    const agent *a = state;
    if (a->read_t0_ns >= *t0_ns && a->read_t1_ns >= a->read_t0_ns && a->read_t1_ns <= *t1_ns) {
        *t0_ns = a->read_t0_ns;
        *t1_ns = a->read_t1_ns;
    }
}

/* The trace says which backend's readings came through which socket. */
static void agent_describe(void *state, const pw_sink *out)
{
    const agent *a = state;
    pw_sink_meta(out, "sensor.agent.source", a->source);
    pw_sink_meta(out, "sensor.agent.socket", a->path);
}

static void agent_close(void *state)
{
    agent *a = state;
    if (a->fd >= 0) close(a->fd);
    free(a);
}

const pw_source_ops pw_source_agent = {
    .name = "agent",
    .summary = "readings of root-only sensors from `phasewatt agent` over its Unix socket",
    .measured = 1,
    .probe = agent_probe,
    .read = agent_read,
    .bracket = agent_bracket,
    .describe = agent_describe,
    .close = agent_close,
};
