/* ioreport.c — Apple Silicon CPU-cluster, GPU, ANE, DRAM and SoC-block energy from IOReport's
 * "Energy Model" channels (libIOReport and CoreFoundation, loaded with dlopen; no root). */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "sources/source.h"
#include "sources/sysfs.h"

/* ---- the CoreFoundation and IOReport calls used here, as opaque pointers ------------------ */

typedef const void *cf_type;             /* CFTypeRef; every Ref below is one */
typedef long cf_index;                   /* CFIndex */
typedef unsigned char cf_bool;           /* Boolean */
#define CF_UTF8 0x08000100u              /* kCFStringEncodingUTF8 */

typedef struct cf_api {
    void *lib;
    cf_type (*string_create)(cf_type alloc, const char *s, uint32_t encoding);
    cf_bool (*string_get)(cf_type str, char *buf, cf_index cap, uint32_t encoding);
    cf_type (*dict_get)(cf_type dict, const void *key);
    cf_index (*array_count)(cf_type array);
    cf_type (*array_at)(cf_type array, cf_index i);
    void (*release)(cf_type obj);
} cf_api;

typedef struct ior_api {
    void *lib;
    cf_type (*copy_channels)(cf_type group, cf_type subgroup, uint64_t, uint64_t, uint64_t);
    cf_type (*subscribe)(void *, cf_type desired, cf_type *subscribed, uint64_t, cf_type);
    cf_type (*samples)(cf_type sub, cf_type channels, cf_type);
    cf_type (*delta)(cf_type prev, cf_type cur, cf_type);
    int64_t (*integer)(cf_type item, int32_t index);
    int (*format)(cf_type item);
    cf_type (*group)(cf_type item);
    cf_type (*name)(cf_type item);
    cf_type (*unit)(cf_type item);
} ior_api;

typedef struct symbol {
    const char *name;
    size_t offset;
} symbol;

static const symbol cf_symbols[] = {
    {"CFStringCreateWithCString", offsetof(cf_api, string_create)},
    {"CFStringGetCString", offsetof(cf_api, string_get)},
    {"CFDictionaryGetValue", offsetof(cf_api, dict_get)},
    {"CFArrayGetCount", offsetof(cf_api, array_count)},
    {"CFArrayGetValueAtIndex", offsetof(cf_api, array_at)},
    {"CFRelease", offsetof(cf_api, release)},
};

static const symbol ior_symbols[] = {
    {"IOReportCopyChannelsInGroup", offsetof(ior_api, copy_channels)},
    {"IOReportCreateSubscription", offsetof(ior_api, subscribe)},
    {"IOReportCreateSamples", offsetof(ior_api, samples)},
    {"IOReportCreateSamplesDelta", offsetof(ior_api, delta)},
    {"IOReportSimpleGetIntegerValue", offsetof(ior_api, integer)},
    {"IOReportChannelGetFormat", offsetof(ior_api, format)},
    {"IOReportChannelGetGroup", offsetof(ior_api, group)},
    {"IOReportChannelGetChannelName", offsetof(ior_api, name)},
    {"IOReportChannelGetUnitLabel", offsetof(ior_api, unit)},
};

_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit void *");

#define GROUP "Energy Model"
#define FORMAT_SIMPLE 1                  /* kIOReportFormatSimple: one integer per channel */
#define TEXT_MAX 128
#define LIBRARY_MAX 256

/* ---- state ---------------------------------------------------------------------------------- */

typedef struct channel {                 /* one domain */
    char name[TEXT_MAX];                 /* IOReport's channel name, "PCPU" */
    uint64_t nj_per_unit;                /* from its unit label: mJ 1e6, uJ 1e3, nJ 1 */
    uint64_t total_nj;                   /* cumulative energy since the probe */
    int64_t step;                        /* this read's delta, in its unit, until committed */
} channel;

typedef struct ioreport {
    cf_api cf;
    ior_api ior;
    char cf_library[LIBRARY_MAX], ior_library[LIBRARY_MAX];
    cf_type key_channels;                /* "IOReportChannels", the samples' array key */
    cf_type channels, subscribed, sub;   /* ours: released at close */
    cf_type prev;                        /* the latest complete sample */
    size_t n;
    channel ch[PW_SOURCE_MAX_DOMAINS];
    char notes[PW_WHY_MAX];              /* channels left out, and why */
    unsigned long failures;              /* reads that were gaps, for finish() */
    char last_error[TEXT_MAX + 64];
} ioreport;

/* ---- loading -------------------------------------------------------------------------------- */

