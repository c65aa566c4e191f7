/* nvml.c — NVIDIA GPU energy through NVML (libnvidia-ml, loaded with dlopen): each GPU's
 * total-energy counter, else its power reading integrated, plus two alternative power fields. */
#include <dlfcn.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sources/counter.h"
#include "sources/source.h"
#include "sources/sysfs.h"

/* ---- the part of the NVML ABI used here (declared from NVIDIA's public nvml.h) ------------- */

typedef int nvml_return;                 /* nvmlReturn_t: a C enum, int-sized */
typedef struct nvml_device_st *nvml_device;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_LIBRARY_NOT_FOUND = 12,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
};

enum { NVML_FI_DEV_POWER_AVERAGE = 185, NVML_FI_DEV_POWER_INSTANT = 186 };

enum {                                   /* nvmlValueType_t */
    NVML_VALUE_TYPE_DOUBLE = 0,
    NVML_VALUE_TYPE_UNSIGNED_INT = 1,
    NVML_VALUE_TYPE_UNSIGNED_LONG = 2,
    NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3,
    NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4,
    NVML_VALUE_TYPE_SIGNED_INT = 5,
    NVML_VALUE_TYPE_UNSIGNED_SHORT = 6,
};

typedef union nvml_value {               /* nvmlValue_t */
    double dVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    long long sllVal;
    int siVal;
    unsigned short usVal;
} nvml_value;

typedef struct nvml_field_value {        /* nvmlFieldValue_t */
    unsigned int fieldId;
    unsigned int scopeId;                /* power fields: 0 = the GPU (NVML_POWER_SCOPE_GPU) */
    long long timestamp;                 /* µs since 1970 */
    long long latencyUsec;
    int valueType;
    nvml_return nvmlReturn;              /* this field's own result */
    nvml_value value;
} nvml_field_value;

_Static_assert(sizeof(nvml_field_value) == 40 && offsetof(nvml_field_value, value) == 32,
               "nvmlFieldValue_t layout");

#define NVML_NAME_BUFFER 96              /* NVML_DEVICE_NAME_V2_BUFFER_SIZE */
#define NVML_UUID_BUFFER 96              /* NVML_DEVICE_UUID_V2_BUFFER_SIZE */
#define NVML_DRIVER_BUFFER 80            /* NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE */
#define DEFAULT_LIBRARY "libnvidia-ml.so.1"
#define LIBRARY_MAX 256
#define MAX_MW 100000000.0               /* 100 kW: a larger power reading is garbage */

typedef struct nvml_api {
    void *lib;
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    const char *(*error_string)(nvml_return);
    nvml_return (*count)(unsigned int *);
    nvml_return (*handle)(unsigned int, nvml_device *);
    nvml_return (*name)(nvml_device, char *, unsigned int);
    nvml_return (*uuid)(nvml_device, char *, unsigned int);
    nvml_return (*power_usage)(nvml_device, unsigned int *);
    nvml_return (*total_energy)(nvml_device, unsigned long long *);   /* optional */
    nvml_return (*field_values)(nvml_device, int, nvml_field_value *); /* optional */
    nvml_return (*power_limit)(nvml_device, unsigned int *);          /* optional */
    nvml_return (*driver_version)(char *, unsigned int);              /* optional */
} nvml_api;

/* Symbols and where they go; dlsym gives a void *, which POSIX lets us store as a function. */
static const struct symbol {
    const char *name;
    size_t offset;
    int optional;
} symbols[] = {
    {"nvmlInit_v2", offsetof(nvml_api, init), 0},
    {"nvmlShutdown", offsetof(nvml_api, shutdown), 0},
    {"nvmlErrorString", offsetof(nvml_api, error_string), 0},
    {"nvmlDeviceGetCount_v2", offsetof(nvml_api, count), 0},
    {"nvmlDeviceGetHandleByIndex_v2", offsetof(nvml_api, handle), 0},
    {"nvmlDeviceGetName", offsetof(nvml_api, name), 0},
    {"nvmlDeviceGetUUID", offsetof(nvml_api, uuid), 0},
    {"nvmlDeviceGetPowerUsage", offsetof(nvml_api, power_usage), 0},
    {"nvmlDeviceGetTotalEnergyConsumption", offsetof(nvml_api, total_energy), 1},
    {"nvmlDeviceGetFieldValues", offsetof(nvml_api, field_values), 1},
    {"nvmlDeviceGetEnforcedPowerLimit", offsetof(nvml_api, power_limit), 1},
    {"nvmlSystemGetDriverVersion", offsetof(nvml_api, driver_version), 1},
};

