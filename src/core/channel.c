/* channel.c — the cross-process phase channel: the shared region's layout, the recorded
 * program's side (attach, claim and give back a ring, publish names) and the recorder's
 * side (create and reserve, drain with its own bounds, map names, take rings back from
 * exited threads and dead processes, close what a crash left open). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#ifdef __linux__
#include <sys/sysmacros.h>   /* major, minor: <sys/types.h> has them elsewhere */
#endif
#include <unistd.h>

#include "core/channel.h"
#include "base/clock.h"
#include "core/log.h"
#include "platform/platform.h"

#define MAGIC 0x48435750u             /* "PWCH" */
#define VERSION 3u                    /* 3: recorder identity, reusable name log, exit times */
/* The name log is reused as the recorder reads it, so it holds only what is published
 * between two drains: 32 KB a ring, 64 KB to 4 MB. */
#define NAME_LOG_PER_RING (32u << 10)
#define NAME_LOG_MIN (64u << 10)
#define NAME_LOG_MAX (4u << 20)
#define ALIGN 64u
#define ENTRY_ALIGN 16u
#define MAX_PROCS 4096u               /* processes whose names the recorder keeps at once */
#define MAX_MAPPED (1u << 20)         /* their names, all together */
#define MAX_OWN_NAMES (1u << 18)      /* past this the recorder interns no channel name */
#define MAX_OWN_BYTES (64ull << 20)   /* nor past this many bytes of new names from one */
#define REAP_NS 10000000ull           /* how often owners' deaths are looked for: 10 ms */
#define FORGET_NS 2000000000ull       /* a dead process's names outlive it: 2 s (see below) */
#define STUCK_POLLS 256               /* a name entry unfinished this long: its writer died */

/* The region starts with this header; every offset and size in it is the recorder's, and
 * the recorder never reads them back: it keeps its own copy. */
typedef struct header {
    uint32_t magic, version;
    uint64_t size;
    uint32_t nrings, ring_events;
    uint64_t names_offset, names_bytes, meta_offset, rings_offset, ring_stride;
    uint32_t recorder_pid, owner_uid;       /* who made it: clients refuse an orphan */
    uint64_t recorder_start, recorder_pidns;
    _Atomic uint64_t names_used;      /* bytes ever reserved in the name log */
    _Atomic uint64_t names_consumed;  /* bytes ever read (and cleared) by the recorder */
    _Atomic uint64_t no_ring;         /* threads that found no free ring */
    _Atomic uint64_t names_dropped;   /* names that found no room */
} header;

/* One name-log entry, 16-byte aligned, never across the log's end; kind is stored last. */
enum { ENTRY_EMPTY, ENTRY_NAME, ENTRY_PAD, ENTRY_FORK };
typedef struct name_entry {
    _Atomic uint32_t kind;
    uint32_t pid, id, len;            /* ENTRY_FORK: id = names inherited, text = parent pid */
    char text[];
} name_entry;

typedef struct ring_meta {            /* per ring, beside it: when its owner gave it back */
    _Atomic uint64_t exit_ns;
} ring_meta;

typedef struct layout {
    uint64_t size, names_offset, names_bytes, meta_offset, rings_offset, ring_stride;
    uint32_t nrings, ring_events;
} layout;

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static void compute_layout(uint32_t nrings, uint32_t ring_events, layout *L)
{
    L->nrings = nrings;
    L->ring_events = ring_events;
    L->names_offset = round_up(sizeof(header), ALIGN);
    uint64_t log = (uint64_t)nrings * NAME_LOG_PER_RING;
    L->names_bytes = log < NAME_LOG_MIN ? NAME_LOG_MIN : log > NAME_LOG_MAX ? NAME_LOG_MAX : log;
    L->meta_offset = L->names_offset + L->names_bytes;
    L->rings_offset = round_up(L->meta_offset + (uint64_t)nrings * sizeof(ring_meta), ALIGN);
    L->ring_stride = round_up(sizeof(pw_ring) + (uint64_t)ring_events * sizeof(pw_event), ALIGN);
    L->size = L->rings_offset + (uint64_t)nrings * L->ring_stride;
}

static pw_ring *ring_at(void *base, const layout *L, uint32_t i)
{
    return (pw_ring *)(void *)((char *)base + L->rings_offset + (uint64_t)i * L->ring_stride);
}

static ring_meta *meta_at(void *base, const layout *L, uint32_t i)
{
    return (ring_meta *)(void *)((char *)base + L->meta_offset) + i;
}

static name_entry *entry_at(void *base, const layout *L, uint64_t at)
{
    return (name_entry *)(void *)((char *)base + L->names_offset + at);
}

static uint64_t entry_bytes(uint64_t len)
{
    return round_up(sizeof(name_entry) + len + 1, ENTRY_ALIGN);
}

/* ---- processes, as /proc sees them ------------------------------------------------------ */

/* 1: alive (start time in *start), 0: gone or a zombie, -1: /proc cannot tell. */
static int proc_state(uint32_t pid, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT || errno == ESRCH ? 0 : -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');      /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ') return -1;
    char state = p[2];
    p += 2;
    for (int field = 3; field < 22 && p; field++) {   /* starttime is field 22 */
        p = strchr(p, ' ');
        if (p) p++;
    }
    if (!p) return -1;
    *start = strtoull(p, NULL, 10);
    return state == 'Z' || state == 'X' ? 0 : 1;
}

/* Whether pid is still the process that started at start (0: any); without /proc, only
 * whether the pid exists. */
static int process_alive(uint32_t pid, uint64_t start)
{
    static int proc_works = -1;
    uint64_t self_start, now_start = 0;
    if (proc_works < 0) proc_works = proc_state((uint32_t)getpid(), &self_start) == 1;
    int st = proc_works ? proc_state(pid, &now_start) : -1;
    if (st < 0) return pid && !(kill((pid_t)pid, 0) != 0 && errno == ESRCH);
    return st == 1 && (!start || now_start == start);
}

