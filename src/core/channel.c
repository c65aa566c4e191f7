/* channel.c — the cross-process phase channel: the shared region's layout, the recorded
 * program's side (attach, claim a ring, publish names) and the recorder's side (create,
 * drain with its own bounds, map names, recycle rings, close what a crash left open). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/channel.h"
#include "core/clock.h"
#include "platform/platform.h"

#define MAGIC 0x48435750u             /* "PWCH" */
#define VERSION 2u                    /* 2: rings carry a track label */
#define NAME_LOG_BYTES (4u << 20)     /* names of all processes; ~60k typical names */
#define CHANNEL_MAX_RINGS 4096u
#define ALIGN 64u

/* The region starts with this header; every offset and size in it is the recorder's, and
 * the recorder never reads them back: it keeps its own copy. */
typedef struct header {
    uint32_t magic, version;
    uint64_t size;
    uint32_t nrings, ring_events;
    uint64_t names_offset, names_bytes;
    uint64_t rings_offset, ring_stride;
    _Atomic uint64_t names_used;      /* bytes reserved in the name log */
    _Atomic uint64_t lost;            /* events with no ring, names with no room */
} header;

/* One name-log entry: ready is stored last, with release. */
typedef struct name_entry {
    _Atomic uint32_t ready;
    uint32_t pid, id, len;
    char text[];
} name_entry;

typedef struct layout {
    uint64_t size, names_offset, names_bytes, rings_offset, ring_stride;
    uint32_t nrings, ring_events;
} layout;

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static void compute_layout(uint32_t nrings, uint32_t ring_events, layout *L)
{
    L->nrings = nrings;
    L->ring_events = ring_events;
    L->names_offset = round_up(sizeof(header), ALIGN);
    L->names_bytes = NAME_LOG_BYTES;
    L->rings_offset = round_up(L->names_offset + L->names_bytes, ALIGN);
    L->ring_stride = round_up(sizeof(pw_ring) + (uint64_t)ring_events * sizeof(pw_event), ALIGN);
    L->size = L->rings_offset + (uint64_t)nrings * L->ring_stride;
}

static pw_ring *ring_at(void *base, const layout *L, uint32_t i)
{
    return (pw_ring *)(void *)((char *)base + L->rings_offset + (uint64_t)i * L->ring_stride);
}

/* ---- the recorded program's side -------------------------------------------------------- */

static pthread_once_t attach_once = PTHREAD_ONCE_INIT;
static void *g_base;                  /* the mapped region, or NULL */
static layout g_layout;

static int child_refuse(const char *path, const char *why)
{
    fprintf(stderr, "phasewatt: ignoring %s=%s: %s; this program's phases are not recorded\n",
            PW_CHANNEL_ENV, path, why);
    return -1;
}

/* The region must be ours alone: a regular file of this user, mode 0600, the size and
 * shape its header claims, made by this version. */
static int child_map(const char *path)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return child_refuse(path, strerror(errno));
    struct stat st;
    header h;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
             (st.st_mode & 077) == 0 && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h;
    layout L = {0};   /* read only when ok; zeroed so no path can see it unset */
    if (ok) compute_layout(h.nrings, h.ring_events, &L);
    ok = ok && h.magic == MAGIC && h.version == VERSION && h.nrings <= CHANNEL_MAX_RINGS &&
         h.ring_events >= 64 && (h.ring_events & (h.ring_events - 1)) == 0 &&
         h.size == L.size && (uint64_t)st.st_size == L.size;
    void *base = ok ? mmap(NULL, L.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
    close(fd);
    if (base == MAP_FAILED)
        return child_refuse(path, ok ? strerror(errno) : "not a phasewatt channel of this user "
                                                         "(owner, mode 0600, size, version)");
    g_layout = L;
    g_base = base;
    return 0;
}

static void attach(void)
{
    const char *path = getenv(PW_CHANNEL_ENV);
    if (!path || !*path || child_map(path) != 0) return;
    atomic_store(&pw_g_recording, 1);
}

int pw_channel_child_active(void)
{
    pthread_once(&attach_once, attach);
    return g_base != NULL;
}

pw_ring *pw_channel_claim_ring(void)
{
    if (!pw_channel_child_active()) return NULL;
    for (uint32_t i = 0; i < g_layout.nrings; i++) {
        pw_ring *r = ring_at(g_base, &g_layout, i);
        uint32_t free_ring = 0;
        if (!atomic_compare_exchange_strong(&r->claimed, &free_ring, 1)) continue;
        r->pid = (uint32_t)getpid();
        r->tid = pw_thread_id();
        r->depth = 0;
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        atomic_store_explicit(&r->claimed, 2, memory_order_release);
        return r;
    }
    atomic_fetch_add(&((header *)g_base)->lost, 1);
    return NULL;
}

