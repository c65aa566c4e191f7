/* rapl_msr.c — RAPL energy counters read straight from the model-specific registers
 * (<dev>/cpu/N/msr on the first CPU of each package), Intel and AMD/Hygon. */
#define _FILE_OFFSET_BITS 64             /* AMD's registers lie past 2 GiB in the msr file */

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sources/counter.h"
#include "sources/rapl_planes.h"
#include "sources/source.h"
#include "sources/sysfs.h"

#define CPU_DIR "/sys/devices/system/cpu"
#define RAPL_PERIOD_NS 976563u           /* the hardware refreshes its counters every 2^-10 s */
#define MAX_PACKAGES PW_SOURCE_MAX_DOMAINS
#define TAG_MAX 24                       /* a package's part of a domain name: "1", "0-die-1" */
#define VENDOR_MAX 16                    /* vendor_id strings are 12 characters */
#define COUNTER_MODULUS (UINT64_C(1) << 32)  /* energy counters are the low 32 bits */
#define INTEL_UNIT 0x606u                /* MSR_RAPL_POWER_UNIT */
#define AMD_UNIT 0xC0010299u             /* MSR_AMD_RAPL_POWER_UNIT */

typedef enum vendor { VENDOR_INTEL, VENDOR_AMD } vendor;

/* The energy registers, one per plane (rapl_planes.h gives names and kinds). */
enum { REG_PSYS = PW_RAPL_PSYS, REG_PKG = PW_RAPL_PKG, REG_CORES = PW_RAPL_CORES,
       REG_GPU = PW_RAPL_UNCORE, REG_DRAM = PW_RAPL_DRAM, NREGS = PW_RAPL_NPLANES };

static const struct reg_def {
    uint32_t intel, amd;                 /* MSR address; 0: the vendor has none */
    const char *msr;                     /* its name in the manuals, for notes */
} regs[NREGS] = {
    [REG_PSYS] = {0x64D, 0, "PLATFORM_ENERGY_STATUS"},
    [REG_PKG] = {0x611, 0xC001029B, "PKG_ENERGY_STATUS"},
    [REG_CORES] = {0x639, 0, "PP0_ENERGY_STATUS"},
    [REG_GPU] = {0x641, 0, "PP1_ENERGY_STATUS"},
    [REG_DRAM] = {0x619, 0, "DRAM_ENERGY_STATUS"},
};

/* Intel parts whose DRAM counter ignores the unit MSR and counts 2^-16 J (Haswell-EP,
 * Broadwell-EP/DE, Skylake-SP, Ice Lake-SP/D, Xeon Phi), and those whose psys counts
 * whole joules (Sapphire/Emerald Rapids), as Linux's arch/x86/events/rapl.c has them. */
static const unsigned dram_unit_16[] = {0x3F, 0x4F, 0x56, 0x55, 0x6A, 0x6C, 0x57, 0x85};
static const unsigned psys_unit_0[] = {0x8F, 0xCF};

typedef struct package {                 /* one package's msr device, kept open */
    int fd;                              /* -1 after a failure: the next read reopens it */
    int err;                             /* errno of the last failure */
    unsigned cpu;                        /* the first CPU of the package */
    unsigned id, die;
    unsigned esu;                        /* energy status unit: 2^-esu J per count */
    char tag[TAG_MAX];
    char path[PW_SYSFS_PATH_MAX];        /* <dev>/cpu/<cpu>/msr */
} package;

typedef struct msr_domain {
    size_t pkg;                          /* index into the packages */
    int reg;
    uint32_t addr;
    unsigned esu;                        /* the unit MSR's, or a model's fixed one */
    pw_counter counter;                  /* in counts, modulus 2^32 */
    char name[PW_DOMAIN_NAME_MAX];
} msr_domain;

typedef struct rapl_msr {
    vendor vendor;
    char vendor_id[VENDOR_MAX];
    long family, model;                  /* -1 when cpuinfo does not say */
    size_t npk;
    package pk[MAX_PACKAGES];
    size_t n;
    msr_domain d[PW_SOURCE_MAX_DOMAINS];
    char skipped[PW_WHY_MAX];            /* registers left out at probe, and why */
} rapl_msr;