/* 1 when pid maps the file (dev, ino), 0 when it does not, -1 when its maps cannot be read
 * (gone, a zombie's are empty, another user's). */
static int maps_file(uint32_t pid, dev_t dev, ino_t ino)
{
#ifndef __linux__
    (void)pid, (void)dev, (void)ino;
    return -1;   /* no /proc/PID/maps: the owner cannot be checked, so it is believed */
#else
    char path[64], want[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%u/maps", pid);
    /* a mapping's line: "ADDR PERMS OFFSET MAJ:MIN INODE   PATH" */
    size_t wlen = (size_t)snprintf(want, sizeof want, " %02x:%02x %llu ", major(dev), minor(dev),
                                   (unsigned long long)ino);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t keep = 0;
    int found = 0, any = 0;
    for (ssize_t n; !found && (n = read(fd, buf + keep, sizeof buf - 1 - keep)) > 0;) {
        size_t len = keep + (size_t)n;
        buf[len] = '\0';
        any = 1;
        found = strstr(buf, want) != NULL;
        keep = len < wlen ? len : wlen;   /* a line cut by the read is whole in the next */
        memmove(buf, buf + len - keep, keep);
    }
    close(fd);
    return found ? 1 : any ? 0 : -1;
#endif
}

static uint64_t pid_namespace(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* A region's recorder is alive; from another pid namespace it cannot be told, so it is. */
static int recorder_alive(const header *h)
{
    uint64_t ns = pid_namespace();
    if (!ns || !h->recorder_pidns || ns != h->recorder_pidns) return 1;
    return process_alive(h->recorder_pid, h->recorder_start);
}

/* ---- the recorded program's side -------------------------------------------------------- */

static pthread_once_t attach_once = PTHREAD_ONCE_INIT;
static void *g_base;                  /* the mapped region, or NULL */
static layout g_layout;

static int child_refuse(const char *path, const char *why)
{
    pw_log(PW_LOG_WARN, "ignoring %s=%s: %s; this program's phases are not recorded",
           PW_CHANNEL_ENV, path, why);
    return -1;
}

/* The region must be ours alone: a regular file of this user, mode 0600, every page
 * reserved, the size and shape its header claims, made by this version. */
static int region_ok(int fd, const struct stat *st, header *h, layout *L)
{
    if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() || (st->st_mode & 077) ||
        pread(fd, h, sizeof *h, 0) != (ssize_t)sizeof *h)
        return 0;
    if (h->magic != MAGIC || h->version != VERSION || h->nrings > PW_CHANNEL_MAX_RINGS ||
        h->ring_events < 64 || (h->ring_events & (h->ring_events - 1)) || h->owner_uid != geteuid())
        return 0;
    compute_layout(h->nrings, h->ring_events, L);
    return h->size == L->size && (uint64_t)st->st_size == L->size &&
           (uint64_t)st->st_blocks * 512u >= L->size;
}

static void child_after_fork(void);

static int child_map(const char *path)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return child_refuse(path, strerror(errno));
    struct stat st;
    header h;
    layout L = {0};
    int ok = fstat(fd, &st) == 0 && region_ok(fd, &st, &h, &L);
    int orphan = ok && !recorder_alive(&h);
    void *base = ok && !orphan ? mmap(NULL, L.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                               : MAP_FAILED;
    close(fd);
    if (orphan) {
        char why[128];
        snprintf(why, sizeof why, "an orphaned phasewatt channel: its recorder (pid %u) is gone",
                 h.recorder_pid);
        return child_refuse(path, why);
    }
    if (base == MAP_FAILED)
        return child_refuse(path, ok ? strerror(errno)
                                     : "not a phasewatt channel of this user (owner, mode "
                                       "0600, reserved size, version)");
    g_layout = L;
    g_base = base;
    (void)pthread_atfork(NULL, NULL, child_after_fork);
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

/* Reserves room for one entry (and the padding to the log's end if it would not fit
 * before it) without waiting: a full log drops the entry and counts it. */
static void publish(uint32_t kind, uint32_t id, const void *text, uint32_t len)
{
    header *h = g_base;
    uint64_t n = g_layout.names_bytes, bytes = entry_bytes(len), pad;
    uint64_t used = atomic_load_explicit(&h->names_used, memory_order_relaxed);
    do {
        uint64_t at = used % n;
        pad = n - at < bytes ? n - at : 0;
        uint64_t consumed = atomic_load_explicit(&h->names_consumed, memory_order_acquire);
        /* not used - consumed: the recorder may have read past a stale used, which the
         * exchange below then refreshes (the difference would wrap and drop the entry) */
        if (used + pad + bytes > consumed + n) {
            atomic_fetch_add(&h->names_dropped, 1);
            return;
        }
    } while (!atomic_compare_exchange_weak(&h->names_used, &used, used + pad + bytes));
    if (pad) atomic_store_explicit(&entry_at(g_base, &g_layout, used % n)->kind, ENTRY_PAD,
                                   memory_order_release);
    name_entry *e = entry_at(g_base, &g_layout, (used + pad) % n);
    e->pid = (uint32_t)getpid();
    e->id = id;
    e->len = len;
    memcpy(e->text, text, len);
    e->text[len] = '\0';
    atomic_store_explicit(&e->kind, kind, memory_order_release);
}

void pw_channel_publish_name(uint32_t id, const char *name)
{
    if (pw_channel_child_active()) publish(ENTRY_NAME, id, name, (uint32_t)strlen(name));
}

/* A forked child uses the ids its parent interned before the fork: the recorder copies
 * them instead of the child publishing every name again. */
static void child_after_fork(void)
{
    if (!g_base) return;
    uint32_t parent = (uint32_t)getppid();
    publish(ENTRY_FORK, pw_names_count(), &parent, sizeof parent);
}

/* A ring one thread of this process gave back may come to another through the recorder, a
 * process no thread here can see: the claims and releases of this process also pass through
 * one lock, so each new owner happens after the last (rare: once per thread). */
static pthread_mutex_t claim_lock = PTHREAD_MUTEX_INITIALIZER;

pw_ring *pw_channel_claim_ring(void)
{
    if (!pw_channel_child_active()) return NULL;
    pthread_mutex_lock(&claim_lock);
    for (uint32_t i = 0; i < g_layout.nrings; i++) {
        pw_ring *r = ring_at(g_base, &g_layout, i);
        uint32_t free_ring = 0;
        if (!atomic_compare_exchange_strong(&r->claimed, &free_ring, 1)) continue;
        r->pid = (uint32_t)getpid();
        r->tid = pw_thread_id();
        r->depth = 0;
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        atomic_store_explicit(&r->claimed, 2, memory_order_release);
        pthread_mutex_unlock(&claim_lock);
        return r;
    }
    pthread_mutex_unlock(&claim_lock);
    atomic_fetch_add(&((header *)g_base)->no_ring, 1);
    return NULL;
}

int pw_channel_release_ring(pw_ring *r)
{
    char *p = (char *)r, *rings = g_base ? (char *)g_base + g_layout.rings_offset : NULL;
    if (!rings || p < rings || p >= rings + (uint64_t)g_layout.nrings * g_layout.ring_stride)
        return 0;
    uint32_t i = (uint32_t)((uint64_t)(p - rings) / g_layout.ring_stride);
    pthread_mutex_lock(&claim_lock);
    atomic_store_explicit(&meta_at(g_base, &g_layout, i)->exit_ns, pw_now_ns(),
                          memory_order_relaxed);
    atomic_store_explicit(&r->dead, 1, memory_order_release);
    pthread_mutex_unlock(&claim_lock);
    return 1;
}

/* ---- the recorder's side ---------------------------------------------------------------- */

typedef struct ring_view {            /* what the recorder knows of a ring: never shared */
    uint32_t track;                   /* 0: not announced in this ownership */
    uint32_t pid, proc;               /* proc: index + 1 into procs, checked before use */
    uint64_t start;                   /* the owner's start time, to tell a reused pid */
    uint64_t tail, lost_reported;
    uint32_t label_seen;
    int excess;                       /* BEGINs cut past PW_MAX_DEPTH, still open */
    pw_open_stack open;               /* open phases, in this process's ids */
} ring_view;

typedef struct id_pair { uint32_t id, ours; } id_pair;

typedef struct proc_names {           /* one recorded process's ids -> ours */
    uint32_t pid;
    uint64_t dead_since;              /* when first seen gone holding no ring; 0: not yet */
    id_pair *slot;                    /* open addressing, id 0 = empty, at most half full */
    uint32_t cap, n;
} proc_names;

struct pw_channel {
    char path[256];
    void *base;
    layout L;
    ring_view *view;
    proc_names *procs;
    size_t nprocs;
    uint64_t mapped;                  /* names in all procs' maps */
    uint64_t own_bytes;               /* of names this channel added to ours */
    uint64_t names_read;              /* log bytes consumed */
    uint64_t stuck_at;
    int stuck_polls;
    uint32_t next_track;
    _Atomic uint32_t spared_pid;      /* set by record's thread while the sampler drains */
    uint64_t t0, last_reap, reaps, last_forced;
    int reaping;
    dev_t dev;                        /* the region's file: a ring's owner must map it */
    ino_t ino;
    uint64_t count[PW_CH_NCOUNTS];    /* the recorder's own; the header holds the writers' */
};

static const struct {
    const char *key, *phrase;
} counts[PW_CH_NCOUNTS] = {
    [PW_CH_NO_RING] = {"channel.no_ring", "%llu thread(s) found every ring of the channel "
                                          "taken: their phases are not recorded"},
    [PW_CH_NAMES_DROPPED] = {"channel.names_dropped", "%llu name(s) found the channel's name "
                                                      "log full: their events are lost"},
    [PW_CH_UNNAMED] = {"channel.unnamed_events", "%llu event(s) whose name never reached the "
                                                 "recorder were dropped"},
    [PW_CH_BAD_TIME] = {"channel.bad_time", "%llu event(s) stamped outside the recording "
                                            "were dropped"},
    [PW_CH_TOO_DEEP] = {"channel.too_deep", "%llu phase(s) nested deeper than 64 levels "
                                            "were cut"},
    [PW_CH_PIDS_OVER] = {"channel.pids_over", "%llu process(es) past the recorder's cap: "
                                              "their names are not kept"},
    [PW_CH_NAMES_OVER] = {"channel.names_over", "%llu name(s) past the recorder's cap were "
                                                "not kept"},
    [PW_CH_CORRUPT] = {"channel.corrupt", "%llu entry(ies) of the channel made no sense and "
                                          "were skipped"},
    [PW_CH_FORGED] = {"channel.forged", "%llu ring(s) claimed under the pid of a process "
                                        "that does not map the channel were refused"},
    [PW_CH_EXITED_OPEN] = {"channel.exited_open", "%llu phase(s) were still open when their "
                                                  "thread or process exited: ended then"},
    [PW_CH_REAPED] = {"channel.reaped", "%llu ring(s) taken back from processes that died "
                                        "without ending their threads"},
};

const char *pw_channel_count_key(pw_channel_count which)
{
    return (unsigned)which < PW_CH_NCOUNTS ? counts[which].key : NULL;
}

const char *pw_channel_count_phrase(pw_channel_count which)
{
    return (unsigned)which < PW_CH_NCOUNTS ? counts[which].phrase : NULL;
}

uint64_t pw_channel_count_of(const pw_channel *ch, pw_channel_count which)
{
    header *h = ch->base;
    if (which == PW_CH_NO_RING) return atomic_load(&h->no_ring);
    if (which == PW_CH_NAMES_DROPPED) return atomic_load(&h->names_dropped);
    return (unsigned)which < PW_CH_NCOUNTS ? ch->count[which] : 0;
}

uint64_t pw_channel_lost(const pw_channel *ch)
{
    uint64_t lost = 0;
    for (int i = 0; i < PW_CH_EXITED_OPEN; i++) lost += pw_channel_count_of(ch, i);
    return lost;
}

int pw_channel_describe(const pw_channel *ch, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < PW_CH_EXITED_OPEN && len < cap; i++) {
        uint64_t n = pw_channel_count_of(ch, i);
        if (!n) continue;
        if (len) len += (size_t)snprintf(buf + len, cap - len, "; ");
        if (len < cap)
            len += (size_t)snprintf(buf + len, cap - len, counts[i].phrase, (unsigned long long)n);
    }
    return len > 0;
}

/* ---- creating the region ---------------------------------------------------------------- */

static int channel_dirs(const char *dirs[3])
{
    const char *tmp = getenv("TMPDIR");
    dirs[0] = "/dev/shm";
    dirs[1] = tmp && *tmp ? tmp : "/tmp";
    dirs[2] = "/tmp";
    return strcmp(dirs[1], "/tmp") ? 3 : 2;
}

/* A channel of this user whose recorder is gone (SIGKILLed record or serve) is removed;
 * one of an older version, when the pid in its name is gone. */
static void remove_orphan(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    header h;
    int ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
               pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h && h.magic == MAGIC;
    close(fd);
    unsigned pid = 0;
    int orphan = ours && (h.version == VERSION ? !recorder_alive(&h)
                                               : sscanf(name, "phasewatt-%u-", &pid) == 1 &&
                                                     !process_alive(pid, 0));
    if (orphan) unlink(path);
}

static void remove_orphans(void)
{
    const char *dirs[3];
    int n = channel_dirs(dirs);
    for (int i = 0; i < n; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        for (struct dirent *e; (e = readdir(d));)
            if (!strncmp(e->d_name, "phasewatt-", 10)) remove_orphan(dirs[i], e->d_name);
        closedir(d);
    }
}

static int create_file(const char *dir, char *path, size_t cap)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        snprintf(path, cap, "%s/phasewatt-%d-%08lx", dir, (int)getpid(),
                 (unsigned long)(pw_now_ns() * 2654435761u) & 0xffffffffu);
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        struct stat st;
        if (fd >= 0 && fchmod(fd, 0600) == 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
            st.st_uid == geteuid())
            return fd;
        if (fd >= 0) {
            close(fd);
            unlink(path);
            errno = EPERM;
            return -1;
        }
        if (errno != EEXIST) return -1;
    }
    return -1;
}

