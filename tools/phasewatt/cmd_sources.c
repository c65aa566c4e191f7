/* cmd_sources.c — `phasewatt sources`: every backend, whether it works here, and why not. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "sources/source.h"

static int run(int argc, char **argv);

const cli_command cli_sources = {
    "sources", "list the power backends, their domains, and why any is unusable here",
    "usage: phasewatt sources [--json]\n"
    "\n"
    "Probes every backend the way `record` does (honouring PHASEWATT_SYSFS_ROOT and the\n"
    "other variables in docs/sources.md) and prints its domains, or the reason it cannot\n"
    "be used with the fix.\n",
    run};

typedef struct probe_result {
    const pw_source_ops *ops;
    int rc;
    pw_source_info info;
    char why[PW_WHY_MAX];
} probe_result;

static void probe(const pw_source_ops *ops, const pw_source_config *cfg, probe_result *r)
{
    void *state = NULL;
    memset(r, 0, sizeof *r);
    r->ops = ops;
    r->rc = ops->probe(cfg, &state, &r->info, r->why, sizeof r->why);
    if (r->rc == PW_OK) ops->close(state);
    if (r->rc != PW_OK && !r->why[0]) snprintf(r->why, sizeof r->why, "%s", pw_strerror(r->rc));
}

static const char *provenance(const probe_result *r, const pw_domain_spec *d)
{
    if (!strcmp(r->ops->name, "synthetic")) return "simulated";
    return r->ops->measured && !(d->flags & PW_DOMAIN_ESTIMATED) ? "measured" : "estimated";
}

static void print_text(const probe_result *r)
{
    printf("%-10s %-9s %s\n", r->ops->name, r->rc == PW_OK ? "found" : "unusable",
           r->ops->summary);
    if (r->rc != PW_OK) {
        printf("           why: %s\n", r->why);
        return;
    }
    for (size_t d = 0; d < r->info.ndomains; d++) {
        const pw_domain_spec *s = &r->info.domains[d];
        printf("           - %-16s %-6s %-9s", s->name, pw_kind_name(s->kind), provenance(r, s));
        if (s->parent >= 0) printf(" inside %s", r->info.domains[s->parent].name);
        if (r->info.period_ns) printf(" updates every %.3g ms", r->info.period_ns / 1e6);
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
    printf(",\"period_ns\":%llu,\"domains\":[", (unsigned long long)r->info.period_ns);
    for (size_t d = 0; r->rc == PW_OK && d < r->info.ndomains; d++) {
        const pw_domain_spec *s = &r->info.domains[d];
        printf("%s{\"name\":", d ? "," : "");
        json_string(s->name);
        printf(",\"kind\":\"%s\",\"provenance\":\"%s\",\"parent\":", pw_kind_name(s->kind),
               provenance(r, s));
        if (s->parent >= 0) json_string(r->info.domains[s->parent].name);
        else printf("null");
        putchar('}');
    }
    printf("]}");
}

static int run(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
    int json = 0, ch;
    optind = 1;
    while ((ch = cli_getopt(&cli_sources, argc, argv, "+j", opts)) != -1) {
        if (ch == 'j') json = 1;
        else return CLI_USAGE;
    }
    if (optind != argc)
        return cli_error("sources", CLI_USAGE, "unexpected argument '%s'", argv[optind]);
    pw_source_config cfg;
    pw_source_config_from_env(&cfg);
    if (json) printf("{\"sources\":[");
    for (size_t i = 0; i < pw_source_count(); i++) {
        probe_result r;
        probe(pw_source_at(i), &cfg, &r);
        if (json) print_json(&r, i == 0);
        else print_text(&r);
    }
    if (json) printf("]}\n");
    return 0;
}
