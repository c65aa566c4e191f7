/* rapl_powercap.c — RAPL energy counters read through the Linux powercap tree
 * (/sys/class/powercap/intel-rapl:N[:M]): packages, cores, uncore, DRAM and psys. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/counter.h"
#include "sources/source.h"
#include "sources/sysfs.h"

#define POWERCAP "/sys/class/powercap"
#define RAPL_PERIOD_NS 976563u           /* the hardware refreshes its counters every 2^-10 s */
#define MAX_ZONES (2 * PW_SOURCE_MAX_DOMAINS)
#define ENTRY_MAX 48
#define NAME_MAX_LEN 31                  /* two names and a '-' fit a domain name */

typedef struct zone {                    /* one powercap zone, as the scan found it */
    char entry[ENTRY_MAX];               /* "intel-rapl:0:1" */
    int rank;                            /* 0: "intel-rapl" (MSR, TPMI); 1: "intel-rapl-mmio"… */
    unsigned top, sub;                   /* N and M of <type>:N[:M] */
    int is_sub;
    int top_zone;                        /* a subzone's package, index into the zone table */
    int skip;
    int domain;                          /* index among the source's domains, or -1 */
    char name[PW_DOMAIN_NAME_MAX];       /* its name file: "package-0", "core", "psys" */
    uint64_t max_range;                  /* max_energy_range_uj */
} zone;

typedef struct rapl_domain {
    pw_sysfs_file energy;                /* energy_uj, kept open */
    pw_counter counter;
    uint64_t max_range;
    char entry[ENTRY_MAX];
    char name[PW_DOMAIN_NAME_MAX];
} rapl_domain;

typedef struct rapl {
    size_t n;
    rapl_domain d[PW_SOURCE_MAX_DOMAINS];
    char skipped[PW_WHY_MAX];            /* zones left out at probe, and why */
    int skip_rc;                         /* the error that left out the first one */
} rapl;

/* ---- the scan ----------------------------------------------------------------------------- */

/* Zone and package numbers: 1 to 5 digits; advances *p. */
static int parse_small(const char **p, unsigned *out)
{
    return pw_sysfs_digits(p, 5, out);
}

/* "intel-rapl:N", "intel-rapl:N:M", or the same on another interface ("intel-rapl-mmio:N").
 * Anything else in the class directory (the control types themselves) is not a zone. */
static int parse_entry(const char *entry, zone *z)
{
    const char *colon = strchr(entry, ':');
    if (!colon || strlen(entry) >= sizeof z->entry) return 0;
    size_t plen = (size_t)(colon - entry);
    if (plen == 10 && !strncmp(entry, "intel-rapl", 10)) z->rank = 0;
    else if (plen > 11 && !strncmp(entry, "intel-rapl-", 11)) z->rank = 1;
    else return 0;
    const char *p = colon + 1;
    if (!parse_small(&p, &z->top)) return 0;
    z->is_sub = *p == ':';
    if (z->is_sub && (p++, !parse_small(&p, &z->sub))) return 0;
    if (*p) return 0;
    snprintf(z->entry, sizeof z->entry, "%s", entry);
    z->top_zone = -1;
    z->domain = -1;
    return 1;
}

static int cmp_zones(const void *x, const void *y)
{
    const zone *a = x, *b = y;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    if (a->top != b->top) return a->top < b->top ? -1 : 1;
    if (a->is_sub != b->is_sub) return a->is_sub < b->is_sub ? -1 : 1;
    return a->sub < b->sub ? -1 : a->sub > b->sub;
}

static void no_zones(char *why, size_t whylen, const char *dir)
{
    snprintf(why, whylen, "no RAPL zones under %s: not an Intel/AMD CPU, a VM without RAPL, or "
                          "the intel_rapl_msr/intel_rapl_common modules are not loaded "
                          "(sudo modprobe intel_rapl_msr)", dir);
}

static int list_zones(const char *dir, zone *zones, size_t *nz, char *why, size_t whylen)
{
    char **names;
    size_t n;
    int err, rc = pw_sysfs_list(dir, &names, &n, &err);
    if (rc == PW_ERR_NOT_FOUND) {
        no_zones(why, whylen, dir);
        return rc;
    }
    if (rc != PW_OK) {
        pw_sysfs_reason(why, whylen, dir, err);
        return rc;
    }
    *nz = 0;
    for (size_t i = 0; i < n && rc == PW_OK; i++) {
        zone z = {0};
        if (!parse_entry(names[i], &z)) continue;
        if (*nz == MAX_ZONES) {
            snprintf(why, whylen, "more than %d RAPL zones under %s", MAX_ZONES, dir);
            rc = PW_ERR_LIMIT;
        } else {
            zones[(*nz)++] = z;
        }
    }
    pw_sysfs_list_free(names, n);
    if (rc == PW_OK && *nz == 0) {
        no_zones(why, whylen, dir);
        rc = PW_ERR_NOT_FOUND;
    }
    if (rc == PW_OK) qsort(zones, *nz, sizeof *zones, cmp_zones);
    return rc;
}