/* Fewer rings first, then shorter ones; 0 when already the least. */
static int shrink(layout *L)
{
    if (L->nrings > PW_CHANNEL_MIN_RINGS)
        compute_layout(L->nrings / 2 > PW_CHANNEL_MIN_RINGS ? L->nrings / 2 : PW_CHANNEL_MIN_RINGS,
                       L->ring_events, L);
    else if (L->ring_events > PW_CHANNEL_MIN_EVENTS)
        compute_layout(L->nrings, L->ring_events / 2, L);
    else
        return 0;
    return 1;
}

static double mb(uint64_t bytes) { return (double)bytes / (1024.0 * 1024.0); }

/* Creates a region in dir with every page reserved, shrinking L while dir's space does not
 * hold it. Returns the descriptor, or -1 (errno ENOSPC: not even the least fits). */
static int reserve_in(const char *dir, layout *L, char *path, size_t cap, char *space,
                      size_t spacelen)
{
    int fd = create_file(dir, path, cap);
    if (fd < 0) return -1;
    struct statvfs vfs;
    uint64_t avail = UINT64_MAX;
    if (fstatvfs(fd, &vfs) == 0) {
        avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        snprintf(space, spacelen, "%s has %.1f MB free of %.1f MB", dir, mb(avail),
                 mb((uint64_t)vfs.f_blocks * vfs.f_frsize));
    }
    for (;;) {
        int err = L->size <= avail ? pw_reserve_file(fd, L->size) : ENOSPC;
        if (err == 0 && ftruncate(fd, (off_t)L->size) == 0) return fd;
        if (err != ENOSPC && err != EFBIG && err != 0) {
            errno = err;
            break;
        }
        if (!shrink(L)) {
            errno = ENOSPC;
            break;
        }
    }
    int saved = errno;
    close(fd);
    unlink(path);
    errno = saved;
    return -1;
}

