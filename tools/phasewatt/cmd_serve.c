/* cmd_serve.c — `phasewatt serve`: a long-running agent that samples like record, takes phase
 * tags from any process on the host through a shared-memory channel, and serves Prometheus
 * metrics (energy and power per domain, energy, time and tokens per phase) over HTTP. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "core/channel.h"
#include "base/clock.h"
#include "fleet/live.h"
#include "phasewatt.h"

static int run(int argc, char **argv);

const cli_command cli_serve = {
    "serve", "a long-running agent serving per-phase energy to Prometheus (/metrics)",
    "usage: phasewatt serve [--listen ADDR:PORT] [--source LIST] [--interval MS]\n"
    "                       [--window S] [--max-events N] [--channel-file FILE]\n"
    "                       [--host NAME] [-o FILE.pwt]\n"
    "\n"
    "  --listen A:P        where to serve /metrics: a numeric address and a port in\n"
    "                      1..65535 (default 127.0.0.1:9464, loopback only; [::1]:9464);\n"
    "                      any other address, 0.0.0.0 included, only when given (warned)\n"
    "  --source LIST       power sources, as for record (default: every usable one)\n"
    "  --synthetic SPEC    the synthetic source's phases and powers (see docs/sources.md)\n"
    "  --interval MS       sampling period (default 10)\n"
    "  --window S          seconds of run per attribution (default 5): per-phase figures\n"
    "                      lag by up to this much (memory: a budget, docs/fleet.md)\n"
    "  --max-events N      phase events held at once, queued or in a window (default\n"
    "                      131072, about 40 bytes each; 1024 to 16777216): the memory\n"
    "                      budget's largest part; past it new phases are dropped, counted\n"
    "  --channel-file F    write the channel's path to F (mode 0600): programs started\n"
    "                      with PHASEWATT_CHANNEL=$(cat F) send their phases here\n"
    "  --host NAME         the host label (default: this machine's host name)\n"
    "  -o FILE             also write the whole run as a trace (default: none)\n"
    "  --quiet             no notes on stderr\n"
    "Runs until SIGINT or SIGTERM. Metrics: docs/fleet.md.\n",
    run};

typedef struct serve_args {
    pw_options o;
    const char *listen, *channel_file, *host;
    double window_s;
    unsigned long long max_events;   /* 0: the default */
} serve_args;

static int parse(int argc, char **argv, serve_args *a)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},   {"source", required_argument, 0, 's'},
        {"synthetic", required_argument, 0, 'y'}, {"interval", required_argument, 0, 'i'},
        {"window", required_argument, 0, 'w'},   {"channel-file", required_argument, 0, 'c'},
        {"host", required_argument, 0, 'H'},     {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},          {"max-events", required_argument, 0, 'm'},
        {0, 0, 0, 0}};
    char *end;
    int ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_serve, argc, argv, "l:s:y:i:w:c:H:o:q", opts)) != -1) {
        switch (ch) {
        case 'l': a->listen = optarg; break;
        case 's': a->o.sources = optarg; break;
        case 'y': a->o.synthetic = optarg; break;
        case 'c': a->channel_file = optarg; break;
        case 'H': a->host = optarg; break;
        case 'o': a->o.output_path = optarg; break;
        case 'q': a->o.quiet = 1; break;
        case 'i':
            if (cli_parse_interval("serve", optarg, &a->o.interval_ns)) return CLI_USAGE;
            break;
        case 'w':
            a->window_s = strtod(optarg, &end);
            if (*end || !(a->window_s >= 0.01 && a->window_s <= 3600))
                return cli_error("serve", CLI_USAGE, "--window wants 0.01 to 3600 seconds, not "
                                 "'%s'", optarg);
            break;
        case 'm':
            if (cli_parse_uint(optarg, 16777216, &a->max_events) || a->max_events < 1024)
                return cli_error("serve", CLI_USAGE, "--max-events wants 1024 to 16777216, not "
                                 "'%s'", optarg);
            break;
        default: return CLI_USAGE;
        }
    }
    if (optind != argc) return cli_error("serve", CLI_USAGE, "unexpected '%s'", argv[optind]);
    return cli_check_sources("serve", a->o.sources);
}

