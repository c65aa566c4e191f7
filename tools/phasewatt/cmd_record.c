/* cmd_record.c — `phasewatt record`: samples power while a command or the built-in
 * inference-shaped workload runs, writes the trace, and prints its phase table. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "core/channel.h"
#include "base/clock.h"
#include "platform/platform.h"
#include "phasewatt.h"
#include "phasewatt-analysis.h"

/* Threads of the recorded command that may tag at once (--rings); more are counted. */
#define CHANNEL_THREADS 128
#define CANNOT_START 127              /* the shell's code for a command that cannot run */

static int run(int argc, char **argv);

const cli_command cli_record = {
    "record", "record power (and phases) while a command or the built-in workload runs",
    "usage: phasewatt record [options] [-- CMD [ARGS...]]\n"
    "\n"
    "Without CMD, runs the built-in inference-shaped workload (or --scenario FILE) for\n"
    "real in this process, tagging its phases, and prints the phase table.\n"
    "\n"
    "  -o FILE           trace to write (default phasewatt.pwt). An existing FILE is\n"
    "                    replaced only by the record of a command that started: the new\n"
    "                    trace is written to FILE.new-PID and renamed over FILE at the\n"
    "                    end; if CMD cannot start, FILE is left as it was, no trace is\n"
    "                    written and record exits 127\n"
    "  --source LIST     comma list of backends (see `phasewatt sources`); default: every\n"
    "                    usable measured source, else the CPU estimate\n"
    "  --interval T      sampling period, e.g. 10ms (default), 1ms, 500us\n"
    "  --scenario FILE   the workload to run instead of the built-in one (docs/scenario.md)\n"
    "  --synthetic SPEC  power model of the synthetic source: a scenario file or\n"
    "                    \"phase=W,...\" (default: the scenario's own powers)\n"
    "  --ring N          per-thread event buffer, in events (default 16384)\n"
    "  --rings N         threads of CMD that may tag at once (default 128); rings of\n"
    "                    exited threads and processes are reused. The channel's pages\n"
    "                    are reserved up front: where /dev/shm is too small for\n"
    "                    --rings x --ring, fewer and shorter rings are used and record\n"
    "                    says so; where nothing fits, CMD runs untagged\n"
    "  --depth N         phase levels shown in the printed table (default 2; 0 = all)\n"
    "  --format F        text (default), json or csv for the printed report\n"
    "  --no-report       do not print the report\n"
    "  --quiet           no notes on stderr\n"
    "  --nvtx            also turn CMD's NVTX ranges and marks into phases (loads\n"
    "                    libphasewatt-nvtx.so through NVTX_INJECTION64_PATH)\n"
    "  --llama           tag an unmodified llama.cpp program: preloads\n"
    "                    libphasewatt-llama.so into CMD only (LD_PRELOAD in CMD's\n"
    "                    environment, ahead of any the user set): pre-inference, prefill,\n"
    "                    decode, sampling, post-inference and per-request tokens\n"
    "                    (docs/llama.md)\n"
    "  --llama-ops       --llama, and each batch split into embedding, attention, mlp,\n"
    "                    experts and lm_head by the weights its graph nodes read (stops\n"
    "                    the graph after every node: slower, costly on GPU backends)\n"
    "With CMD, phasewatt records power while CMD runs and exits with CMD's exit code.\n"
    "CMD's phases (and those of its children) reach the trace through a shared-memory\n"
    "channel named in PHASEWATT_CHANNEL: any program linked with libphasewatt, or using\n"
    "the Python binding, is recorded with no change. If CMD crashes, the phases it left\n"
    "open are closed at that moment and the report says so.\n",
    run};

typedef struct record_args {
    pw_options o;
    const char *scenario;
    cli_format fmt;
    int depth, report, nvtx, llama, llama_ops;
    uint32_t rings;
    char **cmd;
} record_args;

