/* hwmon.c — power and energy sensors of Linux hwmon drivers (/sys/class/hwmon/hwmonN):
 * energy counters where a driver has them, else its power readings integrated over time. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/counter.h"
#include "sources/source.h"
#include "sources/sysfs.h"

#define HWMON "/sys/class/hwmon"
#define POWERCAP "/sys/class/powercap"
#define MAX_UW 100000000000ull        /* 100 kW: a larger power reading is garbage */
#define DRIVER_MAX 24                 /* longest driver name taken */
#define LABEL_MAX 24                  /* labels are cut to this, so names fit a domain name */

typedef enum sensor_type { ENERGY, POWER } sensor_type;

typedef struct sensor {
    pw_sysfs_file file;               /* energyN_input (µJ) or powerN_input/_average (µW) */
    sensor_type type;
    unsigned channel;
    pw_counter counter;               /* energy: 64-bit µJ; a backwards step is a reset */
    double integrated_uj;             /* power: the trapezoid integral so far */
    uint64_t last_uw, last_t_ns;
    int have_last;
    char label[LABEL_MAX + 1];
    char domain[PW_DOMAIN_NAME_MAX];  /* for the trace's metadata */
} sensor;

typedef struct hwmon {
    size_t n;
    sensor s[PW_SOURCE_MAX_DOMAINS];
    char notes[PW_WHY_MAX];           /* sensors left out, and why */
    char denied[PW_WHY_MAX];          /* the first permission error */
    int skip_rc;                      /* the error that left out the first sensor */
    uint64_t period_ms;               /* the longest update/averaging interval seen */
} hwmon;

/* What a driver measures, and which of its sensors to take. */
typedef struct driver_rule {
    const char *name;
    pw_kind kind;
    const char *only_label;           /* keep sensors whose label starts so; NULL: all */
} driver_rule;

/* amd_energy/zenergy also count every core (hundreds of channels, already inside the
 * socket counters): only the sockets are taken. Unlisted drivers (ina2xx…) are "other". */
static const driver_rule rules[] = {
    {"amdgpu", PW_KIND_GPU, NULL},      {"radeon", PW_KIND_GPU, NULL},
    {"i915", PW_KIND_GPU, NULL},        {"xe", PW_KIND_GPU, NULL},
    {"nouveau", PW_KIND_GPU, NULL},     {"amd_energy", PW_KIND_CPU, "Esocket"},
    {"zenergy", PW_KIND_CPU, "Esocket"}, {"zenpower", PW_KIND_CPU, NULL},
    {"fam15h_power", PW_KIND_CPU, NULL}, {"power_meter", PW_KIND_SYSTEM, NULL},
};

/* Labels naming a whole device: its other sensors are parts of it (xe "pkg" inside
 * "card") or the same rail averaged differently (amdgpu "fastPPT" beside "PPT"). */
static const char *const total_labels[] = {"card", "PPT", "slowPPT"};

/* Sensor files, in order of preference: energy counters, then instant, then average power. */
static const struct pattern {
    const char *prefix, *suffix;
    sensor_type type;
} patterns[] = {{"energy", "_input", ENERGY}, {"power", "_input", POWER},
                {"power", "_average", POWER}};