void pw_channel_publish_name(uint32_t id, const char *name)
{
    if (!pw_channel_child_active()) return;
    header *h = g_base;
    size_t len = strlen(name);
    uint64_t bytes = round_up(sizeof(name_entry) + len + 1, 8);
    uint64_t off = atomic_fetch_add(&h->names_used, bytes);
    if (off + bytes > g_layout.names_bytes) {
        atomic_fetch_add(&h->lost, 1);
        return;
    }
    name_entry *e = (name_entry *)(void *)((char *)g_base + g_layout.names_offset + off);
    e->pid = (uint32_t)getpid();
    e->id = id;
    e->len = (uint32_t)len;
    memcpy(e->text, name, len + 1);
    atomic_store_explicit(&e->ready, 1, memory_order_release);
}

/* ---- the recorder's side ---------------------------------------------------------------- */

typedef struct ring_view {            /* what the recorder knows of a ring: never shared */
    uint32_t track;                   /* 0: not announced in this ownership */
    uint32_t pid;
    uint64_t tail, lost_reported;
    uint32_t label_seen;
    pw_open_stack open;               /* open phases, in this process's ids */
} ring_view;

typedef struct proc_names {           /* one recorded process's ids -> ours */
    uint32_t pid;
    uint32_t *map;
    uint32_t cap;
} proc_names;

struct pw_channel {
    char path[256];
    void *base;
    layout L;
    ring_view *view;
    proc_names *procs;
    size_t nprocs;
    uint64_t names_read;              /* bytes of the name log consumed */
    uint32_t next_track;
    uint64_t dropped;                 /* events whose name never arrived */
    int reaping;                      /* pw_channel_set_reaping */
    uint64_t polls;
};