typedef struct scan {                    /* what one probe works with */
    const pw_source_config *cfg;
    char *why;
    size_t whylen;
} scan;

/* ---- registers ---------------------------------------------------------------------------- */

/* One 8-byte register, little-endian as the x86 msr driver returns it. The driver answers
 * EIO for a register the CPU lacks; a short read counts the same. */
static int read_msr(int fd, uint32_t addr, uint64_t *value)
{
    unsigned char b[8];
    ssize_t n = pread(fd, b, sizeof b, (off_t)addr);
    if (n != (ssize_t)sizeof b) {
        if (n >= 0) errno = EIO;
        return -1;
    }
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    *value = v;
    return 0;
}

/* counts × 10^6 / 2^esu µJ, rounded to the nearest, exactly in integers (10^6 = 2^6 ×
 * 15625 keeps part × 10^6 below 2^51). Converting the cumulative count never drifts. */
static uint64_t counts_to_uj(uint64_t counts, unsigned esu)
{
    if (esu == 0) return counts * 1000000u;
    uint64_t whole = counts >> esu, part = counts & ((UINT64_C(1) << esu) - 1);
    return whole * 1000000u + ((part * 1000000u + (UINT64_C(1) << (esu - 1))) >> esu);
}

static uint32_t reg_addr(const rapl_msr *r, int reg)
{
    return r->vendor == VENDOR_INTEL ? regs[reg].intel : regs[reg].amd;
}

static int model_in(const rapl_msr *r, const unsigned *models, size_t n)
{
    for (size_t i = 0; r->vendor == VENDOR_INTEL && r->family == 6 && i < n; i++)
        if ((long)models[i] == r->model) return 1;
    return 0;
}

static unsigned reg_esu(const rapl_msr *r, const package *p, int reg)
{
    if (reg == REG_DRAM && model_in(r, dram_unit_16, sizeof dram_unit_16 / sizeof *dram_unit_16))
        return 16;
    if (reg == REG_PSYS && model_in(r, psys_unit_0, sizeof psys_unit_0 / sizeof *psys_unit_0))
        return 0;
    return p->esu;
}

/* ---- the vendor, from cpuinfo -------------------------------------------------------------- */

static char *trim(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n')) s[--n] = '\0';
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* A decimal number of 1 to 5 digits ("cpu family", "model"). */
static int parse_number(const char *text, long *out)
{
    unsigned v;
    const char *p = text;
    if (!pw_sysfs_digits(&p, 5, &v) || *p) return 0;
    *out = (long)v;
    return 1;
}

/* "key<tabs>: value" of the first processor's block: vendor_id, cpu family and model. */
static int take_line(rapl_msr *r, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon) return 1;                /* not a field: nothing to take */
    *colon = '\0';
    const char *key = trim(line);
    char *value = trim(colon + 1);
    if (!strcmp(key, "vendor_id")) {
        if (!pw_sysfs_is_name(value, VENDOR_MAX - 1)) return 0;
        memcpy(r->vendor_id, value, strlen(value) + 1);
    } else if (!strcmp(key, "cpu family")) {
        return parse_number(value, &r->family);
    } else if (!strcmp(key, "model")) {
        return parse_number(value, &r->model);
    }
    return 1;
}

static int parse_cpuinfo(rapl_msr *r, FILE *f, const char *path, scan *s)
{
    char *line = NULL, bad[64] = "";
    size_t cap = 0;
    int rc = PW_OK, seen = 0;
    r->family = r->model = -1;
    while (rc == PW_OK && getline(&line, &cap, f) >= 0) {
        if (line[0] == '\n' && seen) break;           /* the first processor is enough */
        seen = 1;
        snprintf(bad, sizeof bad, "%.*s", (int)strcspn(line, "\n"), line);
        if (!take_line(r, line)) rc = PW_ERR_FORMAT;
    }
    free(line);
    if (rc == PW_ERR_FORMAT)
        snprintf(s->why, s->whylen, "%s: malformed line \"%s\" (want \"vendor_id : "
                 "GenuineIntel\", \"cpu family : 6\", \"model : 85\")", path, bad);
    else if (!r->vendor_id[0])
        snprintf(s->why, s->whylen, "no vendor_id in %s: not an x86 CPU (RAPL MSRs exist on "
                 "Intel and AMD only)", path);
    return rc == PW_OK && !r->vendor_id[0] ? PW_ERR_NOT_FOUND : rc;
}