_Static_assert(sizeof(void *) == sizeof(nvml_return (*)(void)), "function pointers fit void *");

/* ---- state ---------------------------------------------------------------------------------- */

typedef enum reading { ENERGY_COUNTER, POWER_USAGE, POWER_INSTANT, POWER_AVG } reading;

/* The two power fields, in the order they are asked for and named. */
static const struct field {
    unsigned int id;
    reading how;
    const char *suffix;
} fields[] = {{NVML_FI_DEV_POWER_INSTANT, POWER_INSTANT, "power-instant"},
              {NVML_FI_DEV_POWER_AVERAGE, POWER_AVG, "power-avg"}};
#define NFIELDS (sizeof fields / sizeof fields[0])

typedef struct integrator {              /* power turned into energy, trapezoid rule */
    double uj;
    double last_mw;
    uint64_t last_t_ns;
    int have_last;
} integrator;

typedef struct channel {                 /* one domain */
    reading how;
    pw_counter counter;                  /* ENERGY_COUNTER: µJ, a step back is a reset */
    integrator power;                    /* the others */
} channel;

typedef struct gpu {
    unsigned index;                      /* NVML's */
    nvml_device dev;
    char name[NVML_NAME_BUFFER], uuid[NVML_UUID_BUFFER];
    unsigned limit_mw;                   /* 0: unknown */
    int counter;                         /* 1: energy counter; 0: power integrated */
    int has_field[NFIELDS];
    size_t first, nch;                   /* its channels (domains), main reading first */
    unsigned failures;                   /* failed reads, for finish() */
    const char *last_error;
} gpu;

typedef struct nvml {
    nvml_api api;
    int initialized;
    size_t ngpus, n;
    gpu gpus[PW_SOURCE_MAX_DOMAINS];
    channel ch[PW_SOURCE_MAX_DOMAINS];
    char library[LIBRARY_MAX];
    char driver[NVML_DRIVER_BUFFER];
    char notes[PW_WHY_MAX];              /* GPUs and channels left out, and why */
    int skip_rc;                         /* the error that left out the first GPU */
} nvml;

/* ---- loading -------------------------------------------------------------------------------- */

static const char *err_text(const nvml *n, nvml_return r)
{
    const char *s = n->api.error_string ? n->api.error_string(r) : NULL;
    return s ? s : "unknown NVML error";
}

static int pw_code(nvml_return r)
{
    if (r == NVML_ERROR_NO_PERMISSION) return PW_ERR_PERMISSION;
    if (r == NVML_ERROR_DRIVER_NOT_LOADED || r == NVML_ERROR_LIBRARY_NOT_FOUND)
        return PW_ERR_NOT_FOUND;
    return PW_ERR_IO;
}

static int load_library(nvml *n, char *why, size_t whylen)
{
    dlerror();
    n->api.lib = dlopen(n->library, RTLD_NOW | RTLD_LOCAL);
    if (!n->api.lib) {
        const char *e = dlerror();
        if (!e || strstr(e, "No such file"))
            snprintf(why, whylen, "no NVIDIA driver (%s not found): install the NVIDIA driver, "
                                  "or set PHASEWATT_NVML_LIBRARY to libnvidia-ml.so.1's path",
                     n->library);
        else
            snprintf(why, whylen, "cannot load %s: %s", n->library, e);
        return PW_ERR_NOT_FOUND;
    }
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        void *p = dlsym(n->api.lib, symbols[i].name);
        if (!p && !symbols[i].optional) {
            snprintf(why, whylen, "%s has no %s: not NVML, or an NVIDIA driver too old "
                                  "(update the driver)", n->library, symbols[i].name);
            return PW_ERR_NOT_FOUND;
        }
        memcpy((char *)&n->api + symbols[i].offset, &p, sizeof p);
    }
    return PW_OK;
}