static int parse(int argc, char **argv, record_args *a)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'},   {"source", required_argument, 0, 's'},
        {"interval", required_argument, 0, 'i'}, {"scenario", required_argument, 0, 'S'},
        {"synthetic", required_argument, 0, 'y'}, {"ring", required_argument, 0, 'r'},
        {"depth", required_argument, 0, 'd'},    {"format", required_argument, 0, 'f'},
        {"no-report", no_argument, 0, 'n'},      {"quiet", no_argument, 0, 'q'},
        {"nvtx", no_argument, 0, 'N'},           {"rings", required_argument, 0, 'R'},
        {"llama", no_argument, 0, 'L'},         {"llama-ops", no_argument, 0, 'P'},
        {0, 0, 0, 0}};
    unsigned long long v;
    int ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_record, argc, argv, "+o:s:i:S:y:r:d:f:nq", opts)) != -1) {
        switch (ch) {
        case 'o': a->o.output_path = optarg; break;
        case 's': a->o.sources = optarg; break;
        case 'S': a->scenario = optarg; break;
        case 'y': a->o.synthetic = optarg; break;
        case 'n': a->report = 0; break;
        case 'q': a->o.quiet = 1; break;
        case 'N': a->nvtx = 1; break;
        case 'L': a->llama = 1; break;
        case 'P': a->llama = a->llama_ops = 1; break;
        case 'i':
            if (cli_parse_interval("record", optarg, &a->o.interval_ns)) return CLI_USAGE;
            break;
        case 'r':
            if (cli_parse_uint(optarg, 1u << 26, &v) || v < 64)
                return cli_error("record", CLI_USAGE, "--ring wants 64..67108864 events");
            a->o.ring_events = (uint32_t)v;
            break;
        case 'R':
            if (cli_parse_uint(optarg, PW_CHANNEL_MAX_RINGS, &v) || v < 1)
                return cli_error("record", CLI_USAGE, "--rings wants 1..%u", PW_CHANNEL_MAX_RINGS);
            a->rings = (uint32_t)v;
            break;
        case 'd':
            if (cli_parse_uint(optarg, 64, &v))
                return cli_error("record", CLI_USAGE, "--depth wants 0..64, not '%s'", optarg);
            a->depth = (int)v;
            break;
        case 'f':
            if (cli_parse_format(optarg, &a->fmt))
                return cli_error("record", CLI_USAGE, "unknown format '%s'", optarg);
            break;
        default: return CLI_USAGE;
        }
    }
    if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
        return cli_error("record", CLI_USAGE, "unexpected '%s': put the command after --",
                         argv[optind]);
    if ((a->nvtx || a->llama) && optind >= argc)
        return cli_error("record", CLI_USAGE, "--%s wants a command after --",
                         a->nvtx ? "nvtx" : "llama");
    if (optind < argc && a->scenario)
        return cli_error("record", CLI_USAGE, "give either --scenario or a command, not both");
    a->cmd = optind < argc ? argv + optind : NULL;
    if (!a->o.synthetic) a->o.synthetic = a->scenario;
    return cli_check_sources("record", a->o.sources);
}

static volatile sig_atomic_t child_pid;

static void forward_signal(int sig)
{
    if (child_pid > 0) kill((pid_t)child_pid, sig);
}

/* Whether the child's exec succeeded: it writes its errno into a close-on-exec pipe only
 * when exec failed, so an empty read means CMD runs. */
static int exec_failed(int fd)
{
    int err = 0;
    ssize_t n;
    while ((n = read(fd, &err, sizeof err)) < 0 && errno == EINTR) {}
    close(fd);
    return n == (ssize_t)sizeof err;
}

/* The tool libraries CMD gets: paths, or NULL for none. */
typedef struct tool_libs {
    const char *nvtx, *llama;
    int llama_ops;            /* the llama shim's per-op mode */
} tool_libs;

/* The llama shim goes into CMD's LD_PRELOAD only, ahead of what the user preloads (kept):
 * the recorder itself never loads it. Called in the child between fork and exec. */
static void preload_in_child(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old) {
        setenv("LD_PRELOAD", lib, 1);
        return;
    }
    size_t n = strlen(lib) + strlen(old) + 2;
    char *v = malloc(n);
    if (!v) return;
    snprintf(v, n, "%s:%s", lib, old);
    setenv("LD_PRELOAD", v, 1);
    free(v);
}

/* Runs CMD as a child with the channel in its environment, forwarding INT/TERM/HUP to
 * it; returns its wait status in *status, CANNOT_START if it could not start (said), or
 * another exit code. */