static int create_file(char *path, size_t cap, char *why, size_t whylen)
{
    const char *tmp = getenv("TMPDIR");
    const char *dirs[] = {"/dev/shm", tmp && *tmp ? tmp : "/tmp", "/tmp"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
        for (int attempt = 0; attempt < 8; attempt++) {
            snprintf(path, cap, "%s/phasewatt-%d-%08lx", dirs[i], (int)getpid(),
                     (unsigned long)(pw_now_ns() * 2654435761u) & 0xffffffffu);
            int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
            if (fd >= 0) return fd;
            if (errno != EEXIST) break;
        }
    snprintf(why, whylen, "cannot create the phase channel in /dev/shm or /tmp: %s",
             strerror(errno));
    return -1;
}

int pw_channel_create(uint32_t nrings, uint32_t ring_events, pw_channel **out, char *why,
                      size_t whylen)
{
    *out = NULL;
    if (nrings == 0 || nrings > CHANNEL_MAX_RINGS || ring_events < 64 ||
        (ring_events & (ring_events - 1)))
        return PW_ERR_INVALID;
    pw_channel *ch = calloc(1, sizeof *ch);
    if (!ch || !(ch->view = calloc(nrings, sizeof *ch->view))) {
        free(ch);
        return PW_ERR_NOMEM;
    }
    compute_layout(nrings, ring_events, &ch->L);
    int fd = create_file(ch->path, sizeof ch->path, why, whylen);
    /* the file stays sparse: only the pages of rings that threads use become memory */
    if (fd >= 0 && ftruncate(fd, (off_t)ch->L.size) == 0)
        ch->base = mmap(NULL, ch->L.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd >= 0) close(fd);
    if (!ch->base || ch->base == MAP_FAILED) {
        if (fd >= 0) snprintf(why, whylen, "cannot map the phase channel %s: %s", ch->path,
                              strerror(errno));
        if (fd >= 0) unlink(ch->path);
        free(ch->view);
        free(ch);
        return PW_ERR_IO;
    }
    header *h = ch->base;
    *h = (header){MAGIC, VERSION, ch->L.size, nrings, ring_events, ch->L.names_offset,
                  ch->L.names_bytes, ch->L.rings_offset, ch->L.ring_stride, 0, 0};
    for (uint32_t i = 0; i < nrings; i++) ring_at(ch->base, &ch->L, i)->mask = ring_events - 1;
    ch->next_track = 1u << 20;        /* apart from in-process tracks */
    *out = ch;
    return PW_OK;
}

const char *pw_channel_path(const pw_channel *ch) { return ch->path; }

void pw_channel_destroy(pw_channel *ch)
{
    if (!ch) return;
    munmap(ch->base, ch->L.size);
    unlink(ch->path);
    for (size_t i = 0; i < ch->nprocs; i++) free(ch->procs[i].map);
    free(ch->procs);
    free(ch->view);
    free(ch);
}

uint64_t pw_channel_lost(const pw_channel *ch)
{
    return atomic_load(&((header *)ch->base)->lost) + ch->dropped;
}

static proc_names *proc_of(pw_channel *ch, uint32_t pid, int create)
{
    for (size_t i = 0; i < ch->nprocs; i++)
        if (ch->procs[i].pid == pid) return &ch->procs[i];
    if (!create) return NULL;
    proc_names *p = realloc(ch->procs, (ch->nprocs + 1) * sizeof *p);
    if (!p) return NULL;
    ch->procs = p;
    p[ch->nprocs] = (proc_names){pid, NULL, 0};
    return &p[ch->nprocs++];
}

static void map_name(pw_channel *ch, uint32_t pid, uint32_t id, const char *text)
{
    proc_names *p = proc_of(ch, pid, 1);
    uint32_t ours = pw_phase_id(text);
    if (!p || !ours || id >= (1u << 24)) return;
    if (id >= p->cap) {
        uint32_t cap = p->cap ? p->cap : 64;
        while (cap <= id) cap *= 2;
        uint32_t *m = realloc(p->map, cap * sizeof *m);
        if (!m) return;
        memset(m + p->cap, 0, (cap - p->cap) * sizeof *m);
        p->map = m;
        p->cap = cap;
    }
    p->map[id] = ours;
}

/* Reads newly published names; stops at the first entry still being written. Lengths are
 * checked against the log's end and the name limit: the writer is not trusted. */
static void read_names(pw_channel *ch)
{
    header *h = ch->base;
    uint64_t used = atomic_load_explicit(&h->names_used, memory_order_acquire);
    if (used > ch->L.names_bytes) used = ch->L.names_bytes;
    char text[PW_MAX_NAME + 1];
    while (ch->names_read + sizeof(name_entry) <= used) {
        name_entry *e = (name_entry *)(void *)((char *)ch->base + ch->L.names_offset +
                                               ch->names_read);
        if (!atomic_load_explicit(&e->ready, memory_order_acquire)) return;
        uint32_t len = e->len;
        uint64_t bytes = round_up(sizeof(name_entry) + (uint64_t)len + 1, 8);
        if (len > PW_MAX_NAME || ch->names_read + bytes > ch->L.names_bytes) {
            ch->names_read = ch->L.names_bytes;   /* a corrupt log: read no further */
            return;
        }
        memcpy(text, e->text, len);
        text[len] = '\0';
        map_name(ch, e->pid, e->id, text);
        ch->names_read += bytes;
    }
}

static uint32_t our_id(pw_channel *ch, uint32_t pid, uint32_t id)
{
    for (int pass = 0; pass < 2; pass++) {
        proc_names *p = proc_of(ch, pid, 0);
        if (p && id < p->cap && p->map[id]) return p->map[id];
        if (!pass) read_names(ch);    /* published just before its first use */
    }
    return 0;
}

/* A new owner of a ring gets a new track; a rename re-sends the track record. */
static void announce(pw_channel *ch, pw_ring *r, ring_view *v, const pw_channel_sink *sink)
{
    char name[8 * PW_TRACK_LABEL_WORDS];
    int renamed = pw_track_label_read(&r->label, &v->label_seen, name);
    int first = !v->track;
    if (!first && !renamed) return;
    if (first) {
        v->track = ch->next_track++;
        v->pid = r->pid;
    }
    sink->track(sink->ctx, v->track, v->pid, r->tid, renamed ? name : NULL, first);
}

/* Drains with the recorder's own capacity and tail: a corrupt head costs events, never a
 * read outside the ring. */
static void drain_ring(pw_channel *ch, pw_ring *r, ring_view *v, const pw_channel_sink *sink)
{
    uint64_t cap = ch->L.ring_events;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    if (head - v->tail > cap) v->tail = head - cap;
    for (; v->tail < head; v->tail++) {
        pw_event ev = r->slots[v->tail & (cap - 1)];
        if (ev.type < PW_EV_BEGIN || ev.type > PW_EV_COUNT) continue;
        ev.id = our_id(ch, v->pid, ev.id);
        if (!ev.id) {
            ch->dropped++;
            continue;
        }
        pw_open_stack_follow(&v->open, &ev);   /* for closing them after a crash */
        sink->event(sink->ctx, v->track, &ev);
    }
    atomic_store_explicit(&r->tail, head, memory_order_release);
    uint64_t lost = atomic_load_explicit(&r->lost, memory_order_relaxed);
    if (lost != v->lost_reported && lost > v->lost_reported) {
        sink->loss(sink->ctx, v->track, lost, v->lost_reported);
        v->lost_reported = lost;
    }
}

/* A ring whose thread exited and which is drained goes back to the pool. */
static void recycle(pw_ring *r, ring_view *v)
{
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&r->lost, 0, memory_order_relaxed);
    atomic_store_explicit(&r->dead, 0, memory_order_relaxed);
    pw_track_label_reset(&r->label);
    memset(v, 0, sizeof *v);
    atomic_store_explicit(&r->claimed, 0, memory_order_release);
}