static int read_vendor(rapl_msr *r, scan *s)
{
    char path[PW_SYSFS_PATH_MAX];
    const char *proc = s->cfg->proc_root ? s->cfg->proc_root : "/proc";
    if (pw_sysfs_path(path, sizeof path, proc, "/cpuinfo") != PW_OK) {
        snprintf(s->why, s->whylen, "PHASEWATT_PROC_ROOT is too long");
        return PW_ERR_LIMIT;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        int err = errno;
        pw_sysfs_reason(s->why, s->whylen, path, err);
        return pw_sysfs_error(err);
    }
    int rc = parse_cpuinfo(r, f, path, s);
    fclose(f);
    if (rc != PW_OK) return rc;
    if (!strcmp(r->vendor_id, "GenuineIntel")) r->vendor = VENDOR_INTEL;
    else if (!strcmp(r->vendor_id, "AuthenticAMD") || !strcmp(r->vendor_id, "HygonGenuine"))
        r->vendor = VENDOR_AMD;
    else {
        snprintf(s->why, s->whylen, "CPU vendor %s (%s) has no RAPL MSRs: they exist on Intel "
                 "(GenuineIntel) and AMD/Hygon (AuthenticAMD, HygonGenuine) only",
                 r->vendor_id, path);
        return PW_ERR_NOT_FOUND;
    }
    return PW_OK;
}

/* ---- packages, from the CPU topology ------------------------------------------------------- */

static int cpu_number(const char *entry, unsigned *cpu)
{
    const char *p = entry + 3;
    return !strncmp(entry, "cpu", 3) && pw_sysfs_digits(&p, 5, cpu) && !*p;
}

/* <cpu dir>/cpuN/topology/<file> as a small number, or -1 when unreadable (an offline
 * CPU has no topology). */
static long topology(const char *cpudir, unsigned cpu, const char *file)
{
    char path[PW_SYSFS_PATH_MAX];
    uint64_t v;
    int err;
    int n = snprintf(path, sizeof path, "%s/cpu%u/topology/%s", cpudir, cpu, file);
    if (n < 0 || (size_t)n >= sizeof path || pw_sysfs_read_u64_at(path, &v, &err) != PW_OK ||
        v > 65535)
        return -1;
    return (long)v;
}

static int cmp_packages(const void *x, const void *y)
{
    const package *a = x, *b = y;
    if (a->id != b->id) return a->id < b->id ? -1 : 1;
    return a->die < b->die ? -1 : a->die > b->die;
}

/* The first CPU of each package; on Intel, of each die (multi-die Xeons count RAPL per
 * die). AMD counts per package whatever its die_id says, so dies are not split there. */
static int add_cpu(rapl_msr *r, const char *cpudir, unsigned cpu, scan *s)
{
    long id = topology(cpudir, cpu, "physical_package_id"), die = 0;
    if (id < 0) return PW_OK;
    if (r->vendor == VENDOR_INTEL && (die = topology(cpudir, cpu, "die_id")) < 0) die = 0;
    for (size_t i = 0; i < r->npk; i++)
        if (r->pk[i].id == (unsigned)id && r->pk[i].die == (unsigned)die) return PW_OK;
    if (r->npk == MAX_PACKAGES) {
        snprintf(s->why, s->whylen, "more than %d packages under %s", MAX_PACKAGES, cpudir);
        return PW_ERR_LIMIT;
    }
    package *p = &r->pk[r->npk++];
    p->fd = -1;
    p->cpu = cpu;
    p->id = (unsigned)id;
    p->die = (unsigned)die;
    return PW_OK;
}

/* "P", or "P-die-D" where a package has more than one die (powercap's names). */
static void tag_packages(rapl_msr *r)
{
    qsort(r->pk, r->npk, sizeof *r->pk, cmp_packages);
    for (size_t i = 0; i < r->npk; i++) {
        package *p = &r->pk[i];
        int dies = 0;
        for (size_t j = 0; j < r->npk; j++) dies += r->pk[j].id == p->id;
        if (dies > 1) snprintf(p->tag, sizeof p->tag, "%u-die-%u", p->id, p->die);
        else snprintf(p->tag, sizeof p->tag, "%u", p->id);
    }
}

