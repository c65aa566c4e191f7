/* forger.c — a hostile writer to a recorder's channel (`forger PIDS NAMES`): it publishes
 * NAMES distinct garbage names as well-formed name-log entries under PIDS pids (its own, init's,
 * a `sleep` it started, and forged ones of no process), each pid also claiming to be a fork
 * that inherits 2^31 ids; then claims every free ring, names as the owner of half of them
 * the sleeper or init (of the other half itself), and fills all of them with events naming
 * the garbage names. It exits 0 once the sleeper's rings are refused and its names read (4 if not),
 * without giving its own back. The recorder must stay within its bounds,
 * count what it refuses, and give every ring back. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/channel.h"
#include "base/clock.h"
#include "core/core.h"

enum { ENTRY_NAME = 1, ENTRY_FORK = 3 };   /* the log's format, as the attacker reads it */
typedef struct entry { _Atomic uint32_t kind; uint32_t pid, id, len; char text[]; } entry;

static uint64_t rnd = 88172645463325252ull;
static uint64_t next(void) { return rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17; }

/* Reserves and writes one entry, waiting for room rather than dropping it (the recorder
 * reads the log every tick): every lie reaches the recorder. */
static void put_entry(char *base, const pw_channel_regions *R, uint32_t kind, uint32_t pid,
                      uint32_t id, const void *text, uint32_t len)
{
    _Atomic uint64_t *used = (_Atomic uint64_t *)(void *)(base + pw_channel_names_used_at());
    _Atomic uint64_t *consumed = used + 1;
    uint64_t bytes = (sizeof(entry) + len + 1 + 15) / 16 * 16, u, pad;
    for (;;) {
        u = atomic_load(used);
        uint64_t at = u % R->names_bytes;
        pad = R->names_bytes - at < bytes ? R->names_bytes - at : 0;
        if (u + pad + bytes > atomic_load(consumed) + R->names_bytes) {
            nanosleep(&(struct timespec){0, 1000000}, NULL);
            continue;
        }
        if (atomic_compare_exchange_weak(used, &u, u + pad + bytes)) break;
    }
    char *log = base + R->names_offset;
    if (pad) atomic_store(&((entry *)(void *)(log + u % R->names_bytes))->kind, 2);
    entry *e = (entry *)(void *)(log + (u + pad) % R->names_bytes);
    e->pid = pid, e->id = id, e->len = len;
    memcpy(e->text, text, len);
    e->text[len] = '\0';
    atomic_store(&e->kind, kind);
}

/* A live process of ours that maps no channel: `sleep`, once it has exec'd (the pipe closes
 * on exec; before it, the child still maps the region). */
static pid_t start_sleeper(void)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sleep", "sleep", "600", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char c;
    while (pid > 0 && read(fds[0], &c, 1) > 0) {}
    close(fds[0]);
    return pid;
}

static pid_t sleeper;

/* init and the sleeper are alive and map no channel; then our own pid (its names are really
 * ours, and our events name them); the rest are (almost surely) no one. */
static uint32_t forged_pid(uint32_t k)
{
    if (k < 3) return k == 0 ? 1u : k == 1 ? (uint32_t)sleeper : (uint32_t)getpid();
    return (uint32_t)(4000000u + next() % 1000000000u);
}

/* Waits (at most 30 s: a bound to fail by, not a timing) until the recorder has refused
 * every ring claimed under the sleeper's pid: 0 once it has. */
static int refused(char *base, const pw_channel_regions *R)
{
    for (int tries = 0; tries < 3000; tries++) {
        int held = 0;
        for (uint32_t i = 0; i < R->nrings; i++) {
            pw_ring *r = (pw_ring *)(void *)(base + R->rings_offset + (uint64_t)i * R->ring_stride);
            held += atomic_load(&r->claimed) == 2 && r->pid == (uint32_t)sleeper;
        }
        if (!held) return 0;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return -1;
}

/* Waits (the same bound) until the recorder has read every entry of the name log: a writer
 * after this one finds the log empty, however far behind a loaded machine left the recorder. */
static int log_read(char *base)
{
    _Atomic uint64_t *used = (_Atomic uint64_t *)(void *)(base + pw_channel_names_used_at());
    for (int tries = 0; tries < 3000; tries++) {
        if (atomic_load(used + 1) >= atomic_load(used)) return 1;
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t npids = argc > 1 ? (uint32_t)atoi(argv[1]) : 1000;
    uint32_t nnames = argc > 2 ? (uint32_t)atoi(argv[2]) : 100000;
    pw_channel_regions R;
    char *base = pw_channel_attached(&R);
    if (!base || !npids || (sleeper = start_sleeper()) <= 0) return 2;
    uint32_t *pids = malloc(npids * sizeof *pids);
    if (!pids) return 3;
    for (uint32_t k = 0; k < npids; k++) {
        pids[k] = forged_pid(k);
        uint32_t parent = forged_pid(k + 2);
        put_entry(base, &R, ENTRY_FORK, pids[k], 1u << 31, &parent, sizeof parent);
    }
    for (uint32_t i = 0; i < nnames; i++) {
        char name[96];
        int len = snprintf(name, sizeof name, "%08x", i);
        for (uint64_t k = 0, n = 1 + next() % 48; k < n; k++)
            name[len++] = (char)(1 + next() % 255);   /* any byte but NUL: not UTF-8, controls */
        put_entry(base, &R, ENTRY_NAME, pids[i % npids], 1 + i / npids, name, (uint32_t)len);
    }
    for (uint32_t i = 0; i < R.nrings; i++) {   /* claimed as the library does, but lying */
        pw_ring *r = (pw_ring *)(void *)(base + R.rings_offset + (uint64_t)i * R.ring_stride);
        uint32_t free_ring = 0;
        if (!atomic_compare_exchange_strong(&r->claimed, &free_ring, 1)) continue;
        r->pid = i % 2 ? pids[(i / 2) % 2 % npids] : (uint32_t)getpid();   /* init's, the sleeper's */
        r->tid = (uint32_t)next();
        atomic_store(&r->claimed, 2);
        uint64_t t = pw_now_ns();
        for (uint64_t k = 0; k < 1000 && k <= r->mask; k++)
            r->slots[k] = (pw_event){.t_ns = t + k, .id = 1 + (uint32_t)(next() % (nnames / npids + 1)),
                                     .type = (uint32_t)(PW_EV_BEGIN + next() % 4)};
        atomic_store(&r->head, 1000 <= r->mask ? 1000 : r->mask + 1);
    }
    free(pids);
    int rc = refused(base, &R) == 0 && log_read(base) ? 0 : 4;
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
    _exit(rc);   /* no exit handler: none of our own rings goes back */
}