static const driver_rule *rule_for(const char *driver)
{
    static const driver_rule other = {NULL, PW_KIND_OTHER, NULL};
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (!strcmp(rules[i].name, driver)) return &rules[i];
    return &other;
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* "<prefix><channel><suffix>" with a channel of 1 to 4 digits. */
static int parse_sensor(const char *file, const struct pattern *p, unsigned *channel)
{
    if (!starts(file, p->prefix)) return 0;
    const char *d = file + strlen(p->prefix);
    return pw_sysfs_digits(&d, 4, channel) && !strcmp(d, p->suffix);
}

/* ---- one sensor ---------------------------------------------------------------------------- */

typedef struct device {               /* the hwmon device being scanned */
    const char *dir;
    char driver[DRIVER_MAX + 1];
    unsigned ordinal;                 /* among devices of the same driver: amdgpu-0, amdgpu-1 */
    const driver_rule *rule;
    size_t first;                     /* its first domain */
} device;

static void leave_out(hwmon *h, const char *path, int err, int rc)
{
    char reason[PW_WHY_MAX];
    pw_sysfs_reason(reason, sizeof reason, path, err);
    if (rc == PW_ERR_PERMISSION && !h->denied[0])
        snprintf(h->denied, sizeof h->denied, "%s", reason);
    pw_sysfs_note(h->notes, sizeof h->notes, reason);
    if (!h->skip_rc) h->skip_rc = rc;
}

/* The label file, else "<prefix><channel>"; "" when the driver's rule leaves it out. */
static void read_label(const device *dv, const struct pattern *p, unsigned channel, char *label)
{
    char file[64], path[PW_SYSFS_PATH_MAX], text[PW_SYSFS_TEXT_MAX + 1];
    int err;
    snprintf(file, sizeof file, "%s%u_label", p->prefix, channel);
    if (pw_sysfs_child(path, sizeof path, dv->dir, file) == PW_OK &&
        pw_sysfs_read_text_at(path, text, sizeof text, &err) == PW_OK && text[0])
        snprintf(label, LABEL_MAX + 1, "%.24s", text);
    else
        snprintf(label, LABEL_MAX + 1, "%s%u", p->prefix, channel);
    pw_sysfs_clean_name(label);                 /* labels are free text: "VDD IN" */
    if (dv->rule->only_label && !starts(label, dv->rule->only_label)) label[0] = '\0';
}

static int name_taken(const pw_source_info *info, const char *name)
{
    for (size_t i = 0; i < info->ndomains; i++)
        if (!strcmp(info->domains[i].name, name)) return 1;
    return 0;
}

/* Opens and reads one sensor file; a readable, sane one becomes a domain. A sensor that
 * cannot be used is left out with a note: other sensors may still work. */
static void add_sensor(hwmon *h, pw_source_info *info, const device *dv, const struct pattern *p,
                       const char *file, unsigned channel)
{
    char path[PW_SYSFS_PATH_MAX], label[LABEL_MAX + 1];
    read_label(dv, p, channel, label);
    if (!label[0]) return;
    if (pw_sysfs_child(path, sizeof path, dv->dir, file) != PW_OK) {
        leave_out(h, dv->dir, ENAMETOOLONG, PW_ERR_LIMIT);
        return;
    }
    if (info->ndomains == PW_SOURCE_MAX_DOMAINS) {     /* a limit, not a failure */
        char note[PW_SYSFS_PATH_MAX + 32];
        snprintf(note, sizeof note, "%s left out: more than %d sensors", path,
                 PW_SOURCE_MAX_DOMAINS);
        pw_sysfs_note(h->notes, sizeof h->notes, note);
        return;
    }
    sensor *s = &h->s[info->ndomains];
    uint64_t v = 0;
    int rc = pw_sysfs_open(&s->file, path);
    if (rc == PW_OK) rc = pw_sysfs_read_u64(&s->file, &v);
    if (rc == PW_OK && p->type == POWER && v > MAX_UW)
        rc = pw_sysfs_error(s->file.err = PW_SYSFS_BAD_VALUE);
    if (rc != PW_OK) {
        leave_out(h, path, s->file.err, rc);
        pw_sysfs_close(&s->file);
        return;
    }
    s->type = p->type;
    s->channel = channel;
    pw_counter_init(&s->counter, 0);
    memcpy(s->label, label, sizeof s->label);
    char name[PW_DOMAIN_NAME_MAX];
    snprintf(name, sizeof name, "%s-%u:%s", dv->driver, dv->ordinal, label);
    if (name_taken(info, name))          /* two channels with one label: use the channel */
        snprintf(name, sizeof name, "%s-%u:%s%u", dv->driver, dv->ordinal, p->prefix, channel);
    memcpy(s->domain, name, sizeof s->domain);
    pw_source_add_domain(info, name, dv->rule->kind, -1);
    h->n = info->ndomains;
}

/* ---- one device ---------------------------------------------------------------------------- */

static int channel_taken(const hwmon *h, const device *dv, sensor_type type, unsigned channel)
{
    for (size_t i = dv->first; i < h->n; i++)
        if (h->s[i].type == type && h->s[i].channel == channel) return 1;
    return 0;
}

/* The largest interval in ms of update_interval (device) or powerN_average_interval. */
static void note_interval(hwmon *h, const char *dir, const char *file)
{
    char path[PW_SYSFS_PATH_MAX];
    uint64_t ms;
    int err;
    if (pw_sysfs_child(path, sizeof path, dir, file) == PW_OK &&
        pw_sysfs_read_u64_at(path, &ms, &err) == PW_OK && ms <= 3600000 && ms > h->period_ms)
        h->period_ms = ms;
}

/* A whole-device sensor goes first and contains the device's other sensors. */
static void nest_in_total(hwmon *h, pw_source_info *info, const device *dv)
{
    size_t k = h->n;
    for (size_t i = dv->first; i < h->n && k == h->n; i++)
        for (size_t j = 0; j < sizeof total_labels / sizeof total_labels[0]; j++)
            if (!strcmp(h->s[i].label, total_labels[j])) k = i;
    if (k == h->n) return;
    sensor s = h->s[k];
    pw_domain_spec d = info->domains[k];
    memmove(&h->s[dv->first + 1], &h->s[dv->first], (k - dv->first) * sizeof s);
    memmove(&info->domains[dv->first + 1], &info->domains[dv->first], (k - dv->first) * sizeof d);
    h->s[dv->first] = s;
    info->domains[dv->first] = d;
    for (size_t i = dv->first + 1; i < h->n; i++) info->domains[i].parent = (int32_t)dv->first;
}

static int scan_device(hwmon *h, pw_source_info *info, device *dv)
{
    char **files;
    size_t nfiles;
    int err, rc = pw_sysfs_list(dv->dir, &files, &nfiles, &err);
    if (rc != PW_OK) {
        leave_out(h, dv->dir, err, rc);
        return rc == PW_ERR_NOMEM ? rc : PW_OK;
    }
    dv->first = h->n;
    for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
        if (p > 0 && h->n > dv->first && h->s[dv->first].type == ENERGY) break;
        for (size_t i = 0; i < nfiles; i++) {
            unsigned ch;
            if (!parse_sensor(files[i], &patterns[p], &ch)) continue;
            if (patterns[p].type == POWER && channel_taken(h, dv, POWER, ch)) continue;
            size_t before = h->n;
            add_sensor(h, info, dv, &patterns[p], files[i], ch);
            if (h->n > before && !strcmp(patterns[p].suffix, "_average")) {
                char file[64];
                snprintf(file, sizeof file, "power%u_average_interval", ch);
                note_interval(h, dv->dir, file);
            }
        }
    }
    pw_sysfs_list_free(files, nfiles);
    if (h->n > dv->first) note_interval(h, dv->dir, "update_interval");
    nest_in_total(h, info, dv);
    return PW_OK;
}