/* Tries every directory; says what it cut, or why nothing fits. */
static int reserve(pw_channel *ch, uint32_t nrings, uint32_t ring_events, char *why,
                   size_t whylen)
{
    const char *dirs[3];
    int ndirs = channel_dirs(dirs);
    char first_space[160] = "", space[160];
    int err = 0;
    for (int i = 0; i < ndirs; i++) {
        compute_layout(nrings, ring_events, &ch->L);
        space[0] = '\0';
        int fd = reserve_in(dirs[i], &ch->L, ch->path, sizeof ch->path, space, sizeof space);
        if (!i) snprintf(first_space, sizeof first_space, "%s", space);
        if (fd >= 0) {
            if (ch->L.nrings != nrings || ch->L.ring_events != ring_events)
                snprintf(why, whylen, "%s: the phase channel has %u rings of %u events instead of "
                         "%u of %u (--rings %u --ring %u fit)", space, ch->L.nrings,
                         ch->L.ring_events, nrings, ring_events, ch->L.nrings, ch->L.ring_events);
            else if (i)
                snprintf(why, whylen, "%s: the phase channel is in %s", first_space, dirs[i]);
            return fd;
        }
        if (!err || errno != ENOSPC) err = errno;
    }
    layout least;
    compute_layout(PW_CHANNEL_MIN_RINGS, PW_CHANNEL_MIN_EVENTS, &least);
    if (err == ENOSPC)
        snprintf(why, whylen, "cannot reserve the phase channel: %s and even --rings %u --ring "
                 "%u (%.1f MB) fits nowhere", first_space[0] ? first_space : "/dev/shm is full",
                 PW_CHANNEL_MIN_RINGS, PW_CHANNEL_MIN_EVENTS, mb(least.size));
    else
        snprintf(why, whylen, "cannot create the phase channel in /dev/shm or /tmp: %s",
                 strerror(err));
    return -1;
}

