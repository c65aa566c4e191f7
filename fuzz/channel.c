/* channel.c — fuzz target: the recorder's side of the phase channel. A live region is
 * created, mapped a second time as a hostile recorded program would map it, and the input
 * is a script of writes anywhere in it (header, name log, ring headers and slots) between
 * the recorder's drains. The recorder must never crash, read outside the region, or keep
 * more than its bounds. */
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../src/core/channel.h"
#include "../src/base/clock.h"
#include "fuzz.h"

#define FUZZ_RINGS 4u
#define FUZZ_EVENTS 64u
#define MAX_OPS 4096                  /* bounded work per input */

typedef struct fuzz_sink_state { uint64_t events, tracks; } fuzz_sink_state;

static int on_track(void *ctx, uint32_t track, uint32_t pid, uint32_t tid, const char *name,
                    int first)
{
    (void)track, (void)pid, (void)tid;
    if (name) (void)strlen(name);     /* must be a terminated string */
    ((fuzz_sink_state *)ctx)->tracks += (uint64_t)first;
    return 0;
}

static int on_event(void *ctx, uint32_t track, const pw_event *ev)
{
    (void)track;
    if (!pw_name(ev->id)) abort();    /* the recorder hands on only ids it has names for */
    ((fuzz_sink_state *)ctx)->events++;
    return 0;
}

static int on_loss(void *ctx, uint32_t track, uint64_t total, uint64_t before)
{
    (void)ctx, (void)track;
    if (total < before) abort();
    return 0;
}

/* Where a write lands: one of the region's parts, picked by sel, at index idx in it. */
static uint64_t target(const pw_channel_regions *R, uint8_t sel, uint32_t idx, uint32_t off)
{
    switch (sel % 5) {
    case 0: return off % R->names_offset;                                   /* header */
    case 1: return R->names_offset + ((uint64_t)idx * 16 + off) % R->names_bytes;
    case 2: return R->meta_offset + off % (8u * R->nrings);                 /* exit times */
    case 3: return R->rings_offset + (uint64_t)(idx % R->nrings) * R->ring_stride +
                   off % sizeof(pw_ring);                                   /* ring header */
    default:
        return R->rings_offset + (uint64_t)(idx % R->nrings) * R->ring_stride +
               offsetof(pw_ring, slots) +
               ((uint64_t)off * sizeof(pw_event)) % ((uint64_t)R->ring_events * sizeof(pw_event));
    }
}

/* One op: 0 drain, 1 write up to 32 bytes, 2 write the time now as a u64 (a timestamp the
 * recorder can take), 3 write one aligned u64. A write is: op, sel, idx (2 bytes), off
 * (2 bytes), n, then n bytes (none for op 2). */
static size_t step(pw_channel *ch, uint8_t *region, const pw_channel_regions *R,
                   const pw_sink *sink, const uint8_t *d, size_t len)
{
    uint8_t op = d[0] & 3;
    if (op == 0) {
        pw_channel_poll(ch, sink);
        return 1;
    }
    if (len < 7) return len;
    uint32_t idx = d[2] | (uint32_t)d[3] << 8, off = d[4] | (uint32_t)d[5] << 8;
    uint64_t now = pw_now_ns();
    const uint8_t *src = op == 2 ? (const uint8_t *)&now : d + 7;
    size_t n = op == 1 ? d[6] % 33u : 8, used = op == 2 ? 7 : 7 + n;
    if (op != 2 && len < used) n = len - 7, used = len;
    uint64_t at = target(R, d[1], idx, off);
    if (op != 1) at &= ~(uint64_t)7;  /* every part of the region starts 8-aligned */
    if (at + n > R->size) at = R->size - n;
    memcpy(region + at, src, n);
    return used;
}