void pw_channel_set_reaping(pw_channel *ch, int on) { ch->reaping = on; }

/* A claimed ring whose process is gone (checked every REAP_EVERY polls: one kill(pid, 0)
 * per ring). */
#define REAP_EVERY 64
static int owner_gone(const pw_channel *ch, const pw_ring *r)
{
    return ch->reaping && ch->polls % REAP_EVERY == 0 && r->pid &&
           kill((pid_t)r->pid, 0) != 0 && errno == ESRCH;
}

/* Ends the n innermost phases the recorder's view of a ring holds open, at t_ns. */
static uint64_t end_open(ring_view *v, int n, uint64_t t_ns, const pw_channel_sink *sink)
{
    uint64_t ended = 0;
    for (; n > 0 && v->open.depth > 0; n--, ended++) {
        pw_event ev = {.t_ns = t_ns, .id = v->open.ids[--v->open.depth], .type = PW_EV_END};
        sink->event(sink->ctx, v->track, &ev);
    }
    return ended;
}

/* Forgets the name maps of processes that are gone and hold no ring, so a long-lived
 * recorder's memory follows the processes alive, not every process it ever saw. */
static void forget_dead_processes(pw_channel *ch)
{
    size_t keep = 0;
    for (size_t i = 0; i < ch->nprocs; i++) {
        proc_names *p = &ch->procs[i];
        int held = 0;
        for (uint32_t r = 0; r < ch->L.nrings && !held; r++) {
            pw_ring *ring = ring_at(ch->base, &ch->L, r);
            held = atomic_load_explicit(&ring->claimed, memory_order_acquire) && ring->pid == p->pid;
        }
        if (!held && kill((pid_t)p->pid, 0) != 0 && errno == ESRCH) {
            free(p->map);
            continue;
        }
        ch->procs[keep++] = *p;
    }
    ch->nprocs = keep;
}

void pw_channel_poll(pw_channel *ch, const pw_channel_sink *sink)
{
    read_names(ch);
    ch->polls++;
    if (ch->reaping && ch->polls % (16 * REAP_EVERY) == 0) forget_dead_processes(ch);
    for (uint32_t i = 0; i < ch->L.nrings; i++) {
        pw_ring *r = ring_at(ch->base, &ch->L, i);
        if (atomic_load_explicit(&r->claimed, memory_order_acquire) != 2) continue;
        int dead = atomic_load_explicit(&r->dead, memory_order_acquire);
        ring_view *v = &ch->view[i];
        announce(ch, r, v, sink);
        drain_ring(ch, r, v, sink);
        if (!dead && owner_gone(ch, r)) {   /* its phases end now, when its death is seen */
            end_open(v, v->open.depth, pw_now_ns(), sink);
            dead = 1;
        }
        if (dead) recycle(r, v);
    }
}

uint64_t pw_channel_close_open(pw_channel *ch, const pw_channel_sink *sink, uint64_t t_ns)
{
    pw_channel_poll(ch, sink);
    uint64_t closed = 0;
    for (uint32_t i = 0; i < ch->L.nrings; i++) {
        ring_view *v = &ch->view[i];
        /* The thread's own stack depth is the truth: after lost END events the recorder's
         * view holds phases that were in fact closed. */
        int depth = ring_at(ch->base, &ch->L, i)->depth;
        closed += end_open(v, depth >= 0 && depth < v->open.depth ? depth : v->open.depth, t_ns,
                           sink);
    }
    return closed;
}