/* "127.0.0.1:9464" or "[::1]:9464" -> a socket address: numeric only (no name is looked up,
 * so "0" or "0x0" cannot quietly mean every interface) and a port in 1..65535. */
static int parse_listen(const char *spec, struct sockaddr_storage *out)
{
    const char *colon = strrchr(spec, ':'), *port = colon ? colon + 1 : "";
    char host[INET6_ADDRSTRLEN + 2], *end;
    size_t n = colon ? (size_t)(colon - spec) : 0;
    if (!n || n >= sizeof host || *port < '0' || *port > '9' || strlen(port) > 5) return -1;
    unsigned long p = strtoul(port, &end, 10);
    if (*end || p < 1 || p > 65535) return -1;
    memcpy(host, spec, n);
    host[n] = '\0';
    memset(out, 0, sizeof *out);
    if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
        host[n - 1] = '\0';
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)p);
        return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)out;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)p);
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

/* The address a socket is bound to, as ADDRESS:PORT; returns 1 when it is loopback. */
static int bound_address(int fd, char *out, size_t cap)
{
    union { struct sockaddr sa; struct sockaddr_in in; struct sockaddr_in6 in6;
            struct sockaddr_storage any; } u;
    memset(&u, 0, sizeof u);
    socklen_t len = sizeof u;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (getsockname(fd, &u.sa, &len) != 0) {
        snprintf(out, cap, "?");
        return 0;
    }
    if (u.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &u.in6.sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, ntohs(u.in6.sin6_port));
        return IN6_IS_ADDR_LOOPBACK(&u.in6.sin6_addr);
    }
    inet_ntop(AF_INET, &u.in.sin_addr, ip, sizeof ip);
    snprintf(out, cap, "%s:%u", ip, ntohs(u.in.sin_port));
    return (ntohl(u.in.sin_addr.s_addr) >> 24) == 127;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

/* Connections at once, from one address, and how long a request's headers may take: a client
 * that trickles its headers (one byte every few seconds resets an idle timeout) is cut at the
 * deadline, and one address holds at most half the slots, so slow clients cannot hold the
 * slots that scrapes need. */
#define MAX_CONNECTIONS 256
#define PER_ADDRESS 128
#define HEADER_DEADLINE_NS 3000000000ull

typedef struct conn_slot {
    int fd;                         /* -1: free */
    uint64_t deadline_ns;           /* headers must be in by then; 0: being answered */
} conn_slot;

typedef struct http_state {
    pw_live *live;
    pthread_mutex_t lock;           /* the slots: MHD's thread and the deadline check */
    conn_slot slot[MAX_CONNECTIONS];
} http_state;

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode what)
{
    http_state *h = cls;
    pthread_mutex_lock(&h->lock);
    if (what == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        for (int i = 0; info && i < MAX_CONNECTIONS; i++)
            if (h->slot[i].fd < 0) {
                h->slot[i] = (conn_slot){info->connect_fd, pw_now_ns() + HEADER_DEADLINE_NS};
                *socket_context = &h->slot[i];
                break;
            }
    } else if (*socket_context) {   /* closed: MHD closes the socket only after this */
        ((conn_slot *)*socket_context)->fd = -1;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&h->lock);
}

/* Headers in (deadline_ns 0), or a request done and the next one's headers awaited. */
static void set_deadline(http_state *h, struct MHD_Connection *c, uint64_t deadline_ns)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    pthread_mutex_lock(&h->lock);
    conn_slot *s = info ? info->socket_context : NULL;
    if (s) s->deadline_ns = deadline_ns;
    pthread_mutex_unlock(&h->lock);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode why)
{
    (void)state, (void)why;
    set_deadline(cls, c, pw_now_ns() + HEADER_DEADLINE_NS);
}