static const char *init_hint(nvml_return r)
{
    switch (r) {
    case NVML_ERROR_NO_PERMISSION:
        return "no access to /dev/nvidia*: join the group that owns them, or run as root";
    case NVML_ERROR_DRIVER_NOT_LOADED:
        return "the nvidia kernel module is not loaded: sudo modprobe nvidia";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
        return "libnvidia-ml and the kernel module differ in version: reboot, or reload the module";
    default:
        return "check that nvidia-smi works";
    }
}

static int start_nvml(nvml *n, char *why, size_t whylen)
{
    nvml_return r = n->api.init();
    if (r != NVML_SUCCESS) {
        snprintf(why, whylen, "NVIDIA driver present but nvmlInit failed: %s (%s)", err_text(n, r),
                 init_hint(r));
        return pw_code(r);
    }
    n->initialized = 1;
    if (n->api.driver_version &&
        n->api.driver_version(n->driver, sizeof n->driver) != NVML_SUCCESS)
        n->driver[0] = '\0';
    n->driver[sizeof n->driver - 1] = '\0';
    return PW_OK;
}

/* ---- probing each GPU ----------------------------------------------------------------------- */

/* Field values come in whatever type the driver chose; power must be a sane number of mW. */
static int field_mw(const nvml_field_value *f, double *mw)
{
    switch (f->valueType) {
    case NVML_VALUE_TYPE_DOUBLE: *mw = f->value.dVal; break;
    case NVML_VALUE_TYPE_UNSIGNED_INT: *mw = f->value.uiVal; break;
    case NVML_VALUE_TYPE_UNSIGNED_LONG: *mw = (double)f->value.ulVal; break;
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: *mw = (double)f->value.ullVal; break;
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG: *mw = (double)f->value.sllVal; break;
    case NVML_VALUE_TYPE_SIGNED_INT: *mw = f->value.siVal; break;
    case NVML_VALUE_TYPE_UNSIGNED_SHORT: *mw = f->value.usVal; break;
    default: return 0;
    }
    return *mw >= 0 && *mw <= MAX_MW;    /* false for NaN too */
}

static void leave_out(nvml *n, unsigned index, const char *what, nvml_return r)
{
    char note[PW_WHY_MAX];
    snprintf(note, sizeof note, "gpu %u left out: %s: %s", index, what, err_text(n, r));
    pw_sysfs_note(n->notes, sizeof n->notes, note);
    if (!n->skip_rc) n->skip_rc = pw_code(r);
}

/* The energy counter where the driver has it (Volta and newer), else the power reading. */
static int choose_energy(nvml *n, gpu *g)
{
    unsigned long long mj;
    unsigned int mw;
    nvml_return r = n->api.total_energy ? n->api.total_energy(g->dev, &mj)
                                        : NVML_ERROR_FUNCTION_NOT_FOUND;
    if (r == NVML_SUCCESS) return g->counter = 1;
    if (r != NVML_ERROR_NOT_SUPPORTED && r != NVML_ERROR_FUNCTION_NOT_FOUND) {
        leave_out(n, g->index, "nvmlDeviceGetTotalEnergyConsumption", r);
        return 0;
    }
    if ((r = n->api.power_usage(g->dev, &mw)) != NVML_SUCCESS) {
        leave_out(n, g->index, "no energy counter, and nvmlDeviceGetPowerUsage", r);
        return 0;
    }
    g->counter = 0;
    return 1;
}

/* Asks once for both power fields: those the driver answers become channels. */
static void probe_fields(nvml *n, gpu *g)
{
    nvml_field_value v[NFIELDS];
    memset(v, 0, sizeof v);
    for (size_t k = 0; k < NFIELDS; k++) v[k].fieldId = fields[k].id;
    if (!n->api.field_values || n->api.field_values(g->dev, (int)NFIELDS, v) != NVML_SUCCESS)
        return;
    for (size_t k = 0; k < NFIELDS; k++) {
        double mw;
        g->has_field[k] = v[k].nvmlReturn == NVML_SUCCESS && field_mw(&v[k], &mw);
    }
}