static int find_packages(rapl_msr *r, scan *s)
{
    char cpudir[PW_SYSFS_PATH_MAX], **names = NULL;
    size_t n = 0;
    int err, rc = pw_sysfs_path(cpudir, sizeof cpudir, s->cfg->sysfs_root, CPU_DIR);
    if (rc != PW_OK) {
        snprintf(s->why, s->whylen, "PHASEWATT_SYSFS_ROOT is too long");
        return rc;
    }
    rc = pw_sysfs_list(cpudir, &names, &n, &err);
    if (rc != PW_OK) pw_sysfs_reason(s->why, s->whylen, cpudir, err);
    for (size_t i = 0; i < n && rc == PW_OK; i++) {
        unsigned cpu;
        if (cpu_number(names[i], &cpu)) rc = add_cpu(r, cpudir, cpu, s);
    }
    pw_sysfs_list_free(names, n);
    if (rc == PW_OK && r->npk == 0) {
        snprintf(s->why, s->whylen, "no CPU under %s has a readable "
                 "topology/physical_package_id: cannot tell the packages apart", cpudir);
        rc = PW_ERR_NOT_FOUND;
    }
    if (rc == PW_OK) tag_packages(r);
    return rc;
}

/* ---- the msr devices ----------------------------------------------------------------------- */

static void open_reason(const package *p, int err, scan *s)
{
    if (err == ENOENT)
        snprintf(s->why, s->whylen, "%s not found: sudo modprobe msr (the kernel needs "
                 "CONFIG_X86_MSR)", p->path);
    else if (err == EACCES || err == EPERM)
        snprintf(s->why, s->whylen, "permission denied on %s: run as root (needs "
                 "CAP_SYS_RAWIO), or give phasewatt CAP_SYS_RAWIO and your group read access "
                 "to the device (see docs/sources-rapl_msr.md)", p->path);
    else if (err == ENXIO || err == EIO)
        snprintf(s->why, s->whylen, "cannot open %s: CPU %u is offline or has no MSRs (%s)",
                 p->path, p->cpu, strerror(err));
    else if (err == ENODEV)
        snprintf(s->why, s->whylen, "%s is not a device (a FIFO, socket or directory stands "
                 "at its path): refused", p->path);
    else
        snprintf(s->why, s->whylen, "cannot open %s: %s", p->path, strerror(err));
}

static int unit_reason(const rapl_msr *r, const package *p, const char *what, scan *s)
{
    snprintf(s->why, s->whylen, "RAPL power unit MSR 0x%X on CPU %u (%s) %s: this CPU has "
             "no RAPL (a VM, an Intel part before Sandy Bridge, or AMD before family 17h)",
             r->vendor == VENDOR_INTEL ? INTEL_UNIT : AMD_UNIT, p->cpu, p->path, what);
    return PW_ERR_NOT_FOUND;
}

/* Opens the msr device without blocking (a FIFO planted at its path would hang open()) and
 * keeps only a character device, or a regular file (the tests' fake devices). */