static int value_ok(const zone *z, size_t file, uint64_t energy)
{
    if (file == 0) return pw_sysfs_is_name(z->name, NAME_MAX_LEN);
    if (file == 1) return z->max_range > 0;
    return energy <= z->max_range;              /* a counter never exceeds its range */
}

/* energy_uj is root-only since the 2020 RAPL side-channel fix (PLATYPUS): the reason says
 * how to grant it to a group instead, and what that exposes. */
static void permission_reason(char *why, size_t whylen, const char *path)
{
    snprintf(why, whylen, "permission denied on %s (root-only since the 2020 RAPL fix): run as "
             "root, or without root: a group and a udev rule (the one command is in "
             "docs/sources.md, \"Without root\"); for this boot only: sudo chmod a+r "
             "/sys/class/powercap/*/energy_uj /sys/class/powercap/*/*/energy_uj. It exposes "
             "package, core, uncore and DRAM energy to whoever may read it", path);
}

/* Reads name and max_energy_range_uj and checks that energy_uj reads as a counter in
 * range. Permission denied is fatal (it applies to every zone, and the fix is the same);
 * any other failure leaves this zone out, with a note saying why. */
static int check_zone(rapl *r, const char *dir, zone *z, char *why, size_t whylen)
{
    static const char *const files[] = {"name", "max_energy_range_uj", "energy_uj"};
    char zdir[PW_SYSFS_PATH_MAX], path[PW_SYSFS_PATH_MAX] = "";
    uint64_t energy = 0;
    int err = ENAMETOOLONG, rc = pw_sysfs_child(zdir, sizeof zdir, dir, z->entry);
    for (size_t i = 0; i < 3 && rc == PW_OK; i++) {
        rc = pw_sysfs_child(path, sizeof path, zdir, files[i]);
        uint64_t *value = i == 1 ? &z->max_range : &energy;
        if (rc == PW_OK && i == 0) rc = pw_sysfs_read_text_at(path, z->name, sizeof z->name, &err);
        else if (rc == PW_OK) rc = pw_sysfs_read_u64_at(path, value, &err);
        if (rc == PW_OK && !value_ok(z, i, energy)) rc = pw_sysfs_error(err = PW_SYSFS_BAD_VALUE);
    }
    if (rc == PW_ERR_PERMISSION) permission_reason(why, whylen, path);
    if (rc == PW_OK || rc == PW_ERR_PERMISSION) return rc;
    char reason[PW_WHY_MAX];
    pw_sysfs_reason(reason, sizeof reason, *path ? path : dir, err);
    pw_sysfs_note(r->skipped, sizeof r->skipped, reason);
    if (!r->skip_rc) r->skip_rc = rc;
    z->skip = 1;
    return PW_OK;
}

static int find_top(const zone *zones, size_t before, int rank, unsigned top)
{
    for (size_t j = 0; j < before; j++)
        if (!zones[j].is_sub && zones[j].rank == rank && zones[j].top == top) return (int)j;
    return -1;
}

static int find_name(const zone *zones, size_t before, const char *name)
{
    for (size_t j = 0; j < before; j++)
        if (!zones[j].is_sub && !zones[j].skip && !strcmp(zones[j].name, name)) return (int)j;
    return -1;
}

/* Subzones join the package zone of the same interface and number (sorted order puts it
 * first). A top zone named like an earlier one is the same package seen through a second
 * interface (MMIO beside MSR): it and its subzones are left out. */
static void link_zones(zone *zones, size_t nz, char *notes, size_t noteslen)
{
    for (size_t i = 0; i < nz; i++) {
        zone *z = &zones[i];
        int dup;
        if (z->skip) continue;
        if (z->is_sub) {
            z->top_zone = find_top(zones, i, z->rank, z->top);
            z->skip = z->top_zone < 0 || zones[z->top_zone].skip;
        } else if ((dup = find_name(zones, i, z->name)) >= 0) {
            char note[PW_WHY_MAX];
            snprintf(note, sizeof note, "%s left out: same %s as %s", z->entry, z->name,
                     zones[dup].entry);
            pw_sysfs_note(notes, noteslen, note);
            z->skip = 1;
        }
    }
}

