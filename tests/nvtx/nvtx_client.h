/* nvtx_client.h — the application side of NVTX v3 that tests/nvtx/nvtx_app.c uses, for
 * machines without the CUDA toolkit's headers (stock Debian has none): the few entry points
 * it calls and the injection handshake, written from NVTX's public description (the tool in
 * NVTX_INJECTION64_PATH exports InitializeInjectionNvtx2, asks for the export table of
 * callbacks, and fills the application's function slots of the CORE and CORE2 modules).
 * Calls whose slot the tool left empty do nothing, as with the real headers. */
#ifndef PW_NVTX_CLIENT_H
#define PW_NVTX_CLIENT_H

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <wchar.h>

#define NVTX_VERSION 3
#define NVTX_MESSAGE_TYPE_ASCII 1
#define NVTX_MESSAGE_TYPE_UNICODE 2
#define NVTX_MESSAGE_TYPE_REGISTERED 3

typedef uint64_t nvtxRangeId_t;
typedef struct nvtx_client_domain *nvtxDomainHandle_t;   /* opaque: the tool makes them */
typedef struct nvtx_client_string *nvtxStringHandle_t;

/* Event attributes, version 2 of the structure (its size tells the tool which). */
typedef struct nvtxEventAttributes_t {
    uint16_t version, size;
    uint32_t category;
    int32_t colorType;
    uint32_t color;
    int32_t payloadType, reserved0;
    union { uint64_t ullValue; int64_t llValue; double dValue; } payload;
    int32_t messageType;
    union {
        const char *ascii;
        const wchar_t *unicode;
        nvtxStringHandle_t registered;
    } message;
} nvtxEventAttributes_t;
#define NVTX_EVENT_ATTRIB_STRUCT_SIZE ((uint16_t)sizeof(nvtxEventAttributes_t))

/* ---- the handshake ---------------------------------------------------------------------- */

typedef void (*nvtx_client_fn)(void);
enum { NVTX_CLIENT_SLOTS = 16, NVTX_CLIENT_CORE = 1, NVTX_CLIENT_CORE2 = 5 };
static nvtx_client_fn nvtx_client_core[NVTX_CLIENT_SLOTS], nvtx_client_core2[NVTX_CLIENT_SLOTS];
static nvtx_client_fn *nvtx_client_core_slots[NVTX_CLIENT_SLOTS];
static nvtx_client_fn *nvtx_client_core2_slots[NVTX_CLIENT_SLOTS];

static int nvtx_client_module_table(int module, nvtx_client_fn ***table, unsigned *size)
{
    nvtx_client_fn *fns = module == NVTX_CLIENT_CORE ? nvtx_client_core
                          : module == NVTX_CLIENT_CORE2 ? nvtx_client_core2 : NULL;
    nvtx_client_fn **slots = module == NVTX_CLIENT_CORE ? nvtx_client_core_slots
                             : nvtx_client_core2_slots;
    if (!fns || !table || !size) return 0;
    for (int i = 1; i < NVTX_CLIENT_SLOTS; i++) slots[i] = &fns[i];   /* index 0 is unused */
    *table = slots;
    *size = NVTX_CLIENT_SLOTS;
    return 1;
}

static const struct { size_t struct_size; int (*get_module_function_table)(int, nvtx_client_fn ***, unsigned *); }
    nvtx_client_callbacks = {sizeof nvtx_client_callbacks, nvtx_client_module_table};

static const void *nvtx_client_export_table(uint32_t id)
{
    return id == 1 ? (const void *)&nvtx_client_callbacks : NULL;   /* 1: the callbacks table */
}

static void nvtx_client_load(void)
{
    const char *path = getenv("NVTX_INJECTION64_PATH");
    void *tool = path && *path ? dlopen(path, RTLD_LAZY) : NULL;
    int (*init)(const void *(*)(uint32_t)) = NULL;
    if (tool) *(void **)&init = dlsym(tool, "InitializeInjectionNvtx2");
    if (init && !init(nvtx_client_export_table)) {   /* a refusing tool: every call a no-op */
        for (int i = 0; i < NVTX_CLIENT_SLOTS; i++) nvtx_client_core[i] = nvtx_client_core2[i] = NULL;
    }
}

static nvtx_client_fn nvtx_client_slot(const nvtx_client_fn *fns, int id)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, nvtx_client_load);
    /* cppcheck-suppress CastIntegerToAddressAtReturn ; fns holds function pointers, not ints */
    return fns[id];
}

/* Calls slot ID of a module's table as type T, or gives FALLBACK when the tool left it empty. */
#define NVTX_CLIENT_CALL(fns, id, T, fallback, ...) \
    (nvtx_client_slot(fns, id) ? ((T)nvtx_client_slot(fns, id))(__VA_ARGS__) : (fallback))

/* ---- the entry points nvtx_app.c calls (CORE and CORE2 slot ids of NVTX v3) ------------- */

static inline void nvtxMarkA(const char *m)
{
    NVTX_CLIENT_CALL(nvtx_client_core, 2, void (*)(const char *), (void)0, m);
}
static inline nvtxRangeId_t nvtxRangeStartA(const char *m)
{
    return NVTX_CLIENT_CALL(nvtx_client_core, 5, nvtxRangeId_t (*)(const char *), 0, m);
}
static inline void nvtxRangeEnd(nvtxRangeId_t r)
{
    NVTX_CLIENT_CALL(nvtx_client_core, 7, void (*)(nvtxRangeId_t), (void)0, r);
}
static inline int nvtxRangePushEx(const nvtxEventAttributes_t *a)
{
    return NVTX_CLIENT_CALL(nvtx_client_core, 8, int (*)(const nvtxEventAttributes_t *), -2, a);
}
static inline int nvtxRangePushA(const char *m)
{
    return NVTX_CLIENT_CALL(nvtx_client_core, 9, int (*)(const char *), -2, m);
}
static inline int nvtxRangePushW(const wchar_t *m)
{
    return NVTX_CLIENT_CALL(nvtx_client_core, 10, int (*)(const wchar_t *), -2, m);
}
static inline int nvtxRangePop(void)
{
    return nvtx_client_slot(nvtx_client_core, 11) ? ((int (*)(void))nvtx_client_slot(nvtx_client_core, 11))() : -2;
}
static inline void nvtxNameOsThreadA(uint32_t tid, const char *name)
{
    NVTX_CLIENT_CALL(nvtx_client_core, 14, void (*)(uint32_t, const char *), (void)0, tid, name);
}
static inline int nvtxDomainRangePushEx(nvtxDomainHandle_t d, const nvtxEventAttributes_t *a)
{
    return NVTX_CLIENT_CALL(nvtx_client_core2, 4, int (*)(nvtxDomainHandle_t, const nvtxEventAttributes_t *),
                            -2, d, a);
}
static inline int nvtxDomainRangePop(nvtxDomainHandle_t d)
{
    return NVTX_CLIENT_CALL(nvtx_client_core2, 5, int (*)(nvtxDomainHandle_t), -2, d);
}
static inline nvtxStringHandle_t nvtxDomainRegisterStringA(nvtxDomainHandle_t d, const char *s)
{
    return NVTX_CLIENT_CALL(nvtx_client_core2, 10, nvtxStringHandle_t (*)(nvtxDomainHandle_t, const char *),
                            NULL, d, s);
}
static inline nvtxDomainHandle_t nvtxDomainCreateA(const char *name)
{
    return NVTX_CLIENT_CALL(nvtx_client_core2, 12, nvtxDomainHandle_t (*)(const char *), NULL, name);
}

#endif