/* Shuts the sockets of clients past their deadline; MHD then sees them end and closes them. */
static void enforce_deadlines(http_state *h)
{
    uint64_t now = pw_now_ns();
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < MAX_CONNECTIONS; i++)
        if (h->slot[i].fd >= 0 && h->slot[i].deadline_ns && now > h->slot[i].deadline_ns) {
            shutdown(h->slot[i].fd, SHUT_RDWR);
            h->slot[i].deadline_ns = 0;
        }
    pthread_mutex_unlock(&h->lock);
}

static void release_page(void *page) { pw_live_page_release(page); }

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    (void)version, (void)upload, (void)upload_len, (void)state;
    http_state *h = cls;
    set_deadline(h, c, 0);
    static const char index[] = "phasewatt serve: metrics at /metrics\n";
    static const char not_allowed[] = "phasewatt serve: only GET and HEAD\n";
    struct MHD_Response *r;
    unsigned code = MHD_HTTP_OK;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        code = MHD_HTTP_METHOD_NOT_ALLOWED;
        r = MHD_create_response_from_buffer(sizeof not_allowed - 1, (void *)not_allowed,
                                            MHD_RESPMEM_PERSISTENT);
        if (r) MHD_add_response_header(r, "Allow", "GET, HEAD");
    } else if (!strcmp(url, "/metrics")) {
        /* the page attribution last rendered, held (not copied) until it is sent */
        pw_live_page *page = pw_live_page_get(h->live);
        size_t len = 0;
        const char *text = page ? pw_live_page_text(page, &len) : "";
        r = MHD_create_response_from_buffer_with_free_callback_cls(len, (void *)text, release_page, page);
        if (!r) pw_live_page_release(page);
    } else {
        code = strcmp(url, "/") ? MHD_HTTP_NOT_FOUND : MHD_HTTP_OK;
        r = MHD_create_response_from_buffer(sizeof index - 1, (void *)index, MHD_RESPMEM_PERSISTENT);
    }
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

/* Bounded by design: MAX_CONNECTIONS at once, PER_ADDRESS from one address, headers by their
 * deadline, 10 s idle, 64 kB each,
 * answered by one thread from a page rendered elsewhere. */
static struct MHD_Daemon *start_http(const struct sockaddr_storage *addr, http_state *h)
{
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD;   /* no log: cut clients are routine */
    if (addr->ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, 0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_ADDRESS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_END);
}

/* ---- the agent ---------------------------------------------------------------------------- */

/* A line when events have been lost since the last one (at most one per 10 s), with the
 * count of each reason: loss is never silent. */
static void say_losses(pw_live *live, uint64_t *said, uint64_t *said_ns)
{
    uint64_t total = 0, now = pw_now_ns();
    char why[512] = "";
    size_t n = 0;
    for (int r = 0; r < PW_LIVE_LOST_COUNT; r++) {
        uint64_t k = pw_live_lost(live, (pw_live_loss)r);
        total += k;
        if (k && n < sizeof why)
            n += (size_t)snprintf(why + n, sizeof why - n, "%s%s %llu", n ? ", " : "",
                                  pw_live_loss_reason((pw_live_loss)r), (unsigned long long)k);
    }
    if (total == *said || (*said_ns && now - *said_ns < 10000000000ull)) return;
    fprintf(stderr, "phasewatt serve: warning: %llu phase events lost since the start (%s); "
            "see phasewatt_lost_events_total and docs/fleet.md\n", (unsigned long long)total, why);
    *said = total;
    *said_ns = now;
}

/* Until SIGINT or SIGTERM (blocked in every thread, then waited for here), checking header
 * deadlines and losses four times a second: the agent ends within that of the signal. */
static void run_until_signal(http_state *h, pw_live *live)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    const struct timespec tick = {0, 250000000};
    uint64_t said = 0, said_ns = 0;
    for (;;) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig == SIGINT || sig == SIGTERM) return;
        enforce_deadlines(h);
        say_losses(live, &said, &said_ns);
    }
}