/* ---- domains ------------------------------------------------------------------------------ */

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static pw_kind kind_of(const char *name)
{
    if (starts(name, "package") || !strcmp(name, "core") || !strcmp(name, "uncore"))
        return PW_KIND_CPU;
    if (!strcmp(name, "dram")) return PW_KIND_DRAM;
    if (starts(name, "psys")) return PW_KIND_SYSTEM;
    return PW_KIND_OTHER;
}

/* "core" of "package-0-die-1" is "core-0-die-1"; of any other top zone T, "core-T". */
static void domain_name(const zone *zones, const zone *z, char *out, size_t cap)
{
    const char *top = z->is_sub ? zones[z->top_zone].name : NULL;
    if (!top) snprintf(out, cap, "%.31s", z->name);
    else snprintf(out, cap, "%.31s-%.31s", z->name, starts(top, "package-") ? top + 8 : top);
}

/* "psys-N" -> N; "psys" -> -1 (plain); anything else -> -2. */
static long psys_number(const char *name)
{
    unsigned n;
    if (!strcmp(name, "psys")) return -1;
    if (!starts(name, "psys-")) return -2;
    const char *p = name + 5;
    return parse_small(&p, &n) && !*p ? (long)n : -2;
}

/* The psys domain covering a package. The kernel names package P's psys "psys-P" where
 * it makes one per package (package 0's stays "psys"); a lone "psys" covers the platform. */
static int32_t psys_for(const zone *zones, size_t nz, const zone *top)
{
    unsigned pkg = 0;
    const char *p = starts(top->name, "package-") ? top->name + 8 : "";
    long want = parse_small(&p, &pkg) ? (long)pkg : -3;    /* "package-1-die-0" -> 1 */
    int32_t plain = -1;
    int numbered = 0;
    for (size_t i = 0; i < nz; i++) {
        long n = zones[i].domain < 0 ? -2 : psys_number(zones[i].name);
        if (n == -1) plain = zones[i].domain;
        if (n >= 0) numbered = 1;
        if (n >= 0 && n == want) return zones[i].domain;
    }
    return !numbered || want == 0 ? plain : -1;
}

/* core/uncore (and unknown subzones) lie inside their package; DRAM is a rail of its own;
 * packages and DRAM lie inside the psys that covers their package. */
static int32_t parent_of(const zone *zones, size_t nz, const zone *z, pw_kind kind)
{
    if (z->is_sub && kind != PW_KIND_DRAM) return zones[z->top_zone].domain;
    const zone *top = z->is_sub ? &zones[z->top_zone] : z;
    return starts(top->name, "package") ? psys_for(zones, nz, top) : -1;
}

static int add_domain(rapl *r, pw_source_info *info, zone *zones, size_t nz, zone *z,
                      const char *dir, char *why, size_t whylen)
{
    char name[PW_DOMAIN_NAME_MAX], zdir[PW_SYSFS_PATH_MAX], path[PW_SYSFS_PATH_MAX];
    domain_name(zones, z, name, sizeof name);
    for (size_t i = 0; i < info->ndomains; i++)
        if (!strcmp(info->domains[i].name, name)) {     /* left out, with a note */
            char note[PW_WHY_MAX];
            snprintf(note, sizeof note, "%s left out: repeats the name %s", z->entry, name);
            pw_sysfs_note(r->skipped, sizeof r->skipped, note);
            return PW_OK;
        }
    if (info->ndomains == PW_SOURCE_MAX_DOMAINS) {
        snprintf(why, whylen, "more than %d RAPL domains under %s", PW_SOURCE_MAX_DOMAINS, dir);
        return PW_ERR_LIMIT;
    }
    size_t k = info->ndomains;
    rapl_domain *d = &r->d[k];
    int err = ENAMETOOLONG, rc = pw_sysfs_child(zdir, sizeof zdir, dir, z->entry);
    if (rc == PW_OK) rc = pw_sysfs_child(path, sizeof path, zdir, "energy_uj");
    if (rc == PW_OK && (rc = pw_sysfs_open(&d->energy, path)) != PW_OK) err = d->energy.err;
    if (rc != PW_OK) {                  /* it was readable a moment ago, in check_zone */
        pw_sysfs_reason(why, whylen, err == ENAMETOOLONG ? dir : path, err);
        return rc;
    }
    pw_counter_init(&d->counter, z->max_range + 1);
    d->max_range = z->max_range;
    snprintf(d->entry, sizeof d->entry, "%s", z->entry);
    memcpy(d->name, name, sizeof d->name);
    pw_domain_spec *s = &info->domains[k];
    memcpy(s->name, name, sizeof s->name);
    s->kind = kind_of(z->name);
    s->parent = parent_of(zones, nz, z, s->kind);
    s->flags = 0;
    z->domain = (int)k;
    info->ndomains = r->n = k + 1;
    return PW_OK;
}