int pw_channel_create(uint32_t nrings, uint32_t ring_events, pw_channel **out, char *why,
                      size_t whylen)
{
    *out = NULL;
    if (whylen) why[0] = '\0';
    if (nrings == 0 || nrings > PW_CHANNEL_MAX_RINGS || ring_events < 64 ||
        (ring_events & (ring_events - 1)))
        return PW_ERR_INVALID;
    remove_orphans();
    pw_channel *ch = calloc(1, sizeof *ch);
    if (!ch) return PW_ERR_NOMEM;
    int fd = reserve(ch, nrings, ring_events, why, whylen);
    if (fd >= 0) ch->view = calloc(ch->L.nrings, sizeof *ch->view);
    struct stat st;
    if (fd >= 0 && ch->view && fstat(fd, &st) == 0) {
        ch->dev = st.st_dev;
        ch->ino = st.st_ino;
        ch->base = mmap(NULL, ch->L.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    }
    if (fd >= 0) close(fd);
    if (!ch->base || ch->base == MAP_FAILED) {
        int rc = fd < 0 ? PW_ERR_IO : PW_ERR_NOMEM;
        if (fd >= 0) {
            snprintf(why, whylen, "cannot map the phase channel %s: %s", ch->path, strerror(errno));
            unlink(ch->path);
        }
        free(ch->view);
        free(ch);
        return rc;
    }
    header *h = ch->base;
    uint64_t start = 0;
    (void)proc_state((uint32_t)getpid(), &start);
    *h = (header){.magic = MAGIC, .version = VERSION, .size = ch->L.size,
                  .nrings = ch->L.nrings, .ring_events = ch->L.ring_events,
                  .names_offset = ch->L.names_offset, .names_bytes = ch->L.names_bytes,
                  .meta_offset = ch->L.meta_offset, .rings_offset = ch->L.rings_offset,
                  .ring_stride = ch->L.ring_stride, .recorder_pid = (uint32_t)getpid(),
                  .owner_uid = (uint32_t)geteuid(), .recorder_start = start,
                  .recorder_pidns = pid_namespace()};
    for (uint32_t i = 0; i < ch->L.nrings; i++)
        ring_at(ch->base, &ch->L, i)->mask = ch->L.ring_events - 1;
    ch->next_track = 1u << 20;        /* apart from in-process tracks */
    ch->t0 = pw_now_ns();
    ch->reaping = 1;
    *out = ch;
    return PW_OK;
}

const char *pw_channel_path(const pw_channel *ch) { return ch->path; }
uint32_t pw_channel_rings(const pw_channel *ch) { return ch->L.nrings; }
uint32_t pw_channel_ring_events(const pw_channel *ch) { return ch->L.ring_events; }

static void regions_of(const layout *L, pw_channel_regions *out)
{
    *out = (pw_channel_regions){L->size, L->names_offset, L->names_bytes, L->meta_offset,
                                L->rings_offset, L->ring_stride, L->nrings, L->ring_events};
}

void pw_channel_regions_of(const pw_channel *ch, pw_channel_regions *out)
{
    regions_of(&ch->L, out);
}

size_t pw_channel_names_used_at(void) { return offsetof(header, names_used); }

void *pw_channel_attached(pw_channel_regions *out)
{
    if (!pw_channel_child_active()) return NULL;
    regions_of(&g_layout, out);
    return g_base;
}

void pw_channel_destroy(pw_channel *ch)
{
    if (!ch) return;
    munmap(ch->base, ch->L.size);
    unlink(ch->path);
    for (size_t i = 0; i < ch->nprocs; i++) free(ch->procs[i].slot);
    free(ch->procs);
    free(ch->view);
    free(ch);
}

int pw_channel_publish_path(const char *file, const char *channel_path, char *why,
                            size_t whylen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", file) >= (int)sizeof tmp) {
        snprintf(why, whylen, "%s: path too long", file);
        return -1;
    }
    int fd = mkstemp(tmp);            /* O_EXCL, mode 0600, this user's */
    if (fd < 0) {
        snprintf(why, whylen, "cannot create a file beside %s: %s", file, strerror(errno));
        return -1;
    }
    size_t n = strlen(channel_path);
    int ok = fchmod(fd, 0600) == 0 && write(fd, channel_path, n) == (ssize_t)n &&
             write(fd, "\n", 1) == 1;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, file) == 0) return 0;   /* replaces a link itself, never its target */
    snprintf(why, whylen, "cannot write %s: %s", file, strerror(errno));
    unlink(tmp);
    return -1;
}

/* ---- names -------------------------------------------------------------------------------- */