/* ---- the scan ------------------------------------------------------------------------------- */

/* RAPL zones under the same root: the CPU's energy is read there (rapl source). */
static int rapl_present(const char *root)
{
    char dir[PW_SYSFS_PATH_MAX], **names;
    size_t n;
    int err, found = 0;
    if (pw_sysfs_path(dir, sizeof dir, root, POWERCAP) != PW_OK ||
        pw_sysfs_list(dir, &names, &n, &err) != PW_OK)
        return 0;
    for (size_t i = 0; i < n && !found; i++)
        found = starts(names[i], "intel-rapl") && strchr(names[i], ':') != NULL;
    pw_sysfs_list_free(names, n);
    return found;
}

static int is_hwmon_entry(const char *name)
{
    unsigned n;
    if (!starts(name, "hwmon")) return 0;
    const char *d = name + 5;
    return pw_sysfs_digits(&d, 6, &n) && !*d;
}

/* Reads the device's driver name; a device without a readable, sane one is skipped. */
static int open_device(device *dv, char *dir, size_t cap, const char *hwdir, const char *entry)
{
    char path[PW_SYSFS_PATH_MAX];
    int err;
    dv->dir = dir;
    return pw_sysfs_child(dir, cap, hwdir, entry) == PW_OK &&
           pw_sysfs_child(path, sizeof path, dir, "name") == PW_OK &&
           pw_sysfs_read_text_at(path, dv->driver, sizeof dv->driver, &err) == PW_OK &&
           pw_sysfs_is_name(dv->driver, DRIVER_MAX);
}

static int scan_devices(hwmon *h, pw_source_info *info, const char *root, const char *hwdir,
                        char **entries, size_t n)
{
    char (*drivers)[DRIVER_MAX + 1] = calloc(n ? n : 1, sizeof *drivers);
    if (!drivers) return PW_ERR_NOMEM;
    size_t seen = 0;
    int rc = PW_OK, rapl = -1;
    for (size_t i = 0; i < n && rc == PW_OK; i++) {
        char dir[PW_SYSFS_PATH_MAX];
        device dv = {0};
        if (!is_hwmon_entry(entries[i]) || !open_device(&dv, dir, sizeof dir, hwdir, entries[i]))
            continue;
        for (size_t j = 0; j < seen; j++) dv.ordinal += !strcmp(drivers[j], dv.driver);
        memcpy(drivers[seen++], dv.driver, sizeof dv.driver);
        dv.rule = rule_for(dv.driver);
        if (dv.rule->kind == PW_KIND_CPU && (rapl < 0 ? (rapl = rapl_present(root)) : rapl)) {
            char note[128];
            snprintf(note, sizeof note, "%s left out: RAPL (powercap) reads the CPU", entries[i]);
            pw_sysfs_note(h->notes, sizeof h->notes, note);
            continue;
        }
        rc = scan_device(h, info, &dv);
    }
    free(drivers);
    return rc;
}

