/* injection.c — libphasewatt-nvtx.so: the tool library NVTX v3 loads through
 * NVTX_INJECTION64_PATH, turning NVTX ranges and marks into phasewatt phase events, so an
 * NVTX-annotated program is profiled by phase with no change. The types below are declared
 * from the NVTX v3 ABI (nvtxDetail/nvtxTypes.h, nvToolsExt.h); no NVIDIA header is needed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "phasewatt.h"
#include "platform/platform.h"

typedef void (*nvtx_fn)(void);
typedef int (*get_module_table_fn)(int module, nvtx_fn ***table, unsigned *size);
typedef struct export_table_callbacks {
    size_t struct_size;
    get_module_table_fn get_module_function_table;
} export_table_callbacks;
typedef const void *(*get_export_table_fn)(uint32_t id);

enum { ETID_CALLBACKS = 1, MODULE_CORE = 1, MODULE_CORE2 = 5 };
enum { CORE_MarkEx = 1, CORE_MarkA, CORE_MarkW, CORE_RangeStartEx, CORE_RangeStartA,
       CORE_RangeStartW, CORE_RangeEnd, CORE_RangePushEx, CORE_RangePushA, CORE_RangePushW,
       CORE_RangePop, CORE_NameOsThreadA = 14, CORE_NameOsThreadW };
enum { CORE2_DomainMarkEx = 1, CORE2_DomainRangeStartEx, CORE2_DomainRangeEnd,
       CORE2_DomainRangePushEx, CORE2_DomainRangePop, CORE2_DomainRegisterStringA = 10,
       CORE2_DomainRegisterStringW, CORE2_DomainCreateA, CORE2_DomainCreateW };
enum { MESSAGE_ASCII = 1, MESSAGE_UNICODE = 2, MESSAGE_REGISTERED = 3 };

typedef struct event_attributes {     /* nvtxEventAttributes_v2 */
    uint16_t version, size;
    uint32_t category;
    int32_t color_type;
    uint32_t color;
    int32_t payload_type, reserved0;
    uint64_t payload;
    int32_t message_type;
    union {
        const char *ascii;
        const wchar_t *unicode;
        const void *registered;
    } message;
} event_attributes;

/* ---- names ------------------------------------------------------------------------------ */