static int reopen(package *p)
{
    if (p->fd >= 0) close(p->fd);
    p->fd = open(p->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (p->fd >= 0 && (fstat(p->fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISREG(st.st_mode)))) {
        close(p->fd);
        p->fd = -1;
        errno = ENODEV;
    }
    if (p->fd < 0) p->err = errno;
    return p->fd >= 0;
}

/* Opens the package's msr device and reads its energy unit. Every failure is fatal: the
 * fix (load the module, get the capability) applies to all packages alike. */
static int open_package(rapl_msr *r, package *p, scan *s)
{
    const char *dev = s->cfg->dev_root ? s->cfg->dev_root : "/dev";
    char rel[48];
    uint64_t unit;
    snprintf(rel, sizeof rel, "/cpu/%u/msr", p->cpu);
    if (pw_sysfs_path(p->path, sizeof p->path, dev, rel) != PW_OK) {
        snprintf(s->why, s->whylen, "PHASEWATT_DEV_ROOT is too long");
        return PW_ERR_LIMIT;
    }
    if (!reopen(p)) {
        open_reason(p, p->err, s);
        int rc = pw_sysfs_error(p->err);
        return rc == PW_OK ? PW_ERR_IO : rc;
    }
    if (read_msr(p->fd, r->vendor == VENDOR_INTEL ? INTEL_UNIT : AMD_UNIT, &unit) != 0) {
        char what[96];
        snprintf(what, sizeof what, "is not readable (%s)", strerror(errno));
        return unit_reason(r, p, what, s);
    }
    if (unit == 0) return unit_reason(r, p, "reads 0", s);
    p->esu = (unsigned)(unit >> 8) & 0x1F;
    return PW_OK;
}

/* ---- domains ------------------------------------------------------------------------------- */

static void domain_name(const package *p, int reg, char *out, size_t cap)
{
    pw_rapl_domain_name((pw_rapl_plane)reg, p->tag, out, cap);
}

static void leave_out(rapl_msr *r, const package *p, int reg, const char *what)
{
    char name[PW_DOMAIN_NAME_MAX], note[PW_WHY_MAX];
    domain_name(p, reg, name, sizeof name);
    snprintf(note, sizeof note, "%s left out: MSR 0x%X (%s) on CPU %u %s", name,
             reg_addr(r, reg), regs[reg].msr, p->cpu, what);
    pw_sysfs_note(r->skipped, sizeof r->skipped, note);
}

/* Reads the register once; one the CPU lacks (EIO) or that does not count (reads 0, as
 * the server PP1 or a disabled psys does) is left out with a note. */
static int add_domain(rapl_msr *r, pw_source_info *info, size_t pkg, int reg, int32_t parent,
                      scan *s)
{
    const package *p = &r->pk[pkg];
    uint64_t raw;
    char what[96];
    if (read_msr(p->fd, reg_addr(r, reg), &raw) != 0) {
        snprintf(what, sizeof what, "is not readable: the CPU lacks it (%s)", strerror(errno));
        leave_out(r, p, reg, what);
        return PW_OK;
    }
    if ((raw & (COUNTER_MODULUS - 1)) == 0) {
        leave_out(r, p, reg, "reads 0: not counting on this CPU");
        return PW_OK;
    }
    if (info->ndomains == PW_SOURCE_MAX_DOMAINS) {
        snprintf(s->why, s->whylen, "more than %d RAPL MSR domains", PW_SOURCE_MAX_DOMAINS);
        return PW_ERR_LIMIT;
    }
    char name[PW_DOMAIN_NAME_MAX];
    domain_name(p, reg, name, sizeof name);
    int k = pw_source_add_domain(info, name, pw_rapl_plane_kind((pw_rapl_plane)reg), parent);
    msr_domain *d = &r->d[k];   /* the table had room: checked above */
    d->pkg = pkg;
    d->reg = reg;
    d->addr = reg_addr(r, reg);
    d->esu = reg_esu(r, p, reg);
    pw_counter_init(&d->counter, COUNTER_MODULUS);
    snprintf(d->name, sizeof d->name, "%s", name);
    r->n = info->ndomains;
    return PW_OK;
}

typedef struct walk {
    rapl_msr *r;
    scan *s;
} walk;

static int add_plane(void *ctx, pw_source_info *info, size_t pkg_index, pw_rapl_plane plane,
                     int32_t parent)
{
    walk *w = ctx;
    return add_domain(w->r, info, pkg_index, (int)plane, parent, w->s);
}

static int add_domains(rapl_msr *r, pw_source_info *info, scan *s)
{
    int usable[NREGS];
    for (int reg = 0; reg < NREGS; reg++) usable[reg] = reg_addr(r, reg) != 0;
    walk w = {r, s};
    int rc = pw_rapl_add_planes(info, r->npk, usable, add_plane, &w);
    if (rc == PW_OK && info->ndomains == 0) {
        snprintf(s->why, s->whylen, "no RAPL energy MSR counts on this CPU: %s", r->skipped);
        rc = PW_ERR_NOT_FOUND;
    }
    return rc;
}

/* ---- the ops ------------------------------------------------------------------------------- */

static void msr_close(void *state)
{
    rapl_msr *r = state;
    if (!r) return;
    for (size_t i = 0; i < r->npk; i++)
        if (r->pk[i].fd >= 0) close(r->pk[i].fd);
    free(r);
}

static int msr_probe(const pw_source_config *cfg, void **state, pw_source_info *info,
                     char *why, size_t whylen)
{
    scan s = {.cfg = cfg, .why = why, .whylen = whylen};
    rapl_msr *r = calloc(1, sizeof *r);
    if (!r) return PW_ERR_NOMEM;
    info->ndomains = 0;
    int rc = read_vendor(r, &s);
    if (rc == PW_OK) rc = find_packages(r, &s);
    for (size_t i = 0; i < r->npk && rc == PW_OK; i++) rc = open_package(r, &r->pk[i], &s);
    if (rc == PW_OK) rc = add_domains(r, info, &s);
    if (rc != PW_OK) {
        msr_close(r);
        info->ndomains = 0;
        return rc;
    }
    info->period_ns = RAPL_PERIOD_NS;
    *state = r;
    return PW_OK;
}

static int error_of(int err)
{
    int rc = pw_sysfs_error(err);
    return rc == PW_OK ? PW_ERR_IO : rc;
}

/* Every domain is read even after one fails, so the others keep their wrap tracking. A
 * package whose device failed is reopened on the next read (its CPU may come back
 * online); its counters keep their state, so a good reading continues the cumulative
 * count (the hardware kept counting; a gap longer than a wrap period goes unseen). */
static int msr_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    rapl_msr *r = state;
    int rc = PW_OK;
    (void)t_ns;                          /* the registers give no time of their own */
    for (size_t i = 0; i < r->npk; i++)
        if (r->pk[i].fd < 0) reopen(&r->pk[i]);
    for (size_t i = 0; i < r->n; i++) {
        msr_domain *d = &r->d[i];
        package *p = &r->pk[d->pkg];
        uint64_t raw = 0;   /* read only after a read that set it; zeroed for the analyser */
        if (p->fd >= 0 && read_msr(p->fd, d->addr, &raw) != 0) {
            p->err = errno;
            close(p->fd);
            p->fd = -1;
        }
        if (p->fd < 0) {
            if (rc == PW_OK) rc = error_of(p->err);
            continue;
        }
        uint64_t counts = pw_counter_update(&d->counter, raw & (COUNTER_MODULUS - 1));
        energy_uj[i] = counts_to_uj(counts, d->esu);
    }
    return rc;
}

