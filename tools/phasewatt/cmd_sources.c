/* cmd_sources.c — `phasewatt sources`: every backend, whether it works here, and why not. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "platform/platform.h"
#include "base/clock.h"
#include "core/gridlock.h"

#include "cli.h"
#include "sources/source.h"

static int run(int argc, char **argv);

const cli_command cli_sources = {
    "sources", "list the power backends, their domains, and why any is unusable here",
    "usage: phasewatt sources [--json] [--observe T]\n"
    "\n"
    "Probes every backend the way `record` does (honouring PHASEWATT_SYSFS_ROOT and the\n"
    "other variables in docs/sources.md) and prints each domain (kind, containment,\n"
    "measured/estimated, nominal and observed update period), or the reason a backend\n"
    "cannot be used with the fix.\n"
    "  --json        one JSON object for machines\n"
    "  --observe T   how long to watch each usable backend for its real update period\n"
    "                and to lock onto its update grid as `record` does (default 200ms;\n"
    "                0 = do not watch); the lock column says locked (with the measured\n"
    "                period), continuous, self-timed, or that it could not lock, and why\n",
    run};

typedef struct probe_result {
    const pw_source_ops *ops;
    int rc;
    pw_source_info info;
    double observed_ms[PW_SOURCE_MAX_DOMAINS];   /* mean time between value changes */
    int observed;                                /* it was watched */
    pw_gridlock lock;                            /* what the sampler's locker made of it */
    char why[PW_WHY_MAX];
} probe_result;

#define OBSERVE_INTERVAL_NS 1000000u   /* lock to every update, read the others each ms */

/* Sleeps (then spins the last 50 µs) until the monotonic deadline. */
static void sleep_until(uint64_t deadline_ns)
{
    if (deadline_ns > pw_now_ns() + 50000) {
        pw_sleep_until(deadline_ns - 50000);
    }
    while (pw_now_ns() < deadline_ns) {}
}

/* Reads the source for observe_ms on the schedule of the sampler's grid locker (the same
 * code `record` runs), and measures how often each domain's value actually changes: the
 * update period and the lock a user really gets. */
static void observe(void *state, probe_result *r, double observe_ms)
{
    uint64_t last[PW_SOURCE_MAX_DOMAINS], now[PW_SOURCE_MAX_DOMAINS];
    uint64_t first_change[PW_SOURCE_MAX_DOMAINS] = {0}, last_change[PW_SOURCE_MAX_DOMAINS];
    unsigned changes[PW_SOURCE_MAX_DOMAINS] = {0};
    pw_gridlock_init(&r->lock, r->info.period_ns, 2000, OBSERVE_INTERVAL_NS);
    if (r->info.current_at_read) pw_gridlock_set_continuous(&r->lock);
    uint64_t t = pw_now_ns(), end = t + (uint64_t)(observe_ms * 1e6);
    if (observe_ms <= 0 || r->ops->read(state, &t, last) != PW_OK) return;
    r->observed = 1;
    pw_gridlock_feed(&r->lock, t, pw_now_ns(), 0);
    while (pw_now_ns() < end) {
        sleep_until(pw_gridlock_next_read(&r->lock));
        uint64_t t0 = pw_now_ns();
        t = t0;
        if (r->ops->read(state, &t, now) != PW_OK) continue;
        uint64_t t1 = pw_now_ns();
        if (t != t0) pw_gridlock_set_self_timed(&r->lock);
        int changed = 0;
        for (size_t d = 0; d < r->info.ndomains; d++) {
            if (now[d] == last[d]) continue;
            changed = 1;
            if (!changes[d]++) first_change[d] = t;
            last_change[d] = t;
            last[d] = now[d];
        }
        if (t != t0) t0 = t1 = t;
        pw_gridlock_feed(&r->lock, t0, t1, changed);
    }
    for (size_t d = 0; d < r->info.ndomains; d++)
        if (changes[d] > 1)
            r->observed_ms[d] = (last_change[d] - first_change[d]) / 1e6 / (changes[d] - 1);
}

/* One line on the lock: the measured grid, or what stood in the way. */
static void describe_lock(const probe_result *r, char *out, size_t cap)
{
    pw_lock_state st = pw_gridlock_state(&r->lock);
    if (st == PW_LOCK_LOCKED)
        snprintf(out, cap, "locked, update period %.4f ms", pw_gridlock_period_ns(&r->lock) / 1e6);
    else if (st == PW_LOCK_LEARNING)
        snprintf(out, cap, "not locked yet (watch longer: --observe 2s)");
    else if (st == PW_LOCK_UNLOCKABLE)
        snprintf(out, cap, "cannot be locked: its updates were %s; readings are stamped half "
                 "a period before the read", r->lock.updates_seen ? "irregular" : "not observable");
    else
        snprintf(out, cap, "%s", pw_gridlock_state_name(st));
}