static int run(const uint8_t *data, size_t len)
{
    pw_channel *ch = NULL;
    char why[512];
    if (pw_channel_create(FUZZ_RINGS, FUZZ_EVENTS, &ch, why, sizeof why) != PW_OK) return 0;
    pw_channel_regions R;
    pw_channel_regions_of(ch, &R);
    int fd = open(pw_channel_path(ch), O_RDWR | O_CLOEXEC);
    uint8_t *region = fd >= 0 ? mmap(NULL, R.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                              : MAP_FAILED;
    if (fd >= 0) close(fd);
    if (region != MAP_FAILED) {
        fuzz_sink_state st = {0, 0};
        pw_sink sink = {.track = on_track, .event = on_event, .loss = on_loss, .ctx = &st};
        size_t at = 0;
        for (int ops = 0; at < len && ops < MAX_OPS; ops++)
            at += step(ch, region, &R, &sink, data + at, len - at);
        pw_channel_close_open(ch, &sink, pw_now_ns());
        (void)pw_channel_lost(ch);
        munmap(region, R.size);
    }
    pw_channel_destroy(ch);
    return 0;
}

/* ---- seeds: the reproducers, as scripts ------------------------------------------ */

typedef struct script { uint8_t *b; size_t n, cap; } script;

static void put(script *s, const void *p, size_t n)
{
    if (s->n + n > s->cap) {
        size_t cap = (s->cap + n) * 2;
        uint8_t *b = realloc(s->b, cap);
        if (!b) return;
        s->b = b;
        s->cap = cap;
    }
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

static void write_op(script *s, uint8_t sel, uint32_t idx, uint32_t off, const void *p,
                     uint8_t n)
{
    uint8_t head[7] = {1, sel, (uint8_t)idx, (uint8_t)(idx >> 8), (uint8_t)off,
                       (uint8_t)(off >> 8), n};
    put(s, head, sizeof head);
    put(s, p, n);
}

static void poll_op(script *s)
{
    uint8_t op = 0;
    put(s, &op, 1);
}

/* A name entry as a program publishes it: kind 1, pid, id, len, text (at slot*16). */
static void name_op(script *s, uint32_t slot, uint32_t pid, uint32_t id, const char *text)
{
    uint8_t e[32] = {0};
    uint32_t kind = 1, len = (uint32_t)strlen(text);
    memcpy(e, &kind, 4);
    memcpy(e + 4, &pid, 4);
    memcpy(e + 8, &id, 4);
    memcpy(e + 12, &len, 4);
    memcpy(e + 16, text, len < 15 ? len : 15);
    write_op(s, 1, slot, 0, e, sizeof e);
}

/* A claimed ring (claimed = 2, at its offset in pw_ring) of pid, with head n. */
static void ring_op(script *s, uint32_t ring, uint32_t pid, uint64_t head)
{
    uint32_t claimed = 2;
    write_op(s, 3, ring, (uint32_t)offsetof(pw_ring, claimed), &claimed, 4);
    write_op(s, 3, ring, (uint32_t)offsetof(pw_ring, pid), &pid, 4);
    write_op(s, 3, ring, (uint32_t)offsetof(pw_ring, head), &head, 8);
}

/* An event in a ring slot; stamped (t = 0) means with the time at which it is written. */
static void event_op(script *s, uint32_t ring, uint32_t slot, uint64_t t, uint32_t type,
                     uint32_t id)
{
    pw_event ev = {.t_ns = t, .id = id, .type = type};
    write_op(s, 4, ring, slot, &ev, sizeof ev);
    uint8_t stamp[7] = {2, 4, (uint8_t)ring, (uint8_t)(ring >> 8), (uint8_t)slot,
                        (uint8_t)(slot >> 8), 0};
    if (!t) put(s, stamp, sizeof stamp);
}

/* The header's names_used, where the region says it is. */
static void names_used_op(script *s, uint64_t used)
{
    write_op(s, 0, 0, (uint32_t)pw_channel_names_used_at(), &used, 8);
}

static int save(const char *dir, const char *name, script *s)
{
    int rc = s->b ? pw_fuzz_write_seed(dir, name, s->b, s->n) : -1;
    free(s->b);
    *s = (script){0};
    return rc;
}

static int seeds(const char *dir)
{
    script s = {0};
    int rc = 0;
    uint32_t me = (uint32_t)getpid();
    /* forged pids, each naming id 2^24 - 1 (once a 64 MB map each) */
    for (uint32_t i = 0; i < 24; i++) name_op(&s, 2 * i, 100000 + i, (1u << 24) - 1, "forged");
    names_used_op(&s, 24 * 32);
    poll_op(&s);
    rc |= save(dir, "forged-pids.bin", &s);
    /* far-future BEGIN events on a ring of this (live) process */
    name_op(&s, 0, me, 1, "future");
    names_used_op(&s, 32);
    for (uint32_t i = 0; i < 8; i++) event_op(&s, 0, i, 1ull << 62, 1, 1);
    ring_op(&s, 0, me, 8);
    poll_op(&s);
    rc |= save(dir, "future-timestamps.bin", &s);
    /* nesting far past PW_MAX_DEPTH, a ring-full of BEGINs at a time */
    name_op(&s, 0, me, 1, "deep");
    names_used_op(&s, 32);
    for (uint64_t round = 1; round <= 2; round++) {   /* 128 BEGINs: twice the limit */
        for (uint32_t i = 0; i < FUZZ_EVENTS; i++) event_op(&s, 1, i, 0, 1, 1);
        ring_op(&s, 1, me, round * FUZZ_EVENTS);
        poll_op(&s);
    }
    rc |= save(dir, "deep-nesting.bin", &s);
    /* a name log whose counter jumps backwards and past its end, with a huge length */
    name_op(&s, 0, me, 1, "x");
    uint32_t huge = 0xffffffffu;
    write_op(&s, 1, 0, 12, &huge, 4);
    names_used_op(&s, 32);
    poll_op(&s);
    names_used_op(&s, 1ull << 40);
    poll_op(&s);
    names_used_op(&s, 16);
    poll_op(&s);
    rc |= save(dir, "name-log-lies.bin", &s);
    return rc;
}

const pw_fuzz_target pw_fuzz_channel = {"channel", run, seeds};
PW_FUZZ_ENTRY(pw_fuzz_channel)
