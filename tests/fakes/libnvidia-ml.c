/* libnvidia-ml.c — a fake NVML for the nvml source's tests: NVML's symbols and ABI, answering
 * from the state file named by $PHASEWATT_FAKE_NVML_STATE, re-read at every call. Lines:
 *   init RC | count N | count_rc RC | driver VERSION | hang 1 | hang_init 1
 *   gpu I name=TEXT uuid=TEXT energy_mj=N power_mw=N avg_mw=N instant_mw=N limit_mw=N
 *         energy_rc=RC power_rc=RC avg_rc=RC instant_rc=RC limit_rc=RC handle_rc=RC
 *         field_rc=RC field_type=T
 * A reading whose value is not given answers NVML_ERROR_NOT_SUPPORTED unless its _rc says
 * otherwise; a value may hold spaces (name=NVIDIA H100 80GB HBM3). $PHASEWATT_FAKE_NVML_LOG,
 * if set, gets a line per nvmlInit ("init"), nvmlShutdown ("shutdown") and unload ("unload").
 * With "hang 1" an energy read does not return (as a driver whose GPU fell off the bus) until
 * the state says otherwise, with "hang_init 1" nvmlInit; each logs "hang" as it starts
 * waiting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

typedef union nvmlValue_st {
    double dVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    long long sllVal;
    int siVal;
    unsigned short usVal;
} nvmlValue_t;

typedef struct nvmlFieldValue_st {
    unsigned int fieldId;
    unsigned int scopeId;
    long long timestamp;
    long long latencyUsec;
    int valueType;
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;

enum {
    OK = 0, UNINITIALIZED = 1, INVALID_ARGUMENT = 2, NOT_SUPPORTED = 3, INSUFFICIENT_SIZE = 7,
};

#define MAX_GPUS 80
#define TEXT_MAX 96

typedef struct reading {
    unsigned long long u;
    double d;
    int given;
    int rc;                              /* -1: not said */
} reading;

typedef struct fake_gpu {
    char name[TEXT_MAX], uuid[TEXT_MAX];
    reading energy, power, avg, instant, limit;
    int handle_rc, field_rc, field_type;
} fake_gpu;

typedef struct fake_state {
    int init_rc, count_rc, hang, hang_init;
    unsigned count;
    char driver[TEXT_MAX];
    fake_gpu gpu[MAX_GPUS];
} fake_state;

/* NVML is thread-safe: each thread parses the state for itself (a sampler left in a stuck
 * call goes on reading it while the test opens a new session) */
static _Thread_local fake_state st;
static _Atomic int inits;                /* nvmlInit minus nvmlShutdown, as NVML counts */
static char handles[MAX_GPUS];           /* a device handle points at its slot */

/* ---- the state file ------------------------------------------------------------------------- */