static void read_text(nvml_return (*get)(nvml_device, char *, unsigned int), nvml_device dev,
                      char *buf, unsigned int cap)
{
    if (get(dev, buf, cap) != NVML_SUCCESS) buf[0] = '\0';
    buf[cap - 1] = '\0';
}

static void probe_gpu(nvml *n, unsigned index)
{
    gpu *g = &n->gpus[n->ngpus];
    memset(g, 0, sizeof *g);
    g->index = index;
    nvml_return r = n->api.handle(index, &g->dev);
    if (r != NVML_SUCCESS) {
        leave_out(n, index, "nvmlDeviceGetHandleByIndex", r);
        return;
    }
    if (!choose_energy(n, g)) return;
    read_text(n->api.name, g->dev, g->name, sizeof g->name);
    read_text(n->api.uuid, g->dev, g->uuid, sizeof g->uuid);
    if (!n->api.power_limit || n->api.power_limit(g->dev, &g->limit_mw) != NVML_SUCCESS)
        g->limit_mw = 0;
    probe_fields(n, g);
    n->ngpus++;
}

/* More than any machine has (NVLink domains top out at a few hundred): a count past it is
 * a fault, and probing it would take hours. */
#define NVML_MAX_PLAUSIBLE_GPUS 1024u

static int probe_gpus(nvml *n, char *why, size_t whylen)
{
    unsigned count = 0;
    nvml_return r = n->api.count(&count);
    if (r != NVML_SUCCESS) {
        snprintf(why, whylen, "nvmlDeviceGetCount failed: %s (check that nvidia-smi works)",
                 err_text(n, r));
        return pw_code(r);
    }
    if (count == 0) {
        snprintf(why, whylen, "NVIDIA driver loaded but NVML sees no GPU: check nvidia-smi -L "
                              "(in a container, pass the GPUs in: docker run --gpus all)");
        return PW_ERR_NOT_FOUND;
    }
    if (count > NVML_MAX_PLAUSIBLE_GPUS) {   /* a broken or hostile driver: do not loop on it */
        char text[128];
        snprintf(text, sizeof text, "the driver reports %u GPUs, more than is plausible: only "
                 "the first %u probed", count, NVML_MAX_PLAUSIBLE_GPUS);
        pw_sysfs_note(n->notes, sizeof n->notes, text);
        count = NVML_MAX_PLAUSIBLE_GPUS;
    }
    for (unsigned i = 0; i < count; i++) {
        if (n->ngpus == PW_SOURCE_MAX_DOMAINS) {
            pw_sysfs_note(n->notes, sizeof n->notes, "more GPUs than domains: the rest left out");
            break;
        }
        probe_gpu(n, i);
    }
    if (n->ngpus == 0) {
        snprintf(why, whylen, "no usable NVIDIA GPU: %s", n->notes);
        return n->skip_rc ? n->skip_rc : PW_ERR_NOT_FOUND;
    }
    return PW_OK;
}

/* ---- domains -------------------------------------------------------------------------------- */

static size_t fields_wanted(const nvml *n)
{
    size_t total = 0;
    for (size_t i = 0; i < n->ngpus; i++)
        for (size_t k = 0; k < NFIELDS; k++) total += (size_t)n->gpus[i].has_field[k];
    return total;
}

static void add_channel(nvml *n, pw_source_info *info, reading how, const char *name,
                        int32_t parent)
{
    channel *c = &n->ch[n->n];
    memset(c, 0, sizeof *c);
    c->how = how;
    pw_counter_init(&c->counter, 0);     /* 64-bit mJ since driver load: never wraps */
    pw_source_add_domain(info, name, PW_KIND_GPU, parent);
    n->n = info->ndomains;
}

/* gpu-i, then its power fields as children: they read the same board power again, so
 * containment keeps totals from counting it twice. When domains run short, fields give way. */