/* psys first (it contains packages and DRAM), then each package followed by its subzones;
 * every parent thus comes before its children, as the trace requires. */
static int add_domains(rapl *r, pw_source_info *info, zone *zones, size_t nz, const char *dir,
                       char *why, size_t whylen)
{
    int rc = PW_OK;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < nz && rc == PW_OK; i++) {
            zone *z = &zones[i];
            if (z->skip || z->is_sub || (psys_number(z->name) != -2) != (pass == 0)) continue;
            rc = add_domain(r, info, zones, nz, z, dir, why, whylen);
            for (size_t j = 0; j < nz && rc == PW_OK && z->domain >= 0; j++)
                if (!zones[j].skip && zones[j].is_sub && zones[j].top_zone == (int)i)
                    rc = add_domain(r, info, zones, nz, &zones[j], dir, why, whylen);
        }
    return rc;
}

/* ---- the ops ------------------------------------------------------------------------------ */

static void rapl_close(void *state)
{
    rapl *r = state;
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) pw_sysfs_close(&r->d[i].energy);
    free(r);
}

static int scan(rapl *r, const char *dir, pw_source_info *info, char *why, size_t whylen)
{
    size_t nz = 0;
    zone *zones = calloc(MAX_ZONES, sizeof *zones);
    if (!zones) return PW_ERR_NOMEM;
    int rc = list_zones(dir, zones, &nz, why, whylen);
    for (size_t i = 0; i < nz && rc == PW_OK; i++)
        rc = check_zone(r, dir, &zones[i], why, whylen);
    if (rc == PW_OK) {
        link_zones(zones, nz, r->skipped, sizeof r->skipped);
        rc = add_domains(r, info, zones, nz, dir, why, whylen);
    }
    if (rc == PW_OK && info->ndomains == 0) {
        snprintf(why, whylen, "no readable RAPL zone under %s: %s", dir, r->skipped);
        rc = r->skip_rc ? r->skip_rc : PW_ERR_NOT_FOUND;
    }
    free(zones);
    return rc;
}

static int rapl_probe(const pw_source_config *cfg, void **state, pw_source_info *info,
                      char *why, size_t whylen)
{
    char dir[PW_SYSFS_PATH_MAX];
    if (pw_sysfs_path(dir, sizeof dir, cfg->sysfs_root, POWERCAP) != PW_OK) {
        snprintf(why, whylen, "PHASEWATT_SYSFS_ROOT is too long");
        return PW_ERR_LIMIT;
    }
    rapl *r = calloc(1, sizeof *r);
    if (!r) return PW_ERR_NOMEM;
    info->ndomains = 0;
    int rc = scan(r, dir, info, why, whylen);
    if (rc != PW_OK) {
        rapl_close(r);
        info->ndomains = 0;
        return rc;
    }
    info->period_ns = RAPL_PERIOD_NS;
    *state = r;
    return PW_OK;
}

/* Every domain is read even after one fails, so the others keep their wrap tracking; a
 * failed domain keeps its counter state, and its next good reading continues from it. */
static int rapl_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    rapl *r = state;
    int rc = PW_OK;
    (void)t_ns;                          /* powercap gives no time of its own */
    for (size_t i = 0; i < r->n; i++) {
        rapl_domain *d = &r->d[i];
        uint64_t raw = 0;
        int e = pw_sysfs_read_u64(&d->energy, &raw);
        if (e == PW_OK && raw > d->max_range) e = PW_ERR_FORMAT;
        if (e == PW_OK) energy_uj[i] = pw_counter_update(&d->counter, raw);
        else if (rc == PW_OK) rc = e;
    }
    return rc;
}

static void rapl_describe(void *state, const pw_sink *out)
{
    const rapl *r = state;
    char key[PW_DOMAIN_NAME_MAX + 16], value[128];
    for (size_t i = 0; i < r->n; i++) {
        snprintf(key, sizeof key, "rapl.%s", r->d[i].name);
        snprintf(value, sizeof value, "%s max_energy_range_uj=%llu", r->d[i].entry,
                 (unsigned long long)r->d[i].max_range);
        pw_sink_meta(out, key, value);
    }
    if (r->skipped[0]) pw_sink_meta(out, "rapl.skipped", r->skipped);
}

const pw_source_ops pw_source_rapl = {
    .name = "rapl",
    .summary = "RAPL energy counters via powercap sysfs: CPU packages, cores, uncore, DRAM, psys",
    .measured = 1,
    .auto_probe = 1,
    .group = "rapl",
    .probe = rapl_probe,
    .read = rapl_read,
    .describe = rapl_describe,
    .close = rapl_close,
};