static void probe(const pw_source_ops *ops, const pw_source_config *cfg, double observe_ms,
                  probe_result *r)
{
    void *state = NULL;
    memset(r, 0, sizeof *r);
    r->ops = ops;
    r->rc = pw_source_probe(ops, cfg, &state, &r->info, r->why, sizeof r->why);
    if (r->rc == PW_OK) {
        observe(state, r, observe_ms);
        ops->close(state);
    }
    if (r->rc != PW_OK && !r->why[0]) snprintf(r->why, sizeof r->why, "%s", pw_strerror(r->rc));
}

static const char *provenance(const probe_result *r, const pw_domain_spec *d)
{
    if (!strcmp(r->ops->name, "synthetic")) return "simulated";
    if (r->ops->simulated) return "simulated";
    return r->ops->measured && !(d->flags & PW_DOMAIN_ESTIMATED) ? "measured" : "estimated";
}

/* The widest backend name: every column lines up under it. */
static int name_width(void)
{
    size_t w = 0;
    for (size_t i = 0; i < pw_source_count(); i++)
        if (strlen(pw_source_at(i)->name) > w) w = strlen(pw_source_at(i)->name);
    return (int)w;
}

static void print_text(const probe_result *r, int width)
{
    printf("%-*s %-9s %s\n", width, r->ops->name, r->rc == PW_OK ? "found" : "unusable",
           r->ops->summary);
    if (r->rc != PW_OK) {
        printf("%*s why: %s\n", width, "", r->why);
        return;
    }
    if (r->observed) {
        char lock[160];
        describe_lock(r, lock, sizeof lock);
        printf("%*s lock: %s\n", width, "", lock);
    }
    for (size_t d = 0; d < r->info.ndomains; d++) {
        const pw_domain_spec *s = &r->info.domains[d];
        printf("%*s - %-16s %-6s %-9s", width, "", s->name, pw_kind_name(s->kind),
               provenance(r, s));
        if (s->parent >= 0) printf(" inside %s", r->info.domains[s->parent].name);
        if (r->info.period_ns) printf(" nominal %.3g ms", r->info.period_ns / 1e6);
        if (r->observed_ms[d] > 0) printf(" observed %.3g ms", r->observed_ms[d]);
        putchar('\n');
    }
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('"');
}

static void print_json(const probe_result *r, int first)
{
    printf("%s{\"name\":", first ? "" : ",");
    json_string(r->ops->name);
    printf(",\"usable\":%s,\"measured\":%s", r->rc == PW_OK ? "true" : "false",
           r->ops->measured ? "true" : "false");
    if (r->rc != PW_OK) {
        printf(",\"why\":");
        json_string(r->why);
    }
    printf(",\"period_ns\":%llu", (unsigned long long)r->info.period_ns);
    if (r->observed)
        printf(",\"lock\":\"%s\",\"grid_period_ns\":%.1f",
               pw_gridlock_state_name(pw_gridlock_state(&r->lock)),
               pw_gridlock_period_ns(&r->lock));
    printf(",\"domains\":[");
    for (size_t d = 0; r->rc == PW_OK && d < r->info.ndomains; d++) {
        const pw_domain_spec *s = &r->info.domains[d];
        printf("%s{\"name\":", d ? "," : "");
        json_string(s->name);
        printf(",\"kind\":\"%s\",\"provenance\":\"%s\",\"observed_period_ms\":%.6g,"
               "\"parent\":", pw_kind_name(s->kind), provenance(r, s), r->observed_ms[d]);
        if (s->parent >= 0) json_string(r->info.domains[s->parent].name);
        else printf("null");
        putchar('}');
    }
    printf("]}");
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                          {"observe", required_argument, 0, 'o'},
                                          {0, 0, 0, 0}};
    int json = 0, ch;
    double observe_ms = 200;
    optind = 1;
    while ((ch = cli_getopt(&cli_sources, argc, argv, "jo:", opts)) != -1) {
        if (ch == 'j') json = 1;
        else if (ch == 'o' && cli_parse_ms(optarg, &observe_ms) == 0) continue;
        else if (ch == 'o' && strcmp(optarg, "0") == 0) observe_ms = 0;
        else if (ch == 'o') return cli_error("sources", CLI_USAGE, "--observe wants a time");
        else return CLI_USAGE;
    }
    if (optind != argc)
        return cli_error("sources", CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    if (json) printf("{\"sources\":[");
    for (size_t i = 0; i < pw_source_count(); i++) {
        probe_result r;
        probe(pw_source_at(i), &cfg, observe_ms, &r);
        if (json) print_json(&r, i == 0);
        else print_text(&r, name_width());
    }
    if (json) printf("]}\n");
    return 0;
}