/* UTF-8 of a wide string, cut at PW_MAX_NAME bytes. */
static void utf8_of(const wchar_t *w, char *out, size_t cap)
{
    size_t n = 0;
    for (; w && *w && n + 4 < cap; w++) {
        uint32_t c = (uint32_t)*w;
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
        if (c < 0x80) out[n++] = (char)c;
        else if (c < 0x800) {
            out[n++] = (char)(0xC0 | c >> 6);
            out[n++] = (char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out[n++] = (char)(0xE0 | c >> 12);
            out[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (c & 0x3F));
        } else {
            out[n++] = (char)(0xF0 | c >> 18);
            out[n++] = (char)(0x80 | ((c >> 12) & 0x3F));
            out[n++] = (char)(0x80 | ((c >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (c & 0x3F));
        }
    }
    out[n] = '\0';
}

static pw_id wide_id(const wchar_t *w)
{
    char buf[PW_MAX_NAME];
    utf8_of(w, buf, sizeof buf);
    return pw_phase_id(buf);
}

/* Registered strings are handed out as their phasewatt id. */
static pw_id attr_id(const event_attributes *a)
{
    if (!a) return 0;
    switch (a->message_type) {
    case MESSAGE_ASCII: return a->message.ascii ? pw_phase_id(a->message.ascii) : 0;
    case MESSAGE_UNICODE: return wide_id(a->message.unicode);
    case MESSAGE_REGISTERED: return (pw_id)(uintptr_t)a->message.registered;
    default: return 0;
    }
}

/* ---- track names: nvtxNameOsThread and the domains a thread uses ------------------------
 * A thread's track is named "<thread name> [domain+domain]": its nvtxNameOsThread name (set
 * from any thread, so kept in a small table) and the non-default domains it has used. */
#define NAMED_MAX 256
#define THREAD_DOMAINS_MAX 4
static pthread_mutex_t named_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { uint32_t tid; char name[64]; } named[NAMED_MAX];
static int nnamed;
static _Atomic uint32_t names_version;      /* bumped by every nvtxNameOsThread */

static __thread uint32_t seen_version;
static __thread const void *thread_domains[THREAD_DOMAINS_MAX];
static __thread int nthread_domains;

static void thread_name(uint32_t tid, char *out, size_t cap)
{
    out[0] = '\0';
    pthread_mutex_lock(&named_lock);
    for (int i = 0; i < nnamed; i++)
        if (named[i].tid == tid) snprintf(out, cap, "%s", named[i].name);
    pthread_mutex_unlock(&named_lock);
}

static void relabel(void)
{
    char tname[64], domains[192] = "", label[260];
    thread_name(pw_thread_id(), tname, sizeof tname);
    size_t n = 0;
    for (int i = 0; i < nthread_domains && n < sizeof domains; i++) {
        const char *d = pw_name((pw_id)(uintptr_t)thread_domains[i]);
        n += (size_t)snprintf(domains + n, sizeof domains - n, "%s%s", i ? "+" : "", d ? d : "?");
    }
    if (tname[0] && domains[0]) snprintf(label, sizeof label, "%s [%s]", tname, domains);
    else snprintf(label, sizeof label, "%s", tname[0] ? tname : domains);
    if (label[0]) pw_track_name(label);
}

/* Called on every range and mark: two thread-local compares unless something changed. */
static void note_domain(const void *domain)
{
    int changed = atomic_load_explicit(&names_version, memory_order_relaxed) != seen_version;
    if (domain) {
        int known = 0;
        for (int i = 0; i < nthread_domains; i++) known |= thread_domains[i] == domain;
        if (!known && nthread_domains < THREAD_DOMAINS_MAX) {
            thread_domains[nthread_domains++] = domain;
            changed = 1;
        }
    }
    if (!changed) return;
    seen_version = atomic_load_explicit(&names_version, memory_order_relaxed);
    relabel();
}

static void name_os_thread(uint32_t tid, const char *name)
{
    if (!name) return;
    pthread_mutex_lock(&named_lock);
    int i = 0;
    while (i < nnamed && named[i].tid != tid) i++;
    if (i < NAMED_MAX) {
        named[i].tid = tid;
        snprintf(named[i].name, sizeof named[i].name, "%s", name);
        if (i == nnamed) nnamed++;
    }
    pthread_mutex_unlock(&named_lock);
    atomic_fetch_add(&names_version, 1);
    if (tid == pw_thread_id()) note_domain(NULL);
}

static void name_os_thread_a(uint32_t tid, const char *name) { name_os_thread(tid, name); }
static void name_os_thread_w(uint32_t tid, const wchar_t *name)
{
    char buf[PW_MAX_NAME];
    utf8_of(name, buf, sizeof buf);
    name_os_thread(tid, buf);
}

/* ---- push/pop ranges: phases of the calling thread ------------------------------------- */

static __thread int push_depth;

static int push(pw_id id)
{
    note_domain(NULL);
    if (!id) id = pw_phase_id("(unnamed nvtx range)");
    if (pw_begin(id) != PW_OK) return -1;
    return push_depth++;
}

static int pop(void)
{
    if (push_depth == 0 || pw_end() != PW_OK) return -1;
    return --push_depth;
}

static int range_push_a(const char *msg) { return push(msg ? pw_phase_id(msg) : 0); }
static int range_push_w(const wchar_t *msg) { return push(wide_id(msg)); }
static int range_push_ex(const event_attributes *a) { return push(attr_id(a)); }
static int domain_range_push_ex(const void *domain, const event_attributes *a)
{
    note_domain(domain);
    return push(attr_id(a));
}
static int domain_range_pop(const void *domain)
{
    (void)domain;
    return pop();
}

/* ---- start/end ranges: phases when they nest on one thread ----------------------------
 * A start/end range may end on another thread or out of order; phasewatt's phases nest per
 * thread, so such a range becomes a mark at its start and is otherwise ignored. */
#define STARTED_MAX 64
static _Atomic uint64_t next_range = 1;
static __thread uint64_t started[STARTED_MAX];
static __thread int nstarted;

static uint64_t start(pw_id id)
{
    uint64_t rid = atomic_fetch_add(&next_range, 1);
    note_domain(NULL);
    if (!id) id = pw_phase_id("(unnamed nvtx range)");
    if (nstarted < STARTED_MAX && pw_begin(id) == PW_OK) started[nstarted++] = rid;
    else pw_mark(id);
    return rid;
}

static void end(uint64_t rid)
{
    if (nstarted > 0 && started[nstarted - 1] == rid && pw_end() == PW_OK) nstarted--;
}

static uint64_t range_start_a(const char *msg) { return start(msg ? pw_phase_id(msg) : 0); }
static uint64_t range_start_w(const wchar_t *msg) { return start(wide_id(msg)); }
static uint64_t range_start_ex(const event_attributes *a) { return start(attr_id(a)); }
static uint64_t domain_range_start_ex(const void *domain, const event_attributes *a)
{
    note_domain(domain);
    return start(attr_id(a));
}
static void domain_range_end(const void *domain, uint64_t rid)
{
    (void)domain;
    end(rid);
}

/* ---- marks, domains, registered strings ------------------------------------------------ */

static void mark_a(const char *msg) { if (msg) pw_mark(pw_phase_id(msg)); }
static void mark_w(const wchar_t *msg) { pw_mark(wide_id(msg)); }
static void mark_ex(const event_attributes *a) { pw_id id = attr_id(a); if (id) pw_mark(id); }
static void domain_mark_ex(const void *domain, const event_attributes *a)
{
    note_domain(domain);
    mark_ex(a);
}

static const void *register_string_a(const void *domain, const char *s)
{
    (void)domain;
    return (const void *)(uintptr_t)(s ? pw_phase_id(s) : 0);
}

static const void *register_string_w(const void *domain, const wchar_t *s)
{
    (void)domain;
    return (const void *)(uintptr_t)wide_id(s);
}

/* A domain handle must be non-NULL and distinct per name: its interned id does. */
static const void *domain_create_a(const char *name)
{
    return (const void *)(uintptr_t)(name ? pw_phase_id(name) : 1);
}

static const void *domain_create_w(const wchar_t *name)
{
    return (const void *)(uintptr_t)wide_id(name);
}

/* ---- installing ------------------------------------------------------------------------ */

static void set_slot(nvtx_fn **table, unsigned size, unsigned slot, nvtx_fn fn)
{
    if (slot < size && table[slot]) *table[slot] = fn;
}

static int fill_core(get_module_table_fn get)
{
    nvtx_fn **t = NULL;
    unsigned n = 0;
    if (!get(MODULE_CORE, &t, &n) || !t) return 0;
    set_slot(t, n, CORE_MarkEx, (nvtx_fn)mark_ex);
    set_slot(t, n, CORE_MarkA, (nvtx_fn)mark_a);
    set_slot(t, n, CORE_MarkW, (nvtx_fn)mark_w);
    set_slot(t, n, CORE_RangeStartEx, (nvtx_fn)range_start_ex);
    set_slot(t, n, CORE_RangeStartA, (nvtx_fn)range_start_a);
    set_slot(t, n, CORE_RangeStartW, (nvtx_fn)range_start_w);
    set_slot(t, n, CORE_RangeEnd, (nvtx_fn)end);
    set_slot(t, n, CORE_RangePushEx, (nvtx_fn)range_push_ex);
    set_slot(t, n, CORE_RangePushA, (nvtx_fn)range_push_a);
    set_slot(t, n, CORE_RangePushW, (nvtx_fn)range_push_w);
    set_slot(t, n, CORE_RangePop, (nvtx_fn)pop);
    set_slot(t, n, CORE_NameOsThreadA, (nvtx_fn)name_os_thread_a);
    set_slot(t, n, CORE_NameOsThreadW, (nvtx_fn)name_os_thread_w);
    return 1;
}

static void fill_core2(get_module_table_fn get)
{
    nvtx_fn **t = NULL;
    unsigned n = 0;
    if (!get(MODULE_CORE2, &t, &n) || !t) return;
    set_slot(t, n, CORE2_DomainMarkEx, (nvtx_fn)domain_mark_ex);
    set_slot(t, n, CORE2_DomainRangeStartEx, (nvtx_fn)domain_range_start_ex);
    set_slot(t, n, CORE2_DomainRangeEnd, (nvtx_fn)domain_range_end);
    set_slot(t, n, CORE2_DomainRangePushEx, (nvtx_fn)domain_range_push_ex);
    set_slot(t, n, CORE2_DomainRangePop, (nvtx_fn)domain_range_pop);
    set_slot(t, n, CORE2_DomainRegisterStringA, (nvtx_fn)register_string_a);
    set_slot(t, n, CORE2_DomainRegisterStringW, (nvtx_fn)register_string_w);
    set_slot(t, n, CORE2_DomainCreateA, (nvtx_fn)domain_create_a);
    set_slot(t, n, CORE2_DomainCreateW, (nvtx_fn)domain_create_w);
}

/* NVTX calls this once per library that embeds it, each with its own tables: fill all. */
__attribute__((visibility("default"))) int InitializeInjectionNvtx2(get_export_table_fn get)
{
    const export_table_callbacks *cb = get ? get(ETID_CALLBACKS) : NULL;
    if (!cb || cb->struct_size < sizeof *cb || !cb->get_module_function_table) return 0;
    if (!fill_core(cb->get_module_function_table)) return 0;
    fill_core2(cb->get_module_function_table);
    return 1;
}
