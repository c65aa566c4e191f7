/* cmd_serve.c — `phasewatt serve`: a long-running agent that samples like record, takes phase
 * tags from any process on the host through a shared-memory channel, and serves Prometheus
 * metrics (energy and power per domain, energy, time and tokens per phase) over HTTP. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/channel.h"
#include "core/clock.h"
#include "fleet/live.h"
#include "phasewatt.h"

static int run(int argc, char **argv);

const cli_command cli_serve = {
    "serve", "a long-running agent serving per-phase energy to Prometheus (/metrics)",
    "usage: phasewatt serve [--listen ADDR:PORT] [--source LIST] [--interval MS]\n"
    "                       [--window S] [--channel-file FILE] [--host NAME] [-o FILE.pwt]\n"
    "\n"
    "  --listen A:P        where to serve /metrics (default 127.0.0.1:9464: loopback only;\n"
    "                      any other address, 0.0.0.0 included, must be given explicitly)\n"
    "  --source LIST       power sources, as for record (default: every usable one)\n"
    "  --synthetic SPEC    the synthetic source's phases and powers (see docs/sources.md)\n"
    "  --interval MS       sampling period (default 10)\n"
    "  --window S          seconds of run per attribution (default 5): per-phase figures\n"
    "                      lag by up to this much; memory stays bounded by it\n"
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
} serve_args;

static int parse(int argc, char **argv, serve_args *a)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},   {"source", required_argument, 0, 's'},
        {"synthetic", required_argument, 0, 'y'}, {"interval", required_argument, 0, 'i'},
        {"window", required_argument, 0, 'w'},   {"channel-file", required_argument, 0, 'c'},
        {"host", required_argument, 0, 'H'},     {"output", required_argument, 0, 'o'},
        {"quiet", no_argument, 0, 'q'},          {0, 0, 0, 0}};
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
        default: return CLI_USAGE;
        }
    }
    if (optind != argc) return cli_error("serve", CLI_USAGE, "unexpected '%s'", argv[optind]);
    return cli_check_sources("serve", a->o.sources);
}

/* "127.0.0.1:9464", "[::1]:9464", "localhost:9464" -> a socket address. */
static int parse_listen(const char *spec, struct sockaddr_storage *out, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof host) return -1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) return -1;
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **state)
{
    (void)version, (void)upload, (void)upload_len, (void)state;
    pw_live *live = cls;
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) return MHD_NO;   /* closes it */
    struct MHD_Response *r;
    unsigned code = MHD_HTTP_OK;
    if (!strcmp(url, "/metrics")) {
        size_t len = 0;
        char *text = pw_live_metrics(live, &len);
        if (!text) return MHD_NO;
        r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
        if (!r) free(text);
    } else {
        static const char page[] = "phasewatt serve: metrics at /metrics\n";
        code = strcmp(url, "/") ? MHD_HTTP_NOT_FOUND : MHD_HTTP_OK;
        r = MHD_create_response_from_buffer(sizeof page - 1, (void *)page, MHD_RESPMEM_PERSISTENT);
    }
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

/* Bounded by design: a few connections at once, each timed out, answered by one thread. */
static struct MHD_Daemon *start_http(const struct sockaddr_storage *addr, pw_live *live)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (addr->ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    return MHD_start_daemon(flags, 0, NULL, NULL, answer, live, MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)65536,
                            MHD_OPTION_END);
}

/* ---- the agent ---------------------------------------------------------------------------- */

static int write_channel_file(const char *file, const char *path)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    size_t n = strlen(path);
    int ok = write(fd, path, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* Until SIGINT or SIGTERM (blocked in every thread, then waited for here). */
static void wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig;
    while (sigwait(&set, &sig) != 0) {}
}

static int serve(serve_args *a, pw_live *live, const struct sockaddr_storage *addr)
{
    char why[512] = "";
    pw_channel *ch = NULL;
    if (pw_channel_create(128, 1u << 16, &ch, why, sizeof why) != PW_OK)
        return cli_error("serve", CLI_FAILED, "cannot create the phase channel: %s", why);
    pw_channel_set_reaping(ch, 1);
    if (a->channel_file && write_channel_file(a->channel_file, pw_channel_path(ch)) != 0) {
        pw_channel_destroy(ch);
        return cli_error("serve", CLI_FAILED, "cannot write %s: %s", a->channel_file, strerror(errno));
    }
    pw_session_tap tap;
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
    struct MHD_Daemon *http = start_http(addr, live);
    int code = 0;
    if (!http) {
        code = cli_error("serve", CLI_FAILED, "cannot listen on %s (in use, or not an address "
                         "of this machine?)", a->listen);
    } else {
        if (!a->o.quiet)
            fprintf(stderr, "phasewatt serve: metrics at http://%s/metrics; tag from any process "
                    "with PHASEWATT_CHANNEL=%s\n", a->listen, pw_channel_path(ch));
        wait_for_signal();
        MHD_stop_daemon(http);
    }
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
    socklen_t len = 0;
    if (parse_listen(a.listen, &addr, &len) != 0)
        return cli_error("serve", CLI_USAGE, "--listen wants ADDRESS:PORT, not '%s'", a.listen);
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
    pw_live *live = pw_live_new((uint64_t)(a.window_s * 1e9), a.host ? a.host : host);
    if (!live) return cli_error("serve", CLI_FAILED, "out of memory");
    rc = serve(&a, live, &addr);
    pw_live_free(live);
    return rc;
}