static int serve(serve_args *a, pw_live *live, const struct sockaddr_storage *addr)
{
    char why[512] = "";
    pw_channel *ch = NULL;
    if (pw_channel_create(128, 1u << 16, &ch, why, sizeof why) != PW_OK)
        return cli_error("serve", CLI_FAILED, "cannot create the phase channel: %s", why);
    pw_channel_set_reaping(ch, 1);
    /* a private file renamed over F: a file another user prepared there is replaced, never
     * written into (docs/reliability.md) */
    why[0] = '\0';
    if (a->channel_file &&
        pw_channel_publish_path(a->channel_file, pw_channel_path(ch), why, sizeof why) != PW_OK) {
        pw_channel_destroy(ch);
        return cli_error("serve", CLI_FAILED, "%s", why[0] ? why : "cannot write the channel file");
    }
    pw_sink tap;
    pw_live_tap(live, &tap);
    pw_session_set_tap(&tap);
    int rc = pw_open(&a->o);
    pw_session_set_tap(NULL);
    if (rc != PW_OK) {
        pw_channel_destroy(ch);
        return cli_error("serve", CLI_FAILED, "cannot start sampling: %s",
                         pw_open_error()[0] ? pw_open_error() : pw_strerror(rc));
    }
    pw_session_attach_channel(ch);
    http_state h = {.live = live};
    pthread_mutex_init(&h.lock, NULL);
    for (int i = 0; i < MAX_CONNECTIONS; i++) h.slot[i].fd = -1;
    struct MHD_Daemon *http = start_http(addr, &h);
    int code = 0;
    if (!http) {
        code = cli_error("serve", CLI_FAILED, "cannot listen on %s (in use, or not an address "
                         "of this machine?)", a->listen);
    } else {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(http, MHD_DAEMON_INFO_LISTEN_FD);
        char bound[INET6_ADDRSTRLEN + 16] = "?";
        int loopback = info && bound_address(info->listen_fd, bound, sizeof bound);
        if (!loopback)
            fprintf(stderr, "phasewatt serve: warning: listening on %s, not loopback: anyone who "
                    "can reach this port can read these metrics\n", bound);
        if (!a->o.quiet)
            fprintf(stderr, "phasewatt serve: metrics at http://%s/metrics; tag from any process "
                    "with PHASEWATT_CHANNEL=%s\n", bound, pw_channel_path(ch));
        run_until_signal(&h, live);
        pw_live_stop(live, 0);   /* it winds down while the rest closes */
        MHD_stop_daemon(http);
    }
    pthread_mutex_destroy(&h.lock);
    pw_session_detach_channel(pw_now_ns());
    pw_close();
    pw_channel_destroy(ch);
    if (a->channel_file) unlink(a->channel_file);
    return code;
}

static int run(int argc, char **argv)
{
    serve_args a = {.listen = "127.0.0.1:9464", .window_s = 5};
    pw_options_init(&a.o);
    a.o.output_path = "/dev/null";
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    struct sockaddr_storage addr;
    if (parse_listen(a.listen, &addr) != 0)
        return cli_error("serve", CLI_USAGE, "--listen wants a numeric ADDRESS:PORT with a port "
                         "in 1..65535 (127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464), not '%s'", a.listen);
    char host[256] = "";
    if (!a.host) gethostname(host, sizeof host - 1);
    a.o.command = "phasewatt serve";
    /* the signals we wait for must not land on the sampler or HTTP threads */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);   /* a client gone mid-response must not end the agent */
    pw_live_config cfg = {.window_ns = (uint64_t)(a.window_s * 1e9), .host = a.host ? a.host : host,
                          .max_events = (size_t)a.max_events};
    pw_live *live = pw_live_new(&cfg);
    if (!live) return cli_error("serve", CLI_FAILED, "out of memory");
    rc = serve(&a, live, &addr);
    /* SIGTERM ends the agent within a second: a window still being attributed is not
     * waited for past 0.2 s more (its memory goes back with the process) */
    if (pw_live_stop(live, 200000000ull) == 0) pw_live_free(live);
    else pw_live_abandon(live);
    return rc;
}
