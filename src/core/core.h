/* core.h — internals shared by the phase API, the name table and the session. */
#ifndef PW_CORE_H
#define PW_CORE_H

#include <stdatomic.h>
#include <stdint.h>

#include "phasewatt.h"
#include "trace/trace.h"

/* ---- Name table (names.c): ids are dense from 1, entries below the count are immutable. */
uint32_t pw_names_count(void);          /* ids 1..count-1 exist; acquire-ordered */

/* ---- Track names (phase.c): a seqlock with one writer, the ring's own thread. The words
 * are atomics so a reader racing a rename sees a torn copy it then discards, never UB. */
#define PW_TRACK_LABEL_WORDS 8                  /* 64 bytes: 63 characters and the NUL */
typedef struct pw_track_label {
    _Atomic uint32_t seq;                       /* odd while being written; 0: never named */
    _Atomic uint64_t words[PW_TRACK_LABEL_WORDS];
} pw_track_label;
/* Copies the label into out[64] when it changed since *seen and is stable; returns 1 then. */
int pw_track_label_read(pw_track_label *l, uint32_t *seen, char out[8 * PW_TRACK_LABEL_WORDS]);
void pw_track_label_reset(pw_track_label *l);

/* ---- Per-thread event rings (phase.c) -------------------------------------------------
 * Single producer (the owning thread), single consumer (the session's sampler). */
typedef struct pw_ring {
    _Alignas(64) _Atomic uint64_t head;     /* next slot the producer writes */
    uint64_t cached_tail;                   /* producer's last view of tail */
    _Atomic uint64_t lost;                  /* producer writes, the drainer reads (relaxed) */
    int depth;                              /* producer-only phase stack */
    uint32_t stack[PW_MAX_DEPTH];
    _Alignas(64) _Atomic uint64_t tail;     /* next slot the consumer reads */
    uint64_t lost_reported;                 /* consumer-only */
    uint32_t label_seen;                    /* consumer-only: label.seq last written */
    _Atomic int dead;                       /* the thread has exited */
    _Atomic uint32_t claimed;               /* shared rings (channel.c): 0 free, 1 being
                                               taken, 2 owned by a thread */
    int announced;                          /* consumer-only: track record written */
    uint32_t track, pid, tid;
    pw_track_label label;                   /* the track's name (pw_track_name) */
    uint64_t mask;
    struct pw_ring *next;                   /* registry list, under the registry lock */
    pw_event slots[];
} pw_ring;

extern _Atomic int pw_g_recording;          /* 1 while a session records events */

/* Calls fn on every ring, under the registry lock (rarely contended: only thread
 * registration takes it). Frees rings whose thread has exited once fn has drained them. */
typedef void (*pw_ring_fn)(pw_ring *r, void *ctx);
void pw_rings_visit(pw_ring_fn fn, void *ctx);
void pw_rings_set_capacity(uint32_t events);   /* for rings registered from now on */

/* Drains one ring: calls fn for each pending event in order. Returns the number drained. */
typedef void (*pw_event_fn)(const pw_ring *r, const pw_event *ev, void *ctx);
uint64_t pw_ring_drain(pw_ring *r, pw_event_fn fn, void *ctx);

#endif