static void log_line(const char *what)
{
    const char *path = getenv("PHASEWATT_FAKE_NVML_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (!f) return;
    fprintf(f, "%s\n", what);
    fclose(f);
}

__attribute__((destructor)) static void unloaded(void) { log_line("unload"); }

static void set_reading(reading *r, const char *value, int is_rc)
{
    if (is_rc) {
        r->rc = atoi(value);
        return;
    }
    r->u = strtoull(value, NULL, 10);
    r->d = strtod(value, NULL);
    r->given = 1;
}

static reading *reading_named(fake_gpu *g, const char *key, size_t len)
{
    static const char *const names[] = {"energy", "power", "avg", "instant", "limit"};
    reading *all[] = {&g->energy, &g->power, &g->avg, &g->instant, &g->limit};
    for (size_t i = 0; i < 5; i++)
        if (strlen(names[i]) == len && !strncmp(key, names[i], len)) return all[i];
    return NULL;
}

static void set_key(fake_gpu *g, const char *key, const char *value)
{
    const char *us = strrchr(key, '_');
    reading *r = us ? reading_named(g, key, (size_t)(us - key)) : NULL;
    if (!strcmp(key, "name")) snprintf(g->name, sizeof g->name, "%s", value);
    else if (!strcmp(key, "uuid")) snprintf(g->uuid, sizeof g->uuid, "%s", value);
    else if (!strcmp(key, "handle_rc")) g->handle_rc = atoi(value);
    else if (!strcmp(key, "field_rc")) g->field_rc = atoi(value);
    else if (!strcmp(key, "field_type")) g->field_type = atoi(value);
    else if (r) set_reading(r, value, !strcmp(us, "_rc"));
}

/* "k1=v1 more words k2=v2": a word without '=' continues the previous value. */
static void parse_gpu(fake_gpu *g, char *rest)
{
    char key[64] = "", value[256] = "", *save = NULL;
    for (char *w = strtok_r(rest, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
        char *eq = strchr(w, '=');
        if (!eq) {
            size_t len = strlen(value);
            snprintf(value + len, sizeof value - len, " %s", w);
            continue;
        }
        if (key[0]) set_key(g, key, value);
        *eq = '\0';
        snprintf(key, sizeof key, "%s", w);
        snprintf(value, sizeof value, "%s", eq + 1);
    }
    if (key[0]) set_key(g, key, value);
}

static void settle(reading *r)
{
    if (r->rc < 0) r->rc = r->given ? OK : NOT_SUPPORTED;
}

static void load(void)
{
    memset(&st, 0, sizeof st);
    for (size_t i = 0; i < MAX_GPUS; i++) {
        fake_gpu *g = &st.gpu[i];
        g->energy.rc = g->power.rc = g->avg.rc = g->instant.rc = g->limit.rc = -1;
        g->field_type = 1;               /* NVML_VALUE_TYPE_UNSIGNED_INT */
    }
    const char *path = getenv("PHASEWATT_FAKE_NVML_STATE");
    FILE *f = path ? fopen(path, "r") : NULL;
    char line[1024];
    while (f && fgets(line, sizeof line, f)) {
        unsigned i;
        int used = 0;
        if (sscanf(line, "gpu %u %n", &i, &used) == 1 && used && i < MAX_GPUS) {
            parse_gpu(&st.gpu[i], line + used);
            continue;
        }
        if (sscanf(line, "init %d", &st.init_rc) == 1 || sscanf(line, "count_rc %d", &st.count_rc) == 1 ||
            sscanf(line, "hang %d", &st.hang) == 1 || sscanf(line, "hang_init %d", &st.hang_init) == 1)
            continue;
        if (sscanf(line, "count %u", &st.count) != 1) sscanf(line, "driver %95s", st.driver);
    }
    if (f) fclose(f);
    for (size_t i = 0; i < MAX_GPUS; i++) {
        fake_gpu *g = &st.gpu[i];
        settle(&g->energy), settle(&g->power), settle(&g->avg), settle(&g->instant);
        settle(&g->limit);
    }
}

/* While *flag (the state says hang) waits 5 ms and says 1, logging "hang" the first time; the
 * caller reloads the state, which the test changes to let it go. */
static int hang_while(const int *flag)
{
    static _Thread_local int said;
    if (!*flag) {
        said = 0;
        return 0;
    }
    if (!said++) log_line("hang");
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    return 1;
}

/* Loads the state and finds the device: NULL with *rc set when the call must fail. */
static fake_gpu *device(nvmlDevice_t dev, nvmlReturn_t *rc)
{
    load();
    const char *p = (const char *)dev;
    *rc = !inits ? UNINITIALIZED : p >= handles && p < handles + st.count ? OK : INVALID_ARGUMENT;
    return *rc == OK ? &st.gpu[p - handles] : NULL;
}

static nvmlReturn_t copy_text(const char *text, char *buf, unsigned int len)
{
    if (!buf || strlen(text) >= len) return INSUFFICIENT_SIZE;
    memcpy(buf, text, strlen(text) + 1);
    return OK;
}

/* ---- NVML ----------------------------------------------------------------------------------- */

nvmlReturn_t nvmlInit_v2(void)
{
    load();
    while (hang_while(&st.hang_init)) load();
    log_line("init");
    if (st.init_rc != OK) return st.init_rc;
    inits++;
    return OK;
}

nvmlReturn_t nvmlShutdown(void)
{
    if (!inits) return UNINITIALIZED;
    inits--;
    log_line("shutdown");
    return OK;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
    switch (r) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 9: return "Driver Not Loaded";
    case 15: return "GPU is lost";
    case 18: return "RM has detected an NVML/RM version mismatch.";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    load();
    if (!inits) return UNINITIALIZED;
    return st.driver[0] ? copy_text(st.driver, version, length) : NOT_SUPPORTED;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
    load();
    if (!inits) return UNINITIALIZED;
    if (st.count_rc != OK) return st.count_rc;
    *count = st.count;
    return OK;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *dev)
{
    load();
    if (!inits) return UNINITIALIZED;
    if (index >= st.count || index >= MAX_GPUS) return INVALID_ARGUMENT;
    if (st.gpu[index].handle_rc != OK) return st.gpu[index].handle_rc;
    *dev = (nvmlDevice_t)(void *)&handles[index];
    return OK;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char *name, unsigned int length)
{
    nvmlReturn_t rc;
    fake_gpu *g = device(dev, &rc);
    return g ? copy_text(g->name, name, length) : rc;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t dev, char *uuid, unsigned int length)
{
    nvmlReturn_t rc;
    fake_gpu *g = device(dev, &rc);
    return g ? copy_text(g->uuid, uuid, length) : rc;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t dev, unsigned long long *mj)
{
    nvmlReturn_t rc;
    fake_gpu *g = device(dev, &rc);
    while (hang_while(&st.hang)) g = device(dev, &rc);
    if (!g) return rc;
    if (g->energy.rc == OK) *mj = g->energy.u;
    return g->energy.rc;
}

/* Power usage, or with want_limit the enforced power limit (both unsigned mW). */
static nvmlReturn_t get_mw(nvmlDevice_t dev, int want_limit, unsigned int *out)
{
    nvmlReturn_t rc;
    fake_gpu *g = device(dev, &rc);
    if (!g) return rc;
    const reading *r = want_limit ? &g->limit : &g->power;
    if (r->rc == OK) *out = (unsigned int)r->u;
    return r->rc;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned int *mw)
{
    return get_mw(dev, 0, mw);
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t dev, unsigned int *mw)
{
    return get_mw(dev, 1, mw);
}

static void set_value(nvmlFieldValue_t *v, int type, const reading *r)
{
    v->valueType = type;
    switch (type) {
    case 0: v->value.dVal = r->d; break;
    case 1: v->value.uiVal = (unsigned int)r->u; break;
    case 2: v->value.ulVal = (unsigned long)r->u; break;
    case 3: v->value.ullVal = r->u; break;
    case 4: v->value.sllVal = (long long)r->d; break;
    case 5: v->value.siVal = (int)r->d; break;
    default: v->value.usVal = (unsigned short)r->u; break;
    }
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t dev, int count, nvmlFieldValue_t *values)
{
    nvmlReturn_t rc;
    fake_gpu *g = device(dev, &rc);
    if (!g) return rc;
    if (count < 0 || !values) return INVALID_ARGUMENT;
    if (g->field_rc != OK) return g->field_rc;
    for (int i = 0; i < count; i++) {
        nvmlFieldValue_t *v = &values[i];
        const reading *r = v->fieldId == 185 ? &g->avg : v->fieldId == 186 ? &g->instant : NULL;
        v->timestamp = 1700000000000000ll;
        v->latencyUsec = 0;
        v->nvmlReturn = r ? r->rc : NOT_SUPPORTED;
        if (v->nvmlReturn == OK) set_value(v, g->field_type, r);
    }
    return OK;
}