static void add_domains(nvml *n, pw_source_info *info)
{
    int with_fields = n->ngpus + fields_wanted(n) <= PW_SOURCE_MAX_DOMAINS;
    if (!with_fields)
        pw_sysfs_note(n->notes, sizeof n->notes, "power fields left out: more than 64 domains");
    info->ndomains = n->n = 0;
    for (size_t i = 0; i < n->ngpus; i++) {
        gpu *g = &n->gpus[i];
        char name[PW_DOMAIN_NAME_MAX];
        g->first = n->n;
        snprintf(name, sizeof name, "gpu-%u", g->index);
        add_channel(n, info, g->counter ? ENERGY_COUNTER : POWER_USAGE, name, -1);
        for (size_t k = 0; k < NFIELDS; k++) {
            g->has_field[k] &= with_fields;
            if (!g->has_field[k]) continue;
            snprintf(name, sizeof name, "gpu-%u-%s", g->index, fields[k].suffix);
            add_channel(n, info, fields[k].how, name, (int32_t)g->first);
        }
        g->nch = n->n - g->first;
    }
}

/* ---- reading -------------------------------------------------------------------------------- */

/* E += (P_prev + P_now) / 2 × Δt; mW × ns = 1e-6 µJ. Exact for constant or linear power. */
static uint64_t integrate(integrator *p, double mw, uint64_t t_ns)
{
    if (p->have_last && t_ns > p->last_t_ns)
        p->uj += (p->last_mw + mw) * (double)(t_ns - p->last_t_ns) / 2e6;
    if (!p->have_last || t_ns > p->last_t_ns) p->last_t_ns = t_ns;
    p->last_mw = mw;
    p->have_last = 1;
    return (uint64_t)llround(p->uj);
}

static int failed(const nvml *n, gpu *g, nvml_return r)
{
    g->failures++;
    g->last_error = err_text(n, r);
    return pw_code(r);
}

static int malformed(gpu *g, const char *what)
{
    g->failures++;
    g->last_error = what;
    return PW_ERR_FORMAT;
}

static int read_main(nvml *n, gpu *g, uint64_t t_ns, uint64_t *out)
{
    channel *c = &n->ch[g->first];
    nvml_return r;
    if (c->how == ENERGY_COUNTER) {
        unsigned long long mj;
        if ((r = n->api.total_energy(g->dev, &mj)) != NVML_SUCCESS) return failed(n, g, r);
        if (mj > UINT64_MAX / 1000) return malformed(g, "energy counter out of range");
        *out = pw_counter_update(&c->counter, (uint64_t)mj * 1000);
        return PW_OK;
    }
    unsigned int mw;
    if ((r = n->api.power_usage(g->dev, &mw)) != NVML_SUCCESS) return failed(n, g, r);
    if (mw > MAX_MW) return malformed(g, "power reading out of range");
    *out = integrate(&c->power, mw, t_ns);
    return PW_OK;
}

/* One call for all of this GPU's fields (its channels after the main one, in field order);
 * every one must answer, or the tick is a gap. */
static int read_fields(nvml *n, gpu *g, uint64_t t_ns, uint64_t *out)
{
    nvml_field_value v[NFIELDS];
    size_t m = 0;
    memset(v, 0, sizeof v);
    for (size_t k = 0; k < NFIELDS; k++)
        if (g->has_field[k]) v[m++].fieldId = fields[k].id;
    if (m == 0) return PW_OK;
    nvml_return r = n->api.field_values(g->dev, (int)m, v);
    for (size_t j = 0; j < m && r == NVML_SUCCESS; j++) r = v[j].nvmlReturn;
    if (r != NVML_SUCCESS) return failed(n, g, r);
    double mw[NFIELDS];
    for (size_t j = 0; j < m; j++)
        if (!field_mw(&v[j], &mw[j])) return malformed(g, "power field out of range");
    for (size_t j = 0; j < m; j++)
        out[g->first + 1 + j] = integrate(&n->ch[g->first + 1 + j].power, mw[j], t_ns);
    return PW_OK;
}

/* Every GPU is read even after one fails, so the others' integrals stay current; the ops
 * contract is all-or-nothing, so one failure makes the whole tick a gap. Each tick retries. */
