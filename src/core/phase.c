/* phase.c — the phase-tag hot path: per-thread lock-free event rings and the thread
 * registry the sampler drains them through. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/channel.h"
#include "base/clock.h"
#include "core/log.h"
#include "platform/platform.h"
#include "core/core.h"

#define DEFAULT_RING_EVENTS 16384u

_Atomic int pw_g_recording;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pw_ring *rings;                            /* every live or undrained ring */
static _Atomic uint32_t next_track = 1;
static _Atomic uint32_t ring_events = DEFAULT_RING_EVENTS;
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;

/* initial-exec TLS: one instruction to reach the ring, no __tls_get_addr call. */
static __thread pw_ring *tls_ring __attribute__((tls_model("initial-exec")));
static __thread int tls_failed __attribute__((tls_model("initial-exec")));

/* After this the drainer may free (or hand on) the ring, so later tags from this thread's
 * other destructors must not touch it. */
static void on_thread_exit(void *p)
{
    tls_ring = NULL;
    tls_failed = 1;
    if (!pw_channel_release_ring(p))
        atomic_store_explicit(&((pw_ring *)p)->dead, 1, memory_order_release);
}

/* exit() runs no thread-exit destructor: the thread calling it gives its shared ring back
 * here, so a short-lived process returns its ring at once (the others of a process that
 * dies are taken back by the recorder once it sees the death). */
static void on_process_exit(void)
{
    if (tls_ring) on_thread_exit(tls_ring);
}

/* A forked child starts with no ring: the parent's (private or shared) is not its own. */
static void after_fork_in_child(void)
{
    tls_ring = NULL;
    tls_failed = 0;
}

static void make_exit_key(void)
{
    (void)pthread_key_create(&exit_key, on_thread_exit);
    (void)pthread_atfork(NULL, NULL, after_fork_in_child);
}

void pw_rings_set_capacity(uint32_t events)
{
    uint32_t cap = 64;
    while (cap < events && cap < (1u << 26)) cap <<= 1;
    atomic_store(&ring_events, cap);
}

/* The library never stops the program it is in: a thread whose ring cannot be had stops
 * tagging (its calls return PW_ERR_NOMEM) and the first such failure is said once. */
static void thread_off(const char *why)
{
    static atomic_int said;
    tls_failed = 1;
    if (!atomic_exchange(&said, 1))
        pw_log(PW_LOG_WARN, "%s: this thread's phases are not recorded from now on (said once)",
               why);
}

/* Under `phasewatt record -- CMD` a thread's ring lives in the recorder's shared channel;
 * the recorder drains and recycles it, so it never joins the private registry. */
static pw_ring *register_shared(void)
{
    static atomic_int exit_hook;      /* inherited by forked children, like the hook itself */
    if (!atomic_exchange(&exit_hook, 1)) (void)atexit(on_process_exit);
    pw_ring *r = pw_channel_claim_ring();
    if (!r || pthread_setspecific(exit_key, r) != 0) {
        if (r) atomic_store_explicit(&r->dead, 1, memory_order_release);
        thread_off(r ? "no thread-exit key" : "every ring of the recorder's channel is taken "
                                              "(the recorder counts these events as lost)");
        return NULL;
    }
    tls_ring = r;
    return r;
}

/* A thread's first tag lands here: the one allocation and system call it ever makes. */
static __attribute__((noinline, cold)) pw_ring *register_thread(void)
{
    if (tls_failed) return NULL;
    pthread_once(&exit_key_once, make_exit_key);
    if (pw_channel_child_active()) return register_shared();
    uint32_t cap = atomic_load(&ring_events);
    pw_ring *r = calloc(1, sizeof *r + (size_t)cap * sizeof(pw_event));
    if (!r || pthread_setspecific(exit_key, r) != 0) {
        thread_off(r ? "no thread-exit key" : "out of memory for a thread's event ring");
        free(r);
        return NULL;
    }
    r->mask = cap - 1;
    r->track = atomic_fetch_add(&next_track, 1);
    r->pid = (uint32_t)getpid();
    r->tid = pw_thread_id();
    pthread_mutex_lock(&registry_lock);
    r->next = rings;
    rings = r;
    pthread_mutex_unlock(&registry_lock);
    tls_ring = r;
    return r;
}

static inline pw_ring *my_ring(void)
{
    pw_ring *r = tls_ring;
    return __builtin_expect(r != NULL, 1) ? r : register_thread();
}

/* Appends one event; a full ring drops it and counts the loss (never blocks). */
static inline void push(pw_ring *r, uint32_t type, uint32_t id, int64_t value)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (__builtin_expect(h - r->cached_tail > r->mask, 0)) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (h - r->cached_tail > r->mask) {
            uint64_t lost = atomic_load_explicit(&r->lost, memory_order_relaxed);
            atomic_store_explicit(&r->lost, lost + 1, memory_order_relaxed);
            return;
        }
    }
    pw_event *e = &r->slots[h & r->mask];
    e->t_ns = pw_now_ns();
    e->value = value;
    e->id = id;
    e->type = type;
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

static inline int recording(void)
{
    return atomic_load_explicit(&pw_g_recording, memory_order_relaxed);
}

int pw_begin(pw_id phase)
{
    pw_ring *r = my_ring();
    if (__builtin_expect(!r, 0)) return PW_ERR_NOMEM;
    if (__builtin_expect(phase == 0, 0)) return PW_ERR_INVALID;
    if (__builtin_expect(r->depth >= PW_MAX_DEPTH, 0)) return PW_ERR_TOO_DEEP;
    r->stack[r->depth++] = phase;
    if (recording()) push(r, PW_EV_BEGIN, phase, 0);
    return PW_OK;
}