static uint32_t slot_of(const proc_names *p, uint32_t id)
{
    uint32_t i = (id * 2654435761u) & (p->cap - 1);
    while (p->slot[i].id && p->slot[i].id != id) i = (i + 1) & (p->cap - 1);
    return i;
}

static int names_put(pw_channel *ch, proc_names *p, uint32_t id, uint32_t ours)
{
    if ((uint64_t)(p->n + 1) * 2 > p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 32;
        id_pair *old = p->slot;
        uint32_t old_cap = p->cap;
        if (!(p->slot = calloc(cap, sizeof *p->slot))) {
            p->slot = old;
            return -1;
        }
        p->cap = cap;
        for (uint32_t i = 0; i < old_cap; i++)
            if (old[i].id) p->slot[slot_of(p, old[i].id)] = old[i];
        free(old);
    }
    id_pair *s = &p->slot[slot_of(p, id)];
    if (!s->id) {
        p->n++;
        ch->mapped++;
    }
    *s = (id_pair){id, ours};
    return 0;
}

static uint32_t names_get(const proc_names *p, uint32_t id)
{
    return p->cap && id ? p->slot[slot_of(p, id)].ours : 0;
}

static proc_names *proc_find(pw_channel *ch, uint32_t pid)
{
    for (size_t i = 0; i < ch->nprocs; i++)
        if (ch->procs[i].pid == pid) return &ch->procs[i];
    return NULL;
}

static void forget_dead_processes(pw_channel *ch, uint64_t now, uint64_t grace);

/* The names of pid, made when missing; NULL past the cap (counted). At the cap the maps of
 * dead processes go first, at most once a reap period (the pass reads every ring). */
static proc_names *proc_get(pw_channel *ch, uint32_t pid)
{
    proc_names *p = proc_find(ch, pid);
    if (p) return p;
    uint64_t now = pw_now_ns();
    if (ch->nprocs >= MAX_PROCS && now - ch->last_forced >= REAP_NS) {
        ch->last_forced = now;
        forget_dead_processes(ch, now, 0);
    }
    if (ch->nprocs >= MAX_PROCS) {
        ch->count[PW_CH_PIDS_OVER]++;
        return NULL;
    }
    p = realloc(ch->procs, (ch->nprocs + 1) * sizeof *p);
    if (!p) return NULL;
    ch->procs = p;
    p[ch->nprocs] = (proc_names){.pid = pid};
    return &p[ch->nprocs++];
}

static void proc_clear(pw_channel *ch, proc_names *p)
{
    ch->mapped -= p->n;
    free(p->slot);
    *p = (proc_names){.pid = p->pid};
}

static void map_name(pw_channel *ch, uint32_t pid, uint32_t id, const char *text)
{
    proc_names *p = id ? proc_get(ch, pid) : NULL;
    if (!p) return;
    uint32_t before = pw_names_count(), ours = 0;
    if (ch->mapped < MAX_MAPPED && before < MAX_OWN_NAMES && ch->own_bytes < MAX_OWN_BYTES)
        ours = pw_phase_id(text);
    if (pw_names_count() != before) ch->own_bytes += strlen(text) + 1;
    if (!ours || names_put(ch, p, id, ours) != 0) ch->count[PW_CH_NAMES_OVER]++;
}

/* A forked child starts with its parent's first `below` ids. */
static void inherit_names(pw_channel *ch, uint32_t pid, uint32_t parent, uint32_t below)
{
    proc_names *c = proc_get(ch, pid);
    if (!c) return;
    proc_clear(ch, c);                /* a new process: whatever this pid held is stale */
    proc_names *p = proc_find(ch, parent);
    for (uint32_t i = 0; p && i < p->cap; i++) {
        id_pair e = p->slot[i];
        if (!e.id || e.id >= below) continue;
        if (ch->mapped >= MAX_MAPPED || names_put(ch, c, e.id, e.ours) != 0) {
            ch->count[PW_CH_NAMES_OVER]++;
            return;
        }
    }
}

static void take_entry(pw_channel *ch, uint32_t kind, const name_entry *e, uint32_t len)
{
    char text[PW_MAX_NAME + 1];
    memcpy(text, e->text, len);
    text[len] = '\0';
    if (kind == ENTRY_NAME) {
        map_name(ch, e->pid, e->id, text);
    } else if (kind == ENTRY_FORK && len == sizeof(uint32_t)) {
        uint32_t parent;
        memcpy(&parent, text, sizeof parent);
        inherit_names(ch, e->pid, parent, e->id);
    }
}

/* Reads newly published names and clears their space for reuse. Every length and counter
 * is checked against the log: the writers are not trusted. */
static void read_names(pw_channel *ch, int poll)
{
    header *h = ch->base;
    uint64_t n = ch->L.names_bytes;
    uint64_t used = atomic_load_explicit(&h->names_used, memory_order_acquire);
    if (used & (ENTRY_ALIGN - 1)) {   /* writers reserve whole entries: a lie, kept aligned */
        ch->count[PW_CH_CORRUPT]++;
        used &= ~(uint64_t)(ENTRY_ALIGN - 1);
    }
    if (used - ch->names_read > n) {  /* moved by a writer, backwards or past the log */
        ch->count[PW_CH_CORRUPT]++;
        memset((char *)ch->base + ch->L.names_offset, 0, n);
        ch->names_read = used;
    }
    while (ch->names_read < used) {
        uint64_t at = ch->names_read % n, left = used - ch->names_read;
        name_entry *e = entry_at(ch->base, &ch->L, at);
        uint32_t kind = atomic_load_explicit(&e->kind, memory_order_acquire), len = e->len;
        if (kind == ENTRY_EMPTY &&
            (ch->stuck_at != ch->names_read || (ch->stuck_polls += poll) < STUCK_POLLS)) {
            if (ch->stuck_at != ch->names_read) ch->stuck_polls = 0;
            ch->stuck_at = ch->names_read;
            break;                    /* still being written */
        }
        uint64_t bytes = kind == ENTRY_PAD ? n - at : entry_bytes(len);
        if (kind == ENTRY_EMPTY || kind > ENTRY_FORK || len > PW_MAX_NAME || bytes > n - at ||
            bytes > left) {
            ch->count[PW_CH_CORRUPT]++;
            bytes = left < n - at ? left : n - at;
        } else {
            take_entry(ch, kind, e, len);
        }
        memset(e, 0, bytes);
        ch->names_read += bytes;
    }
    atomic_store_explicit(&h->names_consumed, ch->names_read, memory_order_release);
}