static int nvml_read(void *state, uint64_t *t_ns, uint64_t *energy_uj)
{
    nvml *n = state;
    int rc = PW_OK;
    for (size_t i = 0; i < n->ngpus; i++) {
        gpu *g = &n->gpus[i];
        int e = read_main(n, g, *t_ns, &energy_uj[g->first]);
        if (e == PW_OK) e = read_fields(n, g, *t_ns, energy_uj);
        if (e != PW_OK && rc == PW_OK) rc = e;
    }
    return rc;
}

/* ---- the ops -------------------------------------------------------------------------------- */

static void nvml_close(void *state)
{
    nvml *n = state;
    if (!n) return;
    if (n->initialized) n->api.shutdown();
    if (n->api.lib) dlclose(n->api.lib);
    free(n);
}

static int nvml_probe(const pw_source_config *cfg, void **state, pw_source_info *info,
                      char *why, size_t whylen)
{
    const char *lib = cfg->nvml_library && *cfg->nvml_library ? cfg->nvml_library
                                                               : DEFAULT_LIBRARY;
    if (strlen(lib) >= LIBRARY_MAX) {
        snprintf(why, whylen, "PHASEWATT_NVML_LIBRARY is too long");
        return PW_ERR_LIMIT;
    }
    nvml *n = calloc(1, sizeof *n);
    if (!n) return PW_ERR_NOMEM;
    snprintf(n->library, sizeof n->library, "%s", lib);
    info->ndomains = 0;
    int rc = load_library(n, why, whylen);
    if (rc == PW_OK) rc = start_nvml(n, why, whylen);
    if (rc == PW_OK) rc = probe_gpus(n, why, whylen);
    if (rc != PW_OK) {
        nvml_close(n);
        return rc;
    }
    add_domains(n, info);
    info->period_ns = 0;                 /* NVML does not say how often it refreshes */
    *state = n;
    return PW_OK;
}

static void put_gpu(const pw_sink *out, unsigned index, const char *what, const char *value)
{
    char key[64];
    snprintf(key, sizeof key, "gpu.%u.%s", index, what);
    pw_sink_meta(out, key, value);
}

static void nvml_describe(void *state, const pw_sink *out)
{
    const nvml *n = state;
    pw_sink_meta(out, "nvml.library", n->library);
    if (n->driver[0]) pw_sink_meta(out, "nvml.driver", n->driver);
    for (size_t i = 0; i < n->ngpus; i++) {
        const gpu *g = &n->gpus[i];
        char limit[32];
        if (g->name[0]) put_gpu(out, g->index, "name", g->name);
        if (g->uuid[0]) put_gpu(out, g->index, "uuid", g->uuid);
        snprintf(limit, sizeof limit, "%.3f", g->limit_mw / 1000.0);
        if (g->limit_mw) put_gpu(out, g->index, "power_limit_w", limit);
        put_gpu(out, g->index, "energy", g->counter ? "counter" : "integrated power");
    }
    if (n->notes[0]) pw_sink_meta(out, "nvml.skipped", n->notes);
}

/* Says which GPUs had failed reads (the gaps in the trace), and the last reason. */
static void nvml_finish(void *state, const pw_sink *out, uint64_t end_ns)
{
    const nvml *n = state;
    (void)end_ns;
    for (size_t i = 0; i < n->ngpus; i++) {
        const gpu *g = &n->gpus[i];
        char value[160];
        if (!g->failures) continue;
        snprintf(value, sizeof value, "%u failed reads, last: %s", g->failures, g->last_error);
        put_gpu(out, g->index, "read_errors", value);
    }
}

const pw_source_ops pw_source_nvml = {
    .name = "nvml",
    .calls_driver = 1,
    .summary = "NVIDIA GPUs via NVML: total-energy counter (Volta+) or integrated power, per GPU",
    .measured = 1,
    .auto_probe = 1,
    .probe = nvml_probe,
    .read = nvml_read,
    .describe = nvml_describe,
    .finish = nvml_finish,
    .close = nvml_close,
};