/* Nothing usable: permission first (it has a fix), then the first failure, then absence. */
static int nothing_usable(const hwmon *h, const char *hwdir, char *why, size_t whylen)
{
    if (h->denied[0]) {
        snprintf(why, whylen, "%s", h->denied);
        return PW_ERR_PERMISSION;
    }
    if (h->skip_rc) {
        snprintf(why, whylen, "no readable power sensor under %s: %s", hwdir, h->notes);
        return h->skip_rc;
    }
    snprintf(why, whylen, "no power or energy sensors under %s: no hwmon driver here reports "
                          "energyN_input, powerN_input or powerN_average%s%s%s", hwdir,
             h->notes[0] ? " (" : "", h->notes, h->notes[0] ? ")" : "");
    return PW_ERR_NOT_FOUND;
}

/* ---- the ops ------------------------------------------------------------------------------- */

static void hwmon_close(void *state)
{
    hwmon *h = state;
    if (!h) return;
    for (size_t i = 0; i < h->n; i++) pw_sysfs_close(&h->s[i].file);
    free(h);
}

static int hwmon_probe(const pw_source_config *cfg, void **state, pw_source_info *info,
                       char *why, size_t whylen)
{
    char hwdir[PW_SYSFS_PATH_MAX], **entries = NULL;
    size_t n = 0;
    int err;
    if (pw_sysfs_path(hwdir, sizeof hwdir, cfg->sysfs_root, HWMON) != PW_OK) {
        snprintf(why, whylen, "PHASEWATT_SYSFS_ROOT is too long");
        return PW_ERR_LIMIT;
    }
    hwmon *h = calloc(1, sizeof *h);
    if (!h) return PW_ERR_NOMEM;
    info->ndomains = 0;
    int rc = pw_sysfs_list(hwdir, &entries, &n, &err);
    if (rc == PW_OK) rc = scan_devices(h, info, cfg->sysfs_root, hwdir, entries, n);
    else if (rc != PW_ERR_NOT_FOUND) pw_sysfs_reason(why, whylen, hwdir, err);
    pw_sysfs_list_free(entries, n);
    if ((rc == PW_OK || rc == PW_ERR_NOT_FOUND) && info->ndomains == 0)
        rc = nothing_usable(h, hwdir, why, whylen);
    if (rc != PW_OK) {
        hwmon_close(h);
        info->ndomains = 0;
        return rc;
    }
    info->period_ns = h->period_ms * 1000000u;
    *state = h;
    return PW_OK;
}

/* Energy counters pass through the reset-aware counter; power is integrated with the
 * trapezoid rule between this reading and the last good one (exact for constant or
 * linearly changing power), so a gap is bridged by a straight line. */
static int read_sensor(sensor *s, uint64_t t_ns, uint64_t *out)
{
    uint64_t v;
    int rc = pw_sysfs_read_u64(&s->file, &v);
    if (rc != PW_OK) return rc;
    if (s->type == ENERGY) {
        *out = pw_counter_update(&s->counter, v);
        return PW_OK;
    }
    if (v > MAX_UW) return PW_ERR_FORMAT;
    if (s->have_last && t_ns > s->last_t_ns)        /* µW × ns / 1e9 = µJ */
        s->integrated_uj += ((double)s->last_uw + (double)v) * (double)(t_ns - s->last_t_ns) / 2e9;
    if (!s->have_last || t_ns > s->last_t_ns) s->last_t_ns = t_ns;
    s->last_uw = v;
    s->have_last = 1;
    *out = (uint64_t)llround(s->integrated_uj);
    return PW_OK;
}

static int hwmon_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    hwmon *h = state;
    int rc = PW_OK;
    for (size_t i = 0; i < h->n; i++) {
        int e = read_sensor(&h->s[i], *t_ns, &energy_uj[i]);
        if (e != PW_OK && rc == PW_OK) rc = e;
    }
    return rc;
}

static void hwmon_describe(void *state, const pw_sink *out)
{
    const hwmon *h = state;
    char key[PW_DOMAIN_NAME_MAX + 8], value[PW_SYSFS_PATH_MAX + 64];
    for (size_t i = 0; i < h->n; i++) {
        const sensor *s = &h->s[i];
        snprintf(key, sizeof key, "hwmon.%s", s->domain);
        snprintf(value, sizeof value, "%s (%s)", s->file.path,
                 s->type == ENERGY ? "energy counter, uJ"
                                   : "power in uW, integrated by phasewatt (trapezoid rule)");
        pw_sink_meta(out, key, value);
    }
    if (h->notes[0]) pw_sink_meta(out, "hwmon.skipped", h->notes);
}

const pw_source_ops pw_source_hwmon = {
    .name = "hwmon",
    .summary = "hwmon power/energy sensors (amdgpu, i915/xe, amd_energy, INA2xx, ACPI power meter)",
    .measured = 1,
    .auto_probe = 1,
    .probe = hwmon_probe,
    .read = hwmon_read,
    .describe = hwmon_describe,
    .close = hwmon_close,
};