static int run_command(char **cmd, const char *channel, const tool_libs *libs, pw_channel *ch,
                       int *status)
{
    int pipefd[2];
    if (pw_pipe_cloexec(pipefd) != 0)
        return cli_error("record", CLI_FAILED, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return cli_error("record", CLI_FAILED, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        close(pipefd[0]);
        if (channel) setenv(PW_CHANNEL_ENV, channel, 1);
        if (libs->nvtx) setenv("NVTX_INJECTION64_PATH", libs->nvtx, 1);
        if (libs->llama) preload_in_child(libs->llama);
        if (libs->llama_ops) setenv("PHASEWATT_LLAMA_OPS", "1", 1);
        execvp(cmd[0], cmd);
        int err = errno;
        fprintf(stderr, "phasewatt record: cannot run '%s': %s\n", cmd[0], strerror(err));
        (void)!write(pipefd[1], &err, sizeof err);
        _exit(CANNOT_START);
    }
    close(pipefd[1]);
    if (ch) pw_channel_spare_pid(ch, (uint32_t)pid);
    child_pid = pid;
    int failed = exec_failed(pipefd[0]);
    struct sigaction sa = {0};
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    child_pid = 0;
    return failed ? CANNOT_START : 0;
}

/* Closes what the command left open at the moment it ended, and says how it ended. */
static void finish_command(int st, uint64_t end_ns)
{
    char buf[128];
    uint64_t closed = pw_session_detach_channel(end_ns);
    if (WIFSIGNALED(st))
        snprintf(buf, sizeof buf, "killed by signal %d (%s)", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    else
        snprintf(buf, sizeof buf, "exited with code %d", WEXITSTATUS(st));
    pw_set_meta("command.status", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)closed);
    pw_set_meta("command.closed_phases", buf);
}

/* A tool library (libphasewatt-TOOL.so): the environment variable env_name, else ../lib/
 * next to this executable (the build tree and `make install` both lay it out so). */
static int find_tool_library(const char *tool, const char *env_name, char *path, size_t cap)
{
    const char *env = getenv(env_name);
    if (env && *env) {
        snprintf(path, cap, "%s", env);
    } else {
        char exe[PATH_MAX];
        if (pw_self_exe(exe, sizeof exe) != 0)
            return cli_error("record", CLI_FAILED, "--%s: cannot find this program's "
                             "directory; set %s", tool, env_name);
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(path, cap, "%s/../lib/libphasewatt-%s" PW_SHLIB_SUFFIX, exe, tool);
    }
    if (access(path, R_OK) != 0)
        return cli_error("record", CLI_FAILED, "--%s: cannot read %s: %s (build it with "
                         "`make`, or set %s)", tool, path, strerror(errno), env_name);
    return 0;
}

/* The channel for CMD, sized to the space there is; without one CMD runs untagged. The
 * warning is said whatever --quiet: CMD's phases are at stake. */
static pw_channel *open_channel(uint32_t rings, uint32_t ring_events)
{
    char why[512] = "";
    pw_channel *ch = NULL;
    uint32_t events = 64;
    while (events < ring_events && events < (1u << 26)) events <<= 1;
    int rc = pw_channel_create(rings ? rings : CHANNEL_THREADS, events, &ch, why, sizeof why);
    if (rc != PW_OK)
        fprintf(stderr, "phasewatt record: %s; the command runs untagged (power only)\n",
                why[0] ? why : pw_strerror(rc));
    else if (why[0])
        fprintf(stderr, "phasewatt record: note: %s\n", why);
    return ch;
}

/* CMD under a channel: its phases are recorded; returns CMD's exit code (128+signal). */
static int record_command(char **cmd, const record_args *a, const tool_libs *libs,
                          pw_channel **out)
{
    pw_channel *ch = open_channel(a->rings, a->o.ring_events);
    *out = ch;
    if (ch) pw_session_attach_channel(ch);
    int st = 0;
    int code = run_command(cmd, ch ? pw_channel_path(ch) : NULL, libs, ch, &st);
    if (!code) {
        finish_command(st, pw_now_ns());
        code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return code;
}

static int run_scenario(const char *path)
{
    char err[512] = "";
    pw_scenario *s = NULL;
    int rc = path ? pw_scenario_load(path, &s, err, sizeof err)
                  : pw_scenario_parse(pw_scenario_builtin(), &s, err, sizeof err);
    if (rc != PW_OK)
        return cli_error("record", CLI_FAILED, "%s: %s", path ? path : "built-in scenario",
                         err[0] ? err : pw_strerror(rc));
    pw_set_meta("workload", path ? path : "built-in inference-shaped scenario");
    rc = pw_scenario_run(s, 1.0);
    pw_scenario_free(s);
    return rc == PW_OK ? 0 : cli_error("record", CLI_FAILED, "workload: %s", pw_strerror(rc));
}

static char *join_command(char **cmd)
{
    size_t n = 1;
    for (char **p = cmd; *p; p++) n += strlen(*p) + 1;
    char *s = malloc(n), *w = s;
    if (!s) return NULL;
    for (char **p = cmd; *p; p++) w += sprintf(w, "%s%s", p == cmd ? "" : " ", *p);
    *w = '\0';
    return s;
}

/* An existing trace is replaced only at the end, by the record of a command that started:
 * until then the new one is written beside it. */
static const char *staging_path(const char *out, char *buf, size_t cap)
{
    struct stat st;
    if (lstat(out, &st) != 0 || !S_ISREG(st.st_mode)) return out;
    int n = snprintf(buf, cap, "%s.new-%d", out, (int)getpid());
    return n > 0 && (size_t)n < cap ? buf : out;
}

static int run(int argc, char **argv)
{
    unsetenv(PW_CHANNEL_ENV);   /* a recorder inside a recorded program makes its own */
    record_args a = {.fmt = FMT_TEXT, .depth = 2, .report = 1};
    pw_options_init(&a.o);
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    char nvtx[PATH_MAX + 64], llama[PATH_MAX + 64];
    if (a.nvtx && (rc = find_tool_library("nvtx", "PHASEWATT_NVTX_LIBRARY", nvtx, sizeof nvtx)))
        return rc;
    if (a.llama &&
        (rc = find_tool_library("llama", "PHASEWATT_LLAMA_LIBRARY", llama, sizeof llama)))
        return rc;
    tool_libs libs = {a.nvtx ? nvtx : NULL, a.llama ? llama : NULL, a.llama_ops};
    char *command = a.cmd ? join_command(a.cmd) : NULL;
    a.o.command = command ? command : "phasewatt record (built-in workload)";
    char staging[PATH_MAX + 32];
    const char *final_path = a.o.output_path;
    a.o.output_path = staging_path(final_path, staging, sizeof staging);
    rc = pw_open(&a.o);
    if (rc != PW_OK) {
        a.o.output_path = final_path;
        free(command);
        const char *why = pw_open_error()[0] ? pw_open_error()
                          : rc == PW_ERR_IO ? strerror(errno) : pw_strerror(rc);
        return cli_error("record", CLI_FAILED, "cannot start recording to %s: %s",
                         a.o.output_path, why);
    }
    pw_channel *ch = NULL;
    int status = a.cmd ? record_command(a.cmd, &a, &libs, &ch)
                       : run_scenario(a.scenario);
    free(command);
    rc = pw_close();
    char lost[1024];
    if (ch && pw_channel_describe(ch, lost, sizeof lost))
        fprintf(stderr, "phasewatt record: warning: %s\n", lost);
    pw_channel_destroy(ch);
    if (status == CANNOT_START && a.cmd) {   /* nothing to keep: an existing trace stays */
        unlink(a.o.output_path);
        return status;
    }
    if (a.o.output_path != final_path && rename(a.o.output_path, final_path) != 0) {
        cli_error("record", CLI_FAILED, "cannot replace %s: %s; the trace is %s", final_path,
                  strerror(errno), a.o.output_path);
        return CLI_FAILED;
    }
    a.o.output_path = final_path;
    pw_stats st = {.size = sizeof st};
    pw_get_stats(&st);
    if (rc != PW_OK && st.write_errno)
        return cli_error("record", CLI_FAILED, "writing %s stopped %.3f s into the run after "
                         "%llu bytes: %s; the trace keeps what was written before (phasewatt "
                         "report reads it)", a.o.output_path, (double)st.write_stopped_ns * 1e-9,
                         (unsigned long long)st.bytes_written, strerror(st.write_errno));
    if (rc != PW_OK)
        return cli_error("record", CLI_FAILED, "finishing %s: %s", a.o.output_path,
                         pw_strerror(rc));
    if (!a.o.quiet)
        fprintf(stderr, "phasewatt record: wrote %s (%llu samples, %llu events%s)\n",
                a.o.output_path, (unsigned long long)st.samples, (unsigned long long)st.events,
                st.lost_events ? ", SOME EVENTS LOST" : "");
    if (a.report) {
        int r = cli_print_report("record", a.o.output_path, a.fmt, a.depth, 0, NULL, stdout);
        if (r && !status) status = r;
    }
    return status;
}