static int load(void **lib, const char *path, const symbol *syms, size_t nsyms, void *api,
                char *why, size_t whylen)
{
    dlerror();
    *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*lib) {
        const char *e = dlerror();
        snprintf(why, whylen, "cannot load %s: IOReport is macOS only (Apple Silicon); "
                 "PHASEWATT_IOREPORT_LIBRARY / PHASEWATT_COREFOUNDATION_LIBRARY to point "
                 "elsewhere", e && strstr(e, path) ? e : path);   /* dlerror names the path */
        return PW_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < nsyms; i++) {
        void *p = dlsym(*lib, syms[i].name);
        if (!p) {
            snprintf(why, whylen, "%s has no %s: not the library expected there", path,
                     syms[i].name);
            return PW_ERR_NOT_FOUND;
        }
        memcpy((char *)api + syms[i].offset, &p, sizeof p);
    }
    return PW_OK;
}

static int load_all(ioreport *r, char *why, size_t whylen)
{
    int rc = load(&r->cf.lib, r->cf_library, cf_symbols, sizeof cf_symbols / sizeof *cf_symbols,
                  &r->cf, why, whylen);
    if (rc == PW_OK)
        rc = load(&r->ior.lib, r->ior_library, ior_symbols,
                  sizeof ior_symbols / sizeof *ior_symbols, &r->ior, why, whylen);
    return rc;
}

static void release(const ioreport *r, cf_type *obj)
{
    if (*obj) r->cf.release(*obj);
    *obj = NULL;
}

/* A CFString as UTF-8, "" when absent or too long for buf. */
static const char *text(const ioreport *r, cf_type str, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (!str || !r->cf.string_get(str, buf, (cf_index)cap, CF_UTF8)) buf[0] = '\0';
    return buf;
}

/* ---- which channels, of which kind ---------------------------------------------------------- */

static uint64_t nj_per_unit(const char *unit)
{
    static const struct { const char *label; uint64_t nj; } units[] = {
        {"mJ", 1000000}, {"uJ", 1000}, {"\xc2\xb5J", 1000}, {"nJ", 1}, {"J", 1000000000},
    };
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcmp(unit, units[i].label) == 0) return units[i].nj;
    return 0;
}

/* The name without an Ultra's "DIE_<n>_" prefix; *die gets n, or -1 on a one-die chip. */
static const char *die_of(const char *name, int *die)
{
    unsigned n;
    const char *p = name + 4;
    *die = -1;
    if (strncmp(name, "DIE_", 4) != 0 || !pw_sysfs_digits(&p, 2, &n) || *p != '_')
        return name;
    *die = (int)n;
    return p + 1;
}

static pw_kind kind_of(const char *base)
{
    if (strstr(base, "CPU")) return PW_KIND_CPU;
    if (strncmp(base, "GPU", 3) == 0) return PW_KIND_GPU;
    if (strncmp(base, "ANE", 3) == 0) return PW_KIND_ANE;
    if (strncmp(base, "DRAM", 4) == 0) return PW_KIND_DRAM;
    return PW_KIND_SOC;                  /* ISP, AVE, DISP, …: other blocks of the SoC */
}

/* "<kind> Energy" is the kind's total on its die ("CPU Energy", "DIE_1_CPU Energy"). */
static int is_total(const char *base)
{
    size_t n = strlen(base);
    return n > 7 && strcmp(base + n - 7, " Energy") == 0;
}