int pw_end(void)
{
    pw_ring *r = my_ring();
    if (__builtin_expect(!r, 0)) return PW_ERR_NOMEM;
    if (__builtin_expect(r->depth == 0, 0)) return PW_ERR_UNBALANCED;
    uint32_t phase = r->stack[--r->depth];
    if (recording()) push(r, PW_EV_END, phase, 0);
    return PW_OK;
}

int pw_mark(pw_id name)
{
    pw_ring *r = my_ring();
    if (!r) return PW_ERR_NOMEM;
    if (name == 0) return PW_ERR_INVALID;
    if (recording()) push(r, PW_EV_MARK, name, 0);
    return PW_OK;
}

int pw_count(pw_id counter, int64_t n)
{
    pw_ring *r = my_ring();
    if (!r) return PW_ERR_NOMEM;
    if (counter == 0) return PW_ERR_INVALID;
    if (recording()) push(r, PW_EV_COUNT, counter, n);
    return PW_OK;
}

/* "cpu,gpu" -> PW_DEVICE_* bits; 0 for an empty list or an unknown word. */
static int64_t device_bits(const char *list)
{
    static const struct { const char *word; int64_t bit; } devices[] = {
        {"cpu", PW_DEVICE_CPU}, {"gpu", PW_DEVICE_GPU}, {"ane", PW_DEVICE_ANE}};
    int64_t bits = 0;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ","), i = 0;
        while (i < sizeof devices / sizeof devices[0] &&
               !(strlen(devices[i].word) == n && !strncmp(p, devices[i].word, n)))
            i++;
        if (i == sizeof devices / sizeof devices[0]) return 0;
        bits |= devices[i].bit;
        p += n + (p[n] == ',');
    }
    return bits;
}

int pw_track_devices(const char *devices)
{
    int64_t bits = devices ? device_bits(devices) : 0;
    if (!bits) return PW_ERR_INVALID;
    pw_id id = pw_counter_id(PW_DEVICES_COUNTER);
    return id ? pw_count(id, bits) : PW_ERR_LIMIT;
}

int pw_track_name(const char *name)
{
    if (!name || !*name) return PW_ERR_INVALID;
    pw_ring *r = my_ring();
    if (!r) return PW_ERR_NOMEM;
    char text[8 * PW_TRACK_LABEL_WORDS] = {0};
    size_t n = strlen(name);
    if (n >= sizeof text) {
        n = sizeof text - 1;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) n--;  /* whole UTF-8 */
    }
    memcpy(text, name, n);
    pw_track_label *l = &r->label;
    uint32_t seq = atomic_load_explicit(&l->seq, memory_order_relaxed);
    atomic_store_explicit(&l->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (int i = 0; i < PW_TRACK_LABEL_WORDS; i++) {
        uint64_t w;
        memcpy(&w, text + 8 * i, 8);
        atomic_store_explicit(&l->words[i], w, memory_order_relaxed);
    }
    atomic_store_explicit(&l->seq, seq + 2, memory_order_release);
    return PW_OK;
}

int pw_track_label_read(pw_track_label *l, uint32_t *seen, char out[8 * PW_TRACK_LABEL_WORDS])
{
    uint32_t seq = atomic_load_explicit(&l->seq, memory_order_acquire);
    if (seq == *seen || (seq & 1)) return 0;
    for (int i = 0; i < PW_TRACK_LABEL_WORDS; i++) {
        uint64_t w = atomic_load_explicit(&l->words[i], memory_order_relaxed);
        memcpy(out + 8 * i, &w, 8);
    }
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&l->seq, memory_order_relaxed) != seq) return 0;  /* torn */
    out[8 * PW_TRACK_LABEL_WORDS - 1] = '\0';   /* a shared ring's bytes are not trusted */
    *seen = seq;
    return 1;
}

void pw_track_label_reset(pw_track_label *l)
{
    for (int i = 0; i < PW_TRACK_LABEL_WORDS; i++)
        atomic_store_explicit(&l->words[i], 0, memory_order_relaxed);
    atomic_store_explicit(&l->seq, 0, memory_order_release);
}

int pw_begin_name(const char *name) { return pw_begin(pw_phase_id(name)); }
int pw_mark_name(const char *name) { return pw_mark(pw_phase_id(name)); }
int pw_count_name(const char *name, int64_t n) { return pw_count(pw_counter_id(name), n); }

uint64_t pw_ring_drain(pw_ring *r, pw_event_fn fn, void *ctx)
{
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    for (uint64_t i = t; i < h; i++) fn(r, &r->slots[i & r->mask], ctx);
    atomic_store_explicit(&r->tail, h, memory_order_release);
    return h - t;
}

void pw_rings_visit(pw_ring_fn fn, void *ctx)
{
    pthread_mutex_lock(&registry_lock);
    for (pw_ring **link = &rings; *link;) {
        pw_ring *r = *link;
        int dead = atomic_load_explicit(&r->dead, memory_order_acquire);
        fn(r, ctx);
        if (dead) {            /* drained after its thread exited: nothing can follow */
            *link = r->next;
            free(r);
        } else {
            link = &r->next;
        }
    }
    pthread_mutex_unlock(&registry_lock);
}