static uint32_t our_id(pw_channel *ch, ring_view *v, uint32_t id)
{
    for (int pass = 0; pass < 2; pass++) {
        proc_names *p = v->proc && v->proc <= ch->nprocs && ch->procs[v->proc - 1].pid == v->pid
                            ? &ch->procs[v->proc - 1] : proc_find(ch, v->pid);
        v->proc = p ? (uint32_t)(p - ch->procs) + 1 : 0;
        uint32_t ours = p ? names_get(p, id) : 0;
        if (ours) return ours;
        if (!pass) read_names(ch, 0);   /* published just before its first use */
    }
    return 0;
}

/* ---- draining ------------------------------------------------------------------------------ */

/* Whether pid could have claimed a ring: a live process must map the region to write into
 * it. 0 for one that does not (a forged pid: the writer put another process's there), or
 * that belongs to another user who is not root (a 0600 region of ours it cannot map); 1
 * when it does, is gone (reaping takes the ring back) or cannot be told. */
static int could_own(const pw_channel *ch, uint32_t pid)
{
    uint64_t start = 0, again = 0;
    if (proc_state(pid, &start) != 1) return 1;
    int maps = maps_file(pid, ch->dev, ch->ino);
    if (maps < 0) {
        char dir[32];
        struct stat st;
        snprintf(dir, sizeof dir, "/proc/%u", pid);
        maps = stat(dir, &st) != 0 || st.st_uid == geteuid() || st.st_uid == 0;
    }
    /* still the same live process after its maps were read: an exit in between is no lie */
    return maps != 0 || proc_state(pid, &again) != 1 || again != start;
}

/* A new owner of a ring gets a new track; a rename re-sends the track record. */
static void announce(pw_channel *ch, pw_ring *r, ring_view *v, const pw_sink *sink)
{
    char name[8 * PW_TRACK_LABEL_WORDS];
    int renamed = pw_track_label_read(&r->label, &v->label_seen, name);
    int first = !v->track;
    if (!first && !renamed) return;
    if (first) {
        v->track = ch->next_track++;
        v->pid = r->pid;
        (void)proc_state(v->pid, &v->start);
    }
    sink->track(sink->ctx, v->track, v->pid, r->tid, renamed ? name : NULL, first);
}

/* Keeps nesting within PW_MAX_DEPTH: a BEGIN past it is cut, and so is its END. */
static int within_depth(pw_channel *ch, ring_view *v, const pw_event *ev)
{
    if (ev->type == PW_EV_BEGIN && (v->excess || v->open.depth >= PW_MAX_DEPTH)) {
        v->excess++;
        ch->count[PW_CH_TOO_DEEP]++;
        return 0;
    }
    if (ev->type == PW_EV_END && v->excess) {
        v->excess--;
        return 0;
    }
    return 1;
}

/* Names still in the log, behind an entry being written by another process. */
static int names_pending(const pw_channel *ch)
{
    const header *h = ch->base;
    return atomic_load_explicit(&h->names_used, memory_order_acquire) != ch->names_read;
}

/* Drains with the recorder's own capacity and tail: a corrupt head costs events, never a
 * read outside the ring; an event stamped before the channel or after now is dropped. An
 * event whose name is still behind another process's unfinished entry waits for the next
 * poll (returns 0 then); one whose name is nowhere is dropped and counted. */
static int drain_ring(pw_channel *ch, pw_ring *r, ring_view *v, const pw_sink *sink)
{
    uint64_t cap = ch->L.ring_events;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t now = pw_now_ns();
    if (head - v->tail > cap) v->tail = head - cap;
    for (; v->tail < head; v->tail++) {
        pw_event ev = r->slots[v->tail & (cap - 1)];
        if (ev.type < PW_EV_BEGIN || ev.type > PW_EV_COUNT) {
            ch->count[PW_CH_CORRUPT]++;
            continue;
        }
        if (ev.t_ns < ch->t0 || ev.t_ns > now) {
            ch->count[PW_CH_BAD_TIME]++;
            continue;
        }
        uint32_t ours = our_id(ch, v, ev.id);
        if (!ours && names_pending(ch)) break;
        if (!within_depth(ch, v, &ev)) continue;
        if (!(ev.id = ours)) {
            ch->count[PW_CH_UNNAMED]++;
            continue;
        }
        pw_open_stack_follow(&v->open, &ev);   /* for closing them after a crash */
        sink->event(sink->ctx, v->track, &ev);
    }
    atomic_store_explicit(&r->tail, v->tail, memory_order_release);
    uint64_t lost = atomic_load_explicit(&r->lost, memory_order_relaxed);
    if (lost > v->lost_reported) {
        sink->loss(sink->ctx, v->track, lost, v->lost_reported);
        v->lost_reported = lost;
    }
    return v->tail == head;
}

/* Ends the phases the recorder's view of ring i holds open, at t_ns. The thread's own
 * stack depth is the truth: after lost END events the view holds phases in fact closed. */