static void msr_describe(void *state, const pw_sink *out)
{
    const rapl_msr *r = state;
    char key[PW_DOMAIN_NAME_MAX + 16], value[PW_SYSFS_PATH_MAX + 96];
    if (r->family >= 0 && r->model >= 0)
        snprintf(value, sizeof value, "%s family %ld model %ld", r->vendor_id, r->family,
                 r->model);
    else
        snprintf(value, sizeof value, "%s", r->vendor_id);
    pw_sink_meta(out, "rapl-msr.vendor", value);
    for (size_t i = 0; i < r->n; i++) {
        const msr_domain *d = &r->d[i];
        snprintf(key, sizeof key, "rapl-msr.%s", d->name);
        snprintf(value, sizeof value, "%s msr=0x%X (%s) unit=2^-%u J (%.3f uJ)",
                 r->pk[d->pkg].path, d->addr, regs[d->reg].msr, d->esu,
                 1e6 / (double)(UINT64_C(1) << d->esu));
        pw_sink_meta(out, key, value);
    }
    if (r->skipped[0]) pw_sink_meta(out, "rapl-msr.skipped", r->skipped);
}

const pw_source_ops pw_source_rapl_msr = {
    .name = "rapl-msr",
    .summary = "RAPL energy counters read from the MSRs (/dev/cpu/N/msr, root): CPU packages, "
               "cores, uncore, DRAM, psys",
    .measured = 1,
    .auto_probe = 1,
    .group = "rapl",
    .probe = msr_probe,
    .read = msr_read,
    .describe = msr_describe,
    .close = msr_close,
};