/* One core of a cluster ("EACC_CPU3", "PACC1_CPU0"): its cluster's channel counts it. */
static int is_core(const char *base)
{
    const char *p = strstr(base, "_CPU");
    if (!p || !p[4]) return 0;
    for (p += 4; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

/* The domain's name: lower case, "_" for anything else, the " Energy" suffix dropped. */
static void domain_name(const char *chan, char *out, size_t cap)
{
    size_t n = strlen(chan), i;
    if (n > 7 && strcmp(chan + n - 7, " Energy") == 0) n -= 7;
    for (i = 0; i < n && i + 1 < cap; i++) {
        char c = chan[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a')
                 : ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ? c : '_';
    }
    out[i] = '\0';
}

static void leave_out(ioreport *r, const char *name, const char *why)
{
    char note[TEXT_MAX + 64];
    snprintf(note, sizeof note, "%s: %s", name, why);
    pw_sysfs_note(r->notes, sizeof r->notes, note);
}

/* Takes the channel as a domain if it is one; per-core channels and unknown units stay out. */
static void consider(ioreport *r, cf_type item, pw_source_info *info)
{
    char group[TEXT_MAX], name[TEXT_MAX], unit[TEXT_MAX];
    if (strcmp(text(r, r->ior.group(item), group, sizeof group), GROUP) != 0) return;
    if (!text(r, r->ior.name(item), name, sizeof name)[0]) return;
    int die;
    const char *base = die_of(name, &die);
    if (is_core(base)) return;
    uint64_t scale = nj_per_unit(text(r, r->ior.unit(item), unit, sizeof unit));
    const char *unusable = r->ior.format(item) != FORMAT_SIMPLE ? "not a simple counter"
                           : !scale ? (unit[0] ? "unknown unit" : "no unit label")
                           : r->n == PW_SOURCE_MAX_DOMAINS ? "too many channels" : NULL;
    if (unusable) {
        leave_out(r, name, unusable);
        return;
    }
    char dname[PW_DOMAIN_NAME_MAX];
    domain_name(name, dname, sizeof dname);
    channel *c = &r->ch[r->n++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->nj_per_unit = scale;
    pw_source_add_domain(info, dname, kind_of(base), -1);
}

/* Channels of a kind on a die that has that kind's total become its children, so a column
 * of per-kind sums counts the total once and the clusters not again. */
static void link_parents(const ioreport *r, pw_source_info *info)
{
    for (size_t t = 0; t < r->n; t++) {
        int tdie;
        if (!is_total(die_of(r->ch[t].name, &tdie))) continue;
        for (size_t c = 0; c < r->n; c++) {
            int cdie;
            const char *base = die_of(r->ch[c].name, &cdie);
            if (c != t && cdie == tdie && !is_total(base) &&
                info->domains[c].kind == info->domains[t].kind)
                info->domains[c].parent = (int32_t)t;
        }
    }
}

/* ---- samples ---------------------------------------------------------------------------------- */

/* The sample's channel items (a CFArray), or NULL. */
static cf_type items_of(const ioreport *r, cf_type sample)
{
    return sample ? r->cf.dict_get(sample, r->key_channels) : NULL;
}

static channel *find(ioreport *r, const char *name, size_t hint)
{
    if (hint < r->n && strcmp(r->ch[hint].name, name) == 0) return &r->ch[hint];
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->ch[i].name, name) == 0) return &r->ch[i];
    return NULL;
}

/* Puts each channel's step from delta; returns the first channel missing from it, or NULL. */
static const channel *take_steps(ioreport *r, cf_type delta)
{
    cf_type items = items_of(r, delta);
    cf_index count = items ? r->cf.array_count(items) : 0;
    for (size_t i = 0; i < r->n; i++) r->ch[i].step = -1;
    for (cf_index i = 0; i < count; i++) {
        char name[TEXT_MAX];
        cf_type item = r->cf.array_at(items, i);
        channel *c = item ? find(r, text(r, r->ior.name(item), name, sizeof name), (size_t)i)
                          : NULL;
        if (!c) continue;
        int64_t v = r->ior.integer(item, 0);
        c->step = v > 0 ? v : 0;         /* a model's counter never runs backwards */
    }
    for (size_t i = 0; i < r->n; i++)
        if (r->ch[i].step < 0) return &r->ch[i];
    return NULL;
}

static int read_failed(ioreport *r, const char *what, const char *name)
{
    r->failures++;
    snprintf(r->last_error, sizeof r->last_error, "%s%s%s", what, name ? " " : "",
             name ? name : "");
    return PW_ERR_IO;
}

/* ---- the source ------------------------------------------------------------------------------ */

static void ioreport_close(void *state)
{
    ioreport *r = state;
    if (!r) return;
    if (r->cf.release) {
        release(r, &r->prev);
        release(r, &r->sub);
        release(r, &r->subscribed);
        release(r, &r->channels);
        release(r, &r->key_channels);
    }
    if (r->ior.lib) dlclose(r->ior.lib);
    if (r->cf.lib) dlclose(r->cf.lib);
    free(r);
}

/* Subscribes to the group and takes the first sample, which every delta starts from. */
static int subscribe(ioreport *r, char *why, size_t whylen)
{
    cf_type group = r->cf.string_create(NULL, GROUP, CF_UTF8);
    r->key_channels = r->cf.string_create(NULL, "IOReportChannels", CF_UTF8);
    if (!group || !r->key_channels) {
        if (group) r->cf.release(group);
        return PW_ERR_NOMEM;
    }
    r->channels = r->ior.copy_channels(group, NULL, 0, 0, 0);
    r->cf.release(group);
    if (!r->channels) {
        snprintf(why, whylen, "IOReport has no \"" GROUP "\" channels (an Intel Mac, or a "
                              "macOS too old)");
        return PW_ERR_NOT_FOUND;
    }
    r->sub = r->ior.subscribe(NULL, r->channels, &r->subscribed, 0, NULL);
    if (!r->sub || !r->subscribed) {
        snprintf(why, whylen, "IOReport refused the subscription to \"" GROUP "\" channels");
        return PW_ERR_IO;
    }
    r->prev = r->ior.samples(r->sub, r->subscribed, NULL);
    if (!items_of(r, r->prev)) {
        snprintf(why, whylen, "IOReport gave no sample of its \"" GROUP "\" channels");
        return PW_ERR_IO;
    }
    return PW_OK;
}

static int find_domains(ioreport *r, pw_source_info *info, char *why, size_t whylen)
{
    cf_type items = items_of(r, r->prev);
    cf_index count = r->cf.array_count(items);
    for (cf_index i = 0; i < count; i++) {
        cf_type item = r->cf.array_at(items, i);
        if (item) consider(r, item, info);
    }
    if (r->n == 0) {
        snprintf(why, whylen, "IOReport's \"" GROUP "\" group has no energy channel%s%s",
                 r->notes[0] ? ": " : "", r->notes);
        return PW_ERR_NOT_FOUND;
    }
    link_parents(r, info);
    return PW_OK;
}

static void copy_path(char *out, size_t cap, const char *path, const char *fallback)
{
    snprintf(out, cap, "%s", path && *path ? path : fallback);
}

static int ioreport_probe(const pw_source_config *cfg, void **state, pw_source_info *info,
                          char *why, size_t whylen)
{
    ioreport *r = calloc(1, sizeof *r);
    if (!r) return PW_ERR_NOMEM;
    copy_path(r->ior_library, sizeof r->ior_library, cfg->ioreport_library,
              "/usr/lib/libIOReport.dylib");
    copy_path(r->cf_library, sizeof r->cf_library, cfg->corefoundation_library,
              "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation");
    info->ndomains = 0;
    int rc = load_all(r, why, whylen);
    if (rc == PW_OK) rc = subscribe(r, why, whylen);
    if (rc == PW_OK) rc = find_domains(r, info, why, whylen);
    if (rc != PW_OK) {
        info->ndomains = 0;
        ioreport_close(r);
        return rc;
    }
    info->period_ns = 0;                 /* Apple does not say how often the model updates */
    *state = r;
    return PW_OK;
}

/* A sample missing a channel is a gap; the next complete one is diffed against the last
 * complete one, so the energy across the gap is kept, not lost. */
static int ioreport_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    ioreport *r = state;
    /* the time the counters are asked for: the delta and the walk below are not part of
     * the sample's interval, so the read's midpoint would be late */
    uint64_t asked = pw_now_ns();
    cf_type cur = r->ior.samples(r->sub, r->subscribed, NULL);
    if (!items_of(r, cur)) {
        release(r, &cur);
        return read_failed(r, "IOReportCreateSamples failed", NULL);
    }
    cf_type delta = r->ior.delta(r->prev, cur, NULL);
    if (!items_of(r, delta)) {
        release(r, &delta);
        release(r, &cur);
        return read_failed(r, "IOReportCreateSamplesDelta failed", NULL);
    }
    const channel *missing = take_steps(r, delta);
    release(r, &delta);
    if (missing) {
        release(r, &cur);
        return read_failed(r, "channel missing from the sample:", missing->name);
    }
    for (size_t i = 0; i < r->n; i++) {
        channel *c = &r->ch[i];
        c->total_nj += (uint64_t)c->step * c->nj_per_unit;
        energy_uj[i] = c->total_nj / 1000;
    }
    release(r, &r->prev);
    r->prev = cur;
    *t_ns = asked;
    return PW_OK;
}

static void ioreport_describe(void *state, const pw_sink *out)
{
    const ioreport *r = state;
    pw_sink_meta(out, "ioreport.library", r->ior_library);
    pw_sink_meta(out, "ioreport.group", GROUP);
    pw_sink_meta(out, "ioreport.model", "Apple's energy model (estimated on chip), not a shunt");
    if (r->notes[0]) pw_sink_meta(out, "ioreport.skipped", r->notes);
}

static void ioreport_finish(void *state, const pw_sink *out, uint64_t end_ns)
{
    const ioreport *r = state;
    char value[sizeof r->last_error + 48];
    (void)end_ns;
    if (!r->failures) return;
    snprintf(value, sizeof value, "%lu failed reads, last: %s", r->failures, r->last_error);
    pw_sink_meta(out, "ioreport.read_errors", value);
}

const pw_source_ops pw_source_ioreport = {
    .name = "ioreport",
    .summary = "Apple Silicon CPU clusters, GPU, ANE, DRAM energy from IOReport's Energy Model "
               "(Apple's on-chip model, not a shunt; no root)",
    .measured = 1,
    .auto_probe = 1,
    .group = "apple-energy",
    .probe = ioreport_probe,
    .read = ioreport_read,
    .describe = ioreport_describe,
    .finish = ioreport_finish,
    .close = ioreport_close,
};