static uint64_t end_open(pw_channel *ch, uint32_t i, uint64_t t_ns, const pw_sink *sink)
{
    ring_view *v = &ch->view[i];
    int depth = ring_at(ch->base, &ch->L, i)->depth;
    int n = depth >= 0 && depth < v->open.depth ? depth : v->open.depth;
    uint64_t ended = 0;
    for (; n > 0 && v->open.depth > 0; n--, ended++) {
        pw_event ev = {.t_ns = t_ns, .id = v->open.ids[--v->open.depth], .type = PW_EV_END};
        sink->event(sink->ctx, v->track, &ev);
    }
    v->open.depth = 0;
    return ended;
}

/* Gives ring i back to the pool, ending what its owner left open at t_ns. */
static void retire(pw_channel *ch, uint32_t i, uint64_t t_ns, const pw_sink *sink)
{
    pw_ring *r = ring_at(ch->base, &ch->L, i);
    ch->count[PW_CH_EXITED_OPEN] += end_open(ch, i, t_ns, sink);
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&r->lost, 0, memory_order_relaxed);
    atomic_store_explicit(&r->dead, 0, memory_order_relaxed);
    atomic_store_explicit(&meta_at(ch->base, &ch->L, i)->exit_ns, 0, memory_order_relaxed);
    pw_track_label_reset(&r->label);
    memset(&ch->view[i], 0, sizeof ch->view[i]);
    atomic_store_explicit(&r->claimed, 0, memory_order_release);
}

void pw_channel_set_reaping(pw_channel *ch, int on) { ch->reaping = on; }

void pw_channel_spare_pid(pw_channel *ch, uint32_t pid)
{
    atomic_store_explicit(&ch->spared_pid, pid, memory_order_relaxed);
}

/* Forgets the name maps of processes that are gone and hold no ring, so the recorder's
 * memory follows the processes alive, not every process it ever saw. Not at once: a forked
 * child publishes the entry that copies its parent's ids from its own side of fork(), and may
 * do so after its parent has died (a loaded machine, a daemon's double fork), so a map
 * outlives its process by `grace` ns; under the cap's pressure (grace 0) it goes at once. */
static void forget_dead_processes(pw_channel *ch, uint64_t now, uint64_t grace)
{
    size_t keep = 0;
    for (size_t i = 0; i < ch->nprocs; i++) {
        proc_names *p = &ch->procs[i];
        int held = 0;                 /* a ring claimed since the last drain counts too */
        for (uint32_t r = 0; r < ch->L.nrings && !held; r++) {
            const pw_ring *ring = ring_at(ch->base, &ch->L, r);
            held = (ch->view[r].track && ch->view[r].pid == p->pid) ||
                   (atomic_load_explicit(&ring->claimed, memory_order_acquire) &&
                    ring->pid == p->pid);
        }
        if (held || process_alive(p->pid, 0)) {
            p->dead_since = 0;
        } else if (!p->dead_since) {
            p->dead_since = now;
        }
        if (p->dead_since && now - p->dead_since >= grace) {
            ch->mapped -= p->n;
            free(p->slot);
            continue;
        }
        ch->procs[keep++] = *p;
    }
    ch->nprocs = keep;
}

void pw_channel_poll(pw_channel *ch, const pw_sink *sink)
{
    read_names(ch, 1);
    uint64_t now = pw_now_ns();
    int reap = ch->reaping && now - ch->last_reap >= REAP_NS;
    if (reap) ch->last_reap = now;
    uint32_t seen_pid = 0;            /* the threads of one process are looked up once */
    uint64_t seen_start = 0;
    int seen_alive = 1;
    for (uint32_t i = 0; i < ch->L.nrings; i++) {
        pw_ring *r = ring_at(ch->base, &ch->L, i);
        if (atomic_load_explicit(&r->claimed, memory_order_acquire) != 2) continue;
        int dead = atomic_load_explicit(&r->dead, memory_order_acquire);
        ring_view *v = &ch->view[i];
        if (!v->track && !could_own(ch, r->pid)) {   /* refused unread: nothing of it is trusted */
            ch->count[PW_CH_FORGED]++;
            retire(ch, i, pw_now_ns(), sink);
            continue;
        }
        announce(ch, r, v, sink);
        if (!drain_ring(ch, r, v, sink)) continue;   /* not empty: it is not given back */
        uint64_t exit_ns = atomic_load_explicit(&meta_at(ch->base, &ch->L, i)->exit_ns,
                                                memory_order_relaxed);
        if (dead) {
            retire(ch, i, exit_ns >= ch->t0 && exit_ns <= pw_now_ns() ? exit_ns : pw_now_ns(),
                   sink);
        } else if (reap && v->pid != atomic_load_explicit(&ch->spared_pid,
                                                          memory_order_relaxed)) {
            if (v->pid != seen_pid || v->start != seen_start) {
                seen_pid = v->pid;
                seen_start = v->start;
                seen_alive = process_alive(v->pid, v->start);
            }
            /* what it wrote between the drain above and its death is drained now: a dead
             * process writes no more */
            if (seen_alive || !drain_ring(ch, r, v, sink)) continue;
            ch->count[PW_CH_REAPED]++;
            retire(ch, i, pw_now_ns(), sink);   /* its phases end when its death is seen */
        }
    }
    if (reap && ++ch->reaps % 16 == 0) forget_dead_processes(ch, now, FORGET_NS);   /* after the drain */
}

uint64_t pw_channel_close_open(pw_channel *ch, const pw_sink *sink, uint64_t t_ns)
{
    pw_channel_poll(ch, sink);
    uint64_t closed = 0;
    for (uint32_t i = 0; i < ch->L.nrings; i++) closed += end_open(ch, i, t_ns, sink);
    return closed;
}
